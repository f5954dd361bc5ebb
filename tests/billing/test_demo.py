"""The demo's invoices: every language, both companies, both registers, a credit note per
company, drafts, the firm's invoice template and the bookkeeping company's own, in four
languages; a second run changes nothing."""

from __future__ import annotations

import pytest

from courrier.billing.models import Invoice
from courrier.billing.services import invoice_pdf_bytes
from courrier.billing.services.sending import invoice_template
from courrier.demo.seed import demo_seed
from courrier.firm.models import BillingCompany
from courrier.mailing import contexts
from courrier.mailing.models import MailTemplate
from courrier.mailing.rendering import check_fields


@pytest.mark.django_db
def test_demo_invoices_are_seeded_once() -> None:
    demo_seed()
    invoices = list(Invoice.objects.select_related("client", "billing_company"))
    issued = [invoice for invoice in invoices if invoice.is_issued]
    assert {invoice.language for invoice in issued} == {"fr", "nl", "de", "en"}
    assert {invoice.billing_company.code for invoice in issued} == {"FIDU", "BOEK"}
    assert {invoice.register for invoice in issued} == {"peppol", "email", "paper"}
    notes = [invoice for invoice in issued if invoice.kind == Invoice.Kind.CREDIT_NOTE]
    assert len(notes) == 2
    assert any(not invoice.is_issued for invoice in invoices)
    # Numbers per company are 1..N, in the order of the issue dates.
    for code in ("FIDU", "BOEK"):
        series = sorted(
            (invoice for invoice in issued if invoice.billing_company.code == code),
            key=lambda invoice: invoice.number or 0,
        )
        assert [invoice.number for invoice in series] == list(range(1, len(series) + 1))
        dates = [invoice.issue_date for invoice in series]
        assert dates == sorted(dates)
    assert all(invoice_pdf_bytes(invoice).startswith(b"%PDF") for invoice in issued[:3])
    # The firm's invoice template, and the bookkeeping company's own, each in four languages.
    firm = invoice_template(billing_company=BillingCompany.objects.get(code="FIDU"))
    own = invoice_template(billing_company=BillingCompany.objects.get(code="BOEK"))
    assert firm is not None and own is not None and firm != own
    for template in (firm, own):
        assert {version.language for version in template.versions.all()} == {
            "fr",
            "nl",
            "de",
            "en",
        }
        for version in template.versions.all():
            check_fields(version.subject + version.body, context="invoice")
    assert len(contexts.resolve("invoice", [i.pk for i in issued])) == len(issued)

    demo_seed()
    assert Invoice.objects.count() == len(invoices)
    assert MailTemplate.objects.filter(context=MailTemplate.Context.INVOICE).count() == 2
