"""Amounts in euros, written one way everywhere: mails in French, Dutch, German or English,
the invoice PDF, the lists of every interface language.

A Belgian firm writes `1.234,56 €` whatever the language of the page or of the mail (and
`-1.234,56 €` for a credit); the firm may choose another way in its settings
(`Firm.amount_format`): `1 234,56 €` or `€ 1.234,56`. The spaces are non-breaking, so that
an amount never splits over two lines.

The firm's choice is read once per request and once per background task, not once per
amount: `current_amount_format()` keeps it in a context variable that `forget_amount_format()`
clears when a request or a task starts and when the firm's settings are saved (connected in
`courrier.firm.apps`).
"""

from __future__ import annotations

from contextvars import ContextVar
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

NBSP = "\u00a0"
CENT = Decimal("0.01")


class AmountFormat(models.TextChoices):
    """How the firm writes an amount; the label shows it."""

    BELGIAN = "be", _("1.234,56 € (point entre les milliers, virgule décimale)")
    SPACED = "space", _("1 234,56 € (espace entre les milliers, virgule décimale)")
    EURO_FIRST = "euro_first", _("€ 1.234,56 (symbole de l'euro devant le montant)")


DEFAULT_AMOUNT_FORMAT = AmountFormat.BELGIAN.value

_SEPARATORS = {
    # amount format: (thousands separator, decimal separator, euro sign first)
    AmountFormat.BELGIAN.value: (".", ",", False),
    AmountFormat.SPACED.value: (NBSP, ",", False),
    AmountFormat.EURO_FIRST.value: (".", ",", True),
}

_current: ContextVar[str | None] = ContextVar("courrier_amount_format", default=None)


def current_amount_format() -> str:
    """The firm's amount format, read from the database at most once per request or task."""
    chosen = _current.get()
    if chosen is None:
        # Imported here: the firm's model takes its choices from this module.
        from courrier.firm.models import Firm

        chosen = (
            Firm.objects.filter(pk=1).values_list("amount_format", flat=True).first()
            or DEFAULT_AMOUNT_FORMAT
        )
        _current.set(chosen)
    return chosen


def forget_amount_format(**_signal: Any) -> None:
    """Read the firm's choice again next time (a request or a task starts, the firm is saved)."""
    _current.set(None)


def _decimal(value: Decimal | int | float | str) -> Decimal:
    if isinstance(value, float):
        value = str(value)
    return Decimal(value)


@lru_cache(maxsize=8192)
def _format(value: Decimal, amount_format: str) -> str:
    thousands, decimal_mark, euro_first = _SEPARATORS.get(
        amount_format, _SEPARATORS[DEFAULT_AMOUNT_FORMAT]
    )
    rounded = value.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""  # never "-0,00 €"
    # Python writes 1,234.56; swap in the firm's separators.
    digits = f"{abs(rounded):,.2f}".translate({ord(","): thousands, ord("."): decimal_mark})
    number = f"{sign}{digits}"
    return f"€{NBSP}{number}" if euro_first else f"{number}{NBSP}€"


def format_amount(value: Decimal | int | float | str, amount_format: str | None = None) -> str:
    """An amount in euros, with two decimals and the euro sign: `1.234,56 €` and `-1.234,56 €`
    in the Belgian format; `amount_format` None: the firm's (see `current_amount_format`).

    Kept for the next time: an invoice prints a dozen amounts and a batch the same ones again
    and again. Equal values (1.5 and 1.50) print alike, so sharing their entry is right."""
    return _format(_decimal(value), amount_format or current_amount_format())


def _example(value: str, suffix: str) -> str:
    return format_amount(Decimal(value)) + suffix


_lazy_example = lazy(_example, str)


def amount_example(value: str, suffix: str = "") -> StrOrPromise:
    """An amount written when it is shown, in the firm's format of that moment: the examples of
    the merge-field catalogue, made once at import, follow the firm's choice."""
    return _lazy_example(value, suffix)


def format_amount_or_blank(value: Any, amount_format: str | None = None) -> str:
    """`format_amount` for values that may be empty or not a number (templates): "" then."""
    if value is None or value == "":
        return ""
    try:
        return format_amount(value, amount_format)
    except (InvalidOperation, TypeError, ValueError):
        return ""
