"""Delivery-event webhooks: one address per sending profile, /courrier/webhooks/<token>/.

The token says which profile is reporting; each provider's module checks the request with that
profile's own secret (never a global setting) and reads it into `services.events.Event`s.
"""

from __future__ import annotations


class WebhookRejected(Exception):
    """The request is not a genuine report for this profile: answered with `status`, short text."""

    def __init__(self, status: int, reason: str, *, headers: dict[str, str] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}
