"""Amounts are written one way: the mails that arrive in French, Dutch, German and English,
the invoice PDF they carry, and the lists a colleague reads in any interface language all show
`1.234,56 €` (`-1.234,56 €` for a credit note) — or the other format the firm chose in its
settings, everywhere at once."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from pypdf import PdfReader

from courrier.amounts import AmountFormat, format_amount
from courrier.billing.demo import seed_mail_templates
from courrier.billing.models import Invoice
from courrier.billing.services import credit_note_create, invoice_issue
from courrier.billing.services.sending import invoice_batch_start
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.mailing.models import OutboundMessage
from courrier.mailing.services import batch_compose, messages_deliver
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.fakes.smtp import FakeSMTPServer, Received
from tests.firm.factories import make_admin, make_collaborator
from tests.taxes import factories as tax_factories

pytestmark = pytest.mark.django_db

NBSP = "\xa0"
# One line of 1.020,30 € excl. VAT at 21 %: 1.234,56 € incl. VAT.
LINES = (
    {
        "description": "Tenue de la comptabilité",
        "quantity": "1",
        "unit_price": "1020.30",
        "vat_rate": "21",
    },
)
LANGUAGES = ("fr", "nl", "de", "en")
# What each language wrote before amounts had one format: none of it may appear.
OTHER_WAYS = ("1 234,56", "1\u202f234,56", "€ 1.234,56", "€\xa01.234,56", "1,234.56")


@pytest.fixture
def fidu(smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]) -> BillingCompany:
    """A billing company sending through the fake SMTP server, with the demo's mail templates
    (a version in each of the four languages, each with {MONTANT})."""
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    seed_mail_templates(companies={"FIDU": company})
    return company


def _send_invoices(
    company: BillingCompany, server: FakeSMTPServer, by: Collaborator, prefix: str
) -> dict[str, Received]:
    """One invoice of 1.234,56 € to a client of each language, issued and mailed as a batch;
    the mail that arrived for each language."""
    invoices = []
    for language in LANGUAGES:
        client = make_invoice_client(
            f"{prefix}{language.upper()}", language=language, emails=(f"{prefix}{language}@c.test",)
        )
        invoices.append(make_invoice(company, client, lines=LINES, by=by))
    batch = invoice_batch_start(by=by, invoices=invoices, enqueue=False)
    assert batch.blocked == {}
    batch_compose(batch_id=batch.pk)
    for profile in {message.profile_id for message in OutboundMessage.objects.all()}:
        messages_deliver(profile_id=profile)
    return {
        language: received
        for received in server.messages
        for language in LANGUAGES
        if received.rcpt_tos == [f"{prefix}{language}@c.test"]
    }


def _pdf_text(received: Received) -> str:
    [pdf] = list(received.message.iter_attachments())
    content = pdf.get_content()
    assert isinstance(content, bytes)
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def _spaced(text: str) -> str:
    return text.replace(NBSP, " ").replace("\u202f", " ")


def _assert_one_way(text: str, expected: str, where: str) -> None:
    assert expected in text, f"{where}: {expected!r} not in {text!r}"
    for other in OTHER_WAYS:
        if other not in expected:
            assert other not in text, f"{where}: {other!r} in {text!r}"


def test_the_mails_that_arrive_and_their_pdf_write_1234_56_eur_in_all_four_languages(
    fidu: BillingCompany, smtp_server: FakeSMTPServer
) -> None:
    arrived = _send_invoices(fidu, smtp_server, make_collaborator(), "C")
    assert sorted(arrived) == sorted(LANGUAGES)
    for language, received in arrived.items():
        # The text part, the HTML part as a mail reader shows it, and the PDF attached.
        _assert_one_way(_spaced(received.part("text/plain")), "1.234,56 €", f"{language} text")
        html = _spaced(unescape(received.part("text/html")))
        _assert_one_way(html, "1.234,56 €", f"{language} html")
        _assert_one_way(_spaced(_pdf_text(received)), "1.234,56 €", f"{language} pdf")
        # The bytes of the mail, transfer encoding undone: the euro sign after the amount.
        assert re.search(rb"1\.234,56(?: |\xc2\xa0)\xe2\x82\xac", _decoded_bytes(received))


def _decoded_bytes(received: Received) -> bytes:
    """The text parts as bytes, transfer encoding undone (quoted-printable or base64)."""
    return b"".join(
        part.get_payload(decode=True)
        for part in received.message.walk()
        if part.get_content_maintype() == "text"
    )


def _list_pages(client_pk: int) -> dict[str, str]:
    return {
        "invoice list": reverse("billing:invoices", args=["FIDU"]),
        "e-mail register": reverse("billing:email_register", args=["FIDU"]),
        "client file": reverse("billing:client_invoices", args=[client_pk]),
    }


def _page_text(browser: Browser, url: str) -> str:
    response = browser.get(url)
    assert response.status_code == 200, url
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def _invoice_and_credit_note() -> tuple[Invoice, Invoice]:
    company = make_billing_company()
    anne = make_collaborator("anne.amounts@fidu.be")
    record = make_invoice_client("C0100", language="nl")
    invoice = make_invoice(company, record, lines=LINES, by=anne, issue_date=date(2026, 3, 2))
    note = invoice_issue(invoice=credit_note_create(invoice=invoice, by=anne), by=anne)
    return invoice, note


def test_an_english_speaking_colleague_reads_the_belgian_format_in_the_lists(
    client: Browser,
) -> None:
    invoice, _note = _invoice_and_credit_note()
    tax_factories.vat_return(invoice.client, grids={"54": "2100", "59": "865.44"})
    client.force_login(make_collaborator("emma@fidu.be", language="en"))

    for name, url in _list_pages(invoice.client_id).items():
        text = _page_text(client, url)
        assert "Invoice" in text or "invoice" in text  # the page speaks English
        _assert_one_way(text, f"-1.234,56{NBSP}€", name)
        assert re.search(rf"(?<!-)1\.234,56{NBSP}€", text), name
    detail = _page_text(client, reverse("billing:invoice", args=[invoice.pk]))
    _assert_one_way(detail, f"1.234,56{NBSP}€", "invoice page")
    _assert_one_way(detail, f"1.020,30{NBSP}€", "invoice page")
    # The VAT list: grid 71 of 1.234,56 € (2.100 € of VAT less 865,44 € deductible).
    vat = _page_text(client, reverse("taxes:list", args=["tva"]))
    _assert_one_way(vat, f"1.234,56{NBSP}€", "VAT list")


def test_the_firm_chooses_another_format_and_mails_pdf_and_lists_follow(
    client: Browser, fidu: BillingCompany, smtp_server: FakeSMTPServer
) -> None:
    before = make_invoice(fidu, make_invoice_client("B0001"), lines=LINES)
    client.force_login(make_admin(language="en"))
    settings_page = _page_text(client, reverse("firm:settings"))
    assert "Amount format" in settings_page and "1.234,56 €" in settings_page

    response = client.post(
        reverse("firm:settings"),
        {"name": "Fiduciaire Demo", "default_language": "fr", "amount_format": "euro_first"},
    )
    assert response.status_code == 302
    assert Firm.load().amount_format == AmountFormat.EURO_FIRST

    arrived = _send_invoices(fidu, smtp_server, make_collaborator(), "E")
    assert sorted(arrived) == sorted(LANGUAGES)
    for language, received in arrived.items():
        _assert_one_way(_spaced(received.part("text/plain")), "€ 1.234,56", f"{language} text")
        _assert_one_way(_spaced(_pdf_text(received)), "€ 1.234,56", f"{language} pdf")

    for name, url in _list_pages(before.client_id).items():
        _assert_one_way(_page_text(client, url), f"€{NBSP}1.234,56", name)
    # The examples of the merge fields, on the templates page, are written the same way.
    fields_page = _page_text(client, reverse("mailing:templates"))
    assert f"€{NBSP}1.210,00" in fields_page and f"€{NBSP}1.234,56" in fields_page

    client.post(
        reverse("firm:settings"),
        {"name": "Fiduciaire Demo", "default_language": "fr", "amount_format": "space"},
    )
    for name, url in _list_pages(before.client_id).items():
        _assert_one_way(_page_text(client, url), f"1{NBSP}234,56{NBSP}€", name)


def test_an_unknown_format_is_refused_on_the_settings_page_in_the_admins_language(
    client: Browser,
) -> None:
    client.force_login(make_admin(language="nl"))
    response = client.post(
        reverse("firm:settings"),
        {"name": "Fiduciaire Demo", "default_language": "fr", "amount_format": "dollars"},
    )
    assert response.status_code == 200
    assert "Selecteer een geldige keuze" in response.content.decode()
    assert Firm.load().amount_format == AmountFormat.BELGIAN


@pytest.mark.parametrize(
    ("amount_format", "value", "expected"),
    [
        ("be", "1234.56", f"1.234,56{NBSP}€"),
        ("be", "-1234.56", f"-1.234,56{NBSP}€"),
        ("be", "1234567.5", f"1.234.567,50{NBSP}€"),
        ("be", "0", f"0,00{NBSP}€"),
        ("be", "-0.004", f"0,00{NBSP}€"),
        ("be", "999.995", f"1.000,00{NBSP}€"),
        ("be", "12.005", f"12,01{NBSP}€"),
        ("space", "1234.56", f"1{NBSP}234,56{NBSP}€"),
        ("space", "-1234567.5", f"-1{NBSP}234{NBSP}567,50{NBSP}€"),
        ("euro_first", "1234.56", f"€{NBSP}1.234,56"),
        ("euro_first", "-1234.56", f"€{NBSP}-1.234,56"),
    ],
)
def test_each_format_with_signs_and_rounding(amount_format: str, value: str, expected: str) -> None:
    assert format_amount(Decimal(value), amount_format) == expected


def test_the_firms_choice_is_read_once_and_again_after_it_changes(
    django_assert_num_queries: Any,
) -> None:
    firm = Firm.load()
    with django_assert_num_queries(1):
        shown = [format_amount(Decimal(cents) / 100) for cents in range(123456, 123556)]
    assert shown[0] == f"1.234,56{NBSP}€"
    firm.amount_format = AmountFormat.SPACED
    firm.save()
    assert format_amount(Decimal("1234.56")) == f"1{NBSP}234,56{NBSP}€"
