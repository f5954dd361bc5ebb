"""A collaborator writes to a Dutch-speaking client from a template, in a real browser.

The whole application runs as a user runs it: `courrier demo` on free ports (web server,
`db_worker` subprocess, SMTP catcher) with its demo firm, driven by Debian's Chromium.
The test then reads the mail the catcher received and the client's Mails tab.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.demo.test_demo_command import RunningDemo
from tests.fakes.smtp import free_port

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
LOGIN = "sophie.dubois@fiduciaire-demo.example"  # the demo's admin; her interface is French
PASSWORD = "courrier-demo"
TIMEOUT_MS = 20_000
DELIVERY_TIMEOUT = 60.0

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
        assert "Traceback" not in err
    finally:
        running.kill_leftovers()


@pytest.fixture
def page(demo: RunningDemo) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            context = browser.new_context(locale="fr-BE", base_url=f"http://127.0.0.1:{demo.port}")
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


def _caught_mails(demo: RunningDemo) -> list[EmailMessage]:
    mails = []
    for path in sorted((demo.data_dir / "demo-mailbox").glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        mails.append(message)
    return mails


def _wait_for_mail(demo: RunningDemo) -> EmailMessage:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        mails = _caught_mails(demo)
        if mails:
            assert len(mails) == 1
            return mails[0]
        time.sleep(0.3)
    pytest.fail("No mail reached the catcher. Worker log:\n" + demo_log(demo, "worker"))


def demo_log(demo: RunningDemo, name: str) -> str:
    path = demo.data_dir / "logs" / f"{name}.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def test_compose_from_template_to_a_dutch_client(demo: RunningDemo, page: Page) -> None:
    today = datetime.now(ZoneInfo("Europe/Brussels")).strftime("%d/%m/%Y")

    # Log in; the client list is the home page.
    page.goto("/connexion/")
    page.fill("input[name=username]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#client-search")).to_be_visible()

    # Find the Dutch-speaking bakery and open the compose page from its row.
    page.fill("#client-search", "Peeters")
    row = page.locator("tr", has_text="Bakkerij Peeters")
    expect(row).to_have_count(1)
    expect(page.locator("tr", has_text="Boulangerie Dupont")).to_have_count(0)
    row.get_by_role("link", name="Envoyer un e-mail").click()
    expect(page.get_by_role("heading", name="Envoyer un e-mail")).to_be_visible()

    # The demo template, loaded in the client's language.
    # The list of templates says in which languages each exists.
    page.select_option("select[name=template]", label="Demande de documents (FR, NL, DE, EN)")
    subject = page.locator("[name=subject]")
    expect(subject).to_have_value("{CABINET} – documenten voor uw boekhouding ({NUMCLIENT})")

    # The preview shows the Dutch text with its fields filled.
    page.get_by_role("button", name="Prévisualiser").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Beste heer Peeters,")
    expect(preview).to_contain_text("Fiduciaire Demo – documenten voor uw boekhouding (C0018)")
    expect(preview).to_contain_text(f"Bakkerij Peeters BV (klantnummer C0018) op {today}")
    expect(preview).to_contain_text("opgevolgd door Pieter Janssens")

    page.get_by_role("button", name="Envoyer", exact=True).click()
    page.wait_for_url(re.compile(r"/clients/\d+/"))

    # The worker hands the mail to the catcher: in Dutch, fields filled, to the bakery.
    mail = _wait_for_mail(demo)
    # Python folds a long encoded subject right after "Subject:"; readers drop that space.
    subject_header = str(mail["Subject"]).strip()
    assert subject_header == "Fiduciaire Demo – documenten voor uw boekhouding (C0018)"
    assert "info@bakkerij-peeters.example" in str(mail["To"])
    assert "sophie.dubois@fiduciaire-demo.example" in str(mail["From"])
    text_part = mail.get_body(preferencelist=("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert text.startswith("Beste heer Peeters,")
    assert f"Bakkerij Peeters BV (klantnummer C0018) op {today}." in text
    assert "Met vriendelijke groeten," in text
    assert "{" not in text
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    assert "Beste heer Peeters," in html_part.get_content()

    # The client's Mails tab shows it as sent.
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        page.reload()
        status = page.locator("#client-mails tr", has_text="documenten voor uw boekhouding")
        status = status.locator(".badge")
        expect(status).to_be_visible()
        if status.inner_text().strip() == "envoyé" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(status).to_have_text("envoyé")
