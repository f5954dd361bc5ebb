"""The mailing screens: Ma fiche, compose / preview / send, the archive, the outbox, templates.

Who sees what: a firm shares its client files, so every logged-in collaborator may open any
archived message. Only the message's sender or an administrator may cancel or retry it.
Templates: the firm's (no owner) are edited by administrators, personal ones by their owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap
from django_htmx.middleware import HtmxDetails

from courrier import l10n
from courrier.clients.models import Client, ClientSelection
from courrier.clients.selectors import (
    SelectionAdjustments,
    SelectionFilters,
    selection_get,
    selection_recipients,
)
from courrier.clients.views import selection_adjustments_from, selection_builder_context
from courrier.crypto import SecretUnreadable
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.firm.permissions import (
    admin_only,
    admin_required,
    can_manage_profile,
    installation_admin,
    is_firm_admin,
)
from courrier.languages import MailLanguage
from courrier.mailing import advice, contexts, fields, selectors, services
from courrier.mailing.batch_views import batch_title
from courrier.mailing.contexts import MailContext
from courrier.mailing.exceptions import MailingError, ProfileMissing
from courrier.mailing.forms import (
    CollaboratorDetailsForm,
    ComposeForm,
    MailTemplateForm,
    Recipients,
    SendingProfileForm,
    TemplateSaveForm,
)
from courrier.mailing.models import (
    DeliveryStatus,
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    SendingProfile,
    Upload,
)
from courrier.mailing.services import by_link, languages, once, profiles, resend, store
from courrier.mailing.services.setup import encoded_size
from courrier.texts import Text, render_all

Status = OutboundMessage.Status
SELECTION_PREFIX = SelectionFilters.PREFIX
OUTBOX_ROWS = 200
BRUSSELS = ZoneInfo("Europe/Brussels")
BRUSSELS_NAME = "Europe/Brussels"

CANCELLABLE = {Status.QUEUED, Status.RETRY, Status.HELD, Status.UNCERTAIN}
RETRYABLE = {Status.FAILED, Status.UNCERTAIN}


def _status_meanings() -> dict[str, str]:
    return {
        Status.QUEUED: _("Le message attend son tour : il part dans quelques instants."),
        Status.SENDING: _("Le message est en train d'être remis au serveur d'envoi."),
        Status.SENT: _("Le serveur d'envoi a accepté le message."),
        Status.RETRY: _(
            "Le serveur n'a pas pu le prendre pour l'instant ; un nouvel essai est prévu."
        ),
        Status.HELD: _(
            "Le paramétrage d'envoi est à corriger (par exemple un mot de passe refusé). "
            "Le message repartira dès qu'il sera corrigé."
        ),
        Status.FAILED: _("Le message n'a pas pu être envoyé ; la raison est indiquée ci-dessous."),
        Status.CANCELLED: _("Le message a été annulé : il ne partira pas."),
        Status.UNCERTAIN: _(
            "L'envoi a été interrompu : le message est peut-être parti. Il n'est jamais renvoyé "
            "automatiquement ; vérifiez chez le destinataire puis renvoyez-le ou annulez-le."
        ),
    }


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _user(request: HttpRequest) -> Collaborator:
    return cast(Collaborator, request.user)


def _int_param(value: str | None) -> int | None:
    """A primary key from a query string; anything else is None (a 404, never a 500)."""
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _client_from(request: HttpRequest) -> Client:
    pk = _int_param(request.POST.get("client") or request.GET.get("client"))
    if pk is None:
        raise Http404(_("Aucun client n'est choisi."))
    return get_object_or_404(Client.objects.prefetch_related("emails"), pk=pk)


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# --- Sending settings: Ma fiche and the billing companies' page ----------------------------


def _profile_owner(request: HttpRequest) -> Collaborator:
    """Whose fiche: the user's own, or with ?collaborator=<pk> any one's, for an admin."""
    user = _user(request)
    raw = request.GET.get("collaborator") or request.POST.get("collaborator")
    if raw is None or raw == str(user.pk):
        return user
    pk = _int_param(raw)
    if pk is None:
        raise Http404(_("Collaborateur inconnu."))
    if not is_firm_admin(user):
        raise PermissionDenied(
            _("Seul un administrateur modifie la fiche d'un autre collaborateur.")
        )
    return get_object_or_404(Collaborator, pk=pk)


def _my_profile_url(owner: Collaborator, user: Collaborator) -> str:
    url = reverse("mailing:my_profile")
    return url if owner.pk == user.pk else f"{url}?collaborator={owner.pk}"


def _new_profile(owner: Collaborator) -> SendingProfile:
    return SendingProfile(
        collaborator=owner, from_address=owner.email, from_name=owner.get_full_name()
    )


def _new_company_profile(company: BillingCompany) -> SendingProfile:
    return SendingProfile(
        billing_company=company, from_address=company.email, from_name=company.name
    )


def _profile_form(
    request: HttpRequest, *, profile: SendingProfile | None, new: SendingProfile, company: bool
) -> SendingProfileForm:
    data = request.POST if request.method == "POST" and "save_profile" in request.POST else None
    return SendingProfileForm(
        data,
        instance=profile or new,
        prefix="profile",
        secrets=profiles.secrets_stored(profile),
        company=company,
        installation_admin=installation_admin(request.user),
    )


def _save_profile(request: HttpRequest, form: SendingProfileForm) -> None:
    with transaction.atomic():
        saved = form.save()
        resumed = profiles.profile_saved(profile=saved)
    text = _("Le paramétrage d'envoi est enregistré.")
    if resumed:
        text += " " + ngettext(
            "%(count)d message en attente repart.",
            "%(count)d messages en attente repartent.",
            resumed,
        ) % {"count": resumed}
    messages.success(request, text)


def _settings_context(
    request: HttpRequest,
    *,
    profile: SendingProfile | None,
    form: SendingProfileForm,
    page_url: str,
    hidden: dict[str, int],
) -> dict[str, Any]:
    """What the shared settings section shows around the form (see _sending_profile.html)."""
    # Advice follows what is on the screen: the posted values when the form came back.
    shown = form.instance if form.is_bound else (profile or form.instance)
    context: dict[str, Any] = {
        "profile": profile,
        "profile_form": form,
        "advice": advice.profile_advice(shown),
        "page_url": page_url,
        "hidden": hidden,
        "tests": selectors.profile_tests(profile=profile) if profile is not None else [],
        "oauth_ready": {
            "gmail": profiles.oauth_configured("google"),
            "microsoft": profiles.oauth_configured("microsoft"),
        },
        "public_url": str(getattr(settings, "PUBLIC_URL", "") or ""),
        "installation_admin": installation_admin(request.user),
    }
    if profile is not None:
        context.update(
            held=profiles.held_count(profile),
            unready=profiles.profile_unready(profile),
            oauth_connected=profiles.oauth_connected(profile),
            oauth_saved=profile.method in profiles.OAUTH_METHODS
            or (
                profile.method == SendingProfile.Method.SMTP
                and profile.smtp_auth == SendingProfile.SMTPAuth.XOAUTH2
            ),
            webhook=(
                profiles.profile_webhook_address(profile=profile)
                if profile.method in profiles.WEBHOOK_METHODS
                else None
            ),
        )
    return context


@login_required
@require_http_methods(["GET", "POST"])
def my_profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    owner = _profile_owner(request)
    profile = profiles.profile_for_page(collaborator=owner)
    details_form = CollaboratorDetailsForm(instance=owner, prefix="me")
    profile_form = _profile_form(request, profile=profile, new=_new_profile(owner), company=False)
    if request.method == "POST" and "save_details" in request.POST:
        details_form = CollaboratorDetailsForm(request.POST, instance=owner, prefix="me")
        if details_form.is_valid():
            details_form.save()
            messages.success(request, _("Vos coordonnées sont enregistrées."))
            return redirect(_my_profile_url(owner, user))
    elif profile_form.is_bound and profile_form.is_valid():
        _save_profile(request, profile_form)
        return redirect(_my_profile_url(owner, user))
    page_url = _my_profile_url(owner, user)
    context = {
        "owner": owner,
        "is_own": owner.pk == user.pk,
        "details_form": details_form,
        "collaborators": (
            Collaborator.objects.filter(is_active=True) if is_firm_admin(user) else None
        ),
        **_settings_context(
            request,
            profile=profile,
            form=profile_form,
            page_url=page_url,
            hidden={} if owner.pk == user.pk else {"collaborator": owner.pk},
        ),
    }
    return render(request, "mailing/my_profile.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def company_profile(request: HttpRequest, pk: int) -> HttpResponse:
    """A billing company's sending settings: its invoices and the mails about them leave here."""
    company = get_object_or_404(BillingCompany, pk=pk)
    profile = profiles.profile_for_page(billing_company=company)
    form = _profile_form(request, profile=profile, new=_new_company_profile(company), company=True)
    page_url = reverse("mailing:company_profile", args=[company.pk])
    if request.method == "POST" and form.is_valid():
        _save_profile(request, form)
        return redirect(page_url)
    context = {
        "company": company,
        **_settings_context(
            request, profile=profile, form=form, page_url=page_url, hidden={"company": company.pk}
        ),
    }
    return render(request, "mailing/company_profile.html", context)


def _profile_to_test(request: HttpRequest) -> tuple[SendingProfile | None, str, str]:
    """The profile the test button is for, the error to show instead, and the page to go back
    to. A company's profile is tested by administrators only."""
    user = _user(request)
    company_pk = request.POST.get("company")
    if company_pk is not None:
        pk = _int_param(company_pk)
        if pk is None:
            raise Http404(_("Société facturante inconnue."))
        if not is_firm_admin(user):
            raise admin_only()
        company = get_object_or_404(BillingCompany, pk=pk)
        back = reverse("mailing:company_profile", args=[company.pk])
        owner_filter: dict[str, Any] = {"billing_company": company}
    else:
        owner = _profile_owner(request)
        back = _my_profile_url(owner, user)
        owner_filter = {"collaborator": owner}
    try:
        profile = SendingProfile.objects.filter(**owner_filter).first()
    except SecretUnreadable:
        return (
            None,
            _(
                "Un secret enregistré (mot de passe, clé, jeton) ne peut plus être lu (la clé de "
                "chiffrement a changé) : saisissez-le à nouveau et enregistrez."
            ),
            back,
        )
    if profile is None:
        return None, _("Enregistrez d'abord le paramétrage d'envoi, puis testez-le."), back
    if not can_manage_profile(user, profile):
        raise PermissionDenied(_("Vous ne pouvez pas tester ce paramétrage d'envoi."))
    return profile, "", back


@login_required
@require_POST
def profile_test(request: HtmxHttpRequest) -> HttpResponse:
    """Send a real test mail through the profile to the person who clicked, and say how it went;
    for SMTP with a copy in the Sent folder, try the IMAP login too."""
    user = _user(request)
    profile, error, back = _profile_to_test(request)
    result = None
    imap_result: tuple[bool, Text] | None = None
    if profile is not None:
        try:
            result = services.profile_verify(
                profile=profile, requested_by=user, recipient=user.email
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except MailingError as exc:
            error = exc.user_message
        imap_result = profiles.profile_imap_verify(profile=profile)
    if not request.htmx:
        if result is not None and result.success:
            messages.success(request, str(result.detail) or _("Le message de test est parti."))
        else:
            messages.error(request, error or (str(result.detail) if result else ""))
        if imap_result is not None:
            (messages.success if imap_result[0] else messages.error)(request, str(imap_result[1]))
        return redirect(back)
    context = {
        "result": result,
        "imap_result": imap_result,
        "error": error,
        "recipient": user.email,
        "tests": selectors.profile_tests(profile=profile) if profile is not None else [],
    }
    return render(request, "mailing/_profile_tests.html", context)


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
            return "client"
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
    if not name or name == "client":
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
        context=contexts.templates_context(context_name, objects) if objects else "client",
        initial=start,
    )
    next_url = ""
    raw_next = request.POST.get("next") or request.GET.get("next") or ""
    if raw_next and url_has_allowed_host_and_scheme(
        raw_next, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = raw_next
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


def _store_posted_files(request: HttpRequest, form: ComposeForm) -> list[str]:
    """Files sent with the form itself (the window without its script): stored, joined."""
    errors: list[str] = []
    stored: list[Upload] = []
    for upload_file in request.FILES.getlist("files"):
        try:
            stored.append(services.upload_store(owner=_user(request), file=upload_file))
        except ValidationError as exc:
            errors.extend(exc.messages)
    form.add_uploads(stored)
    return errors


def _remove_upload(request: HttpRequest, form: ComposeForm) -> bool:
    pk = _int_param(request.POST.get("remove_upload"))
    if pk is None or pk not in form.upload_ids:
        return False
    form.upload_ids.remove(pk)
    form.upload_objects = [upload for upload in form.upload_objects if upload.pk != pk]
    return True


def _errors_of(form: ComposeForm) -> list[str]:
    """Every error of the form as a sentence that names its field."""
    errors: list[str] = []
    for name, field_errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        for error in field_errors:
            errors.append(f"{label} : {error}" if label else str(error))
    return errors


def _uploads_of(form: ComposeForm) -> list[Upload]:
    return list(form.cleaned_data.get("uploads") or form.upload_objects)


def _presend(
    window: Window,
    user: Collaborator,
    clients: list[Client],
    objects: list[MailContext] | None = None,
) -> list[services.PresendCheck]:
    """The pre-send check of every recipient (or of `objects`, the window's objects by
    default in a context), with the options the window asks for."""
    form = window.form
    data = form.cleaned_data
    if objects is None and window.is_context:
        objects = window.objects
    return list(
        services.presend_check(
            sender=user,
            clients=clients,
            subject=data["subject"],
            body=data["body"],
            template=data.get("template") if window.is_batch else None,
            uploads=_uploads_of(form),
            options={
                **form.options(),
                "language": data["language"],
                "other_language": bool(data.get("other_language")),
            },
            batch=window.is_batch,
            contexts=objects,
            send_by_link=bool(data.get("send_by_link")),
            again=bool(data.get("resend")),
        )
    )


def _presend_context(checks: list[services.PresendCheck]) -> dict[str, Any]:
    """The check's table: blocked recipients first, then those with a warning, then the rest."""
    ready = [check for check in checks if not check.blockers]
    blocked = [check for check in checks if check.blockers]
    warned = [check for check in ready if check.warnings]
    clean = [check for check in ready if not check.warnings]
    return {
        "checks": blocked + warned + clean,
        "ready_count": len(ready),
        "blocked_count": len(blocked),
        "warned_count": len(warned),
        # Too large only because of their files: the link option, with the user's consent.
        "offer_link": any(check.oversize for check in blocked),
    }


def _send_one(request: HttpRequest, window: Window) -> HttpResponse | None:
    """Queue the mail to one client; None when the form has to come back with errors."""
    user = _user(request)
    form = window.form
    client = window.client
    assert client is not None
    data = form.cleaned_data
    key = form.compose_key
    done_url = window.next_url or _client_mails_url(client)
    already = store.message_for_key(key)
    if already is not None:
        messages.info(request, _("Ce message est déjà en file d'attente."))
        return redirect(done_url)
    context = window.objects[0] if window.is_context else None
    code = ""
    try:
        checks = _presend(window, user, [client])
        blockers = [reason for check in checks for reason in check.blockers]
        if blockers:
            for reason in blockers:
                form.add_error(None, str(reason))
            return None
        # A mail about an invoice: the invoice's own key, that every path sending it uses.
        purpose = "client"
        if context is not None and context.object_id is not None:
            target = once.object_key(
                context,
                first=once.first_mails([context]).get(context.object_id),
                again=bool(data.get("resend")),
                tag=data.get("idempotency_key") or "",
            )
            if target is not None:
                key, purpose = target.key, target.purpose
        values: dict[str, Any] = {
            "sender": user,
            "client": client,
            "draft": services.Draft(
                subject=data["subject"],
                body=data["body"],
                language=data["language"],
                template=data["template"],
                uploads=_uploads_of(form),
            ),
            "options": {**form.options(), "archive": data["archive"]},
            "purpose": purpose,
            "idempotency_key": key,
            "context": context,
        }
        if data.get("send_by_link"):
            message, code = by_link.message_compose_by_link(
                **values, send_code=bool(data.get("send_code"))
            )
        else:
            message = services.message_compose(**values)
    except ValidationError as exc:
        form.add_error(None, exc.messages)
        return None
    except ProfileMissing as exc:
        window.profile_missing = True
        form.add_error(None, exc.user_message)
        return None
    except MailingError as exc:
        form.add_error(None, exc.user_message)
        return None
    if message.scheduled_at:
        when = timezone.localtime(message.scheduled_at, BRUSSELS)
        messages.success(
            request,
            _("Message programmé : il partira le %(date)s à %(time)s (heure de Bruxelles).")
            % {"date": f"{when:%d/%m/%Y}", "time": f"{when:%H:%M}"},
        )
    else:
        messages.success(request, _("Message mis en file d'attente."))
    if not message.archived:
        messages.info(
            request,
            _(
                "Ce message n'est pas archivé dans la fiche du client : retrouvez-le dans la "
                "boîte de sortie."
            ),
        )
    if code and not data.get("send_code"):
        # Shown once: the code is stored only as a hash.
        messages.warning(
            request,
            _(
                "Code d'accès aux pièces jointes, à communiquer au client par un autre moyen "
                "(téléphone) : %(code)s — il ne sera plus affiché."
            )
            % {"code": code},
        )
    elif code:
        messages.info(request, _("Le code d'accès part dans un second mail au client."))
    return redirect(done_url)


def _send_selection(
    request: HttpRequest, window: Window, clients: list[Client]
) -> HttpResponse | None:
    """Create the batch of a selection. Its task queues one mail per client that nothing
    blocks and lists the others with their reasons, as the pre-send check showed them; what
    blocks every mail (the profile, an option, a file) refuses the batch here."""
    user = _user(request)
    form = window.form
    data = form.cleaned_data
    key = data.get("idempotency_key") or ""
    with transaction.atomic():
        # One batch per window: the sender's row is the lock two quick clicks wait on.
        Collaborator.objects.select_for_update().filter(pk=user.pk).first()
        existing = selectors.batch_for_key(sender=user, key=key)
        if existing is not None:
            messages.info(request, _("Cet envoi groupé est déjà lancé."))
            return redirect("mailing:batch_progress", pk=existing.pk)
        options = form.batch_options()
        if window.next_url:
            options["next"] = window.next_url
        try:
            batch = services.batch_create(
                sender=user,
                client_ids=[client.pk for client in clients],
                subject=data["subject"],
                body=data["body"],
                template=data.get("template"),
                options=options,
                uploads=_uploads_of(form),
                context=window.context_name or "client",
                object_ids=[item.object_id for item in window.objects if item.object_id],
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
            return None
        except MailingError as exc:
            form.add_error(None, exc.user_message)
            return None
    return redirect("mailing:batch_progress", pk=batch.pk)


@login_required
@require_http_methods(["GET", "POST"])
def compose(request: HttpRequest) -> HttpResponse:
    """The compose window. POST: "send" queues (one client) or creates the batch (selection)
    after the pre-send check; "check" shows that check; anything else (files joined or removed
    without the script) shows the window again with everything kept."""
    user = _user(request)
    window = _window(request)
    form = window.form
    if request.method != "POST":
        return _render_window(request, window)

    upload_errors = _store_posted_files(request, form)
    removed = _remove_upload(request, form)
    extra: dict[str, Any] = {}
    # A form posted without its button (a script, an old page) sends, as it always did; files
    # joined or taken away without the script only show the window again.
    files_changed = bool(request.FILES) or removed
    # The selection's search without the script ("Chercher") only shows the window again.
    searched = SELECTION_PREFIX + "refresh" in request.POST
    action = "check" if "check" in request.POST else "send"
    if upload_errors or (
        "send" not in request.POST and "check" not in request.POST and (files_changed or searched)
    ):
        for error in upload_errors:
            messages.error(request, error)
        return _render_window(request, window)
    if not form.is_valid():
        return _render_window(request, window)
    if window.is_batch and window.is_context:
        if action == "send":
            response = _send_selection(request, window, [])
            if response is not None:
                return response
        else:
            extra.update(_presend_view_context(window, user, []))
    elif window.is_selection:
        recipients = _selection_clients(window)
        unreachable = _no_recipient(recipients)
        if unreachable:
            form.add_error(None, unreachable)
            return _render_window(request, window)
        if action == "send":
            response = _send_selection(request, window, recipients)
            if response is not None:
                return response
        else:
            extra.update(_presend_view_context(window, user, recipients))
    else:
        assert window.client is not None
        if action == "send":
            response = _send_one(request, window)
            if response is not None:
                return response
        else:
            extra.update(_presend_view_context(window, user, [window.client]))
    return _render_window(request, window, **extra)


def _presend_view_context(
    window: Window, user: Collaborator, clients: list[Client]
) -> dict[str, Any]:
    try:
        checks = _presend(window, user, clients)
    except ValidationError as exc:
        return {"presend_errors": exc.messages, "presend_shown": True}
    except MailingError as exc:
        return {"presend_errors": [exc.user_message], "presend_shown": True}
    return {"presend_shown": True, **_presend_context(checks)}


@login_required
@require_POST
def presend(request: HtmxHttpRequest) -> HttpResponse:
    """The pre-send check of the window, per recipient: what blocks, what only warns."""
    user = _user(request)
    window = _window(request)
    form = window.form
    context: dict[str, Any] = {"window": window, "form": form, "client": window.client}
    if not form.is_valid():
        context.update(presend_errors=_errors_of(form), presend_shown=True)
    elif window.is_context:
        context.update(_presend_view_context(window, user, []))
    elif window.is_selection:
        recipients = _selection_clients(window)
        if recipients:
            context.update(_presend_view_context(window, user, recipients))
        else:
            context.update(presend_errors=[_no_recipient(recipients)], presend_shown=True)
    else:
        assert window.client is not None
        context.update(_presend_view_context(window, user, [window.client]))
    if not request.htmx:
        shown = {key: value for key, value in context.items() if key not in {"window", "form"}}
        return _render_window(request, window, **shown)
    return render(request, "mailing/_presend.html", context)


def _preview_index(request: HttpRequest, count: int) -> int:
    raw = request.GET.get("i") or request.POST.get("i") or "0"
    index = int(raw) if raw.strip().isdigit() and len(raw) < 9 else 0
    return max(0, min(index, count - 1)) if count else 0


def _preview_one(
    window: Window, user: Collaborator, client: Client, context: MailContext | None = None
) -> tuple[services.Preview | None, list[str], list[str], bool]:
    """The mail to `client` (about `context`) as it will leave, what blocks it, what to check,
    and whether the sender lacks a profile. The pre-send check's rendering, which is what
    compose and the batch send: its language, its template version, its blockers."""
    checks = _presend(window, user, [client], [context] if context is not None else None)
    check = checks[0]
    # One client of the sender's own: without a profile, the way to fill one in.
    profile_missing = not window.is_context and _sender_profile(user) is None
    return check.preview, render_all(check.blockers), render_all(check.warnings), profile_missing


@login_required
@require_POST
def preview(request: HtmxHttpRequest) -> HttpResponse:
    """Exactly what "Envoyer" would send, rendered by the same code path, nothing stored. For
    a selection, one recipient at a time (?i=), with the way to the previous and the next."""
    user = _user(request)
    window = _window(request)
    form = window.form
    result = None
    errors: list[str] = []
    warnings: list[str] = []
    profile_missing = False
    client = window.client
    index, count = 0, 1
    about: MailContext | None = None
    if window.is_context:
        count = len(window.objects)
        index = _preview_index(request, count)
        about = window.objects[index]
        client = about.client
    elif window.is_selection:
        chosen = _selection_clients(window)
        recipients, _without = _split_by_address(chosen)
        count = len(recipients)
        index = _preview_index(request, count)
        client = recipients[index] if recipients else None
        if client is None:
            errors.append(_no_recipient(chosen))
    if client is not None and form.is_valid():
        try:
            result, blockers, warnings, profile_missing = _preview_one(window, user, client, about)
            errors.extend(blockers)
        except ValidationError as exc:
            errors.extend(exc.messages)
        except MailingError as exc:
            errors.append(exc.user_message)
    elif client is not None:
        errors.extend(_errors_of(form))
    context = {
        "window": window,
        "client": client,
        "form": form,
        "preview": result,
        "errors": errors,
        "warnings": warnings,
        "profile_missing": profile_missing,
        "stepping": window.is_batch,
        "about": about,
        "index": index,
        "position": index + 1,
        "count": count,
        "previous": index - 1 if index > 0 else None,
        "next": index + 1 if index + 1 < count else None,
        "archive": bool(getattr(form, "cleaned_data", {}).get("archive", True)),
    }
    if request.htmx:
        return render(request, "mailing/_preview.html", context)
    return render(request, "mailing/preview_page.html", context)


@login_required
@require_POST
def upload(request: HtmxHttpRequest) -> HttpResponse:
    """Join files to the window (or take one away: remove=<id>); answers the attachment list
    with the total and the limit of the sender's method. A refused file is said, not stored."""
    user = _user(request)
    context_name, objects = _context_objects(request, user)
    form = ComposeForm(
        request.POST,
        user=user,
        default_language=Firm.load().default_language,
        context=contexts.templates_context(context_name, objects) if objects else "client",
    )
    errors = _store_posted_files(request, form)
    removed = _int_param(request.POST.get("remove"))
    if removed is not None and removed in form.upload_ids:
        form.upload_ids.remove(removed)
        form.upload_objects = [item for item in form.upload_objects if item.pk != removed]
    context = {
        "form": form,
        "upload_errors": errors,
        **_attachments_context(form, _sender_profile(user), objects),
    }
    if not request.htmx:
        # Only the window's script posts here; without it, files go with the form itself.
        for error in errors:
            messages.error(request, error)
        return redirect("mailing:compose")
    return render(request, "mailing/_compose_attachments.html", context)


@login_required
@require_POST
def template_save_from_compose(request: HtmxHttpRequest) -> HttpResponse:
    """ "Sauver modèle": the window's subject and body saved as a template's language version."""
    user = _user(request)
    posted = str(request.POST.get("context") or "")
    context_name = posted if posted in fields.CONTEXT_FIELDS else "client"
    if context_name != "client" and str(request.POST.get("objects") or "").strip():
        # Saved among the templates the window offers (a credit note's: "credit_note").
        _name, objects = _context_objects(request, user)
        context_name = contexts.templates_context(context_name, objects)
    form = TemplateSaveForm(request.POST, user=user, context=context_name)
    saved: MailTemplate | None = None
    created = False
    if form.is_valid():
        saved, created = form.save()
    notice = ""
    level = "error"
    if saved is not None:
        level = "success"
        values = {
            "name": saved.name,
            "language": _language_label(form.cleaned_data["language"]),
        }
        notice = (
            _("Le modèle « %(name)s » est créé, avec sa version en %(language)s.") % values
            if created
            else _("La version en %(language)s du modèle « %(name)s » est remplacée.") % values
        )
    if not request.htmx:
        window = _window(request, initial={"template": saved.pk} if saved else None)
        if saved is not None:
            messages.success(request, notice)
        else:
            for error in _errors_of_form(form):
                messages.error(request, error)
        return _render_window(
            request,
            window,
        )
    context = {
        "save_form": form
        if saved is None
        else TemplateSaveForm(
            user=user,
            context=context_name,
            initial={"language": form.cleaned_data["language"]},
            auto_id="id_save_%s",
        ),
        "save_errors": _errors_of_form(form) if saved is None else [],
        "save_notice": notice,
        "save_level": level,
        "saved_template": saved,
        "templates": selectors.templates_for(user=user, context=context_name),
        "editable_templates": selectors.templates_editable(user=user, context=context_name),
    }
    return render(request, "mailing/_compose_save_template.html", context)


def _errors_of_form(form: forms.Form) -> list[str]:
    errors: list[str] = []
    for name, field_errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        for error in field_errors:
            errors.append(f"{label} : {error}" if label else str(error))
    return errors


def _loaded_version(
    template: MailTemplate, language: str, default: str
) -> MailTemplateVersion | None:
    """The version the window shows: in `language`, else the firm's default language, else
    the first there is."""
    for wanted in (language, default, *template.languages()):
        version = template.version(wanted)
        if version is not None:
            return version
    return None


def _languages_text(codes: list[str]) -> str:
    return ", ".join(_language_label(code) for code in codes)


@login_required
@require_GET
def template_load(request: HtmxHttpRequest) -> HttpResponse:
    """Load a template into subject and body: the version in the client's (or the object's)
    language; for several recipients, one of the versions, each recipient getting its own.
    The notice names the versions that exist and says what happens to a recipient whose
    language has none (the rule of `services.check_recipient`)."""
    user = _user(request)
    context_name, objects = _context_objects(request, user)
    # The window may have a client and yet write to a selection (its radio switched).
    to_selection = request.GET.get("recipients") == Recipients.SELECTION
    client = _client_from(request) if request.GET.get("client") and not to_selection else None
    own_language = ""
    if context_name:
        client = objects[0].client if len(objects) == 1 else None
        own_language = objects[0].language if client is not None else ""
    pk = _int_param(request.GET.get("template"))
    if pk is None:
        response = render(request, "mailing/_template_notice.html", {"notice": ""})
        return reswap(response, "none")
    offered = contexts.templates_context(context_name, objects) if objects else "client"
    template = get_object_or_404(selectors.templates_for(user=user, context=offered), pk=pk)
    default = Firm.load().default_language
    language = (own_language or client.language) if client is not None else default
    version = _loaded_version(template, language, default)
    if version is None:
        response = render(
            request,
            "mailing/_template_notice.html",
            {
                "notice": _(
                    "Le modèle « %(template)s » n'a encore aucune version : le contenu n'a pas "
                    "été remplacé."
                )
                % {"template": template.name},
                "level": "error",
            },
        )
        return reswap(response, "none")
    form = ComposeForm(
        user=user,
        client=client,
        default_language=default,
        context=offered,
        initial={
            "template": template.pk,
            "language": version.language,
            "subject": version.subject,
            "body": version.body,
        },
    )
    present = template.languages()
    option = languages.OTHER_LANGUAGE
    notice = ""
    if client is None:
        missing = [code for code in MailLanguage.values if code not in present]
        notice = _(
            "Modèle chargé pour plusieurs destinataires : chacun recevra la version de ce "
            "modèle dans sa langue (versions : %(present)s). Ci-dessous, la version en "
            "%(language)s."
        ) % {"present": _languages_text(present), "language": _language_label(version.language)}
        if missing:
            notice += " " + _(
                "Pas de version en %(missing)s : ces destinataires seront bloqués à la "
                "vérification, sauf si vous cochez « %(option)s » ; ils recevront alors la "
                "version en %(language)s, tout entière dans cette langue."
            ) % {
                "missing": _languages_text(missing),
                "option": option,
                "language": _language_label(version.language),
            }
    elif version.language != language:
        notice = _(
            "Ce modèle n'a pas de version en %(client_language)s (versions : %(present)s). La "
            "version en %(language)s est chargée : elle ne partira à ce client que si vous "
            "cochez « %(option)s », et le mail sera alors tout entier en %(language)s. Sinon, "
            "ajoutez la version en %(client_language)s au modèle."
        ) % {
            "client_language": _language_label(language),
            "present": _languages_text(present),
            "language": _language_label(version.language),
            "option": option,
        }
    return render(
        request,
        "mailing/_compose_fields.html",
        {
            "form": form,
            "client": client,
            "notice": notice,
            "oob": True,
            "selection_template": client is None,
        },
    )


# --- Messages -------------------------------------------------------------------------------


def _message_or_404(pk: int) -> OutboundMessage:
    message = selectors.message_get(pk=pk)
    if message is None:
        raise Http404(_("Ce message n'existe pas."))
    return message


def _may_act_on(user: Collaborator, message: OutboundMessage) -> bool:
    return is_firm_admin(user) or (message.sender_id is not None and message.sender_id == user.pk)


@login_required
@require_GET
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    message = _message_or_404(pk)
    may_act = _may_act_on(user, message)
    original_pk = resend.resend_of_pk(message.purpose)
    context = {
        "mail": message,
        "meaning": _status_meanings().get(message.status, ""),
        "fix_url": _fix_url(message, user) if message.status == Status.HELD else "",
        "resend_of": original_pk,
        "resend_refusal": resend.resend_refusal(message) if may_act else "",
        "can_resend": may_act and _undelivered(message) and not resend.resend_refusal(message),
        "resent": store.message_for_key(f"resend-of:{message.pk}"),
        "parsed": selectors.message_parse(raw=bytes(message.raw)),
        "attempts": list(message.attempts_log.all()),
        "can_cancel": may_act and message.status in CANCELLABLE,
        "can_retry": may_act and message.status in RETRYABLE,
    }
    return render(request, "mailing/message_detail.html", context)


def eml_filename(message: OutboundMessage) -> str:
    """`2026-11-27_1430-rappel-tva.eml`: the date, then the subject with only safe characters."""
    when = timezone.localtime(message.created_at) if message.created_at else timezone.localtime()
    subject = slugify(message.subject)[:60].strip("-") or "message"
    return f"{when:%Y-%m-%d_%H%M}-{subject}.eml"


@login_required
@require_GET
def message_eml(request: HttpRequest, pk: int) -> HttpResponse:
    """The stored bytes, exactly as they left (or will leave)."""
    message = _message_or_404(pk)
    response = HttpResponse(bytes(message.raw), content_type="message/rfc822")
    disposition = content_disposition_header(as_attachment=True, filename=eml_filename(message))
    if disposition:
        response["Content-Disposition"] = disposition
    return response


def _message_action(request: HttpRequest, pk: int, *, action: str) -> HttpResponseRedirect:
    user = _user(request)
    message = _message_or_404(pk)
    if not _may_act_on(user, message):
        raise PermissionDenied(
            _(
                "Seuls l'expéditeur du message et les administrateurs peuvent l'annuler "
                "ou le renvoyer."
            )
        )
    try:
        if action == "cancel":
            services.message_cancel(message=message, by=user)
            messages.success(request, _("Le message est annulé : il ne partira pas."))
        else:
            services.message_retry(message=message, by=user)
            messages.success(request, _("Le message est remis en file d'attente."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except MailingError as exc:
        messages.error(request, exc.user_message)
    default = reverse("mailing:message_detail", args=[message.pk])
    return HttpResponseRedirect(_safe_next(request, default))


@login_required
@require_POST
def message_cancel(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    return _message_action(request, pk, action="cancel")


@login_required
@require_POST
def message_retry(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    return _message_action(request, pk, action="retry")


# --- Outbox ---------------------------------------------------------------------------------


def _fix_url(message: OutboundMessage, user: Collaborator) -> str:
    """Where the profile that holds a message is corrected ("" when `user` may not)."""
    return profiles.settings_url(message.profile, viewer=user)


@login_required
@require_GET
def outbox(request: HtmxHttpRequest) -> HttpResponse:
    """Messages not yet settled; with ?batch=<pk>, every message of one send to a selection,
    to follow its delivery as it happens."""
    user = _user(request)
    status = request.GET.get("status") or ""
    batch = None
    if request.GET.get("batch"):
        batch_pk = _int_param(request.GET.get("batch"))
        batch = selectors.batch_get(pk=batch_pk, user=user) if batch_pk is not None else None
        if batch is None:
            raise Http404(_("Cet envoi groupé n'existe pas."))
    statuses = [choice for choice in Status.values] if batch else list(selectors.OUTBOX_STATUSES)
    if status not in statuses:
        status = ""
    rows = list(
        selectors.outbox_messages(user=user, status=status or None, batch=batch)[:OUTBOX_ROWS]
    )
    context = {
        "rows": [(m, _fix_url(m, user) if m.status == Status.HELD else "") for m in rows],
        "status": status,
        "statuses": [(s, Status(s).label) for s in statuses],
        "everyone": is_firm_admin(user),
        "batch": batch,
    }
    if batch is not None:
        template = "mailing/_batch_outbox.html" if request.htmx else "mailing/batch_outbox.html"
        context["counts"] = selectors.batch_status_counts(batch=batch)
        if not request.htmx:  # the polled part has no title: its objects are not read again
            context["title"] = batch_title(batch)
    else:
        template = "mailing/_outbox_table.html" if request.htmx else "mailing/outbox.html"
    return render(request, template, context)


# --- Undelivered ----------------------------------------------------------------------------

UNDELIVERED_PER_PAGE = 50


def _undelivered(message: OutboundMessage) -> bool:
    return message.status == Status.FAILED or message.delivery_status in resend.UNDELIVERED_EVENTS


def _undelivered_kinds() -> list[tuple[str, str]]:
    return [
        (DeliveryStatus.BOUNCED, _("rejetés (bounce)")),
        (DeliveryStatus.DROPPED, _("abandonnés par le fournisseur")),
        (DeliveryStatus.COMPLAINED, _("signalés comme spam")),
        (Status.FAILED, _("échecs d'envoi")),
    ]


@login_required
@require_GET
def undelivered(request: HttpRequest) -> HttpResponse:
    """Mail that did not reach its client, with the reason and a way to send it again."""
    user = _user(request)
    kinds = _undelivered_kinds()
    kind = request.GET.get("kind") or ""
    if kind not in {value for value, _label in kinds}:
        kind = ""
    search = (request.GET.get("q") or "").strip()[:100]
    rows = resend.undelivered_messages(user=user, kind=kind, search=search)
    page = Paginator(rows, UNDELIVERED_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page_obj": page,
        "rows": [
            {
                "mail": message,
                "reason": message.delivery_detail or message.last_error,
                "refusal": resend.resend_refusal(message),
                "may_act": _may_act_on(user, message),
            }
            for message in page.object_list
        ],
        "kinds": kinds,
        "kind": kind,
        "q": search,
        "everyone": is_firm_admin(user),
    }
    return render(request, "mailing/undelivered.html", context)


@login_required
@require_POST
def message_resend(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    """Queue a copy of an undelivered message to the client's current addresses."""
    user = _user(request)
    message = _message_or_404(pk)
    if not _may_act_on(user, message):
        raise PermissionDenied(
            _("Seuls l'expéditeur du message et les administrateurs peuvent le renvoyer.")
        )
    default = reverse("mailing:undelivered")
    try:
        copy = resend.message_resend(message=message, by=user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(_safe_next(request, default))
    if copy.status == Status.HELD:
        messages.warning(
            request,
            _(
                "La copie à %(to)s attend que le paramétrage d'envoi soit corrigé : elle partira "
                "ensuite."
            )
            % {"to": ", ".join(copy.to)},
        )
    else:
        messages.success(
            request,
            _("Le message est renvoyé à %(to)s : il part dans quelques instants.")
            % {"to": ", ".join(copy.to)},
        )
    return HttpResponseRedirect(_safe_next(request, default))


# --- Templates ------------------------------------------------------------------------------


def _merge_fields(context: str) -> list[fields.Field]:
    try:
        return fields.fields_for(context)
    except ValueError:  # a context whose catalogue is not written yet
        return fields.fields_for("client")


def _may_edit_template(user: Collaborator, template: MailTemplate) -> bool:
    if is_firm_admin(user):
        return True
    return template.owner_id is not None and template.owner_id == user.pk


def _catalogue_contexts() -> list[dict[str, Any]]:
    """Every context a template can be written for (it has a merge-field catalogue), with
    its fields."""
    return [
        {"value": value, "label": label, "fields": fields.fields_for(value)}
        for value, label in MailTemplate.Context.choices
        if value in fields.CONTEXT_FIELDS
    ]


@login_required
@require_GET
def templates(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    all_languages = list(MailLanguage.choices)
    rows = []
    for template in selectors.templates_visible(user=user):
        present = {version.language for version in template.versions.all()}
        rows.append(
            {
                "template": template,
                "context_label": template.get_context_display(),
                "present": [(c, label) for c, label in all_languages if c in present],
                "missing": [(c, label) for c, label in all_languages if c not in present],
                "editable": _may_edit_template(user, template),
            }
        )
    context = {
        "rows": rows,
        "default_language": Firm.load().default_language,
        "catalogues": _catalogue_contexts(),
    }
    return render(request, "mailing/templates.html", context)


@login_required
@require_GET
def template_fields(request: HttpRequest) -> HttpResponse:
    """The merge-field picker of one context, for the template form when its context changes."""
    name = str(request.GET.get("context") or "")
    if name not in fields.CONTEXT_FIELDS:
        raise Http404(_("Ce contexte n'a pas de champs de fusion."))
    return render(request, "mailing/_merge_fields.html", {"merge_fields": fields.fields_for(name)})


def _form_context(form: MailTemplateForm, default: str) -> str:
    """The context whose fields the form shows: the one posted, else `default`."""
    value = str(form["context"].value() or default)
    return value if value in fields.CONTEXT_FIELDS else default


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    wanted = str(request.GET.get("context") or "")
    initial = {"context": wanted} if wanted in fields.CONTEXT_FIELDS else {}
    form = MailTemplateForm(request.POST or None, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        template = form.save()
        messages.success(request, _("Le modèle « %(name)s » est enregistré.") % {"name": template})
        return redirect("mailing:templates")
    return render(
        request,
        "mailing/template_form.html",
        {
            "form": form,
            "template_obj": None,
            "merge_fields": _merge_fields(_form_context(form, "client")),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    template = get_object_or_404(selectors.templates_visible(user=user), pk=pk)
    if not _may_edit_template(user, template):
        raise PermissionDenied(
            _(
                "Ce modèle appartient au cabinet ou à un autre collaborateur : vous pouvez "
                "l'utiliser mais pas le modifier."
            )
        )
    form = MailTemplateForm(request.POST or None, user=user, template=template)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Le modèle « %(name)s » est enregistré.") % {"name": template})
        return redirect("mailing:templates")
    return render(
        request,
        "mailing/template_form.html",
        {
            "form": form,
            "template_obj": template,
            "merge_fields": _merge_fields(_form_context(form, template.context)),
        },
    )
