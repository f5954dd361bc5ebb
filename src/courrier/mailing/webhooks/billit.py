"""Billit's webhooks, signed: the `Billit-Signature` header is `t=<unix time>,s=<hex>`, the
HMAC-SHA256 of "<t>.<raw body>" keyed with the secret Billit gave when the webhook was created
(the profile's webhook secret).

A request without a valid signature, or signed more than five minutes away from now, is
refused (a captured request cannot be played later); within that window a replay gives the
same event id and changes nothing. The body of an Order webhook is the order itself, with its
`CurrentDocumentDeliveryDetails`; a body that names an order without them (a Message webhook,
whose content the documentation does not describe) is read again from the API, for the
profile's own documents only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from django.http import HttpRequest

from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.webhooks import Event, WebhookRejected
from courrier.mailing.webhooks.peppol import event_for
from courrier.peppol.access_points.base import DocumentStatus
from courrier.peppol.access_points.billit import status_of

logger = logging.getLogger("courrier.mailing")

SIGNATURE_HEADER = "Billit-Signature"
MAX_AGE_SECONDS = 300


def signature_parts(header: str) -> tuple[str, str]:
    """(timestamp, signature) of a Billit-Signature header, or WebhookRejected."""
    values: dict[str, str] = {}
    for part in header.split(","):
        name, equals, value = part.strip().partition("=")
        if equals:
            values[name.strip()] = value.strip()
    stamp, signature = values.get("t", ""), values.get("s", "")
    if not stamp.isdigit() or not signature:
        raise WebhookRejected(403, "Malformed signature.")
    return stamp, signature


def verify(request: HttpRequest, secret: str, *, now: float | None = None) -> None:
    """Raise WebhookRejected unless Billit signed this very body, recently."""
    if not secret.strip():
        raise WebhookRejected(403, "No secret is configured for this webhook.")
    header = request.headers.get(SIGNATURE_HEADER, "")
    if not header:
        raise WebhookRejected(403, "Missing signature.")
    stamp, signature = signature_parts(header)
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > MAX_AGE_SECONDS:
        raise WebhookRejected(403, "Stale timestamp.")
    expected = hmac.new(
        secret.strip().encode("utf-8"), stamp.encode("ascii") + b"." + request.body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise WebhookRejected(403, "Invalid signature.")


def events_from(request: HttpRequest, profile: SendingProfile) -> list[Event]:
    verify(request, profile.webhook_secret)
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookRejected(400, "The body is not JSON.") from exc
    items = body if isinstance(body, list) else [body]
    events = []
    for item in items:
        if not isinstance(item, dict) or item.get("OrderID") in (None, ""):
            continue
        order_id = str(item["OrderID"])
        status = (
            status_of(item)
            if "CurrentDocumentDeliveryDetails" in item
            else _read_again(profile, order_id)
        )
        if status is None:
            continue
        event = event_for(status, order_id)
        if event is not None:
            events.append(event)
    return events


def _read_again(profile: SendingProfile, order_id: str) -> DocumentStatus | None:
    """The order's status from the API, for one of the profile's own documents only."""
    from courrier.mailing.transports.peppol import access_point_for

    if not OutboundMessage.objects.filter(profile=profile, provider_message_id=order_id).exists():
        return None
    try:
        access_point = access_point_for(profile)
        try:
            return access_point.status(order_id)
        finally:
            access_point.close()
    except MailingError as exc:
        # The status is polled later anyway: the report is not lost.
        logger.info("billit webhook: order %s not read again: %s", order_id, exc.detail or exc)
        return None
