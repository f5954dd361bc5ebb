"""The mail template form (create, edit; one text per mail language)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from courrier.firm.models import Collaborator
from courrier.languages import MailLanguage
from courrier.mailing import rendering
from courrier.mailing.editor import RichTextField, RichTextWidget
from courrier.mailing.fields import fields_for
from courrier.mailing.models import MailTemplate, MailTemplateVersion
from courrier.validators import validate_header_text

# --- Templates ------------------------------------------------------------------------------


def _has_catalogue(context: str) -> bool:
    try:
        fields_for(context)
    except ValueError:
        return False
    return True


class MailTemplateForm(forms.Form):
    """A template and its versions, one subject and body per mail language."""

    name = forms.CharField(label=_("Nom"), max_length=200)
    context = forms.ChoiceField(label=_("Contexte"), choices=MailTemplate.Context.choices)
    firm_template = forms.BooleanField(
        label=_("Modèle du cabinet"),
        required=False,
        help_text=_("Utilisable par tous ; seuls les administrateurs le modifient."),
    )
    shared = forms.BooleanField(
        label=_("Partagé avec le cabinet"),
        required=False,
        help_text=_("Un modèle personnel que les autres collaborateurs peuvent utiliser."),
    )

    languages = [code for code, _label in MailLanguage.choices]

    def __init__(
        self,
        *args: Any,
        user: Collaborator,
        template: MailTemplate | None = None,
        **kwargs: Any,
    ) -> None:
        self.user = user
        self.template = template
        if template is not None:
            initial = kwargs.setdefault("initial", {})
            initial.update(
                name=template.name,
                context=template.context,
                firm_template=template.owner_id is None,
                shared=template.shared,
            )
            for version in template.versions.all():
                initial[f"subject_{version.language}"] = version.subject
                initial[f"body_{version.language}"] = version.body
        super().__init__(*args, **kwargs)
        # Only contexts with a merge-field catalogue can be checked, hence offered.
        context_field = self.fields["context"]
        assert isinstance(context_field, forms.ChoiceField)
        context_field.choices = [
            (value, label)
            for value, label in MailTemplate.Context.choices
            if _has_catalogue(value) or (template is not None and template.context == value)
        ]
        # Changing the context shows its fields (the picker reloads; no script of ours).
        context_field.widget.attrs.update(
            {
                "hx-get": reverse("mailing:template_fields"),
                "hx-target": "#template-merge-fields",
                "hx-swap": "innerHTML",
                "hx-trigger": "change",
            }
        )
        for code, _label in MailLanguage.choices:
            self.fields[f"subject_{code}"] = forms.CharField(
                label=_("Sujet"),
                max_length=255,
                required=False,
                widget=forms.TextInput(attrs={"data-merge-target": "", "lang": code}),
            )
            self.fields[f"body_{code}"] = RichTextField(
                label=_("Contenu"),
                required=False,
                widget=RichTextWidget(attrs={"data-merge-target": "", "lang": code}),
            )
        if not user.is_firm_admin:
            del self.fields["firm_template"]
            del self.fields["shared"]

    def language_panels(self) -> list[dict[str, Any]]:
        """For the template: one tab per language with its two fields and whether it has errors."""
        panels = []
        for code, label in MailLanguage.choices:
            subject = self[f"subject_{code}"]
            body = self[f"body_{code}"]
            panels.append(
                {
                    "code": code,
                    "label": label,
                    "subject": subject,
                    "body": body,
                    "has_errors": bool(subject.errors or body.errors),
                    "filled": bool(subject.value() or body.value()),
                }
            )
        return panels

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        context = cleaned.get("context") or MailTemplate.Context.CLIENT
        filled = 0
        for code in self.languages:
            subject = (cleaned.get(f"subject_{code}") or "").strip()
            body = cleaned.get(f"body_{code}") or ""
            cleaned[f"subject_{code}"] = subject
            if not subject and not body.strip():
                continue
            filled += 1
            if not subject:
                self.add_error(f"subject_{code}", gettext("Le sujet manque pour cette langue."))
            if not body.strip():
                self.add_error(f"body_{code}", gettext("Le contenu manque pour cette langue."))
            for name, text in ((f"subject_{code}", subject), (f"body_{code}", body)):
                if not text:
                    continue
                try:
                    if name.startswith("subject_"):
                        validate_header_text(text)
                    rendering.check_fields(text, context=context)
                except ValidationError as exc:
                    self.add_error(name, exc)
        if not filled:
            raise ValidationError(
                gettext("Écrivez le modèle dans au moins une langue."), code="no_language"
            )
        return cleaned

    @transaction.atomic
    def save(self) -> MailTemplate:
        data = self.cleaned_data
        template = self.template or MailTemplate(owner=self.user)
        template.name = data["name"]
        template.context = data["context"]
        if "firm_template" in self.fields:
            if data["firm_template"]:
                template.owner = None
            elif template.owner_id is None:
                template.owner = self.user
            template.shared = bool(data["shared"]) and template.owner_id is not None
        template.save()
        for code in self.languages:
            subject = data[f"subject_{code}"]
            body = data[f"body_{code}"]
            if subject and body.strip():
                MailTemplateVersion.objects.update_or_create(
                    template=template, language=code, defaults={"subject": subject, "body": body}
                )
            else:
                MailTemplateVersion.objects.filter(template=template, language=code).delete()
        return template
