"""Delivery-event webhooks: each profile's address, its own secret, signatures checked, replays
ignored, and the message showing what matters most. Posted through Django's test client, as a
provider would post them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client as HTTPClient

from courrier.firm.models import Firm
from courrier.mailing.models import DeliveryEvent, DeliveryStatus, OutboundMessage, SendingProfile
from courrier.mailing.services import profile_webhook
from courrier.mailing.services.contents import contents_store

Status = OutboundMessage.Status


@pytest.fixture
def http() -> HTTPClient:
    return HTTPClient()


@pytest.fixture
def make_sent(db: None) -> Callable[..., OutboundMessage]:
    """A message the provider took: sent, with the provider's id."""

    def make(profile: SendingProfile, *, provider_message_id: str = "", **fields: Any) -> Any:
        values: dict[str, Any] = {
            "profile": profile,
            "sender": profile.collaborator,
            "language": "fr",
            "message_id": f"<{time.monotonic_ns()}@fidu.test>",
            "subject": "Votre dossier",
            "from_address": profile.from_address,
            "to": ["info@dupuis.test"],
            "envelope_recipients": ["info@dupuis.test", "archive@fidu.test"],
            "status": Status.SENT,
            "provider_message_id": provider_message_id,
        }
        values.update(fields)
        message = OutboundMessage.objects.create(**values)
        contents_store([(message, b"Subject: x\r\n\r\nx\r\n")])
        return message

    return make


def webhook_url(profile: SendingProfile) -> str:
    path, _hint = profile_webhook(profile=profile)
    return path


# -- the address ------------------------------------------------------------------------------


def test_each_profile_gets_its_own_address_once(make_profile: Callable[..., SendingProfile]):
    first = make_profile(method="sendgrid")
    second = make_profile(method="postmark")
    path, hint = profile_webhook(profile=first)
    assert path.startswith("/courrier/webhooks/") and path.endswith("/")
    assert "Verification Key" in hint
    assert profile_webhook(profile=first)[0] == path
    first.refresh_from_db()
    assert first.webhook_token and first.webhook_token in path
    assert profile_webhook(profile=second)[0] != path
    assert "identifiant:motdepasse" in profile_webhook(profile=second)[1]


def test_unknown_token_is_404(http: HTTPClient, db: None) -> None:
    response = http.post("/courrier/webhooks/nope/", data="[]", content_type="application/json")
    assert response.status_code == 404


def test_a_method_without_events_is_404(
    http: HTTPClient, make_profile: Callable[..., SendingProfile]
) -> None:
    profile = make_profile(method="smtp")
    response = http.post(webhook_url(profile), data="[]", content_type="application/json")
    assert response.status_code == 404


def test_get_is_not_allowed(http: HTTPClient, make_profile: Callable[..., SendingProfile]) -> None:
    profile = make_profile(method="sendgrid", webhook_secret="x")
    assert http.get(webhook_url(profile)).status_code == 405


# -- SendGrid: signed events --------------------------------------------------------------------


class SendGridSigner:
    """Signs like SendGrid's Signed Event Webhook: ECDSA P-256 over timestamp + body."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def verification_key(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    def headers(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }


@pytest.fixture
def signer() -> SendGridSigner:
    return SendGridSigner()


@pytest.fixture
def sendgrid_profile(
    make_profile: Callable[..., SendingProfile], signer: SendGridSigner
) -> SendingProfile:
    return make_profile(method="sendgrid", api_key="SG.x", webhook_secret=signer.verification_key)


def sg_event(message: OutboundMessage | None, event: str, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "email": "info@dupuis.test",
        "timestamp": int(time.time()),
        "event": event,
        "sg_event_id": f"ev-{event}-{time.monotonic_ns()}",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
    }
    if message is not None:
        item["courrier_message"] = str(message.pk)
    item.update(fields)
    return item


def post_signed(
    http: HTTPClient,
    profile: SendingProfile,
    signer: SendGridSigner,
    items: list[dict[str, Any]],
    **options: Any,
) -> Any:
    body = json.dumps(items).encode()
    return http.post(
        webhook_url(profile),
        data=body,
        content_type="application/json",
        headers=signer.headers(body, **options),
    )


def test_sendgrid_delivered_then_bounced_shows_the_bounce(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    signer: SendGridSigner,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(sendgrid_profile)
    response = post_signed(http, sendgrid_profile, signer, [sg_event(message, "delivered")])
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED
    assert message.delivery_at is not None

    bounce = sg_event(
        message, "bounce", reason="550 5.1.1 The email account does not exist", type="bounce"
    )
    assert post_signed(http, sendgrid_profile, signer, [bounce]).status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.BOUNCED
    assert "info@dupuis.test" in message.delivery_detail
    assert "550 5.1.1" in message.delivery_detail
    assert [e.kind for e in message.events.all()] == ["delivered", "bounced"]


def test_sendgrid_a_late_deferral_does_not_undo_delivered(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    signer: SendGridSigner,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(sendgrid_profile)
    now = int(time.time())
    items = [
        sg_event(message, "delivered", timestamp=now),
        sg_event(message, "deferred", timestamp=now + 5, response="451 try later", attempt="2"),
    ]
    assert post_signed(http, sendgrid_profile, signer, items).status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED
    assert message.events.count() == 2


def test_sendgrid_events_without_our_id_find_the_message_by_sendgrids_id(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    signer: SendGridSigner,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(sendgrid_profile, provider_message_id="14c5d75ce93.dfd.64b469")
    assert (
        post_signed(http, sendgrid_profile, signer, [sg_event(None, "dropped")]).status_code == 200
    )
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DROPPED


def test_sendgrid_replay_is_accepted_and_ignored(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    signer: SendGridSigner,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(sendgrid_profile)
    items = [sg_event(message, "delivered"), sg_event(message, "spamreport")]
    body = json.dumps(items).encode()
    headers = signer.headers(body)
    for _ in range(2):
        response = http.post(
            webhook_url(sendgrid_profile),
            data=body,
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == 200
    assert DeliveryEvent.objects.filter(profile=sendgrid_profile).count() == 2
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.COMPLAINED


def test_sendgrid_tampered_body_is_403_and_changes_nothing(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    signer: SendGridSigner,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(sendgrid_profile)
    signed = json.dumps([sg_event(message, "delivered")]).encode()
    forged = json.dumps([sg_event(message, "bounce")]).encode()
    response = http.post(
        webhook_url(sendgrid_profile),
        data=forged,
        content_type="application/json",
        headers=signer.headers(signed),
    )
    assert response.status_code == 403
    assert DeliveryEvent.objects.count() == 0
    message.refresh_from_db()
    assert message.delivery_status == ""


def test_sendgrid_another_key_is_403(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(sendgrid_profile)
    impostor = SendGridSigner()
    assert (
        post_signed(http, sendgrid_profile, impostor, [sg_event(message, "bounce")]).status_code
        == 403
    )


def test_sendgrid_stale_timestamp_is_403(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    signer: SendGridSigner,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(sendgrid_profile)
    old = int(time.time()) - 11 * 60
    response = post_signed(
        http, sendgrid_profile, signer, [sg_event(message, "delivered")], timestamp=old
    )
    assert response.status_code == 403
    assert b"Stale" in response.content


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Twilio-Email-Event-Webhook-Signature": "not base64!"},
        {
            "X-Twilio-Email-Event-Webhook-Signature": "AAAA",
            "X-Twilio-Email-Event-Webhook-Timestamp": "yesterday",
        },
        {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(b"junk").decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(int(time.time())),
        },
    ],
)
def test_sendgrid_forged_signatures_are_403_never_500(
    http: HTTPClient, sendgrid_profile: SendingProfile, headers: dict[str, str]
) -> None:
    response = http.post(
        webhook_url(sendgrid_profile), data=b"[]", content_type="application/json", headers=headers
    )
    assert response.status_code == 403


@pytest.mark.parametrize("body", [b"not json", b'{"event": "delivered"}', b"\xff\xfe"])
def test_sendgrid_signed_garbage_is_400(
    http: HTTPClient, sendgrid_profile: SendingProfile, signer: SendGridSigner, body: bytes
) -> None:
    response = http.post(
        webhook_url(sendgrid_profile),
        data=body,
        content_type="application/json",
        headers=signer.headers(body),
    )
    assert response.status_code == 400


def test_sendgrid_signed_odd_items_never_500(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    signer: SendGridSigner,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(sendgrid_profile)
    items: list[Any] = [
        "string",
        {"event": "delivered"},
        {"event": "bounce", "courrier_message": "999999999999999999999999", "timestamp": "x"},
        {"event": "open", "courrier_message": {"nested": 1}, "email": "x" * 400},
        sg_event(message, "delivered", timestamp=10**20),
    ]
    assert post_signed(http, sendgrid_profile, signer, items).status_code == 200


def test_sendgrid_profile_without_key_refuses_everything(
    http: HTTPClient, make_profile: Callable[..., SendingProfile], signer: SendGridSigner
) -> None:
    profile = make_profile(method="sendgrid", webhook_secret="")
    assert post_signed(http, profile, signer, []).status_code == 403
    profile.webhook_secret = "bm90IGEga2V5"  # base64 of "not a key"
    profile.save()
    assert post_signed(http, profile, signer, []).status_code == 403


def test_another_profiles_message_is_not_touched(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    signer: SendGridSigner,
    make_profile: Callable[..., SendingProfile],
    make_sent: Callable[..., OutboundMessage],
) -> None:
    other = make_sent(make_profile(method="sendgrid"))
    post_signed(http, sendgrid_profile, signer, [sg_event(other, "bounce")])
    other.refresh_from_db()
    assert other.delivery_status == ""


def test_opens_count_only_when_the_firm_tracks_them(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    signer: SendGridSigner,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(sendgrid_profile)
    post_signed(http, sendgrid_profile, signer, [sg_event(message, "delivered")])
    post_signed(http, sendgrid_profile, signer, [sg_event(message, "open")])
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED
    assert not message.events.filter(kind=DeliveryStatus.OPENED).exists()

    firm = Firm.load()
    firm.track_opens = True
    firm.save()
    post_signed(http, sendgrid_profile, signer, [sg_event(message, "open")])
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.OPENED


def test_a_bounce_of_the_firms_blind_copy_is_kept_but_not_shown(
    http: HTTPClient,
    sendgrid_profile: SendingProfile,
    signer: SendGridSigner,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(sendgrid_profile)
    post_signed(
        http, sendgrid_profile, signer, [sg_event(message, "bounce", email="archive@fidu.test")]
    )
    message.refresh_from_db()
    assert message.delivery_status == ""
    assert message.events.get().recipient == "archive@fidu.test"


# -- Postmark and Brevo: basic auth, Mailgun: signed ---------------------------------------------


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.fixture
def postmark_profile(make_profile: Callable[..., SendingProfile]) -> SendingProfile:
    return make_profile(method="postmark", api_key="pm", webhook_secret="courrier:S3cret-pm")


def postmark_delivery(message: OutboundMessage) -> dict[str, Any]:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": "info@dupuis.test",
        "Tag": "",
        "DeliveredAt": datetime.now(UTC).isoformat(),
        "Details": "Test delivery webhook details",
        "Metadata": {"courrier_message": str(message.pk)},
    }


def test_postmark_delivery_with_the_right_credentials(
    http: HTTPClient,
    postmark_profile: SendingProfile,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(postmark_profile)
    body = json.dumps(postmark_delivery(message))
    response = http.post(
        webhook_url(postmark_profile),
        data=body,
        content_type="application/json",
        headers=basic("courrier:S3cret-pm"),
    )
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED

    # The same report again: accepted, ignored.
    again = http.post(
        webhook_url(postmark_profile),
        data=body,
        content_type="application/json",
        headers=basic("courrier:S3cret-pm"),
    )
    assert again.status_code == 200
    assert message.events.count() == 1


def test_postmark_bounce_found_by_postmarks_message_id(
    http: HTTPClient,
    postmark_profile: SendingProfile,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    postmark_id = "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
    message = make_sent(postmark_profile, provider_message_id=postmark_id)
    bounce = {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": postmark_id,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "info@dupuis.test",
        "BouncedAt": datetime.now(UTC).isoformat(),
        "Metadata": {},
    }
    response = http.post(
        webhook_url(postmark_profile),
        data=json.dumps(bounce),
        content_type="application/json",
        headers=basic("courrier:S3cret-pm"),
    )
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.BOUNCED
    assert "unable to deliver" in message.delivery_detail


def test_postmark_wrong_or_missing_credentials(
    http: HTTPClient,
    postmark_profile: SendingProfile,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(postmark_profile)
    body = json.dumps(postmark_delivery(message))
    url = webhook_url(postmark_profile)
    wrong = http.post(
        url, data=body, content_type="application/json", headers=basic("courrier:guess")
    )
    assert wrong.status_code == 403
    missing = http.post(url, data=body, content_type="application/json")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Basic")
    assert DeliveryEvent.objects.count() == 0


@pytest.mark.parametrize("body", ["not json", "[]", '{"RecordType": "Delivery"}', "{}"])
def test_postmark_authenticated_garbage_never_500(
    http: HTTPClient, postmark_profile: SendingProfile, body: str
) -> None:
    response = http.post(
        webhook_url(postmark_profile),
        data=body,
        content_type="application/json",
        headers=basic("courrier:S3cret-pm"),
    )
    assert response.status_code in (200, 400)


def test_basic_auth_profile_without_secret_refuses(
    http: HTTPClient, make_profile: Callable[..., SendingProfile]
) -> None:
    profile = make_profile(method="brevo", webhook_secret="")
    response = http.post(webhook_url(profile), data="{}", content_type="application/json")
    assert response.status_code == 403


def test_brevo_events_with_its_credentials(
    http: HTTPClient,
    make_profile: Callable[..., SendingProfile],
    make_sent: Callable[..., OutboundMessage],
) -> None:
    profile = make_profile(method="brevo", webhook_secret="brevo:Cle-Brevo-1")
    message = make_sent(profile, provider_message_id="<202611271200.1@smtp-relay.mailin.fr>")
    event = {
        "event": "hard_bounce",
        "email": "info@dupuis.test",
        "id": 123456,
        "date": "2026-11-27 12:00:00",
        "ts": 1795000000,
        "message-id": "<202611271200.1@smtp-relay.mailin.fr>",
        "ts_event": 1795000000,
        "subject": "Votre dossier",
        "reason": "550 unknown user",
        "X-Mailin-custom": json.dumps({"courrier_message": str(message.pk)}),
    }
    url = webhook_url(profile)
    ok = http.post(
        url,
        data=json.dumps(event),
        content_type="application/json",
        headers=basic("brevo:Cle-Brevo-1"),
    )
    assert ok.status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.BOUNCED
    assert "550 unknown user" in message.delivery_detail
    again = http.post(
        url,
        data=json.dumps(event),
        content_type="application/json",
        headers=basic("brevo:Cle-Brevo-1"),
    )
    assert again.status_code == 200
    assert message.events.count() == 1
    forged = http.post(
        url, data=json.dumps(event), content_type="application/json", headers=basic("brevo:guess")
    )
    assert forged.status_code == 403


def mailgun_body(key: str, message: OutboundMessage, *, token: str = "a" * 50) -> str:
    timestamp = str(int(time.time()))
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": {
                "event": "delivered",
                "timestamp": time.time(),
                "id": "CPgfbmQMTCKtHW6uIWtuVe",
                "recipient": "info@dupuis.test",
                "message": {"headers": {"message-id": "20261127.1@mg.fidu.test"}},
                "user-variables": {"courrier_message": str(message.pk)},
                "delivery-status": {"code": 250, "message": "OK", "description": ""},
            },
        }
    )


def test_mailgun_signed_with_the_profiles_key(
    http: HTTPClient,
    make_profile: Callable[..., SendingProfile],
    make_sent: Callable[..., OutboundMessage],
) -> None:
    profile = make_profile(method="mailgun", mailgun_domain="mg.fidu.test", webhook_secret="mg-key")
    message = make_sent(profile)
    url = webhook_url(profile)
    ok = http.post(url, data=mailgun_body("mg-key", message), content_type="application/json")
    assert ok.status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.DELIVERED
    forged = http.post(
        url,
        data=mailgun_body("another-key", message, token="b" * 50),
        content_type="application/json",
    )
    assert forged.status_code == 403
    assert message.events.count() == 1


def sns_notification(ses_event: dict[str, Any]) -> tuple[str, dict[str, str]]:
    sns_id = "d7f5c1a2-7cb6-5c33-9ae7-2f0b6a8c1e11"
    body = {
        "Type": "Notification",
        "MessageId": sns_id,
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:courrier-ses",
        "Message": json.dumps(ses_event),
        "Timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(body), {
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": sns_id,
    }


def test_ses_bounce_for_each_recipient_through_sns(
    http: HTTPClient,
    make_profile: Callable[..., SendingProfile],
    make_sent: Callable[..., OutboundMessage],
) -> None:
    profile = make_profile(method="ses", webhook_secret="sns:Cle-SNS-1")
    message = make_sent(profile, to=["info@dupuis.test", "gerant@dupuis.test"])
    body, headers = sns_notification(
        {
            "eventType": "Bounce",
            "mail": {
                "messageId": "0102abc-000000",
                "destination": ["info@dupuis.test", "gerant@dupuis.test"],
                "headers": [
                    {
                        "name": "X-Metadata",
                        "value": json.dumps({"courrier_message": str(message.pk)}),
                    }
                ],
            },
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [
                    {"emailAddress": "info@dupuis.test", "diagnosticCode": "smtp; 550 5.1.1"},
                    {"emailAddress": "gerant@dupuis.test", "diagnosticCode": "smtp; 550 5.1.1"},
                ],
            },
        }
    )
    url = webhook_url(profile)
    # Amazon SNS sends its credentials only when challenged.
    challenge = http.post(url, data=body, content_type="text/plain", headers=headers)
    assert challenge.status_code == 401
    authenticated = {**headers, **basic("sns:Cle-SNS-1")}
    for _ in range(2):  # the second one is a replay
        response = http.post(url, data=body, content_type="text/plain", headers=authenticated)
        assert response.status_code == 200
    assert sorted(message.events.values_list("recipient", flat=True)) == [
        "gerant@dupuis.test",
        "info@dupuis.test",
    ]
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.BOUNCED
    assert "Permanent: General" in message.delivery_detail
    forged = http.post(
        url, data=body, content_type="text/plain", headers={**headers, **basic("sns:guess")}
    )
    assert forged.status_code == 403


def test_a_date_without_offset_is_read_as_utc(
    http: HTTPClient,
    postmark_profile: SendingProfile,
    make_sent: Callable[..., OutboundMessage],
) -> None:
    message = make_sent(postmark_profile)
    first = postmark_delivery(message)
    second = {**postmark_delivery(message), "DeliveredAt": "2026-11-27T12:00:00", "Details": "2"}
    for event in (first, second):
        response = http.post(
            webhook_url(postmark_profile),
            data=json.dumps(event),
            content_type="application/json",
            headers=basic("courrier:S3cret-pm"),
        )
        assert response.status_code == 200
    assert message.events.count() == 2
    assert all(event.at.tzinfo is not None for event in message.events.all())
