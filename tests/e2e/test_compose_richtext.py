"""A collaborator writes a formatted mail in the compose window, in a real browser, and the
client's mail program gets it formatted.

`courrier demo` runs as a user runs it (web server, worker, SMTP catcher); Debian's Chromium
types in the editor, pastes a table as Excel puts it on the clipboard, inserts a field and a
standard phrase at the cursor, previews and sends. The test then reads the mail the catcher
received, and saves the text as a template to load it back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.demo.test_demo_command import RunningDemo
from tests.e2e.test_compose_flow import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    LOGIN,
    PASSWORD,
    TIMEOUT_MS,
    _wait_for_mail,
)
from tests.fakes.smtp import free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]

# What Excel puts on the clipboard for two rows of two cells (trimmed of its styles).
EXCEL_HTML = (
    '<html xmlns:x="urn:schemas-microsoft-com:office:excel"><body><!--StartFragment-->'
    '<table border=0 cellpadding=0 cellspacing=0 width=256 style="border-collapse:collapse">'
    "<col width=128 span=2><tr height=20><td height=20 class=xl65 width=128>Facture</td>"
    "<td class=xl65 width=128>Montant</td></tr><tr height=20><td height=20>F-2026-0042</td>"
    '<td align=right style="mso-number-format:Standard">1.234,56</td></tr></table>'
    "<!--EndFragment--></body></html>"
)
EXCEL_TEXT = "Facture\tMontant\r\nF-2026-0042\t1.234,56\r\n"
NAME = "Dupont <b>& Fils</b>"


@pytest.fixture
def demo(tmp_path) -> Iterator[RunningDemo]:  # type: ignore[no-untyped-def]
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
            base = f"http://127.0.0.1:{demo.port}"
            context = browser.new_context(locale="fr-BE", base_url=base)
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page
            assert not errors, errors
        finally:
            browser.close()


def _log_in(page: Page) -> None:
    page.goto("/connexion/")
    page.fill("input[name=username]", LOGIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#client-search")).to_be_visible()


def _rename_the_bakery(page: Page) -> None:
    """The client's name holds what looks like HTML: it must reach the mail as text."""
    page.fill("#client-search", "Boulangerie Dupont")
    page.locator("tr", has_text="Boulangerie Dupont").get_by_role("link").first.click()
    page.get_by_role("link", name=re.compile("Modifier")).first.click()
    page.fill("input[name=name]", NAME)
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("heading", name=NAME)).to_be_visible()


def _paste_excel_table(page: Page) -> None:
    page.evaluate(
        """([html, text]) => navigator.clipboard.write([new ClipboardItem({
            "text/html": new Blob([html], {type: "text/html"}),
            "text/plain": new Blob([text], {type: "text/plain"}),
        })])""",
        [EXCEL_HTML, EXCEL_TEXT],
    )
    page.keyboard.press("Control+V")


def test_a_formatted_mail_arrives_formatted(demo: RunningDemo, page: Page) -> None:
    _log_in(page)
    _rename_the_bakery(page)
    page.get_by_role("link", name="Envoyer un e-mail").first.click()
    expect(page.get_by_role("heading", name="Envoyer un e-mail")).to_be_visible()
    page.fill("input[name=subject]", "Vos documents {NUMCLIENT}")

    # The editor, its toolbar in French, reached and used with the keyboard.
    editor = page.locator(".prose-editor .ProseMirror")
    expect(editor).to_be_visible()
    expect(page.locator("textarea[name=body]")).to_be_hidden()
    toolbar = page.locator(".prose-editor .prose-menubar")
    expect(toolbar.get_by_role("button", name="Gras (Ctrl+B)")).to_be_visible()
    expect(toolbar.get_by_role("button", name="Liste à puces")).to_be_visible()
    editor.click()
    page.keyboard.type("Bonjour ")
    # "Insérer des données": the field at the cursor of the editor.
    page.select_option("[data-merge-select]", value="NOMCLIENT")
    page.locator("[data-merge-insert]").click()
    page.keyboard.type(",")
    page.keyboard.press("Enter")
    page.keyboard.type("Voici un point ")
    page.keyboard.press("Control+B")
    page.keyboard.type("important")
    page.keyboard.press("Control+B")
    page.keyboard.type(", un ")
    toolbar.get_by_role("button", name="Italique (Ctrl+I)").click()
    page.keyboard.type("détail")
    toolbar.get_by_role("button", name="Italique (Ctrl+I)").click()
    page.keyboard.type(" et un mot ")
    page.keyboard.press("Control+U")
    page.keyboard.type("souligné")
    page.keyboard.press("Control+U")
    page.keyboard.type(".")
    page.keyboard.press("Enter")
    toolbar.get_by_role("button", name="Liste à puces").click()
    page.keyboard.type("les extraits bancaires")
    page.keyboard.press("Enter")
    page.keyboard.type("les factures d'achat")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # out of the list
    page.keyboard.type("Voir notre portail")
    for _ in range(len("notre portail")):
        page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Control+K")
    dialog = page.locator("dialog.prose-editor-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("input").first.fill("https://portail.fidu.example/dossier")
    dialog.get_by_role("button", name="Valider").click()
    page.keyboard.press("End")
    page.keyboard.type(".")
    page.keyboard.press("Enter")
    _paste_excel_table(page)
    expect(editor.locator("table td")).to_have_count(4)
    # "Texte": the standard phrase at the cursor, on the line after the table.
    editor.locator(":scope > p").last.click()
    page.select_option("[data-phrase-select]", label="Accusé de réception des pièces")
    page.locator("[data-phrase-insert]").click()
    expect(editor).to_contain_text("Nous avons bien reçu vos pièces")

    # The textarea the form posts holds the HTML.
    body = page.locator("textarea[name=body]").input_value()
    assert "<strong>important</strong>" in body and "<table" in body

    page.get_by_role("button", name="Prévisualiser").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Bonjour Dupont <b>& Fils</b> SRL,")
    expect(preview).to_contain_text("- les extraits bancaires")
    expect(preview).to_contain_text("notre portail (https://portail.fidu.example/dossier)")
    expect(preview).to_contain_text("Facture | Montant")
    frame = preview.frame_locator("iframe.preview-html")
    expect(frame.locator("strong")).to_have_text("important")
    expect(frame.locator("table td")).to_have_count(4)

    page.get_by_role("button", name="Envoyer", exact=True).click()
    page.wait_for_url(re.compile(r"/clients/\d+/"))
    mail = _wait_for_mail(demo)

    html_part = mail.get_body(preferencelist=("html",))
    text_part = mail.get_body(preferencelist=("plain",))
    assert html_part is not None and text_part is not None
    html = html_part.get_content()
    text = text_part.get_content().replace("\r\n", "\n")
    # The client's name is text in both parts: escaped in the HTML, as typed in the text.
    assert "Bonjour Dupont &lt;b&gt;&amp; Fils&lt;/b&gt; SRL," in html
    assert "<b>" not in html
    assert "Bonjour Dupont <b>& Fils</b> SRL," in text
    assert "<strong>important</strong>" in html
    assert "<em>détail</em>" in html
    assert "<u>souligné</u>" in html
    assert re.search(r"<ul style=\"[^\"]+\">\s*<li>les extraits bancaires</li>", html)
    assert '<a href="https://portail.fidu.example/dossier">notre portail</a>' in html
    # The table keeps its cells, with borders and padding written inline.
    cells = re.findall(r"<td style=\"([^\"]+)\">([^<]*)</td>", html)
    assert [value for _style, value in cells] == ["Facture", "Montant", "F-2026-0042", "1.234,56"]
    assert all("border:1px solid" in style and "padding:" in style for style, _ in cells)
    written = html.split('<div class="signature"')[0]  # the signature is not the editor's
    assert "class=" not in written and "mso-" not in html and "<col" not in html
    # The phrase where the cursor was: after the table.
    assert html.index("1.234,56") < html.index("Nous avons bien reçu vos pièces")
    # The text part, made from the same HTML.
    assert "Voici un point important, un détail et un mot souligné." in text
    assert "- les extraits bancaires\n- les factures d'achat" in text
    assert "Voir notre portail (https://portail.fidu.example/dossier)." in text
    assert "Facture | Montant\nF-2026-0042 | 1.234,56" in text
    assert "Nous avons bien reçu vos pièces et nous vous en remercions." in text
    assert "**" not in text and "<" not in text.replace(NAME, "")


def test_a_template_saved_from_the_window_keeps_its_formatting(
    demo: RunningDemo, page: Page
) -> None:
    _log_in(page)
    page.fill("#client-search", "Boulangerie Dupont")
    page.locator("tr", has_text="Boulangerie Dupont").get_by_role(
        "link", name="Envoyer un e-mail"
    ).click()
    page.fill("input[name=subject]", "Rappel {NUMCLIENT}")
    editor = page.locator(".prose-editor .ProseMirror")
    editor.click()
    page.keyboard.type("Madame, Monsieur,")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+B")
    page.keyboard.type("Échéance proche")
    page.keyboard.press("Control+B")
    page.keyboard.press("Enter")
    _paste_excel_table(page)
    expect(editor.locator("table td")).to_have_count(4)

    page.locator("#compose-save-template summary").click()
    page.fill("#id_save_name", "Rappel mis en forme")
    page.get_by_role("button", name="Sauver modèle").click()
    expect(page.locator("#compose-save-template")).to_contain_text("Rappel mis en forme")

    # A fresh window: the template, loaded back, shows its bold and its table in the editor.
    page.reload()
    editor = page.locator(".prose-editor .ProseMirror")
    expect(editor).to_have_text("")
    # The list of templates says in which languages each exists: this one, French only.
    page.select_option("select[name=template]", label="Rappel mis en forme (FR)")
    expect(page.locator("[name=subject]")).to_have_value("Rappel {NUMCLIENT}")
    editor = page.locator(".prose-editor .ProseMirror")
    expect(editor.locator("strong")).to_have_text("Échéance proche")
    expect(editor.locator("table td")).to_have_count(4)
    expect(editor.locator("table td").nth(3)).to_have_text("1.234,56")
    # Typing after the load still reaches the form: the editor is the new one, not a leftover.
    editor.locator("p").first.click()
    page.keyboard.press("End")
    page.keyboard.type(" Merci.")
    assert "Madame, Monsieur, Merci." in page.locator("textarea[name=body]").input_value()
    # Tab moves between a table's cells; Esc leaves the editor for what follows it.
    page.keyboard.press("Escape")
    assert page.evaluate("!document.activeElement.closest('.prose-editor')")
