"""The main pages work under the Content-Security-Policy, and the browser refuses nothing.

The whole application runs as a user runs it (`courrier demo`: web server, worker, SMTP
catcher, demo firm), driven by Debian's Chromium, logged in as the demo's administrator. Every
document opened (pages, partial updates, the mail frames) reports what the policy refused: the
list must stay empty while the compose window (editor toolbar, a merge field, the preview
frame), the client list's filters, a message of the archive, the invoice register and the
invoice batch page that follows the worker are used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from tests.csp import Violations
from tests.demo.test_demo_command import RunningDemo
from tests.e2e.test_compose_flow import CHROMIUM, CHROMIUM_FLAGS, LOGIN, PASSWORD
from tests.fakes.smtp import free_port

TIMEOUT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    running = RunningDemo(tmp_path / "demo", free_port(), free_port())
    try:
        running.wait_started()
        yield running
        code, _out, err = running.interrupt()
        assert code == 0, err
    finally:
        running.kill_leftovers()


@pytest.fixture
def browser_context(demo: RunningDemo) -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            context = browser.new_context(locale="fr-BE", base_url=f"http://127.0.0.1:{demo.port}")
            context.set_default_timeout(TIMEOUT_MS)
            yield context
        finally:
            browser.close()


def log_in(page: Page) -> None:
    page.goto("/connexion/")
    page.fill("input[name=username]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#client-search")).to_be_visible()


def test_the_main_pages_work_and_the_policy_refuses_nothing(
    browser_context: BrowserContext,
) -> None:
    violations = Violations().watch(browser_context)
    page = browser_context.new_page()
    log_in(page)
    policy = page.request.get("/clients/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy

    # The client list: the search and the tag filter redraw the rows (HTMX).
    page.fill("#client-search", "Peeters")
    expect(page.locator("tr", has_text="Bakkerij Peeters")).to_have_count(1)
    expect(page.locator("tr", has_text="Boulangerie Dupont")).to_have_count(0)
    page.fill("#client-search", "")
    page.locator("#client-tag").select_option(index=1)
    page.wait_for_url(re.compile(r"[?&]tag=\d+"))
    expect(page.locator("#client-results")).to_be_visible()

    # The compose window: the editor's toolbar (bold, a table), a merge field, the preview.
    page.fill("#client-search", "Boulangerie Dupont")
    page.locator("tr", has_text="Boulangerie Dupont").get_by_role(
        "link", name="Envoyer un e-mail"
    ).click()
    editor = page.locator(".prose-editor .ProseMirror")
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type("Bonjour ")
    page.locator(".prose-editor").get_by_role("button", name=re.compile("Gras")).click()
    page.keyboard.type("important")
    code = page.locator("[data-merge-select]").input_value()
    page.locator("[data-merge-insert]").click()
    expect(page.locator("textarea[name=body]")).to_have_value(re.compile(re.escape(f"{{{code}}}")))
    menubar = page.locator(".prose-editor .prose-menubar")
    menubar.get_by_role("button", name="Insérer un tableau").click()
    page.locator("dialog.prose-editor-dialog").get_by_role(
        "button", name="Insérer le tableau"
    ).click()
    expect(editor.locator("table")).to_have_count(1)
    page.fill("input[name=subject]", "Votre dossier")
    page.get_by_role("button", name="Prévisualiser").click()
    frame = page.locator("#preview").frame_locator("iframe.preview-html")
    expect(frame.locator("strong")).to_contain_text("important")
    expect(frame.locator("body")).to_contain_text("Bonjour")
    expect(frame.locator("body")).not_to_contain_text("{")
    expect(frame.locator("table")).to_have_count(1)

    # A message of the archive shows its HTML in the same kind of frame.
    page.get_by_role("button", name="Envoyer", exact=True).click()
    page.wait_for_url(re.compile(r"/clients/\d+/"))
    page.get_by_role("tab", name="Mails").click()
    page.locator("#client-mails a", has_text="Votre dossier").first.click()
    mail_frame = page.frame_locator("iframe.message-html")
    expect(mail_frame.locator("strong")).to_contain_text("important")

    # The invoice register: check, send; the batch page follows the worker.
    page.goto("/factures/FIDU/registre-email/")
    expect(page.locator("table.billing-table tbody tr").first).to_be_visible()
    page.get_by_role("button", name="Vérifier avant l'envoi").click()
    expect(page.locator("#presend-result")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"^Envoyer \d+ facture")).click()
    progress = page.locator("#billing-batch")
    expect(progress).to_have_attribute("data-finished", "true", timeout=60_000)

    # The technical administration (Django's admin) works under the same policy.
    page.goto("/admin/clients/client/")
    expect(page.locator("#changelist")).to_be_visible()
    page.locator("#result_list tbody a").first.click()
    expect(page.locator("form#client_form")).to_be_visible()

    assert violations.seen == []
