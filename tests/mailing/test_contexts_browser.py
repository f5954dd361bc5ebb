"""Two documents of a client file mailed from the compose window, in a real browser.

The demo runs as in tests/e2e/test_compose_flow.py, with a provider limit small enough that
the documents do not fit in a mail: the preview steps through both documents, the pre-send
check blocks them and offers the secure link in its panel, ticked there the check passes,
the batch is composed by the worker, and the catcher receives each document's mail with its
link instead of the file, then the mail that gives its code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

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
    demo_log,
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

# Below a demo document's mail (about 7 KB with its PDF), above the same mail without it.
SMALL_LIMIT = "6000"


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningDemo]:
    monkeypatch.setenv("COURRIER_MAX_MESSAGE_BYTES", SMALL_LIMIT)
    running = RunningDemo(tmp_path / "demo", free_port(), free_port())
    try:
        running.wait_started()
        yield running
        code, _out, err = running.interrupt()
        assert code == 0, err
        assert "Traceback" not in err
    finally:
        running.kill_leftovers()


def settled(page: Page) -> None:  # noqa: F811
    """Wait until htmx has finished its requests and swaps."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


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


def _plain(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def test_two_documents_go_by_secure_link_with_the_users_consent(
    demo: RunningDemo,
    page: Page,  # noqa: F811
) -> None:
    page.goto("/connexion/")
    page.fill("input[name=username]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#client-search")).to_be_visible()

    page.goto("/courrier/ecrire/?context=document&objects=1,2&next=/clients/")
    rows = page.locator("#object-list tbody tr")
    expect(rows).to_have_count(2)
    labels = [
        text.strip()
        for text in page.locator("#object-list tbody tr td:first-child").all_inner_texts()
    ]
    assert all(label.startswith("Document «") for label in labels)
    expect(page.locator("[data-auto-file]")).to_have_count(2)
    page.fill("[name=subject]", "Votre document {TITREDOC}")
    type_body(page, "Bonjour {NOMCLIENT},\n\nVoici « {TITREDOC} ».")

    # The preview steps through both documents.
    page.click("button[name=preview]")
    settled(page)
    expect(page.locator("[data-preview-position]")).to_have_text("1 / 2")
    expect(page.locator("#preview-card h2")).to_contain_text(labels[0])
    page.click("[data-preview-step=next]")
    settled(page)
    expect(page.locator("[data-preview-position]")).to_have_text("2 / 2")
    expect(page.locator("#preview-card h2")).to_contain_text(labels[1])

    # Too large: blocked, and the link is offered in the check's panel.
    page.click("button[name=check]")
    settled(page)
    expect(page.locator("#presend-summary")).to_contain_text("0 prêt, 2 bloqués")
    expect(page.locator("#presend-offer-link")).to_be_visible()
    page.check("[data-offer-link]")
    page.click("#presend-offer-link button")
    settled(page)
    expect(page.locator("#presend-summary")).to_contain_text("2 prêts, 0 bloqué")
    assert page.is_checked("#id_send_by_link")

    page.click("#presend button[name=send]")
    expect(page.locator("#batch-progress")).to_have_attribute(
        "data-batch-state", "done", timeout=int(DELIVERY_TIMEOUT * 1000)
    )
    expect(page.locator("#batch-prepared")).to_contain_text("2 / 2 préparés")
    expect(page.locator("#batch-next")).to_have_attribute("href", "/clients/")

    # Each document's mail gives its link, without the file; its code follows in a second mail.
    mails = _wait_for_mails(demo, 4)
    documents = [mail for mail in mails if str(mail["Subject"]).startswith("Votre document")]
    codes = [mail for mail in mails if mail not in documents]
    assert len(documents) == 2 and len(codes) == 2
    for mail in documents:
        assert list(mail.iter_attachments()) == []
        # On the demo's own web server, whatever port it was given.
        assert f"http://127.0.0.1:{demo.port}/l/" in _plain(mail)
    for mail in codes:
        assert "code" in _plain(mail).lower()
