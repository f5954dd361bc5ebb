"""Refused basic-auth credentials on the webhooks, counted per address in Django's cache.

After WEBHOOK_AUTH_FAILURE_LIMIT refusals from one address within WEBHOOK_AUTH_WINDOW_SECONDS
(counted from the first), that address gets 429 with Retry-After until the window ends, the
right credentials included; then it starts afresh. A provider that sends the right
credentials is never counted. The count lives in the default cache: with a cache per process,
each web process counts on its own.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from courrier.firm.lockout import client_address
from courrier.mailing.webhooks import WebhookRejected


def _key(request: HttpRequest) -> str:
    address = client_address(request) or "unknown"
    return "webhook-auth:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def webhook_auth_guard(request: HttpRequest) -> None:
    """Raise WebhookRejected(429) while this address has used up its refusals."""
    entry = cache.get(_key(request))
    if not entry:
        return
    failures, started = entry
    remaining = started + settings.WEBHOOK_AUTH_WINDOW_SECONDS - time.time()
    if failures >= settings.WEBHOOK_AUTH_FAILURE_LIMIT and remaining > 0:
        raise WebhookRejected(
            429,
            "Too many refused credentials from this address.",
            headers={"Retry-After": str(max(1, math.ceil(remaining)))},
        )


def webhook_auth_failed(request: HttpRequest) -> None:
    """Count one refusal of this address's credentials."""
    key = _key(request)
    now = time.time()
    window = settings.WEBHOOK_AUTH_WINDOW_SECONDS
    entry = cache.get(key)
    if entry and entry[1] + window > now:
        failures, started = entry[0] + 1, entry[1]
    else:
        failures, started = 1, now
    cache.set(key, (failures, started), timeout=max(1, math.ceil(started + window - now)))
