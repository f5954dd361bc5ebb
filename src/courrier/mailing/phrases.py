"""Standard phrases ("Texte" in the compose window): reads and writes (the form is in
`forms/phrases.py`, the pages in `views/phrases.py`).

Who may do what, as for templates: firm phrases (no owner) are managed by administrators;
a collaborator manages their own; an administrator may share a personal phrase with the firm.
Everyone uses the firm's phrases, their own, and the shared ones.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from courrier.firm.models import Collaborator, Firm
from courrier.firm.permissions import is_firm_admin
from courrier.languages import MailLanguage
from courrier.mailing import rendering
from courrier.mailing.contexts import CLIENT_CONTEXT
from courrier.mailing.models import Phrase, PhraseVersion

# Phrases are written for mails to a client: their merge fields are checked in that context.
PHRASE_CONTEXT = CLIENT_CONTEXT
LANGUAGES = [code for code, _label in MailLanguage.choices]


# --- Selectors ------------------------------------------------------------------------------


def _with_versions(phrases: QuerySet[Phrase]) -> QuerySet[Phrase]:
    return phrases.select_related("owner").prefetch_related(
        Prefetch("versions", queryset=PhraseVersion.objects.order_by("language"))
    )


def phrases_for(*, user: Collaborator) -> QuerySet[Phrase]:
    """Phrases `user` may insert: the firm's, their own, and those others shared."""
    return _with_versions(
        Phrase.objects.filter(Q(owner__isnull=True) | Q(owner=user) | Q(shared=True))
    ).order_by("name", "id")


def phrases_visible(*, user: Collaborator) -> QuerySet[Phrase]:
    """Phrases on the phrases page: those `user` may insert; an administrator sees them all
    (to share a collaborator's phrase with the firm)."""
    if is_firm_admin(user):
        return _with_versions(Phrase.objects.all()).order_by("name", "id")
    return phrases_for(user=user)


def phrase_version_for(*, phrase: Phrase, language: str) -> tuple[PhraseVersion | None, bool]:
    """The version in `language`, else the firm's default language (fallback True), else None."""
    version = phrase.version(language)
    if version is not None:
        return version, False
    default = Firm.load().default_language
    if default != language:
        version = phrase.version(default)
        if version is not None:
            return version, True
    return None, False


def phrase_may_edit(*, user: Collaborator, phrase: Phrase) -> bool:
    if is_firm_admin(user):
        return True
    return phrase.owner_id is not None and phrase.owner_id == user.pk


# --- Services -------------------------------------------------------------------------------


def phrase_check(*, texts: dict[str, str]) -> dict[str, ValidationError]:
    """Per language, the error of a text that names an unknown merge field."""
    errors: dict[str, ValidationError] = {}
    for language, text in texts.items():
        try:
            rendering.check_fields(text, context=PHRASE_CONTEXT)
        except ValidationError as exc:
            errors[language] = exc
    return errors


@transaction.atomic
def phrase_save(
    *,
    phrase: Phrase | None,
    owner: Collaborator,
    name: str,
    texts: dict[str, str],
    firm_phrase: bool | None = None,
    shared: bool | None = None,
) -> Phrase:
    """Create or update a phrase with its texts (language -> text; a blank text removes that
    language; each text is stored as sanitised HTML, plain text with the light markup being
    converted). `firm_phrase` and `shared` are None when the person may not change them.
    Raises ValidationError when no language is filled or a text names an unknown field."""
    texts = {code: rendering.body_html(texts.get(code, "")) for code in LANGUAGES}
    filled = {code: text for code, text in texts.items() if text.strip()}
    if not filled:
        raise ValidationError(_("Écrivez la phrase dans au moins une langue."), code="no_language")
    errors = phrase_check(texts=filled)
    if errors:
        raise ValidationError(list(errors.values()))
    if phrase is None:
        phrase = Phrase(owner=owner)
    phrase.name = name.strip()
    if firm_phrase is not None:
        if firm_phrase:
            phrase.owner = None
        elif phrase.owner_id is None:
            phrase.owner = owner
    if shared is not None:
        phrase.shared = shared
    # A firm phrase is everyone's already: "shared" only means something on a personal one.
    phrase.shared = phrase.shared and phrase.owner_id is not None
    phrase.save()
    for code, text in texts.items():
        if code in filled:
            PhraseVersion.objects.update_or_create(
                phrase=phrase, language=code, defaults={"text": text}
            )
        else:
            PhraseVersion.objects.filter(phrase=phrase, language=code).delete()
    return phrase


def phrase_delete(*, phrase: Phrase) -> None:
    """Delete a phrase and its versions. Mails already written keep their text."""
    phrase.delete()
