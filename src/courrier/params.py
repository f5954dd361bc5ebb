"""What a request carries that nobody checked yet: a "next" address to go back to, a row's id,
a body larger than the installation reads (`body_within_limit`, for endpoints anyone can post to).

Both come from a query string or a form a user (or anyone) can write by hand. A "next" that is
not a path of this site is replaced by the page's own default; an id that is not a plain
positive number a database column can hold is no id at all. Neither ever raises: a page that
reads them answers with its default or a 404, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.http import url_has_allowed_host_and_scheme

logger = logging.getLogger("courrier")

# The largest value of a BigAutoField (and of PostgreSQL's bigint); SQLite's INTEGER too.
MAX_ID = 2**63 - 1


def next_url(request: HttpRequest, candidate: str | None, *, fallback: str) -> str:
    """`candidate` when it is a path on this site ("/clients/?page=2"), else `fallback`.

    A full address, even of this host, is refused as well as a bare word: `redirect("x")` would
    look "x" up as a view's name and fail, and a path is all a page of Courrier ever sends."""
    target = (candidate or "").strip()
    if (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and len(target) <= 2000
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return target
    return fallback


def request_next(request: HttpRequest, *, fallback: str) -> str:
    """The request's own "next" (posted or in the query string), checked by `next_url`."""
    return next_url(request, request.POST.get("next") or request.GET.get("next"), fallback=fallback)


def number_from(value: object, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """A whole number from text, between `low` and `high`: ASCII digits only ("²" and "٣" pass
    `str.isdigit()` but not `int()`); anything else is None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if low <= value <= high else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if low <= number <= high else None


def id_from(value: object) -> int | None:
    """A row's id from text: 1 to MAX_ID; anything else is None."""
    return number_from(value, low=1)


class IdsChoiceField(forms.ModelMultipleChoiceField):
    """Rows ticked in a list of checkboxes, by id. An id no column can hold is refused as any
    unknown choice is ("99999999999999999999" would otherwise overflow in the database's
    `IN (...)` and fail the page)."""

    def _check_values(self, value: Iterable[Any]) -> Any:
        for raw in value:
            if id_from(raw) is None:
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": str(raw)[:40]},
                )
        return super()._check_values(value)  # type: ignore[misc]


def body_within_limit(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a view that reads its raw body (a provider's webhook): a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE gets a 413 and a one-line warning, not a traceback that anyone
    on the Internet could fill the log with. The body read here is the one the view reads."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            request.body  # noqa: B018 (read and kept by the request)
        except RequestDataTooBig:
            logger.warning(
                "%s %s refused: a body of %s bytes is over the limit of %s",
                request.method,
                request.path.rsplit("/", 2)[0] + "/…",
                request.META.get("CONTENT_LENGTH", "?"),
                settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            )
            response = HttpResponse(
                "Request body too large.", status=413, content_type="text/plain; charset=utf-8"
            )
            # Said above, without the address's token: django.request need not say it again.
            response._has_been_logged = True  # type: ignore[attr-defined]
            return response
        return view(request, *args, **kwargs)

    return wrapped
