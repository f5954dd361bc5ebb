"""Drafts, issuing, credit notes: the only writers of invoices.

A draft can be edited freely; issuing numbers it, freezes its totals and structured
communication, puts it in the e-mail or the paper register and stores its PDF, all in one
transaction. An issued invoice never changes again: a correction is a credit note.

The VAT categories have their rules here, for every caller (the pages, commands, the credit
note): an exempt line needs the invoice's exemption reason, a reverse-charge or intra-Community
line a client identified for VAT, and "outside the scope of VAT" is never mixed with other
categories (the European e-invoice, EN 16931, refuses it: BR-O-11, BR-O-12).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.audit import audited
from courrier.billing.models import Invoice, InvoiceLine, VatCategory, VatRate, line_vat
from courrier.billing.services.communication import communication_for
from courrier.billing.services.numbering import series_next_number
from courrier.billing.services.pdf import invoice_pdf_render
from courrier.billing.services.totals import totals_of
from courrier.clients.models import Client, InvoiceChannel
from courrier.firm.models import BillingCompany, Collaborator
from courrier.languages import MailLanguage
from courrier.mailing.models import SendingProfile
from courrier.sql import per_row

MAX_LINES = 500


@dataclass(frozen=True)
class LineData:
    """One line as a form or a command gives it."""

    description: str
    unit_price: Decimal
    quantity: Decimal = Decimal("1")
    vat_rate: str = VatRate.TWENTYONE
    vat_category: str = VatCategory.STANDARD


LineInput = LineData | Mapping[str, Any]


def _decimal(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value).replace(",", ".").strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(
            _("« %(value)s » n'est pas un nombre (%(field)s)."),
            code="not_a_number",
            params={"value": value, "field": field},
        ) from None


def _line_rows(lines: Iterable[LineInput]) -> list[InvoiceLine]:
    rows: list[InvoiceLine] = []
    for position, entry in enumerate(lines, start=1):
        data = entry if isinstance(entry, Mapping) else entry.__dict__
        description = str(data.get("description", "")).strip()
        if not description:
            raise ValidationError(
                _("La ligne %(n)s n'a pas de description."),
                code="line_description",
                params={"n": position},
            )
        quantity = _decimal(data.get("quantity", "1"), _("quantité"))
        unit_price = _decimal(data.get("unit_price", ""), _("prix unitaire"))
        vat_rate = str(data.get("vat_rate", VatRate.TWENTYONE))
        if quantity < 0 or quantity != quantity.quantize(Decimal("0.001")):
            raise ValidationError(
                _("Ligne %(n)s : la quantité doit être positive, avec 3 décimales au plus."),
                code="line_quantity",
                params={"n": position},
            )
        if unit_price != unit_price.quantize(Decimal("0.01")) or abs(unit_price) >= 10**12:
            raise ValidationError(
                _("Ligne %(n)s : le prix unitaire a 2 décimales au plus."),
                code="line_price",
                params={"n": position},
            )
        if vat_rate not in VatRate.values:
            raise ValidationError(
                _("Ligne %(n)s : taux de TVA inconnu (%(rate)s)."),
                code="line_vat",
                params={"n": position, "rate": vat_rate},
            )
        category = str(data.get("vat_category") or VatCategory.STANDARD)
        if category not in VatCategory.values:
            raise ValidationError(
                _("Ligne %(n)s : catégorie de TVA inconnue (%(category)s)."),
                code="line_vat_category",
                params={"n": position, "category": category},
            )
        vat_rate, category = line_vat(vat_rate, category)
        rows.append(
            InvoiceLine(
                position=position,
                description=description[:500],
                quantity=quantity,
                unit_price=unit_price,
                vat_rate=vat_rate,
                vat_category=category,
            )
        )
    if not rows:
        raise ValidationError(_("Une facture a au moins une ligne."), code="no_lines")
    if len(rows) > MAX_LINES:
        raise ValidationError(
            _("Une facture a %(max)s lignes au plus."),
            code="too_many_lines",
            params={"max": MAX_LINES},
        )
    return rows


def vat_rules_check(*, client: Client, lines: Sequence[InvoiceLine], reason: str) -> None:
    """Raise ValidationError (every broken rule, each with its code) when these lines' VAT
    categories ask for what the invoice lacks."""
    errors: list[ValidationError] = []
    by_category: dict[str, int] = {}
    for n, line in enumerate(lines, start=1):
        by_category.setdefault(line.vat_category, line.position or n)
    if VatCategory.EXEMPT in by_category and not reason.strip():
        errors.append(
            ValidationError(
                _(
                    "La ligne %(n)s est exonérée de TVA : indiquez le motif d'exonération, la "
                    "mention légale imprimée sur la facture (par exemple « Exonération — "
                    "article 44 du Code de la TVA »)."
                ),
                code="vat_exemption_reason",
                params={"n": by_category[VatCategory.EXEMPT]},
            )
        )
    if not client.vat_number.strip():
        messages = {
            VatCategory.REVERSE_CHARGE: _(
                "Ligne %(n)s : l'autoliquidation exige un acheteur identifié à la TVA, et le "
                "client %(client)s n'a pas de numéro de TVA. Ajoutez-le à sa fiche."
            ),
            VatCategory.INTRA_EU: _(
                "Ligne %(n)s : une livraison intracommunautaire exige un acheteur identifié à la "
                "TVA, et le client %(client)s n'a pas de numéro de TVA. Ajoutez-le à sa fiche."
            ),
        }
        for category, message in messages.items():
            if category in by_category:
                errors.append(
                    ValidationError(
                        message,
                        code="buyer_vat_number",
                        params={"n": by_category[category], "client": client.display_name},
                    )
                )
    if VatCategory.OUTSIDE_SCOPE in by_category and len(by_category) > 1:
        errors.append(
            ValidationError(
                _(
                    "Une facture hors champ TVA ne contient que des lignes hors champ (règle de "
                    "la facture électronique européenne) : facturez les autres lignes à part."
                ),
                code="vat_outside_scope_mixed",
            )
        )
    if errors:
        raise ValidationError(errors)


def _set_lines(invoice: Invoice, rows: list[InvoiceLine]) -> None:
    invoice.lines.all().delete()
    for row in rows:
        row.invoice = invoice
    InvoiceLine.objects.bulk_create(rows)
    totals = totals_of(rows)
    invoice.total_excl_vat = totals.excl_vat
    invoice.total_vat = totals.vat
    invoice.total_incl_vat = totals.incl_vat
    invoice.save(update_fields=["total_excl_vat", "total_vat", "total_incl_vat"])


def _language(client: Client, language: str | None) -> str:
    language = language or client.language
    return language if language in MailLanguage.values else MailLanguage.FR


@transaction.atomic
# PLR0913: the invoice's own data, keyword-only.
def invoice_create(  # noqa: PLR0913
    *,
    billing_company: BillingCompany,
    client: Client,
    lines: Iterable[LineInput],
    by: Collaborator | None,
    kind: str = Invoice.Kind.INVOICE,
    issue_date: date | None = None,
    due_date: date | None = None,
    language: str | None = None,
    reference: str = "",
    notes: str = "",
    credited_invoice: Invoice | None = None,
    order_reference: str = "",
    vat_exemption_reason: str = "",
) -> Invoice:
    """A new draft invoice or credit note with its lines and totals.

    The issue date defaults to today, the due date to the issue date plus the company's
    payment term; the language to the client's. Raises ValidationError on bad input.
    """
    if kind not in Invoice.Kind.values:
        raise ValidationError(_("Type de document inconnu."), code="kind")
    issue_date = issue_date or timezone.localdate()
    due_date = due_date or issue_date + timedelta(days=billing_company.invoice_due_days)
    if due_date < issue_date:
        raise ValidationError(
            _("L'échéance ne peut précéder la date de facture."), code="due_before_issue"
        )
    if credited_invoice is not None:
        if kind != Invoice.Kind.CREDIT_NOTE:
            raise ValidationError(_("Seule une note de crédit crédite une facture."))
        if (
            not credited_invoice.is_issued
            or credited_invoice.kind != Invoice.Kind.INVOICE
            or credited_invoice.billing_company_id != billing_company.pk
            or credited_invoice.client_id != client.pk
        ):
            raise ValidationError(
                _(
                    "La facture créditée doit être une facture émise du même client et de la "
                    "même société facturante."
                ),
                code="credited_invoice",
            )
    rows = _line_rows(lines)
    vat_rules_check(client=client, lines=rows, reason=vat_exemption_reason)
    invoice = Invoice.objects.create(
        billing_company=billing_company,
        client=client,
        kind=kind,
        issue_date=issue_date,
        due_date=due_date,
        language=_language(client, language),
        reference=reference.strip()[:100],
        order_reference=order_reference.strip()[:100],
        vat_exemption_reason=vat_exemption_reason.strip()[:300],
        notes=notes.strip(),
        credited_invoice=credited_invoice,
        created_by=by,
    )
    _set_lines(invoice, rows)
    return invoice


def _draft_locked(invoice: Invoice) -> Invoice:
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.is_issued:
        raise ValidationError(
            _("La facture %(number)s est émise : elle ne peut plus être modifiée."),
            code="issued",
            params={"number": locked.display_number},
        )
    return locked


@transaction.atomic
def invoice_update(
    *,
    invoice: Invoice,
    by: Collaborator | None,
    lines: Iterable[LineInput] | None = None,
    issue_date: date | None = None,
    due_date: date | None = None,
    language: str | None = None,
    reference: str | None = None,
    notes: str | None = None,
    order_reference: str | None = None,
    vat_exemption_reason: str | None = None,
) -> Invoice:
    """Change a draft: the arguments given replace what it had (lines all at once)."""
    draft = _draft_locked(invoice)
    if issue_date is not None:
        draft.issue_date = issue_date
    if due_date is not None:
        draft.due_date = due_date
    if draft.due_date < draft.issue_date:
        raise ValidationError(
            _("L'échéance ne peut précéder la date de facture."), code="due_before_issue"
        )
    if language is not None:
        draft.language = _language(draft.client, language)
    if reference is not None:
        draft.reference = reference.strip()[:100]
    if notes is not None:
        draft.notes = notes.strip()
    if order_reference is not None:
        draft.order_reference = order_reference.strip()[:100]
    if vat_exemption_reason is not None:
        draft.vat_exemption_reason = vat_exemption_reason.strip()[:300]
    rows = _line_rows(lines) if lines is not None else None
    vat_rules_check(
        client=draft.client,
        lines=rows if rows is not None else list(draft.lines.all()),
        reason=draft.vat_exemption_reason,
    )
    draft.save()
    if rows is not None:
        _set_lines(draft, rows)
    return draft


@transaction.atomic
def invoice_delete(*, invoice: Invoice, by: Collaborator | None) -> None:
    """Delete a draft (an issued invoice is never deleted)."""
    _draft_locked(invoice).delete()


def credit_note_create(
    *,
    invoice: Invoice,
    by: Collaborator | None,
    issue_date: date | None = None,
    lines: Iterable[LineInput] | None = None,
) -> Invoice:
    """A draft credit note for an issued invoice: its lines, unless others are given."""
    if lines is None:
        lines = [
            LineData(
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                vat_rate=line.vat_rate,
                vat_category=line.vat_category,
            )
            for line in invoice.lines.all()
        ]
    return invoice_create(
        billing_company=invoice.billing_company,
        client=invoice.client,
        kind=Invoice.Kind.CREDIT_NOTE,
        lines=lines,
        by=by,
        issue_date=issue_date,
        due_date=issue_date,
        language=invoice.language,
        reference=invoice.reference,
        order_reference=invoice.order_reference,
        vat_exemption_reason=invoice.vat_exemption_reason,
        credited_invoice=invoice,
    )


def sends_by_peppol(company: BillingCompany) -> bool:
    """Whether the billing company has a Peppol access point (a profile of a Peppol method)."""
    return SendingProfile.objects.filter(peppol_company=company).exists()


def register_for(client: Client, *, peppol: bool = False) -> str:
    """Where an invoice goes at issue, by its client's channel.

    Peppol when the client chose Peppol, has a Peppol identifier and the billing company sends
    by Peppol (`peppol`: it has an access point); e-mail when the client chose e-mail, or chose
    Peppol while its company cannot send by Peppol yet, and has an address for invoices; else
    the paper register."""
    channel = client.invoice_channel
    if channel == InvoiceChannel.PEPPOL and peppol and client.peppol_address:
        return Invoice.Register.PEPPOL
    if channel in (InvoiceChannel.PEPPOL, InvoiceChannel.EMAIL) and client.invoice_addresses():
        return Invoice.Register.EMAIL
    return Invoice.Register.PAPER


def _pdf_name(invoice: Invoice) -> str:
    return f"{invoice.billing_company.code}-{invoice.year}-{invoice.number:04d}.pdf"


def _store_pdf(invoice: Invoice, content: bytes | None = None) -> None:
    content = invoice_pdf_render(invoice) if content is None else content
    invoice.pdf.save(_pdf_name(invoice), ContentFile(content), save=False)
    invoice.pdf_sha256 = hashlib.sha256(content).hexdigest()


@audited("invoice_issued")
def invoice_issue(
    *,
    invoice: Invoice,
    by: Collaborator | None,
    make_pdf: bool = True,
    expected_number: int | None = None,
) -> Invoice:
    """Issue a draft: next number of its company's series for the year of its issue date,
    totals, structured communication, register and stored PDF, in one transaction.

    `make_pdf=False` leaves the PDF to be made later by `invoice_pdf_ensure` (a batch does
    it). `expected_number`: the number a person confirmed; when another document took it
    meanwhile, nothing is issued (ValidationError, code "number_changed") so that they confirm
    the new one. Raises ValidationError for an invoice already issued or without lines.
    """
    with transaction.atomic():
        draft = _draft_locked(invoice)
        draft = Invoice.objects.select_related("billing_company", "client").get(pk=draft.pk)
        lines = list(draft.lines.all())
        if not lines:
            raise ValidationError(_("Une facture a au moins une ligne."), code="no_lines")
        # Checked again: the client's VAT number may have gone since the draft was saved.
        vat_rules_check(client=draft.client, lines=lines, reason=draft.vat_exemption_reason)
        totals = totals_of(lines)
        company = draft.billing_company
        draft.year = draft.issue_date.year
        draft.number = series_next_number(billing_company=company, year=draft.year)
        if expected_number is not None and draft.number != expected_number:
            # Rolled back with the transaction: the series keeps its number, no gap.
            raise ValidationError(
                _(
                    "Une autre pièce a pris le numéro %(expected)s entre-temps : celle-ci "
                    "prendrait le numéro %(number)s. Confirmez de nouveau."
                ),
                code="number_changed",
                params={
                    "expected": f"{draft.year}/{expected_number:04d}",
                    "number": f"{draft.year}/{draft.number:04d}",
                },
            )
        draft.status = Invoice.Status.ISSUED
        draft.issued_at = timezone.now()
        draft.total_excl_vat = totals.excl_vat
        draft.total_vat = totals.vat
        draft.total_incl_vat = totals.incl_vat
        draft.structured_communication = communication_for(
            year=draft.year, company_id=company.pk, number=draft.number
        )
        draft.register = register_for(draft.client, peppol=sends_by_peppol(company))
        if make_pdf:
            _store_pdf(draft)
        draft.save()
        # The company may send each invoice as soon as it is issued: queued on commit.
        from courrier.billing.services.sending import invoice_issued

        invoice_issued(invoice=draft, by=by)
    return draft


def invoice_pdf_ensure(*, invoice: Invoice, content: bytes | None = None) -> Invoice:
    """Make and store the PDF of an issued invoice that has none yet (never remade).

    Called outside a transaction, the PDF is made before the row is locked: on SQLite that
    lock is the database's write lock, which other workers then do not wait on while Typst
    runs. A caller inside a transaction may pass the `content` it made before (a batch,
    which stores the PDF and the mail in one transaction). When another run stored its PDF
    meanwhile, that one is kept and ours dropped."""
    if invoice.pdf:
        return invoice
    if content is None and invoice.is_issued and not transaction.get_connection().in_atomic_block:
        content = invoice_pdf_render(invoice)
    with transaction.atomic():
        # The row locked and read again (another run may have made the PDF meanwhile); the
        # invoice given, with its company and client already loaded, is what gets printed.
        status, pdf, sha256 = (
            Invoice.objects.select_for_update()
            .filter(pk=invoice.pk)
            .values_list("status", "pdf", "pdf_sha256")
            .get()
        )
        if status != Invoice.Status.ISSUED:
            raise ValidationError(_("Un brouillon n'a pas de PDF émis."), code="draft")
        if pdf:
            invoice.pdf.name, invoice.pdf_sha256 = pdf, sha256
            return invoice
        if invoice.status != status:  # a draft's copy, issued since: printed as issued
            invoice.refresh_from_db()
            content = None
        _store_pdf(invoice, content)
        Invoice.objects.filter(pk=invoice.pk).update(
            pdf=invoice.pdf.name, pdf_sha256=invoice.pdf_sha256
        )
    return invoice


def invoice_pdfs_write(invoices: Sequence[tuple[Invoice, bytes]]) -> None:
    """Write the PDFs a batch made for issued invoices without one, each under its name,
    outside any transaction (on SQLite, outside the write lock): the name and fingerprint
    are set on the objects, and `invoice_pdfs_record` writes them to the rows."""
    for invoice, content in invoices:
        _store_pdf(invoice, content)


def invoice_pdfs_record(invoices: Sequence[Invoice]) -> set[int]:
    """In the caller's transaction: lock the rows of these invoices and record the PDFs
    written for them (`invoice_pdfs_write`), in one UPDATE whatever their number.

    Returns the invoices left as they were, because another run gave them a PDF meanwhile or
    they are no longer issued: their files are the caller's to remove, and their mails to
    make again from what is stored."""
    return invoice_files_record(invoices, "pdf")


def invoice_files_record(invoices: Sequence[Invoice], field: str, **also: Any) -> set[int]:
    """Record the files written in `field` ("pdf", "ubl") of these invoices with their
    fingerprints (and the values `also` gives), in the caller's transaction, for the issued
    ones that have none yet; return the others (see `invoice_pdfs_record`)."""
    if not invoices:
        return set()
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError(f"recording {field} needs a transaction")
    rows = (
        Invoice.objects.select_for_update()
        .filter(pk__in=[invoice.pk for invoice in invoices])
        .values_list("pk", "status", field)
    )
    free = {pk for pk, status, name in rows if status == Invoice.Status.ISSUED and not name}
    recorded = [invoice for invoice in invoices if invoice.pk in free]
    if recorded:
        sha = f"{field}_sha256"
        Invoice.objects.filter(pk__in=[invoice.pk for invoice in recorded]).update(
            **{
                field: per_row(
                    {invoice.pk: getattr(invoice, field).name for invoice in recorded},
                    field,
                    model=Invoice,
                ),
                sha: per_row(
                    {invoice.pk: getattr(invoice, sha) for invoice in recorded}, sha, model=Invoice
                ),
            },
            **also,
        )
    return {invoice.pk for invoice in invoices} - free


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    """The stored PDF of an issued invoice, exactly as issued (checked against its sha256).

    Raises ValidationError when the invoice has no PDF or the file was altered.
    """
    if not invoice.is_issued or not invoice.pdf:
        raise ValidationError(
            _("La facture %(number)s n'a pas de PDF."),
            code="pdf_missing",
            params={"number": invoice.display_number or _("(brouillon)")},
        )
    try:
        with invoice.pdf.open("rb") as handle:
            content = handle.read()
    except OSError:
        raise ValidationError(
            _("Le PDF de la facture %(number)s est introuvable sur le serveur."),
            code="pdf_missing",
            params={"number": invoice.display_number},
        ) from None
    if invoice.pdf_sha256 and hashlib.sha256(content).hexdigest() != invoice.pdf_sha256:
        raise ValidationError(
            _("Le PDF de la facture %(number)s a été altéré depuis son émission."),
            code="pdf_altered",
            params={"number": invoice.display_number},
        )
    return bytes(content)
