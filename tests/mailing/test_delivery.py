"""The outbox from compose to the server's mailbox, against a real SMTP server on 127.0.0.1.

Each test checks what a person would: the bytes that arrived, the row's state, its reason.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone, translation
from django_tasks_db.models import DBTaskResult

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.exceptions import ConfigurationError, ProfileMissing, ProfileRejected
from courrier.mailing.models import DeliveryAttempt, OutboundMessage, SendingProfile
from courrier.mailing.services import (
    Draft,
    message_bytes,
    message_cancel,
    message_compose,
    message_preview,
    message_retry,
    messages_deliver,
    messages_recover,
    profile_updated,
    profile_verify,
)
from tests.compose_call import grouped
from tests.fakes.smtp import FakeSMTPServer, TestCA, free_port

Status = OutboundMessage.Status

SUBJECT = "Votre dossier {NOMCLIENT}"
BODY = "Bonjour,\n\nVoici le point sur le dossier de {NOMCLIENT}.\nÀ bientôt."


@pytest.fixture
def profile(smtp_server: FakeSMTPServer, make_profile: Callable[..., SendingProfile]) -> Any:
    return make_profile(
        server=smtp_server,
        from_name="Anne Dupont",
        from_address="anne@fidu.test",
        reply_to="secretariat@fidu.test",
    )


@pytest.fixture
def sender(profile: SendingProfile) -> Collaborator:
    assert profile.collaborator is not None
    return profile.collaborator


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client(
        name="Dupuis & Fils <Boulangerie>",
        legal_form="SRL",
        language="nl",
        emails=[
            "info@dupuis.test",
            ("factures@dupuis.test", ClientEmail.Purpose.INVOICES),
            "gerant@dupuis.test",
        ],
    )


@pytest.fixture
def compose(
    sender: Collaborator, client: Client, django_capture_on_commit_callbacks: Any
) -> Iterator[Callable[..., OutboundMessage]]:
    def compose(**overrides: Any) -> OutboundMessage:
        arguments: dict[str, Any] = {
            "sender": sender,
            "client": client,
            "subject": SUBJECT,
            "body": BODY,
        }
        arguments.update(overrides)
        with django_capture_on_commit_callbacks(execute=True):
            return message_compose(**grouped(arguments))

    yield compose


def delivery_tasks() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(task_path__endswith="tasks.deliver_profile").order_by(
            "enqueued_at"
        )
    )


def time_passes(*messages: OutboundMessage) -> None:
    """The back-off delay is over."""
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# -- compose ----------------------------------------------------------------------------------


def test_what_arrives_is_the_stored_message(
    compose: Callable[..., OutboundMessage],
    profile: SendingProfile,
    smtp_server: FakeSMTPServer,
) -> None:
    message = compose()
    message.refresh_from_db()
    raw = message_bytes(message)

    assert message.status == Status.QUEUED
    assert message.size == len(raw)
    assert message.to == ["info@dupuis.test", "gerant@dupuis.test"]
    assert message.envelope_recipients == ["info@dupuis.test", "gerant@dupuis.test"]
    assert re.search(rb"(?<!\r)\n", raw) is None, "every line ends with CRLF"
    assert raw.endswith(b"\r\n")

    report = messages_deliver(profile_id=profile.pk)
    assert report.sent == 1

    [received] = smtp_server.messages
    assert received.data == raw
    assert received.mail_from == "anne@fidu.test"
    assert received.rcpt_tos == ["info@dupuis.test", "gerant@dupuis.test"]
    assert received.authenticated_as is None  # a relay without login

    headers = received.message
    assert headers["From"] == "Anne Dupont <anne@fidu.test>"
    assert headers["To"] == "info@dupuis.test, gerant@dupuis.test"
    assert headers["Reply-To"] == "secretariat@fidu.test"
    assert headers["Message-ID"] == message.message_id
    assert message.message_id.endswith("@fidu.test>")
    assert headers["X-Courrier-Message"] == str(message.pk)
    assert headers["Content-Language"] == "nl"
    assert headers["Date"]
    assert headers["Auto-Submitted"] is None
    assert headers["Subject"] == "Votre dossier Dupuis & Fils <Boulangerie> SRL"

    text = received.part("text/plain")
    html = received.part("text/html")
    assert "le dossier de Dupuis & Fils <Boulangerie> SRL." in text
    assert "À bientôt." in text
    assert "{NOMCLIENT}" not in text
    assert "Dupuis &amp; Fils &lt;Boulangerie&gt; SRL" in html
    assert "<Boulangerie>" not in html

    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.sent_at is not None
    assert message.provider_message_id.startswith("250 ")
    assert message.attempts == 1
    assert [a.outcome for a in message.attempts_log.all()] == [DeliveryAttempt.Outcome.SENT]


def test_a_long_accented_subject_is_folded_cleanly_and_reads_back_whole(
    compose: Callable[..., OutboundMessage],
) -> None:
    subject = (
        "Uw jaarrekening 2026 — herinnering voor {NOMCLIENT}: de documenten die nog "
        "ontbreken vóór de neerlegging bij de Nationale Bank"
    )
    message = compose(subject=subject)
    raw = message_bytes(message)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")

    subject_line = next(line for line in head.split("\r\n") if line.startswith("Subject:"))
    assert subject_line.strip() != "Subject:", "the subject starts on its own line"
    assert all(len(line) <= 78 for line in head.split("\r\n"))
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Subject"] == message.subject
    assert message.subject.startswith("Uw jaarrekening 2026 — herinnering voor Dupuis & Fils")


def test_an_accented_subject_is_encoded_word_by_word_and_reads_back_whole(
    compose: Callable[..., OutboundMessage],
) -> None:
    message = compose(subject="Facture 2026/0042 – échéance le 15/12 pour {NOMCLIENT}")
    raw = message_bytes(message)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    subject_line = next(line for line in head.split("\r\n") if line.startswith("Subject:"))
    # Only the words that need it are encoded: the rest stays readable in the source.
    assert subject_line.startswith("Subject: Facture 2026/0042 =?utf-8?")
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Subject"] == message.subject
    assert message.subject.endswith("15/12 pour Dupuis & Fils <Boulangerie> SRL")


def test_explicit_language_and_the_preview_match_what_is_sent(
    compose: Callable[..., OutboundMessage],
    sender: Collaborator,
    client: Client,
    profile: SendingProfile,
    smtp_server: FakeSMTPServer,
) -> None:
    preview = message_preview(
        sender=sender, client=client, draft=Draft(subject=SUBJECT, body=BODY, language="fr")
    )
    assert preview.language == "fr"
    assert preview.language_fallback  # the client reads Dutch
    assert preview.warnings
    assert preview.to == ["info@dupuis.test", "gerant@dupuis.test"]
    assert preview.from_header == "Anne Dupont <anne@fidu.test>"
    assert preview.reply_to == "secretariat@fidu.test"

    compose(language="fr")
    messages_deliver(profile_id=profile.pk)
    received = smtp_server.messages[0]
    assert received.message["Content-Language"] == "fr"
    assert received.message["Subject"] == preview.rendered.subject
    text = received.part("text/plain").replace("\r\n", "\n")
    assert text.rstrip() == preview.rendered.text.rstrip()


def test_without_general_address_every_address_is_used(
    compose: Callable[..., OutboundMessage], make_client: Callable[..., Client]
) -> None:
    client = make_client(
        emails=[
            ("compta@martin.test", ClientEmail.Purpose.INVOICES),
            ("boss@martin.test", ClientEmail.Purpose.INVOICES),
        ]
    )
    message = compose(client=client)
    assert message.to == ["compta@martin.test", "boss@martin.test"]


def test_the_firms_fixed_bcc_is_in_the_envelope_only(
    compose: Callable[..., OutboundMessage], profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    firm = Firm.load()
    firm.fixed_bcc = "archive@fidu.test"
    firm.save()
    message = compose()
    messages_deliver(profile_id=profile.pk)
    received = smtp_server.messages[0]
    assert received.rcpt_tos == ["info@dupuis.test", "gerant@dupuis.test", "archive@fidu.test"]
    assert b"archive@fidu.test" not in received.data
    assert message.to == ["info@dupuis.test", "gerant@dupuis.test"]


def test_compose_enqueues_one_delivery_when_committed(
    compose: Callable[..., OutboundMessage], profile: SendingProfile
) -> None:
    compose()
    [task] = delivery_tasks()
    assert task.args_kwargs == {"args": [profile.pk], "kwargs": {}}


def test_same_idempotency_key_returns_the_same_message_and_enqueues_nothing(
    compose: Callable[..., OutboundMessage],
) -> None:
    first = compose(idempotency_key="client-42-rappel-2026")
    again = compose(idempotency_key="client-42-rappel-2026", subject="Autre sujet")
    assert again.pk == first.pk
    assert OutboundMessage.objects.count() == 1
    assert len(delivery_tasks()) == 1


@pytest.mark.parametrize("subject", ["Bilan\r\nBcc: victim@example.test", "Bilan\nsuite"])
def test_line_break_in_subject_is_refused_and_nothing_is_stored(
    compose: Callable[..., OutboundMessage], subject: str
) -> None:
    with pytest.raises(ValidationError):
        compose(subject=subject)
    assert OutboundMessage.objects.count() == 0
    assert delivery_tasks() == []


def test_unknown_field_is_refused_with_the_nearest_known_one(
    compose: Callable[..., OutboundMessage],
) -> None:
    with pytest.raises(ValidationError) as caught:
        compose(body="Bonjour {NOMCLIEN},")
    assert "{NOMCLIENT}" in " ".join(caught.value.messages)
    assert OutboundMessage.objects.count() == 0


def test_client_without_address_is_refused_at_compose_and_a_warning_in_preview(
    compose: Callable[..., OutboundMessage],
    sender: Collaborator,
    make_client: Callable[..., Client],
) -> None:
    client = make_client(emails=[])
    preview = message_preview(sender=sender, client=client, draft=Draft(subject=SUBJECT, body=BODY))
    assert any("adresse e-mail" in warning for warning in preview.warnings)
    with pytest.raises(ValidationError, match="adresse e-mail"):
        compose(client=client)
    assert OutboundMessage.objects.count() == 0


def test_sender_without_profile_is_told_before_anything_is_stored(
    compose: Callable[..., OutboundMessage], make_collaborator: Callable[..., Collaborator]
) -> None:
    with pytest.raises(ProfileMissing, match="Ma fiche"):
        compose(sender=make_collaborator())
    assert OutboundMessage.objects.count() == 0


def test_broken_profile_is_reported_before_anything_is_stored(
    compose: Callable[..., OutboundMessage], profile: SendingProfile
) -> None:
    SendingProfile.objects.filter(pk=profile.pk).update(
        state=SendingProfile.State.BROKEN, state_reason="Mot de passe refusé."
    )
    with pytest.raises(ProfileRejected, match="Mot de passe refusé"):
        compose()
    assert OutboundMessage.objects.count() == 0


def test_profile_without_server_is_a_configuration_error(
    compose: Callable[..., OutboundMessage], profile: SendingProfile
) -> None:
    SendingProfile.objects.filter(pk=profile.pk).update(smtp_host="")
    with pytest.raises(ConfigurationError, match="serveur SMTP"):
        compose()


# -- delivery outcomes -------------------------------------------------------------------------


def test_421_is_retried_later_then_sent_once(
    compose: Callable[..., OutboundMessage], profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    message = compose()
    smtp_server.fail_next(1, "421 4.3.2 Service not available, closing channel")

    report = messages_deliver(profile_id=profile.pk)
    message.refresh_from_db()
    assert (report.retry, message.status) == (1, Status.RETRY)
    assert message.next_attempt_at is not None and message.next_attempt_at > timezone.now()
    assert "421 4.3.2" in message.last_error
    # Not due yet: nothing happens.
    assert messages_deliver(profile_id=profile.pk).claimed == 0
    # A follow-up delivery waits for the retry time.
    assert any(task.run_after >= message.next_attempt_at for task in delivery_tasks())

    time_passes(message)
    messages_deliver(profile_id=profile.pk)
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.attempts == 2
    assert message.last_error == ""
    assert [a.outcome for a in message.attempts_log.all()] == ["transient", "sent"]
    assert len(smtp_server.messages) == 1


def test_transient_failures_stop_after_the_limit(
    compose: Callable[..., OutboundMessage],
    profile: SendingProfile,
    smtp_server: FakeSMTPServer,
    settings: Any,
) -> None:
    settings.COURRIER = {**settings.COURRIER, "MAX_ATTEMPTS": 2}
    message = compose()
    smtp_server.fail_next(5, "451 4.3.0 Local problem")
    messages_deliver(profile_id=profile.pk)
    time_passes(message)
    messages_deliver(profile_id=profile.pk)
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert "Abandonné après 2 essais" in message.last_error
    assert "451 4.3.0 Local problem" in message.last_error


def test_refused_recipient_fails_with_a_readable_reason(
    compose: Callable[..., OutboundMessage],
    profile: SendingProfile,
    smtp_server: FakeSMTPServer,
    make_client: Callable[..., Client],
) -> None:
    smtp_server.fail_recipient("nobody@martin.test", "550 5.1.1 <nobody@martin.test>: no such user")
    message = compose(client=make_client(emails=["nobody@martin.test"]))
    report = messages_deliver(profile_id=profile.pk)
    message.refresh_from_db()
    assert (report.failed, message.status) == (1, Status.FAILED)
    assert "refuse le destinataire nobody@martin.test" in message.last_error
    assert "550 5.1.1" in message.last_error
    assert smtp_server.messages == []


def test_wrong_password_holds_the_profile_then_fixing_it_sends_each_once(
    compose: Callable[..., OutboundMessage],
    make_smtp_server: Callable[..., FakeSMTPServer],
    profile: SendingProfile,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    server = make_smtp_server(auth=("anne@fidu.test", "Bon-Mot-De-Passe"))
    profile.smtp_host, profile.smtp_port = server.host, server.port
    profile.smtp_username, profile.smtp_password = "anne@fidu.test", "Mauvais-Mot-De-Passe"
    profile.save()
    first, second = compose(), compose(subject="Deuxième")

    with caplog.at_level(logging.DEBUG):
        report = messages_deliver(profile_id=profile.pk, limit=1)
    assert report.held == 2
    for message in (first, second):
        message.refresh_from_db()
        assert message.status == Status.HELD
        assert "mot de passe" in message.last_error
    assert [a.outcome for a in first.attempts_log.all()] == [DeliveryAttempt.Outcome.PROFILE]
    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.BROKEN
    assert "535" in profile.state_reason
    assert "Mauvais-Mot-De-Passe" not in caplog.text
    assert "Mauvais-Mot-De-Passe" not in profile.state_reason
    # Nothing waiting is tried while the profile is broken, even by a later run.
    assert messages_deliver(profile_id=profile.pk).claimed == 0

    profile.smtp_password = "Bon-Mot-De-Passe"
    profile.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert profile_updated(profile=profile) == 2
    profile.refresh_from_db()
    assert profile.state == SendingProfile.State.OK
    messages_deliver(profile_id=profile.pk)
    messages_deliver(profile_id=profile.pk)
    assert sorted(m.message["Subject"] for m in server.messages) == [
        "Deuxième",
        "Votre dossier Dupuis & Fils <Boulangerie> SRL",
    ]
    assert all(m.authenticated_as == "anne@fidu.test" for m in server.messages)


def test_unreachable_server_puts_the_whole_batch_back_after_one_try(
    compose: Callable[..., OutboundMessage], profile: SendingProfile
) -> None:
    messages = [compose(subject=f"Message {n}") for n in range(3)]
    SendingProfile.objects.filter(pk=profile.pk).update(smtp_port=free_port())

    report = messages_deliver(profile_id=profile.pk)

    assert (report.claimed, report.retry) == (3, 3)
    for message in messages:
        message.refresh_from_db()
        assert message.status == Status.RETRY
        assert "refuse les connexions" in message.last_error
        assert [a.outcome for a in message.attempts_log.all()] == ["transient"]


@pytest.mark.parametrize("mode", ["starttls", "implicit_tls"])
def test_delivery_over_tls_with_the_test_ca(
    mode: str,
    compose: Callable[..., OutboundMessage],
    profile: SendingProfile,
    make_smtp_server: Callable[..., FakeSMTPServer],
    test_ca: TestCA,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = make_smtp_server(tls=test_ca, auth=("anne", "secret"), **{mode: True})
    profile.smtp_port, profile.smtp_security = server.port, server.security
    profile.smtp_username, profile.smtp_password = "anne", "secret"
    profile.save()
    # The production code path, trusting the test CA the way OpenSSL lets any program do.
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca.ca_path))
    message = compose()
    messages_deliver(profile_id=profile.pk)
    message.refresh_from_db()
    assert message.status == Status.SENT
    [received] = server.messages
    assert received.tls
    assert received.data == message_bytes(message)


def test_hang_up_before_the_answer_makes_the_message_uncertain_and_it_is_not_resent(
    compose: Callable[..., OutboundMessage], profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    first, second = compose(), compose(subject="Deuxième")
    smtp_server.drop_next()
    report = messages_deliver(profile_id=profile.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Status.UNCERTAIN, Status.SENT)
    assert report.uncertain == 1 and report.sent == 1
    assert "peut-être parti" in first.last_error
    messages_deliver(profile_id=profile.pk)
    messages_recover(now=timezone.now() + timedelta(days=1))
    messages_deliver(profile_id=profile.pk)
    assert len(smtp_server.dropped) == 1
    assert [m.message["Subject"] for m in smtp_server.messages] == ["Deuxième"]


# -- the sweeper ------------------------------------------------------------------------------


def _left_sending(message: OutboundMessage, *, handed_over: bool) -> None:
    """What a worker killed mid-run leaves behind."""
    started = timezone.now() - timedelta(hours=1)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.SENDING,
        claimed_by=uuid.uuid4().hex,
        attempts=1,
        lease_expires_at=started + timedelta(minutes=10),
    )
    if handed_over:
        DeliveryAttempt.objects.create(
            message=message, started_at=started, outcome=DeliveryAttempt.Outcome.UNCERTAIN
        )


def test_message_left_sending_past_its_lease_becomes_uncertain_and_is_not_resent(
    compose: Callable[..., OutboundMessage], profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    message = compose()
    _left_sending(message, handed_over=True)

    assert messages_recover() == 1
    message.refresh_from_db()
    assert message.status == Status.UNCERTAIN
    assert "ne sera pas renvoyé automatiquement" in message.last_error
    assert messages_deliver(profile_id=profile.pk).claimed == 0
    assert smtp_server.messages == []


def test_message_claimed_but_never_tried_by_a_stopped_run_goes_back_to_the_queue(
    compose: Callable[..., OutboundMessage], profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    message = compose()
    _left_sending(message, handed_over=False)

    assert messages_recover() == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.QUEUED, 0)
    messages_deliver(profile_id=profile.pk)
    assert len(smtp_server.messages) == 1


def test_lease_not_expired_is_left_alone(
    compose: Callable[..., OutboundMessage],
) -> None:
    message = compose()
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.SENDING, lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert messages_recover() == 0


# -- twice is still once ----------------------------------------------------------------------


def test_delivering_twice_sends_each_message_once(
    compose: Callable[..., OutboundMessage], profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    messages = [compose(subject=f"Message {n}") for n in range(7)]
    first = messages_deliver(profile_id=profile.pk, limit=5)
    second = messages_deliver(profile_id=profile.pk, limit=5)
    third = messages_deliver(profile_id=profile.pk, limit=5)
    assert (first.sent, second.sent, third.claimed) == (5, 2, 0)
    assert first.more and not second.more
    subjects = sorted(m.message["Subject"] for m in smtp_server.messages)
    assert subjects == sorted(f"Message {n}" for n in range(7))
    assert smtp_server.connections == 2
    assert {m.status for m in OutboundMessage.objects.filter(pk__in=[m.pk for m in messages])} == {
        Status.SENT
    }


def test_a_mail_composed_after_the_waiting_task_ran_gets_a_task_of_its_own(
    compose: Callable[..., OutboundMessage], smtp_server: FakeSMTPServer
) -> None:
    compose(subject="First")
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    compose(subject="Second")
    assert len(delivery_tasks()) == 2

    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)

    assert sorted(m.message["Subject"] for m in smtp_server.messages) == ["First", "Second"]


def test_the_real_worker_runs_the_enqueued_tasks_and_sends_each_message_once(
    compose: Callable[..., OutboundMessage], smtp_server: FakeSMTPServer
) -> None:
    for n in range(4):
        compose(subject=f"Message {n}")
    # One waiting delivery task serves all four; composing does not pile up tasks.
    assert len(delivery_tasks()) == 1

    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)

    assert sorted(m.message["Subject"] for m in smtp_server.messages) == [
        f"Message {n}" for n in range(4)
    ]
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {Status.SENT}
    assert {task.status for task in delivery_tasks()} == {"SUCCESSFUL"}


def _waiting_runs() -> list[datetime]:
    return sorted(task.run_after for task in delivery_tasks() if task.status == "READY")


def test_one_waiting_run_is_moved_to_the_retry_time_and_the_chain_reaches_the_scheduled_mail(
    compose: Callable[..., OutboundMessage], smtp_server: FakeSMTPServer, settings: Any
) -> None:
    # A retry a minute away: the worker below stops before it is due.
    settings.COURRIER = {**settings.COURRIER, "RETRY_BASE_SECONDS": 60.0}
    later = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    scheduled = compose(subject="Planifié", scheduled_at=later)
    now = compose(subject="Maintenant")
    smtp_server.fail_next(1, "451 4.3.0 Try again later")

    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)

    now.refresh_from_db()
    assert now.status == Status.RETRY and now.next_attempt_at is not None
    # The run waiting for the scheduled mail was moved to the retry's time, not doubled.
    assert _waiting_runs() == [now.next_attempt_at]

    time_passes(now)
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)

    assert [m.message["Subject"] for m in smtp_server.messages] == ["Maintenant"]
    # The run that sent it left one waiting for the scheduled mail, at its time.
    assert _waiting_runs() == [later]
    scheduled.refresh_from_db()
    assert scheduled.status == Status.QUEUED


# -- what a person decides ----------------------------------------------------------------------


def test_cancel_a_queued_message_and_it_never_leaves(
    compose: Callable[..., OutboundMessage],
    profile: SendingProfile,
    sender: Collaborator,
    smtp_server: FakeSMTPServer,
) -> None:
    message = compose()
    message_cancel(message=message, by=sender)
    assert message.status == Status.CANCELLED
    messages_deliver(profile_id=profile.pk)
    assert smtp_server.messages == []


def test_a_sent_message_cannot_be_cancelled(
    compose: Callable[..., OutboundMessage], profile: SendingProfile, sender: Collaborator
) -> None:
    message = compose()
    messages_deliver(profile_id=profile.pk)
    with pytest.raises(ValidationError, match="ne peut pas être annulé"):
        message_cancel(message=message, by=sender)
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_retry_an_uncertain_message_resends_the_same_bytes(
    compose: Callable[..., OutboundMessage],
    profile: SendingProfile,
    sender: Collaborator,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    message = compose()
    smtp_server.drop_next()
    messages_deliver(profile_id=profile.pk)
    message.refresh_from_db()
    assert message.status == Status.UNCERTAIN

    with django_capture_on_commit_callbacks(execute=True):
        message_retry(message=message, by=sender)
    assert (message.status, message.attempts) == (Status.QUEUED, 0)
    messages_deliver(profile_id=profile.pk)
    [received] = smtp_server.messages
    assert received.data == smtp_server.dropped[0].data
    assert received.message["Message-ID"] == message.message_id


def test_a_queued_message_cannot_be_retried(
    compose: Callable[..., OutboundMessage], sender: Collaborator
) -> None:
    message = compose()
    with pytest.raises(ValidationError, match="ne peut pas être renvoyé"):
        message_retry(message=message, by=sender)


# -- the connection test ------------------------------------------------------------------------


def test_profile_test_sends_a_real_mail_outside_the_outbox(
    profile: SendingProfile, sender: Collaborator, smtp_server: FakeSMTPServer
) -> None:
    test = profile_verify(profile=profile, requested_by=sender, recipient="anne@fidu.test")
    assert test.success
    assert "250 " in test.detail
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["anne@fidu.test"]
    assert received.message["From"] == "Anne Dupont <anne@fidu.test>"
    assert OutboundMessage.objects.count() == 0


def test_profile_test_reports_a_refused_password_without_raising(
    make_smtp_server: Callable[..., FakeSMTPServer],
    make_profile: Callable[..., SendingProfile],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = make_smtp_server(auth=("anne", "juste"))
    profile = make_profile(server=server, smtp_password="Faux-Secret-123")
    assert profile.collaborator is not None
    with caplog.at_level(logging.DEBUG):
        test = profile_verify(
            profile=profile, requested_by=profile.collaborator, recipient="anne@fidu.test"
        )
    assert not test.success
    assert "mot de passe" in test.detail
    assert "535" in test.detail
    assert test.pk is not None
    assert "Faux-Secret-123" not in caplog.text + str(test.detail)
    assert server.messages == []


def test_profile_test_reports_an_unreachable_server(
    make_profile: Callable[..., SendingProfile],
) -> None:
    profile = make_profile(smtp_host="smtp.nonexistent.invalid")
    assert profile.collaborator is not None
    # The diagnosis is an administrator's; a collaborator reads one sentence for every
    # server out of reach (tests/mailing/test_profile_test_scan.py).
    profile.collaborator.role = profile.collaborator.Role.ADMIN
    test = profile_verify(
        profile=profile, requested_by=profile.collaborator, recipient="anne@fidu.test"
    )
    assert not test.success
    assert "introuvable" in test.detail


# -- the commands -----------------------------------------------------------------------------


def test_outbox_recover_settles_stopped_runs_and_wakes_waiting_profiles(
    compose: Callable[..., OutboundMessage], profile: SendingProfile
) -> None:
    stuck, waiting = compose(), compose(subject="En attente")
    _left_sending(stuck, handed_over=True)
    DBTaskResult.objects.all().delete()
    out = StringIO()

    call_command("outbox_recover", stdout=out)

    stuck.refresh_from_db()
    waiting.refresh_from_db()
    assert (stuck.status, waiting.status) == (Status.UNCERTAIN, Status.QUEUED)
    # French by default, 0 and 1 in the singular.
    assert out.getvalue() == (
        "1 envoi interrompu réglé.\n"
        "0 envoi groupé interrompu repris.\n"
        "Livraison relancée pour 1 paramétrage d'envoi.\n"
    )
    assert [task.args_kwargs["args"] for task in delivery_tasks()] == [[profile.pk]]

    for message in (compose(), compose()):
        _left_sending(message, handed_over=True)
    out = StringIO()
    call_command("outbox_recover", "--no-kick", stdout=out)
    assert out.getvalue() == "2 envois interrompus réglés.\n0 envoi groupé interrompu repris.\n"

    # The active language is the one it speaks, with that language's plural rule.
    out = StringIO()
    with translation.override("nl"):
        call_command("outbox_recover", stdout=out)
    assert out.getvalue() == (
        "0 onderbroken verzendingen afgehandeld.\n"
        "0 onderbroken groepsverzendingen hervat.\n"
        "Levering opnieuw gestart voor 1 verzendinstelling.\n"
    )


def test_outbox_status_lists_what_waits_for_a_person(
    compose: Callable[..., OutboundMessage], profile: SendingProfile, smtp_server: FakeSMTPServer
) -> None:
    message = compose()
    smtp_server.drop_next()
    messages_deliver(profile_id=profile.pk)
    out = StringIO()

    call_command("outbox_status", stdout=out)

    text = out.getvalue()
    assert re.search(r"incertain\s+1", text)
    assert f"[incertain] n°{message.pk} du " in text
    assert "peut-être parti" in text

    out = StringIO()
    with translation.override("nl"):
        call_command("outbox_status", stdout=out)
    assert re.search(r"onzeker\s+1", out.getvalue())
    assert f"[onzeker] nr. {message.pk} van " in out.getvalue()
