"""A refused certificate is explained by its cause: a self-signed (or unknown) certificate, a
certificate for another name, an expired one, and a port that does not speak TLS each get
their own sentence, over SMTP, over IMAP and in the connection test. Real TLS servers on
127.0.0.1, with certificates made here; the client trusts the test CA, as a mail program
trusts the public authorities."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.utils import translation

from courrier.firm.models import Collaborator
from courrier.mailing.exceptions import MailingError, ProfileRejected
from courrier.mailing.models import SendingProfile
from courrier.mailing.services import profile_verify
from courrier.mailing.transports.imap import IMAPSession
from courrier.mailing.transports.smtp import SMTPTransport
from tests.fakes.imap import FakeIMAPServer
from tests.fakes.smtp import FakeSMTPServer, TestCA

SELF_SIGNED = "n'est pas signé par une autorité reconnue (certificat auto-signé"
OTHER_NAME = "a été délivré pour un autre nom"
EXPIRED = "a expiré : la connexion est refusée"
# Each case's sentence, and those it must not be confused with.
CASES = {
    "self_signed": (SELF_SIGNED, {"self_signed": True}),
    "wrong_name": (OTHER_NAME, {"names": ("mail.autre-domaine.test",)}),
    "expired": (EXPIRED, {"expired": True}),
}


def _ca(tmp_path: Path, case: str) -> TestCA:
    return TestCA(tmp_path / case, **CASES[case][1])  # type: ignore[arg-type]


def _smtp_error(profile: SendingProfile, ca: TestCA) -> MailingError:
    transport = SMTPTransport(profile, ssl_context=ca.client_context(), timeout=5)
    with pytest.raises(MailingError) as caught:
        transport.open()
    transport.close()
    return caught.value


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_smtp_says_why_the_certificate_was_refused(
    tmp_path: Path,
    make_smtp_server: Callable[..., FakeSMTPServer],
    make_profile: Callable[..., SendingProfile],
    case: str,
    mode: str,
) -> None:
    ca = _ca(tmp_path, case)
    server = make_smtp_server(tls=ca, **{"implicit_tls" if mode == "ssl" else "starttls": True})
    error = _smtp_error(make_profile(server=server), ca)

    assert isinstance(error, ProfileRejected)
    with translation.override("fr"):
        said = str(error.explanation)
    expected = CASES[case][0]
    assert expected in said
    assert [other for other, _ in CASES.values() if other != expected and other in said] == []
    assert "n'est pas valable pour ce nom" not in said  # the old catch-all sentence
    with translation.override("en"):
        english = str(error.explanation)
    assert "certificate of the server 127.0.0.1" in english
    assert "Le certificat" not in english


@pytest.mark.parametrize("case", list(CASES))
def test_imap_says_why_the_certificate_was_refused(
    tmp_path: Path, make_profile: Callable[..., SendingProfile], case: str
) -> None:
    ca = _ca(tmp_path, case)
    with FakeIMAPServer(tls=ca, implicit_tls=True) as imap:
        user, password = next(iter(imap.users.items()))
        profile = make_profile(
            imap_enabled=True,
            imap_host=imap.host,
            imap_port=imap.port,
            imap_security=imap.security,
            imap_username=user,
            imap_password=password,
        )
        with pytest.raises(ProfileRejected) as caught:
            IMAPSession(profile, ssl_context=ca.client_context(), timeout=5).open()
    with translation.override("fr"):
        assert CASES[case][0] in str(caught.value)


def test_a_port_that_does_not_speak_tls_is_a_settings_mismatch(
    smtp_server: FakeSMTPServer, make_profile: Callable[..., SendingProfile], test_ca: TestCA
) -> None:
    """SSL/TLS chosen on a plain SMTP port: the server's greeting is no TLS record."""
    profile = make_profile(server=smtp_server, smtp_security=SendingProfile.Security.SSL)
    error = _smtp_error(profile, test_ca)
    with translation.override("fr"):
        said = str(error)
    assert "ce port n'attend sans doute pas de SSL direct" in said
    assert "certificat" not in said


def test_the_connection_test_explains_a_self_signed_certificate(
    tmp_path: Path,
    make_smtp_server: Callable[..., FakeSMTPServer],
    make_profile: Callable[..., SendingProfile],
    collaborator: Collaborator,
) -> None:
    """Tester trusts what production trusts (the system's authorities): a self-signed
    certificate is said to be one, not to be "for another name"."""
    server = make_smtp_server(tls=_ca(tmp_path, "self_signed"), implicit_tls=True)
    profile = make_profile(server=server, collaborator=collaborator)
    # The diagnosis is an administrator's (a collaborator is told the server is out of reach).
    collaborator.role = Collaborator.Role.ADMIN
    with translation.override("fr"):
        test = profile_verify(
            profile=profile, requested_by=collaborator, recipient=collaborator.email
        )
        said = str(test.detail)
    assert not test.success
    assert SELF_SIGNED in said
    assert OTHER_NAME not in said
