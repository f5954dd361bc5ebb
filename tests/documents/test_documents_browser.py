"""From the client file's Documents tab to the client's mailbox, in a real browser: upload a
document, "Envoyer un email" opens the compose window with it joined, the mail arrives with
exactly the stored bytes, and the tab says when it went."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from courrier.documents.models import Document
from courrier.firm.models import Collaborator
from courrier.mailing.models import SendingProfile
from courrier.mailing.services import messages_deliver
from tests.clients.factories import make_client
from tests.e2e.editor import type_body
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.test_browser import CHROMIUM, context  # noqa: F401 (fixture used by name)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def settled(page: Page) -> None:
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(50)


def test_document_from_the_tab_to_the_mailbox(
    context: BrowserContext,  # noqa: F811
    smtp_server: FakeSMTPServer,
    tmp_path: Path,
    settings: Any,
) -> None:
    sender = Collaborator.objects.get()
    profile = SendingProfile.objects.create(
        collaborator=sender,
        method=SendingProfile.Method.SMTP,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Anne Martin",
        from_address=sender.email,
    )
    record = make_client("C0042", emails=("info@peeters.be",))
    upload = tmp_path / "Jaarrekening 2025.pdf"
    upload.write_bytes(PDF)

    page = context.new_page()
    page.goto(f"/clients/{record.pk}/")
    page.get_by_role("tab", name="Documents").click()
    settled(page)
    expect(page.get_by_text("Aucun document dans ce dossier.")).to_be_visible()

    page.get_by_label("Fichier").set_input_files(str(upload))
    page.get_by_label("Type").select_option("annual_accounts")
    page.get_by_label("Titre").fill("Comptes annuels 2025")
    page.get_by_label("Date du document").fill("2026-06-28")
    page.get_by_role("button", name="Ajouter").click()
    expect(page.get_by_text("Le document « Comptes annuels 2025 » a été ajouté.")).to_be_visible()
    document = Document.objects.get()
    row = page.locator(f"#document-{document.pk}")
    expect(row).to_contain_text("Jaarrekening 2025.pdf")

    row.get_by_role("link", name="Envoyer un email").click()
    expect(page.get_by_text("Jaarrekening 2025.pdf").first).to_be_visible()
    page.locator("[name=subject]").fill("{TYPEDOCUMENT} {TITREDOC}")
    type_body(page, "Goedendag,\n\nIn bijlage: {NOMFICHIER}.")
    page.get_by_role("button", name="Envoyer", exact=True).click()
    page.wait_for_url(re.compile(rf"/documents/client/{record.pk}/"))

    messages_deliver(profile_id=profile.pk)
    received = smtp_server.wait_for(1)[0]
    assert received.rcpt_tos == ["info@peeters.be"]
    assert received.message["Subject"] == "jaarrekening Comptes annuels 2025"
    [attached] = list(received.message.iter_attachments())
    assert attached.get_filename() == "Jaarrekening 2025.pdf"
    assert attached.get_payload(decode=True) == PDF
    page.reload()
    expect(page.locator(f"#document-{document.pk}")).to_contain_text("envoyé le")
