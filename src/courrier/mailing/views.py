"""The mailing screens: Ma fiche, compose / preview / send, the archive, the outbox, templates.

Who sees what: a firm shares its client files, so every logged-in collaborator may open any
archived message. Only the message's sender or an administrator may cancel or retry it.
Templates: the firm's (no owner) are edited by administrators, personal ones by their owner.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
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
from courrier.firm.models import Collaborator, Firm
from courrier.firm.permissions import can_manage_profile, is_firm_admin
from courrier.languages import MailLanguage
from courrier.mailing import fields, selectors, services
from courrier.mailing.exceptions import MailingError, ProfileMissing
from courrier.mailing.forms import (
    CollaboratorDetailsForm,
    ComposeForm,
    MailTemplateForm,
    SendingProfileForm,
)
from courrier.mailing.models import MailTemplate, OutboundMessage, SendingProfile

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


# --- Ma fiche -------------------------------------------------------------------------------


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


@login_required
@require_http_methods(["GET", "POST"])
def my_profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    owner = _profile_owner(request)
    profile = selectors.profile_for_edit(collaborator=owner)
    has_password = bool(profile is not None and getattr(profile, "has_password", False))
    details_form = CollaboratorDetailsForm(instance=owner, prefix="me")
    profile_form = SendingProfileForm(
        instance=profile or _new_profile(owner), prefix="profile", has_password=has_password
    )
    if request.method == "POST" and "save_details" in request.POST:
        details_form = CollaboratorDetailsForm(request.POST, instance=owner, prefix="me")
        if details_form.is_valid():
            details_form.save()
            messages.success(request, _("Vos coordonnées sont enregistrées."))
            return redirect(_my_profile_url(owner, user))
    elif request.method == "POST" and "save_profile" in request.POST:
        profile_form = SendingProfileForm(
            request.POST,
            instance=profile or _new_profile(owner),
            prefix="profile",
            has_password=has_password,
        )
        if profile_form.is_valid():
            with transaction.atomic():
                saved = profile_form.save()
                resumed = services.profile_updated(profile=saved)
            text = _("Le paramétrage d'envoi est enregistré.")
            if resumed:
                text += " " + ngettext(
                    "%(count)d message en attente repart.",
                    "%(count)d messages en attente repartent.",
                    resumed,
                ) % {"count": resumed}
            messages.success(request, text)
            return redirect(_my_profile_url(owner, user))
    context = {
        "owner": owner,
        "is_own": owner.pk == user.pk,
        "profile": profile,
        "details_form": details_form,
        "profile_form": profile_form,
        "tests": selectors.profile_tests(profile=profile) if profile is not None else [],
        "collaborators": (
            Collaborator.objects.filter(is_active=True) if is_firm_admin(user) else None
        ),
    }
    return render(request, "mailing/my_profile.html", context)


@login_required
@require_POST
def profile_test(request: HtmxHttpRequest) -> HttpResponse:
    """Send a real test mail through the profile to the person who clicked, and say how it went."""
    user = _user(request)
    owner = _profile_owner(request)
    result = None
    error = ""
    profile: SendingProfile | None = None
    try:
        profile = SendingProfile.objects.filter(collaborator=owner).first()
    except SecretUnreadable:
        error = _(
            "Le mot de passe enregistré ne peut plus être lu (la clé de chiffrement a changé) : "
            "saisissez-le à nouveau et enregistrez."
        )
    if profile is None and not error:
        error = _("Enregistrez d'abord le paramétrage d'envoi, puis testez-le.")
    if profile is not None:
        if not can_manage_profile(user, profile):
            raise PermissionDenied(_("Vous ne pouvez pas tester ce paramétrage d'envoi."))
        try:
            result = services.profile_verify(
                profile=profile, requested_by=user, recipient=user.email
            )
        except MailingError as exc:
            error = exc.user_message
    if not request.htmx:
        if result is not None and result.success:
            messages.success(request, result.detail or _("Le message de test est parti."))
        else:
            messages.error(request, error or (result.detail if result else ""))
        return redirect(_my_profile_url(owner, user))
    context = {
        "owner": owner,
        "result": result,
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
    # The same choice as message_compose: the general addresses, else any the client has.
    addresses = client.mail_addresses()
    return {
        "client": client,
        "form": form,
        "addresses": addresses,
        "no_address": not addresses,
        "sender_profile": selectors.sender_has_profile(sender=user),
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
    context = {
        "mail": message,
        "meaning": _status_meanings().get(message.status, ""),
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
    """Where the profile that holds a message is corrected."""
    profile = message.profile
    if profile.collaborator_id is not None:
        url = reverse("mailing:my_profile")
        return (
            url
            if profile.collaborator_id == user.pk
            else f"{url}?collaborator={profile.collaborator_id}"
        )
    if profile.billing_company_id is not None and is_firm_admin(user):
        return reverse("firm:company_edit", args=[profile.billing_company_id])
    return ""


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
