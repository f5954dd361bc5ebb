"""Batches: a send to many, stored first, then composed by tasks (`rounds.batch_compose`).

A batch is stored with what was asked and for whom before any mail is made: by the compose
window (`batch_create`, `batch_create_once` for a form posted twice), or by an app that
judged its objects itself and lists what its check blocked (`batch_create_checked`: billing's
invoices). The tasks that compose it are enqueued when that transaction commits, as many as
`COURRIER["COMPOSE_TASKS"]` for a large batch, each taking its share; `batch_resume` and
`batches_resume_stalled` enqueue them again for a batch that did not finish.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NotRequired, TypedDict, Unpack

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.audit import audited
from courrier.firm.models import Collaborator
from courrier.mailing import contexts
from courrier.mailing.contexts import CLIENT_CONTEXT, MailContext
from courrier.mailing.models import MailBatch, MailTemplate, Upload
from courrier.mailing.rendering import body_html, check_fields
from courrier.mailing.services.options import options_from
from courrier.mailing.services.profiles import profile_error, profile_for
from courrier.mailing.services.rounds import ROUND, ids_of
from courrier.mailing.services.setup import attachments_of
from courrier.texts import Text, texts_json

logger = logging.getLogger("courrier.mailing")

State = MailBatch.State


def batch_contexts(*, batch: MailBatch) -> list[MailContext]:
    """The objects of a batch about invoices, VAT returns, ..., as its sender may see them
    today, in the batch's order ([] for a batch to clients, or a context gone)."""
    if not batch.context or batch.context == CLIENT_CONTEXT:
        return []
    try:
        return contexts.resolve(batch.context, ids_of(batch.object_ids), user=batch.sender)
    except LookupError:
        return []


def compose_parts(count: int) -> int:
    """How many tasks compose a batch of `count` mails side by side: one per worker
    (`COURRIER["COMPOSE_TASKS"]`), but no more than it has rounds."""
    wanted = int(settings.COURRIER.get("COMPOSE_TASKS", 2))
    return max(1, min(wanted, -(-count // ROUND)))


def _enqueue_compose(batch_id: int, parts: int = 1) -> None:
    """Enqueue the `parts` tasks that compose a batch side by side."""
    # Imported here: the task module imports the services.
    from courrier.mailing.tasks import compose_batch

    for part in range(parts):
        compose_batch.enqueue(batch_id, part, parts)


@audited("batch_sent")
def batch_create_checked(
    *,
    sender: Collaborator,
    context: str,
    object_ids: Sequence[int],
    client_ids: Sequence[int],
    blocked: Mapping[int, Sequence[Text]],
    template: MailTemplate | None,
    subject: str,
    enqueue: bool = True,
    parts: int | None = None,
    notes: Mapping[str, Any] | None = None,
) -> MailBatch:
    """Store a batch about objects of `context` that their app has just checked (billing's
    invoices, each with its own template): `blocked` lists, by object, what its check
    blocked, and is final (the batch never composes those). The composing tasks are enqueued
    when the transaction commits (`enqueue=False`: the caller composes; `parts`: how many,
    `compose_parts` by default). `notes`: what the app keeps with the batch for its summary
    (JSON; billing: the invoices to print), in `options`."""
    with transaction.atomic():
        batch = MailBatch.objects.create(
            sender=sender,
            template=template,
            subject=subject,
            body="",
            options={**(notes or {}), "checked": True},
            context=context,
            object_ids=list(object_ids),
            client_ids=list(client_ids),
            total=len(object_ids),
            blocked={str(pk): texts_json(reasons) for pk, reasons in blocked.items() if reasons},
        )
        if enqueue:
            count = parts if parts is not None else compose_parts(len(object_ids))
            count = max(1, min(count, len(object_ids) or 1))
            transaction.on_commit(partial(_enqueue_compose, batch.pk, count), robust=True)
    logger.info(
        "batch %s of %s: %d objects, %d blocked", batch.pk, context, batch.total, len(batch.blocked)
    )
    return batch


@audited("batch_sent")
def batch_create(
    *,
    sender: Collaborator,
    client_ids: Iterable[int] = (),
    subject: str,
    body: str,
    template: MailTemplate | None,
    options: Mapping[str, Any],
    uploads: Sequence[Upload] = (),
    context: str = CLIENT_CONTEXT,
    object_ids: Iterable[int] = (),
) -> MailBatch:
    """Store a send to a selection and enqueue the task that composes its messages (when the
    transaction commits). Refused before anything is stored: a bad option (address, past
    scheduled time), someone else's file, an unknown field, no client, and a sending profile
    that is missing or cannot send.

    With a `context` other than "client", one mail per object of `object_ids` (those the
    sender may see; `client_ids` is ignored and stored as each object's client, in order)."""
    objects: list[MailContext] = []
    if context != CLIENT_CONTEXT:
        try:
            objects = contexts.resolve(context, ids_of(object_ids), user=sender)
        except LookupError:
            raise ValidationError(
                _("Contexte d'envoi inconnu : « %(context)s »."),
                code="unknown_context",
                params={"context": context[:40]},
            ) from None
        if not objects:
            raise ValidationError(_("Aucun élément n'est choisi."), code="no_object")
        ids = [item.client.pk for item in objects]
    else:
        ids = ids_of(client_ids)
    if not ids:
        raise ValidationError(_("Aucun client n'est choisi."), code="no_client")
    checked = options_from(options)
    if template is None:
        check_fields(subject + "\n" + body, context=context)
    attachments_of(uploads, sender=sender)
    companies = {
        item.billing_company.pk if item.billing_company else None: item.billing_company
        for item in objects
    } or {None: None}
    for company in companies.values():
        profile = profile_for(sender=sender, billing_company=company)
        problem = profile_error(profile)
        if problem is not None:
            raise problem
    with transaction.atomic():
        batch = MailBatch.objects.create(
            sender=sender,
            template=template,
            subject=subject if template is None else (subject or template.name),
            body=body_html(body),
            # The window's own keys (its idempotency key, ...) are kept beside the checked ones.
            options={**dict(options), **checked.as_dict()},
            client_ids=ids,
            context=context,
            object_ids=[item.object_id for item in objects],
            total=len(objects) if objects else len(ids),
            state=State.PENDING,
        )
        batch.uploads.set(list(uploads))
        transaction.on_commit(
            partial(_enqueue_compose, batch.pk, compose_parts(batch.total)), robust=True
        )
    logger.info("batch %s created by %s for %d %s mails", batch.pk, sender.pk, batch.total, context)
    return batch


class BatchValues(TypedDict):
    """What `batch_create` takes besides its sender."""

    client_ids: NotRequired[Iterable[int]]
    subject: str
    body: str
    template: MailTemplate | None
    options: Mapping[str, Any]
    uploads: NotRequired[Sequence[Upload]]
    context: NotRequired[str]
    object_ids: NotRequired[Iterable[int]]


def batch_create_once(
    *, key: str, sender: Collaborator, **values: Unpack[BatchValues]
) -> tuple[MailBatch, bool]:
    """`batch_create` for a form that may be sent twice (two quick clicks on "Envoyer"): the
    batch this sender already created under `key` (the window's idempotency key), or a new one
    made with `values`; the flag says whether it is new. The sender's row is the lock the
    second click waits on, held until the first batch is stored, so one key makes one batch."""
    with transaction.atomic():
        Collaborator.objects.select_for_update().filter(pk=sender.pk).first()
        if key:
            existing = MailBatch.objects.filter(sender=sender, options__idempotency_key=key).first()
            if existing is not None:
                return existing, False
        return batch_create(sender=sender, **values), True


def batch_resume(*, batch: MailBatch) -> bool:
    """Enqueue the composing task again for a batch that did not finish (it stopped, or its
    profile had to be fixed). Only what is missing will be queued. False when it is done."""
    if batch.state == State.DONE:
        return False
    transaction.on_commit(partial(_enqueue_compose, batch.pk), robust=True)
    return True


def batches_resume_stalled(*, now: datetime | None = None) -> int:
    """Resume the batches left unfinished for longer than a delivery lease, and at least ten
    minutes (their worker stopped mid-way on a host this process cannot see into; one known
    dead is resumed at once, `recovery.outbox_recover`); a resumed batch queues only what is
    missing. Returns how many."""
    wait = max(float(settings.COURRIER["SENDING_LEASE_SECONDS"]), 600.0)
    limit = (now or timezone.now()) - timedelta(seconds=wait)
    stalled = MailBatch.objects.filter(
        state__in=[State.PENDING, State.COMPOSING], created_at__lt=limit
    )
    count = 0
    with transaction.atomic():
        for batch in stalled:
            count += batch_resume(batch=batch)
    return count
