"""What would leave a blank in a mail: a field its text uses whose value is empty, a value
still to type. Either blocks the mail: a person fills the data in, types the value, or takes
the passage out of the text; nothing is sent with a hole."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from django.utils.translation import gettext_noop

from courrier.mailing.fields import fields_for
from courrier.mailing.prompts import prompt_blockers
from courrier.mailing.rendering import fields_used
from courrier.texts import Sentence, Text


def holes(
    *,
    subject: str,
    body: str,
    values: Mapping[str, str],
    context: str,
    said: Collection[str] = (),
) -> list[Text]:
    """One sentence per blank (said in the reader's language when shown): each field the texts
    use whose value is empty here, named with its label, then each value still to type.
    `said`: fields whose blank the caller explains in its own words."""
    labels = {item.code: item.label for item in fields_for(context)}
    empty = [
        code
        for code in fields_used(subject + "\n" + body, context=context)
        if not values.get(code, "").strip() and code not in said
    ]
    return [
        *(
            Sentence(
                gettext_noop(
                    "Le champ {%(code)s} (%(label)s) est vide : le mail ne part pas avec un "
                    "blanc. Complétez la donnée, ou retirez ce passage du texte."
                ),
                {"code": code, "label": labels.get(code, code)},
            )
            for code in empty
        ),
        *prompt_blockers(subject, body),
    ]
