"""Tax periods spelled out in the four mail languages: "3e trimestre 2026", "maart 2026"."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from babel.dates import format_date as babel_format_date
from django.utils.translation import pgettext_lazy

from courrier.l10n import in_language, mail_language

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


# The quarters as each mail language writes them, ordinal included (1er, 1ste, 1., 1st).
_QUARTERS: dict[int, StrOrPromise] = {
    1: pgettext_lazy("mail", "1er trimestre %(year)s"),
    2: pgettext_lazy("mail", "2e trimestre %(year)s"),
    3: pgettext_lazy("mail", "3e trimestre %(year)s"),
    4: pgettext_lazy("mail", "4e trimestre %(year)s"),
}


def _quarter(number: int, year: int, language: str) -> str:
    if number not in _QUARTERS:
        return f"{number}/{year}"  # a row not validated yet: no language has a word for it
    return in_language(_QUARTERS[number], language) % {"year": year}


def format_period(*, year: int, period: int, monthly: bool, language: str) -> str:
    """A month ("mars 2026", "maart 2026") or a quarter ("3e trimestre 2026", "3de kwartaal
    2026", "3. Quartal 2026", "3rd quarter 2026") in the language."""
    if monthly:
        return str(
            babel_format_date(
                date(year, period, 1), "LLLL y", locale=f"{mail_language(language)}_BE"
            )
        )
    return _quarter(period, year, language)
