"""The interface in Dutch and English: every string translated, placeholders kept, the compiled
catalogues up to date, and pages read in the collaborator's language. German is a mail language
only: its catalogue translates every word of mails, PDFs and link pages (`l10n.MAIL_CONTEXTS`),
and no page of the interface is ever shown in German."""

from __future__ import annotations

import gettext
import re
import shutil
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse
from django.utils import translation
from django.utils.translation import ngettext

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.l10n import MAIL_CONTEXTS

SOURCE = Path(__file__).resolve().parent.parent / "src" / "courrier"
LOCALE = SOURCE / "locale"
# French is the source language: its catalogue repeats each msgid (msgen), only so that plurals
# follow the French rule (0 and 1 are singular), which gettext cannot know without one.
LANGUAGES = ["nl", "en", "fr"]
# Mails also go out in German, which the interface does not speak.
MAIL_ONLY = "de"
PLACEHOLDER = re.compile(r"%\([^)]+\)[a-z]|%[sd]|\{[A-Z][A-Z0-9_]*\}")


@dataclass
class Entry:
    msgid: str
    msgctxt: str | None = None
    plural: str | None = None
    msgstrs: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def _unquote(text: str) -> str:
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), text)


def read_po(path: Path) -> list[Entry]:
    """A small .po reader: enough for the catalogues makemessages writes (no obsolete entries
    read, no previous-msgid comments kept)."""
    entries: list[Entry] = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        flags: list[str] = []
        current = None
        for line in block.splitlines():
            if line.startswith("#,"):
                flags += [flag.strip() for flag in line[2:].split(",")]
            elif line.startswith("#"):
                continue
            elif line.startswith('"') and current is not None:
                fields[current] += _unquote(line.strip()[1:-1])
            else:
                keyword, _space, value = line.partition(" ")
                current = keyword
                fields[current] = _unquote(value.strip()[1:-1])
        if "msgid" not in fields or fields["msgid"] == "":
            continue  # the header, or only comments
        msgstrs = [fields["msgstr"]] if "msgstr" in fields else []
        index = 0
        while f"msgstr[{index}]" in fields:
            msgstrs.append(fields[f"msgstr[{index}]"])
            index += 1
        entries.append(
            Entry(
                msgid=fields["msgid"],
                msgctxt=fields.get("msgctxt"),
                plural=fields.get("msgid_plural"),
                msgstrs=msgstrs,
                flags=flags,
            )
        )
    return entries


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def untranslated(entries: list[Entry]) -> list[str]:
    return [
        entry.msgid
        for entry in entries
        if "fuzzy" in entry.flags or not entry.msgstrs or not all(entry.msgstrs)
    ]


def mail_entries(entries: list[Entry]) -> list[Entry]:
    """The entries a client reads: words of mails, PDFs and link pages."""
    return [entry for entry in entries if entry.msgctxt in MAIL_CONTEXTS]


@pytest.fixture(scope="module", params=[*LANGUAGES, MAIL_ONLY])
def catalogue(request: pytest.FixtureRequest) -> tuple[str, list[Entry]]:
    """A catalogue, as much of it as must be translated: all of it for an interface language,
    the mail contexts' entries for German."""
    language = request.param
    entries = read_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    return language, mail_entries(entries) if language == MAIL_ONLY else entries


def test_the_catalogues_are_not_empty(catalogue: tuple[str, list[Entry]]) -> None:
    language, entries = catalogue
    assert len(entries) > (80 if language == MAIL_ONLY else 500)


@pytest.mark.parametrize("language", [*LANGUAGES, MAIL_ONLY])
def test_every_mail_context_has_its_words_in_each_mail_language(language: str) -> None:
    entries = mail_entries(read_po(LOCALE / language / "LC_MESSAGES" / "django.po"))
    assert {entry.msgctxt for entry in entries} == set(MAIL_CONTEXTS)


def test_every_string_is_translated(catalogue: tuple[str, list[Entry]]) -> None:
    _language, entries = catalogue
    assert untranslated(entries) == []


def test_placeholders_are_kept(catalogue: tuple[str, list[Entry]]) -> None:
    _language, entries = catalogue
    wrong = []
    for entry in entries:
        if entry.plural is None:
            if placeholders(entry.msgstrs[0]) != placeholders(entry.msgid):
                wrong.append((entry.msgid, entry.msgstrs[0]))
            continue
        # A singular form may leave the number out ("un message" / "%(count)s messages").
        allowed = placeholders(entry.msgid) | placeholders(entry.plural)
        last = entry.msgstrs[-1]
        if placeholders(last) != placeholders(entry.plural) or any(
            not placeholders(form) <= allowed for form in entry.msgstrs
        ):
            wrong.append((entry.msgid, last))
    assert wrong == []


def test_line_ends_and_edges_match(catalogue: tuple[str, list[Entry]]) -> None:
    """A msgid ending with a new line or a space keeps it: the text is joined to others."""
    _language, entries = catalogue
    wrong = [
        entry.msgid
        for entry in entries
        for form in entry.msgstrs
        if form.endswith("\n") != entry.msgid.endswith("\n")
        or form.endswith(" ") != entry.msgid.endswith(" ")
    ]
    assert wrong == []


def test_the_compiled_catalogue_matches_the_po_file(catalogue: tuple[str, list[Entry]]) -> None:
    """CI has no gettext tools: the committed .mo is what runs, so it must be the .po's."""
    language, entries = catalogue
    with (LOCALE / language / "LC_MESSAGES" / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in entries:
        prefix = f"{entry.msgctxt}\x04" if entry.msgctxt is not None else ""
        if entry.plural is None:
            if compiled._catalog.get(prefix + entry.msgid) != entry.msgstrs[0]:  # type: ignore[attr-defined]
                stale.append(entry.msgid)
        else:
            for index, form in enumerate(entry.msgstrs):
                if compiled._catalog.get((prefix + entry.msgid, index)) != form:  # type: ignore[attr-defined]
                    stale.append(entry.msgid)
    assert stale == [], "run `django-admin compilemessages` in src/courrier"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext (xgettext)")
def test_every_string_of_the_source_is_in_the_catalogues(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """makemessages on a copy of the source finds no string the catalogues lack."""
    copy = tmp_path / "courrier"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    settings.LOCALE_PATHS = [copy / "locale"]
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=[*LANGUAGES, MAIL_ONLY], no_location=True, verbosity=0)
    for language in [*LANGUAGES, MAIL_ONLY]:
        entries = read_po(copy / "locale" / language / "LC_MESSAGES" / "django.po")
        if language == MAIL_ONLY:
            entries = mail_entries(entries)
        missing = untranslated(entries)
        assert missing == [], f"{language}: run makemessages and translate these"


# --- Pages in the collaborator's language ---------------------------------------------------


def text_of(response: Any) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def french_left(text: str, language: str) -> list[str]:
    """Sentences of our French catalogue that still show on a page meant for `language`."""
    entries = read_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    return sorted(
        entry.msgid
        for entry in entries
        if entry.plural is None
        and entry.msgid != entry.msgstrs[0]
        and " " in entry.msgid
        and len(entry.msgid) >= 12
        and "%" not in entry.msgid
        and entry.msgid in text
    )


@pytest.fixture
def pages_data(db: None) -> None:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    client = Client.objects.create(
        number="C0042", name="Boulangerie Dupont", legal_form="SRL", language="nl"
    )
    ClientEmail.objects.create(client=client, address="marie@dupont.be")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nl", ["Klanten", "Mijn fiche", "Nieuwe klant", "papier"]),
        ("en", ["Clients", "My details", "New client", "paper"]),
    ],
)
def test_the_client_list_speaks_the_collaborators_language(
    pages_data: None, language: str, expected: list[str]
) -> None:
    user = Collaborator.objects.create_user("jan@fidu.be", "pw-123456789", language=language)
    browser = Browser()
    browser.force_login(user)

    text = text_of(browser.get(reverse("clients:list")))

    for words in expected:
        assert words in text
    assert "Boulangerie Dupont" in text
    assert french_left(text, language) == []
    assert "Nouveau client" not in text and "Ma fiche" not in text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nl", ["Mijn fiche", "Contactgegevens", "Verzendmethode", "Afmelden"]),
        ("en", ["My details", "Contact details", "Sending method", "Log out"]),
    ],
)
def test_ma_fiche_speaks_the_collaborators_language(
    pages_data: None, language: str, expected: list[str]
) -> None:
    user = Collaborator.objects.create_user("jan@fidu.be", "pw-123456789", language=language)
    browser = Browser()
    browser.force_login(user)

    response = browser.get(reverse("mailing:my_profile"))

    assert response.status_code == 200
    text = text_of(response)
    for words in expected:
        assert words in text
    assert french_left(text, language) == []
    assert f'lang="{language}"' in response.content.decode()


def test_a_french_collaborator_keeps_french(pages_data: None) -> None:
    user = Collaborator.objects.create_user("anne@fidu.be", "pw-123456789", language="fr")
    browser = Browser()
    browser.force_login(user)
    text = text_of(browser.get(reverse("clients:list")))
    assert "Ma fiche" in text and "Mijn fiche" not in text


def test_french_counts_zero_and_one_in_the_singular() -> None:
    with translation.override("fr"):
        assert ngettext("%(count)s prêt", "%(count)s prêts", 0) == "%(count)s prêt"
        assert ngettext("%(count)s prêt", "%(count)s prêts", 1) == "%(count)s prêt"
        assert ngettext("%(count)s prêt", "%(count)s prêts", 2) == "%(count)s prêts"


# --- German: mails, never pages ----------------------------------------------------------


def test_the_interface_speaks_french_dutch_and_english_only(settings: Any) -> None:
    assert [code for code, _name in settings.LANGUAGES] == ["fr", "nl", "en"]


def test_a_browser_asking_for_german_gets_the_french_interface(db: None) -> None:
    browser = Browser(HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")

    response = browser.get(reverse("login"))

    assert response.status_code == 200
    assert 'lang="fr"' in response.content.decode()


def test_a_collaborator_stored_with_a_mail_only_language_gets_french_pages(
    pages_data: None,
) -> None:
    user = Collaborator.objects.create_user("anne@fidu.be", "pw-123456789", language="fr")
    Collaborator.objects.filter(pk=user.pk).update(language="de")  # as an old import might
    browser = Browser()
    browser.force_login(user)

    response = browser.get(reverse("clients:list"))

    assert response.status_code == 200
    assert 'lang="fr"' in response.content.decode()
    assert "Ma fiche" in text_of(response)


def test_german_words_come_from_the_german_catalogue() -> None:
    with translation.override("de"):
        assert translation.pgettext("mail", "Madame, Monsieur") == "Sehr geehrte Damen und Herren"
        assert translation.pgettext("invoice pdf", "Total à payer") == "Zu zahlen"
        # An interface string has no German: it is never shown to anyone in German.
        assert translation.gettext("Nouveau client") == "Nouveau client"
