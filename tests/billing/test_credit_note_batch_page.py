"""A batch of credit notes, or of invoices and credit notes, is titled as what it holds on its
pages (the company's batch page and the outbox's), in French and for an English colleague."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from courrier.billing.demo import seed_mail_templates
from courrier.billing.models import Invoice
from courrier.billing.services.sending import invoice_batch_start
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import MailBatch
from courrier.mailing.services import batch_compose
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_credit_notes import credit_note_of
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db


@pytest.fixture
def fidu(smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]) -> BillingCompany:
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    seed_mail_templates(companies={"FIDU": company})
    return company


@pytest.fixture
def anne() -> Collaborator:
    return make_collaborator()


@pytest.fixture
def pair(fidu: BillingCompany) -> tuple[Invoice, Invoice]:
    """An invoice and the credit note that corrects it, both to send."""
    client = make_invoice_client("C1", emails=("compta@dupuis.test",))
    invoice = make_invoice(fidu, client, issue_date=timezone.localdate())
    return invoice, credit_note_of(invoice)


def batch_of(by: Collaborator, invoices: list[Invoice]) -> MailBatch:
    batch = invoice_batch_start(by=by, invoices=invoices, enqueue=False)
    return batch_compose(batch_id=batch.pk)


def heading(browser: Browser, url: str) -> tuple[str, str]:
    """The page's <title> and its first heading, as a reader sees them."""
    html = browser.get(url).content.decode()
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert title is not None and h1 is not None
    return unescape(title.group(1)).strip(), unescape(re.sub(r"<[^>]+>", "", h1.group(1))).strip()


def pages(batch: MailBatch) -> tuple[str, str]:
    return (
        reverse("billing:batch", args=["FIDU", batch.pk]),
        reverse("mailing:batch_progress", args=[batch.pk]),
    )


def test_a_batch_of_credit_notes_is_titled_as_credit_notes(
    client: Browser, anne: Collaborator, pair: tuple[Invoice, Invoice]
) -> None:
    invoice, note = pair
    client.force_login(anne)
    only_notes = batch_of(anne, [note])
    company_page, outbox_page = pages(only_notes)

    title, h1 = heading(client, company_page)
    assert h1 == "Envoi d'un lot de notes de crédit"
    assert title.startswith("Envoi d'un lot de notes de crédit")
    assert "factures" not in h1
    title, h1 = heading(client, outbox_page)
    assert h1 == "Envoi de notes de crédit"

    # Invoices alone keep their title; a mixed batch names both.
    invoices_only = batch_of(anne, [make_invoice(invoice.billing_company, invoice.client)])
    assert heading(client, pages(invoices_only)[0])[1] == "Envoi d'un lot de factures"
    assert heading(client, pages(invoices_only)[1])[1] == "Envoi de factures"
    mixed = batch_of(anne, [invoice, note])
    company_page, outbox_page = pages(mixed)
    assert heading(client, company_page)[1] == "Envoi d'un lot de factures et de notes de crédit"
    assert heading(client, outbox_page)[1] == "Envoi de factures et de notes de crédit"


def test_blocked_credit_notes_are_listed_as_credit_notes(
    client: Browser, anne: Collaborator, pair: tuple[Invoice, Invoice]
) -> None:
    _invoice, note = pair
    client.force_login(anne)
    note.client.emails.all().delete()  # nobody to send it to: blocked
    batch = batch_of(anne, [note])

    html = unescape(client.get(pages(batch)[0]).content.decode())
    assert "Notes de crédit bloquées (rien ne leur est envoyé)" in html
    assert "Factures bloquées" not in html


def test_an_english_colleague_reads_the_credit_notes_titles(
    client: Browser, pair: tuple[Invoice, Invoice]
) -> None:
    invoice, note = pair
    emma = make_collaborator("emma@fidu.test", language="en")
    client.force_login(emma)
    only_notes = batch_of(emma, [note])
    mixed = batch_of(emma, [invoice, note])

    assert heading(client, pages(only_notes)[0])[1] == "Sending a batch of credit notes"
    assert heading(client, pages(mixed)[0])[1] == "Sending a batch of invoices and credit notes"
    assert heading(client, pages(only_notes)[1])[1] == "Sending credit notes"
    assert heading(client, pages(mixed)[1])[1] == "Sending invoices and credit notes"


def test_the_register_lists_each_batch_with_its_credit_notes_counted_apart(
    client: Browser, anne: Collaborator, pair: tuple[Invoice, Invoice]
) -> None:
    invoice, note = pair
    batch_of(anne, [note])
    batch_of(anne, [make_invoice(invoice.billing_company, invoice.client), invoice])
    batch_of(anne, [invoice, note])
    register = reverse("billing:email_register", args=["FIDU"])

    client.force_login(anne)
    html = unescape(client.get(register).content.decode())
    listed = re.findall(r"<span data-batch-contents>([^<]*)</span>", html)
    # Newest first.
    assert listed == ["1 facture et 1 note de crédit", "2 factures", "1 note de crédit"]

    client.force_login(make_collaborator("emma@fidu.test", language="en"))
    html = unescape(client.get(register).content.decode())
    listed = re.findall(r"<span data-batch-contents>([^<]*)</span>", html)
    assert listed == ["1 invoice and 1 credit note", "2 invoices", "1 credit note"]
