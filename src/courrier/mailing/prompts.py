"""Values asked of the person when a phrase or a template is put in the window.

A merge field takes its value from the data; some values are nobody's data yet: the date by
which the client should answer, an amount agreed on the phone. A phrase or a template asks
for them with ``{?label}``, or ``{?date:label}`` for a date (``{?datum:...}`` in Dutch and
German). The compose window turns each one into a question when the text is inserted or
loaded, and writes the answer in its place (a date in the mail's language: 31/12/2026,
31.12.2026 in German). One still in the text when the mail is checked blocks it: a mail never
leaves with ``{?date:date limite}`` in it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.utils.translation import gettext_noop

from courrier.texts import Sentence, Text

# "{?" then an optional kind and a colon, then the label (no braces, no line break).
_PROMPT = re.compile(r"\{\?[ \t]*(?:(?P<kind>[A-Za-z]+)[ \t]*:)?[ \t]*(?P<label>[^{}\n]*?)[ \t]*\}")
_DATE_KINDS = frozenset({"date", "datum"})


@dataclass(frozen=True)
class Prompt:
    """One value to ask: as written in the text, its label, and whether it is a date."""

    written: str
    label: str
    is_date: bool


def prompts_in(text: str) -> list[Prompt]:
    """The values `text` still asks for, once each, in the order they appear."""
    found: dict[str, Prompt] = {}
    for match in _PROMPT.finditer(text):
        kind = (match.group("kind") or "").lower()
        label = match.group("label")
        if kind and kind not in _DATE_KINDS:
            # "{?Montant: à convenir}": a colon in a label, not a kind.
            label = match.group(0)[2:-1].strip()
        # Read from a body's HTML: "&amp;" is the "&" the person wrote.
        label = html.unescape(label)
        if not label:
            continue
        found.setdefault(
            match.group(0), Prompt(written=match.group(0), label=label, is_date=kind in _DATE_KINDS)
        )
    return list(found.values())


def prompt_blockers(*texts: str) -> list[Text]:
    """What blocks a mail whose texts still ask for a value: one sentence per value, said in
    the reader's language when shown."""
    prompts: dict[str, Prompt] = {}
    for text in texts:
        for prompt in prompts_in(text):
            prompts.setdefault(prompt.written, prompt)
    return [
        Sentence(
            gettext_noop(
                "Une valeur à saisir est restée dans le texte : « %(label)s ». Remplacez "
                "%(written)s par la valeur avant l'envoi."
            ),
            {"label": prompt.label, "written": prompt.written},
        )
        for prompt in prompts.values()
    ]
