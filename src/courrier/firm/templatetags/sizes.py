"""``{% load sizes %}``: ``{{ upload.size|file_size }}`` and ``{{ limit|size_limit }}``, the
sizes of `courrier.sizes` in the language of the page (Django's ``filesizeformat`` counts in
binary units, which the providers' limits are not)."""

from __future__ import annotations

from django import template

from courrier.sizes import file_size as _file_size

register = template.Library()


@register.filter
def file_size(value: int | str | None) -> str:
    """A file's or a mail's size, rounded up."""
    try:
        return _file_size(int(value or 0))
    except (TypeError, ValueError):
        return ""


@register.filter
def size_limit(value: int | str | None) -> str:
    """A limit, rounded down."""
    try:
        return _file_size(int(value or 0), limit=True)
    except (TypeError, ValueError):
        return ""
