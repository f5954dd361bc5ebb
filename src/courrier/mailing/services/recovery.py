"""After a worker died: settle what it left, at a worker's start-up and from the cron.

A worker killed with SIGKILL (or a machine that stopped) leaves behind:

- its task row (django-tasks-db) "running" for ever: it is marked failed, with the reason,
  once its worker is known to be dead (same host: `workers.process_alive`), or when it has
  run longer than COURRIER["TASK_STALE_SECONDS"] on a host this process cannot see into;
- the messages its delivery run had claimed: `messages_recover` settles them (at once when
  the run's process is dead, else once their lease is over);
- a batch it was composing: composed again at once (only what is missing is made);
- the files a batch round wrote before a transaction that never committed (invoice PDFs):
  removed, with a log line, by the hooks of the contexts that write them
  (`BatchHooks.sweep`), once they are older than LEFTOVER_SECONDS.

A task row of a live worker is never touched, nor a file that a stored row names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from courrier.mailing import contexts
from courrier.mailing.models import MailBatch
from courrier.mailing.services.batch import batch_resume, batches_resume_stalled
from courrier.mailing.services.delivery import delivery_ensure_next, messages_recover
from courrier.mailing.services.workers import process_alive

logger = logging.getLogger("courrier.mailing")

# A file a round wrote is a leftover only once it is this old: a round writes its files and
# commits within seconds, so an hour leaves a wide margin to a round still running.
LEFTOVER_SECONDS = 3600

# What a task row stopped by a dead worker says (django-tasks-db shows it as the error).
WORKER_LOST = "courrier.mailing.WorkerLost"


@dataclass
class Recovery:
    """What one recovery settled."""

    tasks: int = 0
    messages: int = 0
    batches: int = 0
    files: int = 0


def outbox_recover(*, now: datetime | None = None, sweep_files: bool = True) -> Recovery:
    """Settle everything stopped workers left: their task rows, their claimed messages,
    their batches, and (with `sweep_files`) the files of their rounds that never committed."""
    now = now or timezone.now()
    report = Recovery()
    lost = tasks_settle(now=now)
    report.tasks = len(lost)
    report.messages = messages_recover(now=now)
    batch_ids: set[int] = set()
    profile_ids: set[int] = set()
    for row in lost:
        args = row.args_kwargs.get("args") or []
        if not args or not isinstance(args[0], int):
            continue
        if row.task_path.endswith(".compose_batch"):
            batch_ids.add(args[0])
        elif row.task_path.endswith(".deliver_profile"):
            profile_ids.add(args[0])
    with transaction.atomic():
        for batch in MailBatch.objects.filter(pk__in=batch_ids):
            report.batches += batch_resume(batch=batch)
        report.batches += batches_resume_stalled(now=now)
    for profile_id in sorted(profile_ids):
        # The dead run could not set its profile's next one.
        delivery_ensure_next(profile_id=profile_id)
    if sweep_files:
        before = now - timedelta(seconds=LEFTOVER_SECONDS)
        for hooks in contexts.batch_hooks_registered():
            report.files += hooks.sweep(before)
    return report


def tasks_settle(*, now: datetime | None = None) -> list[DBTaskResult]:
    """Mark failed the task rows left "running" by a dead worker, with the reason; the rows
    settled. A row of a worker on another host (or named the old way) is settled only once
    it has run for longer than COURRIER["TASK_STALE_SECONDS"]."""
    now = now or timezone.now()
    stale = timedelta(seconds=float(settings.COURRIER.get("TASK_STALE_SECONDS", 86400)))
    settled: list[DBTaskResult] = []
    for row in DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).order_by("pk"):
        worker = row.worker_ids[-1] if row.worker_ids else ""
        alive = process_alive(worker) if worker else None
        if alive:
            continue
        if alive is None:
            if row.started_at is None or now - row.started_at < stale:
                continue
            reason = (
                f"Worker {worker or '?'} gave no result for {now - row.started_at} "
                f"(more than TASK_STALE_SECONDS): settled as stopped at {now.isoformat()}."
            )
        else:
            reason = (
                f"Worker {worker} stopped (its process is gone: killed, or its machine "
                f"restarted) while running this task; settled at {now.isoformat()}."
            )
        # Only a row still running changes (its worker's own end is never written over).
        changed = DBTaskResult.objects.filter(pk=row.pk, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED,
            finished_at=now,
            exception_class_path=WORKER_LOST,
            traceback=reason,
            return_value=None,
        )
        if changed:
            logger.warning("task %s (%s) settled: %s", row.pk, row.task_path, reason)
            settled.append(row)
    return settled
