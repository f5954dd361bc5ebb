"""The Belgian structured communication: check digits, shape, validation."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from courrier.billing.services.communication import (
    check_digits,
    communication_for,
    format_communication,
    parse_communication,
)


@pytest.mark.parametrize(
    ("base", "check"),
    [
        ("0000000001", "01"),
        ("1234567890", f"{1234567890 % 97:02d}"),
        ("0900000000", f"{900000000 % 97:02d}"),
        # Remainder 0: the check digits are 97, never 00.
        ("0000000097", "97"),
        ("0000009700", "97"),
        (f"{97 * 12345678:010d}", "97"),
        ("0000000000", "97"),
    ],
)
def test_check_digits_are_the_base_modulo_97_and_97_for_zero(base: str, check: str) -> None:
    assert check_digits(base) == check


def test_a_known_communication() -> None:
    # 123/4567/890 mod 97 = 2: the usual example of Belgian banks.
    assert check_digits("1234567890") == "02"
    assert format_communication("123456789002") == "+++123/4567/89002+++"
    assert parse_communication("+++123/4567/89002+++") == "123456789002"
    assert parse_communication("***123/4567/89002***") == "123456789002"
    assert parse_communication(" 123 4567 89002 ") == "123456789002"


def test_an_invoice_communication_is_year_company_number_and_check() -> None:
    digits = communication_for(year=2026, company_id=3, number=42)
    assert digits[:10] == "2603000042"
    assert digits[10:] == f"{2603000042 % 97:02d}"
    assert parse_communication(format_communication(digits)) == digits
    # Different companies, years and numbers never share one.
    seen = {
        communication_for(year=year, company_id=company, number=number)
        for year in (2025, 2026)
        for company in (1, 2)
        for number in (1, 2, 999_999)
    }
    assert len(seen) == 12


def test_an_invoice_whose_base_is_a_multiple_of_97_gets_97() -> None:
    # 2601000000 + n ≡ 0 (mod 97) for some n < 97.
    number = next(n for n in range(1, 98) if (2601000000 + n) % 97 == 0)
    assert communication_for(year=2026, company_id=1, number=number).endswith("97")


@pytest.mark.parametrize(
    "value",
    [
        "+++123/4567/89003+++",
        "123/4567/8900",
        "12345678900212",
        "abc/defg/hijkl",
        "",
        "1234x567890002",
    ],
)
def test_wrong_communications_are_refused_with_a_reason(value: str) -> None:
    with pytest.raises(ValidationError) as error:
        parse_communication(value)
    assert "communication structurée" in " ".join(error.value.messages)


def test_empty_stays_empty() -> None:
    assert format_communication("") == ""


def test_a_base_must_have_ten_digits() -> None:
    with pytest.raises(ValueError):
        check_digits("123")
    with pytest.raises(ValueError):
        communication_for(year=2026, company_id=1, number=1_000_000)
