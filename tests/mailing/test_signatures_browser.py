"""Signatures typed in Ma fiche, in a real browser, in the rich-text editor, then a mail: what
reaches the SMTP server ends with them.

An English-speaking collaborator types a German signature and writes to a German client: the
preview names the signature that goes. A French collaborator writes hers with her name in bold
and a link to the firm's site: the client's mail program gets the bold and the link in the HTML
part, and readable text (no tag, the link's address in brackets) in the text part."""

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
    editor = section.get_by_role("textbox", name="Signature in German")
    editor.click()
    page.keyboard.type("Emma Collins")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("Steuerberaterin")
    page.get_by_role("button", name="Save the contact details").click()
    expect(section.get_by_role("textbox", name="Signature in German")).to_have_text(
        "Emma CollinsSteuerberaterin"
    )

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


@pytest.fixture
def anne(smtp_server: FakeSMTPServer) -> Collaborator:
    anne = make_collaborator("anne@fidu.be", first_name="Anne", last_name="Martin", language="fr")
    SendingProfile.objects.create(
        collaborator=anne,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=smtp_server.security,
        from_name="Anne Martin",
        from_address="anne@fidu.be",
    )
    return anne


def test_a_signature_with_bold_and_a_link_typed_in_the_editor_reaches_the_client_formatted(
    live_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    anne: Collaborator,
    smtp_server: FakeSMTPServer,
) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    dupont = make_client("C0031", language="fr", emails=("compta@dupont.example",))
    django_client = Browser()
    django_client.force_login(anne)
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
            page = context.new_page()
            page.goto("/courrier/ma-fiche/")
            section = page.locator("#signatures")
            # The signature's field is the editor, with its toolbar, in the page's language.
            editor = section.get_by_role("textbox", name="Signature en français")
            expect(editor).to_be_visible()
            expect(page.locator("textarea[name=me-signature_fr]")).to_be_hidden()
            field = section.locator(".prose-editor").first
            expect(field.get_by_role("button", name="Gras (Ctrl+B)")).to_be_visible()
            editor.click()
            page.keyboard.press("Control+B")
            page.keyboard.type("Anne Martin")
            page.keyboard.press("Control+B")
            page.keyboard.press("Shift+Enter")
            page.keyboard.type("Expert-comptable, Fiduciaire Martin & Associés")
            page.keyboard.press("Enter")
            page.keyboard.type("Notre site")
            for _ in range(len("Notre site")):
                page.keyboard.press("Shift+ArrowLeft")
            page.keyboard.press("Control+K")
            dialog = page.locator("dialog.prose-editor-dialog")
            expect(dialog).to_be_visible()
            dialog.locator("input").first.fill("https://www.fidu-martin.example/")
            dialog.get_by_role("button", name="Valider").click()
            expect(dialog).to_be_hidden()
            page.get_by_role("button", name="Enregistrer les coordonnées").click()
            expect(
                page.locator("#signatures").get_by_role("textbox", name="Signature en français")
            ).to_contain_text("Expert-comptable")

            page.goto(f"/courrier/ecrire/?client={dupont.pk}")
            page.fill("[name=subject]", "Vos documents")
            type_body(page, "Bonjour,\n\nVoici vos documents.\n\nBien à vous,")
            page.click("button[name=send]")
            page.wait_for_url(f"**/clients/{dupont.pk}/**")
        finally:
            browser.close()

    [message] = OutboundMessage.objects.filter(client=dupont)
    messages_deliver(profile_id=message.profile_id)
    [received] = smtp_server.wait_for(1)
    eml = received.message
    html_part = eml.get_body(preferencelist=("html",))
    text_part = eml.get_body(preferencelist=("plain",))
    assert html_part is not None and text_part is not None
    html = html_part.get_content()
    text = text_part.get_content().replace("\r\n", "\n")

    signature_html = html.split('<div class="signature"', 1)[1]
    assert "<strong>Anne Martin</strong><br>" in signature_html
    assert "Expert-comptable, Fiduciaire Martin &amp; Associés" in signature_html
    assert '<a href="https://www.fidu-martin.example/">Notre site</a>' in signature_html
    assert text.endswith(
        "Bien à vous,\n\n-- \nAnne Martin\nExpert-comptable, Fiduciaire Martin & Associés\n\n"
        "Notre site (https://www.fidu-martin.example/)\n"
    )
    assert "<" not in text and "**" not in text
