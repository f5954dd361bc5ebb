"""The Peppol e-invoice of an issued invoice or credit note: made once, validated, stored.

Like the PDF, the UBL is made from the issued invoice once and kept with its SHA-256: a
re-send sends these very bytes. It is stored only when the three validation layers (UBL 2.1
schema, EN 16931, Peppol BIS 3) find nothing fatal; otherwise the fatal findings are kept on
the invoice (`Invoice.ubl_findings`, shown on its page) and `UblInvalidError` carries them.

Its figures are billing's: the lines' amounts and the VAT breakdown come from
`totals.totals_of`, the very function the PDF prints, and the PDF as issued travels inside the
e-invoice. What the invoice does not say is filled as follows: the buyer reference is the
invoice's "your reference", else, when it has no purchase order either, the client's number
(Peppol requires one of the two); an intra-Community supply (K) is delivered on the invoice's
date (the Belgian rule when the invoice names no other date) in the client's country.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from courrier.billing.models import Invoice, InvoiceLine, VatCategory
from courrier.billing.services.issue import (
    _pdf_name,
    invoice_files_record,
    invoice_pdf_bytes,
    invoice_pdf_ensure,
)
from courrier.billing.services.pdf import pdf_words
from courrier.billing.services.totals import line_amount, totals_of
from courrier.peppol.identifiers import ENTERPRISE
from courrier.peppol.ubl import (
    CREDIT_NOTE,
    INVOICE,
    UblAttachment,
    UblDocument,
    UblLine,
    UblParty,
    UblPayment,
    UblVatBreakdown,
    exemption,
    ubl_render,
)
from courrier.peppol.validation import Finding, ValidationReport, validate


class UblInvalidError(ValidationError):
    """The e-invoice breaks a fatal rule: it is not stored. `findings`: the fatal ones."""

    def __init__(self, invoice: Invoice, report: ValidationReport) -> None:
        self.findings: list[Finding] = report.fatal
        rules = ", ".join(sorted({finding.rule_id for finding in self.findings}))
        super().__init__(
            _(
                "La facture électronique de %(number)s ne passe pas la validation Peppol "
                "(%(rules)s) : elle n'est pas enregistrée."
            ),
            code="ubl_invalid",
            params={"number": invoice.display_number, "rules": rules},
        )


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _compact(value: str) -> str:
    return "".join(value.split()).replace(".", "").upper()


def _seller(invoice: Invoice) -> UblParty:
    company = invoice.billing_company
    number = _digits(company.enterprise_number)
    return UblParty(
        name=str(company),
        country=company.country or "BE",
        endpoint=f"{ENTERPRISE}:{number}" if number else "",
        street=company.street,
        postal_code=company.postal_code,
        city=company.city,
        vat_number=_compact(company.vat_number),
        enterprise_number=number,
        email=company.email,
    )


def _buyer(invoice: Invoice) -> UblParty:
    client = invoice.client
    number = _digits(client.enterprise_number) if client.country == "BE" else ""
    return UblParty(
        name=client.display_name,
        country=client.country or "BE",
        endpoint=client.peppol_address,
        street=client.street,
        postal_code=client.postal_code,
        city=client.city,
        vat_number=_compact(client.vat_number),
        enterprise_number=number,
    )


def _lines(lines: list[InvoiceLine]) -> tuple[UblLine, ...]:
    return tuple(
        UblLine(
            id=str(n),
            name=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line_amount(quantity=line.quantity, unit_price=line.unit_price),
            category=line.vat_category,
            rate=Decimal(line.vat_rate),
        )
        for n, line in enumerate(lines, start=1)
    )


def ubl_document(invoice: Invoice, *, pdf: bytes) -> UblDocument:
    """The e-invoice's content for an issued invoice, its PDF as issued joined."""
    lines = list(invoice.lines.all())
    totals = totals_of(lines)
    language = invoice.language
    words = pdf_words(language)
    breakdown = []
    for row in totals.by_rate:
        code, reason = exemption(
            row.category,
            mention=words.get(f"mention_{row.category}", ""),
            reason=invoice.vat_exemption_reason,
        )
        breakdown.append(
            UblVatBreakdown(
                category=row.category,
                rate=Decimal(row.rate),
                base=row.base,
                vat=row.vat,
                exemption_code=code,
                exemption_reason=reason,
            )
        )
    company = invoice.billing_company
    credit = invoice.is_credit_note
    credited = invoice.credited_invoice
    payment = None
    if not credit and company.iban:
        payment = UblPayment(
            iban=company.iban,
            bic=company.bic,
            structured_communication=invoice.structured_communication,
            account_name=str(company),
        )
    intra_community = any(line.vat_category == VatCategory.INTRA_EU for line in lines)
    return UblDocument(
        kind=CREDIT_NOTE if credit else INVOICE,
        number=invoice.display_number,
        issue_date=invoice.issue_date,
        due_date=None if credit else invoice.due_date,
        seller=_seller(invoice),
        buyer=_buyer(invoice),
        lines=_lines(lines),
        vat_breakdown=tuple(breakdown),
        total_excl_vat=totals.excl_vat,
        total_vat=totals.vat,
        total_incl_vat=totals.incl_vat,
        buyer_reference=invoice.reference
        or ("" if invoice.order_reference else invoice.client.number),
        order_reference=invoice.order_reference,
        credited_number=credited.display_number if credited else "",
        credited_issue_date=credited.issue_date if credited else None,
        payment=payment,
        payment_terms=pdf_words(language)["credit_text_alone"] if credit else "",
        attachment=UblAttachment(
            id=invoice.display_number, filename=_pdf_name(invoice), content=pdf
        ),
        note=invoice.notes,
        delivery_date=invoice.issue_date if intra_community else None,
        delivery_country=invoice.client.country if intra_community else "",
    )


def invoice_ubl_render(invoice: Invoice) -> bytes:
    """The UBL of an issued invoice, made afresh (not stored, not validated): its lines, its
    totals as the PDF prints them, its company and client, and its stored PDF."""
    if not invoice.is_issued:
        raise ValidationError(_("Un brouillon n'a pas de facture électronique."), code="draft")
    return ubl_render(ubl_document(invoice, pdf=invoice_pdf_bytes(invoice)))


def _ubl_name(invoice: Invoice) -> str:
    return _pdf_name(invoice).removesuffix(".pdf") + ".xml"


def invoice_ubl_bytes(invoice: Invoice) -> bytes:
    """The stored UBL of an issued invoice, exactly as stored (checked against its sha256).

    Raises ValidationError when there is none or the file was altered."""
    if not invoice.is_issued or not invoice.ubl:
        raise ValidationError(
            _("La facture %(number)s n'a pas de facture électronique."),
            code="ubl_missing",
            params={"number": invoice.display_number or _("(brouillon)")},
        )
    try:
        with invoice.ubl.open("rb") as handle:
            content = bytes(handle.read())
    except OSError:
        raise ValidationError(
            _("La facture électronique de %(number)s est introuvable sur le serveur."),
            code="ubl_missing",
            params={"number": invoice.display_number},
        ) from None
    if invoice.ubl_sha256 and hashlib.sha256(content).hexdigest() != invoice.ubl_sha256:
        raise ValidationError(
            _("La facture électronique de %(number)s a été altérée depuis sa création."),
            code="ubl_altered",
            params={"number": invoice.display_number},
        )
    return content


def invoice_ubl_made(invoice: Invoice, *, pdf: bytes | None = None) -> bytes:
    """The e-invoice of an issued invoice made and validated, not stored: with `pdf` (the PDF
    a batch has just made, not stored yet) or the stored PDF inside. Raises `UblInvalidError`
    when a rule is broken, its fatal findings recorded on the invoice for its page."""
    if not invoice.is_issued:
        raise ValidationError(_("Un brouillon n'a pas de facture électronique."), code="draft")
    content = ubl_render(
        ubl_document(invoice, pdf=pdf if pdf is not None else invoice_pdf_bytes(invoice))
    )
    report = validate(content)
    if not report.ok:
        invoice.ubl_findings = [finding.as_dict() for finding in report.fatal]
        Invoice.objects.filter(pk=invoice.pk, ubl="").update(ubl_findings=invoice.ubl_findings)
        raise UblInvalidError(invoice, report)
    return content


def invoice_ubls_write(invoices: Sequence[tuple[Invoice, bytes]]) -> None:
    """Write the e-invoices a batch made and validated, each under its name, outside any
    transaction: the name and fingerprint are set on the objects, and `invoice_ubls_record`
    writes them to the rows."""
    for invoice, content in invoices:
        invoice.ubl.save(_ubl_name(invoice), ContentFile(content), save=False)
        invoice.ubl_sha256 = hashlib.sha256(content).hexdigest()


def invoice_ubls_record(invoices: Sequence[Invoice]) -> set[int]:
    """In the caller's transaction: lock these invoices' rows and record the e-invoices
    written for them, in one UPDATE. Returns the invoices left as they were (another run
    stored an e-invoice meanwhile, or they are no longer issued): their files are the caller's
    to remove, and their documents to make again from what is stored."""
    return invoice_files_record(invoices, "ubl", ubl_findings=[])


def invoice_ubl_ensure(invoice: Invoice, *, content: bytes | None = None) -> bytes:
    """The e-invoice of an issued invoice: the stored one, else made, validated and stored.

    Made and validated outside any lock (Saxon takes tens of milliseconds); the row is then
    locked, and when another run stored its UBL meanwhile, that one is kept. A caller inside
    a transaction passes the `content` it made and validated before (a batch). Raises
    `UblInvalidError` (its fatal findings recorded on the invoice) when a rule is broken,
    ValidationError for a draft."""
    if invoice.ubl:
        return invoice_ubl_bytes(invoice)
    if not invoice.is_issued:
        raise ValidationError(_("Un brouillon n'a pas de facture électronique."), code="draft")
    if content is None:
        if not invoice.pdf:
            invoice_pdf_ensure(invoice=invoice)
        content = invoice_ubl_made(invoice)
    with transaction.atomic():
        stored, sha256 = (
            Invoice.objects.select_for_update()
            .filter(pk=invoice.pk)
            .values_list("ubl", "ubl_sha256")
            .get()
        )
        if stored:
            invoice.ubl.name, invoice.ubl_sha256 = stored, sha256
            return invoice_ubl_bytes(invoice)
        invoice.ubl.save(_ubl_name(invoice), ContentFile(content), save=False)
        invoice.ubl_sha256 = hashlib.sha256(content).hexdigest()
        invoice.ubl_findings = []
        Invoice.objects.filter(pk=invoice.pk).update(
            ubl=invoice.ubl.name, ubl_sha256=invoice.ubl_sha256, ubl_findings=[]
        )
    return content
