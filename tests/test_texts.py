"""Texts kept as a msgid and parameters: stored, read back, rendered in the active language."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext_lazy, gettext_noop

from courrier.languages import MailLanguage
from courrier.texts import (
    Lines,
    Sentence,
    Verbatim,
    render,
    text_error,
    text_load,
    text_of,
    texts_json,
    texts_of,
)

REFUSED = gettext_noop("Le serveur refuse le destinataire %(addresses)s.")


def test_a_sentence_is_stored_untranslated_and_read_in_each_language() -> None:
    said = Lines(Sentence(REFUSED, {"addresses": "a@b.test"}), Verbatim("550 5.1.1 Unknown"))
    with translation.override("nl"):
        stored = said.stored()  # whatever the writer's language
    assert "De server" not in stored
    back = text_load(stored)
    assert back == said
    with translation.override("en"):
        assert str(back) == "The server refuses the recipient a@b.test.\n550 5.1.1 Unknown"
    with translation.override("fr"):
        assert str(back) == "Le serveur refuse le destinataire a@b.test.\n550 5.1.1 Unknown"


def test_plain_text_and_a_providers_json_read_as_they_were_written() -> None:
    assert text_load("Ancienne explication.") == Verbatim("Ancienne explication.")
    assert str(text_load('{"errors": [{"message": "bad"}]}')) == '{"errors": [{"message": "bad"}]}'
    assert not text_load("")


def test_a_lazy_label_becomes_a_sentence_translated_when_shown() -> None:
    """Pins how Django keeps a lazy string's msgid (the language names of MailLanguage)."""
    said = Sentence(
        gettext_noop("Le modèle « %(template)s » n'a pas de version en %(language)s."),
        {"template": "Relance", "language": MailLanguage.NL.label},
    )
    again = text_load(said.stored())
    with translation.override("en"):
        assert str(again) == "The template ‘Relance’ has no version in Dutch."
    assert isinstance(text_of(gettext_lazy("Gmail")), Sentence)


def test_validation_errors_keep_their_msgid_when_they_can() -> None:
    error = ValidationError(
        [
            ValidationError(gettext_lazy("Champ inconnu {%(field)s}."), params={"field": "NOM"}),
            text_error(Sentence(REFUSED, {"addresses": "x@y.test"})),
            ValidationError("Déjà traduit."),
        ]
    )
    stored = texts_json(texts_of(error))
    with translation.override("en"):
        assert [render(item) for item in stored] == [
            "Unknown field {NOM}.",
            "The server refuses the recipient x@y.test.",
            "Déjà traduit.",
        ]


def test_a_translation_that_lost_a_placeholder_shows_the_french_sentence() -> None:
    said = Sentence(REFUSED, {"wrong": 1})
    assert str(said) == REFUSED  # never an exception on a page
