"""The formatters of the mail languages: dates and numbers as each language writes them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from courrier.l10n import format_date, format_number

NEW_YEARS_EVE = date(2026, 12, 31)
NNBSP = "\u202f"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "31/12/2026"), ("nl", "31/12/2026"), ("en", "31/12/2026"), ("de", "31.12.2026")],
)
def test_dates_follow_the_recipient_language(language: str, expected: str) -> None:
    assert format_date(NEW_YEARS_EVE, language) == expected


def test_single_digit_days_and_months_are_padded() -> None:
    assert format_date(date(2026, 3, 5), "fr") == "05/03/2026"
    assert format_date(date(2026, 3, 5), "de") == "05.03.2026"


def test_numbers_in_each_language() -> None:
    assert format_number(Decimal("1234.5"), "nl") == "1.234,5"
    assert format_number(Decimal("1234.5"), "fr") == f"1{NNBSP}234,5"
    assert format_number(Decimal("21"), "de", decimals=2) == "21,00"
    assert format_number(Decimal("1234.567"), "en", decimals=2) == "1.234,57"
    assert format_number(7, "fr", decimals=0) == "7"
