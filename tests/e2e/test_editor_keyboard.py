"""A collaborator who selects with the keyboard and acts at once (Shift+arrows, then Ctrl+K,
Ctrl+B or Backspace) gets what was selected, in a real browser.

The browser moves the selection before the editor hears of it (the page's "selectionchange"
event comes a moment later); a shortcut pressed in that moment acted on the selection of
before: the link went on "tre portail" when "notre portail" was selected, and the words sent
were not those the person saw. Each case is done several times in a row, as a quick typist
would, and read from the textarea the form posts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.demo.test_demo_command import RunningDemo
from tests.e2e.test_compose_flow import CHROMIUM, CHROMIUM_FLAGS, TIMEOUT_MS
from tests.e2e.test_compose_richtext import _log_in
from tests.fakes.smtp import free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]

ROUNDS = 6
URL = "https://portail.fidu.example/dossier"


@pytest.fixture
def page(tmp_path) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    demo = RunningDemo(tmp_path / "demo", free_port(), free_port())
    try:
        demo.wait_started()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
            )
            try:
                context = browser.new_context(
                    locale="fr-BE", base_url=f"http://127.0.0.1:{demo.port}"
                )
                context.set_default_timeout(TIMEOUT_MS)
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                yield page
                assert not errors, errors
            finally:
                browser.close()
        code, _out, err = demo.interrupt()
        assert code == 0, err
    finally:
        demo.kill_leftovers()


def _start(page: Page) -> None:
    _log_in(page)
    page.fill("#client-search", "Boulangerie Dupont")
    page.locator("tr", has_text="Boulangerie Dupont").get_by_role(
        "link", name="Envoyer un e-mail"
    ).click()
    expect(page.locator(".prose-editor .ProseMirror")).to_be_visible()


def _write(page: Page, text: str) -> None:
    page.locator(".prose-editor .ProseMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(text)


def _select_back(page: Page, count: int) -> None:
    for _ in range(count):
        page.keyboard.press("Shift+ArrowLeft")


def _body(page: Page) -> str:
    return page.locator("textarea[name=body]").input_value()


def test_a_shortcut_right_after_a_keyboard_selection_acts_on_all_of_it(page: Page) -> None:
    _start(page)
    link = re.compile(r'<a href="' + re.escape(URL) + r'"[^>]*>([^<]*)</a>')
    for _round in range(ROUNDS):
        _write(page, "Voir notre portail")
        _select_back(page, len("notre portail"))
        page.keyboard.press("Control+K")
        dialog = page.locator("dialog.prose-editor-dialog")
        expect(dialog).to_be_visible()
        dialog.locator("input").first.fill(URL)
        dialog.get_by_role("button", name="Valider").click()
        expect(dialog).to_have_count(0)
        assert link.findall(_body(page)) == ["notre portail"], _body(page)

    for _round in range(ROUNDS):
        _write(page, "Un point important")
        _select_back(page, len("important"))
        page.keyboard.press("Control+B")
        assert "<p>Un point <strong>important</strong></p>" in _body(page), _body(page)

    for _round in range(ROUNDS):
        _write(page, "Merci beaucoup")
        _select_back(page, len(" beaucoup"))
        page.keyboard.press("Backspace")
        assert _body(page).startswith("<p>Merci</p>"), _body(page)

    # What the client will read: the preview of the last text, as typed.
    _write(page, "Voir notre portail")
    _select_back(page, len("notre portail"))
    page.keyboard.press("Control+K")
    dialog = page.locator("dialog.prose-editor-dialog")
    dialog.locator("input").first.fill(URL)
    dialog.get_by_role("button", name="Valider").click()
    page.fill("input[name=subject]", "Votre portail")
    page.get_by_role("button", name="Prévisualiser").click()
    frame = page.locator("#preview").frame_locator("iframe.preview-html")
    expect(frame.locator(f'a[href="{URL}"]')).to_have_text("notre portail")


def test_keys_typed_right_after_an_insertion_or_a_dialog_go_into_the_editor(page: Page) -> None:
    """The editor takes the focus back at once after a field is inserted, a toolbar button is
    used or a link's dialog is closed: what is typed next is never lost, however late the
    browser draws its next frame."""
    _start(page)
    # A busy computer draws its next frame late: here every frame waits 400 ms.
    page.evaluate(
        """() => {
            const later = window.requestAnimationFrame.bind(window);
            window.requestAnimationFrame = (callback) => {
                const id = setTimeout(() => later(callback), 400);
                return id;
            };
        }"""
    )
    _write(page, "Bonjour ")
    page.select_option("[data-merge-select]", value="NOMCLIENT")
    page.locator("[data-merge-insert]").click()
    page.keyboard.type(",")
    assert "<p>Bonjour {NOMCLIENT},</p>" in _body(page), _body(page)

    page.keyboard.press("Enter")
    page.keyboard.type("Voir notre portail")
    _select_back(page, len("notre portail"))
    page.keyboard.press("Control+K")
    dialog = page.locator("dialog.prose-editor-dialog")
    dialog.locator("input").first.fill(URL)
    dialog.get_by_role("button", name="Valider").click()
    page.keyboard.press("End")
    page.keyboard.type(".")
    assert re.search(r'Voir <a href="[^"]+"[^>]*>notre portail</a>\.</p>', _body(page)), _body(page)

    # The toolbar's button pressed from the keyboard: the words typed next are bold.
    page.keyboard.press("Enter")
    page.keyboard.type("Un point ")
    bold = page.locator(".prose-editor .prose-menubar").get_by_role("button", name="Gras (Ctrl+B)")
    bold.focus()
    page.keyboard.press("Enter")
    page.keyboard.type("important")
    assert "<p>Un point <strong>important</strong></p>" in _body(page), _body(page)
