"""The mailing screens: Ma fiche, compose / preview / send, the archive, the outbox, templates.

Who sees what: a firm shares its client files, so every logged-in collaborator may open any
archived message. Only the message's sender or an administrator may cancel or retry it.
Templates: the firm's (no owner) are edited by administrators, personal ones by their owner.
"""

from __future__ import annotations

from typing import Any, cast

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

from courrier.clients.models import Client
from courrier.crypto import SecretUnreadable
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.firm.permissions import admin_only, admin_required, can_manage_profile, is_firm_admin
from courrier.languages import MailLanguage
from courrier.mailing import advice, fields, selectors, services
from courrier.mailing.exceptions import MailingError, ProfileMissing
from courrier.mailing.forms import (
    CollaboratorDetailsForm,
    ComposeForm,
    MailTemplateForm,
    SendingProfileForm,
)
from courrier.mailing.models import DeliveryStatus, MailTemplate, OutboundMessage, SendingProfile
from courrier.mailing.services import profiles, resend

Status = OutboundMessage.Status

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
    target = request.POST.get("next") or ""
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
    imap_result: tuple[bool, str] | None = None
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
            messages.success(request, result.detail or _("Le message de test est parti."))
        else:
            messages.error(request, error or (result.detail if result else ""))
        if imap_result is not None:
            (messages.success if imap_result[0] else messages.error)(request, imap_result[1])
        return redirect(back)
    context = {
        "result": result,
        "imap_result": imap_result,
        "error": error,
        "recipient": user.email,
        "tests": selectors.profile_tests(profile=profile) if profile is not None else [],
    }
    return render(request, "mailing/_profile_tests.html", context)


# --- Compose --------------------------------------------------------------------------------


def _compose_context(
    request: HttpRequest, *, client: Client, form: ComposeForm, **extra: Any
) -> dict[str, Any]:
    user = _user(request)
    sender_profile = profiles.profile_for_page(collaborator=user)
    # The same choice as message_compose: the general addresses, else any the client has.
    addresses = client.mail_addresses()
    return {
        "client": client,
        "form": form,
        "addresses": addresses,
        "no_address": not addresses,
        "sender_profile": sender_profile,
        "sender_unready": profiles.profile_unready(sender_profile) if sender_profile else "",
        "merge_fields": fields.fields_for("client"),
        "profile_missing": False,
        **extra,
    }


def _client_mails_url(client: Client) -> str:
    return reverse("clients:detail", args=[client.pk]) + "?tab=mails"


@login_required
@require_http_methods(["GET", "POST"])
def compose(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    client = _client_from(request)
    form = ComposeForm(request.POST or None, user=user, client=client)
    profile_missing = False
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        key = form.compose_key
        already = selectors.message_exists_for_key(idempotency_key=key) if key else None
        if already is not None:
            messages.info(request, _("Ce message est déjà en file d'attente."))
            return redirect(_client_mails_url(client))
        try:
            services.message_compose(
                sender=user,
                client=client,
                subject=data["subject"],
                body=data["body"],
                language=data["language"],
                template=data["template"],
                archive=data["archive"],
                purpose="client",
                idempotency_key=key,
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        except ProfileMissing as exc:
            profile_missing = True
            form.add_error(None, exc.user_message)
        except MailingError as exc:
            form.add_error(None, exc.user_message)
        else:
            messages.success(request, _("Message mis en file d'attente."))
            return redirect(_client_mails_url(client))
    context = _compose_context(request, client=client, form=form, profile_missing=profile_missing)
    return render(request, "mailing/compose.html", context)


@login_required
@require_POST
def preview(request: HtmxHttpRequest) -> HttpResponse:
    """Exactly what "Envoyer" would send, rendered by the same code path, nothing stored."""
    user = _user(request)
    client = _client_from(request)
    form = ComposeForm(request.POST, user=user, client=client)
    result = None
    errors: list[str] = []
    profile_missing = False
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = services.message_preview(
                sender=user,
                client=client,
                subject=data["subject"],
                body=data["body"],
                language=data["language"],
            )
        except ValidationError as exc:
            errors.extend(exc.messages)
        except ProfileMissing as exc:
            profile_missing = True
            errors.append(exc.user_message)
        except MailingError as exc:
            errors.append(exc.user_message)
    else:
        for name, field_errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else ""
            for error in field_errors:
                errors.append(f"{label} : {error}" if label else str(error))
    context = {
        "client": client,
        "form": form,
        "preview": result,
        "errors": errors,
        "profile_missing": profile_missing,
    }
    template = "mailing/_preview.html" if request.htmx else "mailing/preview_page.html"
    return render(request, template, context)


@login_required
@require_GET
def template_load(request: HtmxHttpRequest) -> HttpResponse:
    """Load a template's version in the client's language into subject and body."""
    user = _user(request)
    client = _client_from(request)
    pk = _int_param(request.GET.get("template"))
    if pk is None:
        response = render(request, "mailing/_template_notice.html", {"notice": ""})
        return reswap(response, "none")
    template = get_object_or_404(selectors.templates_for(user=user), pk=pk)
    version, fallback = selectors.template_version_for(template=template, language=client.language)
    if version is None:
        response = render(
            request,
            "mailing/_template_notice.html",
            {
                "notice": _(
                    "Le modèle « %(template)s » n'existe ni en %(language)s ni dans la langue "
                    "par défaut du cabinet : le contenu n'a pas été remplacé."
                )
                % {"template": template.name, "language": client.get_language_display()},
                "level": "error",
            },
        )
        return reswap(response, "none")
    form = ComposeForm(
        user=user,
        client=client,
        initial={
            "template": template.pk,
            "language": version.language,
            "subject": version.subject,
            "body": version.body,
        },
    )
    notice = ""
    if fallback:
        notice = _(
            "Ce modèle n'a pas de version en %(client_language)s : la version en %(language)s "
            "(langue par défaut du cabinet) est chargée, le message partira dans cette langue."
        ) % {
            "client_language": client.get_language_display(),
            "language": MailLanguage(version.language).label,
        }
    return render(
        request,
        "mailing/_compose_fields.html",
        {"form": form, "client": client, "notice": notice, "oob": True},
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
        "resent": selectors.message_exists_for_key(idempotency_key=f"resend-of:{message.pk}"),
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
    user = _user(request)
    status = request.GET.get("status") or ""
    if status not in selectors.OUTBOX_STATUSES:
        status = ""
    rows = list(selectors.outbox_messages(user=user, status=status or None)[:200])
    context = {
        "rows": [(m, _fix_url(m, user) if m.status == Status.HELD else "") for m in rows],
        "status": status,
        "statuses": [(s, Status(s).label) for s in selectors.OUTBOX_STATUSES],
        "everyone": is_firm_admin(user),
    }
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
    context = {"rows": rows, "default_language": Firm.load().default_language}
    return render(request, "mailing/templates.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = MailTemplateForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        template = form.save()
        messages.success(request, _("Le modèle « %(name)s » est enregistré.") % {"name": template})
        return redirect("mailing:templates")
    return render(
        request,
        "mailing/template_form.html",
        {"form": form, "template_obj": None, "merge_fields": _merge_fields("client")},
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
            "merge_fields": _merge_fields(template.context),
        },
    )
