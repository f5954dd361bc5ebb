"""Delivery-event webhooks: one address per sending profile, /courrier/webhooks/<token>/.

The token says which profile is reporting; each provider's module checks the request with that
profile's own secret (never a global setting) and reads it into `Event`s, which
`services.events` records. Which module reads a profile's requests is said by its sending
method's declaration (`mailing.methods`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

    from courrier.mailing.models import SendingProfile


class WebhookRejected(Exception):
    """The request is not a genuine report for this profile: answered with `status`, short text."""

    def __init__(self, status: int, reason: str, *, headers: dict[str, str] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@dataclass(frozen=True)
class Event:
    """One provider report, already read and verified by its webhook."""

    kind: str  # a DeliveryStatus value
    at: datetime
    provider_event_id: str
    recipient: str = ""
    detail: str = ""
    # Our message's id when the provider sends our custom argument / metadata back...
    message_pk: int | None = None
    # ... else the provider's own ids for the message (any of them may match).
    provider_message_ids: tuple[str, ...] = ()


def event_id_from(*parts: object) -> str:
    """A stable id for a report the provider gives no id to (a replay gives the same one)."""
    return "sha256:" + hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


# Reads a verified request of the profile's provider into events, or raises WebhookRejected.
Reader = Callable[["HttpRequest", "SendingProfile"], list[Event]]
