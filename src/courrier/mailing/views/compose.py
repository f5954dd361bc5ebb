"""The compose window (`/ecrire/`): its page, and "Envoyer" — to one client, or to a selection
(then a batch). The window's state is built in `compose_window`."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.mailing import services
from courrier.mailing.contexts import CLIENT_CONTEXT, PURPOSE_CLIENT, MailContext
from courrier.mailing.exceptions import MailingError, ProfileMissing
from courrier.mailing.forms import ComposeForm
from courrier.mailing.models import Upload
from courrier.mailing.services import by_link, once, store
from courrier.mailing.views.common import BRUSSELS, SELECTION_PREFIX, _int_param, _user
from courrier.mailing.views.compose_window import (
    Window,
    _client_mails_url,
    _no_recipient,
    _render_window,
    _selection_clients,
    _window,
)


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
            draft=services.Draft(
                subject=data["subject"],
                body=data["body"],
                template=data.get("template") if window.is_batch else None,
                uploads=_uploads_of(form),
            ),
            options={
                **form.options(),
                "archive": bool(data.get("archive")),
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
        purpose = PURPOSE_CLIENT
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
            # The mail the check rendered is the one stored: one pass through the pipeline.
            [check] = checks
            message = services.message_store_checked(
                check, template=data["template"], purpose=purpose, idempotency_key=key
            )
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
    options = form.batch_options()
    if window.next_url:
        options["next"] = window.next_url
    try:
        batch, created = services.batch_create_once(
            key=key,
            sender=user,
            client_ids=[client.pk for client in clients],
            subject=data["subject"],
            body=data["body"],
            template=data.get("template"),
            options=options,
            uploads=_uploads_of(form),
            context=window.context_name or CLIENT_CONTEXT,
            object_ids=[item.object_id for item in window.objects if item.object_id],
        )
    except ValidationError as exc:
        form.add_error(None, exc.messages)
        return None
    except MailingError as exc:
        form.add_error(None, exc.user_message)
        return None
    if not created:
        messages.info(request, _("Cet envoi groupé est déjà lancé."))
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
