"""The base layout's behaviour in a real browser: what a partial page update does when the
session has ended or the server answers an error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test import Client as Browser
from playwright.sync_api import BrowserContext, expect, sync_playwright

from courrier.clients.models import Client as ClientRecord
from courrier.firm.permissions import billing_grant
from tests.clients.factories import make_client
from tests.firm.factories import make_collaborator

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

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]


@pytest.fixture
def context(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[BrowserContext]:
    """A French browser logged in as a collaborator of the firm, with the role Facturation."""
    # Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are
    # plain synchronous code all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    django_client = Browser()
    collaborator = make_collaborator()
    billing_grant(collaborator)
    django_client.force_login(collaborator)
    session = django_client.cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            context = browser.new_context(locale="fr-BE", base_url=live_server.url)
            context.set_default_timeout(TIMEOUT_MS)
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
            )
            yield context
        finally:
            browser.close()


def test_an_ended_session_opens_the_login_page_instead_of_pasting_it(
    context: BrowserContext,
) -> None:
    record = make_client("C0042", emails=("info@peeters.be",))
    page = context.new_page()
    file_url = f"/clients/{record.pk}/"
    page.goto(file_url)
    expect(page.get_by_role("tab", name="Mails")).to_be_visible()

    # The session ends (expired, or logged out in another tab); the CSRF cookie stays.
    context.clear_cookies(name=settings.SESSION_COOKIE_NAME)
    page.get_by_role("tab", name="Mails").click()

    page.wait_for_url(f"**/connexion/?next={quote(file_url, safe='')}")
    expect(page.locator("form input[name=password]")).to_have_count(1)
    expect(page.get_by_role("tab")).to_have_count(0)


def test_an_error_answer_to_a_partial_update_is_said_on_the_page(
    context: BrowserContext,
) -> None:
    record = make_client("C0042", emails=("info@peeters.be",))
    page = context.new_page()
    page.goto(f"/clients/{record.pk}/")
    expect(page.get_by_role("tab", name="Mails")).to_be_visible()

    ClientRecord.objects.filter(pk=record.pk).delete()  # by a colleague, meanwhile
    page.get_by_role("tab", name="Mails").click()

    alert = page.locator(".flash-error")
    expect(alert).to_have_text("Cet élément n'existe plus : rechargez la page.")
    # The page is left as it was: the file's tabs are still there.
    expect(page.get_by_role("tab", name="Fiche")).to_have_attribute("aria-selected", "true")
