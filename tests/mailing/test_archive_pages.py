"""The archive as the firm reads it, and the preview in the reader's language.

A mail with a Cc, blind copies (typed, "send me a copy", the firm's fixed Bcc) and two files
goes to the SMTP server. Its page, and the client file's Mails tab, list every recipient (the
blind copies for the firm's eyes only: the stored .eml still carries no Bcc header), and each
file downloads on its own with the bytes, the name and the type the client received. The
preview names its headers in the language of the colleague reading it.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from typing import Any
from urllib.parse import unquote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import services
from courrier.mailing.models import OutboundMessage, SendingProfile, Upload
from courrier.mailing.services import message_bytes
from tests.fakes.smtp import FakeSMTPServer

COMPOSE = reverse("mailing:compose")
PREVIEW = reverse("mailing:preview")
UPLOAD = reverse("mailing:upload")
HTMX = {"HX-Request": "true"}
PDF = b"%PDF-1.4 bilan 2026\n" + bytes(range(256)) * 40
NOTES = "Notes de réunion — exercice 2026\n".encode()


def text_of(response: Any) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def anne(db: None, smtp_server: FakeSMTPServer) -> Collaborator:
    Firm.objects.update_or_create(
        pk=1, defaults={"name": "Fiduciaire Martin", "fixed_bcc": "archives@fidu.be"}
    )
    anne = Collaborator.objects.create_user(
        "anne@fidu.be", "pw-anne-1234", first_name="Anne", last_name="Martin"
    )
    SendingProfile.objects.create(
        collaborator=anne,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Anne Martin",
        from_address="anne@fidu.be",
    )
    return anne


@pytest.fixture
def browser(anne: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(anne)
    return browser


@pytest.fixture
def dupuis(db: None) -> Client:
    client = Client.objects.create(
        number="C0042", name="Boulangerie Dupuis", language="fr", legal_form="SRL"
    )
    ClientEmail.objects.create(client=client, address="info@dupuis.be")
    return client


def _upload(browser: Browser, name: str, content: bytes, content_type: str) -> Upload:
    response = browser.post(
        UPLOAD, {"files": SimpleUploadedFile(name, content, content_type)}, headers=HTMX
    )
    assert response.status_code == 200, response.content
    return Upload.objects.filter(name=name).latest("pk")


def _window(client: Client, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "recipients": "client",
        "client": str(client.pk),
        "language": "fr",
        "subject": "Votre bilan {NUMCLIENT}",
        "body": "Bonjour,\n\nVoici votre bilan.",
        "archive": "on",
        "idempotency_key": "key-archive",
    }
    data.update(extra)
    return data


@pytest.fixture
def sent(
    browser: Browser, anne: Collaborator, dupuis: Client, smtp_server: FakeSMTPServer
) -> OutboundMessage:
    """The mail, with its copies and files, as it reached the SMTP server."""
    pdf = _upload(browser, "Bilan 2026 – Dupuis.pdf", PDF, "application/pdf")
    notes = _upload(browser, "notes réunion.txt", NOTES, "text/plain")
    data = _window(
        dupuis,
        cc="comptable@dupuis.be",
        bcc="stagiaire@fidu.be",
        copy_to_sender="on",
        uploads=[pdf.pk, notes.pk],
    )
    response = browser.post(f"{COMPOSE}?client={dupuis.pk}", {**data, "send": "1"})
    assert response.status_code == 302
    services.messages_deliver(profile_id=anne.sending_profile.pk)
    assert len(smtp_server.messages) == 1
    return OutboundMessage.objects.get()


def _arrived_files(server: FakeSMTPServer) -> dict[str, tuple[str, bytes]]:
    mail = BytesParser(policy=policy.default).parsebytes(server.messages[0].data)
    assert isinstance(mail, EmailMessage)
    files = {}
    for part in mail.iter_attachments():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        files[part.get_filename() or ""] = (part.get_content_type(), payload)
    return files


def test_the_message_page_lists_to_cc_and_the_blind_copies(
    browser: Browser, sent: OutboundMessage, smtp_server: FakeSMTPServer
) -> None:
    page = browser.get(reverse("mailing:message_detail", args=[sent.pk]))

    html = unescape(page.content.decode())
    to = re.search(r'<dd id="message-to">(.*?)</dd>', html, re.S)
    cc = re.search(r'<dd id="message-cc">(.*?)</dd>', html, re.S)
    bcc = re.search(r'<dd id="message-bcc">(.*?)</dd>', html, re.S)
    assert to is not None and to.group(1).strip() == "info@dupuis.be"
    assert cc is not None and cc.group(1).strip() == "comptable@dupuis.be"
    assert bcc is not None
    for blind in ("stagiaire@fidu.be", "anne@fidu.be", "archives@fidu.be"):
        assert blind in bcc.group(1)
    # The blind copies went out in the envelope, never in a header of what was stored or sent.
    assert set(smtp_server.messages[0].rcpt_tos) == {
        "info@dupuis.be",
        "comptable@dupuis.be",
        "stagiaire@fidu.be",
        "anne@fidu.be",
        "archives@fidu.be",
    }
    stored = BytesParser(policy=policy.default).parsebytes(message_bytes(sent))
    assert stored["Bcc"] is None and b"stagiaire@fidu.be" not in message_bytes(sent)


def test_the_client_file_lists_every_recipient(
    browser: Browser, sent: OutboundMessage, dupuis: Client
) -> None:
    page = browser.get(reverse("clients:detail", args=[dupuis.pk]), {"tab": "mails"})

    row = re.search(r"<td[^>]*data-recipients>(.*?)</td>", unescape(page.content.decode()), re.S)
    assert row is not None
    cell = re.sub(r"<[^>]+>", " ", row.group(1))
    assert "info@dupuis.be" in cell and "comptable@dupuis.be" in cell
    assert "stagiaire@fidu.be" in cell and "archives@fidu.be" in cell


def test_each_attachment_downloads_as_the_client_received_it(
    browser: Browser, sent: OutboundMessage, smtp_server: FakeSMTPServer
) -> None:
    page = browser.get(reverse("mailing:message_detail", args=[sent.pk])).content.decode()
    links = re.findall(r'href="(/courrier/messages/\d+/pieces-jointes/\d+/)"', page)
    assert len(links) == 2
    arrived = _arrived_files(smtp_server)

    downloads = [browser.get(link) for link in links]

    names = []
    for response in downloads:
        assert response.status_code == 200
        # Both names are beyond ASCII: given whole, as RFC 6266 says (filename*=utf-8'').
        disposition = re.fullmatch(
            r"attachment; filename\*=utf-8''(.+)", response["Content-Disposition"]
        )
        assert disposition is not None, response["Content-Disposition"]
        name = unquote(disposition.group(1))
        content_type, content = arrived[name]
        assert response["Content-Type"] == content_type
        assert response.content == content
        names.append(name)
    assert sorted(names) == sorted(["Bilan 2026 – Dupuis.pdf", "notes réunion.txt"])
    assert arrived["Bilan 2026 – Dupuis.pdf"][1] == PDF
    assert arrived["notes réunion.txt"][1] == NOTES


def test_attachments_are_for_the_firm_only_and_a_wrong_one_is_a_404(
    browser: Browser, sent: OutboundMessage
) -> None:
    url = reverse("mailing:message_attachment", args=[sent.pk, 0])
    colleague = Browser()
    colleague.force_login(Collaborator.objects.create_user("luc@fidu.be", "pw-luc-1234"))

    assert colleague.get(url).status_code == 200  # the firm shares its client files
    anonymous = Browser().get(url)
    assert anonymous.status_code == 302 and "/connexion/" in anonymous["Location"]
    assert browser.get(reverse("mailing:message_attachment", args=[sent.pk, 2])).status_code == 404
    assert browser.get(reverse("mailing:message_attachment", args=[999999, 0])).status_code == 404


FRENCH_LABELS = {"De", "À", "Sujet", "Langue", "Adresse de réponse", "Pièces jointes"}


@pytest.mark.parametrize(
    ("language", "labels"),
    [
        ("en", {"From", "To", "Cc", "Reply-to address", "Subject", "Language", "Attachments"}),
        ("nl", {"Van", "Aan", "Cc", "Onderwerp", "Taal", "Bijlagen"}),
    ],
)
def test_the_preview_speaks_the_readers_language(
    browser: Browser, anne: Collaborator, dupuis: Client, language: str, labels: set[str]
) -> None:
    anne.language = language
    anne.save(update_fields=["language"])
    data = _window(dupuis, cc="comptable@dupuis.be", reply_to="secretariat@fidu.be")

    response = browser.post(PREVIEW, data, headers=HTMX)

    html = response.content.decode()
    shown = {
        re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", label))).strip()
        for label in re.findall(r"<dt[^>]*>(.*?)</dt>", html, re.S)
    }
    assert labels <= shown, shown
    assert not shown & FRENCH_LABELS, shown
    if language == "nl":  # nor the headers' own (English) names
        assert not shown & {"From", "To", "Subject", "Reply-To"}, shown
    page = text_of(response)
    for french in ("Aperçu", "Version texte", "Version HTML", "Pièces jointes"):
        assert french not in page
