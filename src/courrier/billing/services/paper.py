"""The paper register's print run: the chosen invoices' PDFs, as issued, in one file."""

from __future__ import annotations

import io
from collections.abc import Sequence

from pypdf import PdfReader, PdfWriter

from courrier.billing.models import Invoice
from courrier.billing.services.issue import invoice_pdf_bytes, invoice_pdf_ensure


def invoices_merged_pdf(invoices: Sequence[Invoice]) -> bytes:
    """One PDF holding each invoice's stored PDF, whole and in the order given.

    An issued invoice whose PDF was left for later (a batch issue) gets it now, once; the
    stored bytes are checked against their fingerprint. Raises ValidationError for a draft,
    a missing file or an altered one."""
    writer = PdfWriter()
    for invoice in invoices:
        if invoice.is_issued and not invoice.pdf:
            invoice_pdf_ensure(invoice=invoice)
        reader = PdfReader(io.BytesIO(invoice_pdf_bytes(invoice)))
        writer.append(reader)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()
