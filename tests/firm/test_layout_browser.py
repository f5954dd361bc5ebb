"""The layout as a colleague sees it on a common office screen (1280 px wide), in each
interface language: the top bar on one line, the compose page's date and time inputs alike,
search placeholders read in full. Measured in Debian's Chromium against a live server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client as Browser
from django.urls import reverse
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import Page, sync_playwright

from courrier.clients.models import Tag
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.models import SendingProfile
from tests.clients.factories import make_client
from tests.firm.factories import make_admin, make_company

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
LANGUAGES = ["fr", "nl", "en"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Chromium]:
    # Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are
    # plain synchronous code all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_as(live_server: Any, chromium: Chromium) -> Callable[..., Page]:
    """A page of a browser 1280 px wide, logged in as `user` (their interface language)."""

    def open_page(user: Collaborator, *, width: int = 1280) -> Page:
        django_client = Browser()
        django_client.force_login(user)
        session = django_client.cookies[settings.SESSION_COOKIE_NAME].value
        context = chromium.new_context(
            locale="fr-BE", base_url=live_server.url, viewport={"width": width, "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
        )
        return context.new_page()

    return open_page


def an_administrator(language: str) -> Collaborator:
    """The longest top bar: an administrator's (two more links), with a long firm name and a
    long personal name, and a sending profile (no banner)."""
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Dubois & Associés"})
    user = make_admin(
        f"admin-{language}@fidu.be",
        language=language,
        first_name="Marie-Christine",
        last_name="Vandenberghe",
    )
    SendingProfile.objects.create(
        collaborator=user, from_address=user.email, smtp_host="smtp.fidu.be"
    )
    return user


@pytest.mark.parametrize("width", [1280, 1366, 1400])
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_top_bar_stays_on_one_line(
    open_as: Callable[..., Page], language: str, width: int
) -> None:
    """On a 1280-1400 px screen the bar wrapped onto a second line (Dutch labels are the
    longest): every link, the firm's name and the logout button stay on one line, inside the
    window."""
    page = open_as(an_administrator(language), width=width)
    page.goto(reverse("clients:list"))
    box = page.locator("header.topbar").bounding_box()
    assert box is not None
    assert box["height"] <= 56, (language, width, box["height"])
    tops = page.eval_on_selector_all(
        "header.topbar .topbar-nav a",
        "links => links.map(link => Math.round(link.getBoundingClientRect().top))",
    )
    assert len(tops) == 10 and len(set(tops)) == 1, (language, width, tops)
    assert page.evaluate(
        "() => { const bar = document.querySelector('header.topbar');"
        " return bar.scrollWidth <= bar.clientWidth; }"
    ), (language, width)
    logout = page.locator("header.topbar form button[type=submit]").bounding_box()
    assert logout is not None and logout["x"] + logout["width"] <= width
    assert logout["y"] < box["y"] + box["height"]
    # The firm's name may be cut: it is whole in its tooltip.
    brand = page.locator("header.topbar .topbar-brand")
    assert brand.get_attribute("title") == "Fiduciaire Dubois & Associés"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compose_pages_time_input_is_as_wide_as_its_date_input(
    open_as: Callable[..., Page], language: str
) -> None:
    """ "Envoi programmé": the time input was narrower than the date input beside it."""
    user = an_administrator(language)
    record = make_client(emails=("info@peeters.be",))
    page = open_as(user)
    page.goto(f"{reverse('mailing:compose')}?client={record.pk}")
    date_input = page.locator("input[type=date][name$=scheduled_date]")
    time_input = page.locator("input[type=time][name$=scheduled_time]")
    date_input.scroll_into_view_if_needed()
    date_box, time_box = date_input.bounding_box(), time_input.bounding_box()
    assert date_box is not None and time_box is not None
    assert abs(date_box["width"] - time_box["width"]) <= 1, (date_box, time_box)
    assert abs(date_box["height"] - time_box["height"]) <= 1, (date_box, time_box)
    assert date_box["y"] == time_box["y"]  # side by side
    styles = [
        time_input.evaluate(f"input => getComputedStyle(input).{name}")
        for name in ("borderTopColor", "borderRadius", "paddingLeft", "fontSize")
    ]
    assert styles == [
        date_input.evaluate(f"input => getComputedStyle(input).{name}")
        for name in ("borderTopColor", "borderRadius", "paddingLeft", "fontSize")
    ]


# The width the placeholder needs against the room inside its input, in the input's own font.
PLACEHOLDER_FITS = """input => {
  const style = getComputedStyle(input);
  const context = document.createElement("canvas").getContext("2d");
  context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {
    placeholder: input.placeholder,
    needed: Math.ceil(context.measureText(input.placeholder).width),
    room: Math.floor(room),
    scrollWidth: input.scrollWidth,
    clientWidth: input.clientWidth,
  };
}"""


@pytest.mark.parametrize("language", LANGUAGES)
def test_search_placeholders_are_read_in_full(open_as: Callable[..., Page], language: str) -> None:
    """The search boxes' hints ("Nom, numéro ou adresse e-mail", "Client, numéro ou
    référence"...) were cut at the edge of their input."""
    user = an_administrator(language)
    Tag.objects.create(name="Horeca")  # the client list then shows its tag filter too
    make_client(emails=("info@peeters.be",))
    make_company("FIDU")
    page = open_as(user)
    for url in (
        reverse("clients:list"),
        reverse("billing:invoices", args=["FIDU"]),
        reverse("billing:email_register", args=["FIDU"]),
        reverse("billing:paper_register", args=["FIDU"]),
        reverse("taxes:list", args=["tva"]),
    ):
        page.goto(url)
        for search in page.locator("input[type=search][placeholder]").all():
            measured = search.evaluate(PLACEHOLDER_FITS)
            assert measured["needed"] <= measured["room"], (language, url, measured)
            assert measured["scrollWidth"] <= measured["clientWidth"], (language, url, measured)
