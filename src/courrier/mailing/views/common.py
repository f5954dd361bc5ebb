"""What every mailing screen shares: the request's collaborator, a safe primary key or "next"
address from a query string, the client a screen is about."""

from __future__ import annotations

from typing import cast
from zoneinfo import ZoneInfo

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django_htmx.middleware import HtmxDetails

from courrier.clients.models import Client
from courrier.clients.selectors import SelectionFilters
from courrier.firm.models import Collaborator
from courrier.mailing.models import OutboundMessage
from courrier.params import id_from, request_next

Status = OutboundMessage.Status
SELECTION_PREFIX = SelectionFilters.PREFIX
BRUSSELS = ZoneInfo("Europe/Brussels")
BRUSSELS_NAME = "Europe/Brussels"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _user(request: HttpRequest) -> Collaborator:
    return cast(Collaborator, request.user)


def _int_param(value: str | None) -> int | None:
    """A primary key from a query string; anything else is None (a 404, never a 500)."""
    return id_from(value)


def _client_from(request: HttpRequest) -> Client:
    pk = _int_param(request.POST.get("client") or request.GET.get("client"))
    if pk is None:
        raise Http404(_("Aucun client n'est choisi."))
    return get_object_or_404(Client.objects.prefetch_related("emails"), pk=pk)


def _safe_next(request: HttpRequest, default: str) -> str:
    return request_next(request, fallback=default)
