"""Numbers given to the `courrier` commands, checked by argparse as they are read: a value out
of range is refused with a sentence and the usage line, before the command does anything.

    parser.add_argument("--timeout", type=arguments.seconds, default=600.0)
"""

from __future__ import annotations

import math
from argparse import ArgumentTypeError

from django.utils.translation import gettext as _

# A day: no command of Courrier waits longer, and a larger figure is a typing mistake.
MAX_SECONDS = 86_400.0
# Rows, days, a count: larger than any real installation, small enough for the database.
MAX_COUNT = 1_000_000


def seconds(text: str) -> float:
    """A duration in seconds: a finite number above zero, a day at most ("nan", "inf" and
    "-5" are refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise ArgumentTypeError(
            _("« %(value)s » n'est pas une durée en secondes (plus de 0, %(max)d au plus).")
            % {"value": text, "max": int(MAX_SECONDS)}
        )
    return value


def count(text: str) -> int:
    """A whole number from 1 to MAX_COUNT (a limit, a number of days)."""
    stripped = text.strip()
    value = int(stripped) if stripped.isascii() and stripped.isdigit() else 0
    if not 0 < value <= MAX_COUNT:
        raise ArgumentTypeError(
            _("« %(value)s » n'est pas un nombre entier de 1 à %(max)d.")
            % {"value": text, "max": MAX_COUNT}
        )
    return value


def port(text: str) -> int:
    """A TCP port, 1 to 65535."""
    stripped = text.strip()
    value = int(stripped) if stripped.isascii() and stripped.isdigit() else 0
    if not 0 < value < 65536:
        raise ArgumentTypeError(_("« %s » n'est pas un numéro de port (1 à 65535).") % text)
    return value
