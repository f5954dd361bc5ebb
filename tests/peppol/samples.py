"""Plain e-invoices for the Peppol tests: a Belgian seller and buyer, lines of any VAT
category, totals computed as billing computes them (`billing.services.totals`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from courrier.billing.models import InvoiceLine
from courrier.billing.services.pdf import pdf_words
from courrier.billing.services.totals import line_amount, totals_of
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
)

PDF = b"%PDF-1.7\n% a small stand-in for the issued PDF\n%%EOF\n"

SELLER = UblParty(
    name="Fiduciaire Demo SRL",
    country="BE",
    endpoint="0208:0494482244",
    street="Avenue Louise 250",
    postal_code="1050",
    city="Bruxelles",
    vat_number="BE0494482244",
    enterprise_number="0494482244",
    email="factures@fidu.test",
)
BUYER = UblParty(
    name="Bakkerij Peeters BV",
    country="BE",
    endpoint="0208:0446407064",
    street="Kammenstraat 41",
    postal_code="2000",
    city="Antwerpen",
    vat_number="BE0446407064",
    enterprise_number="0446407064",
)

# (description, quantity, unit price, rate, category)
LineSpec = tuple[str, Decimal, Decimal, str, str]

FOUR_LINES: list[LineSpec] = [
    ("Tenue de la comptabilité", Decimal("3"), Decimal("250.00"), "21", "S"),
    ("Déclaration IPP", Decimal("1"), Decimal("180.00"), "21", "S"),
    ("Livre « Fiscalité »", Decimal("2"), Decimal("24.95"), "6", "S"),
    ("Conseil (heures)", Decimal("1.125"), Decimal("95.00"), "12", "S"),
]


def document(
    specs: Sequence[LineSpec] = FOUR_LINES,
    *,
    kind: str = INVOICE,
    language: str = "fr",
    reason: str = "Exonération — article 44, § 2, du Code de la TVA",
    **changes: object,
) -> UblDocument:
    rows = [
        InvoiceLine(
            description=name,
            quantity=quantity,
            unit_price=price,
            vat_rate=rate,
            vat_category=category,
        )
        for name, quantity, price, rate, category in specs
    ]
    totals = totals_of(rows)
    breakdown = []
    for row in totals.by_rate:
        mention = pdf_words(language).get(f"mention_{row.category}", "")
        code, text = exemption(row.category, mention=mention, reason=reason)
        breakdown.append(
            UblVatBreakdown(
                category=row.category,
                rate=Decimal(row.rate),
                base=row.base,
                vat=row.vat,
                exemption_code=code,
                exemption_reason=text,
            )
        )
    credit = kind == CREDIT_NOTE
    categories = {row.vat_category for row in rows}
    base = UblDocument(
        kind=kind,
        number="2026/0042",
        issue_date=date(2026, 3, 14),
        due_date=None if credit else date(2026, 4, 13),
        seller=SELLER,
        buyer=BUYER,
        lines=tuple(
            UblLine(
                id=str(n),
                name=row.description,
                quantity=row.quantity,
                unit_price=row.unit_price,
                amount=line_amount(quantity=row.quantity, unit_price=row.unit_price),
                category=row.vat_category,
                rate=Decimal(row.vat_rate),
            )
            for n, row in enumerate(rows, start=1)
        ),
        vat_breakdown=tuple(breakdown),
        total_excl_vat=totals.excl_vat,
        total_vat=totals.vat,
        total_incl_vat=totals.incl_vat,
        buyer_reference="C0018",
        credited_number="2026/0007" if credit else "",
        credited_issue_date=date(2026, 2, 1) if credit else None,
        payment=None
        if credit
        else UblPayment(
            iban="BE18 0010 1338 4965", bic="GEBABEBB", structured_communication="260100004249"
        ),
        payment_terms="Ce montant est porté à votre crédit." if credit else "",
        attachment=UblAttachment(id="2026/0042", filename="FIDU-2026-0042.pdf", content=PDF),
        delivery_date=date(2026, 3, 14) if "K" in categories else None,
        delivery_country="NL" if "K" in categories else "",
    )
    return replace(base, **changes)  # type: ignore[arg-type]
