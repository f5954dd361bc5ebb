"""``{% load amounts %}``: ``{{ invoice.total_incl_vat|amount }}``, an amount in euros in the
firm's format (`courrier.amounts`): `1.234,56 €` by default, whatever the interface language."""

from __future__ import annotations

from typing import Any

from django import template

from courrier.amounts import format_amount_or_blank

register = template.Library()


@register.filter
def amount(value: Any) -> str:
    """The amount with its euro sign; "" for an empty value."""
    return format_amount_or_blank(value)
