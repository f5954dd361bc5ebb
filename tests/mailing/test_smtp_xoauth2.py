"""SMTP with OAuth2 (AUTH XOAUTH2), as Microsoft 365 offers on smtp.office365.com:587: an
aiosmtpd server with STARTTLS and the test CA checks each bearer token against the fake
Entra ID that issued it."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from courrier.firm.models import Collaborator
from courrier.mailing.exceptions import NeedsReconnect, ProfileRejected
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.transports import transport_for
from tests.fakes.microsoft import FakeMicrosoft, connect, microsoft_settings
from tests.fakes.smtp import FakeSMTPServer, TestCA

ANNE = "anne@fidu.test"
OUTLOOK = "https://outlook.office.com/"
RAW = (
    b"From: Anne Dupont <anne@fidu.test>\r\n"
    b"To: info@dupuis.test\r\n"
    b"Subject: Bilan 2026\r\n"
    b"Message-ID: <bilan-2026@fidu.test>\r\n"
    b"\r\n"
    b"Bonjour,\r\n"
)


class XOAuth2Server(FakeSMTPServer):
    """Offers only AUTH XOAUTH2 and asks the fake Microsoft whether each token is valid for
    SMTP.Send, like Exchange Online does."""

    def __init__(self, microsoft: FakeMicrosoft, **options: Any) -> None:
        # `auth` makes login required; no PLAIN or LOGIN, XOAUTH2 comes from auth_XOAUTH2.
        super().__init__(auth=("", ""), auth_mechanisms=(), **options)
        self.microsoft = microsoft
        self.refuse = 0  # refuse that many valid tokens (as after a policy change)
        self.attempts: list[str] = []  # the user= of every XOAUTH2 attempt

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = args[1] if len(args) > 1 else ""
        try:
            fields = base64.b64decode(blob, validate=True).decode().split("\x01")
        except (binascii.Error, UnicodeDecodeError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 Cannot decode")
        user = next((f[5:] for f in fields if f.startswith("user=")), "")
        token = next((f[12:] for f in fields if f.startswith("auth=Bearer ")), "")
        self.attempts.append(user)
        owner = self.microsoft.token_user(token, resource=OUTLOOK, scope="SMTP.Send")
        if owner == user.lower() and not self.refuse:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        self.refuse = max(0, self.refuse - 1)
        # XOAUTH2's refusal: the reason as a challenge, an empty answer, then 535.
        reason = {"status": "401", "schemes": "bearer", "scope": OUTLOOK + "SMTP.Send"}
        await server.challenge_auth(json.dumps(reason))
        # handled=False with a message: aiosmtpd answers it (else the client would hang).
        return AuthResult(
            success=False, handled=False, message="535 5.7.3 Authentication unsuccessful"
        )


@pytest.fixture
def microsoft(test_ca: TestCA) -> Iterator[FakeMicrosoft]:
    with FakeMicrosoft(tls=test_ca, user=ANNE) as fake, microsoft_settings(fake):
        yield fake


@pytest.fixture
def server(microsoft: FakeMicrosoft, test_ca: TestCA) -> Iterator[XOAuth2Server]:
    smtp = XOAuth2Server(microsoft, tls=test_ca, starttls=True, require_starttls=True)
    smtp.start()
    try:
        yield smtp
    finally:
        smtp.stop()


@pytest.fixture
def profile(
    microsoft: FakeMicrosoft,
    server: XOAuth2Server,
    make_profile: Callable[..., SendingProfile],
    make_collaborator: Callable[..., Collaborator],
) -> SendingProfile:
    """An SMTP profile with XOAUTH2 (like smtp.office365.com:587), connected to Microsoft."""
    created = make_profile(
        collaborator=make_collaborator(email=ANNE),
        server=server,
        smtp_username="",
        smtp_password="",
        smtp_auth=SendingProfile.SMTPAuth.XOAUTH2,
        from_name="Anne Dupont",
        from_address=ANNE,
    )
    return connect(microsoft, created)


def send(profile: SendingProfile, test_ca: TestCA) -> str:
    message = OutboundMessage(envelope_recipients=["info@dupuis.test"], from_address=ANNE)
    message.raw_load(RAW)
    with transport_for(profile, ssl_context=test_ca.client_context()) as transport:
        return transport.send(message)


def test_connecting_asks_for_smtp_send_on_exchange_not_graph(profile: SendingProfile) -> None:
    assert profile.oauth_provider == "microsoft"
    assert profile.oauth_account == ANNE
    assert profile.oauth_scopes.split()[0] == OUTLOOK + "SMTP.Send"
    assert "Mail.Send" not in profile.oauth_scopes.split()


def test_the_mail_goes_after_an_xoauth2_login_over_starttls(
    profile: SendingProfile, server: XOAuth2Server, test_ca: TestCA
) -> None:
    answer = send(profile, test_ca)

    assert answer.startswith("250 ")
    [received] = server.messages
    assert received.data == RAW
    assert received.tls
    assert received.authenticated_as == ANNE


def test_a_refused_token_is_replaced_once_and_the_mail_goes(
    profile: SendingProfile, server: XOAuth2Server, microsoft: FakeMicrosoft, test_ca: TestCA
) -> None:
    server.refuse = 1
    send(profile, test_ca)

    assert len(server.messages) == 1
    assert server.attempts == [ANNE, ANNE]
    assert microsoft.token_grants == ["authorization_code", "refresh_token"]


def test_refused_again_after_a_fresh_token_needs_reconnecting(
    profile: SendingProfile, server: XOAuth2Server, test_ca: TestCA
) -> None:
    server.refuse = 2
    with pytest.raises(NeedsReconnect) as caught:
        send(profile, test_ca)
    assert "535" in caught.value.detail
    assert "reconnectez" in caught.value.user_message
    assert server.messages == []


def test_revoked_consent_needs_reconnecting(
    profile: SendingProfile, server: XOAuth2Server, microsoft: FakeMicrosoft, test_ca: TestCA
) -> None:
    microsoft.revoke()
    with pytest.raises(NeedsReconnect) as caught:
        send(profile, test_ca)
    assert "AADSTS50173" in caught.value.detail
    # The server refused the old token once; the refresh was refused by Microsoft.
    assert server.attempts == [ANNE]
    assert server.messages == []


def test_a_server_without_xoauth2_is_told(
    microsoft: FakeMicrosoft,
    make_smtp_server: Callable[..., FakeSMTPServer],
    profile: SendingProfile,
    test_ca: TestCA,
) -> None:
    plain_only = make_smtp_server(auth=("anne", "secret"), tls=test_ca, starttls=True)
    profile.smtp_port = plain_only.port
    with pytest.raises(ProfileRejected, match="XOAUTH2"):
        send(profile, test_ca)
