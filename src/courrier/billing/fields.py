"""The invoice context of mails: its merge fields, their values, and its resolver.

A mail about an invoice (the batch, the "@" re-send, one invoice from its page) has the
client's fields and these; it goes to the client's invoice addresses, through the billing
company's profile, in the invoice's language, with the PDF as issued attached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from courrier.amounts import amount_example, format_amount
from courrier.billing.models import Invoice
from courrier.billing.services.communication import format_communication
from courrier.billing.services.payment_terms import credit_note_refusals
from courrier.l10n import format_date, in_language
from courrier.mailing.contexts import Addresses, MailContext, StoredFile
from courrier.mailing.fields import Field

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from courrier.firm.models import Collaborator

INVOICE_CONTEXT = "invoice"
# The context of credit-note templates (MailTemplate.Context.CREDIT_NOTE): the invoice's fields.
CREDIT_NOTE_TEMPLATES = "credit_note"

_INVOICE = _("Facture")
_PAYMENT = _("Paiement")

INVOICE_FIELDS: list[Field] = [
    Field("NUMFACT", _("Numéro de la facture"), _INVOICE, "2026/0042"),
    Field("DATEFACT", _("Date de la facture"), _INVOICE, "31/12/2026"),
    Field("TYPEDOC", _("Type de document (facture ou note de crédit)"), _INVOICE, "facture"),
    Field("REFERENCE", _("Référence du client"), _INVOICE, "Commande 123"),
    Field(
        "NUMFACTCREDITEE",
        _("Numéro de la facture créditée (note de crédit)"),
        _INVOICE,
        "2026/0017",
    ),
    Field(
        "DATEFACTCREDITEE",
        _("Date de la facture créditée (note de crédit)"),
        _INVOICE,
        "15/11/2026",
    ),
    Field("MONTANT", _("Montant TVA comprise"), _PAYMENT, amount_example("1210.00")),
    Field("MONTANTHTVA", _("Montant hors TVA"), _PAYMENT, amount_example("1000.00")),
    Field("MONTANTTVA", _("Montant de la TVA"), _PAYMENT, amount_example("210.00")),
    Field("ECHEANCE", _("Date d'échéance"), _PAYMENT, "30/01/2027"),
    Field("COMMUNICATION", _("Communication structurée"), _PAYMENT, "+++260/1000/04219+++"),
    Field("IBAN", _("IBAN de la société facturante"), _PAYMENT, "BE18 0010 1338 4965"),
    Field("BIC", _("BIC de la société facturante"), _PAYMENT, "GEBABEBB"),
]

# The document's type in the mail's language ({TYPEDOC}).
TYPEDOC_WORDS: dict[str, StrOrPromise] = {
    Invoice.Kind.INVOICE: pgettext_lazy("mail", "facture"),
    Invoice.Kind.CREDIT_NOTE: pgettext_lazy("mail", "note de crédit"),
}

# The PDF's file name: "Facture-2026-0042.pdf", "Factuur-2026-0042.pdf", ...
_FILE_WORDS: dict[str, StrOrPromise] = {
    Invoice.Kind.INVOICE: pgettext_lazy("invoice pdf", "Facture"),
    # Translators: a file name: no space, no accent.
    Invoice.Kind.CREDIT_NOTE: pgettext_lazy("invoice pdf", "Note-de-credit"),
}


def invoice_values(invoice: Invoice, language: str) -> dict[str, str]:
    """The invoice's own fields in `language` (the client's come from the client context)."""
    company = invoice.billing_company
    credited = invoice.credited_invoice
    return {
        "NUMFACT": invoice.display_number,
        "DATEFACT": format_date(invoice.issue_date, language),
        "TYPEDOC": in_language(TYPEDOC_WORDS[invoice.kind], language),
        "REFERENCE": invoice.reference,
        "NUMFACTCREDITEE": credited.display_number if credited is not None else "",
        "DATEFACTCREDITEE": format_date(credited.issue_date, language) if credited else "",
        "MONTANT": format_amount(invoice.total_incl_vat),
        "MONTANTHTVA": format_amount(invoice.total_excl_vat),
        "MONTANTTVA": format_amount(invoice.total_vat),
        "ECHEANCE": format_date(invoice.due_date, language),
        "COMMUNICATION": format_communication(invoice.structured_communication),
        "IBAN": company.iban,
        "BIC": company.bic,
    }


def invoice_file_name(invoice: Invoice) -> str:
    """Facture-2026-0042.pdf in the invoice's language."""
    word = in_language(_FILE_WORDS[invoice.kind], invoice.language)
    return f"{word}-{invoice.year}-{invoice.number or 0:04d}.pdf"


def invoice_label(invoice: Invoice) -> str:
    """'Facture 2026/0042' (or 'Note de crédit 2026/0043') for the interface."""
    kind = (
        gettext("Note de crédit")
        if invoice.kind == Invoice.Kind.CREDIT_NOTE
        else gettext("Facture")
    )
    return f"{kind} {invoice.display_number}"


def invoice_attachment(invoice: Invoice, content: bytes | None = None) -> StoredFile:
    """The PDF as issued, read when the mail is built and checked against its sha256; or
    `content`, the PDF just made for the invoice and stored with its mail."""
    from courrier.billing.services.issue import invoice_pdf_bytes

    if content is not None:
        made = content
        return StoredFile(
            name=invoice_file_name(invoice),
            content_type="application/pdf",
            size=len(made),
            read=lambda: made,
        )
    size = 0
    if invoice.pdf:
        try:
            size = invoice.pdf.size
        except OSError:
            size = 0
    return StoredFile(
        name=invoice_file_name(invoice),
        content_type="application/pdf",
        size=size,
        read=lambda: invoice_pdf_bytes(invoice),
        sha256=invoice.pdf_sha256,
    )


def invoice_context(invoice: Invoice, *, pdf: bytes | None = None) -> MailContext:
    """The mail context of an issued invoice: its fields, its PDF, the client's invoice
    addresses, its billing company's profile and its language. `pdf`: the PDF a batch has
    just made, to be stored with the mail (else the stored one is read). A credit note's
    context offers the credit-note templates and refuses a text that asks for payment."""
    credit_note = invoice.kind == Invoice.Kind.CREDIT_NOTE
    return MailContext(
        name=INVOICE_CONTEXT,
        client=invoice.client,
        values=lambda language: invoice_values(invoice, language),
        object_id=invoice.pk,
        label=invoice_label(invoice),
        attachments=(invoice_attachment(invoice, pdf),) if invoice.pdf or pdf else (),
        addresses=Addresses.INVOICES,
        billing_company=invoice.billing_company,
        language=invoice.language,
        # A credit note's mail has templates of its own, and never asks for payment.
        template_context=CREDIT_NOTE_TEMPLATES if credit_note else "",
        refuses=credit_note_refusals if credit_note else None,
    )


def resolve_invoices(ids: Sequence[int], user: Collaborator | None) -> list[MailContext]:
    """Contexts of the issued invoices among `ids`, in the order of the ids (every
    collaborator sees every invoice of the firm; drafts are never mailed)."""
    invoices = Invoice.objects.select_related(
        "client",
        "client__billing_company",
        "client__responsible",
        "billing_company",
        "credited_invoice",
    ).filter(pk__in=list(ids), status=Invoice.Status.ISSUED)
    by_pk = {invoice.pk: invoice for invoice in invoices}
    return [invoice_context(by_pk[pk]) for pk in ids if pk in by_pk]
