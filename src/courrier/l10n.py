"""The languages of the mails and how values are written in each: dates, numbers,
countries, languages, VAT numbers.

Mails and invoice PDFs go out in French, Dutch, German or English (`MAIL_LANGUAGES`),
whatever the interface speaks; each formatter takes the recipient's language and falls back
to French for any other code. Amounts are the exception: the firm writes them one way in
every language (`courrier.amounts.format_amount`).

The words of mails, invoice PDFs and link pages are gettext strings (French msgids) marked
with one of `MAIL_CONTEXTS` (`pgettext("mail", "Madame, Monsieur")`) and rendered under the
recipient's language (`override`, `in_language`). German is a mail language, not an interface
language: its catalogue translates the entries of these contexts only, and no page of the
interface is ever shown in German (`settings.LANGUAGES` is fr/nl/en).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.numbers import format_decimal
from django.utils import translation

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

MAIL_LANGUAGES = ("fr", "nl", "de", "en")
DEFAULT_LANGUAGE = "fr"

# The gettext contexts of what a client reads: mails, the invoice PDF, the link pages, sizes
# (in mails as on pages). Every mail language translates every entry of these contexts.
MAIL_CONTEXTS = ("mail", "invoice pdf", "link page", "file size")


def mail_language(language: str | None) -> str:
    """The language itself if mails are written in it, else French."""
    return language if language in MAIL_LANGUAGES else DEFAULT_LANGUAGE


def override(language: str | None) -> translation.override:
    """Translate in the mail language (`with l10n.override(client.language): ...`)."""
    return translation.override(mail_language(language))


def in_language(text: StrOrPromise, language: str | None) -> str:
    """A lazy gettext string rendered in the mail language."""
    with override(language):
        return str(text)


def _locale(language: str) -> str:
    return f"{mail_language(language)}_BE"


def format_date(value: date, language: str) -> str:
    """31/12/2026 in French, Dutch and English; 31.12.2026 in German."""
    if mail_language(language) == "de":
        return f"{value.day:02d}.{value.month:02d}.{value.year}"
    return f"{value.day:02d}/{value.month:02d}/{value.year}"


def format_long_date(value: date, language: str) -> str:
    """The date in words: 31 décembre 2026, 31 december 2026, 31. Dezember 2026."""
    return str(babel_format_date(value, "long", locale=_locale(language)))


def format_number(value: Decimal | int, language: str, *, decimals: int | None = None) -> str:
    """A number in the Belgian locale of the language; `decimals` fixes the decimal places."""
    if decimals is None:
        return str(format_decimal(value, locale=_locale(language)))
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return str(
        format_decimal(value, format=pattern, locale=_locale(language), decimal_quantization=True)
    )


def country_name(code: str, language: str) -> str:
    """The country's name in the language (BE -> Belgique, België, Belgien, Belgium)."""
    if not code:
        return ""
    name = Locale.parse(_locale(language)).territories.get(code.upper())
    return str(name) if name else code


def language_name(code: str, language: str) -> str:
    """A language's name in the mail's language (nl in French -> néerlandais)."""
    if not code:
        return ""
    name = Locale.parse(mail_language(language)).languages.get(code)
    return str(name) if name else code


def format_vat_number(value: str) -> str:
    """Belgian VAT numbers are read as BE 0123.456.789; others as stored."""
    compact = value.replace(" ", "").replace(".", "").upper()
    if len(compact) == 12 and compact.startswith("BE") and compact[2:].isdigit():
        digits = compact[2:]
        return f"BE {digits[:4]}.{digits[4:7]}.{digits[7:]}"
    return value
