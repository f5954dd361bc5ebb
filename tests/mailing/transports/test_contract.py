"""One contract, every transport: compose a mail, deliver it through the real delivery service to
each transport's fake on 127.0.0.1, and check what arrived and what the outbox says.

A transport's fake joins by exposing `harness(make_profile)` (see tests/fakes/contract.py); the
OAuth ones are picked up when their fake modules exist.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from courrier.clients.models import Client
from courrier.firm.models import Firm
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import message_compose, messages_deliver
from tests.compose_call import grouped
from tests.fakes import anymail_providers, sendgrid
from tests.fakes.contract import Harness, HarnessFactory, smtp_harness

Status = OutboundMessage.Status

HARNESSES: dict[str, HarnessFactory] = {
    "smtp": smtp_harness,
    "sendgrid": sendgrid.harness,
    **anymail_providers.HARNESSES,
}
for _name in ("google", "microsoft"):
    # Joined when that transport's fake exists and offers a harness.
    if importlib.util.find_spec(f"tests.fakes.{_name}") is not None:
        _factory = getattr(importlib.import_module(f"tests.fakes.{_name}"), "harness", None)
        if _factory is not None:
            HARNESSES[_name] = _factory

SUBJECT = "Votre dossier {NOMCLIENT}"
BODY = "Bonjour,\n\nVoici le point sur le dossier de {NOMCLIENT}.\nÀ bientôt."
CLIENT_NAME = "Dupuis & Fils <Boulangerie>"
ARCHIVE = "archive@fidu.test"


@pytest.fixture(params=sorted(HARNESSES))
def harness(
    request: pytest.FixtureRequest, make_profile: Callable[..., SendingProfile]
) -> Iterator[Harness]:
    with HARNESSES[request.param](make_profile) as harness:
        yield harness


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client(
        name=CLIENT_NAME, legal_form="SRL", emails=["info@dupuis.test", "gerant@dupuis.test"]
    )


@pytest.fixture
def compose(
    harness: Harness, client: Client, django_capture_on_commit_callbacks: Any
) -> Callable[..., OutboundMessage]:
    def compose(**overrides: Any) -> OutboundMessage:
        sender = harness.profile.collaborator
        assert sender is not None
        arguments: dict[str, Any] = {
            "sender": sender,
            "client": client,
            "subject": SUBJECT,
            "body": BODY,
        }
        arguments.update(overrides)
        with django_capture_on_commit_callbacks(execute=True):
            return message_compose(**grouped(arguments))

    return compose


def deliver(harness: Harness) -> None:
    messages_deliver(profile_id=harness.profile.pk)


def time_passes(*messages: OutboundMessage) -> None:
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_what_arrives_is_the_composed_message(
    harness: Harness, compose: Callable[..., OutboundMessage]
) -> None:
    firm = Firm.load()
    firm.fixed_bcc = ARCHIVE
    firm.save()
    message = compose()
    deliver(harness)

    message.refresh_from_db()
    assert message.status == Status.SENT, message.last_error
    assert message.provider_message_id
    [received] = harness.received()
    mail = received.message
    assert sorted(r.lower() for r in received.recipients) == sorted(
        ["info@dupuis.test", "gerant@dupuis.test", ARCHIVE]
    )
    assert mail["From"].addresses[0].addr_spec == harness.profile.from_address
    assert [a.addr_spec for a in mail["To"].addresses] == ["info@dupuis.test", "gerant@dupuis.test"]
    assert mail["Subject"] == f"Votre dossier {CLIENT_NAME} SRL"
    if getattr(harness, "keeps_message_id", True):
        assert mail["Message-ID"] == message.message_id
    # The blind copy is delivered, and named in no header.
    assert mail["Bcc"] is None
    assert all(ARCHIVE not in str(value) for value in mail.values())

    text, html = received.part("text/plain"), received.part("text/html")
    assert f"le dossier de {CLIENT_NAME} SRL." in text
    assert "À bientôt." in text
    assert "{NOMCLIENT}" not in text + html
    assert "Dupuis &amp; Fils &lt;Boulangerie&gt; SRL" in html


@pytest.mark.parametrize(("status", "retry_after"), [(429, 120), (500, None), (503, None)])
def test_a_temporary_failure_is_retried_at_the_right_time_then_sent_once(
    harness: Harness,
    compose: Callable[..., OutboundMessage],
    status: int,
    retry_after: int | None,
) -> None:
    message = compose()
    harness.fail_next(status, retry_after=retry_after)
    before = timezone.now()
    deliver(harness)

    message.refresh_from_db()
    assert message.status == Status.RETRY, message.last_error
    assert message.next_attempt_at is not None and message.next_attempt_at > before
    if retry_after and getattr(harness, "honours_retry_after", True):
        assert message.next_attempt_at >= before + timedelta(seconds=retry_after)
    assert message.last_error
    assert harness.received() == []
    # Not due yet: nothing is tried.
    assert messages_deliver(profile_id=harness.profile.pk).claimed == 0

    time_passes(message)
    deliver(harness)
    message.refresh_from_db()
    assert message.status == Status.SENT, message.last_error
    assert message.attempts == 2
    assert len(harness.received()) == 1


def test_a_refused_message_fails_with_a_readable_reason_and_is_not_retried(
    harness: Harness, compose: Callable[..., OutboundMessage]
) -> None:
    message = compose()
    harness.fail_next(400)
    deliver(harness)

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert len(str(message.last_error)) > 20
    assert "Traceback" not in message.last_error
    deliver(harness)
    assert harness.received() == []
    harness.profile.refresh_from_db()
    assert harness.profile.state == SendingProfile.State.OK


def test_revoked_credentials_hold_the_messages_and_mark_the_profile(
    harness: Harness, compose: Callable[..., OutboundMessage]
) -> None:
    first, second = compose(), compose(subject="Deuxième")
    harness.revoke()
    deliver(harness)

    for message in (first, second):
        message.refresh_from_db()
        assert message.status == Status.HELD
        assert message.last_error
    profile = harness.profile
    profile.refresh_from_db()
    assert profile.state in (SendingProfile.State.BROKEN, SendingProfile.State.RECONNECT)
    assert profile.state_reason
    assert messages_deliver(profile_id=profile.pk).claimed == 0
    assert harness.received() == []


def test_delivering_twice_sends_each_message_once(
    harness: Harness, compose: Callable[..., OutboundMessage]
) -> None:
    messages = [compose(subject=f"Message {n}") for n in range(3)]
    deliver(harness)
    deliver(harness)
    subjects = sorted(str(r.message["Subject"]) for r in harness.received())
    assert subjects == ["Message 0", "Message 1", "Message 2"]
    statuses = set(
        OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).values_list(
            "status", flat=True
        )
    )
    assert statuses == {Status.SENT}


def test_accented_domains_arrive_in_their_ascii_form_once_each(
    harness: Harness, compose: Callable[..., OutboundMessage], make_client: Callable[..., Client]
) -> None:
    firm = Firm.load()
    firm.fixed_bcc = "archive@exämple.be"
    firm.save()
    client = make_client(name="Jean", emails=["jean@exämple.be"])
    message = compose(client=client, cc=["marie@exämple.be"])
    deliver(harness)

    message.refresh_from_db()
    assert message.status == Status.SENT, message.last_error
    [received] = harness.received()
    # Each address once: the one in a header is not taken for a blind copy as well.
    assert sorted(r.lower() for r in received.recipients) == [
        "archive@xn--exmple-cua.be",
        "jean@xn--exmple-cua.be",
        "marie@xn--exmple-cua.be",
    ]
    mail = received.message
    assert [a.addr_spec for a in mail["To"].addresses] == ["jean@xn--exmple-cua.be"]
    assert [a.addr_spec for a in mail["Cc"].addresses] == ["marie@xn--exmple-cua.be"]
    assert all("archive@" not in str(value) for value in mail.values())


def test_a_blind_copy_no_server_can_be_given_never_stops_the_mail(
    harness: Harness, compose: Callable[..., OutboundMessage]
) -> None:
    # Saved before such addresses were refused: an accent before the @.
    firm = Firm.load()
    firm.fixed_bcc = "comptabilité@fidu.test"
    firm.save()
    message = compose()
    deliver(harness)

    message.refresh_from_db()
    assert message.status == Status.SENT, message.last_error
    [received] = harness.received()
    assert sorted(r.lower() for r in received.recipients) == [
        "gerant@dupuis.test",
        "info@dupuis.test",
    ]
    assert "Non remis à comptabilité@fidu.test" in str(message.last_error)
