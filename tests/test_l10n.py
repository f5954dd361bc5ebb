"""The formatters of the mail languages: dates and numbers as each language writes them; the
words of mails kept as gettext strings."""

from __future__ import annotations

import ast
from datetime import date
from decimal import Decimal
from pathlib import Path

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


SOURCE = Path(__file__).resolve().parent.parent / "src" / "courrier"
# Texts of the demo firm (seeded templates in four languages) and migrations' frozen copies
# are data, not words the code writes; payment_terms reads a template's text in any
# language (patterns, not words).
NOT_WORDS = ("demo", "migrations", "billing/services/payment_terms.py")


def _language_keyed_dicts(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
            if {"nl", "de"} <= keys:
                lines.append(node.lineno)
    return lines


def test_no_module_keeps_mail_words_in_a_dictionary_of_languages() -> None:
    """Words of mails and PDFs are gettext strings (makemessages sees them, the German
    catalogue holds them), not a dict keyed by "fr", "nl", "de", "en"."""
    found = {
        str(path.relative_to(SOURCE)): lines
        for path in SOURCE.rglob("*.py")
        if not any(part in str(path.relative_to(SOURCE)) for part in NOT_WORDS)
        and (lines := _language_keyed_dicts(path))
    }
    assert found == {}
