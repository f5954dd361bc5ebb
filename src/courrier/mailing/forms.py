"""Forms of the mailing screens: Ma fiche, the compose window, the templates."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.languages import MailLanguage
from courrier.mailing import rendering
from courrier.mailing.fields import fields_for
from courrier.mailing.models import MailTemplate, MailTemplateVersion, SendingProfile
from courrier.mailing.selectors import templates_for
from courrier.validators import validate_header_text

# --- Ma fiche -------------------------------------------------------------------------------


class CollaboratorDetailsForm(forms.ModelForm):
    """The collaborator's own details: name, phone, interface language, signature."""

    class Meta:
        model = Collaborator
        fields = ["first_name", "last_name", "phone", "language", "signature"]
        widgets = {"signature": forms.Textarea(attrs={"rows": 5})}
        help_texts = {
            "signature": _("Ajoutée en bas de chaque mail que vous envoyez."),
        }


class SendingProfileForm(forms.ModelForm):
    """How the collaborator sends. The password is write-only: never put back into the page."""

    password = forms.CharField(
        label=_("Mot de passe"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_password = forms.BooleanField(
        label=_("Effacer le mot de passe enregistré"), required=False
    )

    class Meta:
        model = SendingProfile
        fields = [
            "method",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "smtp_username",
            "from_name",
            "from_address",
            "reply_to",
        ]
        help_texts = {
            "smtp_host": _("Demandez-le à la personne qui gère vos boîtes mail."),
            "smtp_port": _("Souvent 587 avec STARTTLS, 465 avec SSL/TLS."),
        }

    def __init__(self, *args: Any, has_password: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_password = has_password
        if has_password:
            self.fields["password"].help_text = _("enregistré — laisser vide pour le conserver")
        else:
            self.fields["password"].help_text = _("Aucun mot de passe enregistré.")
            del self.fields["clear_password"]
        self.fields["smtp_host"].required = True
        # The password belongs next to the login, not after the addresses.
        self.order_fields(
            [
                "method",
                "smtp_host",
                "smtp_port",
                "smtp_security",
                "smtp_username",
                "password",
                "clear_password",
            ]
        )

    def clean_smtp_port(self) -> int:
        port = self.cleaned_data["smtp_port"]
        if not 1 <= port <= 65535:
            raise ValidationError(_("Le port est un nombre entre 1 et 65535."), code="port")
        return int(port)

    def clean_smtp_host(self) -> str:
        host = str(self.cleaned_data["smtp_host"]).strip()
        validate_header_text(host)
        if " " in host:
            raise ValidationError(_("Le nom du serveur ne contient pas d'espace."), code="host")
        return host

    def clean_from_name(self) -> str:
        value = str(self.cleaned_data["from_name"])
        validate_header_text(value)
        return value

    def clean_password(self) -> str:
        value = str(self.cleaned_data["password"])
        if any(ch in value for ch in "\r\n\x00"):
            raise ValidationError(
                _("Le mot de passe ne peut pas contenir de retour à la ligne."), code="password"
            )
        return value

    def save(self, commit: bool = True) -> SendingProfile:
        profile = super().save(commit=False)
        new_password = self.cleaned_data.get("password") or ""
        if new_password:
            profile.smtp_password = new_password
        elif self.cleaned_data.get("clear_password"):
            profile.smtp_password = ""
        # An empty field keeps what is stored: the field stays deferred and is not written.
        if commit:
            profile.save()
        return profile


# --- Compose --------------------------------------------------------------------------------


class ComposeForm(forms.Form):
    """One mail to one client. Fields are checked against the client catalogue before anything."""

    client = forms.IntegerField(widget=forms.HiddenInput)
    template = forms.ModelChoiceField(
        label=_("Modèle"),
        queryset=MailTemplate.objects.none(),
        required=False,
        empty_label=_("— aucun modèle —"),
    )
    language = forms.ChoiceField(label=_("Langue du message"), choices=MailLanguage.choices)
    subject = forms.CharField(
        label=_("Sujet"),
        max_length=255,
        widget=forms.TextInput(attrs={"data-merge-target": "", "autocomplete": "off"}),
    )
    body = forms.CharField(
        label=_("Contenu"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "data-merge-target": ""}),
    )
    archive = forms.BooleanField(
        label=_("Archiver les messages envoyés dans les fiches client"),
        required=False,
        initial=True,
    )
    # Generated with the page: the same form sent twice (double click, reload) queues one mail.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    field_context = "client"

    def __init__(self, *args: Any, user: Collaborator, client: Client, **kwargs: Any) -> None:
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("client", client.pk)
        initial.setdefault("language", client.language)
        initial.setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.recipient = client
        template_field = self.fields["template"]
        assert isinstance(template_field, forms.ModelChoiceField)
        template_field.queryset = templates_for(user=user, context=self.field_context)

    def clean_client(self) -> int:
        if self.cleaned_data["client"] != self.recipient.pk:
            raise ValidationError(_("Le destinataire a changé : rechargez la page."))
        return int(self.cleaned_data["client"])

    def clean_subject(self) -> str:
        subject = str(self.cleaned_data["subject"]).strip()
        validate_header_text(subject)
        return subject

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in ("subject", "body"):
            text = cleaned.get(name)
            if not text:
                continue
            try:
                rendering.check_fields(text, context=self.field_context)
            except ValidationError as exc:
                self.add_error(name, exc)
        return cleaned

    @property
    def compose_key(self) -> str | None:
        key = self.cleaned_data.get("idempotency_key") or ""
        return f"compose:{key}" if key else None


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
        for code, _label in MailLanguage.choices:
            self.fields[f"subject_{code}"] = forms.CharField(
                label=_("Sujet"),
                max_length=255,
                required=False,
                widget=forms.TextInput(attrs={"data-merge-target": "", "lang": code}),
            )
            self.fields[f"body_{code}"] = forms.CharField(
                label=_("Contenu"),
                required=False,
                strip=False,
                widget=forms.Textarea(attrs={"rows": 12, "data-merge-target": "", "lang": code}),
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
