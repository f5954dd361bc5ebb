"""Invoice services: drafts, issuing, numbering, totals, the PDF, the Peppol e-invoice (UBL),
the structured communication and the EPC QR code. Import from here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from courrier.billing.services.communication import (
    format_communication,
    parse_communication,
)
from courrier.billing.services.issue import (
    LineData,
    credit_note_create,
    invoice_create,
    invoice_delete,
    invoice_issue,
    invoice_pdf_bytes,
    invoice_pdf_ensure,
    invoice_update,
    register_for,
    sends_by_peppol,
    vat_rules_check,
)
from courrier.billing.services.pdf import invoice_pdf_render
from courrier.billing.services.totals import Totals, VatTotal
from courrier.billing.services.ubl import (
    UblInvalidError,
    invoice_ubl_bytes,
    invoice_ubl_ensure,
    invoice_ubl_render,
)

if TYPE_CHECKING:
    from courrier.billing.models import Invoice
    from courrier.mailing.contexts import MailContext


def invoice_context(invoice: Invoice) -> MailContext:
    """The mail context of an issued invoice (see billing.fields.invoice_context)."""
    from courrier.billing.fields import invoice_context as build

    return build(invoice)


__all__ = [
    "LineData",
    "Totals",
    "UblInvalidError",
    "VatTotal",
    "credit_note_create",
    "format_communication",
    "invoice_context",
    "invoice_create",
    "invoice_delete",
    "invoice_issue",
    "invoice_pdf_bytes",
    "invoice_pdf_ensure",
    "invoice_pdf_render",
    "invoice_ubl_bytes",
    "invoice_ubl_ensure",
    "invoice_ubl_render",
    "invoice_update",
    "parse_communication",
    "register_for",
    "sends_by_peppol",
    "vat_rules_check",
]
