"""Standard phrases ("Texte"): the pages, who may do what, merge fields checked at save, the text
in the recipient's language (else the firm's default, flagged), and the compose window's picker."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as Browser
from django.urls import reverse

from courrier.firm.models import Collaborator, Firm
from courrier.mailing.models import Phrase, PhraseVersion
from courrier.mailing.phrases import phrase_save, phrases_for

PHRASES = reverse("mailing:phrases")
TEXT = reverse("mailing:phrase_text")
PICKER = reverse("mailing:phrase_picker")


def make_collaborator(email: str, **extra: Any) -> Collaborator:
    return Collaborator.objects.create_user(email, "login-pw-1234", **extra)


def login(collaborator: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(collaborator)
    return browser


def text_of(response: Any) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def make_phrase(
    name: str, owner: Collaborator | None = None, shared: bool = False, **texts: str
) -> Phrase:
    phrase = Phrase.objects.create(name=name, owner=owner, shared=shared)
    for language, text in texts.items():
        PhraseVersion.objects.create(phrase=phrase, language=language, text=text)
    return phrase


def form_data(name: str, **texts: str) -> dict[str, str]:
    data = {"name": name}
    for language in ("fr", "nl", "de", "en"):
        data[f"text_{language}"] = texts.get(language, "")
    return data


@pytest.fixture
def anne(db: None) -> Collaborator:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    return make_collaborator("anne@fidu.be", first_name="Anne", last_name="Martin")


@pytest.fixture
def luc(db: None) -> Collaborator:
    return make_collaborator("luc@fidu.be", first_name="Luc", last_name="Peeters")


@pytest.fixture
def boss(db: None) -> Collaborator:
    return make_collaborator(
        "chef@fidu.be", first_name="Claire", last_name="Chef", role=Collaborator.Role.ADMIN
    )


# --- The list -------------------------------------------------------------------------------


def test_the_list_shows_firm_own_and_shared_phrases_with_missing_languages(
    anne: Collaborator, luc: Collaborator
) -> None:
    make_phrase("Salutations", fr="Bien à vous,", nl="Met vriendelijke groeten,")
    make_phrase("Rappel TVA", owner=anne, fr="N'oubliez pas la TVA.")
    make_phrase("Documents manquants", owner=luc, shared=True, fr="Il nous manque...")
    make_phrase("Brouillon de Luc", owner=luc, fr="Pas pour les autres.")

    response = login(anne).get(PHRASES)

    assert response.status_code == 200
    text = text_of(response)
    assert "Salutations" in text and "Rappel TVA" in text and "Documents manquants" in text
    assert "Brouillon de Luc" not in text
    html = response.content.decode()
    # Salutations: fr and nl present; de and en shown as missing.
    row = html[html.index("Salutations") : html.index("</tr>", html.index("Salutations"))]
    assert (
        'title="pas de version en allemand"' in row and 'title="pas de version en anglais"' in row
    )
    assert 'title="pas de version en néerlandais"' not in row


def test_an_admin_sees_every_phrase_and_may_edit_them(
    boss: Collaborator, luc: Collaborator
) -> None:
    phrase = make_phrase("Brouillon de Luc", owner=luc, fr="Texte.")
    browser = login(boss)
    assert "Brouillon de Luc" in text_of(browser.get(PHRASES))
    assert browser.get(reverse("mailing:phrase_edit", args=[phrase.pk])).status_code == 200


# --- Create / edit / delete -----------------------------------------------------------------


def test_a_collaborator_creates_a_personal_phrase(anne: Collaborator) -> None:
    response = login(anne).post(
        reverse("mailing:phrase_create"),
        form_data("Salutations", fr="Bien à vous,\n{NOMCLIENT}", en="Kind regards,"),
    )

    assert response.status_code == 302
    phrase = Phrase.objects.get()
    assert phrase.owner == anne and not phrase.shared
    # Typed without the editor (plain text): stored as the editor's HTML, the field kept.
    assert {v.language: v.text for v in phrase.versions.all()} == {
        "fr": "<p>Bien à vous,<br>{NOMCLIENT}</p>",
        "en": "<p>Kind regards,</p>",
    }


def test_a_collaborator_cannot_make_a_firm_phrase_nor_share(anne: Collaborator) -> None:
    data = form_data("Salutations", fr="Bien à vous,")
    data.update(firm_phrase="on", shared="on")
    login(anne).post(reverse("mailing:phrase_create"), data)

    phrase = Phrase.objects.get()
    assert phrase.owner == anne and not phrase.shared


def test_an_admin_makes_a_firm_phrase(boss: Collaborator) -> None:
    data = form_data("Salutations", fr="Bien à vous,")
    data["firm_phrase"] = "on"
    login(boss).post(reverse("mailing:phrase_create"), data)

    assert Phrase.objects.get().owner is None


def test_an_admin_shares_a_collaborators_phrase(boss: Collaborator, anne: Collaborator) -> None:
    phrase = make_phrase("Rappel", owner=anne, fr="Rappel.")
    data = form_data("Rappel", fr="Rappel.")
    data["shared"] = "on"
    login(boss).post(reverse("mailing:phrase_edit", args=[phrase.pk]), data)

    phrase.refresh_from_db()
    assert phrase.owner == anne and phrase.shared
    assert phrase in phrases_for(user=make_collaborator("paul@fidu.be"))


def test_a_collaborator_edits_their_phrase_and_empties_a_language(anne: Collaborator) -> None:
    phrase = make_phrase(
        "Salutations", owner=anne, fr="Bien à vous,", nl="Met vriendelijke groeten,"
    )
    login(anne).post(
        reverse("mailing:phrase_edit", args=[phrase.pk]),
        form_data("Salutations cordiales", fr="Cordialement,"),
    )

    phrase.refresh_from_db()
    assert phrase.name == "Salutations cordiales"
    assert [(v.language, v.text) for v in phrase.versions.all()] == [("fr", "<p>Cordialement,</p>")]


def test_a_collaborator_may_not_edit_nor_delete_a_firm_phrase(anne: Collaborator) -> None:
    phrase = make_phrase("Salutations", fr="Bien à vous,")
    browser = login(anne)

    edit = browser.post(reverse("mailing:phrase_edit", args=[phrase.pk]), form_data("X", fr="Y"))
    delete = browser.post(reverse("mailing:phrase_delete", args=[phrase.pk]))

    assert edit.status_code == 403 and delete.status_code == 403
    assert "vous pouvez l'utiliser mais pas la modifier" in text_of(edit)
    assert Phrase.objects.get().name == "Salutations"


def test_a_collaborator_may_not_edit_a_colleagues_shared_phrase(
    anne: Collaborator, luc: Collaborator
) -> None:
    phrase = make_phrase("Documents", owner=luc, shared=True, fr="Il nous manque...")
    browser = login(anne)
    assert browser.get(reverse("mailing:phrase_edit", args=[phrase.pk])).status_code == 403


def test_a_colleagues_private_phrase_is_a_404(anne: Collaborator, luc: Collaborator) -> None:
    phrase = make_phrase("Brouillon", owner=luc, fr="Privé.")
    browser = login(anne)
    assert browser.get(reverse("mailing:phrase_edit", args=[phrase.pk])).status_code == 404
    response = browser.get(TEXT, {"phrase": phrase.pk, "language": "fr"})
    assert response.status_code == 404


def test_deleting_asks_then_deletes(anne: Collaborator) -> None:
    phrase = make_phrase("Salutations", owner=anne, fr="Bien à vous,")
    browser = login(anne)
    url = reverse("mailing:phrase_delete", args=[phrase.pk])

    assert "Supprimer la phrase « Salutations » ?" in text_of(browser.get(url))
    assert Phrase.objects.exists()
    response = browser.post(url, follow=True)

    assert not Phrase.objects.exists() and not PhraseVersion.objects.exists()
    assert "La phrase « Salutations » est supprimée." in text_of(response)


# --- Validation -----------------------------------------------------------------------------


def test_an_unknown_field_is_named_with_the_nearest_one(anne: Collaborator) -> None:
    response = login(anne).post(
        reverse("mailing:phrase_create"), form_data("Salutations", nl="Beste {NOMCLIEN},")
    )

    assert response.status_code == 200
    assert "Champ inconnu {NOMCLIEN} : vouliez-vous dire {NOMCLIENT} ?" in text_of(response)
    assert not Phrase.objects.exists()


def test_text_in_other_braces_is_plain_text(anne: Collaborator) -> None:
    login(anne).post(
        reverse("mailing:phrase_create"), form_data("Annexe", fr="Voir {voir annexe}.")
    )
    assert Phrase.objects.get().version("fr").text == "<p>Voir {voir annexe}.</p>"  # type: ignore[union-attr]


def test_a_phrase_needs_a_name_and_one_language(anne: Collaborator) -> None:
    response = login(anne).post(reverse("mailing:phrase_create"), form_data("", fr="   "))

    assert response.status_code == 200
    assert "Écrivez la phrase dans au moins une langue." in text_of(response)
    assert not Phrase.objects.exists()


def test_the_service_checks_fields_too(anne: Collaborator) -> None:
    with pytest.raises(ValidationError):
        phrase_save(phrase=None, owner=anne, name="X", texts={"fr": "{INCONNU}"})
    with pytest.raises(ValidationError):
        phrase_save(phrase=None, owner=anne, name="X", texts={})
    assert not Phrase.objects.exists()


def test_the_form_page_has_a_tab_per_language_and_the_field_picker(anne: Collaborator) -> None:
    response = login(anne).get(reverse("mailing:phrase_create"))

    html = response.content.decode()
    for code in ("fr", "nl", "de", "en"):
        assert f'data-tab="{code}"' in html and f'name="text_{code}"' in html
    assert "data-merge-picker" in html and "{NOMCLIENT}" in unescape(html)
    assert 'name="firm_phrase"' not in html


# --- The text in a language -----------------------------------------------------------------


def test_the_text_in_the_asked_language(anne: Collaborator) -> None:
    phrase = make_phrase("Salutations", fr="Bien à vous,", nl="Met vriendelijke groeten,")

    data = login(anne).get(TEXT, {"phrase": phrase.pk, "language": "nl"}).json()

    assert data["text"] == "<p>Met vriendelijke groeten,</p>"
    assert data["language"] == "nl" and data["fallback"] is False and data["notice"] == ""


def test_the_firms_default_language_is_flagged(anne: Collaborator) -> None:
    Firm.objects.filter(pk=1).update(default_language="nl")
    phrase = make_phrase("Salutations", fr="Bien à vous,", nl="Met vriendelijke groeten,")

    response = login(anne).get(TEXT, {"phrase": phrase.pk, "language": "de"})

    data = response.json()
    assert response.status_code == 200
    assert data["text"] == "<p>Met vriendelijke groeten,</p>" and data["language"] == "nl"
    assert data["fallback"] is True and data["requested_language"] == "de"
    assert "n'existe pas en allemand" in data["notice"]


def test_no_text_in_the_language_nor_the_default_is_an_error(anne: Collaborator) -> None:
    phrase = make_phrase("Salutations", en="Kind regards,")

    response = login(anne).get(TEXT, {"phrase": phrase.pk, "language": "de"})

    assert response.status_code == 404
    assert "n'existe ni en allemand ni dans la langue par défaut" in response.json()["error"]


@pytest.mark.parametrize(
    "query",
    [
        {"phrase": "abc", "language": "fr"},
        {"phrase": "99999", "language": "fr"},
        {"phrase": "1" * 40, "language": "fr"},
        {"phrase": "-1", "language": "fr"},
        {"language": "fr"},
    ],
)
def test_garbage_phrase_ids_are_404(anne: Collaborator, query: dict[str, str]) -> None:
    make_phrase("Salutations", fr="Bien à vous,")
    response = login(anne).get(TEXT, query)
    assert response.status_code == 404 and "error" in response.json()


def test_an_unknown_language_is_400(anne: Collaborator) -> None:
    phrase = make_phrase("Salutations", fr="Bien à vous,")
    response = login(anne).get(TEXT, {"phrase": phrase.pk, "language": "xx"})
    assert response.status_code == 400 and response.json()["error"] == "Langue inconnue."


@pytest.mark.parametrize("suffix", ["abc/", "99999/", "99999/supprimer/", "1/supprimer/x/"])
def test_garbage_in_paths_is_404(anne: Collaborator, suffix: str) -> None:
    assert login(anne).get(PHRASES + suffix).status_code == 404


def test_the_pages_need_a_login(db: None) -> None:
    for url in (PHRASES, TEXT, PICKER, reverse("mailing:phrase_create")):
        response = Browser().get(url)
        assert response.status_code == 302 and "/connexion/" in response["Location"]


# --- The compose window's picker ------------------------------------------------------------


def test_the_picker_lists_what_the_user_may_insert_marked_by_language(
    anne: Collaborator, luc: Collaborator
) -> None:
    firm = make_phrase("Salutations", fr="Bien à vous,", nl="Met vriendelijke groeten,")
    mine = make_phrase("Rappel", owner=anne, fr="Rappel.")
    english = make_phrase("English only", owner=anne, en="Only English.")
    make_phrase("Brouillon de Luc", owner=luc, nl="Privé.")

    response = login(anne).get(PICKER, {"language": "nl"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html  # a partial
    assert f'data-phrase-text-url="{TEXT}"' in html and 'data-language="nl"' in html
    assert "Brouillon de Luc" not in html
    assert re.search(rf'<option value="{firm.pk}">Salutations</option>', html)
    # In French only (the firm's default): offered, flagged.
    assert re.search(
        rf'<option value="{mine.pk}">Rappel \(pas en néerlandais : fr\)</option>', html
    )
    # Neither in Dutch nor in French: shown, but cannot be chosen.
    assert re.search(rf'<option value="{english.pk}" disabled>English only', html)
    assert "Phrases du cabinet" in html and "Mes phrases" in html


def test_the_picker_without_phrases_links_to_the_page(anne: Collaborator) -> None:
    response = login(anne).get(PICKER, {"language": "zz"})
    assert "Aucune phrase type pour l'instant." in text_of(response)
    assert f'href="{PHRASES}"' in response.content.decode()
