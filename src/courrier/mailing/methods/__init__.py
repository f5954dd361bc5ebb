"""The sending methods, one module each, and the registry that the rest of Courrier reads.

A method's module declares it once (`base.SendingMethod`): its form sections and fields, what a
save needs, its readiness rule, its route sentence, its advice, its transport and its webhook.
The profile form, `services.profiles`, `advice.py` and the webhook endpoint ask `get(code)`
instead of testing the method themselves; a new method is one module here, one entry below, and
its value in `SendingProfile.Method` (with its migration when it needs new columns).
"""

from __future__ import annotations

from courrier.mailing.methods import (
    billit,
    brevo,
    gmail,
    mailgun,
    microsoft,
    postmark,
    recommand,
    sendgrid,
    ses,
    smtp,
)
from courrier.mailing.methods.base import FieldGroup, SendingMethod

# In the order the form offers them.
METHODS: dict[str, SendingMethod] = {
    method.code: method
    for method in (
        smtp.METHOD,
        gmail.METHOD,
        microsoft.METHOD,
        sendgrid.METHOD,
        brevo.METHOD,
        mailgun.METHOD,
        postmark.METHOD,
        ses.METHOD,
        billit.METHOD,
        recommand.METHOD,
    )
}


def get(code: str) -> SendingMethod | None:
    """The declaration of the method `code`, or None for a method this installation lacks."""
    return METHODS.get(code)


def declared(channel: str | None = None) -> list[SendingMethod]:
    """Every declared method (of `channel` only, "email" or "peppol", when given), in the order
    the forms offer them."""
    return [m for m in METHODS.values() if channel is None or m.channel == channel]


def field_groups() -> list[tuple[FieldGroup, list[str]]]:
    """The mail profile form's sections in page order (each method's own in the order of the
    methods, the `last` ones after), each with the codes of the methods that show it."""
    groups: dict[str, FieldGroup] = {}
    codes: dict[str, list[str]] = {}
    for method in declared("email"):
        for group in method.groups:
            groups.setdefault(group.key, group)
            codes.setdefault(group.key, []).append(method.code)
    ordered = sorted(groups.values(), key=lambda group: group.last)
    return [(group, codes[group.key]) for group in ordered]


__all__ = ["METHODS", "FieldGroup", "SendingMethod", "declared", "field_groups", "get"]
