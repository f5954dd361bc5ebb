"""What a monitor needs to know: does the database answer, do the workers take tasks, does the
outbox move. `health_report` never raises and never names a host, a user or a secret.

The workers' heartbeat is a task: the report, when no answer is awaited, puts one heartbeat
task in the queue (at the highest priority) and notes when; the worker that runs it notes when
it answered. A request older than the limit without an answer means that no worker takes tasks
(none is running, all are stuck, or the queue is not read), whichever way the workers are
started. A monitor that polls every minute keeps the heartbeat fresh.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Min, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from courrier.firm.models import WorkerHeartbeat
from courrier.mailing.models import OutboundMessage

logger = logging.getLogger(__name__)

# A heartbeat waits behind a running task at most as long as one delivery run lasts (120 s by
# default): five minutes without an answer is a stopped worker, not a busy one.
DEFAULT_WORKER_SECONDS = 300
# A message due for a quarter of an hour and still queued while its profile sent nothing in
# that time, or still "sending" a quarter of an hour after its lease ran out: the outbox does
# not move.
DEFAULT_QUEUE_SECONDS = 900
# A new heartbeat is asked for at most once a minute.
HEARTBEAT_EVERY = timedelta(seconds=60)
_HEARTBEAT_ROW = 1


def _limit(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


@dataclass
class HealthReport:
    """The state of the installation, as `as_dict()` gives it to a monitor (JSON)."""

    database: bool = False
    workers: bool = False
    queue: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.database and self.workers and self.queue

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.healthy else "error",
            "database": self.database,
            "workers": self.workers,
            "queue": self.queue,
            **self.details,
        }


def health_report(*, now: datetime | None = None) -> HealthReport:
    """Check the database, the workers and the outbox; ask the workers for a new heartbeat."""
    now = now or timezone.now()
    report = HealthReport()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        report.database = True
        report.workers = _workers_check(report, now=now)
        report.queue = _queue_check(report, now=now)
    except DatabaseError:
        # The reason may name the server or its user: it goes to the log, not to the page.
        logger.warning("Health check: the database does not answer", exc_info=True)
        report.database = False
    return report


def _seconds(since: datetime | None, now: datetime) -> int | None:
    return None if since is None else max(0, int((now - since).total_seconds()))


def _workers_check(report: HealthReport, *, now: datetime) -> bool:
    limit = timedelta(seconds=_limit("COURRIER_HEALTH_WORKER_SECONDS", DEFAULT_WORKER_SECONDS))
    beat, _created = WorkerHeartbeat.objects.get_or_create(pk=_HEARTBEAT_ROW)
    waiting = beat.requested_at is not None and (
        beat.answered_at is None or beat.answered_at < beat.requested_at
    )
    waited = now - beat.requested_at if waiting and beat.requested_at else timedelta(0)
    report.details["worker_last_seen_seconds"] = _seconds(beat.answered_at, now)
    report.details["worker_waiting_seconds"] = int(waited.total_seconds()) if waiting else None
    if not waiting and (beat.requested_at is None or now - beat.requested_at >= HEARTBEAT_EVERY):
        _heartbeat_enqueue(beat, now=now, new_request=True)
        report.details["worker_waiting_seconds"] = 0
    elif waiting and (beat.enqueued_at is None or now - beat.enqueued_at > limit):
        # The task asked for may be lost (a worker killed while running it): queue another,
        # and keep counting from the first request.
        _heartbeat_enqueue(beat, now=now, new_request=False)
    return waited <= limit


def _heartbeat_enqueue(beat: WorkerHeartbeat, *, now: datetime, new_request: bool) -> None:
    """Queue one heartbeat task, unless a concurrent request took this turn first."""
    from courrier.firm.tasks import worker_heartbeat

    changes = {"enqueued_at": now, **({"requested_at": now} if new_request else {})}
    with transaction.atomic():
        taken = WorkerHeartbeat.objects.filter(
            pk=beat.pk, requested_at=beat.requested_at, enqueued_at=beat.enqueued_at
        ).update(**changes)
        if taken:
            worker_heartbeat.using(priority=100).enqueue()


def heartbeat_answer(*, task_path: str) -> None:
    """What the heartbeat task does: note that a worker ran it, and drop the results of the
    heartbeats before it from the task queue (one a minute would fill it)."""
    WorkerHeartbeat.objects.update_or_create(
        pk=_HEARTBEAT_ROW, defaults={"answered_at": timezone.now()}
    )
    DBTaskResult.objects.filter(task_path=task_path, status=TaskResultStatus.SUCCESSFUL).delete()


def _queue_check(report: HealthReport, *, now: datetime) -> bool:
    """The outbox moves when no message has been due for longer than the limit, or when the
    profile of each such message has sent one since (a large batch on its way)."""
    limit = timedelta(seconds=_limit("COURRIER_HEALTH_QUEUE_SECONDS", DEFAULT_QUEUE_SECONDS))
    Status = OutboundMessage.Status
    due = (
        OutboundMessage.objects.filter(status__in=[Status.QUEUED, Status.RETRY])
        .filter(
            Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now),
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        )
        # Due since the latest of these moments.
        .annotate(
            due_since=Greatest(
                "created_at",
                Coalesce("scheduled_at", "created_at"),
                Coalesce("next_attempt_at", "created_at"),
            )
        )
    )
    oldest = due.aggregate(oldest=Min("due_since"))["oldest"]
    late = set(due.filter(due_since__lt=now - limit).values_list("profile_id", flat=True))
    sending = set(
        OutboundMessage.objects.filter(profile_id__in=late, sent_at__gte=now - limit)
        .values_list("profile_id", flat=True)
        .distinct()
    )
    # A send whose lease ran out long ago: no `outbox_recover` settles it (its timer is off).
    stalled = OutboundMessage.objects.filter(
        status=Status.SENDING, lease_expires_at__lt=now - limit
    ).count()
    report.details["queue_due"] = due.count()
    report.details["queue_oldest_due_seconds"] = _seconds(oldest, now)
    report.details["queue_stuck_profiles"] = len(late - sending)
    report.details["sending_stalled"] = stalled
    for status in (Status.UNCERTAIN, Status.HELD):
        report.details[status.value] = OutboundMessage.objects.filter(status=status).count()
    return not (late - sending) and not stalled
