"""Login throttling, with django-axes: whose address a request comes from, how an attempt's
account is named, the page a locked-out login gets, and an administrator's unlock.

The rules themselves (how many wrong passwords, how long the wait) are the AXES_* settings;
axes counts the failures in its own tables, so every web process sees the same counts.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from courrier.firm.models import Collaborator


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def client_address(request: HttpRequest) -> str | None:
    """The browser's address: REMOTE_ADDR, unless that is a trusted reverse proxy
    (`TRUSTED_PROXIES`); then the right-most address of X-Forwarded-For that is not one of
    them (the left part of that header is written by the browser and proves nothing)."""
    remote = str(request.META.get("REMOTE_ADDR") or "").strip()
    trusted = set(getattr(settings, "TRUSTED_PROXIES", []))
    if remote not in trusted:
        return remote if _valid(remote) else None
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
    for address in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if address in trusted:
            continue
        return address if _valid(address) else remote
    return remote


def attempt_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The account a login attempt is for, as the login compares addresses (case and spaces
    ignored): "Anne@Fidu.be " and "anne@fidu.be" count as one account."""
    value = (credentials or {}).get("username")
    if value is None:
        value = request.POST.get("username")
    text = str(value or "").strip().lower()
    return text or None


class FirmLoginHandler(AxesDatabaseHandler):
    """django-axes' database handler with a limit of its own for an address.

    A firm's staff usually share one public address (the office's), so a limit per address as
    low as the one per account would let ten typing mistakes in a quarter of an hour, spread
    over the office, lock everyone out, the administrator who could unlock included. The
    address counts against `LOGIN_ADDRESS_FAILURE_LIMIT` (higher), the account against
    `AXES_FAILURE_LIMIT`; axes compares one number with its limit, so the address's count is
    given to it scaled: count × account limit ÷ address limit reaches the account limit
    exactly when the count reaches the address limit."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        counts = [
            int(attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0)
            for attempts in self.get_user_attempts(request, credentials)
        ]
        # One queryset per entry of AXES_LOCKOUT_PARAMETERS: ["username", "ip_address"].
        account, address = [*counts, 0, 0][:2]
        limit = int(settings.AXES_FAILURE_LIMIT)
        address_limit = max(limit, int(settings.LOGIN_ADDRESS_FAILURE_LIMIT))
        return max(account, address * limit // address_limit)


def cool_off_minutes(request: HttpRequest | None = None) -> int:
    cool_off = get_cool_off(request) or timedelta(0)
    return max(1, math.ceil(cool_off.total_seconds() / 60))


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The page of a refused login once the account or the address is locked: in the reader's
    language, saying for how long and whom to ask; 429 with Retry-After."""
    minutes = cool_off_minutes(request)
    response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


def locked_out_emails() -> set[str]:
    """The accounts whose logins are refused now (their failures reached the limit within the
    cool-off), by their lower-case address."""
    cool_off = get_cool_off() or timedelta(days=36500)
    rows = (
        AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - cool_off)
        .exclude(username__isnull=True)
        .values("username")
        .annotate(failures=Sum("failures_since_start"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
    )
    return {str(row["username"]) for row in rows}


def collaborator_unlock(*, collaborator: Collaborator) -> int:
    """Forget the failed logins of this collaborator's account (from every address): they may
    log in again at once. Returns how many records were removed."""
    return int(AxesProxyHandler.reset_attempts(username=collaborator.email.strip().lower()))
