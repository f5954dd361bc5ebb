"""The batch engine: a stored batch composed by rounds, for every kind of batch.

One engine serves a selection of clients, the objects of a list (VAT returns, ISOC, IPP,
BNB, documents) and the invoices of a register. `batch_compose` (the task's body) takes its
share of the batch's clients or objects (`part` of `parts`: every parts-th, so that several
workers compose one batch side by side) and goes through them by rounds of ROUND:

1. the round's objects are loaded in one query (`contexts.resolve`, or the context's
   `BatchHooks.load`, which may make what the mails attach: an invoice's PDF);
2. each mail is judged and rendered as the pre-send check does (`checks.check_recipient`)
   and its row and bytes built (`store.message_prepare`), with no transaction open (on
   SQLite, outside the write lock);
3. the round is stored in one transaction: the context's own work recorded first
   (`BatchHooks.record`: the invoices' PDFs), then the messages, their bytes, their sizes and
   the batch's counter in a few statements whatever their number;
4. the round's delivery runs are enqueued once it has committed, once per profile.

A crash loses at most the round being stored, and nothing of it: a rerun makes what is
missing. A round that meets a key taken meanwhile (another part, another run, "@", the
compose window sending the same invoice) is redone one mail per transaction, where the mail
already stored is the answer: this batch's own is counted, another path's first mail blocks
the object ("already sent on ..."). Mails whose files go by secure link are stored that way
too, one by one (their links and their code's mail go with them).

Keys: a mail about an object sent once (an invoice) is stored under the object's own key
(`once.object_key`), whatever batch or path sends it; any other under `batch_key` (the batch
and the client or object). The run that finds every object settled (queued or blocked)
closes the batch.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext_noop

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany
from courrier.mailing import contexts
from courrier.mailing.contexts import CLIENT_CONTEXT, PURPOSE_CLIENT, BatchHooks, MailContext
from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage
from courrier.mailing.services import by_link, once
from courrier.mailing.services.checks import PresendCheck, check_recipient
from courrier.mailing.services.delivery import delivery_enqueue
from courrier.mailing.services.options import ComposeOptions, options_from
from courrier.mailing.services.setup import SendSetup, send_setup
from courrier.mailing.services.store import (
    PreparedMessage,
    message_for_key,
    message_prepare,
    messages_store,
)
from courrier.params import id_from
from courrier.texts import Lines, Sentence, Text, Verbatim, render_all, texts_json, texts_of

logger = logging.getLogger("courrier.mailing")

State = MailBatch.State

# Objects read, prepared and stored together, per round of a batch run.
ROUND = 100


def batch_key(batch: MailBatch, client_id: int) -> str:
    """The idempotency key of a batch's message to one client (or, for a batch about other
    objects, about one object: the id is then the object's). Objects mailed once (invoices)
    are stored under their own key instead (`once.object_key`), whatever batch sends them."""
    if batch.context and batch.context != CLIENT_CONTEXT:
        return f"batch:{batch.pk}:{batch.context}:{client_id}"
    return f"batch:{batch.pk}:client:{client_id}"


def ids_of(values: Iterable[Any]) -> list[int]:
    """The ids stored in a batch's list, as integers, once each, in order."""
    ids: list[int] = []
    for value in values:
        number = id_from(value if isinstance(value, int) else str(value))
        if number is not None and number not in ids:
            ids.append(number)
    return ids


@dataclass
class BatchProgress:
    """How far a run of `batch_compose` is through its share: `done` of `total` settled."""

    total: int
    done: int


@dataclass
class _Mail:
    """One mail of a round: for whom, about what, under which key, and once prepared, its
    row and bytes."""

    pk: int
    client: Client
    context: MailContext | None
    template: MailTemplate | None
    setup: SendSetup
    key: str
    purpose: str
    prepared: PreparedMessage | None = None
    # Its pre-send check, once judged (what a mail stored by link is made from).
    check: PresendCheck | None = None


class _Run:
    """One run of `batch_compose` over its share of a batch: what it reads once (the
    options, the files, one sending setup per billing company) and what it counts."""

    def __init__(self, batch: MailBatch, *, part: int, parts: int) -> None:
        self.batch = batch
        self.about_objects = bool(batch.context) and batch.context != CLIENT_CONTEXT
        self.hooks: BatchHooks = (
            contexts.batch_hooks(batch.context) if self.about_objects else BatchHooks()
        )
        self.sent_once = contexts.sent_once(batch.context) if self.about_objects else None
        options = batch.options or {}
        self.options: ComposeOptions = options_from(options, require_future=False)
        self.again = bool(options.get("resend"))
        self.send_by_link = bool(options.get("send_by_link"))
        self.uploads = list(batch.uploads.all())
        if batch.template is not None:
            prefetch_related_objects([batch.template], "versions")
        self.setups: dict[int | None, SendSetup] = {}
        every = ids_of(batch.object_ids if self.about_objects else batch.client_ids)
        self.share = every[part::parts]
        # The pre-send check of the app that made the batch is final (billing's invoices):
        # what it blocked is never composed. A batch of the compose window judges each mail
        # as it goes, and a rerun tries again what a fix may have let through.
        # (Invoice batches stored before this engine say so by the name of their composer.)
        final = bool(options.get("checked")) or options.get("composer") == "invoices"
        self.todo = [pk for pk in self.share if not (final and str(pk) in batch.blocked)]
        self.done = len(self.share) - len(self.todo)
        self.made = 0

    def setup_for(self, company: BillingCompany | None) -> SendSetup:
        """The sending setup of the batch's sender through `company`'s profile (or the
        sender's), read once per run: a profile to fix stops the batch (MailingError)."""
        key = company.pk if company is not None else None
        if key not in self.setups:
            setup = send_setup(
                sender=self.batch.sender,
                billing_company=company,
                options=self.options,
                uploads=self.uploads,
            )
            if setup.problem is not None:
                raise setup.problem
            for attachment in setup.attachments:
                attachment.content  # noqa: B018 (read once for the whole batch, and checked)
            self.setups[key] = setup
        return self.setups[key]

    def stored(self) -> set[int]:
        """The clients (or objects) this batch already has a message for."""
        column = "object_id" if self.about_objects else "client_id"
        rows = OutboundMessage.objects.filter(batch=self.batch).values_list(column, flat=True)
        return {int(pk) for pk in rows if pk is not None}

    def load(self, ids: Sequence[int]) -> dict[int, tuple[Client, MailContext | None]]:
        """The round's clients, or its objects with their clients, by id; those gone (or no
        longer the sender's to see) are left out."""
        if not self.about_objects:
            found = (
                Client.objects.filter(pk__in=list(ids))
                .select_related("responsible", "billing_company")
                .prefetch_related("emails")
            )
            return {client.pk: (client, None) for client in found}
        load = self.hooks.load or partial(_resolve, self.batch.context)
        try:
            objects = load(list(ids), self.batch.sender)
        except LookupError:
            objects = []
        return {
            item.object_id: (item.client, item) for item in objects if item.object_id is not None
        }


def _resolve(name: str, ids: Sequence[int], user: Any) -> list[MailContext]:
    return contexts.resolve(name, ids, user=user)


def _finish(batch: MailBatch, *, state: str, error: Text | None = None) -> None:
    """Close the batch (done or failed), its counter and its list of blocked as stored."""
    with transaction.atomic():
        row = MailBatch.objects.select_for_update().only("blocked").get(pk=batch.pk)
        batch.blocked = row.blocked
        batch.queued = OutboundMessage.objects.filter(batch=batch).count()
        batch.state = state
        batch.error = error or Verbatim("")
        batch.finished_at = timezone.now()
        batch.save(update_fields=["queued", "state", "error", "finished_at"])


def _blocked_update(batch: MailBatch, *, add: dict[int, list[Text]], remove: set[int]) -> None:
    """List objects as blocked with their reasons, and take off those now queued, under the
    batch's row lock (parts run side by side): once per round, not per mail."""
    if not add and not remove.intersection(int(pk) for pk in batch.blocked):
        return
    with transaction.atomic():
        row = MailBatch.objects.select_for_update().only("blocked").get(pk=batch.pk)
        blocked = dict(row.blocked or {})
        for pk in remove:
            blocked.pop(str(pk), None)
        for pk, reasons in add.items():
            blocked[str(pk)] = texts_json(reasons)
        row.blocked = blocked
        row.save(update_fields=["blocked"])
    batch.blocked = blocked


def batch_compose(
    *,
    batch_id: int,
    limit: int | None = None,
    part: int = 0,
    parts: int = 1,
    progress: Callable[[BatchProgress], None] | None = None,
) -> MailBatch:
    """The task's body: one message per client (or object) of this run's share of the batch
    that nothing blocks, by rounds (see the module's docstring). Run again (after a stop, a
    crash or a fix), it queues only what is missing. `limit` stops after that many new
    messages, leaving the batch "composing" (to be resumed). `progress` is told how far the
    run is after each mail made and each round stored.

    A profile that cannot send, or a file of the batch gone, stops the whole batch ("failed",
    saying why): resumed once fixed. Anything else that breaks is an internal error: the
    batch says so and the exception goes on to the worker's log."""
    batch = MailBatch.objects.select_related("sender", "template").get(pk=batch_id)
    if batch.state == State.DONE:
        return batch
    MailBatch.objects.filter(pk=batch.pk).update(state=State.COMPOSING)
    batch.state = State.COMPOSING
    try:
        run = _Run(batch, part=part, parts=parts)
        if not run.about_objects:
            run.setup_for(None)  # a profile to fix stops the batch before its first mail
        finished = _compose(run, limit=limit, progress=progress)
    except (MailingError, ValidationError) as exc:
        texts = [exc.text] if isinstance(exc, MailingError) else texts_of(exc)
        _finish(batch, state=State.FAILED, error=Lines(*texts))
        logger.warning("batch %s stopped: %s", batch.pk, batch.error)
        return batch
    except Exception as exc:
        if _disk_full(exc):
            _wait_for_space(batch, part=part, parts=parts)
            logger.exception("batch %s waits: the disk is full", batch.pk)
            return batch
        _finish(
            batch,
            state=State.FAILED,
            error=Sentence(
                gettext_noop("Erreur interne pendant la mise en file : %(error)s"),
                {"error": repr(exc)},
            ),
        )
        logger.exception("batch %s stopped by an internal error", batch.pk)
        raise
    batch.refresh_from_db(fields=["blocked", "queued"])
    settled = OutboundMessage.objects.filter(batch=batch).count() + len(batch.blocked)
    total = len(ids_of(batch.object_ids if run.about_objects else batch.client_ids))
    if finished and settled >= total:
        _finish(batch, state=State.DONE)
        logger.info(
            "batch %s done: %d queued, %d blocked", batch.pk, batch.queued, len(batch.blocked)
        )
    else:
        # Stopped by `limit`, or another part is still at work: that one closes the batch.
        batch.queued = OutboundMessage.objects.filter(batch=batch).count()
        MailBatch.objects.filter(pk=batch.pk).update(queued=batch.queued)
    return batch


# What a full disk (or a file grown past its limit) raises, from a file or from the database.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return True
    text = str(exc)
    return isinstance(exc, DatabaseError) and (
        "disk is full" in text or "No space left on device" in text
    )


def _wait_for_space(batch: MailBatch, *, part: int, parts: int) -> None:
    """The disk is full: the round being stored left nothing (its files removed, its
    transaction rolled back), the messages already queued leave normally. The batch stays
    "composing", says why, and this part is tried again after RETRY_BASE_SECONDS, until there
    is room (a person may free some meanwhile)."""
    # Imported here: the task module imports the services.
    from courrier.mailing.tasks import compose_batch

    delay = timedelta(seconds=float(settings.COURRIER["RETRY_BASE_SECONDS"]))
    MailBatch.objects.filter(pk=batch.pk).update(
        error=Sentence(
            gettext_noop(
                "Le disque du serveur est plein : la mise en file s'est arrêtée sans rien "
                "perdre, les messages déjà en file partent normalement. Elle reprend d'elle-même "
                "toutes les %(seconds)d secondes, dès qu'il y a de la place."
            ),
            {"seconds": int(delay.total_seconds())},
        )
    )
    compose_batch.using(run_after=timezone.now() + delay).enqueue(batch.pk, part, parts)


def _compose(
    run: _Run, *, limit: int | None, progress: Callable[[BatchProgress], None] | None
) -> bool:
    """Compose the run's share by rounds; False when `limit` stopped it."""
    stored = run.stored()
    pending = [pk for pk in run.todo if pk not in stored]
    run.done += len(run.todo) - len(pending)
    while pending:
        if limit is not None and run.made >= limit:
            return False
        size = ROUND if limit is None else min(ROUND, limit - run.made)
        chunk, pending = pending[:size], pending[size:]
        _round(run, chunk, progress=progress)
        if progress is not None:
            progress(BatchProgress(total=len(run.share), done=run.done))
    return True


def _round(
    run: _Run, chunk: list[int], *, progress: Callable[[BatchProgress], None] | None
) -> None:
    """One round: its mails prepared, stored together, redone alone when they must be."""
    batch = run.batch
    found = run.load(chunk)
    firsts = (
        once.first_mails([item for _client, item in found.values() if item is not None])
        if run.sent_once is not None
        else {}
    )
    blocked: dict[int, list[Text]] = {}
    ready: list[_Mail] = []
    alone: list[_Mail] = []
    for pk in chunk:
        client, context = found.get(pk, (None, None))
        if client is None:
            blocked[pk] = [
                Sentence(gettext_noop("Cet élément n'existe plus ou ne vous est plus accessible."))
                if run.about_objects
                else Sentence(gettext_noop("Ce client n'existe plus."))
            ]
            continue
        first = firsts.get(pk)
        if context is not None and first is not None and not run.again:
            blocked[pk] = [once.already_mailed(context, first)]
            continue
        setup = run.setup_for(context.billing_company if context is not None else None)
        target = once.object_key(context, first=first, again=run.again)
        mail = _Mail(
            pk=pk,
            client=client,
            context=context,
            template=batch.template,
            setup=setup,
            key=target.key if target is not None else batch_key(batch, pk),
            purpose=target.purpose if target is not None else PURPOSE_CLIENT,
        )
        try:
            reasons = _prepare(run, mail)
        except (ValidationError, MailingError) as exc:
            reasons = [exc.text] if isinstance(exc, MailingError) else list(texts_of(exc))
        if reasons:
            blocked[pk] = reasons
        elif mail.prepared is None:
            alone.append(mail)
        else:
            ready.append(mail)
            if progress is not None:
                progress(BatchProgress(total=len(run.share), done=run.done + len(ready)))
    messages, redo = _store_round(run, ready)
    for mail in [*redo, *alone]:
        reasons = _store_alone(run, mail)
        if reasons:
            blocked[mail.pk] = reasons
    run.made += len(messages)
    run.done += len(chunk)
    _blocked_update(batch, add=blocked, remove=set(chunk) - set(blocked))
    for pk, reasons in blocked.items():
        logger.info(
            "batch %s: %s %s not queued: %s",
            batch.pk,
            batch.context or CLIENT_CONTEXT,
            pk,
            "; ".join(render_all(reasons)),
        )
    _deliveries_enqueue(messages)


def _prepare(run: _Run, mail: _Mail) -> list[Text]:
    """Judge and build one mail of a round (no transaction open): the reasons it cannot go,
    or [] with `mail.prepared` set (left None for a mail whose files go by link: stored
    alone, with its links). An object its context routes another way (`BatchHooks.route`: an
    invoice to a client on Peppol) is prepared by that route, under the route's key."""
    if mail.context is not None and run.hooks.route is not None:
        document = run.hooks.route(mail.context, run.batch)
        if document is not None:
            mail.key = str(document.message.idempotency_key)
            mail.purpose = document.message.purpose
            mail.prepared = document
            return []
    if mail.context is not None and run.hooks.template is not None:
        mail.template = run.hooks.template(mail.context)
    check = check_recipient(
        mail.setup,
        client=mail.client,
        subject=run.batch.subject,
        body=run.batch.body,
        template=mail.template,
        batch=True,
        context=mail.context,
        send_by_link=run.send_by_link,
    )
    if check.blockers or check.preview is None:
        return list(check.blockers)
    mail.check = check
    if not run.send_by_link:
        mail.prepared = message_prepare(
            mail.setup,
            client=mail.client,
            preview=check.preview,
            template=mail.template,
            purpose=mail.purpose,
            idempotency_key=mail.key,
            batch=run.batch,
            context=mail.context,
        )
    return []


def _store_round(run: _Run, ready: list[_Mail]) -> tuple[list[OutboundMessage], list[_Mail]]:
    """Store a round's mails together: what their context made written first (outside the
    transaction), then, in one transaction, recorded on the objects' rows, and the messages
    inserted with the batch's counter. Returns the messages stored, and the mails to make
    again alone: every mail of the round when one of its keys was taken meanwhile, or those
    whose objects another run changed meanwhile (their files are dropped)."""
    if not ready:
        return [], []
    hooks = run.hooks
    objects = [mail.context for mail in ready if mail.context is not None]
    taken: set[int] = set()
    messages: list[OutboundMessage] = []
    try:
        hooks.write(objects)
        with transaction.atomic():
            taken = hooks.record(objects)
            messages = messages_store(
                [mail.prepared for mail in ready if mail.pk not in taken and mail.prepared],
                enqueue=False,
            )
            if messages:
                MailBatch.objects.filter(pk=run.batch.pk).update(queued=F("queued") + len(messages))
    except IntegrityError:
        redo = ready
        messages = []
    except BaseException:
        hooks.drop(objects)
        raise
    else:
        redo = [mail for mail in ready if mail.pk in taken]
    hooks.drop([mail.context for mail in redo if mail.context is not None])
    return messages, redo


def _store_alone(run: _Run, mail: _Mail) -> list[Text]:
    """Make and store one mail in its own transaction, from what is stored (a round redone,
    or a mail whose files go by link). A message already under its key is the answer: this
    batch's counts as queued; another path's first mail about the object blocks it."""
    batch = run.batch
    context = mail.context
    try:
        with transaction.atomic():
            context = mail.context = run.hooks.settle(context) if context is not None else None
            existing = message_for_key(mail.key)
            if existing is None:
                mail.prepared = None
                reasons = _prepare(run, mail)
                if reasons:
                    return reasons
                if mail.prepared is not None:
                    messages_store([mail.prepared])
                elif mail.check is not None:
                    stored, made = by_link.message_store_by_link(
                        mail.setup,
                        client=mail.client,
                        context=context,
                        subject=mail.check.subject,
                        body=mail.check.body,
                        language=mail.check.language,
                        template=mail.template,
                        purpose=mail.purpose,
                        idempotency_key=mail.key,
                        batch=batch,
                    )
                    # Nobody is there to read the code out: it follows in a second mail.
                    by_link.code_send(made=made, sender=mail.setup.sender, language=stored.language)
                MailBatch.objects.filter(pk=batch.pk).update(queued=F("queued") + 1)
                run.made += 1
                return []
    except IntegrityError:
        # Stored a moment ago by another run or path: found below.
        existing = message_for_key(mail.key)
        if existing is None:
            raise
    if context is not None and existing.batch_id != batch.pk:
        return [once.already_mailed(context, existing)]
    return []


def _deliveries_enqueue(messages: Sequence[OutboundMessage]) -> None:
    """Once the round has committed, one delivery run per profile and scheduled time of its
    messages (a run already waiting is enough: `delivery_enqueue` looks first). A failure to
    enqueue is logged: the messages wait for the next run or for `outbox_recover`."""
    now = timezone.now()
    runs: dict[tuple[int, datetime | None], None] = {}
    for message in messages:
        at = message.scheduled_at if message.scheduled_at and message.scheduled_at > now else None
        runs[(message.profile_id, at)] = None
    for profile_id, run_after in runs:
        transaction.on_commit(
            partial(delivery_enqueue, profile_id=profile_id, run_after=run_after), robust=True
        )
