"""Gmail from compose to the (fake) Gmail API on 127.0.0.1, over HTTPS with a test CA.

Mails go through the real outbox services; the fake speaks Google's token endpoint and Gmail's
send method. Each test checks what arrived, the message's row, and the profile's tokens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone

from courrier.clients.models import Client
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.exceptions import (
    DeliveryUncertain,
    NeedsReconnect,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.oauth import google as google_oauth
from courrier.mailing.services import (
    message_bytes,
    message_compose,
    messages_deliver,
    profile_updated,
    profile_verify,
)
from courrier.mailing.transports import gmail, transport_for
from courrier.mailing.transports.gmail import GmailTransport, with_blind_copies
from tests.compose_call import grouped
from tests.fakes.google import GMAIL_SEND, FakeGoogle, connected_profile
from tests.fakes.smtp import TestCA, free_port
from tests.mailing.test_postgres import postgres_database  # noqa: F401 (a fixture)

Status = OutboundMessage.Status


@pytest.fixture
def google(test_ca: TestCA) -> Iterator[FakeGoogle]:
    with FakeGoogle(test_ca) as fake, fake.configured():
        yield fake


@pytest.fixture
def profile(google: FakeGoogle, make_profile: Callable[..., SendingProfile]) -> SendingProfile:
    return connected_profile(google, make_profile, account="anne@fidu.test")


@pytest.fixture
def sender(profile: SendingProfile) -> Collaborator:
    assert profile.collaborator is not None
    return profile.collaborator


@pytest.fixture
def customer(make_client: Callable[..., Client]) -> Client:
    return make_client(name="Boulangerie Dupuis", language="fr", emails=["info@dupuis.test"])


@pytest.fixture
def compose(
    sender: Collaborator, customer: Client, django_capture_on_commit_callbacks: Any
) -> Callable[..., OutboundMessage]:
    def compose(**overrides: Any) -> OutboundMessage:
        arguments: dict[str, Any] = {
            "sender": sender,
            "client": customer,
            "subject": "Votre dossier {NOMCLIENT}",
            "body": "Bonjour,\n\nVoici le point sur votre dossier.",
        }
        arguments.update(overrides)
        with django_capture_on_commit_callbacks(execute=False):
            return message_compose(**grouped(arguments))

    return compose


def deliver(profile: SendingProfile) -> None:
    messages_deliver(profile_id=profile.pk)


def reload(message: OutboundMessage) -> OutboundMessage:
    message.refresh_from_db()
    return message


def expire_locally(profile: SendingProfile) -> None:
    """The stored access token's time is up (it will be refreshed before the next send)."""
    SendingProfile.objects.filter(pk=profile.pk).update(
        oauth_expires_at=timezone.now() - timedelta(minutes=1)
    )


# -- sending ------------------------------------------------------------------------------------


def test_the_stored_bytes_arrive_with_the_firms_blind_copy(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    firm = Firm.load()
    firm.fixed_bcc = "archives@fidu.test"
    firm.save()
    message = compose()
    assert message.envelope_recipients == ["info@dupuis.test", "archives@fidu.test"]

    deliver(profile)

    message = reload(message)
    assert message.status == Status.SENT
    [sent] = google.sent
    assert message.provider_message_id == sent.id
    # Gmail delivers to the blind copy too, and recipients see exactly the stored message.
    assert sent.recipients == ["info@dupuis.test", "archives@fidu.test"]
    assert sent.delivered == message_bytes(message)
    assert sent.uploaded.startswith(b"Bcc: archives@fidu.test\r\n")
    received = sent.received.message
    assert received["Bcc"] is None
    assert received["Message-ID"] == message.message_id
    assert received["To"] == "info@dupuis.test"
    assert sent.account == "anne@fidu.test"
    assert sent.upload == "json"


def test_no_bcc_header_when_the_headers_name_every_recipient(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    message = compose()
    deliver(profile)
    [sent] = google.sent
    assert sent.uploaded == message_bytes(reload(message))
    assert sent.recipients == ["info@dupuis.test"]


def test_blind_copies_compare_addresses_without_case() -> None:
    raw = b"From: a@x.test\r\nTo: Info <INFO@Dupuis.test>\r\nCc: b@y.test\r\n\r\nHello\r\n"
    assert with_blind_copies(raw, ["info@dupuis.test", "b@y.test"]) == raw
    assert with_blind_copies(raw, ["info@dupuis.test", "c@z.test"]).startswith(b"Bcc: c@z.test\r\n")


def test_a_large_message_goes_as_a_media_upload(
    google: FakeGoogle,
    profile: SendingProfile,
    compose: Callable[..., OutboundMessage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gmail, "JSON_LIMIT", 100)
    message = compose()
    deliver(profile)
    [sent] = google.sent
    assert sent.upload == "media"
    assert sent.delivered == message_bytes(reload(message))


def test_connection_test_goes_through_gmail(
    google: FakeGoogle, profile: SendingProfile, sender: Collaborator
) -> None:
    test = profile_verify(profile=profile, requested_by=sender, recipient="anne@fidu.test")
    assert test.success, test.detail
    [sent] = google.sent
    assert sent.recipients == ["anne@fidu.test"]


# -- tokens -------------------------------------------------------------------------------------


def test_an_expired_access_token_is_refreshed_before_sending(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    old = profile.oauth_access_token
    expire_locally(profile)
    message = compose()
    deliver(profile)
    assert reload(message).status == Status.SENT
    assert google.refreshes() == 1
    assert google.send_requests == 1  # no 401 on the way
    profile.refresh_from_db()
    assert profile.oauth_access_token not in ("", old)
    assert profile.oauth_expires_at is not None
    assert profile.oauth_expires_at > timezone.now() + timedelta(minutes=30)


def test_401_refreshes_once_then_sends(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    old = profile.oauth_access_token
    google.expire_access_tokens()  # still "valid" for us, refused by Google
    message = compose()
    deliver(profile)
    message = reload(message)
    assert message.status == Status.SENT, message.last_error
    assert google.refreshes() == 1
    assert google.send_requests == 2
    profile.refresh_from_db()
    assert profile.oauth_access_token != old


def test_401_twice_needs_reconnecting(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    google.fail_next(401, times=2)
    message = compose()
    deliver(profile)
    message = reload(message)
    assert message.status == Status.HELD
    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.RECONNECT
    assert "reconnectez votre Gmail" in profile.state_reason


def test_a_rotated_refresh_token_is_saved_every_time(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    google.rotate = True
    first = profile.oauth_refresh_token
    expire_locally(profile)
    compose()
    deliver(profile)
    profile.refresh_from_db()
    second = profile.oauth_refresh_token
    assert second != first
    assert google.refresh_token_valid(second)
    assert not google.refresh_token_valid(first)

    # The next refresh works only with the saved token.
    expire_locally(profile)
    message = compose(subject="Deuxième")
    deliver(profile)
    assert reload(message).status == Status.SENT
    profile.refresh_from_db()
    assert profile.oauth_refresh_token not in (first, second)
    assert google.refresh_token_valid(profile.oauth_refresh_token)
    assert len(google.sent) == 2


def test_a_second_worker_uses_the_token_the_first_one_refreshed(
    google: FakeGoogle, profile: SendingProfile
) -> None:
    google.rotate = True
    expire_locally(profile)
    worker_a = SendingProfile.objects.get(pk=profile.pk)
    worker_b = SendingProfile.objects.get(pk=profile.pk)
    token_b = google_oauth.access_token(worker_b)
    # Worker A read the row before B's refresh; under the lock it sees B's token instead of
    # spending the refresh token that B's rotation has already replaced.
    token_a = google_oauth.access_token(worker_a)
    assert token_a == token_b
    assert google.refreshes() == 1
    assert worker_a.oauth_refresh_token == worker_b.oauth_refresh_token
    assert google.refresh_token_valid(worker_a.oauth_refresh_token)


def test_a_refused_token_is_not_refreshed_twice(
    google: FakeGoogle, profile: SendingProfile
) -> None:
    refused = profile.oauth_access_token
    worker_a = SendingProfile.objects.get(pk=profile.pk)
    new = google_oauth.access_token(profile, refused=refused)
    assert new != refused
    # Another worker that met the same 401 finds the new token already there.
    assert google_oauth.access_token(worker_a, refused=refused) == new
    assert google.refreshes() == 1


def test_revoked_consent_holds_the_messages_until_reconnected(
    google: FakeGoogle,
    profile: SendingProfile,
    compose: Callable[..., OutboundMessage],
    django_capture_on_commit_callbacks: Any,
) -> None:
    first, second = compose(), compose(subject="Deuxième")
    google.revoke_all()
    expire_locally(profile)
    deliver(profile)

    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.RECONNECT
    assert "reconnectez votre Gmail" in profile.state_reason
    for message in (first, second):
        message = reload(message)
        assert message.status == Status.HELD
        assert "reconnectez votre Gmail" in message.last_error
    assert google.sent == []

    # Reconnected: new consent, tokens saved, the held messages resume and leave once.
    refresh, access, expires_in = google.grant(account="anne@fidu.test")
    SendingProfile.objects.filter(pk=profile.pk).update(
        oauth_refresh_token=refresh,
        oauth_access_token=access,
        oauth_expires_at=timezone.now() + timedelta(seconds=expires_in),
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert profile_updated(profile=profile) == 2
    deliver(profile)
    deliver(profile)
    assert [reload(m).status for m in (first, second)] == [Status.SENT, Status.SENT]
    assert len(google.sent) == 2
    assert {s.received.message["Message-ID"] for s in google.sent} == {
        first.message_id,
        second.message_id,
    }


def test_not_connected_profile_is_held_with_a_sentence(
    google: FakeGoogle, make_profile: Callable[..., SendingProfile]
) -> None:
    profile = make_profile(method="gmail", smtp_host="")
    with pytest.raises(NeedsReconnect, match="Connecter mon Gmail"):
        transport_for(profile).open()


@pytest.mark.parametrize("status", [500, 502, 503])
def test_token_endpoint_down_is_temporary(
    google: FakeGoogle, profile: SendingProfile, status: int
) -> None:
    expire_locally(profile)
    profile.refresh_from_db()
    google.fail_token(status, retry_after=60)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        transport_for(profile).open()
    # One try: the refresh holds the row's lock, the delivery's back-off does the retrying.
    assert time.monotonic() - started < 1
    assert google.refreshes() == 1
    assert "HTTP" not in caught.value.user_message
    assert "Server Error" in caught.value.detail
    assert caught.value.retry_after == 60
    profile.refresh_from_db()
    assert google.refresh_token_valid(profile.oauth_refresh_token)


def test_token_endpoint_garbage_is_temporary(google: FakeGoogle, profile: SendingProfile) -> None:
    expire_locally(profile)
    profile.refresh_from_db()
    google.fail_token(200, b"<html>captive portal</html>")
    with pytest.raises(TransientError) as caught:
        transport_for(profile).open()
    assert "captive portal" in caught.value.detail


def test_a_wrong_client_secret_rejects_the_profile(
    google: FakeGoogle, profile: SendingProfile, settings: Any
) -> None:
    settings.OAUTH = {**settings.OAUTH, "GOOGLE_CLIENT_SECRET": "wrong"}
    expire_locally(profile)
    profile.refresh_from_db()
    with pytest.raises(ProfileRejected) as caught:
        transport_for(profile).open()
    assert not isinstance(caught.value, NeedsReconnect)
    assert "administrateur" in caught.value.user_message


def test_token_endpoint_unreachable_is_temporary(
    google: FakeGoogle, profile: SendingProfile, settings: Any
) -> None:
    settings.OAUTH = {**settings.OAUTH, "GOOGLE_TOKEN_URI": f"https://127.0.0.1:{free_port()}/t"}
    expire_locally(profile)
    profile.refresh_from_db()
    with pytest.raises(TransientError):
        transport_for(profile).open()


def test_revoked_consent_while_sending(google: FakeGoogle, profile: SendingProfile) -> None:
    google.revoke_all()
    transport = transport_for(profile)
    transport.open()  # the stored access token looks valid until Gmail refuses it
    message = OutboundMessage(envelope_recipients=["x@y.test"], from_address="anne@fidu.test")
    message.raw_load(b"From: anne@fidu.test\r\nTo: x@y.test\r\nSubject: t\r\n\r\nHi\r\n")
    with pytest.raises(NeedsReconnect):
        transport.send(message)
    transport.close()


# -- what Gmail answers -------------------------------------------------------------------------


def test_429_with_retry_after_waits_at_least_that_long(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    google.fail_next(429, retry_after=120)
    message = compose()
    before = timezone.now()
    deliver(profile)
    message = reload(message)
    assert message.status == Status.RETRY
    assert message.next_attempt_at is not None
    assert message.next_attempt_at >= before + timedelta(seconds=120)
    assert "limite" in message.last_error


def test_429_with_googles_retry_info(google: FakeGoogle, profile: SendingProfile) -> None:
    google.fail_next_raw(
        429,
        b'{"error": {"code": 429, "message": "Too many concurrent requests for user",'
        b' "status": "RESOURCE_EXHAUSTED", "details": [{"@type":'
        b' "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "42s"}]}}',
        content_type="application/json",
    )
    with pytest.raises(TransientError) as caught, transport_for(profile) as transport:
        transport.send(_message())
    assert caught.value.retry_after == 42


def test_429_with_retry_after_in_the_message(google: FakeGoogle, profile: SendingProfile) -> None:
    when = (timezone.now() + timedelta(seconds=300)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    google.fail_next_raw(
        429,
        (
            '{"error": {"code": 429, "message": "User-rate limit exceeded.  Retry after '
            + when
            + '", "errors": [{"reason": "rateLimitExceeded"}]}}'
        ).encode(),
        content_type="application/json",
    )
    with pytest.raises(TransientError) as caught, transport_for(profile) as transport:
        transport.send(_message())
    assert caught.value.retry_after is not None
    assert 290 <= caught.value.retry_after <= 300


def test_403_rate_limit_is_temporary(google: FakeGoogle, profile: SendingProfile) -> None:
    google.fail_next_raw(
        403,
        b'{"error": {"code": 403, "message": "Daily Limit Exceeded",'
        b' "errors": [{"reason": "dailyLimitExceeded"}]}}',
        content_type="application/json",
    )
    with pytest.raises(TransientError), transport_for(profile) as transport:
        transport.send(_message())


def test_500_is_retried(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    google.fail_next(500)
    message = compose()
    deliver(profile)
    message = reload(message)
    assert message.status == Status.RETRY
    assert "Backend Error" in message.last_error
    message.next_attempt_at = timezone.now() - timedelta(seconds=1)
    message.save(update_fields=["next_attempt_at"])
    deliver(profile)
    assert reload(message).status == Status.SENT
    assert len(google.sent) == 1


def test_garbage_is_retried_with_the_detail(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    google.fail_next_raw(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    message = compose()
    deliver(profile)
    message = reload(message)
    assert message.status == Status.RETRY
    assert "illisible" in message.last_error
    assert "502 Bad Gateway" in message.last_error


def test_accepted_without_an_id_is_uncertain(google: FakeGoogle, profile: SendingProfile) -> None:
    google.fail_next_raw(200, b'{"labelIds": ["SENT"]}', content_type="application/json")
    with pytest.raises(DeliveryUncertain), transport_for(profile) as transport:
        transport.send(_message())


def test_invalid_recipient_fails_the_message(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    google.fail_next(400)
    message = compose()
    deliver(profile)
    message = reload(message)
    assert message.status == Status.FAILED
    assert "destinataire" in message.last_error
    assert "Invalid To header" in message.last_error
    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.OK


def test_missing_send_scope_needs_reconnecting(
    google: FakeGoogle, make_profile: Callable[..., SendingProfile]
) -> None:
    refresh, access, _expires = google.grant(scopes=["openid"])
    profile = connected_profile(
        google,
        make_profile,
        account="paul@fidu.test",
        oauth_refresh_token=refresh,
        oauth_access_token=access,
    )
    expected = pytest.raises(NeedsReconnect, match="Envoyer des e-mails en votre nom")
    with expected, transport_for(profile) as transport:
        transport.send(_message())


def test_gmail_not_enabled_rejects_the_profile(
    google: FakeGoogle, profile: SendingProfile, compose: Callable[..., OutboundMessage]
) -> None:
    google.fail_next_raw(
        400,
        b'{"error": {"code": 400, "message": "Mail service not enabled",'
        b' "errors": [{"reason": "failedPrecondition"}], "status": "FAILED_PRECONDITION"}}',
        content_type="application/json",
    )
    message = compose()
    deliver(profile)
    assert reload(message).status == Status.HELD
    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.BROKEN
    assert "Gmail activé" in profile.state_reason


def test_domain_policy_rejects_the_profile(google: FakeGoogle, profile: SendingProfile) -> None:
    google.fail_next(403)
    with pytest.raises(ProfileRejected) as caught, transport_for(profile) as transport:
        transport.send(_message())
    assert not isinstance(caught.value, NeedsReconnect)
    assert "Delegation denied" in caught.value.detail


def test_gmail_unreachable_is_temporary(
    google: FakeGoogle, profile: SendingProfile, settings: Any
) -> None:
    settings.OAUTH = {**settings.OAUTH, "GMAIL_API_URL": f"https://127.0.0.1:{free_port()}"}
    with pytest.raises(TransientError), transport_for(profile) as transport:
        transport.send(_message())


def test_one_session_per_transport(google: FakeGoogle, profile: SendingProfile) -> None:
    transport = GmailTransport(profile)
    assert not transport.is_open
    with transport:
        assert transport.is_open
        transport.send(_message())
        transport.send(_message())
    assert not transport.is_open
    assert len(google.sent) == 2


def _message() -> OutboundMessage:
    raw = (
        b"From: Anne Dupont <anne@fidu.test>\r\nTo: info@dupuis.test\r\n"
        b"Subject: Test\r\nMessage-ID: <t@fidu.test>\r\n\r\nBonjour\r\n"
    )
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["To"] == "info@dupuis.test"
    message = OutboundMessage(envelope_recipients=["info@dupuis.test"])
    message.raw_load(raw)
    return message


def test_scope_constant_matches_the_fake() -> None:
    assert google_oauth.GMAIL_SEND == GMAIL_SEND


# -- two workers refresh at once ----------------------------------------------------------------

SEED_PROFILE = """
import sys
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from courrier.firm.models import Collaborator
from courrier.mailing.models import SendingProfile

sender = Collaborator.objects.create_user(email="anne@fidu.test", password=None)
profile = SendingProfile.objects.create(
    collaborator=sender, method="gmail", from_address="anne@fidu.test",
    oauth_provider="google", oauth_account="anne@fidu.test", oauth_refresh_token=sys.argv[1],
    oauth_access_token="ya29.expired", oauth_expires_at=timezone.now() - timedelta(hours=1),
)
print(profile.pk)
"""

REFRESH_AT_ONCE = """
import json, sys, time
from pathlib import Path
import django
django.setup()
from courrier.mailing.models import SendingProfile
from courrier.mailing.oauth import access_token

profile = SendingProfile.objects.get(pk=int(sys.argv[1]))  # both read the expired token
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
token = access_token(profile)
print(json.dumps({"token": token, "refresh": profile.oauth_refresh_token}))
"""


def _refresh_at_once(database_url: str, tmp_path: Path, google: FakeGoogle) -> None:
    """Two processes find the same expired token at the same moment: one refreshes (slowly,
    with a rotation that kills the old refresh token), the other waits and uses the result."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COURRIER_", "DJANGO_", "DATABASE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="courrier.settings",
        DATABASE_URL=database_url,
        COURRIER_DATA_DIR=str(tmp_path / "data"),
        COURRIER_SECRET_KEY="refresh-test-" + "k" * 40,
        COURRIER_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        COURRIER_LOG_LEVEL="WARNING",
        COURRIER_GOOGLE_CLIENT_ID=google.client_id,
        COURRIER_GOOGLE_CLIENT_SECRET=google.client_secret,
        COURRIER_GOOGLE_TOKEN_URI=google.token_uri,
        REQUESTS_CA_BUNDLE=str(google.ca.ca_path),
    )

    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    run("-m", "courrier", "migrate", "--noinput", "-v", "0")
    refresh, _access, _expires = google.grant(account="anne@fidu.test")
    profile_id = run("-c", SEED_PROFILE, refresh)
    google.rotate = True
    google.token_delay = 0.5
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", REFRESH_AT_ONCE, profile_id, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(2.0)  # both have started and read the row
    go.touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert google.refreshes() == 1
    assert results[0]["token"] == results[1]["token"]
    assert results[0]["refresh"] == results[1]["refresh"] != refresh
    assert google.refresh_token_valid(results[0]["refresh"])


def test_two_processes_refresh_once_on_sqlite(tmp_path: Path, google: FakeGoogle) -> None:
    _refresh_at_once(f"sqlite:///{tmp_path / 'courrier.sqlite3'}", tmp_path, google)


@pytest.mark.postgres
def test_two_processes_refresh_once_on_postgresql(
    postgres_database: str,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    google: FakeGoogle,
) -> None:
    _refresh_at_once(postgres_database, tmp_path, google)
