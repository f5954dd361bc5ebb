"""Guessing a webhook's basic-auth password: after a few refusals an address gets 429 with
Retry-After, whatever it sends; other addresses and, after the wait, the right credentials
work. Posted through Django's test client, as a provider (or a guesser) would post them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from django.test import Client as HTTPClient

from courrier.mailing.models import DeliveryStatus, OutboundMessage, SendingProfile
from courrier.mailing.services.contents import contents_store
from tests.mailing.test_webhooks import basic, webhook_url

LIMIT = settings.WEBHOOK_AUTH_FAILURE_LIMIT
WINDOW = settings.WEBHOOK_AUTH_WINDOW_SECONDS
RIGHT = "courrier:S3cret-pm"


@pytest.fixture
def profile(make_profile: Callable[..., SendingProfile]) -> SendingProfile:
    return make_profile(method="postmark", api_key="pm", webhook_secret=RIGHT)


@pytest.fixture
def message(profile: SendingProfile) -> OutboundMessage:
    sent = OutboundMessage.objects.create(
        profile=profile,
        sender=profile.collaborator,
        language="fr",
        message_id=f"<{time.monotonic_ns()}@fidu.test>",
        subject="Votre dossier",
        from_address=profile.from_address,
        to=["info@dupuis.test"],
        envelope_recipients=["info@dupuis.test"],
        status=OutboundMessage.Status.SENT,
    )
    contents_store([(sent, b"Subject: x\r\n\r\nx\r\n")])
    return sent


def delivery(message: OutboundMessage) -> str:
    return json.dumps(
        {
            "RecordType": "Delivery",
            "ServerID": 23,
            "MessageStream": "outbound",
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "Recipient": "info@dupuis.test",
            "DeliveredAt": datetime.now(UTC).isoformat(),
            "Details": "delivered",
            "Metadata": {"courrier_message": str(message.pk)},
        }
    )


def post(
    profile: SendingProfile, body: str, credentials: str, *, address: str = "203.0.113.5"
) -> Any:
    return HTTPClient().post(
        webhook_url(profile),
        data=body,
        content_type="application/json",
        headers=basic(credentials),
        REMOTE_ADDR=address,
    )


def guess(profile: SendingProfile, body: str, times: int, *, address: str = "203.0.113.5") -> None:
    for number in range(times):
        response = post(profile, body, f"courrier:guess-{number}", address=address)
        assert response.status_code == 403


def test_an_address_that_guesses_gets_429_even_with_the_right_password(
    profile: SendingProfile, message: OutboundMessage
) -> None:
    body = delivery(message)
    guess(profile, body, LIMIT)
    response = post(profile, body, RIGHT)
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= WINDOW
    message.refresh_from_db()
    assert message.delivery_status != DeliveryStatus.DELIVERED


def test_below_the_limit_and_from_another_address_the_right_password_works(
    profile: SendingProfile, message: OutboundMessage
) -> None:
    body = delivery(message)
    guess(profile, body, LIMIT - 1)
    assert post(profile, body, RIGHT).status_code == 200
    guess(profile, body, 1)
    # The guesser is now blocked; the provider, elsewhere, is not.
    assert post(profile, body, RIGHT).status_code == 429
    response = post(profile, body, RIGHT, address="198.51.100.20")
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED


def test_right_credentials_are_never_counted(
    profile: SendingProfile, message: OutboundMessage
) -> None:
    body = delivery(message)
    for _ in range(LIMIT + 2):
        assert post(profile, body, RIGHT).status_code == 200


def test_the_right_password_works_again_after_the_wait(
    profile: SendingProfile, message: OutboundMessage, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = delivery(message)
    guess(profile, body, LIMIT)
    assert post(profile, body, RIGHT).status_code == 429
    # The clock moves on past the window (the cache's own expiry reads the same clock).
    later = time.time() + WINDOW + 1
    monkeypatch.setattr(time, "time", lambda: later)
    response = post(profile, body, RIGHT)
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED


def test_behind_the_proxy_each_sender_counts_on_its_own(
    profile: SendingProfile, message: OutboundMessage
) -> None:
    body = delivery(message)
    for number in range(LIMIT):
        response = HTTPClient().post(
            webhook_url(profile),
            data=body,
            content_type="application/json",
            headers=basic(f"courrier:guess-{number}"),
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=f"10.1.1.{number}, 203.0.113.99",
        )
        assert response.status_code == 403
    blocked = HTTPClient().post(
        webhook_url(profile),
        data=body,
        content_type="application/json",
        headers=basic(RIGHT),
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.99",
    )
    assert blocked.status_code == 429
    provider = HTTPClient().post(
        webhook_url(profile),
        data=body,
        content_type="application/json",
        headers=basic(RIGHT),
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.30",
    )
    assert provider.status_code == 200
