"""Values a phrase or a template asks for: {?label} and {?date:label}, read as the window reads
them, and what the check says of one left in the text."""

from django.utils import translation

from courrier.mailing.prompts import Prompt, prompt_blockers, prompts_in


def test_questions_are_read_once_each_with_their_kind() -> None:
    text = (
        "<p>Avant le {?date:date limite} ({?date:date limite}), {?Montant} ; "
        "vóór {?datum:uiterste datum} ; {?Montant: à convenir} ; {?} {voir annexe}</p>"
    )

    assert prompts_in(text) == [
        Prompt("{?date:date limite}", "date limite", True),
        Prompt("{?Montant}", "Montant", False),
        Prompt("{?datum:uiterste datum}", "uiterste datum", True),
        Prompt("{?Montant: à convenir}", "Montant: à convenir", False),
    ]


def test_a_label_read_from_html_is_shown_as_written() -> None:
    assert prompts_in("<p>{?Frais &amp; débours}</p>")[0].label == "Frais & débours"


def test_a_question_left_in_the_text_is_said_in_the_reader_s_language() -> None:
    [blocker] = prompt_blockers("Sujet", "<p>Avant le {?date:date limite}</p>")

    with translation.override("fr"):
        assert str(blocker) == (
            "Une valeur à saisir est restée dans le texte : « date limite ». Remplacez "
            "{?date:date limite} par la valeur avant l'envoi."
        )
