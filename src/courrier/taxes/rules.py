"""The Belgian rules the tax files follow: VAT grids and their balance, deadlines, assessment
years. Plain functions of dates and amounts, without the database.

Deadlines are the legal ones by default; a collaborator overrides one by hand when the
administration publishes another date (the ISOC and IPP dates move every year).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# The grids of the periodic VAT return (the operations of sections II and III, the taxes of
# sections IV and V, and 91, the December advance of monthly filers). 71 and 72 are not
# entered: they are the balance.
OPERATION_GRIDS = (
    "00", "01", "02", "03", "44", "45", "46", "47", "48", "49",
    "81", "82", "83", "84", "85", "86", "87", "88",
)  # fmt: skip
# Section IV, VAT due: on the operations, intra-EU acquisitions, reverse charge, imports,
# regularisations in favour of the State, VAT to repay on credit notes received.
DUE_GRIDS = ("54", "55", "56", "57", "61", "63")
# Section V, VAT deductible: deductible VAT, regularisations in favour of the filer, VAT to
# recover on credit notes issued.
DEDUCTIBLE_GRIDS = ("59", "62", "64")
ADVANCE_GRID = "91"
GRID_CODES = frozenset((*OPERATION_GRIDS, *DUE_GRIDS, *DEDUCTIBLE_GRIDS, ADVANCE_GRID))
DERIVED_GRIDS = frozenset({"71", "72"})

CENT = Decimal("0.01")
# 99 999 999 999,99 €: beyond, it is a typing error.
MAX_AMOUNT = Decimal("99999999999.99")


def _amount(code: str, value: object) -> Decimal:
    if isinstance(value, float):
        # A float may not hold the cents exactly: read it as it prints.
        value = repr(value)
    try:
        amount = Decimal(str(value).strip().replace(" ", "").replace(",", "."))
    except (InvalidOperation, ValueError):
        raise ValidationError(
            _("Grille %(code)s : « %(value)s » n'est pas un montant."),
            code="grid_not_amount",
            params={"code": code, "value": value},
        ) from None
    if not amount.is_finite():
        raise ValidationError(
            _("Grille %(code)s : « %(value)s » n'est pas un montant."),
            code="grid_not_amount",
            params={"code": code, "value": value},
        )
    if amount < 0:
        raise ValidationError(
            _("Grille %(code)s : un montant ne peut pas être négatif."),
            code="grid_negative",
            params={"code": code},
        )
    if amount != amount.quantize(CENT):
        raise ValidationError(
            _("Grille %(code)s : deux décimales au plus."),
            code="grid_decimals",
            params={"code": code},
        )
    if amount > MAX_AMOUNT:
        raise ValidationError(
            _("Grille %(code)s : montant trop élevé."),
            code="grid_too_large",
            params={"code": code},
        )
    return amount.quantize(CENT)


def grids_validate(grids: Mapping[str, object] | None) -> dict[str, str]:
    """The grid values checked and normalised (`{"54": "1234.50"}`, sorted, zeros dropped).

    Raises ValidationError listing every wrong grid: an unknown code, 71 or 72 (they are the
    balance, never entered), a negative amount, more than two decimals, not an amount.
    """
    if grids is None:
        return {}
    if not isinstance(grids, Mapping):
        raise ValidationError(_("Les grilles doivent être une liste de codes et de montants."))
    errors: list[ValidationError] = []
    clean: dict[str, str] = {}
    for raw_code, value in grids.items():
        code = str(raw_code).strip()
        if code in DERIVED_GRIDS:
            errors.append(
                ValidationError(
                    _(
                        "Les grilles 71 et 72 ne se saisissent pas : elles sont calculées à "
                        "partir des grilles 54 à 64."
                    ),
                    code="grid_derived",
                )
            )
            continue
        if code not in GRID_CODES:
            errors.append(
                ValidationError(
                    _("La grille « %(code)s » n'existe pas dans la déclaration TVA."),
                    code="grid_unknown",
                    params={"code": code},
                )
            )
            continue
        if value is None or str(value).strip() == "":
            continue
        try:
            amount = _amount(code, value)
        except ValidationError as exc:
            errors.append(exc)
            continue
        if amount:
            clean[code] = str(amount)
    if errors:
        raise ValidationError(errors)
    return dict(sorted(clean.items()))


def grid_amount(grids: Mapping[str, object], code: str) -> Decimal:
    """One stored grid's amount; 0.00 when empty."""
    value = grids.get(code)
    if value is None or value == "":
        return Decimal("0.00")
    return Decimal(str(value)).quantize(CENT)


def vat_balance(grids: Mapping[str, object]) -> Decimal:
    """Section IV minus section V: positive goes to grid 71 (due to the State), negative to
    grid 72 (due by the State). Only one of the two is ever filled."""
    due = sum((grid_amount(grids, code) for code in DUE_GRIDS), Decimal("0.00"))
    deductible = sum((grid_amount(grids, code) for code in DEDUCTIBLE_GRIDS), Decimal("0.00"))
    return due - deductible


def add_months(day: date, months: int) -> date:
    """The same day `months` later; a month's last day stays the last day (28/02 -> 30/09)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    if day.day == calendar.monthrange(day.year, day.month)[1]:
        return date(year, month, last)
    return date(year, month, min(day.day, last))


def vat_deadline(*, year: int, period: int, monthly: bool) -> date:
    """Monthly returns by the 20th of the next month, quarterly ones by the 25th of the month
    after the quarter."""
    last_month = period if monthly else period * 3
    following = add_months(date(year, last_month, 1), 1)
    return following.replace(day=20 if monthly else 25)


def isoc_assessment_year(year_end: date) -> int:
    """A financial year closed from 31/12 of N-1 to 30/12 of N belongs to assessment year N."""
    if (year_end.month, year_end.day) == (12, 31):
        return year_end.year + 1
    return year_end.year


def financial_year_start(year_end: date) -> date:
    """The first day of a twelve-month financial year ending on `year_end`."""
    return date.fromordinal(add_months(year_end, -12).toordinal() + 1)


def isoc_deadline(year_end: date) -> date:
    """At least one month after the general meeting (six months after closing at the latest):
    seven months after closing, until the administration publishes its date."""
    return add_months(year_end, 7)


def ipp_deadline(income_year: int) -> date:
    """Returns filed by an accountant under mandate: mid-October of the assessment year
    (the date published each year differs by a day or two: override it by hand)."""
    return date(income_year + 1, 10, 15)


def bnb_deadline(year_end: date) -> date:
    """Annual accounts are filed within seven months of the closing date."""
    return add_months(year_end, 7)
