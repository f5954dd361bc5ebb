"""The anymail transports (Postmark, Brevo, Amazon SES; Mailgun's settings) against small fakes
of their APIs on 127.0.0.1, through the delivery service."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from courrier.firm.models import Firm
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import messages_deliver
from courrier.mailing.transports import transport_for
from courrier.mailing.transports.anymail import MailgunTransport, SESTransport
from tests.fakes.anymail_providers import FakeBrevo, FakePostmark, FakeSES, provider_settings
from tests.mailing.transports.conftest import PDF, time_passes

Status = OutboundMessage.Status


def deliver_one(message: OutboundMessage) -> OutboundMessage:
    messages_deliver(profile_id=message.profile_id)
    message.refresh_from_db()
    return message


# -- Postmark -----------------------------------------------------------------------------------


@pytest.fixture
def postmark() -> Iterator[FakePostmark]:
    with FakePostmark() as server, provider_settings(POSTMARK=server.base_url + "/"):
        yield server


@pytest.fixture
def postmark_profile(
    postmark: FakePostmark, make_profile: Callable[..., SendingProfile]
) -> SendingProfile:
    return make_profile(method="postmark", api_key=postmark.token, from_address="anne@fidu.test")


def test_postmark_receives_the_stored_pieces_and_our_id(
    postmark: FakePostmark,
    postmark_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    message = deliver_one(make_message(postmark_profile, bcc=["archive@fidu.test"]))

    assert message.status == Status.SENT, message.last_error
    assert message.provider_message_id == postmark.message_ids[0]
    [payload] = postmark.payloads
    assert payload["From"] == "Anne Dupont <anne@fidu.test>"
    assert payload["To"] == "info@dupuis.test"
    assert payload["Bcc"] == "archive@fidu.test"
    assert payload["ReplyTo"] == "secretariat@fidu.test"
    assert payload["Subject"] == "Facture 2026/001 — Dupuis"
    assert payload["Metadata"] == {"courrier_message": str(message.pk)}
    assert payload["TrackOpens"] is False
    headers = {item["Name"]: item["Value"] for item in payload["Headers"]}
    assert headers["Message-ID"] == message.message_id
    assert headers["Content-Language"] == "fr"
    [attachment] = payload["Attachments"]
    assert attachment["Name"] == "facture-2026-001.pdf"
    assert base64.b64decode(attachment["Content"]) == PDF
    [received] = postmark.mails
    assert received.message["Message-ID"] == message.message_id
    assert "Veuillez trouver votre facture." in received.part("text/plain")


def test_postmark_tracks_opens_when_the_firm_does(
    postmark: FakePostmark,
    postmark_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    firm = Firm.load()
    firm.track_opens = True
    firm.save()
    deliver_one(make_message(postmark_profile))
    assert postmark.payloads[0]["TrackOpens"] is True


def test_postmark_wrong_token_holds_the_profile(
    postmark: FakePostmark,
    postmark_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    postmark.token = "another"
    assert deliver_one(make_message(postmark_profile)).status == Status.HELD
    postmark_profile.refresh_from_db()
    assert postmark_profile.state == SendingProfile.State.BROKEN
    assert "Postmark" in postmark_profile.state_reason
    assert "Server Token" in postmark_profile.state_reason


def test_postmark_sender_without_signature_holds_the_profile(
    postmark: FakePostmark,
    postmark_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    postmark.sender_signatures = {"factures@fidu.test"}
    assert deliver_one(make_message(postmark_profile)).status == Status.HELD
    postmark_profile.refresh_from_db()
    assert "anne@fidu.test n'est pas une signature confirmée" in postmark_profile.state_reason


def test_postmark_429_waits_as_asked(
    postmark: FakePostmark,
    postmark_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    postmark.fail_next(429, retry_after=200)
    before = timezone.now()
    message = deliver_one(make_message(postmark_profile))
    assert message.status == Status.RETRY
    assert message.next_attempt_at is not None
    assert message.next_attempt_at >= before + timedelta(seconds=200)
    time_passes(message)
    assert deliver_one(message).status == Status.SENT
    assert len(postmark.mails) == 1


def test_postmark_500_and_garbage_are_retried(
    postmark: FakePostmark,
    postmark_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    postmark.fail_next(500)
    first = deliver_one(make_message(postmark_profile))
    assert first.status == Status.RETRY
    assert "momentanément indisponible" in first.last_error
    postmark.garbage_next()
    second = deliver_one(make_message(postmark_profile))
    assert second.status == Status.RETRY
    time_passes(first, second)
    messages_deliver(profile_id=postmark_profile.pk)
    assert len(postmark.mails) == 2


def test_postmark_invalid_request_fails(
    postmark: FakePostmark,
    postmark_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    postmark.fail_next(422)
    message = deliver_one(make_message(postmark_profile))
    assert message.status == Status.FAILED
    assert "Postmark refuse ce message" in message.last_error


def test_postmark_no_answer_in_time_is_uncertain(
    postmark: FakePostmark,
    postmark_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
    short_http_timeout: None,
) -> None:
    postmark.delay_next(1.5)
    assert deliver_one(make_message(postmark_profile)).status == Status.UNCERTAIN


# -- Brevo --------------------------------------------------------------------------------------


@pytest.fixture
def brevo() -> Iterator[FakeBrevo]:
    with FakeBrevo() as server, provider_settings(BREVO=server.base_url + "/v3/"):
        yield server


def test_brevo_sends_with_the_profiles_key_and_our_id_in_its_metadata(
    brevo: FakeBrevo,
    make_profile: Callable[..., SendingProfile],
    make_message: Callable[..., OutboundMessage],
) -> None:
    profile = make_profile(method="brevo", api_key=brevo.api_key, from_address="anne@fidu.test")
    message = deliver_one(make_message(profile, bcc=["archive@fidu.test"]))
    assert message.status == Status.SENT, message.last_error
    assert message.provider_message_id == brevo.message_ids[0]
    assert brevo.metadata() == {"courrier_message": str(message.pk)}
    payload = brevo.payloads[0]
    assert payload["bcc"] == [{"email": "archive@fidu.test"}]
    assert payload["headers"]["Message-ID"] == message.message_id
    assert payload["attachment"][0]["name"] == "facture-2026-001.pdf"


def test_brevo_wrong_key_holds_and_429_waits(
    brevo: FakeBrevo,
    make_profile: Callable[..., SendingProfile],
    make_message: Callable[..., OutboundMessage],
) -> None:
    profile = make_profile(method="brevo", api_key=brevo.api_key)
    brevo.fail_next(429, retry_after=90)
    before = timezone.now()
    waiting = deliver_one(make_message(profile))
    assert waiting.status == Status.RETRY
    assert waiting.next_attempt_at is not None
    assert waiting.next_attempt_at >= before + timedelta(seconds=90)

    brevo.api_key = "xkeysib-other"
    time_passes(waiting)
    assert deliver_one(waiting).status == Status.HELD
    profile.refresh_from_db()
    assert "Brevo a refusé la clé d'API" in profile.state_reason


# -- Amazon SES -------------------------------------------------------------------------------


@pytest.fixture
def ses() -> Iterator[FakeSES]:
    with FakeSES() as server, provider_settings(SES_ENDPOINT=server.base_url):
        yield server


@pytest.fixture
def ses_profile(ses: FakeSES, make_profile: Callable[..., SendingProfile]) -> SendingProfile:
    return make_profile(
        method="ses",
        aws_access_key_id=ses.access_key_id,
        aws_secret_access_key="secret",
        aws_region="eu-west-1",
        from_address="anne@fidu.test",
    )


def test_ses_receives_the_stored_mime_and_the_blind_copy_in_the_envelope(
    ses: FakeSES,
    ses_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    message = deliver_one(make_message(ses_profile, bcc=["archive@fidu.test"]))
    assert message.status == Status.SENT, message.last_error
    assert message.provider_message_id == ses.message_ids[0]
    [payload] = ses.payloads
    assert payload["Destination"] == {
        "ToAddresses": ["info@dupuis.test"],
        "BccAddresses": ["archive@fidu.test"],
    }
    [received] = ses.mails
    mail = received.message
    assert mail["Message-ID"] == message.message_id
    assert mail["X-Courrier-Message"] == str(message.pk)
    assert json.loads(mail["X-Metadata"]) == {"courrier_message": str(message.pk)}
    assert mail["Bcc"] is None
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content() == PDF


def test_ses_unverified_sender_holds_the_profile(
    ses: FakeSES,
    ses_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    ses.verified_identities = {"factures@fidu.test"}
    assert deliver_one(make_message(ses_profile)).status == Status.HELD
    ses_profile.refresh_from_db()
    assert "n'est pas vérifié" in ses_profile.state_reason


def test_ses_wrong_keys_hold_and_server_errors_retry(
    ses: FakeSES,
    ses_profile: SendingProfile,
    make_message: Callable[..., OutboundMessage],
) -> None:
    ses.fail_next(500)
    message = deliver_one(make_message(ses_profile))
    assert message.status == Status.RETRY
    assert len(ses.requests) == 1  # boto3's own retries are off: the outbox retries
    ses.access_key_id = "AKIAOTHER"
    time_passes(message)
    assert deliver_one(message).status == Status.HELD


def test_ses_without_keys_is_held(
    make_profile: Callable[..., SendingProfile], make_message: Callable[..., OutboundMessage]
) -> None:
    profile = make_profile(method="ses", aws_access_key_id="", aws_secret_access_key="")
    assert deliver_one(make_message(profile)).status == Status.HELD


# -- Mailgun: its settings ----------------------------------------------------------------------


def test_mailgun_uses_the_profiles_domain_and_the_eu_host(
    make_profile: Callable[..., SendingProfile], settings: Any
) -> None:
    profile = make_profile(
        method="mailgun", api_key="key-1", mailgun_domain="mg.fidu.test", api_region="eu"
    )
    transport = transport_for(profile)
    assert isinstance(transport, MailgunTransport)
    options = transport.backend_options()
    assert options["api_url"] == settings.PROVIDER_URLS["MAILGUN_EU"]
    assert options["sender_domain"] == "mg.fidu.test"
    assert options["api_key"] == "key-1"
    profile.api_region = ""
    assert transport_for(profile).backend_options()["api_url"] == settings.PROVIDER_URLS["MAILGUN"]  # type: ignore[attr-defined]


def test_mailgun_without_domain_is_held(
    make_profile: Callable[..., SendingProfile], make_message: Callable[..., OutboundMessage]
) -> None:
    profile = make_profile(method="mailgun", api_key="key-1", mailgun_domain="")
    assert deliver_one(make_message(profile)).status == Status.HELD
    profile.refresh_from_db()
    assert "domaine Mailgun" in profile.state_reason


def test_ses_client_uses_the_profiles_keys_region_and_endpoint(
    make_profile: Callable[..., SendingProfile], settings: Any
) -> None:
    settings.PROVIDER_URLS = {**settings.PROVIDER_URLS, "SES_ENDPOINT": "http://127.0.0.1:9"}
    profile = make_profile(
        method="ses",
        aws_access_key_id="AKIA1",
        aws_secret_access_key="s",
        aws_region="eu-central-1",
    )
    params = SESTransport(profile).backend_options()["client_params"]
    assert params["aws_access_key_id"] == "AKIA1"
    assert params["region_name"] == "eu-central-1"
    assert params["endpoint_url"] == "http://127.0.0.1:9"
