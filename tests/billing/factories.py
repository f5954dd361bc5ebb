"""Billing companies with everything an invoice prints, and invoices made by the services."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from courrier.billing.models import Invoice
from courrier.billing.services import invoice_create, invoice_issue
from courrier.clients.models import Client as ClientRecord
from courrier.clients.models import ClientEmail
from courrier.firm.models import BillingCompany, Collaborator


def make_billing_company(code: str = "FIDU", **extra: Any) -> BillingCompany:
    fields: dict[str, Any] = {
        "name": "Fiduciaire Demo",
        "legal_form": "SRL",
        "enterprise_number": "0494.482.244",
        "vat_number": "BE0494482244",
        "street": "Avenue Louise 250",
        "postal_code": "1050",
        "city": "Bruxelles",
        "iban": "BE18 0010 1338 4965",
        "bic": "GEBABEBB",
        "email": "factures@fidu.test",
    }
    fields.update(extra)
    return BillingCompany.objects.create(code=code, **fields)


def make_invoice_client(
    number: str = "C0100",
    *,
    language: str = "fr",
    by_email: bool = True,
    emails: tuple[str, ...] = ("compta@dupuis.test",),
    invoice_emails: tuple[str, ...] = (),
    **extra: Any,
) -> ClientRecord:
    fields: dict[str, Any] = {
        "name": "Boulangerie Dupuis",
        "legal_form": "SRL",
        "street": "Rue de la Loi 16",
        "postal_code": "1000",
        "city": "Bruxelles",
    }
    fields.update(extra)
    record = ClientRecord.objects.create(
        number=number,
        language=language,
        invoice_channel="email" if by_email else "paper",
        **fields,
    )
    position = 0
    for address in emails:
        ClientEmail.objects.create(client=record, address=address, position=position)
        position += 1
    for address in invoice_emails:
        ClientEmail.objects.create(
            client=record,
            address=address,
            position=position,
            purpose=ClientEmail.Purpose.INVOICES,
        )
        position += 1
    return record


DEFAULT_LINES = (
    {"description": "Tenue de la comptabilité", "quantity": "3", "unit_price": "250.00"},
    {"description": "Déclaration IPP", "quantity": "1", "unit_price": "180.00", "vat_rate": "21"},
    {"description": "Livre « Fiscalité »", "quantity": "2", "unit_price": "24.95", "vat_rate": "6"},
)


def make_invoice(
    company: BillingCompany,
    client: ClientRecord,
    *,
    issue: bool = True,
    by: Collaborator | None = None,
    issue_date: date | None = None,
    lines: Any = DEFAULT_LINES,
    **extra: Any,
) -> Invoice:
    invoice = invoice_create(
        billing_company=company,
        client=client,
        lines=lines,
        by=by,
        issue_date=issue_date or date(2026, 3, 14),
        **extra,
    )
    if issue:
        invoice = invoice_issue(invoice=invoice, by=by)
    return invoice


def issue_confirmed(browser: Any, invoice: Invoice, *, follow: bool = True) -> Any:
    """Issue a draft from its pages as a person does: the confirmation page first, then its
    button (which posts the number the page announced)."""
    from django.urls import reverse

    url = reverse("billing:invoice_issue", args=[invoice.pk])
    page = browser.get(url).content.decode()
    fields = dict(
        re.findall(r'<input type="hidden" name="(confirm|year|number)" value="(\d+)">', page)
    )
    assert set(fields) == {"confirm", "year", "number"}, "no confirmation on the page"
    return browser.post(url, fields, follow=follow)
