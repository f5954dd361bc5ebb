"""SendGrid's transport against a small SendGrid on 127.0.0.1, through the delivery service."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from django.utils import timezone

from courrier.firm.models import Firm
from courrier.mailing.models import DeliveryAttempt, OutboundMessage, SendingProfile
from courrier.mailing.services import messages_deliver
from courrier.mailing.transports.sendgrid import retry_after_seconds
from tests.fakes.sendgrid import FakeSendGrid, sendgrid_settings
from tests.mailing.transports.conftest import PDF, time_passes

Status = OutboundMessage.Status


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server, sendgrid_settings(server):
        yield server


@pytest.fixture
def profile(sendgrid: FakeSendGrid, make_profile: Callable[..., SendingProfile]) -> SendingProfile:
    return make_profile(method="sendgrid", api_key=sendgrid.api_key, from_address="anne@fidu.test")


def deliver_one(message: OutboundMessage) -> OutboundMessage:
    messages_deliver(profile_id=message.profile_id)
    message.refresh_from_db()
    return message


def test_the_stored_message_arrives_with_its_pieces(
    sendgrid: FakeSendGrid,
    profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    message = deliver_one(make_message(profile, bcc=["archive@fidu.test"]))

    assert message.status == Status.SENT
    assert message.provider_message_id == sendgrid.message_ids[0]
    [payload] = sendgrid.payloads
    assert payload["from"] == {"email": "anne@fidu.test", "name": "Anne Dupont"}
    assert payload["reply_to"] == {"email": "secretariat@fidu.test"}
    assert payload["personalizations"] == [
        {"to": [{"email": "info@dupuis.test"}], "bcc": [{"email": "archive@fidu.test"}]}
    ]
    assert payload["custom_args"] == {"courrier_message": str(message.pk)}
    assert payload["headers"]["Message-ID"] == message.message_id
    assert payload["headers"]["Content-Language"] == "fr"
    assert payload["subject"] == "Facture 2026/001 — Dupuis"
    assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]
    [attachment] = payload["attachments"]
    assert attachment["filename"] == "facture-2026-001.pdf"
    assert attachment["type"] == "application/pdf"
    assert attachment["disposition"] == "attachment"
    assert base64.b64decode(attachment["content"]) == PDF
    # Open tracking follows the firm's choice, explicitly both ways.
    assert payload["tracking_settings"]["open_tracking"] == {"enable": False}

    [received] = sendgrid.mails
    assert received.recipients == ["info@dupuis.test", "archive@fidu.test"]
    assert received.message["Message-ID"] == message.message_id
    assert "archive@fidu.test" not in received.message.as_string()


def test_open_tracking_when_the_firm_tracks_opens(
    sendgrid: FakeSendGrid,
    profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    firm = Firm.load()
    firm.track_opens = True
    firm.save()
    deliver_one(make_message(profile))
    assert sendgrid.payloads[0]["tracking_settings"]["open_tracking"] == {"enable": True}


def test_an_eu_profile_uses_the_eu_host(
    make_profile: Callable[..., SendingProfile],
    make_message: Callable[..., OutboundMessage],
    settings: Any,
) -> None:
    with FakeSendGrid() as world, FakeSendGrid() as europe:
        settings.PROVIDER_URLS = {
            **settings.PROVIDER_URLS,
            "SENDGRID": world.base_url,
            "SENDGRID_EU": europe.base_url,
        }
        profile = make_profile(method="sendgrid", api_key=europe.api_key, api_region="eu")
        assert deliver_one(make_message(profile)).status == Status.SENT
        assert (len(world.mails), len(europe.mails)) == (0, 1)


def test_a_refused_key_holds_the_messages_and_marks_the_profile(
    sendgrid: FakeSendGrid,
    profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    sendgrid.api_key = "SG.another"
    first, second = make_message(profile), make_message(profile)
    messages_deliver(profile_id=profile.pk)

    for message in (first, second):
        message.refresh_from_db()
        assert message.status == Status.HELD
    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.BROKEN
    assert "clé d'API" in profile.state_reason
    assert "authorization grant is invalid" in profile.state_reason
    assert "SG.fake-key" not in profile.state_reason
    assert sendgrid.mails == []


def test_an_unverified_sender_is_explained(
    sendgrid: FakeSendGrid,
    profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    sendgrid.verified_senders = {"factures@fidu.test"}
    message = deliver_one(make_message(profile))
    assert message.status == Status.HELD
    profile.refresh_from_db()
    assert "anne@fidu.test" in profile.state_reason
    assert "identité d'expéditeur vérifiée" in profile.state_reason


def test_a_bad_request_fails_with_sendgrids_own_words(
    sendgrid: FakeSendGrid,
    profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    # SendGrid wants a subject; it answers 400 with its reasons.
    message = deliver_one(make_message(profile, subject=""))
    assert message.status == Status.FAILED
    assert "SendGrid refuse ce message : The subject is required." in message.last_error
    assert [a.outcome for a in message.attempts_log.all()] == [DeliveryAttempt.Outcome.PERMANENT]
    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.OK


def test_too_large_fails(
    sendgrid: FakeSendGrid,
    profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    sendgrid.fail_next(413)
    message = deliver_one(make_message(profile))
    assert message.status == Status.FAILED
    assert "trop volumineux" in message.last_error


def test_429_waits_as_long_as_sendgrid_asks_then_sends_once(
    sendgrid: FakeSendGrid,
    profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    sendgrid.fail_next(429, retry_after=300)
    before = timezone.now()
    message = deliver_one(make_message(profile))
    assert message.status == Status.RETRY
    assert message.next_attempt_at is not None
    assert message.next_attempt_at >= before + timedelta(seconds=300)
    assert message.next_attempt_at <= timezone.now() + timedelta(seconds=301)
    assert "limite le nombre d'envois" in message.last_error

    time_passes(message)
    assert deliver_one(message).status == Status.SENT
    assert len(sendgrid.mails) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(
    sendgrid: FakeSendGrid,
    profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
    status: int,
) -> None:
    sendgrid.fail_next(status)
    message = deliver_one(make_message(profile))
    assert message.status == Status.RETRY
    assert "momentanément indisponible" in message.last_error
    assert f"HTTP {status}" in message.last_error


def test_garbage_is_retried_with_a_readable_reason(
    sendgrid: FakeSendGrid,
    profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    sendgrid.garbage_next()
    message = deliver_one(make_message(profile))
    assert message.status == Status.RETRY
    assert "incompréhensible" in message.last_error
    time_passes(message)
    assert deliver_one(message).status == Status.SENT


def test_no_answer_in_time_makes_the_message_uncertain_and_it_is_not_resent(
    sendgrid: FakeSendGrid,
    profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
    short_http_timeout: None,
) -> None:
    sendgrid.delay_next(1.5)
    message = deliver_one(make_message(profile))
    assert message.status == Status.UNCERTAIN
    assert messages_deliver(profile_id=profile.pk).claimed == 0


def test_an_unreachable_api_is_retried(
    make_profile: Callable[..., SendingProfile],
    make_message: Callable[..., OutboundMessage],
    settings: Any,
) -> None:
    with FakeSendGrid() as gone:
        url = gone.base_url
    settings.PROVIDER_URLS = {**settings.PROVIDER_URLS, "SENDGRID": url}
    profile = make_profile(method="sendgrid", api_key="SG.key")
    assert deliver_one(make_message(profile)).status == Status.RETRY


def test_a_profile_without_key_is_held(
    make_profile: Callable[..., SendingProfile],
    make_message: Callable[..., OutboundMessage],
) -> None:
    profile = make_profile(method="sendgrid", api_key="")
    assert deliver_one(make_message(profile)).status == Status.HELD
    profile.refresh_from_db()
    assert "Aucune clé d'API SendGrid" in profile.state_reason


def test_retry_after_reads_seconds_dates_and_rate_limit_resets() -> None:
    now = 1_800_000_000.0
    assert retry_after_seconds({"Retry-After": "120"}, now=now) == 120
    date = format_datetime(datetime.fromtimestamp(now + 90, tz=UTC), usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, now=now) == pytest.approx(90)
    assert retry_after_seconds({"X-RateLimit-Reset": str(int(now + 45))}, now=now) == 45
    assert retry_after_seconds({}, now=now) is None
    assert retry_after_seconds({"Retry-After": "bientôt"}, now=now) is None
