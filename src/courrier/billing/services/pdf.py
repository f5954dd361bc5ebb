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
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import typst
from django.conf import settings
from django.utils.translation import pgettext_lazy

from courrier.amounts import format_amount
from courrier.billing.models import Invoice, VatCategory
from courrier.billing.services.communication import format_communication
from courrier.billing.services.epc import EpcPayment, epc_svg
from courrier.billing.services.totals import totals_of
from courrier.l10n import (
    country_name,
    format_date,
    format_number,
    format_vat_number,
    mail_language,
    override,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

LAYOUTS = Path(__file__).resolve().parent.parent / "layouts"
DEFAULT_LAYOUT = LAYOUTS / "invoice.typ"

# Words printed on the invoice, rendered in its language (`pdf_words`).
PDF_WORDS: dict[str, StrOrPromise] = {
    "invoice": pgettext_lazy("invoice pdf", "Facture"),
    "credit_note": pgettext_lazy("invoice pdf", "Note de crédit"),
    "draft": pgettext_lazy("invoice pdf", "Brouillon"),
    "number": pgettext_lazy("invoice pdf", "Numéro"),
    "date": pgettext_lazy("invoice pdf", "Date"),
    "due_date": pgettext_lazy("invoice pdf", "Échéance"),
    "client_number": pgettext_lazy("invoice pdf", "N° client"),
    "reference": pgettext_lazy("invoice pdf", "Votre référence"),
    "order_reference": pgettext_lazy("invoice pdf", "Bon de commande"),
    "credits": pgettext_lazy("invoice pdf", "Crédite la facture"),
    "vat_number": pgettext_lazy("invoice pdf", "TVA"),
    "description": pgettext_lazy("invoice pdf", "Description"),
    "quantity": pgettext_lazy("invoice pdf", "Quantité"),
    "unit_price": pgettext_lazy("invoice pdf", "Prix unitaire"),
    "vat_rate": pgettext_lazy("invoice pdf", "TVA"),
    "amount": pgettext_lazy("invoice pdf", "Montant HTVA"),
    "base": pgettext_lazy("invoice pdf", "Base"),
    "vat_at": pgettext_lazy("invoice pdf", "TVA %(rate)s %%"),
    "total_excl": pgettext_lazy("invoice pdf", "Total hors TVA"),
    "total_vat": pgettext_lazy("invoice pdf", "Total TVA"),
    "total_incl": pgettext_lazy("invoice pdf", "Total à payer"),
    "total_credit": pgettext_lazy("invoice pdf", "Total crédité"),
    "payment": pgettext_lazy(
        "invoice pdf",
        "Merci de verser %(amount)s au plus tard le %(due)s sur le compte %(iban)s avec la "
        "communication structurée %(communication)s.",
    ),
    "credit_text": pgettext_lazy(
        "invoice pdf", "Ce montant vient en déduction de la facture créditée."
    ),
    "credit_text_alone": pgettext_lazy("invoice pdf", "Ce montant est porté à votre crédit."),
    # The mention a Belgian credit note carries for a client who deducted the VAT (Royal
    # Decree no. 4, art. 4): its accountant then knows the VAT goes back to the State.
    "credit_vat": pgettext_lazy(
        "invoice pdf",
        "TVA à reverser à l'État dans la mesure où elle a été initialement déduite.",
    ),
    # A line's VAT, and its totals row, when it is not charged: short, for the VAT column.
    "category_E": pgettext_lazy("invoice pdf", "Exonéré"),
    "category_AE": pgettext_lazy("invoice pdf", "Autoliquidation"),
    "category_K": pgettext_lazy("invoice pdf", "Intracommunautaire"),
    "category_G": pgettext_lazy("invoice pdf", "Exportation"),
    "category_O": pgettext_lazy("invoice pdf", "Hors champ TVA"),
    # The legal mention of each category without VAT, printed once under the totals (an
    # exempt invoice prints its own reason, `Invoice.vat_exemption_reason`).
    "mention_AE": pgettext_lazy(
        "invoice pdf",
        "Autoliquidation — TVA due par le cocontractant (art. 51, § 2, du Code de la TVA)",
    ),
    "mention_K": pgettext_lazy(
        "invoice pdf", "Livraison intracommunautaire exemptée — art. 39bis du Code de la TVA"
    ),
    "mention_G": pgettext_lazy("invoice pdf", "Exportation — art. 39 du Code de la TVA"),
    "mention_O": pgettext_lazy("invoice pdf", "Hors du champ d'application de la TVA"),
    "scan": pgettext_lazy("invoice pdf", "Scannez pour payer"),
    # Translators: the Crossroads Bank for Enterprises, where a company is registered.
    "enterprise": pgettext_lazy("invoice pdf", "BCE"),
    "office": pgettext_lazy("invoice pdf", "Siège social"),
    "page": pgettext_lazy("invoice pdf", "Page"),
}


def pdf_words(language: str) -> Mapping[str, str]:
    """Every word of the invoice in `language`.

    Kept per language for the process's life, as Django keeps the catalogues themselves: a
    batch of 10,000 invoices renders them once, not thirty gettext calls per invoice."""
    return _pdf_words(mail_language(language))


@cache
def _pdf_words(language: str) -> Mapping[str, str]:
    with override(language):
        return MappingProxyType({key: str(word) for key, word in PDF_WORDS.items()})


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


def _vat_word(words: Mapping[str, str], rate: str, category: str) -> str:
    """A line's VAT column: its rate, or the word of its category when no VAT is charged."""
    return words.get(f"category_{category}") or f"{rate} %"


def vat_mentions(invoice: Invoice, categories: set[str]) -> list[str]:
    """The legal mentions these categories call for, in the invoice's language and in the
    order of `VatCategory`: one per category, the invoice's exemption reason for E."""
    words = pdf_words(invoice.language)
    mentions = []
    for category in VatCategory.values:
        if category not in categories:
            continue
        if category == VatCategory.EXEMPT:
            mention = invoice.vat_exemption_reason.strip()
        else:
            mention = words.get(f"mention_{category}", "")
        if mention:
            mentions.append(mention)
    return mentions


def invoice_pdf_data(invoice: Invoice) -> dict[str, Any]:
    """Everything the layout prints, as text in the invoice's language (its amounts in the
    firm's format, the same in every language)."""
    language = invoice.language
    words = pdf_words(language)
    company = invoice.billing_company
    client = invoice.client
    lines = list(invoice.lines.all())
    totals = totals_of(lines)
    is_credit = invoice.kind == Invoice.Kind.CREDIT_NOTE
    title = words["credit_note" if is_credit else "invoice"]
    number = invoice.display_number or words["draft"]

    meta = [
        [words["number"], number],
        [words["date"], format_date(invoice.issue_date, language)],
    ]
    if not is_credit:
        meta.append([words["due_date"], format_date(invoice.due_date, language)])
    meta.append([words["client_number"], client.number])
    if invoice.reference:
        meta.append([words["reference"], invoice.reference])
    if invoice.order_reference:
        meta.append([words["order_reference"], invoice.order_reference])
    if invoice.credited_invoice is not None:
        credited = invoice.credited_invoice
        meta.append(
            [
                words["credits"],
                f"{credited.display_number} ({format_date(credited.issue_date, language)})",
            ]
        )

    client_lines = [client.street, f"{client.postal_code} {client.city}".strip()]
    if client.country and client.country.upper() != company.country.upper():
        client_lines.append(country_name(client.country, language))
    if client.vat_number:
        client_lines.append(f"{words['vat_number']} {format_vat_number(client.vat_number)}")

    communication = format_communication(invoice.structured_communication)
    iban = company.iban
    payment_text = ""
    qr = ""
    if is_credit:
        payment_text = words["credit_text" if invoice.credited_invoice_id else "credit_text_alone"]
        if totals.vat:
            payment_text += " " + words["credit_vat"]
    elif totals.incl_vat > 0 and iban:
        payment_text = words["payment"] % {
            "amount": format_amount(totals.incl_vat),
            "due": format_date(invoice.due_date, language),
            "iban": iban,
            "communication": communication or "—",
        }
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
        f"{words['office']} : {office}" if language == "fr" else f"{words['office']}: {office}",
        " · ".join(
            part
            for part in (
                f"{words['enterprise']} {company.enterprise_number}",
                f"{words['vat_number']} {format_vat_number(company.vat_number)}"
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
            words["description"],
            words["quantity"],
            words["unit_price"],
            words["vat_rate"],
            words["amount"],
        ],
        "lines": [
            [
                line.description,
                format_number(line.quantity.normalize(), language),
                format_amount(line.unit_price),
                _vat_word(words, line.vat_rate, line.vat_category),
                format_amount(line.amount_excl_vat),
            ]
            for line in lines
        ],
        # One row per (category, rate) of `totals_of`, the figures the Peppol invoice carries.
        "vat_rows": [
            [
                words.get(f"category_{row.category}") or words["vat_at"] % {"rate": row.rate},
                format_amount(row.base),
                format_amount(row.vat),
            ]
            for row in totals.by_rate
        ],
        "vat_mentions": vat_mentions(invoice, {row.category for row in totals.by_rate}),
        "base_label": words["base"],
        "vat_label": words["vat_rate"],
        "totals": [
            [words["total_excl"], format_amount(totals.excl_vat)],
            [words["total_vat"], format_amount(totals.vat)],
        ],
        "total": [
            words["total_credit" if is_credit else "total_incl"],
            format_amount(totals.incl_vat),
        ],
        "payment": payment_text,
        "communication": communication,
        "qr": qr,
        "scan": words["scan"],
        "notes": invoice.notes,
        "footer": company.invoice_footer,
        "legal": [line for line in legal if line],
        "page": words["page"],
    }


def invoice_pdf_render(invoice: Invoice) -> bytes:
    """The invoice as a PDF (a draft is marked as such); nothing is stored."""
    return _ENGINE.compile(layout=layout_for(invoice), data=invoice_pdf_data(invoice))
