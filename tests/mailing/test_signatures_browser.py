"""An English-speaking collaborator types a German signature in Ma fiche, in a real browser,
then writes to a German client: the preview names the signature that goes, and the mail that
reaches the SMTP server ends with it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client as Browser
from playwright.sync_api import BrowserContext, expect, sync_playwright

from courrier.firm.models import Collaborator
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import messages_deliver
from tests.clients.factories import make_client
from tests.e2e.editor import type_body
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator
from tests.firm.test_browser import CHROMIUM, CHROMIUM_FLAGS, TIMEOUT_MS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]


@pytest.fixture
def emma(smtp_server: FakeSMTPServer) -> Collaborator:
    emma = make_collaborator(
        "emma@fidu.be",
        first_name="Emma",
        last_name="Collins",
        language="en",
        signature_en="Emma Collins\nTax adviser",
    )
    SendingProfile.objects.create(
        collaborator=emma,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=smtp_server.security,
        from_name="Emma Collins",
        from_address="emma@fidu.be",
    )
    return emma


@pytest.fixture
def context(
    live_server: Any, monkeypatch: pytest.MonkeyPatch, emma: Collaborator
) -> Iterator[BrowserContext]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    django_client = Browser()
    django_client.force_login(emma)
    session = django_client.cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            context = browser.new_context(locale="en-GB", base_url=live_server.url)
            context.set_default_timeout(TIMEOUT_MS)
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
            )
            yield context
        finally:
            browser.close()


def test_a_german_signature_typed_in_ma_fiche_signs_the_mail_to_a_german_client(
    context: BrowserContext, emma: Collaborator, smtp_server: FakeSMTPServer
) -> None:
    kessler = make_client("C0026", language="de", emails=("info@kessler.example",))
    page = context.new_page()

    page.goto("/courrier/ma-fiche/")
    section = page.locator("#signatures")
    expect(section.get_by_role("heading")).to_have_text("E-mail signature")
    expect(section).to_contain_text("If there is none, it goes without a signature")
    section.get_by_label("Signature in German").fill("Emma Collins\nSteuerberaterin")
    page.get_by_role("button", name="Save the contact details").click()
    expect(page.get_by_label("Signature in German")).to_have_value("Emma Collins\nSteuerberaterin")

    page.goto(f"/courrier/ecrire/?client={kessler.pk}")
    page.fill("[name=subject]", "Ihre Unterlagen")
    type_body(page, "Guten Tag,\n\nanbei Ihre Unterlagen.")
    page.click("button[name=preview]")
    expect(page.locator("[data-preview-signature]")).to_have_text("Emma Collins, German version")
    expect(page.locator(".preview-text")).to_contain_text("-- \nEmma Collins\nSteuerberaterin")
    page.click("button[name=send]")
    page.wait_for_url(f"**/clients/{kessler.pk}/**")

    [message] = OutboundMessage.objects.filter(client=kessler)
    messages_deliver(profile_id=message.profile_id)
    text = smtp_server.wait_for(1)[0].part("text/plain").replace("\r\n", "\n")
    assert text.endswith("anbei Ihre Unterlagen.\n\n-- \nEmma Collins\nSteuerberaterin\n")
    assert "Tax adviser" not in text
