"""The SMTP transport against a real SMTP server on 127.0.0.1: what arrives, and what each
failure is taken to mean (tried again, refused for good, or the profile to fix)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from courrier.mailing.exceptions import (
    DeliveryUncertain,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.transports import SMTPTransport, transport_for
from tests.fakes.smtp import FakeSMTPServer, SilentServer, TestCA, free_port

RAW = (
    b"From: Anne Dupont <anne@fidu.test>\r\n"
    b"To: info@dupuis.test\r\n"
    b"Subject: Bilan 2026\r\n"
    b"Message-ID: <bilan-2026@fidu.test>\r\n"
    b"\r\n"
    b"Bonjour,\r\n"
    b".une ligne qui commence par un point\r\n"
    b"\r\n"
    b"Anne\r\n"
)

ProfileFactory = Callable[..., SendingProfile]


def stored(*recipients: str, raw: bytes = RAW, sender: str = "anne@fidu.test") -> OutboundMessage:
    """A message as the outbox holds it (the transport reads only these fields)."""
    return OutboundMessage(
        raw=raw, envelope_recipients=list(recipients or ["info@dupuis.test"]), from_address=sender
    )


def test_relay_without_login_receives_the_stored_bytes_unchanged(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    profile = make_profile(server=smtp_server)
    with transport_for(profile) as transport:
        answer = transport.send(stored("info@dupuis.test", "compta@dupuis.test"))

    assert answer.startswith("250 ")
    [received] = smtp_server.messages
    assert received.data == RAW
    assert received.mail_from == "anne@fidu.test"
    assert received.rcpt_tos == ["info@dupuis.test", "compta@dupuis.test"]
    assert received.authenticated_as is None


def test_many_messages_share_one_connection(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    with transport_for(make_profile(server=smtp_server)) as transport:
        for _ in range(5):
            transport.send(stored())
    assert len(smtp_server.messages) == 5
    assert smtp_server.connections == 1


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_login_with_the_right_password(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: ProfileFactory, mechanism: str
) -> None:
    server = make_smtp_server(auth=("anne@fidu.test", "s3cret"), auth_mechanisms=[mechanism])
    with transport_for(make_profile(server=server)) as transport:
        transport.send(stored())
    assert server.messages[0].authenticated_as == "anne@fidu.test"


def test_wrong_password_is_the_profiles_fault_and_the_password_is_not_repeated(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: ProfileFactory
) -> None:
    server = make_smtp_server(auth=("anne@fidu.test", "s3cret"))
    profile = make_profile(server=server, smtp_password="Wr0ng-Passw0rd")
    with pytest.raises(ProfileRejected) as caught:
        transport_for(profile).open()
    assert "mot de passe" in caught.value.user_message
    assert "535" in caught.value.detail
    assert "Wr0ng-Passw0rd" not in caught.value.explanation
    assert server.messages == []


def test_login_set_but_server_offers_no_authentication(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    profile = make_profile(server=smtp_server, smtp_username="anne", smtp_password="pw")
    with pytest.raises(ProfileRejected) as caught:
        transport_for(profile).open()
    assert "authentification" in str(caught.value)
    assert "STARTTLS" in str(caught.value)


def test_server_requiring_authentication_from_a_login_less_profile(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: ProfileFactory
) -> None:
    server = make_smtp_server(auth=("anne", "pw"))
    profile = make_profile(server=server, smtp_username="", smtp_password="")
    with pytest.raises(ProfileRejected) as caught, transport_for(profile) as transport:
        transport.send(stored())
    assert "exige une authentification" in str(caught.value)
    assert caught.value.detail.startswith("530")


def test_username_without_password_is_refused_before_connecting(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    profile = make_profile(server=smtp_server, smtp_username="anne", smtp_password="")
    with pytest.raises(ProfileRejected, match="sans mot de passe"):
        transport_for(profile).open()
    assert smtp_server.connections == 0


def test_starttls_with_the_test_ca(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: ProfileFactory, test_ca: TestCA
) -> None:
    server = make_smtp_server(tls=test_ca, starttls=True, auth=("anne", "pw"))
    profile = make_profile(server=server)
    assert profile.smtp_security == SendingProfile.Security.STARTTLS
    with SMTPTransport(profile, ssl_context=test_ca.client_context()) as transport:
        transport.send(stored())
    [received] = server.messages
    assert received.tls
    assert received.authenticated_as == "anne"
    assert received.data == RAW


def test_implicit_ssl_with_the_test_ca(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: ProfileFactory, test_ca: TestCA
) -> None:
    server = make_smtp_server(tls=test_ca, implicit_tls=True, auth=("anne", "pw"))
    profile = make_profile(server=server)
    assert profile.smtp_security == SendingProfile.Security.SSL
    with SMTPTransport(profile, ssl_context=test_ca.client_context()) as transport:
        transport.send(stored())
    assert server.messages[0].tls


def test_production_context_does_not_trust_the_test_ca(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: ProfileFactory, test_ca: TestCA
) -> None:
    server = make_smtp_server(tls=test_ca, starttls=True)
    with pytest.raises(ProfileRejected, match="certificat"):
        transport_for(make_profile(server=server)).open()


def test_ssl_on_a_plain_port_explains_the_mismatch(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory, test_ca: TestCA
) -> None:
    profile = make_profile(server=smtp_server, smtp_security=SendingProfile.Security.SSL)
    with pytest.raises(ProfileRejected) as caught:
        SMTPTransport(profile, ssl_context=test_ca.client_context()).open()
    assert "STARTTLS" in str(caught.value)
    assert "465" in str(caught.value)


def test_starttls_on_a_server_without_it(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    profile = make_profile(server=smtp_server, smtp_security=SendingProfile.Security.STARTTLS)
    with pytest.raises(ProfileRejected, match="ne propose pas STARTTLS"):
        transport_for(profile).open()


def test_server_requiring_tls_from_a_plain_profile(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: ProfileFactory, test_ca: TestCA
) -> None:
    server = make_smtp_server(tls=test_ca, starttls=True, require_starttls=True)
    profile = make_profile(server=server, smtp_security=SendingProfile.Security.NONE)
    with (
        pytest.raises(ProfileRejected, match="connexion chiffrée"),
        transport_for(profile) as transport,
    ):
        transport.send(stored())


def test_plain_connection_to_the_ssl_port_465(make_profile: ProfileFactory) -> None:
    silent = _silent_on(465)
    try:
        profile = make_profile(
            smtp_host=silent.host, smtp_port=465, smtp_security=SendingProfile.Security.STARTTLS
        )
        with pytest.raises(ProfileRejected, match="SSL/TLS"):
            SMTPTransport(profile, timeout=0.5).open()
    finally:
        silent.close()


def test_silent_server_times_out_as_a_temporary_failure(make_profile: ProfileFactory) -> None:
    silent = SilentServer()
    try:
        profile = make_profile(smtp_host=silent.host, smtp_port=silent.port)
        with pytest.raises(TransientError):
            SMTPTransport(profile, timeout=0.5).open()
    finally:
        silent.close()


def test_connection_refused_is_temporary(make_profile: ProfileFactory) -> None:
    profile = make_profile(smtp_host="127.0.0.1", smtp_port=free_port())
    with pytest.raises(TransientError, match="refuse les connexions"):
        transport_for(profile).open()


def test_connection_refused_on_port_25_says_it_is_often_blocked(
    make_profile: ProfileFactory,
) -> None:
    if _listening(25):
        pytest.skip("something listens on 127.0.0.1:25 here")
    profile = make_profile(smtp_host="127.0.0.1", smtp_port=25)
    with pytest.raises(TransientError, match="port 25 est souvent bloqué"):
        transport_for(profile).open()


def test_unknown_host_name(make_profile: ProfileFactory) -> None:
    profile = make_profile(smtp_host="smtp.nonexistent.invalid")
    with pytest.raises(TransientError, match="introuvable"):
        transport_for(profile).open()


def test_empty_host_is_never_taken_as_localhost(make_profile: ProfileFactory) -> None:
    with pytest.raises(ProfileRejected, match="Aucun serveur SMTP"):
        transport_for(make_profile(smtp_host="  ")).open()


def test_421_is_temporary_and_the_next_message_reconnects(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    smtp_server.fail_next(1, "421 4.3.2 Service not available, closing channel")
    with transport_for(make_profile(server=smtp_server)) as transport:
        with pytest.raises(TransientError) as caught:
            transport.send(stored())
        assert caught.value.code == 421
        assert "421 4.3.2" in caught.value.detail
        transport.send(stored())
    assert len(smtp_server.messages) == 1
    assert smtp_server.connections == 2


def test_server_ending_the_session_after_n_messages_is_not_an_error(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: ProfileFactory
) -> None:
    server = make_smtp_server(messages_per_connection=2)
    with transport_for(make_profile(server=server)) as transport:
        for _ in range(5):
            transport.send(stored())
    assert len(server.messages) == 5
    assert server.connections == 3


def test_greylisted_recipient_is_temporary_and_nobody_receives_it_yet(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    smtp_server.fail_recipient("compta@dupuis.test", "450 4.2.0 Greylisted, try later", times=1)
    with transport_for(make_profile(server=smtp_server)) as transport:
        with pytest.raises(TransientError, match=r"compta@dupuis\.test"):
            transport.send(stored("info@dupuis.test", "compta@dupuis.test"))
        # The connection is still usable after the refused transaction.
        transport.send(stored("info@dupuis.test", "compta@dupuis.test"))
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["info@dupuis.test", "compta@dupuis.test"]
    assert smtp_server.connections == 1


def test_refused_recipient_is_permanent_with_the_server_answer(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    smtp_server.fail_recipient("nobody@dupuis.test", "550 5.1.1 No such user here")
    with (
        pytest.raises(PermanentError) as caught,
        transport_for(make_profile(server=smtp_server)) as transport,
    ):
        transport.send(stored("nobody@dupuis.test"))
    assert "nobody@dupuis.test" in caught.value.user_message
    assert "550 5.1.1 No such user here" in caught.value.detail
    assert smtp_server.messages == []


def test_one_refused_recipient_among_several_still_sends_to_the_others(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    smtp_server.fail_recipient("nobody@dupuis.test", "550 5.1.1 No such user here")
    with transport_for(make_profile(server=smtp_server)) as transport:
        answer = transport.send(stored("info@dupuis.test", "nobody@dupuis.test"))
    assert answer.startswith("250 ")
    assert "nobody@dupuis.test" in answer
    assert smtp_server.messages[0].rcpt_tos == ["info@dupuis.test"]


def test_content_refused_after_data_is_permanent(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    smtp_server.fail_next(1, "554 5.7.1 Message rejected as spam")
    with (
        pytest.raises(PermanentError, match="contenu") as caught,
        transport_for(make_profile(server=smtp_server)) as transport,
    ):
        transport.send(stored())
    assert "554 5.7.1" in caught.value.detail


def test_hang_up_before_the_final_answer_is_uncertain(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    smtp_server.drop_next()
    with (
        pytest.raises(DeliveryUncertain),
        transport_for(make_profile(server=smtp_server)) as transport,
    ):
        transport.send(stored())
    # The server did get the bytes: resending could duplicate the mail.
    assert len(smtp_server.dropped) == 1
    assert smtp_server.messages == []


def test_size_and_8bit_are_announced(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    raw = RAW.replace(b"Bonjour", "Déjà".encode())
    with transport_for(make_profile(server=smtp_server)) as transport:
        transport.send(stored(raw=raw))
    options = smtp_server.messages[0].mail_options
    assert f"SIZE={len(raw)}" in options
    assert "BODY=8BITMIME" in options


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _silent_on(port: int) -> SilentServer:
    try:
        return SilentServer(port=port)
    except OSError as exc:
        pytest.skip(f"cannot listen on 127.0.0.1:{port} here ({exc})")
