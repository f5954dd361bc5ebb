"""The id of each request: the one the reverse proxy sent in X-Request-ID when it is a plain
token, else a new one. It is sent back in X-Request-ID, put on every log line written while the
request runs (`RequestIdFilter`, in LOGGING) and shown on the 500 page (`courrier.errors`), so
that the reference a person quotes finds the traceback in the log.

Imported by the logging configuration, before the apps are ready: no models here.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# What a proxy's id may look like to be kept: letters, digits and - _ . : , 8 to 64 of them
# (a UUID, a hex string, nginx's $request_id). Anything else is replaced, never logged.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
_current: ContextVar[str] = ContextVar("courrier_request_id", default="-")


def request_id_of(request: HttpRequest) -> str:
    return str(getattr(request, "request_id", "") or _current.get())


def current_request_id() -> str:
    """The id of the request being served in this thread or task ("-" outside a request)."""
    return _current.get()


class RequestIdMiddleware:
    """Gives each request its id (see the module's docstring); first in MIDDLEWARE, so that the
    other middlewares' log lines carry it too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if _SANE_ID.fullmatch(incoming) else secrets.token_hex(8)
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record (the formatter writes it as [id])."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get()
        return True
