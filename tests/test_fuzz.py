"""Random input against every page: query strings of random text, huge numbers and Unicode on
each address, random values posted to the fields each page's form really has, as a collaborator
and as an administrator. No answer is a 500, and a refused request changes no stored row.

Bounded (`max_examples`) to run in about a minute; Hypothesis keeps what failed once in its
database and tries it first next time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.apps import apps
from django.test import Client as Browser
from django.urls import URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courrier.clients.models import Tag
from courrier.firm.models import Collaborator
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import Draft, message_compose
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.firm.factories import make_admin, make_collaborator

# Pages that reach outside (OAuth providers, an access point, a connection test), the demo's
# own pages, the webhook (tests/test_webhook_limit.py) and Django's admin are left out.
LEFT_OUT = re.compile(
    r"^(admin/|demo/|courrier/oauth/|courrier/webhooks/|courrier/ma-fiche/tester/"
    r"|courrier/societes/<int:pk>/peppol/tester/|deconnexion/)"
)
# Our own tables: a refused request must leave them as they were.
OUR_APPS = ("firm", "clients", "mailing", "billing", "taxes", "documents")
FIELD_NAME = re.compile(r"""\bname="([^"]{1,80})\"""")

HUGE = "99999999999999999999"
ODD = [
    "",
    "0",
    "-1",
    HUGE,
    str(2**63),
    "1e400",
    "nan",
    "²",
    "٣",
    "x",
    "/",
    "//evil.example/",
    "https://evil.example/",
    "2026-02-30",
    "9999-12-31",
    "<script>alert(1)</script>",
    "{NUMFACT}",
    "{INCONNU}",
    "a\r\nBcc: x@evil.example",
    "\x00",
    "é" * 3000,
]
# The kinds of values that broke pages before: an id too large, a Unicode digit, a word where
# a path or a number is expected, a NUL, a negative number, "nan".
SHARP = [HUGE, "²", "x", "\x00", "-1", "nan"]
values = st.one_of(
    st.sampled_from(ODD),
    st.sampled_from(ODD),
    st.text(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
PARAMS = [
    "next",
    "page",
    "client",
    "tag",
    "tags",
    "year",
    "period",
    "company",
    "collaborator",
    "selection",
    "sel-tags",
    "sel-responsible",
    "sel-billing_company",
    "sel-language",
    "q",
    "i",
    "context",
    "objects",
    "recipients",
    "status",
    "template",
    "phrase",
    "language",
    "scope",
    "invoices",
]


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def _path(route: str) -> str:
    path = re.sub(r"<slug:code>", "FIDU", route)
    path = re.sub(r"<slug:slug>", "tva", path)
    path = re.sub(r"<(int:)?[a-z_]+>", "1", path)
    return "/" + path


ROUTES = [route for route in _routes(get_resolver().url_patterns) if not LEFT_OUT.match(route)]
PATHS = sorted({_path(route) for route in ROUTES})


def _counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS and not model._meta.proxy
    }


@pytest.fixture
def office(db: None, settings: Any, tmp_path: Any) -> dict[str, Any]:
    """A small firm: a company with an invoice, a client, a sent mail, two people."""
    settings.MEDIA_ROOT = tmp_path
    admin = make_admin()
    anne = make_collaborator("anne.fuzz@fidu.be")
    for person in (admin, anne):
        SendingProfile.objects.create(
            collaborator=person,
            smtp_host="127.0.0.1",
            smtp_port=9,
            smtp_security=SendingProfile.Security.NONE,
            from_name=str(person),
            from_address=person.email,
        )
    company = make_billing_company()
    client = make_invoice_client()
    client.tags.add(Tag.objects.create(name="Horeca"))
    make_invoice(company, client, by=admin, issue_date=date(2026, 3, 14))
    message_compose(sender=anne, client=client, draft=Draft(subject="Bonjour", body="Texte"))
    assert OutboundMessage.objects.exists()
    return {"admin": admin, "anne": anne}


def _browser(user: Collaborator) -> Browser:
    browser = Browser(raise_request_exception=False)
    browser.force_login(user)
    return browser


def _refused_changes_nothing(response: Any, before: dict[str, int], where: str) -> None:
    assert response.status_code != 500, where
    if response.status_code >= 400:
        assert _counts() == before, where


# Every page is tried (parametrised), a few examples each: random paths would leave whole
# forms untried in a run of this size.
GET_EXAMPLES = settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
POST_EXAMPLES = settings(GET_EXAMPLES, max_examples=5)


@pytest.mark.parametrize("path", PATHS)
@GET_EXAMPLES
@given(
    query=st.lists(
        st.tuples(st.one_of(st.sampled_from(PARAMS), st.text(max_size=12)), values), max_size=12
    ),
    who=st.sampled_from(["admin", "anne"]),
)
def test_no_query_string_breaks_a_page(
    office: dict[str, Any], path: str, query: list[tuple[str, str]], who: str
) -> None:
    browser = _browser(office[who])
    before = _counts()
    response = browser.get(path, dict(query))
    _refused_changes_nothing(response, before, f"GET {path} {query!r}")


@pytest.mark.parametrize("path", PATHS)
@POST_EXAMPLES
@given(data=st.data(), who=st.sampled_from(["admin", "anne"]))
def test_no_posted_form_breaks_a_page_or_half_writes_a_row(
    office: dict[str, Any], path: str, data: st.DataObject, who: str
) -> None:
    browser = _browser(office[who])
    fields = _fields_of(browser, path, _names_for(office[who], browser))
    # Half the time every field of the page (and the usual parameters) gets the same sharp
    # value, so that one bad kind of value meets every field in a few examples; else some of
    # them get values of their own.
    every = [*fields, *PARAMS]
    if data.draw(st.booleans(), label="one value for all"):
        posted: dict[str, Any] = dict.fromkeys(every, data.draw(st.sampled_from(SHARP)))
    else:
        names = data.draw(st.lists(st.sampled_from(every), unique=True, max_size=len(every)))
        posted = {
            name: data.draw(st.one_of(values, st.lists(values, max_size=3)), label=name)
            for name in names
        }
    before = _counts()
    response = browser.post(path, posted, headers=data.draw(st.sampled_from([{}, HTMX])))
    _refused_changes_nothing(response, before, f"POST {path} {posted!r}")


HTMX = {"HX-Request": "true"}
_NAMES: dict[str, dict[str, list[str]]] = {}


def _names_for(user: Collaborator, browser: Browser) -> dict[str, list[str]]:
    """Read once per person and page (a page shows the same fields from one test to the next)."""
    return _NAMES.setdefault(user.email, {})


def _fields_of(browser: Browser, path: str, known: dict[str, list[str]]) -> list[str]:
    if path not in known:
        response = browser.get(path)
        html = (
            response.content.decode(errors="replace")
            if not response.streaming and response["Content-Type"].startswith("text/html")
            else ""
        )
        known[path] = sorted(set(FIELD_NAME.findall(html)) - {"csrfmiddlewaretoken"})
    return known[path]
