"""Tests that vary a few options of one mail keep them as keyword arguments; this groups them
as the compose services take them: what the sender wrote (a `Draft`) and the options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from courrier.mailing.services import Draft, compose_options

DRAFT = ("subject", "body", "language", "template", "uploads")
OPTIONS = ("cc", "bcc", "copy_to_sender", "read_receipt", "reply_to", "scheduled_at", "archive")


def grouped(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """`arguments` with subject, body... as `draft` and cc, bcc... as checked `options`."""
    rest = {name: value for name, value in arguments.items() if name not in DRAFT + OPTIONS}
    rest["draft"] = Draft(**{name: arguments[name] for name in DRAFT if name in arguments})
    options = {name: arguments[name] for name in OPTIONS if name in arguments}
    if options:
        rest["options"] = compose_options(**options)
    return rest
