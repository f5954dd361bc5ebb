"""The standard phrase form: its name, who shares it, and one text per mail language."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from courrier.firm.models import Collaborator
from courrier.firm.permissions import is_firm_admin
from courrier.languages import MailLanguage
from courrier.mailing.editor import RichTextField, RichTextWidget
from courrier.mailing.models import Phrase
from courrier.mailing.phrases import LANGUAGES, phrase_check, phrase_save


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
