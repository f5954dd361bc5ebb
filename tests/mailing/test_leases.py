"""Claims and leases on outbox rows (`services/leases.py`), on real rows: what delivery and the
copy in the Sent folder both rely on so that two runs never work on one message at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

import pytest
from django.db.models import QuerySet
from django.utils import timezone

from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import leases

Status = OutboundMessage.Status


@pytest.fixture
def message(make_profile: Callable[..., SendingProfile]) -> OutboundMessage:
    profile = make_profile()
    return OutboundMessage.objects.create(
        profile=profile,
        sender=profile.collaborator,
        language="fr",
        message_id=make_msgid(domain="fidu.test"),
        subject="Votre dossier",
        from_address=profile.from_address,
        to=["info@dupuis.test"],
        envelope_recipients=["info@dupuis.test"],
    )


def free(message: OutboundMessage, now: datetime) -> QuerySet[OutboundMessage]:
    """The message when no run holds it at `now` (what a caller's claim selects)."""
    return OutboundMessage.objects.filter(leases.lease_expired(now), pk=message.pk)


def test_a_claim_holds_until_its_lease_passes_then_another_run_takes_over(
    message: OutboundMessage,
) -> None:
    now = timezone.now()
    first, second = leases.run_token(), leases.run_token()

    assert leases.claim(free(message, now), token=first, now=now, status=Status.SENDING) == 1
    assert leases.claim(free(message, now), token=second, now=now) == 0

    later = now + leases.lease() + timedelta(seconds=1)
    assert leases.claim(free(message, later), token=second, now=later) == 1
    message.refresh_from_db()
    assert message.claimed_by == second
    assert message.lease_expires_at == later + leases.lease()
    assert message.status == Status.SENDING


def test_a_run_that_lost_its_claim_writes_nothing(message: OutboundMessage) -> None:
    now = timezone.now()
    first, second = leases.run_token(), leases.run_token()
    leases.claim(free(message, now), token=first, now=now)
    later = now + leases.lease() + timedelta(seconds=1)
    leases.claim(free(message, later), token=second, now=later)

    assert leases.lease_end(leases.owned(first, message.pk), status=Status.FAILED) == 0
    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.lease_expires_at is not None

    assert leases.lease_end(leases.owned(second, message.pk), status=Status.SENT) == 1
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.lease_expires_at is None


def test_a_renewed_lease_keeps_the_claim(message: OutboundMessage) -> None:
    token = leases.run_token()
    # Claimed almost a whole lease ago: about to be taken over.
    claimed_at = timezone.now() - leases.lease() + timedelta(seconds=1)
    leases.claim(free(message, claimed_at), token=token, now=claimed_at)

    assert leases.lease_renew(leases.owned(token, message.pk)) == 1

    soon = timezone.now() + timedelta(seconds=5)
    assert not free(message, soon).exists()


def test_a_failed_try_waits_twice_as_long_each_time_up_to_the_cap(settings: Any) -> None:
    settings.COURRIER = {
        **settings.COURRIER,
        "RETRY_BASE_SECONDS": 60.0,
        "RETRY_MAX_SECONDS": 300.0,
    }
    assert [leases.backoff(attempts) for attempts in range(6)] == [60, 60, 120, 240, 300, 300]
    for attempts in range(1, 6):
        delay = leases.retry_delay(attempts)
        assert leases.backoff(attempts) / 2 <= delay <= leases.backoff(attempts)
