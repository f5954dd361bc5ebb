"""A wrong encryption key is told before it fails anything: `check --deploy` names it, every
page showing a profile says what is wrong in a sentence, the worker holds the messages saying
why. Nothing shows or logs a secret."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import Draft, message_compose
from tests.firm.factories import make_admin, make_company

PASSWORD = "Mot-de-Passe-Du-Cabinet-2026"


def wrong_key(settings: Any) -> None:
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]


def test_check_refuses_a_key_that_is_not_a_fernet_key(settings: Any) -> None:
    settings.ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(SystemCheckError, match=r"courrier\.E001.*not a Fernet key"):
        call_command("check")


def test_check_deploy_names_the_secrets_the_keys_cannot_read(
    make_profile: Callable[..., SendingProfile], settings: Any, capsys: Any
) -> None:
    make_profile(smtp_password=PASSWORD, api_key="SG.cle-secrete")
    call_command("check", "--deploy", "--fail-level", "ERROR")  # the right key: no error

    wrong_key(settings)
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", "--deploy")
    said = str(raised.value)
    assert "courrier.E002" in said
    assert "mailing.SendingProfile.smtp_password" in said
    assert "mailing.SendingProfile.api_key" in said
    assert PASSWORD not in said + capsys.readouterr().out


@pytest.mark.django_db
def test_pages_showing_a_profile_say_the_key_cannot_read_it(
    make_profile: Callable[..., SendingProfile], settings: Any
) -> None:
    admin = make_admin(is_staff=True, is_superuser=True)
    company = make_company()
    mine = make_profile(collaborator=admin, smtp_password=PASSWORD)
    make_profile(billing_company=company, collaborator=None, api_key="SG.cle-secrete")
    browser = Browser()
    browser.force_login(admin)
    wrong_key(settings)

    listing = browser.get(reverse("admin:mailing_sendingprofile_changelist"))
    assert listing.status_code == 200
    assert PASSWORD not in listing.content.decode()
    assert "ne peut pas lire les secrets de certains paramétrages" in unescape(
        listing.content.decode()
    )
    for url in (
        reverse("admin:mailing_sendingprofile_change", args=[mine.pk]),
        reverse("mailing:my_profile"),
        reverse("mailing:company_profile", args=[company.pk]),
    ):
        response = browser.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert PASSWORD not in page
        assert "La clé de chiffrement de l&#x27;installation ne peut pas lire" in page, url


def test_the_worker_holds_the_messages_saying_why_then_resumes_when_the_key_is_back(
    make_smtp_server: Callable[..., Any],
    make_profile: Callable[..., SendingProfile],
    make_client: Callable[..., Client],
    settings: Any,
    caplog: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
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

    wrong_key(settings)
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    message = OutboundMessage.objects.get()
    assert message.status == OutboundMessage.Status.HELD
    assert "ne peut pas lire le secret de ce paramétrage" in str(message.last_error)
    assert PASSWORD not in caplog.text

    settings.ENCRYPTION_KEYS = good_keys
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    assert OutboundMessage.objects.get().status == OutboundMessage.Status.SENT
    assert len(server.messages) == 1
