"""A collaborator writes to every Dutch-speaking client at once, in a real browser.

The demo runs as in tests/e2e/test_compose_flow.py (its fixtures and helpers are reused): web
server, `db_worker` and the SMTP catcher on free ports, driven by Debian's Chromium. The
selection is built in the window, the preview steps through two recipients, the pre-send check
sends to the ready ones, the progress bar reaches the end, and each client's mail reaches the
catcher in Dutch with its own data.
"""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

import pytest
from playwright.sync_api import Page, expect

from tests.demo.test_demo_command import RunningDemo
from tests.e2e.editor import type_body
from tests.e2e.test_compose_flow import (  # noqa: F401 (fixtures used by name)
    CHROMIUM,
    DELIVERY_TIMEOUT,
    LOGIN,
    PASSWORD,
    _caught_mails,
    demo,
    demo_log,
    page,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]


def _wait_for_mails(running: RunningDemo, count: int) -> list[EmailMessage]:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    mails: list[EmailMessage] = []
    while time.monotonic() < deadline:
        mails = _caught_mails(running)
        if len(mails) >= count:
            return mails
        time.sleep(0.3)
    pytest.fail(
        f"{len(mails)} of {count} mails reached the catcher. Worker log:\n"
        + demo_log(running, "worker")
    )


def _count(text: str, pattern: str) -> int:
    found = re.search(pattern, text)
    assert found is not None, text
    return int(found.group(1))


def test_write_to_the_dutch_speaking_clients(demo: RunningDemo, page: Page) -> None:  # noqa: F811
    page.goto("/connexion/")
    page.fill("input[name=username]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#client-search")).to_be_visible()

    # The window without a client writes to a selection; the builder narrows it to Dutch.
    page.goto("/courrier/ecrire/")
    expect(page.get_by_role("heading", name="Envoyer un e-mail")).to_be_visible()
    expect(page.get_by_label("À une sélection de clients")).to_be_checked()
    page.select_option("select[name=sel-language]", "nl")
    results = page.locator("#sel-results")
    expect(results).to_contain_text("avec une adresse e-mail")
    expect(results).not_to_contain_text("Boulangerie Dupont")
    expect(results).to_contain_text("Bakkerij Peeters")
    reachable = _count(results.inner_text(), r"(\d+) avec une adresse e-mail")
    assert reachable >= 3

    page.select_option("#compose-form select[name=language]", "nl")
    page.fill("[name=subject]", "{CABINET} – nieuws voor {NOMCLIENT}")
    type_body(
        page, "Beste {CONTACT},\n\nUw dossier {NUMCLIENT} wordt opgevolgd door {RESPONSABLE}."
    )

    # The preview, one recipient after the other, each with its own data.
    page.get_by_role("button", name="Prévisualiser").click()
    preview = page.locator("#preview")
    expect(preview.locator("[data-preview-position]")).to_have_text(f"1 / {reachable}")
    first = preview.locator(".preview-text").inner_text()
    assert first.startswith("Beste ")
    preview.get_by_role("button", name="Suivant").click()
    expect(preview.locator("[data-preview-position]")).to_have_text(f"2 / {reachable}")
    second = preview.locator(".preview-text").inner_text()
    assert second.startswith("Beste ") and second != first
    expect(preview).to_contain_text("Sujet")
    expect(preview).not_to_contain_text("Subject")

    # The pre-send check, then "send to the ready ones".
    page.get_by_role("button", name="Vérifier avant l'envoi").click()
    presend = page.locator("#presend")
    expect(presend.locator("#presend-summary")).to_contain_text(f"{reachable} prêts")
    presend.get_by_role("button", name=re.compile(r"Envoyer aux \d+ clients prêts")).click()

    # The progress page follows the queueing to the end.
    page.wait_for_url(re.compile(r"/courrier/envois-groupes/\d+/"))
    progress = page.locator("#batch-progress")
    expect(progress).to_have_attribute("data-batch-state", "done", timeout=DELIVERY_TIMEOUT * 1000)
    expect(progress).to_contain_text(f"{reachable} / {reachable} préparés")
    bar = page.locator("#batch-bar")
    expect(bar).to_have_attribute("value", bar.get_attribute("max") or "")
    expect(
        progress.get_by_role("link", name="Suivre la remise dans la boîte de sortie")
    ).to_be_visible()

    # Every Dutch-speaking client with an address gets its own mail, in Dutch.
    mails = _wait_for_mails(demo, reachable)
    assert len(mails) == reachable
    recipients = set()
    for mail in mails:
        assert str(mail["Content-Language"]) == "nl"
        subject = str(mail["Subject"]).strip()
        assert subject.startswith("Fiduciaire Demo – nieuws voor ")
        text_part = mail.get_body(preferencelist=("plain",))
        assert text_part is not None
        text = text_part.get_content()
        assert text.startswith("Beste ")
        assert "{" not in text
        # Its own client number, in its own subject's client.
        number = re.search(r"Uw dossier (C\d{4})", text)
        assert number is not None
        recipients.add(str(mail["To"]))
    assert len(recipients) == reachable
    assert any("bakkerij-peeters.example" in address for address in recipients)

    # The outbox, filtered on this send, lists them.
    progress.get_by_role("link", name="Suivre la remise dans la boîte de sortie").click()
    expect(page.locator("#batch-outbox")).to_contain_text("nieuws voor Bakkerij Peeters")
