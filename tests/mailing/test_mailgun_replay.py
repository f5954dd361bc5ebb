"""Mailgun's signature covers a timestamp and a token, not the body: a signed report is taken
once, while fresh. Posted over real HTTP to the live server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
import requests

from courrier.mailing.models import DeliveryEvent, DeliveryStatus, OutboundMessage, SendingProfile
from courrier.mailing.services import profile_webhook
from courrier.mailing.services.contents import contents_store

KEY = "mg-signing-key"


@pytest.fixture
def mailgun(
    live_server: Any, make_profile: Callable[..., SendingProfile]
) -> tuple[str, SendingProfile, OutboundMessage]:
    profile = make_profile(method="mailgun", mailgun_domain="mg.fidu.test", webhook_secret=KEY)
    message = OutboundMessage.objects.create(
        profile=profile,
        sender=profile.collaborator,
        language="fr",
        message_id="<replay.1@fidu.test>",
        subject="Votre dossier",
        from_address=profile.from_address,
        to=["info@dupuis.test"],
        envelope_recipients=["info@dupuis.test"],
        status=OutboundMessage.Status.SENT,
    )
    contents_store([(message, b"Subject: x\r\n\r\nx\r\n")])
    path, _hint = profile_webhook(profile=profile)
    return f"{live_server.url}{path}", profile, message


def signature(*, timestamp: float, token: str) -> dict[str, str]:
    stamp = str(int(timestamp))
    digest = hmac.new(KEY.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": digest}


def report(message: OutboundMessage, signed: dict[str, str], *, event: str = "delivered") -> bytes:
    return json.dumps(
        {
            "signature": signed,
            "event-data": {
                "event": event,
                "timestamp": time.time(),
                "id": f"ev-{event}",
                "recipient": "info@dupuis.test",
                "severity": "permanent",
                "user-variables": {"courrier_message": str(message.pk)},
                "delivery-status": {"code": 550, "message": "", "description": ""},
            },
        }
    ).encode()


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    response = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=10)
    return response.status_code, response.text


def test_a_fresh_report_is_taken_once_and_its_signature_never_again(
    mailgun: tuple[str, SendingProfile, OutboundMessage],
) -> None:
    url, _profile, message = mailgun
    signed = signature(timestamp=time.time(), token="t" * 50)
    status, text = post(url, report(message, signed))
    assert (status, text) == (200, "ok, 1 new event(s)")
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED

    # The very same request again, then the captured signature with another body.
    assert post(url, report(message, signed)) == (406, "This signature was already used.")
    status, text = post(url, report(message, signed, event="failed"))
    assert (status, text) == (406, "This signature was already used.")
    assert DeliveryEvent.objects.filter(message=message).count() == 1
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED


@pytest.mark.parametrize("offset", [-301, -3600 * 24 * 30, 120])
def test_an_old_or_future_signature_is_refused(
    mailgun: tuple[str, SendingProfile, OutboundMessage], offset: int
) -> None:
    url, _profile, message = mailgun
    signed = signature(timestamp=time.time() + offset, token=f"old{abs(offset)}".ljust(50, "x"))
    assert post(url, report(message, signed)) == (406, "Stale signature timestamp.")
    assert not DeliveryEvent.objects.exists()
    message.refresh_from_db()
    assert message.delivery_status == ""


def test_the_legacy_form_post_is_held_to_the_same_rules(
    mailgun: tuple[str, SendingProfile, OutboundMessage],
) -> None:
    url, _profile, message = mailgun
    fields = {
        "event": "delivered",
        "recipient": "info@dupuis.test",
        "Message-Id": "<replay.1@fidu.test>",
        "courrier_message": str(message.pk),
        **signature(timestamp=time.time(), token="f" * 50),
    }
    body = urllib.parse.urlencode(fields).encode()
    form = "application/x-www-form-urlencoded"
    first = post(url, body, form)
    assert first[0] == 200
    assert post(url, body, form) == (406, "This signature was already used.")
    stale = urllib.parse.urlencode(
        {**fields, **signature(timestamp=time.time() - 3600, token="g" * 50)}
    ).encode()
    assert post(url, stale, form) == (406, "Stale signature timestamp.")


def test_a_wrong_signature_is_still_403_and_spends_no_token(
    mailgun: tuple[str, SendingProfile, OutboundMessage],
) -> None:
    url, _profile, message = mailgun
    forged = {**signature(timestamp=time.time(), token="h" * 50), "signature": "0" * 64}
    assert post(url, report(message, forged))[0] == 403
    genuine = signature(timestamp=time.time(), token="h" * 50)
    assert post(url, report(message, genuine)) == (200, "ok, 1 new event(s)")
