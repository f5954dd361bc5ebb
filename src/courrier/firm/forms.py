"""Forms of the firm's administration pages and of the Django admin for collaborators."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import (
    AdminUserCreationForm,
    AuthenticationForm,
    PasswordResetForm,
    UserChangeForm,
)
from django.db.models import Q
from django.template import loader
from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from courrier.firm.models import SIGNATURE_FIELDS, BillingCompany, Collaborator, Firm
from courrier.firm.permissions import BILLING_GROUP, billing_group
from courrier.mailing.editor import RichTextWidget, SignatureField
from courrier.validators import validate_deliverable_email

# The signatures are written in the rich-text editor and stored as sanitised HTML.
SIGNATURE_WIDGETS = {name: RichTextWidget(attrs={"rows": 5}) for name in SIGNATURE_FIELDS}
SIGNATURE_FIELD_CLASSES: dict[str, type[forms.Field]] = dict.fromkeys(
    SIGNATURE_FIELDS, SignatureField
)


class SignedForm(forms.ModelForm):
    """A form that holds the signature of its collaborator or company, one field per mail
    language; its page shows them together, with the rule that chooses among them
    (`includes/_signature_fields.html`)."""

    @property
    def signature_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in SIGNATURE_FIELDS if name in self.fields]

    @property
    def other_fields(self) -> list[forms.BoundField]:
        return [field for field in self.visible_fields() if field.name not in SIGNATURE_FIELDS]


class LoginForm(AuthenticationForm):
    """The login page's form: its refusal is a plain sentence in the reader's language (Django's
    own builds "Saisissez un adresse e-mail..." from the field's name)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "Adresse e-mail ou mot de passe incorrect. Vérifiez les deux et réessayez."
        ),
    }


class CollaboratorPasswordResetForm(PasswordResetForm):
    """Django's reset form, its mail written in the collaborator's language and sent through
    the firm's sending profile (`firm.passwords`) rather than a global mail server."""

    email = forms.EmailField(
        label=_("Adresse e-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        from courrier.firm.passwords import password_reset_mail_send

        collaborator = context["user"]
        with translation.override(collaborator.language or None):
            subject = loader.render_to_string(subject_template_name, context)
            body = loader.render_to_string(email_template_name, context)
            html = (
                loader.render_to_string(html_email_template_name, context)
                if html_email_template_name
                else None
            )
        password_reset_mail_send(collaborator=collaborator, subject=subject, body=body, html=html)


class FirmSettingsForm(forms.ModelForm):
    website = forms.URLField(
        label=capfirst(Firm._meta.get_field("website").verbose_name),
        required=False,
        assume_scheme="https",
    )
    # Empty: the legal period for invoices, the default.
    retention_years = forms.IntegerField(
        label=capfirst(Firm._meta.get_field("retention_years").verbose_name),
        help_text=Firm._meta.get_field("retention_years").help_text,
        required=False,
        min_value=1,
        max_value=100,
    )

    class Meta:
        model = Firm
        fields = [
            "name",
            "default_language",
            "fixed_bcc",
            "website",
            "phone",
            "amount_format",
            "track_opens",
            "retention_years",
        ]

    def clean_retention_years(self) -> int:
        years = self.cleaned_data.get("retention_years")
        return int(years) if years else int(Firm._meta.get_field("retention_years").default)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every mail is copied to it: an address no server can be given is refused here.
        self.fields["fixed_bcc"].validators = [validate_deliverable_email]


class BillingCompanyForm(SignedForm):
    """Enterprise number, VAT number and IBAN are checked and normalised by the model's clean()."""

    class Meta:
        model = BillingCompany
        fields = [
            "code",
            "name",
            "legal_form",
            "enterprise_number",
            "vat_number",
            "iban",
            "bic",
            "email",
            "phone",
            "street",
            "postal_code",
            "city",
            "country",
            "default_language",
            *SIGNATURE_FIELDS,
            "send_invoices_on_issue",
            "invoice_template",
            "credit_note_template",
            "invoice_due_days",
            "invoice_colour",
            "invoice_logo",
            "invoice_footer",
        ]
        field_classes = SIGNATURE_FIELD_CLASSES
        widgets = {
            **SIGNATURE_WIDGETS,
            "invoice_colour": forms.TextInput(attrs={"type": "color"}),
            "invoice_logo": forms.ClearableFileInput(
                attrs={"accept": "image/png,image/jpeg,image/svg+xml"}
            ),
            "invoice_footer": forms.Textarea(attrs={"rows": 3}),
            "enterprise_number": forms.TextInput(attrs={"placeholder": "0123.456.789"}),
            "vat_number": forms.TextInput(attrs={"placeholder": "BE0123456789"}),
            "iban": forms.TextInput(attrs={"placeholder": "BE71 0961 2345 6769"}),
        }
        error_messages = {
            "code": {"unique": _("Une autre société facturante utilise déjà ce code.")},
            "enterprise_number": {
                "unique": _("Une autre société facturante a déjà ce numéro d'entreprise.")
            },
        }

    def clean_bic(self) -> str:
        return str(self.cleaned_data.get("bic") or "").replace(" ", "").upper()

    def clean_country(self) -> str:
        return str(self.cleaned_data.get("country") or "").strip().upper()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Left empty, the invoice options keep what the company had (or the defaults).
        for name in ("invoice_due_days", "invoice_colour"):
            self.fields[name].required = False
        # The firm's invoice templates and those shared with it, never someone's own.
        from courrier.mailing.models import MailTemplate

        template = self.fields["invoice_template"]
        assert isinstance(template, forms.ModelChoiceField)
        template.queryset = MailTemplate.objects.filter(
            Q(owner__isnull=True) | Q(shared=True), context=MailTemplate.Context.INVOICE
        ).order_by("name", "pk")
        template.empty_label = _("— le modèle de factures du cabinet —")
        template.error_messages["invalid_choice"] = _(
            "Choisissez un modèle de mail des factures du cabinet ou partagé."
        )
        credit = self.fields["credit_note_template"]
        assert isinstance(credit, forms.ModelChoiceField)
        credit.queryset = MailTemplate.objects.filter(
            Q(owner__isnull=True) | Q(shared=True), context=MailTemplate.Context.CREDIT_NOTE
        ).order_by("name", "pk")
        credit.empty_label = _("— le modèle de notes de crédit du cabinet —")
        credit.error_messages["invalid_choice"] = _(
            "Choisissez un modèle de mail des notes de crédit du cabinet ou partagé."
        )

    def clean_invoice_due_days(self) -> int:
        value = self.cleaned_data.get("invoice_due_days")
        return self.instance.invoice_due_days if value is None else int(value)

    def clean_invoice_colour(self) -> str:
        return str(self.cleaned_data.get("invoice_colour") or self.instance.invoice_colour)


class CollaboratorRoleForm(forms.ModelForm):
    """What an administrator changes about a colleague from the firm pages."""

    class Meta:
        model = Collaborator
        fields = ["first_name", "last_name", "role", "language", "is_active"]
        help_texts = {
            "is_active": _(
                "Décocher plutôt que supprimer : un ancien collaborateur ne peut plus "
                "se connecter, ses mails restent archivés."
            ),
        }

    # The group that holds the invoices' permissions (courrier.firm.permissions); an
    # administrator holds them by the role, ticked or not.
    billing = forms.BooleanField(
        label=_("Facturation"),
        required=False,
        help_text=_(
            "Peut émettre les factures (elles prennent un numéro légal), supprimer les "
            "brouillons et envoyer les factures. Les administrateurs le peuvent toujours."
        ),
    )

    def __init__(self, *args: object, acting_user: Collaborator | None = None, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.acting_user = acting_user
        if self.instance.pk:
            self.fields["billing"].initial = self.instance.groups.filter(
                name=BILLING_GROUP
            ).exists()

    def save(self, commit: bool = True) -> Collaborator:
        collaborator = super().save(commit=commit)
        if commit:
            group = billing_group()
            if self.cleaned_data.get("billing"):
                collaborator.groups.add(group)
            else:
                collaborator.groups.remove(group)
        return collaborator

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        # An administrator cannot lock themselves out of the administration pages.
        if self.acting_user is not None and self.instance.pk == self.acting_user.pk:
            if cleaned.get("role") != Collaborator.Role.ADMIN and not self.instance.is_superuser:
                self.add_error(
                    "role", _("Vous ne pouvez pas retirer votre propre rôle d'administrateur.")
                )
            if cleaned.get("is_active") is False:
                self.add_error("is_active", _("Vous ne pouvez pas désactiver votre propre compte."))
        return cleaned


class CollaboratorCreationForm(AdminUserCreationForm):  # type: ignore[type-arg]
    """The Django admin's "add" form, with the e-mail address as the login."""

    class Meta:
        model = Collaborator
        fields = ("email", "first_name", "last_name", "role", "language")

    def clean_email(self) -> str:
        email = str(self.cleaned_data.get("email") or "").strip().lower()
        if Collaborator.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("Un collaborateur utilise déjà cette adresse e-mail."))
        return email


class CollaboratorChangeForm(UserChangeForm):  # type: ignore[type-arg]
    class Meta:
        model = Collaborator
        fields = "__all__"
        field_classes = SIGNATURE_FIELD_CLASSES
        widgets = SIGNATURE_WIDGETS

    def clean_email(self) -> str:
        email = str(self.cleaned_data.get("email") or "").strip().lower()
        others = Collaborator.objects.exclude(pk=self.instance.pk)
        if others.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("Un collaborateur utilise déjà cette adresse e-mail."))
        return email
