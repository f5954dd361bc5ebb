"""SendGrid's Event Webhook, signed (Signed Event Webhook Requests).

SendGrid signs the timestamp header followed by the raw body with ECDSA P-256 / SHA-256; the
profile's webhook secret holds the account's verification key (base64 DER, as SendGrid shows
it, or PEM). A report older than ten minutes is refused, so a captured request cannot be
played again later; within that window replays are recognised by `sg_event_id`.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.http import HttpRequest
from django.utils import timezone

from courrier.mailing.models import DeliveryStatus, SendingProfile
from courrier.mailing.transports.sendgrid import MESSAGE_ARG
from courrier.mailing.webhooks import Event, WebhookRejected, event_id_from

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE_SECONDS = 600

KINDS = {
    "delivered": DeliveryStatus.DELIVERED,
    "deferred": DeliveryStatus.DEFERRED,
    "bounce": DeliveryStatus.BOUNCED,
    "dropped": DeliveryStatus.DROPPED,
    "spamreport": DeliveryStatus.COMPLAINED,
    "open": DeliveryStatus.OPENED,
}


def public_key(secret: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER), or PEM."""
    secret = secret.strip()
    try:
        if secret.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(secret.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode(secret, validate=False))
    except (ValueError, TypeError, binascii.Error, UnicodeError) as exc:
        raise WebhookRejected(403, "The webhook verification key is unreadable.") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise WebhookRejected(403, "The webhook verification key is not an ECDSA key.")
    return key


def verify(request: HttpRequest, secret: str, *, now: float | None = None) -> None:
    """Raise WebhookRejected unless SendGrid signed this very body, recently."""
    if not secret.strip():
        raise WebhookRejected(403, "No verification key is configured for this webhook.")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not signature or not timestamp:
        raise WebhookRejected(403, "Missing signature.")
    try:
        signed_at = int(timestamp)
        raw_signature = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise WebhookRejected(403, "Malformed signature.") from exc
    now = time.time() if now is None else now
    if abs(now - signed_at) > MAX_AGE_SECONDS:
        raise WebhookRejected(403, "Stale timestamp.")
    try:
        public_key(secret).verify(
            raw_signature, timestamp.encode("ascii") + request.body, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature as exc:
        raise WebhookRejected(403, "Invalid signature.") from exc


def _when(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return timezone.now()


def _pk(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def _detail(item: dict[str, Any]) -> str:
    parts = [str(item.get(key) or "").strip() for key in ("reason", "response")]
    if item.get("attempt"):
        parts.append(f"essai {item['attempt']}")
    return " — ".join(dict.fromkeys(p for p in parts if p))


def _provider_ids(sg_message_id: str) -> tuple[str, ...]:
    # "X-Message-Id" of the send is the part before ".filter…" (or the first dot, formerly).
    if not sg_message_id:
        return ()
    return tuple(
        dict.fromkeys(
            [sg_message_id, sg_message_id.partition(".filter")[0], sg_message_id.split(".")[0]]
        )
    )


def events_from(request: HttpRequest, profile: SendingProfile) -> list[Event]:
    verify(request, profile.webhook_secret)
    try:
        items = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookRejected(400, "The body is not JSON.") from exc
    if not isinstance(items, list):
        raise WebhookRejected(400, "The body is not a list of events.")
    events = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = KINDS.get(str(item.get("event", "")))
        if kind is None:
            continue  # processed, click, unsubscribe, ...: not a delivery status
        event_id = str(item.get("sg_event_id") or "") or event_id_from(
            json.dumps(item, sort_keys=True, default=str)
        )
        events.append(
            Event(
                kind=kind,
                at=_when(item.get("timestamp")),
                provider_event_id=event_id,
                recipient=str(item.get("email") or ""),
                detail=_detail(item),
                message_pk=_pk(item.get(MESSAGE_ARG)),
                provider_message_ids=_provider_ids(str(item.get("sg_message_id") or "")),
            )
        )
    return events
