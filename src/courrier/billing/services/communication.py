"""The Belgian structured communication ("communication structurée", OGM/VCS).

Twelve digits shown as ``+++ddd/dddd/ddddd+++``: a ten-digit base and two check digits, the
base modulo 97 (97 when the remainder is 0). Our base is made of the invoice's year (two
digits), its billing company (two digits) and its number (six digits), so that each issued
invoice of a company gets its own communication for a century and a million invoices a year.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_DIGITS = re.compile(r"\d+")


def check_digits(base: str) -> str:
    """The two check digits of a ten-digit base: base mod 97, 97 when that is 0."""
    if len(base) != 10 or not base.isdigit():
        raise ValueError(f"A structured communication base has 10 digits, not {base!r}.")
    remainder = int(base) % 97
    return f"{remainder or 97:02d}"


def communication_for(*, year: int, company_id: int, number: int) -> str:
    """The 12 digits of an issued invoice's structured communication."""
    if not 1 <= number <= 999_999:
        raise ValueError(f"Invoice number {number} does not fit a structured communication.")
    base = f"{year % 100:02d}{company_id % 100:02d}{number:06d}"
    return base + check_digits(base)


def format_communication(digits: str) -> str:
    """``+++123/4567/89002+++`` for the 12 digits; an empty string stays empty."""
    if not digits:
        return ""
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def parse_communication(value: str) -> str:
    """The 12 digits of a structured communication as people type it (with or without the
    +++, slashes, stars or spaces); raises ValidationError when it is not a valid one."""
    digits = "".join(_DIGITS.findall(value or ""))
    stripped = re.sub(r"[\s+*/]", "", value or "")
    if len(digits) != 12 or stripped != digits:
        raise ValidationError(
            _("Une communication structurée compte 12 chiffres : +++123/4567/89002+++."),
            code="communication_length",
        )
    if check_digits(digits[:10]) != digits[10:]:
        raise ValidationError(
            _("Les chiffres de contrôle de la communication structurée sont erronés."),
            code="communication_check",
        )
    return digits
