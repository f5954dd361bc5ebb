"""Claims and leases on outbox rows, and when a failed try is made again.

Two kinds of runs work on a message from a task that may die half-way: a delivery run (the
message is handed over) and a copy run (the sent message is appended to the sender's Sent
folder). Both take their rows the same way: one conditional UPDATE writes the run's token
(`claimed_by`) and the end of its lease (`lease_expires_at`); every later write of the run is
conditional on that token (`owned`), so a run that lost its claim changes nothing; a row whose
lease has passed is taken over (by the sweeper for a delivery, by the next task for a copy).
A run ends its lease when it writes the outcome (`lease_end`).

A failed try waits `backoff(attempts)` seconds: doubling from RETRY_BASE_SECONDS, capped at
RETRY_MAX_SECONDS. Delivery spreads its retries with `retry_delay` (the same, with jitter), so
that a server's recovery is not met by every message at once.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from courrier.mailing.models import OutboundMessage
from courrier.mailing.services.workers import process_token


def lease() -> timedelta:
    """How long a claim holds without a sign of life (COURRIER["SENDING_LEASE_SECONDS"])."""
    return timedelta(seconds=settings.COURRIER["SENDING_LEASE_SECONDS"])


def run_token() -> str:
    """A new run's token, written on the rows it claims: it names the process, so that a
    worker starting on the same host can settle the claims of one that died without waiting
    for their lease (`workers.process_alive`)."""
    return process_token()


def lease_expired(now: datetime) -> Q:
    """The rows whose lease has passed at `now` (or that never had one)."""
    return Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)


def claim(rows: QuerySet[OutboundMessage], *, token: str, now: datetime, **fields: Any) -> int:
    """Claim `rows` (a queryset that selects only what is still free) for the run `token`,
    leased from `now`, writing `fields` too; the number of rows taken."""
    return rows.update(claimed_by=token, lease_expires_at=now + lease(), updated_at=now, **fields)


def owned(token: str, *pks: int) -> QuerySet[OutboundMessage]:
    """The rows among `pks` that the run `token` still holds."""
    return OutboundMessage.objects.filter(pk__in=pks, claimed_by=token)


def lease_renew(rows: QuerySet[OutboundMessage]) -> int:
    """Extend the lease of `rows` (a slow server must not let it pass while the run works)."""
    now = timezone.now()
    return rows.update(lease_expires_at=now + lease(), updated_at=now)


def lease_end(
    rows: QuerySet[OutboundMessage], *, now: datetime | None = None, **fields: Any
) -> int:
    """Write the outcome `fields` on `rows` and end their lease; the number of rows written."""
    return rows.update(lease_expires_at=None, updated_at=now or timezone.now(), **fields)


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` tries: doubling from RETRY_BASE_SECONDS,
    capped at RETRY_MAX_SECONDS."""
    base = float(settings.COURRIER["RETRY_BASE_SECONDS"])
    cap = float(settings.COURRIER["RETRY_MAX_SECONDS"])
    return min(cap, base * 2 ** max(0, attempts - 1))


def retry_delay(attempts: int) -> float:
    """`backoff(attempts)` with jitter (between half of it and all of it), so that a server's
    recovery is not met by every message at once."""
    delay = backoff(attempts)
    return delay / 2 + random.uniform(0, delay / 2)
