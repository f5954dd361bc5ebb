"""The language of a mail: one rule for one client, a selection and the objects of a list.

A mail is written wholly in one language: its text, its salutation, its dates and amounts. It
is the recipient's (an object's own, such as an invoice's, before the client's) when the text
exists in it: the template's version in that language, or the window's text written in it.
Otherwise the recipient is blocked, unless the window allows another language; the mail then
goes wholly in the window's language, and the pre-send check says so.

What the check says is a `Text`: a batch stores it and its page says it in its reader's
language.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy, gettext_noop

from courrier.languages import MailLanguage
from courrier.mailing.models import MailTemplate
from courrier.texts import Lines, Sentence, Text, text_of

# The window's checkbox (ComposeOptions.other_language), as the messages name it.
OTHER_LANGUAGE = gettext_lazy("Autoriser une autre langue que celle du client")


def language_name(code: str) -> Text | str:
    """A mail language's name, said in the reader's language."""
    try:
        return text_of(MailLanguage(code).label)
    except ValueError:
        return code


def _names(codes: list[str]) -> Text:
    return Lines(*(language_name(code) for code in codes), sep=", ") if codes else text_of("-")


def missing_version(template: MailTemplate, language: str, written_in: str) -> Text:
    """Why a recipient gets nothing from a template without a version in its language: the
    versions that exist, and what would let it go."""
    present = template.languages()
    reason = Sentence(
        gettext_noop(
            "Le modèle « %(template)s » n'a pas de version en %(language)s (il existe en : "
            "%(present)s)."
        ),
        {
            "template": template.name,
            "language": language_name(language),
            "present": _names(present),
        },
    )
    if written_in not in present:
        return reason
    return Lines(
        reason,
        Sentence(
            gettext_noop(
                "Ajoutez cette version au modèle, ou cochez « %(option)s » : ce client recevra "
                "alors la version en %(written)s."
            ),
            {"option": OTHER_LANGUAGE, "written": language_name(written_in)},
        ),
        sep=" ",
    )


def language_rule(
    *, own_language: str, language: str, allowed: bool
) -> tuple[list[Text], list[Text]]:
    """A mail in `language` to a recipient who reads `own_language`: (blockers, warnings).
    Nothing when they are the same; blocked when they differ, unless `allowed`, then a
    warning."""
    if language == own_language:
        return [], []
    values = {
        "client_language": language_name(own_language),
        "language": language_name(language),
        "option": OTHER_LANGUAGE,
    }
    if not allowed:
        return [
            Sentence(
                gettext_noop(
                    "Langue de ce client : %(client_language)s ; le texte est en %(language)s. "
                    "Écrivez-le en %(client_language)s, ou cochez « %(option)s » pour le lui "
                    "envoyer tout entier en %(language)s."
                ),
                values,
            )
        ], []
    return [], [
        Sentence(
            gettext_noop(
                "Langue de ce client : %(client_language)s ; ce mail part tout entier en "
                "%(language)s (formule d'appel, dates et montants compris)."
            ),
            values,
        )
    ]
