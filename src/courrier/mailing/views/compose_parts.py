"""The parts of the compose window refreshed on their own: the pre-send check ("Vérifier"), the
preview, the files joined, and a template loaded into the window or saved from it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap

from courrier.clients.models import Client
from courrier.firm.models import Collaborator, Firm
from courrier.languages import MailLanguage
from courrier.mailing import contexts, fields, selectors, services
from courrier.mailing.contexts import CLIENT_CONTEXT, MailContext
from courrier.mailing.exceptions import MailingError
from courrier.mailing.forms import ComposeForm, Recipients, TemplateSaveForm
from courrier.mailing.models import MailTemplate, MailTemplateVersion
from courrier.mailing.services import languages
from courrier.mailing.views.common import HtmxHttpRequest, _client_from, _int_param, _user
from courrier.mailing.views.compose import (
    _errors_of,
    _presend,
    _presend_view_context,
    _store_posted_files,
)
from courrier.mailing.views.compose_window import (
    Window,
    _attachments_context,
    _context_objects,
    _language_label,
    _no_recipient,
    _render_window,
    _selection_clients,
    _sender_profile,
    _split_by_address,
    _window,
)
from courrier.params import number_from
from courrier.texts import render_all


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
    index = number_from(raw) or 0
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
        context=contexts.templates_context(context_name, objects) if objects else CLIENT_CONTEXT,
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
    context_name = posted if posted in fields.CONTEXT_FIELDS else CLIENT_CONTEXT
    if context_name != CLIENT_CONTEXT and str(request.POST.get("objects") or "").strip():
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
    offered = contexts.templates_context(context_name, objects) if objects else CLIENT_CONTEXT
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
