"""The Documents tab of the client file: upload, list, download, delete, send by mail, and the
client's secure links with their openings."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from courrier.clients.models import Client
from courrier.clients.selectors import client_get
from courrier.documents import selectors, services
from courrier.documents.forms import DocumentForm
from courrier.documents.models import Document
from courrier.firm.permissions import link_may_revoke
from courrier.mailing import services as outbox
from courrier.mailing.models import SecureLink

# Types a browser shows itself without running anything of the file.
_INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/gif"})


def _client_or_404(pk: int) -> Client:
    client = client_get(pk=pk)
    if client is None:
        raise Http404(_("Ce client n'existe pas."))
    return client


def _document_or_404(pk: int) -> Document:
    document = selectors.document_get(pk=pk)
    if document is None:
        raise Http404(_("Ce document n'existe pas (ou plus)."))
    return document


def _compose_url(document: Document, back: str) -> str:
    try:
        base = reverse("mailing:compose")
    except NoReverseMatch:
        return ""
    return base + "?" + urlencode({"context": "document", "objects": document.pk, "next": back})


def _tab(
    request: HttpRequest, client: Client, form: DocumentForm, status: int = 200
) -> HttpResponse:
    back = reverse("documents:client", args=[client.pk])
    documents = list(selectors.client_documents(client=client))
    for document in documents:
        document.compose_url = _compose_url(document, back)  # type: ignore[attr-defined]
        document.may_delete = services.document_may_delete(request.user, document)  # type: ignore[attr-defined]
    client_links = list(outbox.client_links(client))
    for link in client_links:
        link.state = outbox.link_state(link)  # type: ignore[attr-defined]
        link.may_revoke = link_may_revoke(request.user, link)  # type: ignore[attr-defined]
    context = {
        "client": client,
        "tab": "documents",
        "documents": documents,
        "form": form,
        "secure_links": client_links,
        "max_size": services.max_document_bytes(),
    }
    return render(request, "clients/client_detail.html", context, status=status)


@require_http_methods(["GET", "POST"])
def client_documents(request: HttpRequest, client_pk: int) -> HttpResponse:
    client = _client_or_404(client_pk)
    if request.method == "GET":
        return _tab(request, client, DocumentForm())
    form = DocumentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            document = services.document_store(
                client=client,
                file=form.cleaned_data["file"],
                kind=form.cleaned_data["kind"],
                title=form.cleaned_data["title"],
                date=form.cleaned_data["date"],
                sensitive=form.sensitive_value(),
                by=request.user,  # type: ignore[arg-type]
            )
        except ValidationError as error:
            form.add_error("file", error)
        else:
            messages.success(
                request, _("Le document « %(title)s » a été ajouté.") % {"title": document.title}
            )
            return redirect("documents:client", client_pk=client.pk)
    return _tab(request, client, form, status=400)


@require_GET
def document_download(request: HttpRequest, pk: int) -> HttpResponse:
    document = _document_or_404(pk)
    try:
        content = services.document_content(document)
    except OSError:
        raise Http404(_("Le fichier de ce document est introuvable sur le serveur.")) from None
    inline = request.GET.get("inline") == "1" and document.content_type in _INLINE_TYPES
    response = HttpResponse(content, content_type=document.content_type)
    response["Content-Disposition"] = (
        content_disposition_header(not inline, document.filename) or "attachment"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
def document_remove(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    document = _document_or_404(pk)
    client_pk = document.client_id
    title = document.title
    try:
        services.document_delete(document=document, by=request.user)  # type: ignore[arg-type]
    except PermissionDenied:
        raise
    messages.success(request, _("Le document « %(title)s » a été supprimé.") % {"title": title})
    return redirect("documents:client", client_pk=client_pk)


@require_POST
def link_revoke(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    link = get_object_or_404(SecureLink, pk=pk)
    if not link_may_revoke(request.user, link):
        raise PermissionDenied(
            _(
                "Seuls le collaborateur qui a créé ce lien et les administrateurs du cabinet "
                "peuvent le révoquer."
            )
        )
    outbox.link_revoke(link=link)
    messages.success(
        request,
        _("Le lien vers « %(name)s » est désactivé : il ne s'ouvre plus.") % {"name": link.name},
    )
    return redirect("documents:client", client_pk=link.client_id)
