"""The client list, the client file (tabs "Fiche" and "Mails") and the client form."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import select_template
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from courrier.clients.forms import client_forms, client_forms_save, client_forms_valid
from courrier.clients.models import Client
from courrier.clients.selectors import client_get, client_search
from courrier.mailing.models import OutboundMessage
from courrier.mailing.selectors import client_messages

CLIENTS_PER_PAGE = 50
MAILS_PER_PAGE = 50
# The Mails tab: the mailing screens' own partial when it exists, else a plain table of ours.
MAILS_TEMPLATES = ["mailing/_client_mails.html", "clients/_mails_tab.html"]
TABS = ("fiche", "mails")
# A mail in one of these states changes on its own within seconds: the Mails tab refreshes.
IN_FLIGHT = {
    OutboundMessage.Status.QUEUED,
    OutboundMessage.Status.SENDING,
    OutboundMessage.Status.RETRY,
}


def _client_or_404(pk: int) -> Client:
    client = client_get(pk=pk)
    if client is None:
        raise Http404(_("Ce client n'existe pas."))
    return client


@login_required
@require_GET
def client_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    # get_page() turns a missing, non-numeric or out-of-range page into a valid one.
    page = Paginator(client_search(query=query), CLIENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "clients/client_list.html",
        {"query": query, "page_obj": page, "clients": page.object_list},
    )


@login_required
@require_GET
def client_detail(request: HttpRequest, pk: int) -> HttpResponse:
    client = _client_or_404(pk)
    tab = request.GET.get("tab", "fiche")
    context: dict[str, object] = {"client": client, "tab": tab if tab in TABS else "fiche"}
    if context["tab"] == "mails":
        context.update(_mails_context(request, client))
    return render(request, "clients/client_detail.html", context)


def _mails_context(request: HttpRequest, client: Client) -> dict[str, object]:
    page = Paginator(client_messages(client=client), MAILS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return {
        "messages_list": page.object_list,
        "mails": page.object_list,  # the name the mailing partial reads
        "page_obj": page,
        "mails_template": select_template(MAILS_TEMPLATES),
        "mails_pending": any(message.status in IN_FLIGHT for message in page.object_list),
    }


@login_required
@require_GET
def client_mails(request: HttpRequest, pk: int) -> HttpResponse:
    """The Mails tab: a partial for HTMX, or the client file opened on that tab."""
    client = _client_or_404(pk)
    context = {"client": client, "tab": "mails", **_mails_context(request, client)}
    if getattr(request, "htmx", False):
        return render(request, "clients/_mails_panel.html", context)
    return render(request, "clients/client_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def client_create(request: HttpRequest) -> HttpResponse:
    form, formset = client_forms(data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and client_forms_valid(form, formset):
        client = client_forms_save(form, formset)
        messages.success(request, _("Le client « %(name)s » a été créé.") % {"name": client.name})
        return redirect("clients:detail", pk=client.pk)
    return render(request, "clients/client_form.html", {"form": form, "formset": formset})


@login_required
@require_http_methods(["GET", "POST"])
def client_edit(request: HttpRequest, pk: int) -> HttpResponse:
    client = _client_or_404(pk)
    form, formset = client_forms(
        data=request.POST if request.method == "POST" else None, instance=client
    )
    if request.method == "POST" and client_forms_valid(form, formset):
        client = client_forms_save(form, formset)
        messages.success(
            request, _("La fiche de « %(name)s » a été enregistrée.") % {"name": client.name}
        )
        return redirect("clients:detail", pk=client.pk)
    return render(
        request, "clients/client_form.html", {"form": form, "formset": formset, "client": client}
    )
