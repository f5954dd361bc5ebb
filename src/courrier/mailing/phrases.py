"""Standard phrases ("Texte" in the compose window): reads, writes and their form (the pages are
in `views/phrases.py`).

Who may do what, as for templates: firm phrases (no owner) are managed by administrators;
a collaborator manages their own; an administrator may share a personal phrase with the firm.
Everyone uses the firm's phrases, their own, and the shared ones.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from courrier.firm.models import Collaborator, Firm
from courrier.firm.permissions import is_firm_admin
from courrier.languages import MailLanguage
from courrier.mailing import rendering
from courrier.mailing.editor import RichTextField, RichTextWidget
from courrier.mailing.models import Phrase, PhraseVersion

# Phrases are written for mails to a client: their merge fields are checked in that context.
PHRASE_CONTEXT = "client"
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


# --- Form -----------------------------------------------------------------------------------


class PhraseForm(forms.Form):
    """A phrase and its texts, one per mail language."""

    name = forms.CharField(label=gettext_lazy("Nom"), max_length=200)
    firm_phrase = forms.BooleanField(
        label=gettext_lazy("Phrase du cabinet"),
        required=False,
        help_text=gettext_lazy("Utilisable par tous ; seuls les administrateurs la modifient."),
    )
    shared = forms.BooleanField(
        label=gettext_lazy("Partagée avec le cabinet"),
        required=False,
        help_text=gettext_lazy(
            "Une phrase personnelle que les autres collaborateurs peuvent utiliser."
        ),
    )

    def __init__(
        self, *args: Any, user: Collaborator, phrase: Phrase | None = None, **kwargs: Any
    ) -> None:
        self.user = user
        self.phrase = phrase
        if phrase is not None:
            initial = kwargs.setdefault("initial", {})
            initial.update(
                name=phrase.name, firm_phrase=phrase.owner_id is None, shared=phrase.shared
            )
            for version in phrase.versions.all():
                initial[f"text_{version.language}"] = version.text
        super().__init__(*args, **kwargs)
        for code in LANGUAGES:
            self.fields[f"text_{code}"] = RichTextField(
                label=gettext_lazy("Texte"),
                required=False,
                widget=RichTextWidget(attrs={"rows": 8, "data-merge-target": "", "lang": code}),
            )
        if not is_firm_admin(user):
            del self.fields["firm_phrase"]
            del self.fields["shared"]

    def language_panels(self) -> list[dict[str, Any]]:
        """One tab per language: its fields, whether it has errors, whether it is filled."""
        panels = []
        for code, label in MailLanguage.choices:
            text = self[f"text_{code}"]
            panels.append(
                {
                    "code": code,
                    "label": label,
                    "fields": [text],
                    "has_errors": bool(text.errors),
                    "filled": bool((text.value() or "").strip()),
                }
            )
        return panels

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        texts = {code: cleaned.get(f"text_{code}") or "" for code in LANGUAGES}
        filled = {code: text for code, text in texts.items() if text.strip()}
        if not filled:
            raise ValidationError(
                _("Écrivez la phrase dans au moins une langue."), code="no_language"
            )
        for code, error in phrase_check(texts=filled).items():
            self.add_error(f"text_{code}", error)
        return cleaned

    def save(self) -> Phrase:
        data = self.cleaned_data
        admin = "firm_phrase" in self.fields
        return phrase_save(
            phrase=self.phrase,
            owner=self.user,
            name=data["name"],
            texts={code: data[f"text_{code}"] for code in LANGUAGES},
            firm_phrase=bool(data["firm_phrase"]) if admin else None,
            shared=bool(data["shared"]) if admin else None,
        )
