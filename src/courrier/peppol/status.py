"""Asking the access points how the Peppol documents they took are doing, for the APIs and
the reports that no webhook brings.

`statuses_poll` asks, per run, at most `PEPPOL_STATUS_BATCH` documents (50), the least recently
asked first, each at most every `PEPPOL_STATUS_INTERVAL` seconds (10 minutes) and only in its
first `PEPPOL_STATUS_DAYS` (60) after sending: what an access point is asked stays bounded
however many invoices wait for their buyer. A document is no longer asked once its status is
final (refused by the network, paid; delivered for Recommand, which reports nothing after).
An access point that asks to slow down (429) or fails for the moment is left alone until the
next run; one that refuses the credentials too (its page says so). What changed is recorded as
a webhook's report would be (`delivery_events_record`): the same status reported both ways is
kept once. Run by `courrier outbox_recover` (cron, every few minutes) and
`courrier peppol-status`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from courrier.mailing.exceptions import MailingError, ProfileRejected, TransientError
from courrier.mailing.models import Channel, DeliveryStatus, OutboundMessage, SendingProfile
from courrier.mailing.services.events import delivery_events_record
from courrier.mailing.transports.peppol import access_point_for
from courrier.mailing.webhooks import Event
from courrier.mailing.webhooks.peppol import FINAL, event_for

logger = logging.getLogger("courrier.peppol")

Status = OutboundMessage.Status


def _setting(name: str, default: int) -> int:
    value: Any = settings.COURRIER.get(name, default)
    return int(value)


def due_for_status(*, now: datetime) -> Q:
    """The Peppol documents whose status is still worth asking for, now."""
    interval = timedelta(seconds=_setting("PEPPOL_STATUS_INTERVAL", 600))
    window = timedelta(days=_setting("PEPPOL_STATUS_DAYS", 60))
    return (
        Q(channel=Channel.PEPPOL, status=Status.SENT)
        & Q(sent_at__gte=now - window, updated_at__lte=now - interval)
        & ~Q(provider_message_id="")
        & ~Q(delivery_status__in=FINAL)
        & ~Q(
            profile__method=SendingProfile.Method.RECOMMAND,
            delivery_status=DeliveryStatus.DELIVERED,
        )
    )


def statuses_poll(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Ask the access points for the status of the Peppol documents due (see the module) and
    record what changed. Returns the number of new events."""
    now = now or timezone.now()
    limit = _setting("PEPPOL_STATUS_BATCH", 50) if limit is None else limit
    rows = (
        OutboundMessage.objects.filter(due_for_status(now=now))
        .order_by("updated_at", "pk")
        .values_list("pk", "profile_id", "provider_message_id")[: max(0, limit)]
    )
    per_profile: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for pk, profile_id, provider_id in rows:
        per_profile[profile_id].append((pk, provider_id))
    recorded = 0
    for profile_id, documents in per_profile.items():
        profile = SendingProfile.objects.select_related("peppol_company").get(pk=profile_id)
        events = _ask(profile, documents, now=now)
        if events:
            recorded += delivery_events_record(profile=profile, events=events)
    return recorded


def _ask(
    profile: SendingProfile, documents: list[tuple[int, str]], *, now: datetime
) -> list[Event]:
    try:
        access_point = access_point_for(profile)
    except MailingError as exc:
        logger.info("profile %s: statuses not asked: %s", profile.pk, exc.detail or exc)
        return []
    events: list[Event] = []
    try:
        for pk, provider_id in documents:
            try:
                status = access_point.status(provider_id)
            except TransientError as exc:
                # Rate limited or unavailable: the rest waits for the next run.
                logger.info("profile %s: status polling paused: %s", profile.pk, exc.detail)
                break
            except MailingError as exc:
                logger.info("message %s: status not read: %s", pk, exc.detail or exc)
                if isinstance(exc, ProfileRejected):
                    break
                continue
            finally:
                # Asked (or tried) now: the others come first next time.
                OutboundMessage.objects.filter(pk=pk).update(updated_at=now)
            event = event_for(status, provider_id, now=now)
            if event is not None:
                events.append(event)
    finally:
        access_point.close()
    return events
