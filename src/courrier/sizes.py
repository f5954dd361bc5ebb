"""Sizes of files and mails, written one way everywhere: the compose window, the pre-send
check, the limits, the archive and the mails themselves.

Decimal units, as the mail providers count their limits (Gmail's 25 MB is 25,000,000 bytes):
a 21.5 MiB file and a 22.6 MB limit are never shown side by side for the same thing. Written
in the reader's language: the interface's for a page, the mail's for a mail.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

from django.utils.translation import get_language, pgettext

from courrier.l10n import mail_language, override


def file_size(size: int, language: str | None = None, *, limit: bool = False) -> str:
    """ "1,5 Mo", "40 Ko", "512 o" in French; "1,5 MB" in Dutch and German; "1.5 MB" in English.

    `language` is the reader's (a mail's); None: the language of the page being made. Kilobytes
    are whole, megabytes have one decimal. A size is rounded up and a `limit` down, so that a
    file refused for its size never reads as equal to the limit it passes ("25,1 Mo" against
    "25 Mo")."""
    page = get_language() or "fr"
    code = mail_language((language or page)[:2].lower())
    size = max(int(size), 0)
    rounded = math.floor if limit else math.ceil
    # A page's sizes are in its own language already: no switch for each of a list's rows.
    with nullcontext() if code == page else override(code):
        if size < 1000:
            return pgettext("file size", "%(size)s o") % {"size": size}
        kilobytes = rounded(size / 1000)
        if kilobytes < 1000:
            return pgettext("file size", "%(size)s Ko") % {"size": kilobytes}
        tenths = rounded(size / 100_000)
        if tenths % 10:
            # Translators: megabytes with one decimal; the separator is the language's.
            return pgettext("file size", "%(whole)s,%(tenth)s Mo") % {
                "whole": tenths // 10,
                "tenth": tenths % 10,
            }
        return pgettext("file size", "%(size)s Mo") % {"size": tenths // 10}
