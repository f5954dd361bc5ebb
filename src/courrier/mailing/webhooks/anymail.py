"""Brevo, Mailgun, Postmark and Amazon SES tracking webhooks, read by anymail's own views.

anymail's tracking views know each provider's format and normalise its events; they are built
here per request with the profile's own secret: Mailgun's webhook signing key, or for the
others HTTP basic-auth credentials ("user:password", which the provider puts in the URL).
Only their checking and parsing are used, not their signals. Each provider's sending method
(`mailing.methods`) declares its reader: `reader(<provider>_view)`.

Mailgun signs only a timestamp and a token, not the body: anymail accepts a captured
signature with any body, for ever. So a signed request is also refused (406, which tells
Mailgun not to retry) when its timestamp is more than five minutes old or a minute ahead, or
when its token was already used: tokens are kept in a table (`WebhookToken`) for as long as
their timestamp could pass, so every worker process sees them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.signals import AnymailTrackingEvent, EventType
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.base import AnymailCoreWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from courrier.mailing.models import DeliveryStatus, SendingProfile, WebhookToken
from courrier.mailing.transports.anymail import MESSAGE_KEY
from courrier.mailing.webhooks import Event, Reader, WebhookRejected, event_id_from
from courrier.mailing.webhooks.throttle import webhook_auth_failed, webhook_auth_guard

KINDS = {
    EventType.DELIVERED: DeliveryStatus.DELIVERED,
    EventType.DEFERRED: DeliveryStatus.DEFERRED,
    EventType.BOUNCED: DeliveryStatus.BOUNCED,
    EventType.REJECTED: DeliveryStatus.DROPPED,
    EventType.FAILED: DeliveryStatus.DROPPED,
    EventType.COMPLAINED: DeliveryStatus.COMPLAINED,
    EventType.OPENED: DeliveryStatus.OPENED,
}


# How old a signed request may be, and how far ahead of our clock (seconds).
MAX_AGE_SECONDS = 300
MAX_AHEAD_SECONDS = 60
# Mailgun's answer for "refused, do not retry".
REFUSED = 406

# anymail's tracking view for one provider, built with the profile's own secret.
ViewFor = Callable[[SendingProfile], AnymailCoreWebhookView]


def brevo_view(profile: SendingProfile) -> AnymailCoreWebhookView:
    return BrevoTrackingWebhookView(webhook_secret=profile.webhook_secret.strip())


def postmark_view(profile: SendingProfile) -> AnymailCoreWebhookView:
    return PostmarkTrackingWebhookView(webhook_secret=profile.webhook_secret.strip())


def mailgun_view(profile: SendingProfile) -> AnymailCoreWebhookView:
    # Signed by Mailgun: no basic auth (an empty list, so no global setting is read).
    return MailgunTrackingWebhookView(
        webhook_signing_key=profile.webhook_secret.strip(), webhook_secret=[]
    )


def ses_view(profile: SendingProfile) -> AnymailCoreWebhookView:
    # A subscription is confirmed with the profile's own AWS keys, once the basic auth
    # proved that the request was meant for this profile.
    client_params: dict[str, Any] = {
        "aws_access_key_id": profile.aws_access_key_id.strip(),
        "aws_secret_access_key": profile.aws_secret_access_key.strip(),
    }
    return AmazonSESTrackingWebhookView(
        webhook_secret=profile.webhook_secret.strip(),
        session_params={},
        client_params=client_params,
    )


def _pk(metadata: Any) -> int | None:
    if not isinstance(metadata, dict):
        return None
    text = str(metadata.get(MESSAGE_KEY) or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def _provider_ids(message_id: Any) -> tuple[str, ...]:
    if not message_id:
        return ()
    text = str(message_id).strip()
    # Mailgun answers the send with "<id>" and reports events with "id".
    return tuple(dict.fromkeys([text, text.strip("<>"), f"<{text.strip('<>')}>"]))


def _event(tracking: AnymailTrackingEvent) -> Event | None:
    kind = KINDS.get(tracking.event_type)
    if kind is None:
        return None  # queued, sent, clicked, unsubscribed, ...: not a delivery status
    detail = " — ".join(
        dict.fromkeys(
            str(part).strip()
            for part in (tracking.description, tracking.mta_response, tracking.reject_reason)
            if part and str(part).strip()
        )
    )
    if tracking.event_id:
        # One notification may report several recipients under one id (Amazon SES).
        event_id = f"{tracking.event_id}:{tracking.event_type}:{tracking.recipient or ''}"
    else:
        event_id = event_id_from(
            tracking.event_type,
            tracking.recipient,
            json.dumps(tracking.esp_event, sort_keys=True, default=str),
        )
    at = tracking.timestamp if isinstance(tracking.timestamp, datetime) else timezone.now()
    if timezone.is_naive(at):
        # A provider's date without offset: read as UTC rather than compared with aware ones.
        at = at.replace(tzinfo=UTC)
    return Event(
        kind=kind,
        at=at,
        provider_event_id=event_id,
        recipient=str(tracking.recipient or ""),
        detail=detail,
        message_pk=_pk(tracking.metadata),
        provider_message_ids=_provider_ids(tracking.message_id),
    )


def _signature_fields(request: HttpRequest) -> tuple[str, str]:
    """The timestamp and token of Mailgun's signature, where anymail read them."""
    if request.content_type == "application/json":
        block = json.loads(request.body.decode("utf-8"))["signature"]
        return str(block["timestamp"]), str(block["token"])
    return str(request.POST["timestamp"]), str(request.POST["token"])


def signature_token_spend(
    request: HttpRequest, profile: SendingProfile, *, now: float | None = None
) -> None:
    """Raise WebhookRejected unless the (already verified) signature of `request` is fresh
    and its token was never used for `profile`; remember the token."""
    try:
        timestamp, token = _signature_fields(request)
        signed_at = float(timestamp)
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected(400, "Unreadable signature.") from exc
    now = time.time() if now is None else now
    if not (now - MAX_AGE_SECONDS <= signed_at <= now + MAX_AHEAD_SECONDS):
        raise WebhookRejected(REFUSED, "Stale signature timestamp.")
    if not token or len(token) > 255:
        raise WebhookRejected(400, "Unreadable signature.")
    received_at = datetime.fromtimestamp(now, tz=UTC)
    # A token older than the window cannot come back with a passing timestamp.
    forget_before = received_at - timedelta(seconds=MAX_AGE_SECONDS + MAX_AHEAD_SECONDS)
    WebhookToken.objects.filter(received_at__lt=forget_before).delete()
    try:
        with transaction.atomic():
            WebhookToken.objects.create(profile=profile, token=token, received_at=received_at)
    except IntegrityError as exc:
        raise WebhookRejected(REFUSED, "This signature was already used.") from exc


def reader(view_for: ViewFor, *, signed: bool = False) -> Reader:
    """The reader of one provider's requests, checked and parsed by the view `view_for`
    builds. `signed`: the provider signs its requests (Mailgun) rather than sending basic-auth
    credentials."""

    def events_from(request: HttpRequest, profile: SendingProfile) -> list[Event]:
        if not profile.webhook_secret.strip():
            raise WebhookRejected(403, "No secret is configured for this webhook.")
        if not signed and not request.headers.get("Authorization"):
            # Amazon SNS sends its credentials only after this challenge; the others send them
            # at once.
            raise WebhookRejected(
                401,
                "Authentication required.",
                headers={"WWW-Authenticate": 'Basic realm="Courrier"'},
            )
        if not signed:
            # Guessing the basic-auth password: an address refused too often waits.
            webhook_auth_guard(request)
        view = view_for(profile)
        try:
            view.run_validators(request)
        except AnymailWebhookValidationFailure as exc:
            if not signed:
                webhook_auth_failed(request)
            raise WebhookRejected(403, "Invalid credentials or signature.") from exc
        except Exception as exc:
            raise WebhookRejected(400, "Unreadable request.") from exc
        if signed:
            signature_token_spend(request, profile)
        try:
            tracking_events = view.parse_events(request)
        except AnymailWebhookValidationFailure as exc:
            raise WebhookRejected(403, "Unexpected request.") from exc
        except Exception as exc:
            raise WebhookRejected(400, "Unreadable request.") from exc
        return [event for event in map(_event, tracking_events) if event is not None]

    return events_from
