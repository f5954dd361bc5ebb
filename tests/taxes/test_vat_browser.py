"""The VAT list in a real browser: three clients in three languages are chosen, the mails are
previewed one by one, sent as one batch, arrive each with its own figures and language, and
each row then says when it was mailed.

The demo runs as in tests/e2e (web server, `db_worker`, SMTP catcher on free ports), driven by
Debian's Chromium; its VAT returns and its VAT template come from `taxes/demo.py`.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from courrier.amounts import DEFAULT_AMOUNT_FORMAT, format_amount
from tests.demo.test_demo_command import RunningDemo
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

# Three clients filing quarterly, one per language, and how their mail names the period.
CLIENTS = {
    "C0001": ("fr", "3e trimestre 2026", "Déclaration TVA – 3e trimestre 2026"),
    "C0003": ("nl", "3de kwartaal 2026", "Btw-aangifte – 3de kwartaal 2026"),
    "C0026": ("de", "3. Quartal 2026", "Mehrwertsteuererklärung – 3. Quartal 2026"),
}
TEMPLATE = "Déclaration TVA déposée"


def _amount(cell: str) -> Decimal:
    """ "1.234,56 €" (as the lists show it) or "—" -> Decimal."""
    text = cell.strip()
    if text in ("", "—"):
        return Decimal("0.00")
    digits = re.sub(r"[^\d,]", "", text).replace(",", ".")
    return Decimal(digits)


def _plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\xa0", " ")


def _vat_mails(running: RunningDemo, count: int) -> list[EmailMessage]:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    mails: list[EmailMessage] = []
    subjects = {subject for _language, _period, subject in CLIENTS.values()}
    while time.monotonic() < deadline:
        mails = [m for m in _caught_mails(running) if str(m["Subject"]).strip() in subjects]
        if len(mails) >= count:
            return mails
        time.sleep(0.3)
    pytest.fail(
        f"{len(mails)} of {count} mails reached the catcher. Worker log:\n"
        + demo_log(running, "worker")
    )


def test_vat_list_to_three_clients(demo: RunningDemo, page: Page) -> None:  # noqa: F811
    today = datetime.now(ZoneInfo("Europe/Brussels")).strftime("%d/%m/%Y")
    page.goto("/connexion/")
    page.fill("input[name=username]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#client-search")).to_be_visible()

    # The VAT list, narrowed to the third quarter of 2026, through its filters.
    page.get_by_role("link", name="Suivi fiscal").click()
    expect(page.get_by_role("heading", name="Suivi fiscal")).to_be_visible()
    page.select_option("#id_year", "2026")
    page.select_option("#id_period", "T3")
    page.get_by_role("button", name="Filtrer").click()
    page.wait_for_url(re.compile(r"/fiscal/tva/\?.*period=T3"))
    list_url = page.url

    # Each chosen row's figures as the list shows them; then its checkbox.
    figures: dict[str, tuple[Decimal, Decimal]] = {}
    for number in CLIENTS:
        row = page.locator(f"tr[data-client={number}]")
        expect(row).to_contain_text("3e trimestre 2026")
        expect(row.locator(".taxes-mailed")).to_contain_text("pas encore envoyé")
        cells = row.locator("td")
        figures[number] = (_amount(cells.nth(4).inner_text()), _amount(cells.nth(5).inner_text()))
        assert (figures[number][0] == 0) != (figures[number][1] == 0), figures[number]
        row.locator("input[name=objects]").check()
    expect(page.locator("#taxes-selected-count")).to_contain_text("3 /")
    page.get_by_role("button", name="Envoyer un email aux lignes cochées").click()

    # The compose window about the three returns, with the VAT fields and template.
    page.wait_for_url(re.compile(r"/courrier/ecrire/\?.*context=vat"))
    objects = page.locator("#object-list tbody tr")
    expect(objects).to_have_count(3)
    expect(page.locator("#compose-objects")).to_contain_text("TVA 3e trimestre 2026")
    # The list of templates says in which languages each exists.
    page.select_option("#id_template", label=f"{TEMPLATE} (FR, NL, DE, EN)")
    expect(page.locator("[name=subject]")).to_have_value(re.compile(r"\{PERIODE\}"))

    # The preview steps through the three, each in its language with its figures.
    page.get_by_role("button", name="Prévisualiser").click()
    preview = page.locator("#preview")
    seen: set[str] = set()
    for position in range(1, 4):
        expect(preview.locator("[data-preview-position]")).to_have_text(f"{position} / 3")
        text = _plain(preview.locator(".preview-text").inner_text())
        matches = [n for n, (_lang, period, _s) in CLIENTS.items() if period in text]
        assert len(matches) == 1, text
        seen.add(matches[0])
        if position < 3:
            preview.get_by_role("button", name="Suivant").click()
    assert seen == set(CLIENTS)

    # The pre-send check, then the batch.
    page.get_by_role("button", name="Vérifier avant l'envoi").click()
    presend = page.locator("#presend")
    presend.get_by_role("button", name="Envoyer les 3 mails prêts").click()
    page.wait_for_url(re.compile(r"/courrier/envois-groupes/\d+/"))
    progress = page.locator("#batch-progress")
    expect(progress).to_have_attribute("data-batch-state", "done", timeout=DELIVERY_TIMEOUT * 1000)

    # Three mails, each to its client, in its language, with its own figures.
    mails = _vat_mails(demo, 3)
    assert len(mails) == 3
    by_language = {str(mail["Content-Language"]): mail for mail in mails}
    for number, (language, period, subject) in CLIENTS.items():
        mail = by_language[language]
        assert str(mail["Subject"]).strip() == subject
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None
        text = _plain(body.get_content())
        grid_71, grid_72 = figures[number]
        assert _plain(format_amount(grid_71, DEFAULT_AMOUNT_FORMAT)) in text, text
        assert _plain(format_amount(grid_72, DEFAULT_AMOUNT_FORMAT)) in text, text
        assert period in text
        assert "{" not in text

    # Back to the list: every chosen row says when it was mailed, and links to the mail.
    page.locator("#batch-next").click()
    page.wait_for_url(list_url)
    for number in CLIENTS:
        mailed = page.locator(f"tr[data-client={number}] .taxes-mail-link")
        expect(mailed).to_have_text(f"envoyé le {today}")
    page.locator("tr[data-client=C0003] .taxes-mail-link").click()
    expect(page.locator("body")).to_contain_text("3de kwartaal 2026")
