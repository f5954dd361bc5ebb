"""A standard phrase that needs a date asks for it, in a real browser against `courrier demo`.

The demo's "Documents manquants" asks for the deadline ({?date:date limite}) instead of
printing today's date: inserting it opens a question, the date typed is written in the text
in the mail's language, and the mail that reaches the catcher holds that date.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.demo.test_demo_command import RunningDemo
from tests.e2e.editor import type_body
from tests.e2e.test_compose_flow import (  # noqa: F401 (fixtures used by name)
    CHROMIUM,
    LOGIN,
    PASSWORD,
    _wait_for_mail,
    page,
)
from tests.fakes.smtp import free_port

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


def test_inserting_the_missing_documents_phrase_asks_for_the_date(
    demo: RunningDemo,
    page: Page,  # noqa: F811
) -> None:
    today = datetime.now(ZoneInfo("Europe/Brussels")).date()
    deadline = date(today.year + 1, 7, 31)

    page.goto("/connexion/")
    page.fill("input[name=username]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#client-search")).to_be_visible()
    page.fill("#client-search", "Boulangerie Dupont")
    page.locator("tr", has_text="Boulangerie Dupont").get_by_role(
        "link", name="Envoyer un e-mail"
    ).click()
    expect(page.get_by_role("heading", name="Envoyer un e-mail")).to_be_visible()

    page.fill("[name=subject]", "Votre dossier {NUMCLIENT}")
    # The salutation, then a new paragraph where the phrase goes.
    type_body(page, "{FORMULE},\n")
    expect(page.locator("[data-phrase-select]")).to_be_visible()
    page.select_option("[data-phrase-select]", label="Documents manquants")
    page.click("[data-phrase-insert]")

    # The phrase asks for its date before it goes in.
    dialog = page.locator("#prompt-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("date limite")).to_have_attribute("type", "date")
    dialog.get_by_label("date limite").fill(deadline.isoformat())
    dialog.get_by_role("button", name="Écrire dans le texte").click()
    expect(dialog).to_be_hidden()
    written = f"{deadline:%d/%m/%Y}"
    editor = page.locator(".prose-editor .ProseMirror").first
    expect(editor).to_contain_text(f"documents manquants avant le {written} ?")
    assert "{?" not in page.locator("textarea[name=body]").input_value()

    page.get_by_role("button", name="Envoyer", exact=True).click()
    page.wait_for_url(re.compile(r"/clients/\d+/"))

    mail = _wait_for_mail(demo)
    text_part = mail.get_body(preferencelist=("plain",))
    assert text_part is not None
    text = str(text_part.get_content())  # type: ignore[attr-defined]
    assert f"Pourriez-vous nous faire parvenir les documents manquants avant le {written} ?" in text
    assert f"{today:%d/%m/%Y}" not in text
    assert "{" not in text
