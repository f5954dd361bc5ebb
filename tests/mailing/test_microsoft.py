"""Microsoft 365 against a fake Entra ID and Graph on 127.0.0.1 (HTTPS, test CA): connecting
through the pages, the token cache saved at every rotation, revoked consent and reconnection,
shared mailboxes, large attachments through upload sessions, and what each answer means.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from courrier.crypto import decrypt
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.exceptions import (
    ConfigurationError,
    DeliveryUncertain,
    NeedsReconnect,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.models import MessageContent, OutboundMessage, SendingProfile
from courrier.mailing.oauth import microsoft
from courrier.mailing.services import (
    Draft,
    message_bytes,
    message_compose,
    messages_deliver,
    profile_updated,
    profile_verify,
)
from courrier.mailing.transports import microsoft as graph
from courrier.mailing.transports import transport_for
from tests.fakes.microsoft import FakeMicrosoft, connect, microsoft_settings
from tests.fakes.smtp import TestCA
from tests.firm.factories import make_company

Status = OutboundMessage.Status
ANNE = "anne@fidu.test"
ARCHIVE = "archive@fidu.test"
RAW = (
    b"From: Anne Dupont <anne@fidu.test>\r\n"
    b"To: info@dupuis.test\r\n"
    b"Subject: Bilan 2026\r\n"
    b"Message-ID: <bilan-2026@fidu.test>\r\n"
    b"\r\n"
    b"Bonjour,\r\n"
)


@pytest.fixture
def fake(test_ca: TestCA) -> Iterator[FakeMicrosoft]:
    with FakeMicrosoft(tls=test_ca, user=ANNE) as server, microsoft_settings(server):
        yield server


@pytest.fixture
def owner(make_collaborator: Callable[..., Collaborator]) -> Collaborator:
    return make_collaborator(email=ANNE)


@pytest.fixture
def profile(
    fake: FakeMicrosoft, make_profile: Callable[..., SendingProfile], owner: Collaborator
) -> SendingProfile:
    """A Microsoft 365 profile chosen in the settings, not connected yet."""
    return make_profile(
        collaborator=owner, method="microsoft", from_name="Anne Dupont", from_address=ANNE
    )


@pytest.fixture
def connected(fake: FakeMicrosoft, profile: SendingProfile) -> SendingProfile:
    return connect(fake, profile)


def stored(
    *recipients: str, raw: bytes = RAW, sender: str = ANNE, message_id: str = ""
) -> OutboundMessage:
    """A message as the outbox holds it (the transport reads only these fields)."""
    message = OutboundMessage(
        envelope_recipients=list(recipients or ["info@dupuis.test"]),
        from_address=sender,
        message_id=message_id,
    )
    message.raw_load(raw)
    return message


def send(profile: SendingProfile, message: OutboundMessage | None = None) -> str:
    with transport_for(profile) as transport:
        return transport.send(message or stored())


def raw_column(profile: SendingProfile) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT oauth_token_cache FROM mailing_sendingprofile WHERE id = %s", [profile.pk]
        )
        return str(cursor.fetchone()[0])


def refresh_token_in(stored_cache: str) -> str:
    """The refresh token held by a stored (encrypted) msal cache."""
    cache = json.loads(decrypt(stored_cache))
    [entry] = cache["RefreshToken"].values()
    return str(entry["secret"])


def texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def compose(
    connected: SendingProfile, owner: Collaborator, make_client: Callable[..., Any], db: None
) -> Callable[..., OutboundMessage]:
    client = make_client(name="Boulangerie Dupuis", emails=["info@dupuis.test"])

    def compose(subject: str = "Votre dossier {NOMCLIENT}") -> OutboundMessage:
        return message_compose(
            sender=owner, client=client, draft=Draft(subject=subject, body="Bonjour {NOMCLIENT},")
        )

    return compose


def with_attachment(message: OutboundMessage, name: str, content: bytes) -> OutboundMessage:
    """The composed message with a file attached (compose has no attachments yet): the stored
    bytes are rebuilt once, as compose would, then stored."""
    parsed = BytesParser(policy=policy.SMTP).parsebytes(message_bytes(message))
    assert isinstance(parsed, EmailMessage)
    parsed.make_mixed()
    parsed.add_attachment(content, maintype="application", subtype="pdf", filename=name)
    raw = parsed.as_bytes(policy=policy.SMTP)
    MessageContent.objects.filter(message_id=message.pk).update(raw=raw)
    message.raw_load(raw)
    message.size = len(raw)
    message.save(update_fields=["size"])
    return message


# -- connecting -------------------------------------------------------------------------------


def test_connect_through_the_pages_stores_the_token_cache_encrypted(
    fake: FakeMicrosoft, profile: SendingProfile, owner: Collaborator, client: Browser
) -> None:
    client.force_login(owner)
    response = client.post(reverse("mailing:oauth_connect", args=[profile.pk]))
    assert response.status_code == 302
    consent_page = response["Location"]
    assert consent_page.startswith(fake.base_url + "/organizations/oauth2/v2.0/authorize?")
    assert "code_challenge_method=S256" in consent_page
    scopes = set(parse_qs(urlsplit(consent_page).query)["scope"][0].split())
    assert {"Mail.Send", "User.Read", "offline_access", "openid"} <= scopes

    back = urlsplit(fake.consent_redirect(consent_page))
    assert back.path == reverse("mailing:oauth_callback_microsoft")
    response = client.get(f"{back.path}?{back.query}")

    assert response.status_code == 302
    assert any("Boîte mail connectée : anne@fidu.test" in text for text in texts(response))
    profile.refresh_from_db()
    assert profile.oauth_provider == "microsoft"
    assert profile.oauth_account == ANNE
    assert profile.state == SendingProfile.State.OK
    assert profile.oauth_connected_at is not None
    assert set(profile.oauth_scopes.split()) >= {"Mail.Send", "User.Read"}
    # The cache is stored encrypted and holds the refresh token Microsoft handed out.
    stored_cache = raw_column(profile)
    assert stored_cache.startswith("fernet:")
    assert refresh_token_in(stored_cache) in fake.refresh_tokens
    assert refresh_token_in(stored_cache) not in stored_cache
    assert fake.token_grants == ["authorization_code"]


def test_a_callback_that_is_not_ours_changes_nothing(
    fake: FakeMicrosoft, profile: SendingProfile
) -> None:
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    from django.http import QueryDict

    session = SessionStore()
    redirect_uri = "https://courrier.test/courrier/oauth/microsoft/callback/"
    url = microsoft.authorization_url(profile=profile, redirect_uri=redirect_uri, session=session)
    answer = fake.consent(url)

    forged = QueryDict(mutable=True)
    forged.update({**answer, "state": "pas-le-bon-etat"})
    with pytest.raises(ConfigurationError, match="aucune connexion en cours"):
        microsoft.complete(redirect_uri=redirect_uri, session=session, query=forged)

    genuine = QueryDict(mutable=True)
    genuine.update(answer)
    microsoft.complete(redirect_uri=redirect_uri, session=session, query=genuine)
    # The same answer a second time (replayed) finds nothing to complete.
    with pytest.raises(ConfigurationError, match="aucune connexion en cours"):
        microsoft.complete(redirect_uri=redirect_uri, session=session, query=genuine)
    assert fake.token_grants == ["authorization_code"]


def test_refused_consent_is_told_and_nothing_is_stored(
    fake: FakeMicrosoft, profile: SendingProfile
) -> None:
    fake.deny_next_consent = True
    with pytest.raises(ConfigurationError, match="annulée"):
        connect(fake, profile)
    profile.refresh_from_db()
    assert profile.oauth_token_cache == ""
    assert profile.oauth_provider == ""


def test_without_the_firms_application_the_connection_says_what_is_missing(
    fake: FakeMicrosoft, profile: SendingProfile, settings: Any
) -> None:
    settings.OAUTH = {**settings.OAUTH, "MICROSOFT_CLIENT_SECRET": ""}
    with pytest.raises(ConfigurationError) as refused:
        connect(fake, profile)
    # Read by a collaborator: plain words, no environment variable.
    assert str(refused.value) == (
        "L'envoi par Microsoft 365 n'est pas encore activé pour le cabinet : demandez à "
        "l'administrateur du cabinet de l'activer."
    )


# -- tokens -----------------------------------------------------------------------------------


def test_every_refresh_saves_the_rotated_refresh_token(
    fake: FakeMicrosoft, profile: SendingProfile
) -> None:
    # Tokens shorter-lived than msal's 5-minute margin: every use refreshes.
    fake.access_token_lifetime = 60
    connected = connect(fake, profile)
    seen_caches = {raw_column(connected)}
    tokens = set()
    for _ in range(3):
        # A fresh copy of the row each time, as another worker would have.
        worker_copy = SendingProfile.objects.get(pk=connected.pk)
        tokens.add(microsoft.access_token(worker_copy))
        stored_cache = raw_column(connected)
        assert stored_cache not in seen_caches
        seen_caches.add(stored_cache)
        # What is saved is the one refresh token the fake still accepts.
        assert list(fake.refresh_tokens) == [refresh_token_in(stored_cache)]
    assert len(tokens) == 3
    assert fake.token_grants == ["authorization_code"] + ["refresh_token"] * 3


def test_a_valid_token_is_taken_from_the_cache_without_asking_microsoft(
    fake: FakeMicrosoft, connected: SendingProfile
) -> None:
    first = microsoft.access_token(connected)
    assert microsoft.access_token(connected) == first
    assert fake.token_grants == ["authorization_code"]
    # Refused by an API: a new one, and the refused one is never handed out again.
    second = microsoft.access_token(connected, refused=first)
    assert second != first
    assert fake.token_grants == ["authorization_code", "refresh_token"]


def test_a_revoked_consent_needs_reconnecting(fake: FakeMicrosoft, profile: SendingProfile) -> None:
    fake.access_token_lifetime = 60
    connected = connect(fake, profile)
    microsoft.access_token(connected)
    fake.revoke()
    with pytest.raises(NeedsReconnect) as caught:
        microsoft.access_token(connected)
    assert "reconnectez" in caught.value.user_message
    assert "AADSTS50173" in caught.value.detail


def test_microsoft_unreachable_or_failing_is_temporary(
    fake: FakeMicrosoft, profile: SendingProfile
) -> None:
    fake.access_token_lifetime = 60
    connected = connect(fake, profile)
    microsoft.access_token(connected)
    fake.fail_token_next(503)
    with pytest.raises(TransientError):
        microsoft.access_token(connected)
    fake.fail_token_next(400, error="temporarily_unavailable")
    with pytest.raises(TransientError):
        microsoft.access_token(connected)
    # Nothing was lost meanwhile: the saved refresh token still works.
    assert microsoft.access_token(connected)


def test_a_refused_application_secret_is_for_the_administrator(
    fake: FakeMicrosoft, profile: SendingProfile, settings: Any
) -> None:
    fake.access_token_lifetime = 60
    connected = connect(fake, profile)
    microsoft.access_token(connected)
    settings.OAUTH = {**settings.OAUTH, "MICROSOFT_CLIENT_SECRET": "un-ancien-secret"}
    with pytest.raises(ProfileRejected, match="secret client") as caught:
        microsoft.access_token(connected)
    assert not isinstance(caught.value, NeedsReconnect)


def test_a_profile_never_connected_needs_connecting(profile: SendingProfile) -> None:
    with pytest.raises(NeedsReconnect, match="Connecter Microsoft 365"):
        send(profile)


def test_disconnect_through_the_page_forgets_the_tokens(
    fake: FakeMicrosoft, connected: SendingProfile, owner: Collaborator, client: Browser
) -> None:
    client.force_login(owner)
    response = client.post(reverse("mailing:oauth_disconnect", args=[connected.pk]))
    assert response.status_code == 302
    connected.refresh_from_db()
    assert connected.oauth_token_cache == ""
    assert connected.state == SendingProfile.State.RECONNECT
    with pytest.raises(NeedsReconnect):
        send(connected)


# -- sending ----------------------------------------------------------------------------------


def test_the_stored_bytes_go_to_send_mail_with_the_envelope_only_bcc_as_a_header(
    fake: FakeMicrosoft, connected: SendingProfile
) -> None:
    answer = send(connected, stored("info@dupuis.test", ARCHIVE))

    assert answer.splitlines()[0] == "<bilan-2026@fidu.test>"
    assert "202" in answer
    [sent] = fake.sent
    assert sent.mailbox == "me"
    assert sent.mime == b"Bcc: archive@fidu.test\r\n" + RAW
    assert sorted(sent.recipients) == [ARCHIVE, "info@dupuis.test"]
    assert sent.message["Bcc"] is None


def test_a_composed_mail_is_delivered_and_archived_as_sent(
    fake: FakeMicrosoft, compose: Callable[..., OutboundMessage]
) -> None:
    firm = Firm.load()
    firm.fixed_bcc = ARCHIVE
    firm.save()
    message = compose()
    report = messages_deliver(profile_id=message.profile_id)

    assert report.sent == 1
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.provider_message_id == message.message_id
    [sent] = fake.sent
    assert sent.mime == b"Bcc: archive@fidu.test\r\n" + message_bytes(message)


def test_shared_mailbox_of_a_billing_company_sends_through_its_users_path(
    fake: FakeMicrosoft, make_profile: Callable[..., SendingProfile]
) -> None:
    fake.shared_mailboxes["factures@fidu.test"] = {ANNE}
    company_profile = make_profile(
        billing_company=make_company(),
        method="microsoft",
        microsoft_mailbox="factures@fidu.test",
        from_name="Fiduciaire Dubois",
        from_address="factures@fidu.test",
    )
    connect(fake, company_profile)
    company_profile.refresh_from_db()
    assert company_profile.oauth_account == ANNE
    assert "Mail.Send.Shared" in company_profile.oauth_scopes.split()

    raw = RAW.replace(b"Anne Dupont <anne@fidu.test>", b"Fiduciaire Dubois <factures@fidu.test>")
    send(company_profile, stored(raw=raw, sender="factures@fidu.test"))
    [sent] = fake.sent
    assert sent.mailbox == "factures@fidu.test"
    assert sent.account == ANNE
    assert sent.message["From"].addresses[0].addr_spec == "factures@fidu.test"


def test_shared_mailbox_without_rights_is_the_profiles_fault(
    fake: FakeMicrosoft, make_profile: Callable[..., SendingProfile]
) -> None:
    fake.shared_mailboxes["factures@fidu.test"] = {"marc@fidu.test"}
    company_profile = connect(
        fake,
        make_profile(
            billing_company=make_company(),
            method="microsoft",
            microsoft_mailbox="factures@fidu.test",
            from_address="factures@fidu.test",
        ),
    )
    with pytest.raises(ProfileRejected, match="n'en a pas le droit"):
        send(company_profile, stored(sender="factures@fidu.test"))
    assert fake.sent == []


def test_a_from_address_the_account_may_not_use_is_the_profiles_fault(
    fake: FakeMicrosoft, make_profile: Callable[..., SendingProfile], owner: Collaborator
) -> None:
    other = connect(
        fake,
        make_profile(collaborator=owner, method="microsoft", from_address="direction@fidu.test"),
    )
    raw = RAW.replace(b"anne@fidu.test", b"direction@fidu.test")
    with pytest.raises(ProfileRejected, match=r"envoyer au nom de direction@fidu\.test") as caught:
        send(other, stored(raw=raw, sender="direction@fidu.test"))
    assert "ErrorSendAsDenied" in caught.value.detail
    # Once the account is given "Send As", the same message goes.
    fake.send_as[ANNE] = {"direction@fidu.test"}
    send(other, stored(raw=raw, sender="direction@fidu.test"))
    assert len(fake.sent) == 1


def test_an_unknown_recipient_fails_this_message_only(
    fake: FakeMicrosoft, connected: SendingProfile
) -> None:
    fake.unknown_recipients.add("info@dupuis.test")
    with pytest.raises(PermanentError, match="destinataire") as caught:
        send(connected)
    assert "ErrorInvalidRecipients" in caught.value.detail


def test_an_expired_token_is_refreshed_once_and_the_message_goes(
    fake: FakeMicrosoft, connected: SendingProfile
) -> None:
    fake.fail_next(401)
    send(connected)
    assert len(fake.sent) == 1
    assert fake.token_grants == ["authorization_code", "refresh_token"]


def test_a_token_refused_twice_needs_reconnecting(
    fake: FakeMicrosoft, connected: SendingProfile
) -> None:
    fake.fail_next(401, times=2)
    with pytest.raises(NeedsReconnect):
        send(connected)
    assert fake.sent == []


@pytest.mark.parametrize(("status", "retry_after"), [(429, 120), (503, 30), (500, None)])
def test_busy_or_failing_graph_is_temporary_with_its_delay(
    fake: FakeMicrosoft, connected: SendingProfile, status: int, retry_after: int | None
) -> None:
    fake.fail_next(status, retry_after=retry_after)
    with pytest.raises(TransientError) as caught:
        send(connected)
    assert caught.value.retry_after == retry_after
    assert str(status) in caught.value.detail


def test_an_answer_that_is_not_graphs_is_temporary_with_what_came_back(
    fake: FakeMicrosoft, connected: SendingProfile
) -> None:
    fake.answer_next(400, b"<html><body>Request Rejected by the proxy</body></html>")
    with pytest.raises(TransientError) as caught:
        send(connected)
    assert "Request Rejected by the proxy" in caught.value.detail


def test_a_connection_broken_after_the_request_makes_the_message_uncertain(
    fake: FakeMicrosoft, connected: SendingProfile
) -> None:
    fake.garbage_next()
    with pytest.raises(DeliveryUncertain):
        send(connected)


def test_revoked_consent_holds_the_messages_then_reconnecting_sends_each_once(
    fake: FakeMicrosoft, compose: Callable[..., OutboundMessage], owner: Collaborator
) -> None:
    first, second = compose(), compose("Deuxième {NOMCLIENT}")
    fake.revoke()
    report = messages_deliver(profile_id=first.profile_id)

    assert report.held == 2
    profile = SendingProfile.objects.get(pk=first.profile_id)
    assert profile.state == SendingProfile.State.RECONNECT
    assert "reconnectez" in profile.state_reason
    for message in (first, second):
        message.refresh_from_db()
        assert message.status == Status.HELD
        assert "reconnectez" in message.last_error
    assert messages_deliver(profile_id=profile.pk).claimed == 0

    connect(fake, profile)
    assert profile_updated(profile=profile) == 2
    messages_deliver(profile_id=profile.pk)
    messages_deliver(profile_id=profile.pk)
    assert sorted(str(s.message["Subject"]) for s in fake.sent) == [
        "Deuxième Boulangerie Dupuis SRL",
        "Votre dossier Boulangerie Dupuis SRL",
    ]
    for message in (first, second):
        message.refresh_from_db()
        assert message.status == Status.SENT


def test_a_retry_after_is_honoured_by_delivery(
    fake: FakeMicrosoft, compose: Callable[..., OutboundMessage]
) -> None:
    message = compose()
    fake.fail_next(429, retry_after=300)
    before = timezone.now()
    messages_deliver(profile_id=message.profile_id)
    message.refresh_from_db()
    assert message.status == Status.RETRY
    assert message.next_attempt_at is not None
    assert message.next_attempt_at >= before + timedelta(seconds=300)


def test_the_connection_test_sends_a_real_mail_through_graph(
    fake: FakeMicrosoft, connected: SendingProfile, owner: Collaborator
) -> None:
    test = profile_verify(profile=connected, requested_by=owner, recipient=ANNE)
    assert test.success, test.detail
    [sent] = fake.sent
    assert sent.recipients == [ANNE]


# -- large messages ---------------------------------------------------------------------------


def test_a_5_mb_attachment_goes_through_an_upload_session_and_arrives_identical(
    fake: FakeMicrosoft, compose: Callable[..., OutboundMessage]
) -> None:
    firm = Firm.load()
    firm.fixed_bcc = ARCHIVE
    firm.save()
    content = os.urandom(5 * 1024 * 1024)
    message = with_attachment(compose(), "bilan-2026.pdf", content)

    report = messages_deliver(profile_id=message.profile_id)

    assert report.sent == 1, OutboundMessage.objects.get(pk=message.pk).last_error
    [sent] = fake.sent
    assert sent.mime is None and sent.draft is not None
    assert sent.attachments == {"bilan-2026.pdf": content}
    # In chunks of 12 x 320 KiB, the last one shorter.
    assert [end - start + 1 for start, end, _total in fake.upload_ranges] == [
        3_932_160,
        len(content) - 3_932_160,
    ]
    assert sent.draft["internetMessageId"] == message.message_id
    assert [r["emailAddress"]["address"] for r in sent.draft["bccRecipients"]] == [ARCHIVE]
    assert sorted(sent.recipients) == [ARCHIVE, "info@dupuis.test"]
    received = sent.message
    assert received["Message-ID"] == message.message_id
    assert received["Subject"] == "Votre dossier Boulangerie Dupuis SRL"
    assert "Boulangerie Dupuis SRL" in received.get_body(("html",)).get_content()  # type: ignore[union-attr]
    [attachment] = list(received.iter_attachments())
    assert attachment.get_payload(decode=True) == content
    assert fake.drafts == {}
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.provider_message_id == message.message_id


def test_a_medium_attachment_is_posted_with_its_draft(
    fake: FakeMicrosoft,
    compose: Callable[..., OutboundMessage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Graph's limit made small: the message (a 76 KiB file, base64 twice over) is then too
    # large for sendMail while the file alone fits in one request.
    monkeypatch.setattr(graph, "MAX_REQUEST_BYTES", 128 * 1024)
    content = os.urandom(76 * 1024)
    message = with_attachment(compose(), "note.pdf", content)
    messages_deliver(profile_id=message.profile_id)

    [sent] = fake.sent
    assert sent.draft is not None
    assert sent.attachments == {"note.pdf": content}
    assert fake.upload_ranges == []


def test_a_large_message_that_fails_leaves_no_draft_behind(
    fake: FakeMicrosoft, compose: Callable[..., OutboundMessage]
) -> None:
    message = with_attachment(compose(), "bilan.pdf", os.urandom(4 * 1024 * 1024))
    fake.fail_next(503, retry_after=60)
    messages_deliver(profile_id=message.profile_id)

    message.refresh_from_db()
    assert message.status == Status.RETRY
    assert fake.sent == []
    assert fake.drafts == {}


def test_base64_size_is_what_graph_counts() -> None:
    assert graph.base64_size(3) == 4
    assert graph.base64_size(4) == 8
    assert graph.base64_size(3 * 1024 * 1024) == 4 * 1024 * 1024
    assert len(base64.b64encode(b"x" * 1000)) == graph.base64_size(1000)
