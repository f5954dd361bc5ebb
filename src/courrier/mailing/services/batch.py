"""The pre-send check and the batch: one mail per client of a selection, in its language.

The check renders every recipient's mail through `compose.mail_draft`, the path compose
takes, and says per recipient what blocks and what only warns. A batch is stored first (what
was asked, for whom), then a task composes its messages one by one, each in its own
transaction under the idempotency key of the batch and the client: a task that stops midway
loses nothing, and running it again queues only what is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.languages import MailLanguage
from courrier.mailing.exceptions import ConfigurationError, MailingError
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage, SendingProfile, Upload
from courrier.mailing.rendering import check_fields
from courrier.mailing.services.compose import (
    CLIENT_CONTEXT,
    ComposeOptions,
    Preview,
    SendSetup,
    attachments_of,
    language_warning,
    mail_draft,
    message_size_limit,
    no_address,
    options_from,
    send_setup,
    store_message,
    too_large,
)
from courrier.mailing.services.delivery import enqueue_on_commit
from courrier.mailing.services.profiles import profile_for, profile_problem

logger = logging.getLogger("courrier.mailing")

State = MailBatch.State


# -- the pre-send check ----------------------------------------------------------------------


@dataclass
class RecipientCheck:
    client: Client
    language: str
    language_fallback: bool
    blockers: list[str]
    warnings: list[str]
    # The mail as it would leave (None when it cannot be rendered), for stepping through.
    preview: Preview | None = None


def _version_for(
    template: MailTemplate, language: str, *, default_language: str
) -> tuple[str, str, str] | None:
    """Subject, body and language of the template's version in `language`, else in the firm's
    default language; None when it has neither."""
    for wanted in (language, default_language):
        version = template.version(wanted)
        if version is not None:
            return version.subject, version.body, version.language
    return None


def _language_name(code: str) -> str:
    try:
        return str(MailLanguage(code).label)
    except ValueError:
        return code


def check_recipient(
    setup: SendSetup,
    *,
    client: Client,
    subject: str,
    body: str,
    template: MailTemplate | None,
    batch: bool,
    general: Sequence[str] = (),
) -> RecipientCheck:
    """One recipient judged by rendering its mail through `mail_draft`, as compose will."""
    options = setup.options
    language = client.language if batch else (options.language or client.language)
    blockers = list(general)
    warnings: list[str] = []
    if template is not None:
        found = template.version(language)
        if found is None and batch:
            # DESIGN: a batch never sends a client a mail in another language.
            blockers.append(
                _("Le modèle « %(template)s » n'a pas de version en %(language)s.")
                % {"template": template.name, "language": _language_name(language)}
            )
            return RecipientCheck(client, language, False, blockers, warnings)
        texts = _version_for(template, language, default_language=setup.firm.default_language)
        if texts is None:
            blockers.append(
                _(
                    "Le modèle « %(template)s » n'a ni version en %(language)s, ni version dans la "
                    "langue par défaut du cabinet."
                )
                % {"template": template.name, "language": _language_name(language)}
            )
            return RecipientCheck(client, language, False, blockers, warnings)
        subject, body, language = texts
    try:
        preview = mail_draft(setup, client=client, subject=subject, body=body, language=language)
    except ValidationError as exc:
        blockers.extend(exc.messages)
        return RecipientCheck(client, language, language != client.language, blockers, warnings)
    if not preview.to:
        blockers.append(no_address(client))
    if preview.size > preview.size_limit:
        blockers.append(too_large(preview.size, setup))
    warnings.extend(preview.warnings)
    if preview.language_fallback:
        if template is not None:
            warnings.append(
                _(
                    "Le modèle « %(template)s » n'a pas de version en %(client_language)s : ce "
                    "message part en %(language)s, la langue par défaut du cabinet."
                )
                % {
                    "template": template.name,
                    "client_language": _language_name(client.language),
                    "language": _language_name(preview.language),
                }
            )
        else:
            warnings.append(language_warning(client, preview.language))
    return RecipientCheck(
        client=client,
        language=preview.language,
        language_fallback=preview.language_fallback,
        blockers=blockers,
        warnings=warnings,
        preview=preview,
    )


def prefetch_clients(clients: Iterable[Client]) -> list[Client]:
    """The clients with what their fields read (addresses, responsible, billing company)
    loaded in a few queries for all of them."""
    rows = list(clients)
    prefetch_related_objects(rows, "emails", "responsible", "billing_company")
    return rows


def presend_check(
    *,
    sender: Collaborator,
    clients: Iterable[Client],
    subject: str,
    body: str,
    template: MailTemplate | None = None,
    uploads: Sequence[Upload] = (),
    options: ComposeOptions | Mapping[str, Any] | None = None,
    billing_company: BillingCompany | None = None,
    batch: bool,
) -> list[RecipientCheck]:
    """Per recipient, what blocks its mail and what only warns, found by rendering each mail
    exactly as compose will. Blocks: no address, an unknown field, a missing translation of
    the template (batch; a one-off mail falls back to the firm's default language with a
    warning), a message too large for the method, the profile not ready, an option that is
    wrong (bad address, scheduled time past) — the last two for every recipient. Warns: empty
    fields, another language than the client's."""
    general: list[str] = []
    try:
        checked = options_from(options)
    except ValidationError as exc:
        general.extend(exc.messages)
        checked = ComposeOptions()
    profile: SendingProfile | None = None
    problem: ConfigurationError | None = None
    try:
        profile = profile_for(sender=sender, billing_company=billing_company)
    except ConfigurationError as exc:
        problem = exc
    try:
        attachments = attachments_of(uploads, sender=sender)
    except ValidationError as exc:
        general.extend(exc.messages)
        attachments = []
    if profile is not None:
        problem = profile_problem(profile)
    if problem is not None:
        general.append(problem.user_message)
    setup = SendSetup(
        sender=sender,
        profile=profile,
        problem=problem,
        billing_company=billing_company,
        firm=Firm.load(),
        options=checked,
        attachments=attachments,
        size_limit=message_size_limit(profile),
        method=str(profile.get_method_display()) if profile is not None else "",
    )
    if template is not None:
        prefetch_related_objects([template], "versions")
    return [
        check_recipient(
            setup,
            client=client,
            subject=subject,
            body=body,
            template=template,
            batch=batch,
            general=general,
        )
        for client in prefetch_clients(clients)
    ]


# -- the batch -------------------------------------------------------------------------------


def batch_key(batch: MailBatch, client_id: int) -> str:
    """The idempotency key of a batch's message to one client."""
    return f"batch:{batch.pk}:client:{client_id}"


def _client_ids(values: Iterable[Any]) -> list[int]:
    ids: list[int] = []
    for value in values:
        text = str(value).strip()
        if text.isdigit() and int(text) not in ids:
            ids.append(int(text))
    return ids


def _enqueue_compose(batch_id: int) -> None:
    # Imported here: the task module imports the services.
    from courrier.mailing.tasks import compose_batch

    compose_batch.enqueue(batch_id)


def batch_create(
    *,
    sender: Collaborator,
    client_ids: Iterable[int],
    subject: str,
    body: str,
    template: MailTemplate | None,
    options: Mapping[str, Any],
    uploads: Sequence[Upload] = (),
) -> MailBatch:
    """Store a send to a selection and enqueue the task that composes its messages (when the
    transaction commits). Refused before anything is stored: a bad option (address, past
    scheduled time), someone else's file, an unknown field, no client, and a sending profile
    that is missing or cannot send."""
    ids = _client_ids(client_ids)
    if not ids:
        raise ValidationError(_("Aucun client n'est choisi."), code="no_client")
    checked = options_from(options)
    if template is None:
        check_fields(subject + "\n" + body, context=CLIENT_CONTEXT)
    attachments_of(uploads, sender=sender)
    profile = profile_for(sender=sender)
    problem = profile_problem(profile)
    if problem is not None:
        raise problem
    with transaction.atomic():
        batch = MailBatch.objects.create(
            sender=sender,
            template=template,
            subject=subject if template is None else (subject or template.name),
            body=body,
            # The window's own keys (its idempotency key, ...) are kept beside the checked ones.
            options={**dict(options), **checked.as_dict()},
            client_ids=ids,
            total=len(ids),
            state=State.PENDING,
        )
        batch.uploads.set(list(uploads))
        transaction.on_commit(partial(_enqueue_compose, batch.pk), robust=True)
    logger.info("batch %s created by %s for %d clients", batch.pk, sender.pk, len(ids))
    return batch


def batch_resume(*, batch: MailBatch) -> bool:
    """Enqueue the composing task again for a batch that did not finish (it stopped, or its
    profile had to be fixed). Only what is missing will be queued. False when it is done."""
    if batch.state == State.DONE:
        return False
    transaction.on_commit(partial(_enqueue_compose, batch.pk), robust=True)
    return True


def batches_resume_stalled(*, now: datetime | None = None) -> int:
    """Resume the batches left unfinished for longer than a delivery lease (their worker
    stopped mid-way); a resumed batch queues only what is missing. Returns how many."""
    limit = (now or timezone.now()) - timedelta(seconds=settings.COURRIER["SENDING_LEASE_SECONDS"])
    stalled = MailBatch.objects.filter(
        state__in=[State.PENDING, State.COMPOSING], created_at__lt=limit
    )
    count = 0
    with transaction.atomic():
        for batch in stalled:
            count += batch_resume(batch=batch)
    return count


def _finish(batch: MailBatch, *, state: str, error: str = "") -> None:
    batch.queued = OutboundMessage.objects.filter(batch=batch).count()
    batch.state = state
    batch.error = error
    batch.finished_at = timezone.now()
    batch.save(update_fields=["queued", "state", "error", "finished_at", "blocked"])


def batch_compose(*, batch_id: int, limit: int | None = None) -> MailBatch:
    """The task's body: one message per client of the batch that nothing blocks, in the
    client's language (the template's version in it, else the typed text rendered for it).

    Each message is stored in its own transaction under `batch_key`, with the `queued` counter;
    the clients that cannot receive it are listed in `blocked` with the reasons, as it goes.
    Run again (after a stop, a crash or a fix), it queues only what is missing. `limit` stops
    after that many new messages, leaving the batch "composing" (to be resumed)."""
    batch = MailBatch.objects.select_related("sender", "template").get(pk=batch_id)
    if batch.state == State.DONE:
        return batch
    MailBatch.objects.filter(pk=batch.pk).update(state=State.COMPOSING)
    batch.state = State.COMPOSING
    try:
        finished = _compose_all(batch, limit=limit)
    except (MailingError, ValidationError) as exc:
        # The whole batch cannot go on (profile missing or broken, a file gone): said, kept.
        messages = [exc.user_message] if isinstance(exc, MailingError) else exc.messages
        _finish(batch, state=State.FAILED, error="\n".join(messages))
        logger.warning("batch %s stopped: %s", batch.pk, batch.error)
        return batch
    except Exception as exc:
        _finish(
            batch,
            state=State.FAILED,
            error=_("Erreur interne pendant la mise en file : %(error)s") % {"error": repr(exc)},
        )
        logger.exception("batch %s stopped by an internal error", batch.pk)
        raise
    if finished:
        _finish(batch, state=State.DONE)
        logger.info(
            "batch %s done: %d queued, %d blocked", batch.pk, batch.queued, len(batch.blocked)
        )
    return batch


def _compose_all(batch: MailBatch, *, limit: int | None) -> bool:
    """Compose what is missing; True when every client was settled (queued or blocked)."""
    options = options_from(batch.options, require_future=False)
    setup = send_setup(
        sender=batch.sender,
        billing_company=None,
        options=options,
        uploads=list(batch.uploads.all()),
    )
    if setup.problem is not None:
        raise setup.problem
    for attachment in setup.attachments:
        attachment.content  # noqa: B018 (read once for the whole batch, and checked)
    template = batch.template
    if template is not None:
        prefetch_related_objects([template], "versions")
    ids = _client_ids(batch.client_ids)
    keys = {batch_key(batch, pk): pk for pk in ids}
    done = set(
        OutboundMessage.objects.filter(idempotency_key__in=list(keys)).values_list(
            "idempotency_key", flat=True
        )
    )
    clients = {
        client.pk: client
        for client in Client.objects.filter(pk__in=[keys[key] for key in keys if key not in done])
        .select_related("responsible", "billing_company")
        .prefetch_related("emails")
    }
    every = max(1, int(settings.COURRIER["DELIVERY_BATCH"]))
    # The same dict as the batch's: what a crash leaves in it is what _finish saves.
    blocked: dict[str, list[str]] = dict(batch.blocked or {})
    batch.blocked = blocked
    composed = 0
    stopped = False
    for key, client_id in keys.items():
        if key in done:
            blocked.pop(str(client_id), None)
            continue
        if limit is not None and composed >= limit:
            stopped = True
            break
        client = clients.get(client_id)
        if client is None:
            reasons = [_("Ce client n'existe plus.")]
        else:
            # Delivery chains its runs by itself: waking it now and then is enough.
            reasons = _compose_one(
                setup, batch, client=client, key=key, enqueue=composed % every == 0
            )
        if reasons:
            blocked[str(client_id)] = reasons
        else:
            composed += 1
            if blocked.pop(str(client_id), None) is None:
                continue  # nothing to correct in the list of blocked clients
        MailBatch.objects.filter(pk=batch.pk).update(blocked=blocked)
    if composed and setup.profile is not None:
        # Whatever the rhythm above, a run after the last one.
        enqueue_on_commit(setup.profile.pk, run_after=options.scheduled_at)
    return not stopped


def _compose_one(
    setup: SendSetup, batch: MailBatch, *, client: Client, key: str, enqueue: bool
) -> list[str]:
    """Queue the batch's message to `client`; the reasons it cannot be, or [] once queued."""
    check = check_recipient(
        setup,
        client=client,
        subject=batch.subject,
        body=batch.body,
        template=batch.template,
        batch=True,
    )
    if check.blockers or check.preview is None:
        return check.blockers
    try:
        with transaction.atomic():
            store_message(
                setup,
                client=client,
                preview=check.preview,
                template=batch.template,
                purpose="client",
                idempotency_key=key,
                batch=batch,
                enqueue=enqueue,
            )
            # The counter moves with the message, in the same transaction.
            MailBatch.objects.filter(pk=batch.pk).update(queued=F("queued") + 1)
    except IntegrityError:
        # Another run of this batch stored it a moment ago: queued all the same. Anything
        # else is not ours to hide: the batch stops and says so, a rerun goes on from there.
        if not OutboundMessage.objects.filter(idempotency_key=key).exists():
            raise
        return []
    except ValidationError as exc:
        return list(exc.messages)
    return []
