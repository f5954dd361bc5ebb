"""Peppol in the demo, in a real browser: `courrier demo` on free ports (web server, worker,
SMTP catcher, Peppol access point), Sophie sends the batch of Fiduciaire Demo's unsent invoices
from the Peppol register and sees each e-invoice come back "remise", then finds them on the
demo's access point page and downloads one UBL as the access point received it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from email import policy
from email.parser import BytesParser

import pytest
from playwright.sync_api import Page, expect

from tests.demo.test_demo_command import RunningDemo
from tests.e2e.test_compose_flow import (  # noqa: F401 (fixtures used by name)
    CHROMIUM,
    LOGIN,
    PASSWORD,
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

REGISTER = "/factures/FIDU/registre-peppol/"
SETTLE_TIMEOUT = 90.0


def states(browser: Page) -> list[str]:
    """The state of each row's e-invoice: "unsent" for a row not sent yet (it shows none)."""
    rows = browser.locator("table.billing-table tbody tr")
    found = []
    for index in range(rows.count()):
        cell = rows.nth(index).locator("[data-mail-state]")
        found.append(str(cell.get_attribute("data-mail-state")) if cell.count() else "unsent")
    return found


def reload_until(
    browser: Page, running: RunningDemo, wanted: Callable[[list[str]], bool], what: str
) -> list[str]:
    """Reload the register until the states of its rows satisfy `wanted`."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        browser.goto(REGISTER)
        found = states(browser)
        if wanted(found):
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: {found}\nWorker log:\n" + demo_log(running, "worker"))
        time.sleep(1)


def test_send_the_batch_from_the_peppol_register_and_see_it_delivered(
    demo: RunningDemo,  # noqa: F811
    page: Page,  # noqa: F811
) -> None:
    page.goto("/connexion/")
    page.fill("input[name=username]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#client-search")).to_be_visible()

    # The e-invoice the demo sent at its start is already delivered; the others wait.
    before = reload_until(
        page, demo, lambda found: "delivered" in found and "unsent" in found, "no delivered row"
    )
    assert before.count("delivered") == 1

    page.get_by_role("button", name="Vérifier avant l'envoi").click()
    # The VAT-registered company still on e-mail: its PDF is refused, with the reason.
    blocked = page.locator("#presend-blocked")
    expect(blocked).to_contain_text("Pharmacie Renard")
    expect(blocked).to_contain_text("assujetti à la TVA en Belgique")
    page.get_by_role("button", name=re.compile(r"^Envoyer \d+ factures$")).click()
    progress = page.locator("#billing-batch")
    expect(progress).to_have_attribute("data-finished", "true", timeout=SETTLE_TIMEOUT * 1000)

    # Back in the Peppol register: every e-invoice comes back "remise" by itself.
    after = reload_until(
        page,
        demo,
        lambda found: bool(found) and set(found) == {"delivered"},
        "e-invoices not delivered",
    )
    assert len(after) == len(before)
    expect(page.locator("table tbody").get_by_text("remise").first).to_be_visible()

    # The demo's access point page lists what it received; a UBL downloads as received.
    page.goto("/demo/")
    page.get_by_role("link", name="Factures électroniques reçues (Peppol)").click()
    expect(page.get_by_role("heading", name="Point d'accès Peppol de la démo")).to_be_visible()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(len(after))
    expect(page.locator('[data-state="delivered"]')).to_have_count(len(after))
    expect(page.locator("table tbody")).to_contain_text("Le Petit Sablon")
    link = rows.first.get_by_role("link", name=re.compile("Télécharger le UBL"))
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    document_id = download.suggested_filename.removeprefix("peppol-").removesuffix(".xml")
    path = download.path()
    assert path is not None
    with open(path, "rb") as handle:
        received = handle.read()
    assert received == (demo.data_dir / "demo-peppol" / f"{document_id}.xml").read_bytes()
    assert received.startswith(b"<?xml")

    # Le Petit Sablon asked for a courtesy copy: its PDF arrives by e-mail, marked as such.
    deadline = time.monotonic() + SETTLE_TIMEOUT
    subjects: list[str] = []
    while time.monotonic() < deadline:
        subjects = [
            str(BytesParser(policy=policy.default).parsebytes(p.read_bytes())["Subject"])
            for p in sorted((demo.data_dir / "demo-mailbox").glob("*.eml"))
        ]
        if any("Copie de courtoisie" in subject for subject in subjects):
            break
        time.sleep(0.5)
    assert any("Copie de courtoisie" in subject for subject in subjects), subjects
