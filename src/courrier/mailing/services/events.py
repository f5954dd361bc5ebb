"""Delivery events: what a provider reports after it took a message (webhooks), and the
address each profile gives its provider to report to.

Every event is kept once (a replayed webhook is recognised by the provider's event id and
ignored); the message shows the one that matters most: a bounce, a drop or a spam complaint
beats "delivered", which beats "deferred" whatever order the reports arrive in. A Peppol
document's statuses (its access point's webhook or `courrier.peppol.status`) go the same way:
a refusal by the network beats "delivered", and the buyer's answers come after it, "paid" last.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from courrier.firm.models import Firm
from courrier.mailing import contexts, methods
from courrier.mailing.models import (
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    OutboundMessage,
    SendingProfile,
)
from courrier.mailing.webhooks import Event, event_id_from

logger = logging.getLogger("courrier.mailing")

# Higher wins. Same rank: the later event wins.
PRECEDENCE: dict[str, int] = {
    DeliveryStatus.DEFERRED: 0,
    DeliveryStatus.DELIVERED: 1,
    DeliveryStatus.OPENED: 2,
    DeliveryStatus.BOUNCED: 3,
    DeliveryStatus.DROPPED: 3,
    DeliveryStatus.COMPLAINED: 3,
    DeliveryStatus.REJECTED: 3,
    DeliveryStatus.ACKNOWLEDGED: 4,
    DeliveryStatus.APPROVED: 5,
    DeliveryStatus.DISPUTED: 5,
    DeliveryStatus.PAID: 6,
}


def _message_for(profile: SendingProfile, event: Event) -> OutboundMessage | None:
    mine = OutboundMessage.objects.filter(profile=profile)
    if event.message_pk is not None:
        message = mine.filter(pk=event.message_pk).first()
        if message is not None:
            return message
    ids = [i for i in event.provider_message_ids if i]
    if ids:
        return mine.filter(provider_message_id__in=ids).first()
    return None


def _is_for_client(message: OutboundMessage, recipient: str) -> bool:
    """Whether the report is about one of the visible recipients (not the firm's blind copy)."""
    if not recipient:
        return True
    return recipient.lower() in {address.lower() for address in message.to}


def _detail(event: Event) -> str:
    if event.recipient and event.detail:
        return f"{event.recipient} : {event.detail}"
    return event.detail or event.recipient


def _apply(message_pk: int, event: Event) -> bool:
    """Show the event on its message if it matters more than what is shown. True if shown."""
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=message_pk)
        current = message.delivery_status
        if current:
            new_rank, current_rank = PRECEDENCE[event.kind], PRECEDENCE.get(current, -1)
            if new_rank < current_rank:
                return False
            if new_rank == current_rank and message.delivery_at and event.at < message.delivery_at:
                return False
        OutboundMessage.objects.filter(pk=message_pk).update(
            delivery_status=event.kind,
            delivery_detail=_detail(event),
            delivery_at=event.at,
        )
    return True


def delivery_events_record(*, profile: SendingProfile, events: Iterable[Event]) -> int:
    """Keep the new events of `profile` (replays are ignored) and update their messages.

    Opens are neither kept nor shown unless the firm tracks them. Returns how many events
    were new.
    """
    track_opens = Firm.load().track_opens
    recorded = 0
    delivered: dict[str, list[int]] = {}
    for event in events:
        if event.kind not in PRECEDENCE:
            continue
        if event.kind == DeliveryStatus.OPENED and not track_opens:
            continue
        event_id = event.provider_event_id
        if len(event_id) > 255:
            event_id = event_id_from(event_id)
        if DeliveryEvent.objects.filter(profile=profile, provider_event_id=event_id).exists():
            continue
        message = _message_for(profile, event)
        try:
            with transaction.atomic():
                DeliveryEvent.objects.create(
                    message=message,
                    profile=profile,
                    kind=event.kind,
                    at=event.at,
                    provider_event_id=event_id,
                    recipient=event.recipient[:254],
                    detail=event.detail[:2000],
                )
        except IntegrityError:
            continue  # the same report, received twice at the same moment
        recorded += 1
        if message is None:
            logger.info("profile %s: %s event for an unknown message", profile.pk, event.kind)
        elif _is_for_client(message, event.recipient):
            _apply(message.pk, event)
            if (
                event.kind == DeliveryStatus.DELIVERED
                and message.channel == Channel.PEPPOL
                and message.object_id is not None
            ):
                delivered.setdefault(message.context, []).append(int(message.object_id))
    for name, ids in delivered.items():
        hook = contexts.delivered_hook(name)
        if hook is not None:
            transaction.on_commit(partial(hook, ids), robust=True)
    return recorded


# -- each profile's webhook address ----------------------------------------------------------------


def _hint(profile: SendingProfile) -> str:
    method = methods.get(profile.method)
    if method is not None and method.webhook is not None:
        return method.webhook.hint(profile)
    return _("Cette méthode d'envoi ne signale pas la remise des messages.")


def profile_webhook(*, profile: SendingProfile) -> tuple[str, str]:
    """The profile's webhook path (its token made on first need) and a sentence saying what to
    configure at the provider. The secret itself is never shown back."""
    if not profile.webhook_token:
        token = secrets.token_urlsafe(24)
        SendingProfile.objects.filter(
            Q(webhook_token__isnull=True) | Q(webhook_token=""), pk=profile.pk
        ).update(webhook_token=token)
        profile.webhook_token = (
            SendingProfile.objects.filter(pk=profile.pk)
            .values_list("webhook_token", flat=True)
            .get()
        )
    path = reverse("mailing:webhook", args=[profile.webhook_token])
    return path, _hint(profile)
