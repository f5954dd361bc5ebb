"""The compose window's state: what it is about (one client, a selection of clients, the objects
of a context), and everything its page shows. The window's actions live in `compose` (the page
and "Envoyer") and `compose_parts` (the parts it refreshes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _

from courrier import l10n
from courrier.clients.builder import selection_adjustments_from, selection_builder_context
from courrier.clients.models import Client, ClientSelection
from courrier.clients.selectors import (
    SelectionAdjustments,
    SelectionFilters,
    selection_get,
    selection_recipients,
)
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.languages import MailLanguage
from courrier.mailing import contexts, fields, selectors, services
from courrier.mailing.contexts import CLIENT_CONTEXT, MailContext
from courrier.mailing.forms import ComposeForm, Recipients, TemplateSaveForm
from courrier.mailing.models import MailTemplate, SendingProfile
from courrier.mailing.services import once, profiles
from courrier.mailing.services.setup import encoded_size
from courrier.mailing.views.common import BRUSSELS_NAME, SELECTION_PREFIX, _int_param, _user
from courrier.params import request_next

# --- Compose window -------------------------------------------------------------------------
#
# One window for one client (?client=<pk>) or a selection of clients (the selection builder's
# "sel-" fields, or ?selection=<saved pk>). Every button posts the whole form: what was typed,
# the options, the files already joined (by their Upload ids) come back on every answer.


@dataclass
class Window:
    """What the compose window is about: its form, and its recipients."""

    form: ComposeForm
    client: Client | None
    filters: SelectionFilters
    saved_selection: ClientSelection | None
    # Clients added or unticked by hand, and "every active client" asked for on purpose.
    adjustments: SelectionAdjustments = field(default_factory=SelectionAdjustments)
    find: str = ""
    profile_missing: bool = False
    # A mail about objects of a context (?context=vat&objects=1,2,3): one mail per object.
    context_name: str = ""
    objects: list[MailContext] = field(default_factory=list)
    next_url: str = ""

    @property
    def is_context(self) -> bool:
        return bool(self.context_name)

    @property
    def is_selection(self) -> bool:
        return not self.is_context and self.form.mode == Recipients.SELECTION

    @property
    def is_batch(self) -> bool:
        """Several mails: a selection of clients, or several objects of a context."""
        return self.is_selection or (self.is_context and len(self.objects) > 1)

    @property
    def templates_context(self) -> str:
        """The context of the templates the window offers and checks its text against: the
        objects' (credit notes: "credit_note"), else the mail's, else "client"."""
        if not self.is_context:
            return CLIENT_CONTEXT
        return contexts.templates_context(self.context_name, self.objects)

    @property
    def objects_param(self) -> str:
        return ",".join(str(item.object_id) for item in self.objects)

    @property
    def query(self) -> str:
        """The window's address parameters, for its form and its buttons."""
        if self.is_context:
            return f"?context={self.context_name}&objects={self.objects_param}"
        return f"?client={self.client.pk}" if self.client is not None else ""


def _object_ids(raw: str) -> list[int]:
    """Ids from "1,2,3"; anything that is not one is a 404, never a 500."""
    ids: list[int] = []
    for item in raw.split(","):
        pk = _int_param(item)
        if pk is None:
            raise Http404(_("Les éléments choisis ne sont pas reconnus."))
        if pk not in ids:
            ids.append(pk)
    return ids


def _context_objects(request: HttpRequest, user: Collaborator) -> tuple[str, list[MailContext]]:
    """The context and its objects the window writes about ("" and [] for clients); 404 for
    an unknown context, or objects that do not exist or that the user may not see."""
    name = (request.POST.get("context") or request.GET.get("context") or "").strip()
    if not name or name == CLIENT_CONTEXT:
        return "", []
    if name not in contexts.registered():
        raise Http404(_("Ce type d'envoi n'existe pas."))
    try:
        fields.fields_for(name)
    except ValueError:
        raise Http404(_("Ce type d'envoi n'a pas encore de champs de fusion.")) from None
    raw = request.POST.get("objects") or request.GET.get("objects") or ""
    ids = _object_ids(raw) if raw.strip() else []
    if not ids:
        raise Http404(_("Aucun élément n'est choisi."))
    found = contexts.resolve(name, ids, user=user)
    if not found:
        raise Http404(_("Ces éléments n'existent pas ou ne vous sont pas accessibles."))
    return name, found


def _starts_by_link(objects: list[MailContext]) -> bool:
    """Sensitive files (an IPP return, an income statement) go by link unless unchecked."""
    return any(
        getattr(item, "sensitive", False)
        or any(getattr(attached, "sensitive", False) for attached in item.attachments)
        for item in objects
    )


def _selection_state(
    request: HttpRequest, user: Collaborator
) -> tuple[SelectionFilters, ClientSelection | None, SelectionAdjustments]:
    """The selection the window writes to: the builder's fields when posted, else a saved
    selection (?selection=<pk>, 404 when not the user's nor shared), else filters in the URL;
    with the clients added or unticked by hand. No filter: nobody, until chosen."""
    query = request.POST if request.method == "POST" else request.GET
    if request.method == "POST":
        loaded_pk = _int_param(request.POST.get(SELECTION_PREFIX + "selection") or None)
        loaded = selection_get(pk=loaded_pk, user=user) if loaded_pk is not None else None
        filters = SelectionFilters.from_query(request.POST)
        return (
            filters,
            loaded,
            selection_adjustments_from(query, filters=filters, just_loaded=False),
        )
    raw = request.GET.get("selection")
    if raw:
        pk = _int_param(raw)
        loaded = selection_get(pk=pk, user=user) if pk is not None else None
        if loaded is None:
            raise Http404(_("Cette sélection n'existe pas ou n'est pas partagée avec vous."))
        filters = SelectionFilters.from_dict(loaded.filters)
        return filters, loaded, selection_adjustments_from(query, filters=filters, just_loaded=True)
    filters = SelectionFilters.from_query(request.GET)
    return filters, None, selection_adjustments_from(query, filters=filters, just_loaded=False)


def _window(request: HttpRequest, *, initial: dict[str, Any] | None = None) -> Window:
    """The window as the request describes it; 404 for a client, a selection or objects that
    are not one."""
    user = _user(request)
    context_name, objects = _context_objects(request, user)
    start = dict(initial or {})
    client = None
    if objects:
        # One object: its client, in the object's language; several: each gets its own.
        client = objects[0].client if len(objects) == 1 else None
        if client is not None:
            start.setdefault("language", objects[0].language or client.language)
        start.setdefault("send_by_link", _starts_by_link(objects))
    else:
        raw_client = request.POST.get("client") or request.GET.get("client")
        if raw_client is not None and raw_client != "":
            pk = _int_param(raw_client)
            if pk is None:
                raise Http404(_("Aucun client n'est choisi."))
            client = get_object_or_404(Client.objects.prefetch_related("emails"), pk=pk)
    filters, loaded, adjustments = _selection_state(request, user)
    form = ComposeForm(
        request.POST if request.method == "POST" else None,
        user=user,
        client=client,
        default_language=Firm.load().default_language,
        context=contexts.templates_context(context_name, objects) if objects else CLIENT_CONTEXT,
        initial=start,
    )
    next_url = request_next(request, fallback="")
    return Window(
        form=form,
        client=client,
        filters=filters,
        saved_selection=loaded,
        adjustments=adjustments,
        find=(request.POST.get(SELECTION_PREFIX + "find") or "").strip()[:200],
        context_name=context_name,
        objects=objects,
        next_url=next_url,
    )


def _selection_clients(window: Window) -> list[Client]:
    """The clients of the selection as the window shows them (the filters' and those added by
    hand, less those unticked), by name, with their addresses."""
    return selection_recipients(filters=window.filters, adjustments=window.adjustments)


def _no_recipient(clients: list[Client]) -> str:
    """Why a selection cannot be written to ("" when someone has an address)."""
    if not clients:
        return _(
            "Aucun destinataire : choisissez des filtres ou une sélection, ou ajoutez des clients."
        )
    if not any(client.mail_addresses() for client in clients):
        return _("Aucun client de la sélection n'a d'adresse e-mail.")
    return ""


def _split_by_address(clients: list[Client]) -> tuple[list[Client], list[Client]]:
    with_address = [client for client in clients if client.mail_addresses()]
    without = [client for client in clients if not client.mail_addresses()]
    return with_address, without


def _method_limit(profile: SendingProfile | None) -> tuple[int, str]:
    """The size a message may have with the sender's method, and that method's name."""
    limit = services.message_size_limit(profile)
    return limit, str(profile.get_method_display()) if profile is not None else ""


def _attachments_context(
    form: ComposeForm, profile: SendingProfile | None, objects: list[MailContext] | None = None
) -> dict[str, Any]:
    uploads = form.upload_objects
    total = sum(upload.size for upload in uploads)
    limit, method = _method_limit(profile)
    # Base64 makes a file about a third bigger once in the mail.
    encoded = sum(encoded_size(int(upload.size)) for upload in uploads)
    # The files each object's mail carries on its own ("joint automatiquement").
    auto: list[dict[str, Any]] = []
    largest = 0
    for item in objects or []:
        if not item.attachments:
            continue
        size = sum(encoded_size(int(attached.size)) for attached in item.attachments)
        largest = max(largest, size)
        auto.append(
            {
                "label": item.label,
                "client": item.client,
                "files": [(attached.name, attached.size) for attached in item.attachments],
            }
        )
    by_link = bool(form["send_by_link"].value())
    return {
        "uploads": uploads,
        "uploads_total": total,
        "uploads_encoded": encoded,
        "auto_files": auto,
        "auto_single": len(objects or []) == 1,
        "size_limit": limit,
        "size_method": method,
        "too_large": encoded + largest > limit and not by_link,
    }


def _sender_profile(user: Collaborator) -> SendingProfile | None:
    return profiles.profile_for_page(collaborator=user)


def _window_context(request: HttpRequest, window: Window, **extra: Any) -> dict[str, Any]:
    user = _user(request)
    form = window.form
    sender_profile = _sender_profile(user)
    firm = Firm.load()
    client = window.client
    if window.is_context:
        addresses = window.objects[0].recipient_addresses() if len(window.objects) == 1 else []
    else:
        addresses = client.mail_addresses() if client is not None else []
    context: dict[str, Any] = {
        "window": window,
        "form": form,
        "client": client,
        "addresses": addresses,
        "no_address": client is not None and not addresses,
        "sender_profile": sender_profile,
        "sender_unready": profiles.profile_unready(sender_profile) if sender_profile else "",
        "merge_fields": fields.fields_for(window.templates_context),
        "profile_missing": window.profile_missing,
        "firm": firm,
        "fixed_bcc": firm.fixed_bcc,
        "default_language_label": MailLanguage(firm.default_language).label,
        "date_patterns": _date_patterns(),
        "language_label": _language_label(str(form["language"].value() or "")),
        "timezone_name": BRUSSELS_NAME,
        **selection_builder_context(
            user=user,
            filters=window.filters,
            loaded=window.saved_selection,
            embedded=True,
            adjustments=window.adjustments,
            find=window.find,
        ),
        "save_form": TemplateSaveForm(
            user=user,
            context=window.templates_context,
            initial={"language": form["language"].value()},
            auto_id="id_save_%s",
        ),
        "editable_templates": selectors.templates_editable(
            user=user, context=window.templates_context
        ),
        "context_label": _context_label(window.context_name and window.templates_context),
        "already_mailed": _already_mailed(window.objects),
        "company_senders": _company_senders(window.objects),
        **_attachments_context(form, sender_profile, window.objects),
    }
    context.update(extra)
    return context


def _date_patterns() -> dict[str, str]:
    """How each mail language writes a date ("DD/MM/YYYY", "DD.MM.YYYY"), for the values the
    window asks for: the rule stays `l10n.format_date`'s."""
    sample = date(2033, 11, 22)
    return {
        code: l10n.format_date(sample, code)
        .replace("2033", "YYYY")
        .replace("11", "MM")
        .replace("22", "DD")
        for code in MailLanguage.values
    }


def _already_mailed(objects: list[MailContext]) -> list[str]:
    """What the window's objects mailed once (invoices) already had: when each went."""
    mailed = once.first_mails(objects)
    return [
        str(once.already_mailed(item, mailed[item.object_id]))
        for item in objects
        if item.object_id in mailed
    ]


def _company_senders(objects: list[MailContext]) -> list[dict[str, Any]]:
    """The billing companies whose profile sends mails about these objects (invoices)."""
    companies: dict[int, BillingCompany] = {}
    for item in objects:
        if item.billing_company is not None:
            companies.setdefault(item.billing_company.pk, item.billing_company)
    return [
        {"company": company, "profile": profiles.profile_for_page(billing_company=company)}
        for company in companies.values()
    ]


def _context_label(name: str) -> str:
    """What a context is called in the interface ("TVA", "facture", ...)."""
    if not name:
        return ""
    try:
        return str(MailTemplate.Context(name).label)
    except ValueError:
        return name


def _render_window(request: HttpRequest, window: Window, **extra: Any) -> HttpResponse:
    return render(request, "mailing/compose.html", _window_context(request, window, **extra))


def _language_label(code: str) -> str:
    try:
        return str(MailLanguage(code).label)
    except ValueError:
        return code


def _client_mails_url(client: Client) -> str:
    return reverse("clients:detail", args=[client.pk]) + "?tab=mails"
