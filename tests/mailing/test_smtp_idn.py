"""Addresses with accents, against a real SMTP server on 127.0.0.1 with and without SMTPUTF8:
a domain with accents travels in its ASCII form (xn--) in the envelope and in the headers; an
accent before the @ needs a server that offers SMTPUTF8, and without one that recipient is left
out with a reason, before a byte of the message leaves (never "uncertain")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from courrier.clients.models import Client
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.exceptions import PermanentError, ProfileRejected
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import message_compose, messages_deliver
from courrier.mailing.transports import transport_for
from tests.compose_call import grouped
from tests.fakes.smtp import FakeSMTPServer

Status = OutboundMessage.Status
ProfileFactory = Callable[..., SendingProfile]

IDN = "exämple.be"
ACE = "xn--exmple-cua.be"  # its ASCII form, IDNA 2008

RAW = (
    b"From: anne@fidu.test\r\n"
    b"To: jean@xn--exmple-cua.be\r\n"
    b"Subject: Bilan\r\n"
    b"Message-ID: <bilan@fidu.test>\r\n"
    b"\r\n"
    b"Bonjour,\r\n"
)


@pytest.fixture(params=[False, True], ids=["step-by-step", "pipelining"])
def pipelining(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def plain_server(pipelining: bool) -> Iterator[FakeSMTPServer]:
    with FakeSMTPServer(pipelining=pipelining) as server:
        yield server


@pytest.fixture
def utf8_server(pipelining: bool) -> Iterator[FakeSMTPServer]:
    with FakeSMTPServer(pipelining=pipelining, smtputf8=True) as server:
        yield server


def stored(*recipients: str, sender: str = "anne@fidu.test") -> OutboundMessage:
    message = OutboundMessage(envelope_recipients=list(recipients), from_address=sender)
    message.raw_load(RAW)
    return message


# -- the transport ----------------------------------------------------------------------------


def test_a_domain_with_accents_goes_in_its_ascii_form_to_a_server_without_smtputf8(
    plain_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    with transport_for(make_profile(server=plain_server)) as transport:
        answer = transport.send(stored(f"jean@{IDN}", "info@dupuis.test", sender="anne@fidü.be"))
    assert answer.startswith("250 ")
    [received] = plain_server.messages
    assert received.rcpt_tos == [f"jean@{ACE}", "info@dupuis.test"]
    assert received.mail_from == "anne@xn--fid-joa.be"
    assert "SMTPUTF8" not in received.mail_options
    assert received.data == RAW


def test_idna_2008_keeps_the_sharp_s_where_idna_2003_would_name_another_domain(
    plain_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    with transport_for(make_profile(server=plain_server)) as transport:
        transport.send(stored("hans@faß.de"))
    assert plain_server.messages[0].rcpt_tos == ["hans@xn--fa-hia.de"]  # not fass.de


def test_accents_before_the_at_go_with_smtputf8_when_the_server_offers_it(
    utf8_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    with transport_for(make_profile(server=utf8_server)) as transport:
        transport.send(stored(f"josé@{IDN}"))
        # The next message on the same connection is an ordinary ASCII one again.
        transport.send(stored("info@dupuis.test"))
    first, second = utf8_server.messages
    assert first.rcpt_tos == [f"josé@{ACE}"]
    assert "SMTPUTF8" in first.mail_options
    assert second.rcpt_tos == ["info@dupuis.test"]
    assert "SMTPUTF8" not in second.mail_options
    assert utf8_server.connections == 1


def test_accents_before_the_at_without_smtputf8_fail_for_good_before_anything_is_sent(
    plain_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    with transport_for(make_profile(server=plain_server)) as transport:
        with pytest.raises(PermanentError) as caught:
            transport.send(stored(f"josé@{IDN}"))
        # The connection is still good for the next one.
        transport.send(stored("info@dupuis.test"))
    assert f"josé@{IDN}" in caught.value.user_message
    assert "SMTPUTF8" in caught.value.user_message
    assert [m.rcpt_tos for m in plain_server.messages] == [["info@dupuis.test"]]
    # No transaction was begun for the refused one.
    assert len(plain_server.command_batches) == 1


def test_one_recipient_the_server_cannot_take_does_not_stop_the_others(
    plain_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    with transport_for(make_profile(server=plain_server)) as transport:
        answer = transport.send(stored("info@dupuis.test", f"josé@{IDN}", "x@☃.net"))
    assert [m.rcpt_tos for m in plain_server.messages] == [["info@dupuis.test"]]
    said = str(answer)
    assert said.startswith("250 ")
    assert f"Non remis à josé@{IDN}" in said
    assert "Non remis à x@☃.net : nom de domaine invalide." in said


def test_a_sender_with_accents_before_the_at_is_the_profiles_problem(
    plain_server: FakeSMTPServer, make_profile: ProfileFactory
) -> None:
    transport = transport_for(make_profile(server=plain_server))
    with transport, pytest.raises(ProfileRejected) as caught:
        transport.send(stored("info@dupuis.test", sender="anné@fidu.test"))
    assert "anné@fidu.test" in caught.value.user_message
    assert plain_server.messages == []


# -- from compose to the mailbox --------------------------------------------------------------


@pytest.fixture
def compose(
    make_collaborator: Callable[..., Collaborator],
    make_profile: ProfileFactory,
    make_client: Callable[..., Client],
    django_capture_on_commit_callbacks: Any,
) -> Callable[..., tuple[SendingProfile, OutboundMessage]]:
    def compose(
        server: FakeSMTPServer, *, emails: list[str], **options: Any
    ) -> tuple[SendingProfile, OutboundMessage]:
        sender = make_collaborator(email="anne@fidu.test")
        profile = make_profile(server=server, collaborator=sender, from_name="Anne Dupont")
        client = make_client(name="Jean", emails=emails)
        arguments = {
            "sender": sender,
            "client": client,
            "subject": "Votre dossier",
            "body": "Bonjour.",
            **options,
        }
        with django_capture_on_commit_callbacks(execute=True):
            message = message_compose(**grouped(arguments))
        return profile, message

    return compose


def test_client_cc_and_firm_bcc_with_accented_domains_arrive_in_ascii_form(
    compose: Callable[..., tuple[SendingProfile, OutboundMessage]],
) -> None:
    firm = Firm.load()
    firm.fixed_bcc = f"archives@{IDN}"
    firm.save()
    with FakeSMTPServer() as server:
        profile, message = compose(server, emails=[f"jean@{IDN}"], cc=[f"marie@{IDN}"])
        report = messages_deliver(profile_id=profile.pk)

    assert report.sent == 1
    [received] = server.messages
    assert received.rcpt_tos == [f"jean@{ACE}", f"marie@{ACE}", f"archives@{ACE}"]
    assert received.message["To"] == f"jean@{ACE}"
    assert received.message["Cc"] == f"marie@{ACE}"
    assert b"archives@" not in received.data  # a blind copy: in the envelope only
    assert IDN.encode() not in received.data and "exämple".encode() not in received.data
    message.refresh_from_db()
    assert message.status == Status.SENT
    # What the firm sees stays as typed.
    assert message.to == [f"jean@{IDN}"]


def test_a_firm_bcc_the_server_cannot_take_never_stops_the_mail_to_the_client(
    compose: Callable[..., tuple[SendingProfile, OutboundMessage]],
) -> None:
    # An address with an accent before the @ saved before it was checked, say: the client
    # still gets the mail, and the reason the copy did not go is on the message.
    firm = Firm.load()
    firm.fixed_bcc = f"comptabilité@{IDN}"
    firm.save()
    with FakeSMTPServer() as server:
        profile, message = compose(server, emails=["info@dupuis.test"])
        report = messages_deliver(profile_id=profile.pk)

    assert report.sent == 1 and report.uncertain == 0
    assert [m.rcpt_tos for m in server.messages] == [["info@dupuis.test"]]
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert f"Non remis à comptabilité@{IDN}" in str(message.last_error)


def test_a_stored_message_the_server_cannot_take_fails_for_good_and_is_never_uncertain(
    compose: Callable[..., tuple[SendingProfile, OutboundMessage]],
) -> None:
    # Queued for a Cc with an accent before the @ (written before such addresses were
    # refused): the server cannot take it, which is known before the transaction begins.
    with FakeSMTPServer() as server:
        profile, message = compose(server, emails=["info@dupuis.test"])
        OutboundMessage.objects.filter(pk=message.pk).update(
            envelope_recipients=[f"josé@{IDN}", "x@☃.net"]
        )
        report = messages_deliver(profile_id=profile.pk)
    assert (report.failed, report.uncertain) == (1, 0)
    assert server.messages == [] and server.command_batches == []
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert "SMTPUTF8" in str(message.last_error)
    assert "nom de domaine invalide" in str(message.last_error)


@pytest.mark.parametrize(
    ("field", "typed"),
    [("cc", f"josé@{IDN}"), ("bcc", "x@☃.net")],
)
def test_compose_refuses_a_copy_no_server_can_be_given_and_says_why(
    compose: Callable[..., tuple[SendingProfile, OutboundMessage]], field: str, typed: str
) -> None:
    with FakeSMTPServer() as server, pytest.raises(ValidationError) as caught:
        compose(server, emails=["info@dupuis.test"], **{field: [typed]})
    said = " ".join(caught.value.messages)
    assert typed in said
    assert ("avant le @" if "é" in typed else "nom de domaine") in said
    assert OutboundMessage.objects.count() == 0
