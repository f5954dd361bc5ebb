"""The demo mailbox: what the demo's SMTP catcher received. Exists only when COURRIER_DEMO=1."""

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
