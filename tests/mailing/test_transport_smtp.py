"""The SMTP transport against a real SMTP server on 127.0.0.1: what arrives, and what each
failure is taken to mean (tried again, refused for good, or the profile to fix).

The tests that take a server run twice: against a server that announces PIPELINING (the
envelope goes in one write) and against one that does not (one round trip per command)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

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
ServerFactory = Callable[..., FakeSMTPServer]


@pytest.fixture(params=[False, True], ids=["step-by-step", "pipelining"])
def pipelining(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def smtp_server(pipelining: bool) -> Iterator[FakeSMTPServer]:
    with FakeSMTPServer(pipelining=pipelining) as server:
        yield server


@pytest.fixture
def make_smtp_server(make_smtp_server: ServerFactory, pipelining: bool) -> ServerFactory:
    def make(**options: Any) -> FakeSMTPServer:
        options.setdefault("pipelining", pipelining)
        return make_smtp_server(**options)

    return make


def envelope_writes(pipelining: bool, *recipients: int) -> list[list[str]]:
    """What the server should have read with each MAIL, for messages to so many recipients."""
    if not pipelining:
        return [["MAIL"] for _count in recipients]
    return [["MAIL", *["RCPT"] * count, "DATA"] for count in recipients]


def stored(*recipients: str, raw: bytes = RAW, sender: str = "anne@fidu.test") -> OutboundMessage:
    """A message as the outbox holds it (the transport reads only these fields)."""
    message = OutboundMessage(
        envelope_recipients=list(recipients or ["info@dupuis.test"]), from_address=sender
    )
    message.raw_load(raw)
    return message


def test_relay_without_login_receives_the_stored_bytes_unchanged(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory, pipelining: bool
) -> None:
    profile = make_profile(server=smtp_server)
    with transport_for(profile) as transport:
        answer = transport.send(stored("info@dupuis.test", "compta@dupuis.test"))

    assert answer.startswith("250 ")
    [received] = smtp_server.messages
    assert received.data == RAW
    assert received.mail_from == "anne@fidu.test"
    assert received.rcpt_tos == ["info@dupuis.test", "compta@dupuis.test"]
    assert received.mail_options == [f"SIZE={len(RAW)}"]
    assert received.authenticated_as is None
    # With PIPELINING, MAIL, both RCPTs and DATA in one write; without, MAIL alone.
    assert smtp_server.command_batches == envelope_writes(pipelining, 2)


def test_many_messages_share_one_connection(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory, pipelining: bool
) -> None:
    raws = [RAW.replace(b"Bilan 2026", f"Bilan {year}".encode()) for year in range(2000, 2020)]
    with transport_for(make_profile(server=smtp_server)) as transport:
        for raw in raws:
            transport.send(stored("info@dupuis.test", "compta@dupuis.test", raw=raw))
    assert [received.data for received in smtp_server.messages] == raws
    assert smtp_server.connections == 1
    assert smtp_server.command_batches == envelope_writes(pipelining, *[2] * 20)


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
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory, pipelining: bool
) -> None:
    smtp_server.fail_recipient("compta@dupuis.test", "450 4.2.0 Greylisted, try later", times=1)
    with transport_for(make_profile(server=smtp_server)) as transport:
        with pytest.raises(TransientError, match=r"compta@dupuis\.test"):
            transport.send(stored("info@dupuis.test", "compta@dupuis.test"))
        assert smtp_server.messages == []
        # Step by step, the transaction is reset and the connection carries the next message.
        # Pipelined, the server answered the DATA sent with the RCPTs by 354 for the accepted
        # recipient: ending the data there would mail them an empty message, so the
        # connection is closed instead and the next message opens another.
        transport.send(stored("info@dupuis.test", "compta@dupuis.test"))
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["info@dupuis.test", "compta@dupuis.test"]
    assert received.data == RAW
    assert smtp_server.connections == (2 if pipelining else 1)


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
    assert str(answer).startswith("250 ")
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


@pytest.mark.parametrize("data_answer", ["554", "354"])
def test_every_recipient_refused_is_permanent_and_the_connection_carries_the_next(
    make_smtp_server: ServerFactory,
    make_profile: ProfileFactory,
    pipelining: bool,
    data_answer: str,
) -> None:
    # A server answers DATA with 554 when no recipient was accepted, or with 354 and then
    # refuses the (empty) data: RFC 2920 allows both.
    server = make_smtp_server(data_without_recipients=data_answer)
    server.fail_recipient("nobody@dupuis.test", "550 5.1.1 No such user here")
    server.fail_recipient("gone@dupuis.test", "550 5.1.1 Mailbox closed")
    with transport_for(make_profile(server=server)) as transport:
        with pytest.raises(PermanentError) as caught:
            transport.send(stored("nobody@dupuis.test", "gone@dupuis.test"))
        transport.send(stored())

    assert "nobody@dupuis.test, gone@dupuis.test" in caught.value.user_message
    assert caught.value.code == 550
    assert caught.value.detail == (
        "nobody@dupuis.test : 550 5.1.1 No such user here; "
        "gone@dupuis.test : 550 5.1.1 Mailbox closed"
    )
    [received] = server.messages
    assert received.rcpt_tos == ["info@dupuis.test"]
    assert received.data == RAW
    assert server.connections == 1
    # The message itself never went out; opened by 354, the data section was ended empty.
    assert server.unaddressed == ([b""] if pipelining and data_answer == "354" else [])
    assert server.command_batches == envelope_writes(pipelining, 2, 1)


@pytest.mark.parametrize("data_answer", [None, "354"])
def test_refused_sender_then_the_next_message_goes_through(
    make_smtp_server: ServerFactory,
    make_profile: ProfileFactory,
    pipelining: bool,
    data_answer: str | None,
) -> None:
    server = make_smtp_server(data_without_recipients=data_answer)
    server.fail_next(1, "550 5.7.1 Sender address rejected: not owned by user", at="mail")
    with transport_for(make_profile(server=server)) as transport:
        with pytest.raises(ProfileRejected, match=r"anne@fidu\.test") as caught:
            transport.send(stored())
        transport.send(stored())

    assert caught.value.code == 550
    assert caught.value.detail == "550 5.7.1 Sender address rejected: not owned by user"
    [received] = server.messages
    assert received.data == RAW
    assert server.connections == 1
    assert server.unaddressed == ([b""] if pipelining and data_answer == "354" else [])


def test_421_at_mail_on_a_reused_connection_reconnects_and_sends(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    with transport_for(make_profile(server=smtp_server)) as transport:
        transport.send(stored())
        smtp_server.fail_next(1, "421 4.4.2 Idle for too long, closing", at="mail")
        answer = transport.send(stored())
    assert answer.startswith("250 ")
    assert len(smtp_server.messages) == 2
    assert smtp_server.connections == 2


def test_421_at_a_recipient_is_temporary_and_the_next_message_reconnects(
    smtp_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    smtp_server.fail_recipient("compta@dupuis.test", "421 4.3.2 Shutting down", times=1)
    with transport_for(make_profile(server=smtp_server)) as transport:
        with pytest.raises(TransientError) as caught:
            transport.send(stored("info@dupuis.test", "compta@dupuis.test", "x@dupuis.test"))
        assert caught.value.code == 421
        transport.send(stored("info@dupuis.test", "compta@dupuis.test"))
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["info@dupuis.test", "compta@dupuis.test"]
    assert smtp_server.connections == 2


def test_server_gone_between_two_messages_is_reconnected(
    make_profile: ProfileFactory, pipelining: bool
) -> None:
    first = FakeSMTPServer(pipelining=pipelining).start()
    profile = make_profile(server=first)
    with transport_for(profile) as transport:
        transport.send(stored())
        first.stop()
        with FakeSMTPServer(port=first.port, pipelining=pipelining) as second:
            # The kept connection is dead: nothing of this message was handed over on it.
            transport.send(stored())
    assert len(first.messages) == 1
    assert len(second.messages) == 1
    assert second.connections == 1


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _silent_on(port: int) -> SilentServer:
    try:
        return SilentServer(port=port)
    except OSError as exc:
        pytest.skip(f"cannot listen on 127.0.0.1:{port} here ({exc})")
