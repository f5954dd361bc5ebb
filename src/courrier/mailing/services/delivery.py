"""Delivery: claim, send over one connection, settle each message; the sweeper; a person's
decisions (cancel, retry).

A delivery run claims messages with a conditional UPDATE and a token of its own; every later
write of the run is conditional on that token, so two runs never send the same message and a
run that lost its claim changes nothing. The batch's attempts are recorded before a byte
leaves, and each answer before the next message is handed over, so that after a crash the
sweeper can tell the one message that may have left ("uncertain", never resent automatically)
from those never handed over (queued again). The claim, the lease and the retry times are
`leases.py`'s, which the copy in the Sent folder shares.

Its size: the claim, the token-guarded writes, the lanes and the sweeper are one protocol; each
write depends on the claim's rules, and reading them side by side is how a change is checked
against "never sent twice" (see docs/architecture.md, "Every delivery run sets the next one").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django import db
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_tasks import TaskResultStatus
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max

from courrier.audit import audited
from courrier.crypto import SecretUnreadable
from courrier.firm.models import Collaborator
from courrier.mailing.exceptions import (
    ConfigurationError,
    DeliveryUncertain,
    MailingError,
    NeedsReconnect,
    PermanentError,
    TransientError,
)
from courrier.mailing.models import (
    DeliveryAttempt,
    OutboundMessage,
    SendingProfile,
)
from courrier.mailing.services import leases
from courrier.mailing.services.contents import contents_load
from courrier.mailing.services.leases import retry_delay
from courrier.mailing.services.sent_copy import sent_copy_enqueue
from courrier.mailing.services.workers import process_alive
from courrier.mailing.transports import transport_for
from courrier.mailing.transports.base import Transport
from courrier.sql import per_row
from courrier.texts import Lines, Sentence, Text, Verbatim

logger = logging.getLogger("courrier.mailing")

Status = OutboundMessage.Status
Outcome = DeliveryAttempt.Outcome

# Waiting messages: ready now, or to be retried at their time.
WAITING = (Status.QUEUED, Status.RETRY)


def delivery_enqueue(*, profile_id: int, run_after: datetime | None = None) -> None:
    """Enqueue a delivery run for the profile (now, or not before `run_after`), unless one
    that will serve the same messages already waits: a batch of 2,000 composes then makes one
    delivery task, not 2,000 that mostly find nothing to claim."""
    # Imported here: the task module imports the services.
    from courrier.mailing.tasks import deliver_profile

    if _delivery_waiting(deliver_profile, profile_id=profile_id, run_after=run_after):
        return
    task = deliver_profile.using(run_after=run_after) if run_after else deliver_profile
    task.enqueue(profile_id)


def _delivery_waiting(task: Any, *, profile_id: int, run_after: datetime | None) -> bool:
    """Whether a delivery task of the profile waits that will run in time for these messages.

    Only a task not yet started counts: a running one may have claimed before the new
    messages were committed. A duplicate is harmless (the claim guards every message); this
    only spares the queue. Known only for the database backend; others always enqueue."""
    if not isinstance(task.get_backend(), DatabaseBackend):
        return False
    waiting = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY,
        task_path=task.module_path,
        args_kwargs={"args": [profile_id], "kwargs": {}},
    )
    if run_after is None:
        # "As soon as possible" tasks carry the backend's maximum date.
        return waiting.filter(
            Q(run_after=get_date_max()) | Q(run_after__lte=timezone.now())
        ).exists()
    # A scheduled send needs a run at its time: an earlier run would find nothing ready yet.
    return waiting.filter(run_after=run_after).exists()


def delivery_ensure_next(*, profile_id: int, after_error: bool = False) -> datetime | None:
    """Make sure a delivery run of the profile waits for its next waiting message: one ready
    now, a retry at its `next_attempt_at`, a scheduled send at its time. Returns that time
    (None: nothing waits).

    Called at the end of every delivery run, so that the runs form a chain that only ends
    when nothing waits: a message in "retry" always has a run at its time, cron or no cron.
    As in `delivery_enqueue`, one waiting task serves the profile: a task that waits until
    then or earlier is enough, a later one is moved to that time, and only when there is
    none is a task enqueued. After a run that ended in error, the next one waits at least
    RETRY_BASE_SECONDS, so that a fault that repeats does not keep the worker spinning."""
    now = timezone.now()
    at = _next_due(profile_id, now)
    if at is None:
        return None
    if after_error:
        at = max(at, now + timedelta(seconds=float(settings.COURRIER["RETRY_BASE_SECONDS"])))
    _delivery_at(profile_id, at, now=now)
    return at


def _next_due(profile_id: int, now: datetime) -> datetime | None:
    """When the profile's next waiting message becomes ready (`now` when one already is)."""
    waiting = OutboundMessage.objects.filter(profile_id=profile_id, status__in=WAITING)
    if waiting.filter(_ready(now)).exists():
        return now
    times = waiting.aggregate(
        retry=Min("next_attempt_at", filter=Q(status=Status.RETRY)),
        scheduled=Min("scheduled_at", filter=Q(status=Status.QUEUED, scheduled_at__gt=now)),
    )
    found = [when for when in times.values() if when is not None]
    return min(found) if found else None


def _delivery_at(profile_id: int, at: datetime, *, now: datetime) -> None:
    """A delivery task of the profile that runs at `at` or earlier: the one waiting, a later
    one moved to `at`, or a new one."""
    from courrier.mailing.tasks import deliver_profile

    due_now = at <= now
    if not isinstance(deliver_profile.get_backend(), DatabaseBackend):
        # No way to see what waits: a duplicate run is harmless (the claim guards each message).
        (deliver_profile if due_now else deliver_profile.using(run_after=at)).enqueue(profile_id)
        return
    with transaction.atomic():
        # Two runs of the profile that end together must not both enqueue: the profile's row
        # puts them in turn (PostgreSQL; SQLite's IMMEDIATE transactions already do).
        list(SendingProfile.objects.select_for_update().filter(pk=profile_id).values("pk"))
        waiting = DBTaskResult.objects.filter(
            status=TaskResultStatus.READY,
            task_path=deliver_profile.module_path,
            args_kwargs={"args": [profile_id], "kwargs": {}},
        )
        in_time = Q(run_after=get_date_max()) | Q(run_after__lte=max(at, now))
        if waiting.filter(in_time).exists():
            return
        later = waiting.order_by("run_after").values_list("pk", flat=True).first()
        # Only a task still waiting is moved (a worker may have taken it meanwhile).
        if later is not None and waiting.filter(pk=later).update(run_after=max(at, now)):
            return
        (deliver_profile if due_now else deliver_profile.using(run_after=at)).enqueue(profile_id)


def enqueue_on_commit(profile_id: int, *, run_after: datetime | None = None) -> None:
    """Enqueue a delivery run once the current transaction commits (never for a rollback),
    not before `run_after` when given (a scheduled send). A batch storing a round of mails
    enqueues once per profile after the round instead (`rounds._deliveries_enqueue`).

    Robust: a failure to enqueue is logged and leaves the messages waiting for the next
    run or for `courrier outbox_recover`; it does not undo what was committed."""
    if run_after is not None and run_after <= timezone.now():
        run_after = None
    transaction.on_commit(
        partial(delivery_enqueue, profile_id=profile_id, run_after=run_after), robust=True
    )


# -- delivery ---------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    profile_id: int
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    held: int = 0
    uncertain: int = 0
    # The run took a full batch: more messages may be waiting.
    more: bool = False
    next_attempt_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["next_attempt_at"] = self.next_attempt_at.isoformat() if self.next_attempt_at else None
        return data


def _ready(now: datetime, *, retries_due_by: datetime | None = None) -> Q:
    """Messages ready to go at `now`; with `retries_due_by`, only the retries due by then."""
    # A scheduled message is not ready before its time, whatever run looks at it.
    due = Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now)
    retry_due = min(now, retries_due_by) if retries_due_by is not None else now
    return due & (Q(status=Status.QUEUED) | Q(status=Status.RETRY, next_attempt_at__lte=retry_due))


def _claim(
    *, profile_id: int, limit: int, token: str, started_at: datetime
) -> list[OutboundMessage]:
    """Claim up to `limit` ready messages for the run that began at `started_at`.

    A retry is only claimed if it was due when the run began: a run tries each message once at
    most, and leaves the retries it set to the next run (which it enqueues as it ends). With
    a server that fails fast and short retry delays, a run claiming its own retries again
    would keep trying the same oldest messages and never reach the others."""
    now = timezone.now()
    ready = _ready(now, retries_due_by=started_at)
    with transaction.atomic():
        candidates = (
            # The status list first lets the database use the outbox_ready index instead of
            # reading every message the profile ever sent (150 ms for 1,000 on SQLite).
            OutboundMessage.objects.filter(profile_id=profile_id, status__in=WAITING)
            .filter(ready)
            .order_by("created_at", "id")
        )
        if connection.features.has_select_for_update_skip_locked:
            # PostgreSQL: workers skip each other's rows instead of queueing behind them.
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        # The guard: only rows still waiting change, and the token says which run owns them.
        leases.claim(
            OutboundMessage.objects.filter(pk__in=ids).filter(ready),
            token=token,
            now=now,
            status=Status.SENDING,
            next_attempt_at=None,
            attempts=F("attempts") + 1,
        )
    claimed = list(
        OutboundMessage.objects.filter(claimed_by=token, status=Status.SENDING).order_by(
            "created_at", "id"
        )
    )
    contents_load(claimed)
    return claimed


class _Run:
    """One delivery run over one profile's claimed messages."""

    def __init__(self, profile: SendingProfile, token: str, report: DeliveryReport) -> None:
        self.profile = profile
        self.token = token
        self.report = report
        # When the batch being sent was claimed (its lease then began).
        self.claimed_at: datetime | None = None
        # (message pk, attempt pk, answer, when) of the messages sent and not yet recorded
        self._sent: list[tuple[int, int, str | Text, datetime]] = []
        # (pk, still ours) of the next message, checked as the previous answer was recorded.
        self._checked: tuple[int, bool] | None = None

    def owned(self, *pks: int, statuses: Iterable[str] = (Status.SENDING,)) -> QuerySet[Any]:
        return leases.owned(self.token, *pks).filter(status__in=list(statuses))

    def renew(self, pks: list[int]) -> set[int]:
        """Extend the lease of the messages `pks` (the run's heartbeat); the pks it still
        holds. One it no longer holds was settled by the sweeper while a send stalled past
        the lease: it is not this run's to hand over any more."""
        leases.lease_renew(self.owned(*pks))
        return set(self.owned(*pks).values_list("pk", flat=True))

    def hand_over(self, message: OutboundMessage) -> bool:
        """Whether the message is still this run's, its lease renewed, as it is handed over.

        One conditional UPDATE, just before the send: with the answers recorded one by one,
        the sweeper may give back to the queue only the messages after the first one still
        open, so a message this run holds at this moment is, until its answer is recorded,
        the one the sweeper would make "uncertain", never one it requeues."""
        checked, self._checked = self._checked, None
        if checked is not None and checked[0] == message.pk:
            # Checked in the transaction that recorded the previous message's answer.
            return checked[1]
        return bool(leases.lease_renew(self.owned(message.pk)))

    def begin(self, messages: list[OutboundMessage]) -> dict[int, DeliveryAttempt]:
        """Record the attempts of a claimed batch before a byte of it leaves, in one
        transaction; the messages whose claim was lost are left out.

        Until its answer is known an attempt's outcome is, truthfully, uncertain: after a
        crash the sweeper makes the first one still open "uncertain" (the message in flight),
        never resent by itself, and gives the later ones back to the queue."""
        now = timezone.now()
        pks = [m.pk for m in messages]
        with transaction.atomic():
            if self.claimed_at is not None and now - self.claimed_at < leases.lease() / 2:
                # Claimed moments ago by this run: only the sweeper takes a claim, and only
                # once its lease is over, so the claim still holds without a query to say so.
                still_mine = set(pks)
            else:
                still_mine = set(self.owned(*pks).values_list("pk", flat=True))
            rows = DeliveryAttempt.objects.bulk_create(
                DeliveryAttempt(message_id=m.pk, started_at=now, outcome=Outcome.UNCERTAIN)
                for m in messages
                if m.pk in still_mine
            )
        return {row.message_id: row for row in rows}

    def forget(self, attempts: Iterable[DeliveryAttempt]) -> None:
        """Drop the attempts of messages this run began but never handed over (it is still
        running, so it knows): they go back to the queue without a trace of a try."""
        pks = [attempt.pk for attempt in attempts]
        if pks:
            DeliveryAttempt.objects.filter(pk__in=pks, finished_at__isnull=True).delete()

    def settle(
        self,
        message: OutboundMessage,
        attempt: DeliveryAttempt | None,
        *,
        outcome: str,
        detail: Text,
        statuses: Iterable[str] = (Status.SENDING,),
        **fields: Any,
    ) -> bool:
        now = timezone.now()
        with transaction.atomic():
            changed = leases.lease_end(self.owned(message.pk, statuses=statuses), now=now, **fields)
            if attempt is not None:
                attempt.outcome = outcome
                attempt.detail = detail
                attempt.finished_at = now
                attempt.save(update_fields=["outcome", "detail", "finished_at"])
        return bool(changed)

    def sent(
        self,
        message: OutboundMessage,
        attempt: DeliveryAttempt,
        answer: str | Text,
        *,
        next_pk: int | None = None,
    ) -> None:
        """The server took the message: recorded at once, before the next message is handed
        over. So after a crash, the run's first attempt still open is the one message that
        may have left without its answer recorded, and the later ones were never handed over
        (the sweeper's rule, `messages_recover`). The claim of the message to go next,
        `next_pk`, is checked in the same transaction (`hand_over`)."""
        self._sent.append((message.pk, attempt.pk, answer, timezone.now()))
        self.report.sent += 1
        logger.info("message %s sent: %s", message.pk, _reply(answer))
        self.flush(next_pk=next_pk)

    def flush(self, *, next_pk: int | None = None) -> None:
        """Settle the messages the server took since the last flush: two UPDATEs in one
        transaction, whatever their number (and with `next_pk`, the next message's claim
        checked and renewed in it)."""
        done, self._sent = self._sent, []
        if not done:
            return
        now = timezone.now()
        pks = [pk for pk, _attempt, _answer, _at in done]
        # The server's answer is the truth even if the sweeper gave up on the message meanwhile.
        mine = self.owned(*pks, statuses=(Status.SENDING, Status.UNCERTAIN))
        with transaction.atomic():
            copy = self.profile.imap_enabled and self.profile.method == SendingProfile.Method.SMTP
            recorded = list(mine.values_list("pk", flat=True)) if copy else []
            leases.lease_end(
                mine,
                now=now,
                status=Status.SENT,
                sent_at=per_row(
                    {pk: at for pk, _attempt, _answer, at in done}, "sent_at", model=OutboundMessage
                ),
                provider_message_id=per_row(
                    {pk: _reply(answer)[:255] for pk, _a, answer, _at in done},
                    "provider_message_id",
                    model=OutboundMessage,
                ),
                last_error=per_row(
                    {pk: _remark(answer) for pk, _a, answer, _at in done},
                    "last_error",
                    model=OutboundMessage,
                ),
            )
            DeliveryAttempt.objects.filter(pk__in=[row[1] for row in done]).update(
                outcome=Outcome.SENT,
                finished_at=now,
                detail=per_row(
                    {attempt: answer for _pk, attempt, answer, _at in done},
                    "detail",
                    model=DeliveryAttempt,
                ),
            )
            if next_pk is not None:
                self._checked = (next_pk, bool(leases.lease_renew(self.owned(next_pk))))
        for pk in recorded:
            # An SMTP server keeps no copy: a separate task files one in the Sent folder.
            sent_copy_enqueue(message_pk=pk)

    def failed(
        self, message: OutboundMessage, attempt: DeliveryAttempt | None, error: MailingError
    ) -> None:
        outcome = Outcome.PERMANENT if isinstance(error, PermanentError) else Outcome.TRANSIENT
        self.settle(
            message,
            attempt,
            outcome=outcome,
            detail=error.explanation,
            status=Status.FAILED,
            last_error=error.explanation,
        )
        self.report.failed += 1
        logger.warning("message %s failed: %s", message.pk, error.explanation)

    def transient(
        self, message: OutboundMessage, attempt: DeliveryAttempt | None, error: MailingError
    ) -> None:
        limit = settings.COURRIER["MAX_ATTEMPTS"]
        if message.attempts >= limit:
            given_up = PermanentError(
                gettext_noop("Abandonné après %(count)d essais. Dernière erreur : %(error)s"),
                {"count": message.attempts, "error": error.text},
                detail=error.detail,
                code=error.code,
            )
            self.failed(message, attempt, given_up)
            return
        delay = retry_delay(message.attempts)
        wish = getattr(error, "retry_after", None)
        if wish is not None:
            # The provider said when: never earlier, and not much later either.
            delay = max(float(wish), 1.0)
        when = timezone.now() + timedelta(seconds=delay)
        self.settle(
            message,
            attempt,
            outcome=Outcome.TRANSIENT,
            detail=error.explanation,
            status=Status.RETRY,
            next_attempt_at=when,
            last_error=error.explanation,
        )
        self.report.retry += 1
        if self.report.next_attempt_at is None or when < self.report.next_attempt_at:
            self.report.next_attempt_at = when
        logger.info("message %s will be tried again at %s: %s", message.pk, when, error)

    def uncertain(
        self, message: OutboundMessage, attempt: DeliveryAttempt | None, explanation: Text
    ) -> None:
        self.settle(
            message,
            attempt,
            outcome=Outcome.UNCERTAIN,
            detail=explanation,
            status=Status.UNCERTAIN,
            last_error=explanation,
        )
        self.report.uncertain += 1
        logger.warning("message %s uncertain: %s", message.pk, explanation)

    def hold(
        self,
        message: OutboundMessage | None,
        attempt: DeliveryAttempt | None,
        error: MailingError,
        *,
        untried: list[OutboundMessage],
    ) -> None:
        """The profile is refused: it is marked broken and every waiting message is held."""
        reason = error.explanation
        now = timezone.now()
        with transaction.atomic():
            state = (
                SendingProfile.State.RECONNECT
                if isinstance(error, NeedsReconnect)
                else SendingProfile.State.BROKEN
            )
            SendingProfile.objects.filter(pk=self.profile.pk).update(
                state=state, state_reason=reason
            )
            if message is not None and self.settle(
                message,
                attempt,
                outcome=Outcome.PROFILE,
                detail=reason,
                status=Status.HELD,
                last_error=reason,
            ):
                self.report.held += 1
            if untried:
                # Never tried in this run: the claim does not count as an attempt.
                self.report.held += leases.lease_end(
                    self.owned(*[m.pk for m in untried]),
                    now=now,
                    status=Status.HELD,
                    attempts=F("attempts") - 1,
                    last_error=reason,
                )
            self.report.held += _hold_waiting(self.profile.pk, reason)
        logger.warning(
            "profile %s refused by its server, messages held: %s", self.profile.pk, reason
        )

    def release(self, untried: list[OutboundMessage]) -> None:
        """Give back messages this run claimed but never tried."""
        if untried:
            leases.lease_end(
                self.owned(*[m.pk for m in untried]),
                status=Status.QUEUED,
                attempts=F("attempts") - 1,
            )


def _hold_waiting(profile_id: int, reason: Text) -> int:
    return OutboundMessage.objects.filter(profile_id=profile_id, status__in=WAITING).update(
        status=Status.HELD, next_attempt_at=None, last_error=reason, updated_at=timezone.now()
    )


KEY_UNREADABLE = Sentence(
    gettext_noop(
        "La clé de chiffrement de l'installation ne peut pas lire le secret de ce paramétrage "
        "d'envoi : les messages attendent que la clé soit remise ou le secret saisi à nouveau."
    )
)


def _hold_for_key(profile_id: int) -> int:
    """The profile's secret cannot be read: its waiting messages are held with the reason, and
    a run is set a little later to take them up again once the key is back."""
    now = timezone.now()
    with transaction.atomic():
        SendingProfile.objects.filter(pk=profile_id).update(
            state=SendingProfile.State.BROKEN, state_reason=KEY_UNREADABLE
        )
        held = _hold_waiting(profile_id, KEY_UNREADABLE)
        _delivery_at(
            profile_id,
            now + timedelta(seconds=float(settings.COURRIER["RETRY_BASE_SECONDS"])),
            now=now,
        )
    logger.warning("profile %s: the encryption key cannot read its secret", profile_id)
    return held


def _resume_after_key(profile: SendingProfile) -> None:
    """The key reads the profile again: it is back in service with the messages it held."""
    with transaction.atomic():
        SendingProfile.objects.filter(pk=profile.pk).update(
            state=SendingProfile.State.OK, state_reason=""
        )
        OutboundMessage.objects.filter(
            profile_id=profile.pk, status=Status.HELD, last_error=KEY_UNREADABLE
        ).update(status=Status.QUEUED, next_attempt_at=None, updated_at=timezone.now())
    profile.state, profile.state_reason = SendingProfile.State.OK, ""
    logger.info("profile %s: the encryption key reads it again", profile.pk)


def _reply(answer: str | Text) -> str:
    """The server's own answer (its first line: a reply or the provider's id)."""
    if isinstance(answer, Lines):
        answer = answer.parts[0] if answer.parts else ""
    return str(answer).partition("\n")[0]


def _remark(answer: str | Text) -> Text:
    """What Courrier adds to an accepted message's answer (recipients refused), or nothing."""
    if isinstance(answer, Lines) and len(answer.parts) > 1:
        return Lines(*answer.parts[1:], sep=answer.sep)
    if isinstance(answer, Lines):
        return Verbatim("")
    return Verbatim(str(answer).partition("\n")[2])


class _Budget:
    """What the lanes of one run may still claim, shared between them under a lock."""

    def __init__(self, *, limit: int | None, batch: int, seconds: float) -> None:
        self._lock = threading.Lock()
        self._left = limit
        self._batch = batch
        self._deadline = time.monotonic() + seconds
        self._stopped = False
        # When the run began (which retries it may claim, see _claim).
        self.started_at = timezone.now()

    def take(self) -> int:
        """How many messages the next claim may take; 0: the run is over."""
        with self._lock:
            if self._stopped or time.monotonic() > self._deadline:
                return 0
            size = self._batch if self._left is None else min(self._batch, self._left)
            if self._left is not None:
                self._left -= size
            return size

    def stop(self) -> None:
        with self._lock:
            self._stopped = True


def messages_deliver(*, profile_id: int, limit: int | None = None) -> DeliveryReport:
    """Deliver the profile's ready messages: claimed DELIVERY_BATCH at a time, each batch sent
    over the lane's one connection and settled in bulk.

    A profile with `max_connections` above 1 gets that many lanes, threads side by side, each
    with its own connection, its own claims and its own database connection.

    With `limit`, the run takes at most that many messages (`more` then says whether the last
    claim was full). Without it, the run drains the queue for at most
    COURRIER["DELIVERY_RUN_SECONDS"]. Each outcome is recorded on the message and in its
    attempt log.

    However the run ends (all sent, retries set, the profile held, an exception), it makes
    sure a run of the profile waits for its next waiting message (`delivery_ensure_next`):
    a message in "retry" leaves at its time without the cron's help.
    """
    failed = True
    try:
        report = _deliver(profile_id=profile_id, limit=limit)
        failed = False
        return report
    finally:
        try:
            delivery_ensure_next(profile_id=profile_id, after_error=failed)
        except Exception:
            # Never hides the run's own outcome; the cron's outbox_recover is the last resort.
            logger.exception("the next delivery run of profile %s could not be set", profile_id)


def _deliver(*, profile_id: int, limit: int | None) -> DeliveryReport:
    report = DeliveryReport(profile_id=profile_id)
    batch = int(settings.COURRIER["DELIVERY_BATCH"])
    try:
        profile = SendingProfile.objects.filter(pk=profile_id).first()
    except SecretUnreadable:
        # A wrong encryption key: nothing is claimed, the messages are held saying why, and
        # the run fails loudly; a run a little later resumes them once the key reads again.
        report.held = _hold_for_key(profile_id)
        raise
    if profile is None:
        return report
    if profile.state == SendingProfile.State.BROKEN and profile.state_reason == KEY_UNREADABLE:
        _resume_after_key(profile)
    if profile.state != SendingProfile.State.OK:
        report.held = _hold_waiting(profile.pk, profile.state_reason)
        return report

    seconds = float(settings.COURRIER.get("DELIVERY_RUN_SECONDS", 120))
    budget = _Budget(limit=limit, batch=batch, seconds=seconds)
    lanes = max(1, min(int(profile.max_connections or 1), 16))
    if connection.vendor == "sqlite" and connection.is_in_memory_db():  # type: ignore[attr-defined]
        # An in-memory database is one connection's: threads would find its tables locked.
        lanes = 1
    if lanes == 1:
        _lane(profile, report, budget)
    else:
        reports = [DeliveryReport(profile_id=profile.pk) for _lane_number in range(lanes)]
        errors: list[BaseException] = []
        threads = [
            threading.Thread(
                target=_lane_thread,
                args=(profile, lane_report, budget, errors),
                name=f"courrier-delivery-{profile.pk}-{number}",
            )
            for number, lane_report in enumerate(reports)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for lane_report in reports:
            _merge(report, lane_report)
        if errors:
            raise errors[0]
    return report


def _merge(total: DeliveryReport, lane: DeliveryReport) -> None:
    for name in ("claimed", "sent", "retry", "failed", "held", "uncertain"):
        setattr(total, name, getattr(total, name) + getattr(lane, name))
    total.more = total.more or lane.more
    if lane.next_attempt_at is not None and (
        total.next_attempt_at is None or lane.next_attempt_at < total.next_attempt_at
    ):
        total.next_attempt_at = lane.next_attempt_at


def _lane_thread(
    profile: SendingProfile,
    report: DeliveryReport,
    budget: _Budget,
    errors: list[BaseException],
) -> None:
    try:
        _lane(profile, report, budget)
    except BaseException as exc:  # handed to the caller's thread, raised there
        budget.stop()
        errors.append(exc)
    finally:
        # Each thread has its own database connection: close it, or it stays open.
        db.connection.close()


def _lane(profile: SendingProfile, report: DeliveryReport, budget: _Budget) -> None:
    """One connection's share of a run: claim, send, settle, again, until the budget or the
    queue is spent."""
    run = _Run(profile, leases.run_token(), report)
    transport: Transport | None = None
    last_full = False
    try:
        while True:
            size = budget.take()
            if not size:
                report.more = report.more or last_full
                return
            run.claimed_at = timezone.now()
            claimed = _claim(
                profile_id=profile.pk, limit=size, token=run.token, started_at=budget.started_at
            )
            report.claimed += len(claimed)
            if not claimed:
                return
            last_full = len(claimed) >= size
            if transport is None:
                try:
                    transport = transport_for(profile)
                except ConfigurationError as exc:
                    run.hold(None, None, exc, untried=claimed)
                    budget.stop()
                    return
            if not _send(run, claimed, transport):
                # The profile was refused: every lane stops.
                budget.stop()
                return
    finally:
        if transport is not None:
            transport.close()


# C901: one branch per outcome of a send (sent, transient, permanent, uncertain, held).
def _send(run: _Run, claimed: list[OutboundMessage], transport: Transport) -> bool:  # noqa: C901
    """Send one claimed batch over the lane's connection; False when the profile was refused
    (its messages are then held)."""
    pending = list(claimed)
    attempts: dict[int, DeliveryAttempt] = {}
    begun = False
    lease_seconds = leases.lease().total_seconds()
    renewed_at = timezone.now()
    try:
        while pending:
            message = pending[0]
            if (timezone.now() - renewed_at).total_seconds() > lease_seconds / 4:
                # The heartbeat: a slow server must not let the lease of the messages still
                # waiting expire. A send that stalled past the lease may have let the sweeper
                # give the rest back to the queue: those are another run's now, never sent here.
                held = run.renew([m.pk for m in pending])
                renewed_at = timezone.now()
                lost = [m for m in pending if m.pk not in held]
                if lost:
                    logger.warning(
                        "run %s lost %d claimed messages to the sweeper", run.token, len(lost)
                    )
                    pending = [m for m in pending if m.pk in held]
                    for gone in lost:
                        attempts.pop(gone.pk, None)
                    if not pending:
                        break
                    message = pending[0]
            if not transport.is_open:
                try:
                    transport.open()
                except ConfigurationError as exc:
                    # Logged on the message that was about to go; the others were not tried.
                    first = pending.pop(0)
                    attempt = _begun_or_now(attempts, first, exc)
                    run.flush()
                    run.forget(attempts.pop(m.pk) for m in pending if m.pk in attempts)
                    run.hold(first, attempt, exc, untried=pending)
                    pending.clear()
                    return False
                except MailingError as exc:
                    # Nothing goes through now: every claimed message gets the same answer
                    # instead of waiting for its own timeout.
                    for waiting in pending:
                        attempt = _begun_or_now(attempts, waiting, exc)
                        run.transient(waiting, attempt, exc)
                    pending.clear()
                    break
            if not begun:
                begun = True
                # The connection is up: the whole batch's attempts, before a byte leaves.
                attempts = run.begin(pending)
                pending = [m for m in pending if m.pk in attempts]
                if not pending:
                    break
                message = pending[0]
            if not run.hand_over(message):
                # The sweeper gave it back to the queue (its clock ahead of ours by more than
                # the lease): another run's now, never sent by this one.
                pending.pop(0)
                attempts.pop(message.pk, None)
                continue
            attempt = attempts.pop(message.pk)
            # Handed over from here: whatever happens next (the outcome's write may fail, the
            # database gone), it is never given back to the queue as untried.
            pending.pop(0)
            try:
                answer = transport.send(message)
            except ConfigurationError as exc:
                run.flush()
                run.forget(attempts.pop(m.pk) for m in pending if m.pk in attempts)
                run.hold(message, attempt, exc, untried=pending)
                pending.clear()
                return False
            except TransientError as exc:
                run.transient(message, attempt, exc)
            except PermanentError as exc:
                run.failed(message, attempt, exc)
            except DeliveryUncertain as exc:
                run.uncertain(message, attempt, exc.explanation)
            except MailingError as exc:
                run.failed(message, attempt, exc)
            except Exception as exc:
                # A fault of ours, not an answer from the server: it may or may not have left.
                run.uncertain(
                    message,
                    attempt,
                    Sentence(
                        gettext_noop("Erreur interne pendant l'envoi : %(error)s"),
                        {"error": repr(exc)},
                    ),
                )
                raise
            else:
                run.sent(message, attempt, answer, next_pk=pending[0].pk if pending else None)
    finally:
        run.flush()
        run.forget(attempts.pop(m.pk) for m in pending if m.pk in attempts)
        run.release(pending)
        if pending:
            delivery_enqueue(profile_id=run.profile.pk)
    return True


def _begun_or_now(
    attempts: dict[int, DeliveryAttempt], message: OutboundMessage, error: MailingError
) -> DeliveryAttempt:
    """The message's attempt begun with its batch, else one that ends now."""
    begun = attempts.pop(message.pk, None)
    return begun if begun is not None else _attempt_now(message, error)


def _attempt_now(message: OutboundMessage, error: MailingError) -> DeliveryAttempt:
    """An attempt that ended before the message was handed over (the connection failed)."""
    now = timezone.now()
    return DeliveryAttempt.objects.create(
        message=message, started_at=now, outcome=Outcome.TRANSIENT, detail=error.explanation
    )


# -- the sweeper ------------------------------------------------------------------------------


def messages_recover(*, now: datetime | None = None) -> int:
    """Settle messages left in "sending" by a run that stopped: past their lease, or at once
    when their run's process is known to be dead (same host, `workers.process_alive`).

    A run records each answer before it hands over the next message, so of a run's messages
    still open only the first it began may have left: that one becomes "uncertain", with
    what is known (when the server had accepted the run's previous message); it is never
    resent automatically. The others of its batch were never handed over and go back to the
    queue, as does a message claimed and not yet begun. Returns the number of messages
    settled."""
    now = now or timezone.now()
    stopped = Q(status=Status.SENDING) & leases.lease_expired(now)
    rows = list(
        OutboundMessage.objects.filter(status=Status.SENDING).values_list(
            "pk", "claimed_by", "profile_id", "lease_expires_at"
        )
    )
    runs: dict[str, list[tuple[int, int]]] = {}
    for pk, token, profile_id, expires in rows:
        if expires is None or expires < now or process_alive(token) is False:
            runs.setdefault(token, []).append((pk, profile_id))
    settled = 0
    requeued: set[int] = set()
    for token, messages in runs.items():
        dead = process_alive(token) is False
        guard = Q(status=Status.SENDING) if dead else stopped
        pks = [pk for pk, _profile in messages]
        profiles = dict(messages)
        with transaction.atomic():
            # The run's rows locked first (PostgreSQL; SQLite's IMMEDIATE transaction already
            # holds the write lock): a live run's hand-over or answer waits, and what is read
            # below is what the run last committed.
            list(OutboundMessage.objects.select_for_update().filter(pk__in=pks).values("pk"))
            open_attempts = DeliveryAttempt.objects.filter(
                message_id__in=pks, finished_at__isnull=True
            ).order_by("pk")
            begun_at = dict(open_attempts.values_list("message_id", "started_at"))
            in_flight = next(iter(begun_at), None)
            # A token without a process name is from a run that recorded its answers at the end
            # of its batch: any message it began may have left.
            one_by_one = ":" in token
            for pk in pks:
                mine = OutboundMessage.objects.filter(guard, pk=pk, claimed_by=token)
                if pk == in_flight or (pk in begun_at and not one_by_one):
                    explanation = (
                        _interrupted(pk, begun_at[pk], token) if one_by_one else _INTERRUPTED_BATCH
                    )
                    changed = leases.lease_end(
                        mine, now=now, status=Status.UNCERTAIN, last_error=explanation
                    )
                    if changed:
                        open_attempts.filter(message_id=pk).update(
                            finished_at=now, detail=explanation
                        )
                        logger.warning("message %s uncertain: its delivery run stopped", pk)
                else:
                    changed = leases.lease_end(
                        mine, now=now, status=Status.QUEUED, attempts=F("attempts") - 1
                    )
                    if changed:
                        # Never handed over: it goes back without a trace of a try.
                        open_attempts.filter(message_id=pk).delete()
                        requeued.add(profiles[pk])
                        logger.info("message %s requeued: its stopped run never sent it", pk)
                settled += changed
    for profile_id in sorted(requeued):
        enqueue_on_commit(profile_id)
    return settled


_INTERRUPTED_BATCH = Sentence(
    gettext_noop(
        "L'envoi a été interrompu (arrêt du programme d'envoi ?) avant la réponse du "
        "serveur : le message est peut-être parti. Il ne sera pas renvoyé automatiquement ; "
        "vérifiez auprès du destinataire, puis renvoyez-le ou annulez-le."
    )
)


def _interrupted(pk: int, begun: datetime | None, token: str) -> Text:
    """Why a message is uncertain after its run stopped, with what is known: when the server
    had accepted the run's previous message (of its batch, begun together, or one the run
    sent before and still holds), if it had."""
    same_run = Q(message__claimed_by=token)
    if begun is not None:
        same_run |= Q(started_at=begun)
    previous = (
        DeliveryAttempt.objects.filter(same_run, outcome=Outcome.SENT, finished_at__isnull=False)
        .exclude(message_id=pk)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    if previous is None:
        return Sentence(
            gettext_noop(
                "L'envoi a été interrompu (arrêt du programme d'envoi ?) pendant la remise de "
                "ce message au serveur, avant sa réponse : il est peut-être parti. Il ne sera "
                "pas renvoyé automatiquement ; vérifiez auprès du destinataire, puis "
                "renvoyez-le ou annulez-le. Les messages suivants de la tournée n'avaient pas "
                "été remis : ils sont repartis normalement."
            )
        )
    at = timezone.localtime(previous)
    return Sentence(
        gettext_noop(
            "L'envoi a été interrompu (arrêt du programme d'envoi ?) pendant la remise de ce "
            "message au serveur, avant sa réponse : il est peut-être parti. Le serveur avait "
            "accepté le message précédent de la tournée le %(date)s à %(time)s ; celui-ci "
            "était le suivant, aucune réponse n'est arrivée. Il ne sera pas renvoyé "
            "automatiquement ; vérifiez auprès du destinataire, puis renvoyez-le ou "
            "annulez-le. Les messages suivants de la tournée n'avaient pas été remis : ils "
            "sont repartis normalement."
        ),
        {"date": at.strftime("%d/%m/%Y"), "time": at.strftime("%H:%M:%S")},
    )


def profiles_waiting(*, now: datetime | None = None) -> list[int]:
    """Profiles with a message ready to go (for the cron command that re-kicks delivery)."""
    now = now or timezone.now()
    return sorted(
        set(OutboundMessage.objects.filter(_ready(now)).values_list("profile_id", flat=True))
    )


# -- what a person decides ------------------------------------------------------------------


@audited("message_cancelled", on="message")
def message_cancel(*, message: OutboundMessage, by: Collaborator) -> None:
    """Cancel a message that has not left: queued, retry, held or uncertain."""
    allowed = (Status.QUEUED, Status.RETRY, Status.HELD, Status.UNCERTAIN)
    changed = OutboundMessage.objects.filter(pk=message.pk, status__in=allowed).update(
        status=Status.CANCELLED, next_attempt_at=None, updated_at=timezone.now()
    )
    message.refresh_from_db()
    if not changed:
        raise ValidationError(
            _("Ce message ne peut pas être annulé : il est « %(status)s »."),
            code="cancel_not_allowed",
            params={"status": message.get_status_display()},
        )
    logger.info("message %s cancelled by collaborator %s", message.pk, by.pk)


@audited("message_retried", on="message")
def message_retry(*, message: OutboundMessage, by: Collaborator) -> None:
    """Send again a failed or uncertain message (a person decided), with the same bytes and
    Message-ID. It waits as held while its profile is to be fixed."""
    allowed = (Status.FAILED, Status.UNCERTAIN)
    profile_ok = (
        SendingProfile.objects.filter(pk=message.profile_id, state=SendingProfile.State.OK)
        .only("pk")
        .exists()
    )
    with transaction.atomic():
        changed = OutboundMessage.objects.filter(pk=message.pk, status__in=allowed).update(
            status=Status.QUEUED if profile_ok else Status.HELD,
            attempts=0,
            next_attempt_at=None,
            updated_at=timezone.now(),
        )
        if changed and profile_ok:
            enqueue_on_commit(message.profile_id)
    message.refresh_from_db()
    if not changed:
        raise ValidationError(
            _("Ce message ne peut pas être renvoyé : il est « %(status)s »."),
            code="retry_not_allowed",
            params={"status": message.get_status_display()},
        )
    logger.info("message %s put back in the queue by collaborator %s", message.pk, by.pk)
