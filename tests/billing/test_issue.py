"""Drafts, issuing, numbering, totals, registers and the PDF stored once."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from courrier.billing.models import Invoice, InvoiceSeries
from courrier.billing.services import (
    LineData,
    credit_note_create,
    invoice_create,
    invoice_delete,
    invoice_issue,
    invoice_pdf_bytes,
    invoice_pdf_ensure,
    invoice_update,
)
from courrier.billing.services.totals import totals_of
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db


def test_a_draft_has_totals_a_default_due_date_and_no_number() -> None:
    company = make_billing_company(invoice_due_days=15)
    client = make_invoice_client(language="nl")
    draft = make_invoice(company, client, issue=False)
    assert draft.status == Invoice.Status.DRAFT
    assert draft.number is None and draft.display_number == ""
    assert draft.due_date == date(2026, 3, 14) + timedelta(days=15)
    assert draft.language == "nl"
    # 3 × 250 + 180 at 21 %, 2 × 24.95 at 6 %.
    assert draft.total_excl_vat == Decimal("979.90")
    # 930.00 × 21 % = 195.30; 49.90 × 6 % = 2.994 → 2.99.
    assert draft.total_vat == Decimal("198.29")
    assert draft.total_incl_vat == Decimal("1178.19")
    assert not draft.pdf


def test_totals_per_rate_are_rounded_half_up_once_per_rate() -> None:
    company = make_billing_company()
    client = make_invoice_client()
    draft = make_invoice(
        company,
        client,
        issue=False,
        lines=[
            LineData(description="a", unit_price=Decimal("0.05"), vat_rate="21"),
            LineData(description="b", unit_price=Decimal("0.05"), vat_rate="21"),
            LineData(description="c", unit_price=Decimal("0.25"), vat_rate="6"),
            LineData(description="d", unit_price=Decimal("10.00"), vat_rate="0"),
        ],
    )
    totals = totals_of(draft.lines.all())
    assert [(row.rate, row.base, row.vat) for row in totals.by_rate] == [
        ("0", Decimal("10.00"), Decimal("0.00")),
        # 0.25 × 6 % = 0.015 → 0.02 (half up)
        ("6", Decimal("0.25"), Decimal("0.02")),
        # 0.10 × 21 % = 0.021 → 0.02 (per rate, not 2 × 0.01)
        ("21", Decimal("0.10"), Decimal("0.02")),
    ]
    assert totals.excl_vat == Decimal("10.35")
    assert totals.vat == Decimal("0.04")
    assert totals.incl_vat == Decimal("10.39")
    assert totals_of([]).incl_vat == Decimal("0")


def test_issuing_numbers_in_order_per_company_and_year() -> None:
    anne = make_collaborator()
    fidu = make_billing_company()
    boek = make_billing_company("BOEK", enterprise_number="0663.412.791", name="Boekhouding")
    client = make_invoice_client()
    first = make_invoice(fidu, client, by=anne)
    second = make_invoice(fidu, client, by=anne)
    other_company = make_invoice(boek, client, by=anne)
    next_year = make_invoice(fidu, client, issue_date=date(2027, 1, 2))
    same_year_again = make_invoice(fidu, client)
    assert (first.year, first.number, first.display_number) == (2026, 1, "2026/0001")
    assert second.display_number == "2026/0002"
    assert other_company.display_number == "2026/0001"
    assert next_year.display_number == "2027/0001"
    assert same_year_again.display_number == "2026/0003"
    assert first.issued_at is not None and first.status == Invoice.Status.ISSUED
    series = {(s.billing_company.code, s.year): s.last_number for s in InvoiceSeries.objects.all()}
    assert series == {("FIDU", 2026): 3, ("FIDU", 2027): 1, ("BOEK", 2026): 1}


def test_credit_notes_share_the_series_and_copy_the_invoice() -> None:
    company = make_billing_company()
    client = make_invoice_client()
    invoice = make_invoice(company, client)
    note = credit_note_create(invoice=invoice, by=None, issue_date=date(2026, 3, 20))
    assert note.kind == Invoice.Kind.CREDIT_NOTE and note.credited_invoice == invoice
    assert note.total_incl_vat == invoice.total_incl_vat  # shown positive, labelled credit
    assert [line.description for line in note.lines.all()] == [
        line.description for line in invoice.lines.all()
    ]
    note = invoice_issue(invoice=note, by=None)
    assert note.display_number == "2026/0002"
    assert make_invoice(company, client).display_number == "2026/0003"


def test_a_credit_note_credits_an_issued_invoice_of_the_same_client() -> None:
    company = make_billing_company()
    client = make_invoice_client()
    draft = make_invoice(company, client, issue=False)
    with pytest.raises(ValidationError):
        credit_note_create(invoice=draft, by=None)
    other = make_invoice(company, make_invoice_client("C0200"))
    with pytest.raises(ValidationError):
        invoice_create(
            billing_company=company,
            client=client,
            kind=Invoice.Kind.CREDIT_NOTE,
            credited_invoice=other,
            lines=[{"description": "x", "unit_price": "1"}],
            by=None,
        )


@pytest.mark.parametrize(
    ("by_email", "emails", "invoice_emails", "register"),
    [
        (True, ("info@a.test",), (), Invoice.Register.EMAIL),
        (True, (), ("factures@a.test",), Invoice.Register.EMAIL),
        (True, (), (), Invoice.Register.PAPER),  # the flag but no address
        (False, ("info@a.test",), ("factures@a.test",), Invoice.Register.PAPER),
    ],
)
def test_register_membership(
    by_email: bool, emails: tuple[str, ...], invoice_emails: tuple[str, ...], register: str
) -> None:
    company = make_billing_company()
    client = make_invoice_client(by_email=by_email, emails=emails, invoice_emails=invoice_emails)
    draft = make_invoice(company, client, issue=False)
    assert draft.register == ""
    assert invoice_issue(invoice=draft, by=None).register == register


def test_issue_stores_the_pdf_once_with_its_fingerprint() -> None:
    company = make_billing_company()
    invoice = make_invoice(company, make_invoice_client())
    content = invoice_pdf_bytes(invoice)
    assert content.startswith(b"%PDF-")
    assert invoice.pdf_sha256 == hashlib.sha256(content).hexdigest()
    assert invoice.pdf.name.startswith("invoices/") and invoice.pdf.name.endswith(".pdf")
    # Never made again: ensuring keeps the same file, issuing again is refused.
    assert invoice_pdf_ensure(invoice=invoice).pdf.name == invoice.pdf.name
    with pytest.raises(ValidationError):
        invoice_issue(invoice=invoice, by=None)
    invoice.refresh_from_db()
    assert invoice_pdf_bytes(invoice) == content
    assert invoice.structured_communication.startswith("26")


def test_an_altered_or_missing_pdf_is_reported_not_sent() -> None:
    company = make_billing_company()
    invoice = make_invoice(company, make_invoice_client())
    with open(invoice.pdf.path, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ValidationError, match="altéré"):
        invoice_pdf_bytes(invoice)
    draft = make_invoice(company, make_invoice_client("C0300"), issue=False)
    with pytest.raises(ValidationError, match="pas de PDF"):
        invoice_pdf_bytes(draft)


def test_issue_without_pdf_then_ensure_makes_it_once() -> None:
    company = make_billing_company()
    draft = make_invoice(company, make_invoice_client(), issue=False)
    invoice = invoice_issue(invoice=draft, by=None, make_pdf=False)
    assert invoice.is_issued and not invoice.pdf
    invoice = invoice_pdf_ensure(invoice=invoice)
    first = invoice.pdf.name
    assert invoice_pdf_bytes(invoice).startswith(b"%PDF-")
    again = Invoice.objects.get(pk=invoice.pk)
    assert invoice_pdf_ensure(invoice=again).pdf.name == first


def test_drafts_are_edited_and_deleted_issued_invoices_are_not() -> None:
    company = make_billing_company()
    draft = make_invoice(company, make_invoice_client(), issue=False)
    draft = invoice_update(
        invoice=draft,
        by=None,
        lines=[{"description": "Conseil", "quantity": "2,5", "unit_price": "100"}],
        reference="PO-7",
    )
    assert draft.reference == "PO-7"
    assert draft.total_excl_vat == Decimal("250.00")
    assert draft.lines.count() == 1
    issued = invoice_issue(invoice=draft, by=None)
    with pytest.raises(ValidationError, match="émise"):
        invoice_update(invoice=issued, by=None, notes="x")
    with pytest.raises(ValidationError):
        invoice_delete(invoice=issued, by=None)
    other = make_invoice(company, make_invoice_client("C0400"), issue=False)
    invoice_delete(invoice=other, by=None)
    assert not Invoice.objects.filter(pk=other.pk).exists()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "au moins une ligne"),
        ([{"description": "", "unit_price": "1"}], "description"),
        ([{"description": "x", "unit_price": "abc"}], "n'est pas un nombre"),
        ([{"description": "x", "unit_price": "1.001"}], "2 décimales"),
        ([{"description": "x", "unit_price": "1", "quantity": "-1"}], "positive"),
        ([{"description": "x", "unit_price": "1", "vat_rate": "19"}], "taux de TVA"),
    ],
)
def test_bad_lines_are_refused_with_a_french_reason(lines: list, message: str) -> None:
    company = make_billing_company()
    with pytest.raises(ValidationError, match=message):
        invoice_create(billing_company=company, client=make_invoice_client(), lines=lines, by=None)
    assert not Invoice.objects.exists()


def test_a_due_date_before_the_issue_date_is_refused() -> None:
    company = make_billing_company()
    with pytest.raises(ValidationError, match="échéance"):
        make_invoice(company, make_invoice_client(), issue=False, due_date=date(2026, 1, 1))


def test_the_database_refuses_a_duplicate_number() -> None:
    company = make_billing_company()
    client = make_invoice_client()
    first = make_invoice(company, client)
    second = make_invoice(company, client, issue=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=second.pk).update(
            status=Invoice.Status.ISSUED, year=first.year, number=first.number
        )
