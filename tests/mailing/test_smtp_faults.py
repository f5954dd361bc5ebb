"""A server that stops answering, and a refused password, cost the firm as little as they can:
one time-out per run rather than one per message, one refused AUTH per run rather than one per
mechanism. Real servers on 127.0.0.1: one of the test's own that falls silent, and aiosmtpd
counting the AUTH commands it answers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.mailing.exceptions import ProfileRejected
from courrier.mailing.models import DeliveryAttempt, OutboundMessage, SendingProfile
from courrier.mailing.services import message_compose, messages_deliver
from courrier.mailing.transports import transport_for
from tests.compose_call import grouped
from tests.fakes.smtp import FakeSMTPServer, StallingServer

Status = OutboundMessage.Status
Outcome = DeliveryAttempt.Outcome


@pytest.fixture
def outbox(
    make_collaborator: Callable[..., Collaborator],
    make_profile: Callable[..., SendingProfile],
    make_client: Callable[..., Client],
    django_capture_on_commit_callbacks: Any,
) -> Callable[..., tuple[SendingProfile, list[OutboundMessage]]]:
    """A profile pointed at `server` and `count` mails queued for it."""

    def fill(
        server: Any, *, count: int, **fields: Any
    ) -> tuple[SendingProfile, list[OutboundMessage]]:
        sender = make_collaborator(email="anne@fidu.test")
        profile = make_profile(server=server, collaborator=sender, **fields)
        messages = []
        for number in range(count):
            client = make_client(name=f"Client {number}", emails=[f"info{number}@dupuis.test"])
            arguments = {"sender": sender, "client": client, "subject": "Bilan", "body": "Bonjour."}
            with django_capture_on_commit_callbacks(execute=True):
                messages.append(message_compose(**grouped(arguments)))
        return profile, messages

    return fill


def _settings(**values: Any) -> Any:
    from django.conf import settings

    return override_settings(COURRIER={**settings.COURRIER, **values})


@pytest.mark.parametrize("pipelining", [False, True], ids=["step-by-step", "pipelining"])
@pytest.mark.parametrize("stall_at", ["rcpt", "data"])
def test_a_server_that_stops_answering_costs_one_time_out_not_one_per_message(
    outbox: Callable[..., tuple[SendingProfile, list[OutboundMessage]]],
    stall_at: Any,
    pipelining: bool,
) -> None:
    with (
        StallingServer(stall_at=stall_at, pipelining=pipelining) as server,
        _settings(SMTP_TIMEOUT=0.5),
    ):
        profile, messages = outbox(server, count=5)
        report = messages_deliver(profile_id=profile.pk)

    # One connection, one transaction begun; the other messages never waited for the server.
    assert server.connections == 1
    assert [verbs.count("MAIL") for verbs in server.commands] == [1]
    assert report.sent == 0 and report.uncertain == 0
    assert report.retry == 5
    first, *others = [OutboundMessage.objects.get(pk=m.pk) for m in messages]
    assert first.status == Status.RETRY
    assert "a cessé de répondre" in str(first.last_error)
    for message in others:
        assert message.status == Status.RETRY
        assert "Non essayé" in str(message.last_error)


def test_silence_after_the_data_is_uncertain_for_that_one_and_the_rest_wait(
    outbox: Callable[..., tuple[SendingProfile, list[OutboundMessage]]],
) -> None:
    with StallingServer(stall_at="end") as server, _settings(SMTP_TIMEOUT=0.5):
        profile, messages = outbox(server, count=4)
        report = messages_deliver(profile_id=profile.pk)

    assert server.connections == 1
    assert [verbs.count("MAIL") for verbs in server.commands] == [1]
    states = [OutboundMessage.objects.get(pk=m.pk).status for m in messages]
    # The one handed over may have been taken: never resent by itself. The others wait.
    assert states == [Status.UNCERTAIN, Status.RETRY, Status.RETRY, Status.RETRY]
    assert (report.uncertain, report.retry) == (1, 3)


def test_a_time_out_on_a_reused_connection_is_not_taken_for_a_closed_session(
    make_profile: Callable[..., SendingProfile],
) -> None:
    """A reused connection that breaks before MAIL is reopened once (the server ended the
    session); one that times out is not, or the message would wait twice."""
    from courrier.mailing.exceptions import TransientError
    from tests.mailing.test_transport_smtp import stored

    with StallingServer(stall_at="rcpt") as server:
        transport = transport_for(make_profile(server=server), timeout=0.5)
        with transport, pytest.raises(TransientError):
            transport.send(stored("info@dupuis.test"))
        with pytest.raises(TransientError) as caught:
            transport.send(stored("info@dupuis.test"))
    assert "Non essayé" in caught.value.user_message
    assert server.connections == 1


@pytest.mark.parametrize("mechanisms", [("PLAIN", "LOGIN"), ("LOGIN", "PLAIN")])
def test_a_refused_password_is_tried_once_per_run(
    outbox: Callable[..., tuple[SendingProfile, list[OutboundMessage]]],
    make_smtp_server: Callable[..., FakeSMTPServer],
    mechanisms: tuple[str, ...],
) -> None:
    server = make_smtp_server(
        auth=("anne@fidu.test", "le-bon"), auth_mechanisms=mechanisms, auth_require_tls=False
    )
    profile, _messages = outbox(
        server, count=3, smtp_username="anne@fidu.test", smtp_password="le-mauvais"
    )
    report = messages_deliver(profile_id=profile.pk)

    assert server.auth_attempts == 1
    assert report.held == 3
    assert server.messages == []
    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.BROKEN
    assert "mot de passe" in str(profile.state_reason)


def test_the_right_password_still_logs_in_with_one_auth(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: Callable[..., SendingProfile]
) -> None:
    from tests.mailing.test_transport_smtp import stored

    server = make_smtp_server(auth=("anne@fidu.test", "le-bon"), auth_require_tls=False)
    profile = make_profile(server=server, smtp_username="anne@fidu.test", smtp_password="le-bon")
    with transport_for(profile) as transport:
        transport.send(stored())
    assert server.auth_attempts == 1
    assert server.messages[0].authenticated_as == "anne@fidu.test"


def test_a_refused_password_at_the_connection_test_is_one_auth(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: Callable[..., SendingProfile]
) -> None:
    server = make_smtp_server(auth=("anne@fidu.test", "le-bon"), auth_require_tls=False)
    profile = make_profile(server=server, smtp_username="anne@fidu.test", smtp_password="non")
    with pytest.raises(ProfileRejected):
        transport_for(profile).open()
    assert server.auth_attempts == 1


def test_parallel_connections_of_one_run_ask_a_refused_password_once(
    make_smtp_server: Callable[..., FakeSMTPServer], make_profile: Callable[..., SendingProfile]
) -> None:
    """A profile with several connections opens them side by side (one per lane): the first
    refusal stands for the others."""
    server = make_smtp_server(auth=("anne@fidu.test", "le-bon"), auth_require_tls=False)
    profile = make_profile(
        server=server, smtp_username="anne@fidu.test", smtp_password="mauvais", max_connections=4
    )
    outcomes: list[BaseException | None] = []

    def lane() -> None:
        try:
            transport_for(profile).open()
        except BaseException as exc:  # handed to the test's thread
            outcomes.append(exc)
        else:
            outcomes.append(None)

    threads = [threading.Thread(target=lane) for _number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert server.auth_attempts == 1
    assert len(outcomes) == 4
    assert all(isinstance(outcome, ProfileRejected) for outcome in outcomes)
    assert all("mot de passe" in str(outcome) for outcome in outcomes)
