"""Totals of an invoice: per VAT rate (base, VAT), then the grand totals.

VAT is computed once per rate on the sum of that rate's lines and rounded half up to the cent,
as a Belgian invoice shows it; the grand totals are sums of those rounded figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from courrier.billing.models import InvoiceLine

CENT = Decimal("0.01")


@dataclass(frozen=True)
class VatTotal:
    rate: str  # "0", "6", "12", "21"
    base: Decimal
    vat: Decimal

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
    """The totals of these lines, rates in increasing order (only rates that are used)."""
    bases: dict[str, Decimal] = {}
    for line in lines:
        amount = line_amount(quantity=line.quantity, unit_price=line.unit_price)
        bases[str(line.vat_rate)] = bases.get(str(line.vat_rate), Decimal("0.00")) + amount
    by_rate = [
        VatTotal(
            rate=rate,
            base=base.quantize(CENT),
            vat=(base * Decimal(rate) / 100).quantize(CENT, rounding=ROUND_HALF_UP),
        )
        for rate, base in sorted(bases.items(), key=lambda item: Decimal(item[0]))
    ]
    excl = sum((row.base for row in by_rate), Decimal("0.00"))
    vat = sum((row.vat for row in by_rate), Decimal("0.00"))
    return Totals(by_rate=by_rate, excl_vat=excl, vat=vat, incl_vat=excl + vat)
