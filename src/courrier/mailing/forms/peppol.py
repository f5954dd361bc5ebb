"""A billing company's Peppol access point: the API (Billit, Recommand), its credentials, the
company's id there, and the API's address (blank: production). Secrets are write-only, as on
the mail profile form: never rendered back, kept when left empty, erased by their box."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from courrier.mailing import methods
from courrier.mailing.models import SendingProfile

SECRETS = {"api_key": "clear_api_key", "api_secret": "clear_api_secret"}


class PeppolProfileForm(forms.ModelForm):  # type: ignore[type-arg]
    api_key = forms.CharField(
        label=_("clé d'API"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_api_key = forms.BooleanField(label=_("effacer la clé d'API"), required=False)
    api_secret = forms.CharField(
        label=_("secret d'API (Recommand)"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_api_secret = forms.BooleanField(label=_("effacer le secret d'API"), required=False)
    api_base_url = forms.URLField(
        label=_("adresse de l'API"),
        required=False,
        max_length=255,
        assume_scheme="https",
        help_text=_("Vide : l'adresse de production du fournisseur."),
    )
    webhook_secret = forms.CharField(
        label=_("secret du webhook (Billit)"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = SendingProfile
        fields = ["method", "peppol_account", "api_base_url"]
        labels = {
            "method": _("point d'accès"),
            "peppol_account": _("identifiant de la société chez le point d'accès"),
        }
        help_texts = {
            "peppol_account": _(
                "Billit : le PartyID de la société (dans l'adresse de « My company »). "
                "Recommand : l'identifiant de la société (company id)."
            ),
        }

    def __init__(self, *args: Any, stored: dict[str, bool] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stored = stored or {}
        method_field = self.fields["method"]
        assert isinstance(method_field, forms.ChoiceField)
        method_field.choices = [(m.code, str(m.label)) for m in methods.declared("peppol")]
        for name in (*SECRETS, "webhook_secret"):
            self.fields[name].help_text = (
                _("enregistré — laisser vide pour le conserver")
                if self.stored.get(name)
                else _("Rien d'enregistré.")
            )
        for name, clear in SECRETS.items():
            if not self.stored.get(name):
                self.fields.pop(clear)

    def _has(self, name: str) -> bool:
        if self.cleaned_data.get(name):
            return True
        if self.cleaned_data.get(SECRETS.get(name, "")):
            return False
        return bool(self.stored.get(name))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        method = cleaned.get("method")
        if not self._has("api_key"):
            self.add_error("api_key", _("La clé d'API est obligatoire."))
        if method == SendingProfile.Method.RECOMMAND and not self._has("api_secret"):
            self.add_error("api_secret", _("Recommand demande aussi le secret d'API."))
        if not str(cleaned.get("peppol_account") or "").strip():
            self.add_error(
                "peppol_account", _("L'identifiant de la société chez le point d'accès manque.")
            )
        return cleaned

    def save(self, commit: bool = True) -> SendingProfile:
        profile: SendingProfile = super().save(commit=False)
        for name, clear in SECRETS.items():
            if self.cleaned_data.get(name):
                setattr(profile, name, self.cleaned_data[name])
            elif self.cleaned_data.get(clear):
                setattr(profile, name, "")
        if self.cleaned_data.get("webhook_secret"):
            profile.webhook_secret = self.cleaned_data["webhook_secret"]
        if commit:
            profile.save()
        return profile
