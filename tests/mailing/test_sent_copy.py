"""The copy of a sent mail in the sender's Sent folder (IMAP), against real servers on 127.0.0.1.

Every scenario that matters runs against the small fake IMAP server; the main ones run
against Debian's Dovecot too when it is installed (package dovecot-imapd). The servers and the
profile come from `tests/mailing/conftest.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from courrier.clients.models import Client
from courrier.mailing.models import DeliveryAttempt, OutboundMessage, SendingProfile, SentCopy
from courrier.mailing.services import Draft, message_bytes, message_compose
from courrier.mailing.services.sent_copy import COPYING, sent_copy_append
from tests.fakes.imap import (
    FOLDERS,
    FakeIMAPServer,
    IMAPAccount,
    account_of,
    parsed_date,
)
from tests.fakes.smtp import FakeSMTPServer, TestCA, free_port

Status = OutboundMessage.Status


# -- a sender whose profile asks for the copy -------------------------------------------------


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client(name="Boulangerie Dupuis", emails=["info@dupuis.test"])


@pytest.fixture
def send(
    client: Client, django_capture_on_commit_callbacks: Any
) -> Callable[[SendingProfile], OutboundMessage]:
    """Compose a mail with the profile's owner as sender, then let the worker run its tasks."""

    def send(profile: SendingProfile) -> OutboundMessage:
        assert profile.collaborator is not None
        with django_capture_on_commit_callbacks(execute=True):
            message = message_compose(
                sender=profile.collaborator,
                client=client,
                draft=Draft(
                    subject="Votre dossier {NOMCLIENT}",
                    body="Bonjour,\n\nVoici le point sur votre dossier.",
                ),
            )
        run_worker()
        message.refresh_from_db()
        return message

    return send


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)


def copy_tasks() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(task_path__endswith="tasks.copy_to_sent").order_by(
            "enqueued_at"
        )
    )


def make_retries_due() -> None:
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())


def copies(account: IMAPAccount | FakeIMAPServer, folder: str, message: OutboundMessage) -> list:
    return [item for item in account.stored(folder) if message.message_id.encode() in item.data]


def imap_log(message: OutboundMessage) -> list[DeliveryAttempt]:
    return [a for a in message.attempts_log.all() if "(IMAP)" in a.detail]


# -- the copy ---------------------------------------------------------------------------------


def test_the_copy_is_the_sent_bytes_read_and_dated_in_the_sent_folder(
    account: IMAPAccount,
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
    smtp_server: FakeSMTPServer,
) -> None:
    message = send(make_imap_profile(account))

    assert message.status == Status.SENT
    assert message.sent_copy == SentCopy.DONE
    raw = message_bytes(message)
    assert smtp_server.messages[0].message["Message-ID"] == message.message_id
    [copy] = copies(account, "Sent Items", message)
    assert copy.data == raw
    assert copy.seen
    assert copy.internal_date == parsed_date(raw)
    assert copies(account, "INBOX", message) == []
    [line] = imap_log(message)
    assert line.outcome == DeliveryAttempt.Outcome.SENT
    assert "« Sent Items »" in line.detail
    assert {task.status for task in copy_tasks()} == {"SUCCESSFUL"}


def test_a_copy_already_made_is_never_appended_again(
    account: IMAPAccount,
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    message = send(make_imap_profile(account))
    assert message.sent_copy == SentCopy.DONE

    # The same task run again: the claim says the copy is made.
    sent_copy_append(message=message)
    # The row forgot it (restored from a backup, say): the folder is searched before APPEND.
    OutboundMessage.objects.filter(pk=message.pk).update(sent_copy="")
    sent_copy_append(message=message)

    message.refresh_from_db()
    assert len(copies(account, "Sent Items", message)) == 1
    assert message.sent_copy == SentCopy.DONE
    assert "y était déjà" in imap_log(message)[-1].detail


def test_a_copy_whose_answer_was_lost_is_found_by_the_retry_not_appended_twice(
    fake_imap: FakeIMAPServer,
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    fake_imap.drop_after_append()
    message = send(make_imap_profile(account_of(fake_imap)))

    # Stored by the server, but the connection broke before its answer: tried again later.
    assert message.status == Status.SENT
    assert message.sent_copy == ""
    assert len(copies(fake_imap, "Sent Items", message)) == 1
    waiting = [task for task in copy_tasks() if task.status == "READY"]
    assert len(waiting) == 1 and waiting[0].run_after > timezone.now()
    assert waiting[0].args_kwargs["args"] == [message.pk, 2]

    make_retries_due()
    run_worker()
    message.refresh_from_db()

    assert message.sent_copy == SentCopy.DONE
    assert len(copies(fake_imap, "Sent Items", message)) == 1
    first, second = imap_log(message)
    assert first.outcome == DeliveryAttempt.Outcome.TRANSIENT
    assert "interrompue" in first.detail and "Nouvel essai prévu" in first.detail
    assert second.outcome == DeliveryAttempt.Outcome.SENT
    assert "y était déjà" in second.detail
    assert "SEARCH" in fake_imap.commands


def test_a_copy_being_made_by_another_run_is_left_alone_until_its_lease_ends(
    fake_imap: FakeIMAPServer,
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    fake_imap.fail_login_next(1, reply="NO [UNAVAILABLE] Try later")
    message = send(make_imap_profile(account_of(fake_imap)))
    assert message.sent_copy == ""
    # Another run claimed the copy, as delivery's runs claim: its token and its lease.
    OutboundMessage.objects.filter(pk=message.pk).update(
        sent_copy=COPYING,
        claimed_by="another-run",
        lease_expires_at=timezone.now() + timedelta(minutes=10),
    )

    sent_copy_append(message=message)
    assert copies(fake_imap, "Sent Items", message) == []

    OutboundMessage.objects.filter(pk=message.pk).update(
        lease_expires_at=timezone.now() - timedelta(hours=1)
    )
    sent_copy_append(message=message)
    message.refresh_from_db()
    assert message.sent_copy == SentCopy.DONE
    assert len(copies(fake_imap, "Sent Items", message)) == 1


def test_wrong_password_the_copy_fails_with_a_reason_and_the_mail_stays_sent(
    account: IMAPAccount,
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    message = send(make_imap_profile(account, imap_password="pas-le-bon"))

    assert message.status == Status.SENT
    assert message.last_error == ""
    assert message.sent_copy == SentCopy.FAILED
    [line] = imap_log(message)
    assert line.outcome == DeliveryAttempt.Outcome.PROFILE
    assert "a refusé l'identifiant ou le mot de passe" in line.detail
    assert "pas-le-bon" not in line.detail
    assert [task.status for task in copy_tasks()] == ["SUCCESSFUL"]  # not tried again
    assert copies(account, "Sent Items", message) == []


def test_a_missing_folder_is_replaced_by_the_servers_sent_folder_and_the_log_says_so(
    account: IMAPAccount,
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    message = send(make_imap_profile(account, imap_sent_folder="Envoyés"))

    assert message.sent_copy == SentCopy.DONE
    assert len(copies(account, "Sent Items", message)) == 1
    [line] = imap_log(message)
    assert "« Envoyés » n'existe pas" in line.detail
    assert "« Sent Items »" in line.detail


def test_a_folder_with_accents_is_found_under_its_imap_spelling(
    account: IMAPAccount,
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    message = send(make_imap_profile(account, imap_sent_folder="Éléments envoyés"))

    assert message.sent_copy == SentCopy.DONE
    assert len(copies(account, "Éléments envoyés", message)) == 1
    assert copies(account, "Sent Items", message) == []
    assert "n'existe pas" not in imap_log(message)[0].detail


def test_the_sent_folder_is_asked_for_when_the_plain_list_does_not_mark_it(
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    with FakeIMAPServer(folders=dict(FOLDERS), special_use_in_plain_list=False) as server:
        message = send(make_imap_profile(account_of(server), imap_sent_folder="Sent"))

        assert message.sent_copy == SentCopy.DONE
        assert len(copies(server, "Sent Items", message)) == 1
        assert server.commands.count("LIST") == 2


def test_no_folder_and_no_sent_folder_fails_listing_the_folders_found(
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    with FakeIMAPServer(folders={"INBOX": "", "Archives": ""}, special_use=False) as server:
        message = send(make_imap_profile(account_of(server), imap_sent_folder="Sent"))

        assert message.status == Status.SENT
        assert message.sent_copy == SentCopy.FAILED
        detail = imap_log(message)[0].detail
        assert "« Sent » n'existe pas" in detail
        assert "« INBOX », « Archives »" in detail
        assert server.appended == []


def test_a_refused_connection_is_tried_again_with_back_off_then_given_up(
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
    settings: Any,
) -> None:
    settings.COURRIER = {**settings.COURRIER, "IMAP_MAX_ATTEMPTS": 2}
    profile = make_imap_profile(
        imap_host="127.0.0.1",
        imap_port=free_port(),
        imap_security="none",
        imap_username="anne@fidu.test",
        imap_password="secret",
    )
    before = timezone.now()
    message = send(profile)
    assert message.status == Status.SENT
    assert message.sent_copy == ""
    [retry] = [task for task in copy_tasks() if task.status == "READY"]
    assert retry.run_after >= before + timedelta(seconds=1)

    make_retries_due()
    run_worker()
    message.refresh_from_db()

    assert message.status == Status.SENT
    assert message.sent_copy == SentCopy.FAILED
    first, last = imap_log(message)
    assert "refuse les connexions" in first.detail
    assert "abandonné après 2 essais" in last.detail
    assert not [task for task in copy_tasks() if task.status == "READY"]


def test_a_server_busy_at_login_gets_the_copy_on_the_next_try(
    fake_imap: FakeIMAPServer,
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    fake_imap.fail_login_next(1, reply="NO [UNAVAILABLE] Maintenance")
    message = send(make_imap_profile(account_of(fake_imap)))
    assert message.sent_copy == ""

    make_retries_due()
    run_worker()
    message.refresh_from_db()
    assert message.sent_copy == SentCopy.DONE
    assert len(copies(fake_imap, "Sent Items", message)) == 1


def test_a_copy_over_starttls_and_over_ssl_with_the_servers_certificate(
    test_ca: TestCA,
    make_imap_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    tls_modes: list[dict[str, Any]] = [{"starttls": True}, {"implicit_tls": True}]
    for options in tls_modes:
        with FakeIMAPServer(folders=dict(FOLDERS), tls=test_ca, **options) as server:
            profile = make_imap_profile(account_of(server), imap_enabled=False)
            message = send(profile)
            SendingProfile.objects.filter(pk=profile.pk).update(imap_enabled=True)

            sent_copy_append(message=message, ssl_context=test_ca.client_context())

            message.refresh_from_db()
            assert message.sent_copy == SentCopy.DONE
            [copy] = copies(server, "Sent Items", message)
            assert copy.data == message_bytes(message)


def test_nothing_is_copied_for_a_profile_that_does_not_ask(
    make_profile: Callable[..., SendingProfile],
    smtp_server: FakeSMTPServer,
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    message = send(make_profile(server=smtp_server))

    assert message.status == Status.SENT
    assert message.sent_copy == ""
    assert copy_tasks() == []


def test_a_credentialless_imap_login_reuses_the_smtpaccount_of(
    fake_imap: FakeIMAPServer,
    make_smtp_server: Callable[..., FakeSMTPServer],
    make_profile: Callable[..., SendingProfile],
    send: Callable[[SendingProfile], OutboundMessage],
) -> None:
    smtp = make_smtp_server(auth=("anne@fidu.test", "secret"))
    profile = make_profile(
        server=smtp,
        imap_enabled=True,
        imap_host=fake_imap.host,
        imap_port=fake_imap.port,
        imap_security="none",
        imap_sent_folder="Sent Items",
    )
    message = send(profile)
    assert message.sent_copy == SentCopy.DONE
