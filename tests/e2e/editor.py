"""Writing in the rich-text editor from a browser test, as a person types."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def type_body(page: Page, text: str, *, scope: str = "") -> None:
    """Replace the text of the editor (the first one in `scope`) by `text`, typed line by line:
    a line break is the Enter key (a new paragraph)."""
    editor = page.locator(f"{scope} .prose-editor .ProseMirror".strip()).first
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    for index, line in enumerate(text.split("\n")):
        if index:
            page.keyboard.press("Enter")
        if line:
            page.keyboard.type(line)
