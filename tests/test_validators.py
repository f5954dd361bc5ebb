"""Belgian identifiers and header text: what a person types, and what they are told."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from courrier.validators import (
    normalise_enterprise_number,
    normalise_iban,
    normalise_vat_number,
    validate_header_text,
)


@pytest.mark.parametrize(
    "typed", ["0403.170.701", "0403170701", "BE 0403.170.701", " be0403170701 "]
)
def test_enterprise_number_is_normalised(typed: str) -> None:
    assert normalise_enterprise_number(typed) == "0403.170.701"


def test_enterprise_number_with_a_wrong_check_digit_is_refused_in_french() -> None:
    with translation.override("fr"), pytest.raises(ValidationError) as info:
        normalise_enterprise_number("0403.170.702")
    assert "n'est pas un numéro d'entreprise belge valide" in info.value.messages[0]
    assert "0403.170.702" in info.value.messages[0]


def test_vat_number_gets_its_country_prefix() -> None:
    assert normalise_vat_number("0403.170.701") == "BE0403170701"
    assert normalise_vat_number("nl 0044.95.445 b01") == "NL004495445B01"


def test_vat_number_refused() -> None:
    with pytest.raises(ValidationError):
        normalise_vat_number("BE0403170702")


def test_iban_is_formatted_and_checked() -> None:
    assert normalise_iban("be71 0961 2345 6769") == "BE71 0961 2345 6769"
    with pytest.raises(ValidationError):
        normalise_iban("BE71096123456768")


@pytest.mark.parametrize("value", ["Bonjour\r\nBcc: x@example.com", "a\nb", "a\rb", "nul\x00"])
def test_header_text_refuses_line_breaks_and_controls(value: str) -> None:
    with pytest.raises(ValidationError):
        validate_header_text(value)


def test_header_text_accepts_accents_and_tabs() -> None:
    validate_header_text("Facture n° 2026/001 — Société Générale\tà payer")
