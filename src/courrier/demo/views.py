"""The demo mailbox and the demo's access point: what the demo's SMTP catcher and its Peppol
access point received. Exists only when COURRIER_DEMO=1."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext_lazy

from courrier.demo.access_point import (
    CREDIT_NOTE,
    Document,
    received_dir,
    received_list,
    received_path,
)
from courrier.demo.catcher import mailbox_dir, mailbox_list, mailbox_path, mailbox_read


def demo_enabled() -> bool:
    return os.environ.get("COURRIER_DEMO", "").strip() == "1"


def _demo_only(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    # Outside the demo these pages do not exist, for anyone.
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not demo_enabled():
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _directory() -> Path:
    return mailbox_dir(Path(settings.DATA_DIR))


@_demo_only
@login_required
def mailbox(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "demo/mailbox.html",
        {"mails": mailbox_list(_directory()), "directory": _directory()},
    )


def _found(name: str) -> Path:
    path = mailbox_path(_directory(), name)
    if path is None:
        raise Http404
    return path


@_demo_only
@login_required
def mailbox_message(request: HttpRequest, name: str) -> HttpResponse:
    return render(request, "demo/mailbox_message.html", {"content": mailbox_read(_found(name))})


@_demo_only
@login_required
def mailbox_eml(request: HttpRequest, name: str) -> FileResponse:
    path = _found(name)
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=path.name, content_type="message/rfc822"
    )


# -- the demo's Peppol access point ---------------------------------------------------------------

# The access point's states in the words of the invoice pages.
_STATES = {
    "accepted": gettext_lazy("acceptée, en cours de remise"),
    "delivered": gettext_lazy("remise"),
    "rejected": gettext_lazy("refusée par le réseau Peppol"),
    "acknowledged": gettext_lazy("reçue par l'acheteur"),
    "approved": gettext_lazy("acceptée par l'acheteur"),
    "disputed": gettext_lazy("contestée par l'acheteur"),
    "paid": gettext_lazy("payée"),
}
_KINDS = {"invoice": gettext_lazy("Facture"), "credit_note": gettext_lazy("Note de crédit")}


def _row(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "number": document.number,
        "buyer_name": document.buyer_name,
        "receiver": document.receiver,
        "kind": _KINDS["credit_note" if document.document_type == CREDIT_NOTE else "invoice"],
        "document_type": document.document_type,
        "state": document.state,
        "state_label": _STATES.get(document.state, document.state),
        "detail": document.detail,
        "created_at": document.created_at,
        "updated_at": document.updated_at,
        "api": document.api,
    }


def _received() -> Path:
    return received_dir(Path(settings.DATA_DIR))


@_demo_only
@login_required
def peppol_received(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "demo/peppol.html",
        {"documents": [_row(d) for d in received_list(_received())], "directory": _received()},
    )


@_demo_only
@login_required
def peppol_ubl(request: HttpRequest, document_id: str) -> FileResponse:
    """The UBL exactly as the access point received it."""
    path = received_path(_received(), document_id)
    if path is None:
        raise Http404
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"peppol-{document_id}.xml",
        content_type="application/xml",
    )
