"""What the worker writes down is read in the reader's language, not in the worker's.

A French collaborator's mail fails; colleagues whose interface is in English, then in Dutch,
open the pages where the explanation shows and read it in their language, with the server's
own answer as the server wrote it. The worker runs in French, as it does in production.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse
from django.utils import translation

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import DeliveryAttempt, OutboundMessage, SendingProfile
from courrier.mailing.services import message_compose, messages_deliver, profile_verify
from courrier.mailing.services.sent_copy import sent_copy_append
from tests.compose_call import grouped
from tests.fakes.imap import FakeIMAPServer
from tests.fakes.smtp import FakeSMTPServer
from tests.test_translations import LOCALE, french_left, read_po, text_of

READERS = [
    ("en", "The server refuses the recipient", "The server refused the username or password"),
    ("nl", "De server weigert de ontvanger", "De server heeft de gebruikersnaam of het wacht"),
]


def french_sentences_left(text: str, language: str) -> list[str]:
    """`french_left`, and also our French sentences with placeholders: their longest fixed part
    (between placeholders, 25 characters at least) must not show on a page meant for
    `language`."""
    found = french_left(text, language)
    for entry in read_po(LOCALE / language / "LC_MESSAGES" / "django.po"):
        if entry.plural is not None or "%(" not in entry.msgid or entry.msgid == entry.msgstrs[0]:
            continue
        longest = max(re.split(r"%\([^)]+\)[a-z]", entry.msgid), key=len).strip()
        if len(longest) >= 25 and longest in text:
            found.append(entry.msgid)
    return sorted(found)


def deliver_in_french(profile: SendingProfile) -> None:
    """The worker: no interface language of its own, so the firm's default, French."""
    with translation.override("fr"):
        messages_deliver(profile_id=profile.pk)


@pytest.fixture
def anne(make_collaborator: Callable[..., Collaborator]) -> Collaborator:
    return make_collaborator(email="anne@fidu.test", language="fr")


@pytest.fixture
def make_reader(make_collaborator: Callable[..., Collaborator]) -> Callable[[str], Browser]:
    """A firm administrator (who sees everyone's messages) whose interface is `language`."""

    def make(language: str) -> Browser:
        reader = make_collaborator(
            email=f"reader-{language}@fidu.test", language=language, role=Collaborator.Role.ADMIN
        )
        browser = Browser()
        browser.force_login(reader)
        return browser

    return make


@pytest.fixture
def client_file(make_client: Callable[..., Client]) -> Client:
    return make_client(name="Boulangerie Dupuis", emails=["nobody@dupuis.test"])


def compose(sender: Collaborator, client: Client, **options: Any) -> OutboundMessage:
    with translation.override("fr"):
        return message_compose(
            **grouped(
                {
                    "sender": sender,
                    "client": client,
                    "subject": "Votre dossier",
                    "body": "Bonjour,",
                    **options,
                }
            )
        )


@pytest.mark.parametrize(("language", "refused", "_password"), READERS)
def test_a_refused_recipient_reads_in_the_readers_language(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    make_reader: Callable[[str], Browser],
    anne: Collaborator,
    client_file: Client,
    language: str,
    refused: str,
    _password: str,
) -> None:
    profile = make_profile(server=smtp_server, collaborator=anne)
    smtp_server.fail_recipient("nobody@dupuis.test", "550 5.1.1 No such user here")
    message = compose(anne, client_file)
    deliver_in_french(profile)
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.FAILED
    with translation.override("fr"):
        assert "Le serveur refuse le destinataire nobody@dupuis.test." in str(message.last_error)

    browser = make_reader(language)
    for url in (
        reverse("mailing:message_detail", args=[message.pk]),
        reverse("mailing:outbox") + "?status=failed",
        reverse("mailing:undelivered"),
    ):
        response = browser.get(url)
        assert response.status_code == 200, url
        text = text_of(response)
        assert f"{refused} nobody@dupuis.test." in text, url
        # The server's own words stay as it wrote them.
        assert "550 5.1.1 No such user here" in text, url
        assert "Le serveur refuse le destinataire" not in text, url
        assert french_sentences_left(text, language) == [], url

    # The technical administration, opened by a superuser who reads the same language.
    root = Collaborator.objects.create_superuser(
        f"root-{language}@fidu.test", "pw-root-1234", language=language
    )
    admin = Browser()
    admin.force_login(root)
    text = text_of(admin.get(reverse("admin:mailing_outboundmessage_change", args=[message.pk])))
    assert f"{refused} nobody@dupuis.test." in text
    assert "Le serveur refuse le destinataire" not in text


@pytest.mark.parametrize(("language", "_refused", "password"), READERS)
def test_a_refused_profile_reads_in_the_readers_language_on_the_banner_and_the_pages(
    make_smtp_server: Callable[..., FakeSMTPServer],
    make_profile: Callable[..., SendingProfile],
    make_reader: Callable[[str], Browser],
    anne: Collaborator,
    client_file: Client,
    language: str,
    _refused: str,
    password: str,
) -> None:
    server = make_smtp_server(auth=("anne@fidu.test", "le-bon"), auth_require_tls=False)
    company = BillingCompany.objects.create(code="FIDU", name="Fiduciaire Demo")
    profile = make_profile(
        server=server,
        billing_company=company,
        collaborator=None,
        smtp_username="anne@fidu.test",
        smtp_password="le-mauvais",
    )
    message = compose(anne, client_file, billing_company=company)
    deliver_in_french(profile)
    message.refresh_from_db()
    profile.refresh_from_db()
    assert message.status == OutboundMessage.Status.HELD
    assert profile.state == SendingProfile.State.BROKEN

    browser = make_reader(language)
    for url in (
        reverse("clients:list"),  # the banner, on every page
        reverse("mailing:message_detail", args=[message.pk]),
        reverse("mailing:outbox") + "?status=held",
        reverse("mailing:company_profile", args=[company.pk]),
    ):
        response = browser.get(url)
        assert response.status_code == 200, url
        text = text_of(response)
        assert password in text, url
        assert "535" in text, url
        assert "Le serveur a refusé l'identifiant" not in text, url
        assert french_sentences_left(text, language) == [], url


@pytest.mark.parametrize(("language", "_refused", "password"), READERS)
def test_a_connection_test_run_by_one_reads_right_for_another(
    make_smtp_server: Callable[..., FakeSMTPServer],
    make_profile: Callable[..., SendingProfile],
    make_reader: Callable[[str], Browser],
    anne: Collaborator,
    language: str,
    _refused: str,
    password: str,
) -> None:
    server = make_smtp_server(auth=("anne@fidu.test", "le-bon"), auth_require_tls=False)
    company = BillingCompany.objects.create(code="FIDU", name="Fiduciaire Demo")
    profile = make_profile(
        server=server,
        billing_company=company,
        collaborator=None,
        smtp_username="anne@fidu.test",
        smtp_password="le-mauvais",
    )
    with translation.override("fr"):
        test = profile_verify(profile=profile, requested_by=anne, recipient="anne@fidu.test")
    assert not test.success

    text = text_of(make_reader(language).get(reverse("mailing:company_profile", args=[company.pk])))
    assert password in text
    assert "535" in text
    assert french_sentences_left(text, language) == []


@pytest.mark.parametrize(
    ("language", "copied"),
    [("en", "Copy in ‘Sent Items’ (IMAP)"), ("nl", "Kopie in ‘Verzonden items’ (IMAP)")],
)
def test_the_imap_log_reads_in_the_readers_language(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    make_reader: Callable[[str], Browser],
    anne: Collaborator,
    make_client: Callable[..., Client],
    language: str,
    copied: str,
) -> None:
    with FakeIMAPServer(folders={"INBOX": "", "Sent Items": "\\Sent"}) as imap:
        user, password = next(iter(imap.users.items()))
        profile = make_profile(
            server=smtp_server,
            collaborator=anne,
            imap_enabled=True,
            imap_host=imap.host,
            imap_port=imap.port,
            imap_security=imap.security,
            imap_username=user,
            imap_password=password,
            imap_sent_folder="Envoyés",  # not on the server: its Sent folder is used
        )
        message = compose(anne, make_client(emails=["info@dupuis.test"]))
        deliver_in_french(profile)
        message.refresh_from_db()
        with translation.override("fr"):
            sent_copy_append(message=message)
    log = DeliveryAttempt.objects.filter(message=message).order_by("id").last()
    assert log is not None and "Sent Items" in log.detail

    text = text_of(make_reader(language).get(reverse("mailing:message_detail", args=[message.pk])))
    assert copied in text
    assert "Copie dans « Éléments envoyés »" not in text
    assert french_sentences_left(text, language) == []


def test_outbox_status_speaks_dutch_whoever_caused_the_failure(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    anne: Collaborator,
    client_file: Client,
) -> None:
    profile = make_profile(server=smtp_server, collaborator=anne)
    smtp_server.fail_recipient("nobody@dupuis.test", "550 5.1.1 No such user here")
    compose(anne, client_file)
    deliver_in_french(profile)

    out = StringIO()
    with translation.override("nl"):
        call_command("outbox_status", stdout=out)
    assert "De server weigert de ontvanger nobody@dupuis.test." in out.getvalue()
    assert "550 5.1.1 No such user here" in out.getvalue()
    assert "Le serveur refuse" not in out.getvalue()


def test_old_rows_with_plain_french_text_still_show(
    make_profile: Callable[..., SendingProfile],
    make_reader: Callable[[str], Browser],
    anne: Collaborator,
    client_file: Client,
) -> None:
    """Rows written before explanations were stored as codes keep reading as they were."""
    profile = make_profile(collaborator=anne)
    message = compose(anne, client_file)
    old = "Le serveur refuse le destinataire nobody@dupuis.test.\nRéponse du serveur : 550 non"
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=OutboundMessage.Status.FAILED, last_error=old
    )
    SendingProfile.objects.filter(pk=profile.pk).update(
        state=SendingProfile.State.BROKEN, state_reason="Ancienne raison en français."
    )
    message.refresh_from_db()
    assert str(message.last_error) == old

    text = text_of(make_reader("en").get(reverse("mailing:message_detail", args=[message.pk])))
    assert "Le serveur refuse le destinataire nobody@dupuis.test." in text
    out = StringIO()
    call_command("outbox_status", stdout=out)
    assert "Ancienne raison en français." in out.getvalue()
