"""Totals of an invoice: per VAT category and rate (base, VAT), then the grand totals.

VAT is computed once per category and rate on the sum of its lines and rounded half up to the
cent, as a Belgian invoice shows it; the grand totals are sums of those rounded figures. The PDF
and the Peppol invoice (its VAT breakdown, BG-23) print these very figures, so that the two
documents of one invoice never differ by a cent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from courrier.billing.models import InvoiceLine, VatCategory

CENT = Decimal("0.01")


@dataclass(frozen=True)
class VatTotal:
    rate: str  # "0", "6", "12", "21"
    base: Decimal
    vat: Decimal
    category: str = "S"  # billing.models.VatCategory

    @property
    def total(self) -> Decimal:
        return self.base + self.vat


@dataclass(frozen=True)
class Totals:
    by_rate: list[VatTotal]
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal


def line_amount(*, quantity: Decimal, unit_price: Decimal) -> Decimal:
    return (Decimal(quantity) * Decimal(unit_price)).quantize(CENT, rounding=ROUND_HALF_UP)


def totals_of(lines: Iterable[InvoiceLine]) -> Totals:
    """The totals of these lines, one row per category and rate that is used: rates in
    increasing order, then the categories in the order of `VatCategory`."""
    order = {code: n for n, code in enumerate(VatCategory.values)}
    bases: dict[tuple[str, str], Decimal] = {}
    for line in lines:
        amount = line_amount(quantity=line.quantity, unit_price=line.unit_price)
        key = (str(line.vat_rate), str(getattr(line, "vat_category", "") or VatCategory.STANDARD))
        bases[key] = bases.get(key, Decimal("0.00")) + amount
    by_rate = [
        VatTotal(
            rate=rate,
            base=base.quantize(CENT),
            vat=(base * Decimal(rate) / 100).quantize(CENT, rounding=ROUND_HALF_UP),
            category=category,
        )
        for (rate, category), base in sorted(
            bases.items(), key=lambda item: (Decimal(item[0][0]), order.get(item[0][1], 99))
        )
    ]
    excl = sum((row.base for row in by_rate), Decimal("0.00"))
    vat = sum((row.vat for row in by_rate), Decimal("0.00"))
    return Totals(by_rate=by_rate, excl_vat=excl, vat=vat, incl_vat=excl + vat)
