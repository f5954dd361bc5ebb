"""The sending settings forms: a collaborator's details ("Ma fiche") and the sending profile form
(every sending method's fields, shown and checked as the method's declaration in
`mailing.methods` says)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from courrier.firm.forms import SIGNATURE_FIELD_CLASSES, SIGNATURE_WIDGETS, SignedForm
from courrier.firm.models import SIGNATURE_FIELDS, Collaborator
from courrier.mailing import methods
from courrier.mailing.methods.base import SendingMethod
from courrier.mailing.methods.smtp import SERVER
from courrier.mailing.models import SendingProfile
from courrier.mailing.services.profiles import oauth_configured
from courrier.validators import validate_header_text

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


# --- Ma fiche -------------------------------------------------------------------------------


class CollaboratorDetailsForm(SignedForm):
    """The collaborator's own details: name, phone, interface language, and a signature per
    mail language."""

    class Meta:
        model = Collaborator
        fields = ["first_name", "last_name", "phone", "language", *SIGNATURE_FIELDS]
        widgets = SIGNATURE_WIDGETS
        field_classes = SIGNATURE_FIELD_CLASSES


def _secret_input(label: StrOrPromise) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


def _clear_box(label: StrOrPromise) -> forms.BooleanField:
    return forms.BooleanField(label=label, required=False)


# Write-only inputs: form field -> (model field, the "clear" box). A secret is never rendered
# back; an empty input keeps what is stored; the box erases it.
SECRET_INPUTS = {
    "password": ("smtp_password", "clear_password"),
    "imap_password": ("imap_password", "clear_imap_password"),
    "api_key": ("api_key", "clear_api_key"),
    "aws_secret_access_key": ("aws_secret_access_key", "clear_aws_secret_access_key"),
    "webhook_secret": ("webhook_secret", "clear_webhook_secret"),
}
COMMON_FIELDS = ("method", "from_name", "from_address", "reply_to")
# Fields every method uses but that may be left empty (what is stored stays).
SHARED_FIELDS = ("max_connections",)
# The bounds delivery honours (`services.delivery.messages_deliver` takes 1 to 16 lanes).
MAX_CONNECTIONS = 16
# What a save needs of a secret the method requires (stored, or typed now), by form field.
SECRET_PROMPTS = {
    "api_key": _("Saisissez la clé d'API du fournisseur."),
    "aws_secret_access_key": _("Saisissez la clé secrète AWS."),
}


class SendingProfileForm(forms.ModelForm):
    """How a collaborator or a billing company sends: one form for every method.

    The methods, their sections, fields and required fields are read from their declarations
    (`mailing.methods`). Only the chosen method's fields are required and saved; the others
    keep what is stored (a method can be switched back without typing everything again).
    Secrets are write-only.
    `secrets` says which secrets are stored (from the `has_<name>` annotations); `company`
    adds what only a billing company uses (a Microsoft 365 shared mailbox)."""

    password = _secret_input(_("Mot de passe"))
    clear_password = _clear_box(_("Effacer le mot de passe enregistré"))
    imap_password = _secret_input(_("Mot de passe IMAP"))
    clear_imap_password = _clear_box(_("Effacer le mot de passe IMAP enregistré"))
    api_key = _secret_input(_("Clé d'API"))
    clear_api_key = _clear_box(_("Effacer la clé d'API enregistrée"))
    aws_secret_access_key = _secret_input(_("Clé secrète AWS"))
    clear_aws_secret_access_key = _clear_box(_("Effacer la clé secrète AWS enregistrée"))
    webhook_secret = _secret_input(_("Secret ou clé de vérification du webhook"))
    clear_webhook_secret = _clear_box(_("Effacer le secret du webhook enregistré"))
    sendgrid_eu = forms.BooleanField(
        label=_("Résidence des données dans l'Union européenne (compte SendGrid EU)"),
        required=False,
        help_text=_("Cochez si votre compte SendGrid a été ouvert avec la résidence UE."),
    )
    mailgun_eu = forms.BooleanField(
        label=_("Région européenne de Mailgun (api.eu.mailgun.net)"), required=False
    )
    max_connections = forms.IntegerField(
        label=capfirst(SendingProfile._meta.get_field("max_connections").verbose_name),
        required=False,
        min_value=1,
        max_value=MAX_CONNECTIONS,
        help_text=_(
            "De 1 à 16 : le nombre de mails d'un envoi en nombre qui partent en même temps, "
            "chacun par sa propre connexion. Laissez 1 si vous ne connaissez pas les limites de "
            "votre serveur ou de votre fournisseur ; au-delà, il peut refuser ou ralentir les "
            "envois."
        ),
        error_messages={
            "invalid": _("Saisissez un nombre entier de 1 à 16."),
            "min_value": _("Saisissez un nombre entier de 1 à 16."),
            "max_value": _("Saisissez un nombre entier de 1 à 16."),
        },
    )

    class Meta:
        model = SendingProfile
        fields = [
            "method",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "smtp_auth",
            "smtp_username",
            "microsoft_mailbox",
            "mailgun_domain",
            "aws_access_key_id",
            "aws_region",
            "imap_enabled",
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_username",
            "imap_sent_folder",
            "from_name",
            "from_address",
            "reply_to",
            "max_connections",
        ]
        help_texts = {
            "smtp_host": _("Demandez-le à la personne qui gère vos boîtes mail."),
            "smtp_port": _("Souvent 587 avec STARTTLS, 465 avec SSL/TLS."),
            "imap_host": _("Le serveur de réception de la même boîte (souvent imap.<domaine>)."),
            "imap_username": _("Vide : le même identifiant et mot de passe que pour SMTP."),
            "imap_sent_folder": _(
                "Le nom du dossier sur le serveur ; s'il n'existe pas, le dossier des messages "
                "envoyés que le serveur indique est utilisé."
            ),
            "mailgun_domain": _(
                "Le domaine d'envoi déclaré chez Mailgun, par exemple mg.cabinet.be."
            ),
            "aws_region": _("Par exemple eu-west-1 (Irlande) ou eu-central-1 (Francfort)."),
        }

    def __init__(
        self,
        *args: Any,
        has_password: bool = False,
        secrets: dict[str, bool] | None = None,
        company: bool = False,
        installation_admin: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Whether the reader sets the installation up (names its environment variables).
        self.installation_admin = installation_admin
        stored = dict(secrets) if secrets is not None else {"smtp_password": has_password}
        self.secrets_known = secrets is not None
        self.stored = stored
        self.company = company
        for name, (model_field, clear) in SECRET_INPUTS.items():
            if name not in self.fields:
                continue
            if stored.get(model_field):
                self.fields[name].help_text = _("enregistré — laisser vide pour le conserver")
            else:
                self.fields[name].help_text = _("Rien d'enregistré.")
                self.fields.pop(clear, None)
        if not stored.get("smtp_password") and "password" in self.fields:
            self.fields["password"].help_text = _("Aucun mot de passe enregistré.")
        if not company:
            self.fields.pop("microsoft_mailbox", None)
        # Required or not depends on the method: `clean` decides.
        for name, field in self.fields.items():
            if name not in COMMON_FIELDS:
                field.required = False
        eu = self.instance.api_region == SendingProfile.Region.EU
        for method in methods.declared():
            if method.region_field in self.fields:
                self.initial.setdefault(method.region_field, eu)
        method_field = self.fields.get("method")
        if isinstance(method_field, forms.ChoiceField):
            method_field.choices = self._method_choices()
        # The password belongs next to the login, not after the addresses.
        self.order_fields(["method", *SERVER.fields])

    def _method_choices(self) -> list[tuple[str, str]]:
        # Mail methods only: a Peppol access point is set on the company's Peppol page.
        choices = []
        for method in methods.declared("email"):
            text = str(method.label)
            if method.oauth_provider and not oauth_configured(method.oauth_provider):
                text = gettext("%(method)s — à configurer par l'administrateur du cabinet") % {
                    "method": method.label
                }
            choices.append((method.code, text))
        return choices

    # -- what the page shows ------------------------------------------------------------------

    def chosen_method(self) -> str:
        if self.is_bound:
            value = self.data.get(self.add_prefix("method"), "")
            method = methods.get(value)
            if method is not None and method.channel == "email":
                return str(value)
        return str(self.instance.method or SendingProfile.Method.SMTP)

    def groups(self) -> list[dict[str, Any]]:
        """The method-dependent parts of the form, each with the methods it belongs to."""
        chosen = self.chosen_method()
        return [
            {
                "key": group.key,
                "title": group.title,
                "methods": " ".join(codes),
                "active": chosen in codes,
                "fields": [self[name] for name in group.fields if name in self.fields],
            }
            for group, codes in methods.field_groups()
        ]

    def common_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in COMMON_FIELDS if name in self.fields and name != "method"]

    def shared_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in SHARED_FIELDS if name in self.fields]

    # -- checks -------------------------------------------------------------------------------

    def clean_smtp_port(self) -> int | None:
        return self._port("smtp_port")

    def clean_imap_port(self) -> int | None:
        return self._port("imap_port")

    def _port(self, name: str) -> int | None:
        port = self.cleaned_data.get(name)
        if port is None:
            return None
        if not 1 <= port <= 65535:
            raise ValidationError(_("Le port est un nombre entre 1 et 65535."), code="port")
        return int(port)

    def _host(self, name: str) -> str:
        host = str(self.cleaned_data.get(name) or "").strip()
        validate_header_text(host)
        if " " in host:
            raise ValidationError(_("Le nom du serveur ne contient pas d'espace."), code="host")
        return host

    def clean_smtp_host(self) -> str:
        return self._host("smtp_host")

    def clean_imap_host(self) -> str:
        return self._host("imap_host")

    def clean_mailgun_domain(self) -> str:
        return self._host("mailgun_domain").lower()

    def clean_aws_region(self) -> str:
        region = self._host("aws_region").lower()
        if region and not all(part.isalnum() for part in region.split("-")):
            raise ValidationError(
                _("Une région AWS s'écrit comme « eu-west-1 »."), code="aws_region"
            )
        return region

    def clean_aws_access_key_id(self) -> str:
        value = str(self.cleaned_data.get("aws_access_key_id") or "").strip()
        if value and not value.isalnum():
            raise ValidationError(
                _("L'identifiant de clé AWS ne contient que des lettres et des chiffres."),
                code="aws_access_key_id",
            )
        return value

    def clean_from_name(self) -> str:
        value = str(self.cleaned_data["from_name"])
        validate_header_text(value)
        return value

    def _secret(self, name: str, *, strip: bool) -> str:
        value = str(self.cleaned_data.get(name) or "")
        if strip:
            value = value.strip()
        if any(ch in value for ch in "\r\n\x00"):
            raise ValidationError(
                _("Ce champ ne peut pas contenir de retour à la ligne."), code="secret"
            )
        return value

    def clean_password(self) -> str:
        value = str(self.cleaned_data.get("password") or "")
        if any(ch in value for ch in "\r\n\x00"):
            raise ValidationError(
                _("Le mot de passe ne peut pas contenir de retour à la ligne."), code="password"
            )
        return value

    def clean_imap_password(self) -> str:
        return self._secret("imap_password", strip=False)

    def clean_api_key(self) -> str:
        return self._secret("api_key", strip=True)

    def clean_aws_secret_access_key(self) -> str:
        return self._secret("aws_secret_access_key", strip=True)

    def clean_webhook_secret(self) -> str:
        # A SendGrid verification key is a PEM block: line breaks are part of it.
        value = str(self.cleaned_data.get("webhook_secret") or "").strip()
        if "\x00" in value:
            raise ValidationError(_("Ce champ contient un caractère invalide."), code="secret")
        return value

    def _will_hold(self, name: str) -> bool:
        """Whether the secret will be stored after this save (kept, or newly typed)."""
        model_field, clear = SECRET_INPUTS[name]
        if self.cleaned_data.get(name):
            return True
        if self.cleaned_data.get(clear):
            return False
        # Unknown (a form built without `secrets`): not ours to require.
        return bool(self.stored.get(model_field)) or not self.secrets_known

    def _require(self, name: str, message: StrOrPromise) -> None:
        if name in self.fields and not self.cleaned_data.get(name) and name not in self.errors:
            self.add_error(name, message)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        code = str(cleaned.get("method") or self.instance.method)
        if "method" in self.errors:
            return cleaned
        method = methods.get(code)
        declared = method.fields if method is not None else ()
        active = set(COMMON_FIELDS) | set(SHARED_FIELDS) | set(declared)
        for name in list(self.fields):
            if name in active:
                continue
            # Another method's field: neither checked nor saved, whatever the browser sent.
            if self.errors:
                self.errors.pop(name, None)
            cleaned.pop(name, None)
        required = _("Ce champ est obligatoire pour cette méthode d'envoi.")
        for name in list(cleaned):
            model_field = self._model_field(name)
            if model_field is not None and not model_field.blank and cleaned[name] in (None, ""):
                # Left empty (a port, a choice the page did not send): what is stored stays.
                cleaned.pop(name)
        if method is None:
            return cleaned
        for name in method.required:
            if name not in SECRET_INPUTS:
                self._require(name, required)
            elif name in self.fields and not self._will_hold(name):
                self.add_error(name, SECRET_PROMPTS.get(name, required))
        if "imap_enabled" in method.fields and cleaned.get("imap_enabled"):
            self._check_sent_copy(cleaned, required)
        if method.oauth_provider:
            self._check_oauth_available(method)
        return cleaned

    def _check_sent_copy(self, cleaned: dict[str, Any], required: StrOrPromise) -> None:
        """The copy into the Sent folder needs its server, and a password for its own login."""
        self._require("imap_host", required)
        self._require("imap_port", required)
        if (
            "imap_password" in self.fields
            and str(cleaned.get("imap_username") or "").strip()
            and not self._will_hold("imap_password")
        ):
            self.add_error(
                "imap_password",
                _("Saisissez le mot de passe de cet identifiant IMAP."),
            )

    @staticmethod
    def _model_field(name: str) -> Any:
        try:
            return SendingProfile._meta.get_field(name)
        except FieldDoesNotExist:
            return None

    def _check_oauth_available(self, method: SendingMethod) -> None:
        provider = method.oauth_provider
        unchanged = self.instance.pk is not None and self.instance.method == method.code
        if oauth_configured(provider) or unchanged:
            return
        label = method.oauth_label
        prefix = provider.upper()
        if not self.installation_admin:
            self.add_error(
                "method",
                gettext(
                    "L'envoi par %(label)s n'est pas encore activé pour le cabinet : demandez à "
                    "l'administrateur du cabinet de l'activer. En attendant, choisissez une "
                    "autre méthode."
                )
                % {"label": label},
            )
            return
        self.add_error(
            "method",
            gettext(
                "L'envoi par %(label)s n'est pas encore possible : l'administrateur du cabinet "
                "doit d'abord enregistrer l'application OAuth du cabinet auprès de %(label)s "
                "(voir le README : COURRIER_%(prefix)s_CLIENT_ID et "
                "COURRIER_%(prefix)s_CLIENT_SECRET). Choisissez une autre méthode en attendant."
            )
            % {"label": label, "prefix": prefix},
        )

    def save(self, commit: bool = True) -> SendingProfile:
        profile = super().save(commit=False)
        cleaned = self.cleaned_data
        for name, (model_field, clear) in SECRET_INPUTS.items():
            if name not in cleaned:
                continue  # another method's secret: kept as it is
            value = cleaned.get(name) or ""
            if value:
                setattr(profile, model_field, value)
            elif cleaned.get(clear):
                setattr(profile, model_field, "")
            # An empty input keeps what is stored: the column stays deferred and is not written.
        method = methods.get(profile.method)
        if method is not None and method.region_field in cleaned:
            profile.api_region = (
                SendingProfile.Region.EU
                if cleaned[method.region_field]
                else SendingProfile.Region.DEFAULT
            )
        if commit:
            profile.save()
        return profile
