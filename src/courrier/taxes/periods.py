"""Tax periods spelled out in the four mail languages: "3e trimestre 2026", "maart 2026"."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date as babel_format_date

from courrier.l10n import mail_language


def _quarter(number: int, year: int, language: str) -> str:
    language = mail_language(language)
    if language == "fr":
        return f"{number}{'er' if number == 1 else 'e'} trimestre {year}"
    if language == "nl":
        return f"{number}{'ste' if number in (1, 8) else 'de'} kwartaal {year}"
    if language == "de":
        return f"{number}. Quartal {year}"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number, "th")
    return f"{number}{suffix} quarter {year}"


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
