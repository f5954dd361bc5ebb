"""The invoice PDF, made with Typst from a layout a firm can restyle.

The layout (`billing/layouts/invoice.typ`) only places text: every word, number, date and
amount is written here, in the invoice's language, and handed over as one JSON value
(`sys.inputs.data`). A firm restyles its invoices with its own layout file in the data
directory (`layouts/invoice-<CODE>.typ` for one billing company, else `layouts/invoice.typ`),
and each billing company has its logo, colour and footer text.

One compiler is kept per process: it loads the embedded fonts once (a one-page invoice then
takes a few milliseconds). Typst's compiler is not meant for concurrent calls, so a lock
serialises them.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import typst
from django.conf import settings

from courrier.amounts import format_amount
from courrier.billing.models import Invoice
from courrier.billing.services.communication import format_communication
from courrier.billing.services.epc import EpcPayment, epc_svg
from courrier.billing.services.totals import totals_of
from courrier.l10n import (
    country_name,
    format_date,
    format_number,
    format_vat_number,
)

LAYOUTS = Path(__file__).resolve().parent.parent / "layouts"
DEFAULT_LAYOUT = LAYOUTS / "invoice.typ"

# Words printed on the invoice, in the four languages of the mails (German has no interface
# catalogue, so they are kept here rather than in gettext).
PDF_WORDS: dict[str, dict[str, str]] = {
    "invoice": {"fr": "Facture", "nl": "Factuur", "de": "Rechnung", "en": "Invoice"},
    "credit_note": {
        "fr": "Note de crédit",
        "nl": "Creditnota",
        "de": "Gutschrift",
        "en": "Credit note",
    },
    "draft": {"fr": "Brouillon", "nl": "Ontwerp", "de": "Entwurf", "en": "Draft"},
    "number": {"fr": "Numéro", "nl": "Nummer", "de": "Nummer", "en": "Number"},
    "date": {"fr": "Date", "nl": "Datum", "de": "Datum", "en": "Date"},
    "due_date": {"fr": "Échéance", "nl": "Vervaldag", "de": "Fälligkeit", "en": "Due date"},
    "client_number": {"fr": "N° client", "nl": "Klantnr.", "de": "Kundennr.", "en": "Client no."},
    "reference": {
        "fr": "Votre référence",
        "nl": "Uw referentie",
        "de": "Ihre Referenz",
        "en": "Your reference",
    },
    "credits": {
        "fr": "Crédite la facture",
        "nl": "Crediteert factuur",
        "de": "Gutschrift zur Rechnung",
        "en": "Credits invoice",
    },
    "vat_number": {"fr": "TVA", "nl": "Btw", "de": "MwSt.", "en": "VAT"},
    "description": {
        "fr": "Description",
        "nl": "Omschrijving",
        "de": "Beschreibung",
        "en": "Description",
    },
    "quantity": {"fr": "Quantité", "nl": "Aantal", "de": "Menge", "en": "Quantity"},
    "unit_price": {
        "fr": "Prix unitaire",
        "nl": "Eenheidsprijs",
        "de": "Einzelpreis",
        "en": "Unit price",
    },
    "vat_rate": {"fr": "TVA", "nl": "Btw", "de": "MwSt.", "en": "VAT"},
    "amount": {
        "fr": "Montant HTVA",
        "nl": "Bedrag excl. btw",
        "de": "Betrag netto",
        "en": "Amount excl. VAT",
    },
    "base": {"fr": "Base", "nl": "Maatstaf", "de": "Bemessungsgrundlage", "en": "Taxable amount"},
    "vat_at": {
        "fr": "TVA {rate} %",
        "nl": "Btw {rate} %",
        "de": "MwSt. {rate} %",
        "en": "VAT {rate}%",
    },
    "total_excl": {
        "fr": "Total hors TVA",
        "nl": "Totaal excl. btw",
        "de": "Summe netto",
        "en": "Total excl. VAT",
    },
    "total_vat": {"fr": "Total TVA", "nl": "Totaal btw", "de": "Summe MwSt.", "en": "Total VAT"},
    "total_incl": {
        "fr": "Total à payer",
        "nl": "Te betalen",
        "de": "Zu zahlen",
        "en": "Total to pay",
    },
    "total_credit": {
        "fr": "Total crédité",
        "nl": "Totaal gecrediteerd",
        "de": "Gutgeschriebener Betrag",
        "en": "Total credited",
    },
    "payment": {
        "fr": "Merci de verser {amount} au plus tard le {due} sur le compte {iban} avec la "
        "communication structurée {communication}.",
        "nl": "Gelieve {amount} uiterlijk op {due} over te schrijven op rekening {iban} met "
        "de gestructureerde mededeling {communication}.",
        "de": "Bitte überweisen Sie {amount} bis spätestens {due} auf das Konto {iban} mit "
        "der strukturierten Mitteilung {communication}.",
        "en": "Please pay {amount} by {due} to account {iban} quoting the structured "
        "communication {communication}.",
    },
    "credit_text": {
        "fr": "Ce montant vient en déduction de la facture créditée.",
        "nl": "Dit bedrag wordt in mindering gebracht van de gecrediteerde factuur.",
        "de": "Dieser Betrag wird von der gutgeschriebenen Rechnung abgezogen.",
        "en": "This amount is deducted from the credited invoice.",
    },
    "credit_text_alone": {
        "fr": "Ce montant est porté à votre crédit.",
        "nl": "Dit bedrag wordt in uw voordeel geboekt.",
        "de": "Dieser Betrag wird Ihnen gutgeschrieben.",
        "en": "This amount is credited to your account.",
    },
    # The mention a Belgian credit note carries for a client who deducted the VAT (Royal
    # Decree no. 4, art. 4): its accountant then knows the VAT goes back to the State.
    "credit_vat": {
        "fr": "TVA à reverser à l'État dans la mesure où elle a été initialement déduite.",
        "nl": "Btw terug te storten aan de Staat in de mate waarin ze oorspronkelijk in "
        "aftrek werd gebracht.",
        "de": "MwSt. an den Staat zurückzuzahlen, soweit sie ursprünglich abgezogen wurde.",
        "en": "VAT to be repaid to the State insofar as it was initially deducted.",
    },
    "scan": {
        "fr": "Scannez pour payer",
        "nl": "Scan om te betalen",
        "de": "Zum Bezahlen scannen",
        "en": "Scan to pay",
    },
    "enterprise": {"fr": "BCE", "nl": "KBO", "de": "ZDU", "en": "CBE"},
    "office": {
        "fr": "Siège social",
        "nl": "Maatschappelijke zetel",
        "de": "Gesellschaftssitz",
        "en": "Registered office",
    },
    "page": {"fr": "Page", "nl": "Pagina", "de": "Seite", "en": "Page"},
}


def pdf_word(key: str, language: str) -> str:
    words = PDF_WORDS[key]
    return words.get(language) or words["fr"]


class _Engine:
    """One Typst compiler per process, used under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compiler: typst.Compiler | None = None

    def compile(self, *, layout: Path, data: dict[str, Any]) -> bytes:
        inputs = {"data": json.dumps(data, ensure_ascii=False)}
        with self._lock:
            if self._compiler is None:
                self._compiler = typst.Compiler(
                    str(layout), root="/", ignore_system_fonts=True, sys_inputs=inputs
                )
            result = self._compiler.compile(
                input=str(layout), format="pdf", sys_inputs=inputs, root="/"
            )
        assert isinstance(result, bytes)
        return result


_ENGINE = _Engine()


def layout_for(invoice: Invoice) -> Path:
    """The firm's own layout for this company, else the firm's, else ours."""
    directory = Path(settings.DATA_DIR) / "layouts"
    for candidate in (
        directory / f"invoice-{invoice.billing_company.code}.typ",
        directory / "invoice.typ",
    ):
        if candidate.is_file():
            return candidate
    return DEFAULT_LAYOUT


def invoice_pdf_data(invoice: Invoice) -> dict[str, Any]:
    """Everything the layout prints, as text in the invoice's language (its amounts in the
    firm's format, the same in every language)."""
    language = invoice.language
    company = invoice.billing_company
    client = invoice.client
    lines = list(invoice.lines.all())
    totals = totals_of(lines)
    is_credit = invoice.kind == Invoice.Kind.CREDIT_NOTE
    title = pdf_word("credit_note" if is_credit else "invoice", language)
    number = invoice.display_number or pdf_word("draft", language)

    meta = [
        [pdf_word("number", language), number],
        [pdf_word("date", language), format_date(invoice.issue_date, language)],
    ]
    if not is_credit:
        meta.append([pdf_word("due_date", language), format_date(invoice.due_date, language)])
    meta.append([pdf_word("client_number", language), client.number])
    if invoice.reference:
        meta.append([pdf_word("reference", language), invoice.reference])
    if invoice.credited_invoice is not None:
        credited = invoice.credited_invoice
        meta.append(
            [
                pdf_word("credits", language),
                f"{credited.display_number} ({format_date(credited.issue_date, language)})",
            ]
        )

    client_lines = [client.street, f"{client.postal_code} {client.city}".strip()]
    if client.country and client.country.upper() != company.country.upper():
        client_lines.append(country_name(client.country, language))
    if client.vat_number:
        client_lines.append(
            f"{pdf_word('vat_number', language)} {format_vat_number(client.vat_number)}"
        )

    communication = format_communication(invoice.structured_communication)
    iban = company.iban
    payment_text = ""
    qr = ""
    if is_credit:
        payment_text = pdf_word(
            "credit_text" if invoice.credited_invoice_id else "credit_text_alone", language
        )
        if totals.vat:
            payment_text += " " + pdf_word("credit_vat", language)
    elif totals.incl_vat > 0 and iban:
        payment_text = pdf_word("payment", language).format(
            amount=format_amount(totals.incl_vat),
            due=format_date(invoice.due_date, language),
            iban=iban,
            communication=communication or "—",
        )
        if invoice.structured_communication:
            qr = epc_svg(
                EpcPayment(
                    bic=company.bic,
                    name=str(company),
                    iban=iban,
                    amount=totals.incl_vat,
                    reference=invoice.structured_communication,
                )
            )

    office = ", ".join(
        part for part in (company.street, f"{company.postal_code} {company.city}".strip()) if part
    )
    legal = [
        f"{company.name} {company.legal_form}".strip(),
        f"{pdf_word('office', language)} : {office}"
        if language == "fr"
        else f"{pdf_word('office', language)}: {office}",
        " · ".join(
            part
            for part in (
                f"{pdf_word('enterprise', language)} {company.enterprise_number}",
                f"{pdf_word('vat_number', language)} {format_vat_number(company.vat_number)}"
                if company.vat_number
                else "",
                f"IBAN {iban}" if iban else "",
                f"BIC {company.bic}" if company.bic else "",
            )
            if part
        ),
    ]
    logo = ""
    if company.invoice_logo:
        try:
            logo = company.invoice_logo.path
        except (NotImplementedError, ValueError):
            logo = ""
        if logo and not Path(logo).is_file():
            logo = ""

    return {
        "lang": language,
        "colour": company.invoice_colour or "#1F4E79",
        "logo": logo,
        "title": title,
        "number": number,
        "draft": not invoice.is_issued,
        "company": {
            "name": str(company),
            "lines": [
                line
                for line in (
                    company.street,
                    f"{company.postal_code} {company.city}".strip(),
                    company.phone,
                    company.email,
                )
                if line
            ],
        },
        "client": {"name": client.display_name, "lines": [x for x in client_lines if x]},
        "meta": meta,
        "headers": [
            pdf_word("description", language),
            pdf_word("quantity", language),
            pdf_word("unit_price", language),
            pdf_word("vat_rate", language),
            pdf_word("amount", language),
        ],
        "lines": [
            [
                line.description,
                format_number(line.quantity.normalize(), language),
                format_amount(line.unit_price),
                f"{line.vat_rate} %",
                format_amount(line.amount_excl_vat),
            ]
            for line in lines
        ],
        "vat_rows": [
            [
                pdf_word("vat_at", language).format(rate=row.rate),
                format_amount(row.base),
                format_amount(row.vat),
            ]
            for row in totals.by_rate
        ],
        "base_label": pdf_word("base", language),
        "vat_label": pdf_word("vat_rate", language),
        "totals": [
            [pdf_word("total_excl", language), format_amount(totals.excl_vat)],
            [pdf_word("total_vat", language), format_amount(totals.vat)],
        ],
        "total": [
            pdf_word("total_credit" if is_credit else "total_incl", language),
            format_amount(totals.incl_vat),
        ],
        "payment": payment_text,
        "communication": communication,
        "qr": qr,
        "scan": pdf_word("scan", language),
        "notes": invoice.notes,
        "footer": company.invoice_footer,
        "legal": [line for line in legal if line],
        "page": pdf_word("page", language),
    }


def invoice_pdf_render(invoice: Invoice) -> bytes:
    """The invoice as a PDF (a draft is marked as such); nothing is stored."""
    return _ENGINE.compile(layout=layout_for(invoice), data=invoice_pdf_data(invoice))
