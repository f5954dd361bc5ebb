"""A client file with something of everything: a mail that reached the SMTP server, a document,
an issued invoice sent by e-mail, a secure link; and a second client, who must stay untouched."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Browser

from courrier.billing.models import Invoice
from courrier.billing.services.sending import invoice_send
from courrier.clients.models import Client
from courrier.documents.models import Document
from courrier.documents.services import document_store
from courrier.firm.models import Collaborator
from courrier.mailing.links import link_create
from courrier.mailing.models import OutboundMessage, SecureLink
from courrier.mailing.services import Draft, message_compose, messages_deliver
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_sending import make_invoice_template
from tests.fakes.smtp import FakeSMTPServer

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 50 + b"\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_URL = "https://courrier.fidu.test"
    return Path(settings.MEDIA_ROOT)


@dataclass
class ClientFile:
    client: Client
    mail: OutboundMessage
    document: Document
    invoice: Invoice
    invoice_mail: OutboundMessage
    link: SecureLink


@pytest.fixture
def admin(make_collaborator: Callable[..., Collaborator]) -> Collaborator:
    return make_collaborator(
        email="admin@fidu.test", role=Collaborator.Role.ADMIN, first_name="Alice", last_name="Admin"
    )


@pytest.fixture
def colleague(make_collaborator: Callable[..., Collaborator]) -> Collaborator:
    return make_collaborator(email="bob@fidu.test", first_name="Bob", last_name="Collab")


def logged_in(user: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


@pytest.fixture
def make_file(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., Any],
    admin: Collaborator,
) -> Callable[[str, str], ClientFile]:
    """`make_file(number, name)`: a client with a delivered mail, a document, an issued invoice
    delivered by e-mail and a secure link."""
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    make_profile(server=smtp_server, collaborator=admin)
    make_invoice_template()

    def make(number: str, name: str) -> ClientFile:
        client = make_invoice_client(
            number, name=name, emails=(f"{number.lower()}@client.test",), billing_company=company
        )
        mail = message_compose(
            sender=admin,
            client=client,
            draft=Draft(subject=f"Votre bilan {number}", body="Bonjour,\n\nVoici le bilan."),
        )
        document = document_store(
            client=client,
            by=admin,
            file=SimpleUploadedFile("bilan.pdf", PDF + number.encode()),
            kind=Document.Kind.ANNUAL_ACCOUNTS,
            title=f"Comptes annuels {number}",
            date=date(2026, 6, 15),
        )
        invoice = make_invoice(company, client, by=admin)
        invoice_mail = invoice_send(invoice=invoice, by=admin)
        for profile in OutboundMessage.objects.values_list("profile_id", flat=True).distinct():
            messages_deliver(profile_id=profile)
        link, _code = link_create(
            client=client,
            name="ipp.pdf",
            content_type="application/pdf",
            content=PDF,
            created_by=admin,
            message=mail,
        )
        return ClientFile(
            client=client,
            mail=OutboundMessage.objects.get(pk=mail.pk),
            document=document,
            invoice=Invoice.objects.get(pk=invoice.pk),
            invoice_mail=OutboundMessage.objects.get(pk=invoice_mail.pk),
            link=link,
        )

    return make
