"""The Belgian rules: VAT grids and their balance (71/72), deadlines, assessment years."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from courrier.taxes import rules


def test_grids_are_normalised_sorted_and_zeros_dropped() -> None:
    grids = rules.grids_validate({"59": "310", "54": "1 234,5", "03": 5877.14, "01": "0"})
    assert grids == {"03": "5877.14", "54": "1234.50", "59": "310.00"}


@pytest.mark.parametrize(
    ("grids", "message"),
    [
        ({"54": "-1"}, "ne peut pas être négatif"),
        ({"54": "12.345"}, "deux décimales au plus"),
        ({"54": "douze"}, "n'est pas un montant"),
        ({"54": "NaN"}, "n'est pas un montant"),
        ({"99": "10"}, "« 99 » n'existe pas"),
        ({"71": "10"}, "ne se saisissent pas"),
        ({"72": "10"}, "ne se saisissent pas"),
    ],
)
def test_wrong_grids_are_refused_with_a_sentence(grids: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        rules.grids_validate(grids)
    assert any(message in text for text in caught.value.messages)


def test_every_wrong_grid_is_listed() -> None:
    with pytest.raises(ValidationError) as caught:
        rules.grids_validate({"54": "-1", "98": "1", "59": "x"})
    assert len(caught.value.messages) == 3


def test_balance_goes_to_71_or_72_never_both() -> None:
    due = {"54": "1000.00", "55": "200.00", "56": "10.00", "57": "5.00", "61": "1", "63": "4"}
    assert rules.vat_balance(due) == Decimal("1220.00")
    assert rules.vat_balance({**due, "59": "1000", "62": "20", "64": "0.01"}) == Decimal("199.99")
    assert rules.vat_balance({"54": "100", "59": "350.50"}) == Decimal("-250.50")
    # Operation grids and the December advance don't enter the balance.
    assert rules.vat_balance({"03": "5000", "81": "900", "91": "400"}) == Decimal("0")


@pytest.mark.parametrize(
    ("year", "period", "monthly", "expected"),
    [
        (2026, 3, True, date(2026, 4, 20)),
        (2026, 12, True, date(2027, 1, 20)),
        (2026, 1, False, date(2026, 4, 25)),
        (2026, 3, False, date(2026, 10, 25)),
        (2026, 4, False, date(2027, 1, 25)),
    ],
)
def test_vat_deadlines(year: int, period: int, monthly: bool, expected: date) -> None:
    assert rules.vat_deadline(year=year, period=period, monthly=monthly) == expected


def test_assessment_years_and_other_deadlines() -> None:
    assert rules.isoc_assessment_year(date(2025, 12, 31)) == 2026
    assert rules.isoc_assessment_year(date(2026, 6, 30)) == 2026
    assert rules.isoc_assessment_year(date(2026, 12, 30)) == 2026
    assert rules.financial_year_start(date(2026, 6, 30)) == date(2025, 7, 1)
    assert rules.financial_year_start(date(2025, 12, 31)) == date(2025, 1, 1)
    assert rules.bnb_deadline(date(2025, 12, 31)) == date(2026, 7, 31)
    assert rules.bnb_deadline(date(2025, 6, 30)) == date(2026, 1, 31)
    assert rules.bnb_deadline(date(2025, 3, 15)) == date(2025, 10, 15)
    assert rules.isoc_deadline(date(2025, 12, 31)) == date(2026, 7, 31)
    assert rules.ipp_deadline(2025) == date(2026, 10, 15)
    assert rules.add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
