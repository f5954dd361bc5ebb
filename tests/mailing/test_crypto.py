"""Secrets at rest: encrypted in the database, a wrong key fails loudly, keys can be rotated."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from courrier.clients.models import Client
from courrier.crypto import SecretUnreadable
from courrier.mailing.exceptions import ConfigurationError
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import Draft, message_compose, messages_deliver, profile_for_sender
from tests.fakes.smtp import FakeSMTPServer

PASSWORD = "Mot-de-Passe-Du-Cabinet-2026"


def stored_password(profile: SendingProfile) -> str:
    """The column as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT smtp_password FROM mailing_sendingprofile WHERE id = %s", [profile.pk]
        )
        value = cursor.fetchone()[0]
    assert isinstance(value, str)
    return value


@pytest.fixture
def profile(make_profile: Callable[..., SendingProfile]) -> SendingProfile:
    return make_profile(smtp_username="anne@fidu.test", smtp_password=PASSWORD)


def test_password_is_stored_encrypted_and_read_back(profile: SendingProfile) -> None:
    raw = stored_password(profile)
    assert raw.startswith("fernet:")
    assert PASSWORD not in raw
    assert SendingProfile.objects.get(pk=profile.pk).smtp_password == PASSWORD


def test_empty_password_stays_empty(make_profile: Callable[..., SendingProfile]) -> None:
    profile = make_profile(smtp_password="")
    assert stored_password(profile) == ""
    assert SendingProfile.objects.get(pk=profile.pk).smtp_password == ""


def test_wrong_key_fails_loudly_and_never_hands_back_the_ciphertext(
    profile: SendingProfile, settings: Any
) -> None:
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretUnreadable, match="COURRIER_ENCRYPTION_KEYS"):
        SendingProfile.objects.get(pk=profile.pk)


def test_wrong_key_stops_compose_and_delivery_with_nothing_sent(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    make_client: Callable[..., Client],
    settings: Any,
) -> None:
    profile = make_profile(server=smtp_server, smtp_username="anne", smtp_password=PASSWORD)
    assert profile.collaborator is not None
    client = make_client()
    message = message_compose(
        sender=profile.collaborator, client=client, draft=Draft(subject="Bilan", body="Bonjour")
    )

    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ConfigurationError, match="ne peut plus être lu"):
        profile_for_sender(sender=profile.collaborator)
    with pytest.raises(ConfigurationError):
        message_compose(
            sender=profile.collaborator, client=client, draft=Draft(subject="Bis", body="Bis")
        )
    with pytest.raises(SecretUnreadable):
        messages_deliver(profile_id=profile.pk)

    # Held, saying why (not left "queued" with nothing said).
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.HELD
    assert "clé de chiffrement" in str(message.last_error)
    assert OutboundMessage.objects.count() == 1
    assert smtp_server.messages == []


def test_a_mail_stopped_by_a_wrong_key_leaves_by_itself_once_the_key_is_back(
    make_smtp_server: Callable[..., FakeSMTPServer],
    make_profile: Callable[..., SendingProfile],
    make_client: Callable[..., Client],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.COURRIER = {**settings.COURRIER, "RETRY_BASE_SECONDS": 60.0}
    server = make_smtp_server(auth=("anne", PASSWORD))
    profile = make_profile(server=server, smtp_username="anne", smtp_password=PASSWORD)
    assert profile.collaborator is not None
    with django_capture_on_commit_callbacks(execute=True):
        message_compose(
            sender=profile.collaborator,
            client=make_client(),
            draft=Draft(subject="Bilan", body="Bonjour"),
        )
    good_keys = settings.ENCRYPTION_KEYS

    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    started = timezone.now()
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)

    # The run failed loudly; the next one waits a minute instead of failing again at once.
    runs = DBTaskResult.objects.filter(task_path__endswith="tasks.deliver_profile")
    assert sorted(runs.values_list("status", flat=True)) == ["FAILED", "READY"]
    waiting = runs.get(status="READY")
    assert waiting.run_after >= started + timedelta(seconds=60)
    assert server.messages == []

    # The key is back and the minute has passed: no cron, no person, the mail leaves.
    settings.ENCRYPTION_KEYS = good_keys
    runs.filter(pk=waiting.pk).update(run_after=timezone.now())
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)

    [received] = server.messages
    assert received.message["Subject"] == "Bilan"
    assert received.authenticated_as == "anne"
    assert OutboundMessage.objects.get().status == OutboundMessage.Status.SENT


def test_new_key_first_still_reads_old_rows_and_rotation_rewrites_them(
    profile: SendingProfile, settings: Any
) -> None:
    old_key = settings.ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    before = stored_password(profile)

    settings.ENCRYPTION_KEYS = [new_key, old_key]
    assert SendingProfile.objects.get(pk=profile.pk).smtp_password == PASSWORD

    call_command("rotate_secrets", verbosity=0)
    after = stored_password(profile)
    assert after != before
    assert after.startswith("fernet:")

    settings.ENCRYPTION_KEYS = [new_key]
    assert SendingProfile.objects.get(pk=profile.pk).smtp_password == PASSWORD
    settings.ENCRYPTION_KEYS = [old_key]
    with pytest.raises(SecretUnreadable):
        SendingProfile.objects.get(pk=profile.pk)


def test_rotation_changes_nothing_when_a_secret_cannot_be_read(
    profile: SendingProfile, make_profile: Callable[..., SendingProfile], settings: Any
) -> None:
    readable = make_profile(smtp_password="autre-secret")
    before = {p.pk: stored_password(p) for p in (profile, readable)}
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
    # Only `readable` is re-encrypted under a key the new list knows.
    SendingProfile.objects.filter(pk=readable.pk).update(smtp_password="autre-secret")
    readable_before = stored_password(readable)

    with pytest.raises(CommandError, match=rf"SendingProfile n°{profile.pk}"):
        call_command("rotate_secrets", verbosity=0)
    assert stored_password(profile) == before[profile.pk]
    assert stored_password(readable) == readable_before
