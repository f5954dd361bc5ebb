"""Forms of the mailing screens: Ma fiche, the compose window, the templates."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from courrier.clients.models import Client
from courrier.firm.forms import SIGNATURE_FIELD_CLASSES, SIGNATURE_WIDGETS, SignedForm
from courrier.firm.models import SIGNATURE_FIELDS, Collaborator
from courrier.languages import MailLanguage
from courrier.mailing import rendering
from courrier.mailing.editor import RichTextField, RichTextWidget
from courrier.mailing.fields import fields_for
from courrier.mailing.models import MailTemplate, MailTemplateVersion, SendingProfile, Upload
from courrier.mailing.selectors import templates_editable, templates_for
from courrier.mailing.services.languages import OTHER_LANGUAGE
from courrier.mailing.services.options import clean_address, copies_check, horizon_check
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


Method = SendingProfile.Method

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
_SMTP = (
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_auth",
    "smtp_username",
    "password",
    "clear_password",
)
_IMAP = (
    "imap_enabled",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_username",
    "imap_password",
    "clear_imap_password",
    "imap_sent_folder",
)
_API_KEY = ("api_key", "clear_api_key")
_WEBHOOK = ("webhook_secret", "clear_webhook_secret")
_SES = ("aws_access_key_id", "aws_secret_access_key", "clear_aws_secret_access_key", "aws_region")
# The fields that belong to each method; the others are neither required nor saved.
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    Method.SMTP: _SMTP + _IMAP,
    Method.GMAIL: (),
    Method.MICROSOFT: ("microsoft_mailbox",),
    Method.SENDGRID: (*_API_KEY, "sendgrid_eu", *_WEBHOOK),
    Method.BREVO: _API_KEY + _WEBHOOK,
    Method.MAILGUN: (*_API_KEY, "mailgun_domain", "mailgun_eu", *_WEBHOOK),
    Method.POSTMARK: _API_KEY + _WEBHOOK,
    Method.SES: _SES + _WEBHOOK,
}
_HTTP = ("sendgrid", "brevo", "mailgun", "postmark", "ses")
# How the page groups them: (key, title, methods the group belongs to, fields).
FIELD_GROUPS: tuple[tuple[str, Any, tuple[str, ...], tuple[str, ...]], ...] = (
    ("smtp", _("Serveur SMTP"), ("smtp",), _SMTP),
    ("imap", _("Copie dans « Éléments envoyés » (IMAP)"), ("smtp",), _IMAP),
    ("oauth", _("Boîte connectée"), ("gmail", "microsoft"), ("microsoft_mailbox",)),
    ("api_key", _("Clé d'API"), ("sendgrid", "brevo", "mailgun", "postmark"), _API_KEY),
    ("sendgrid", _("SendGrid"), ("sendgrid",), ("sendgrid_eu",)),
    ("mailgun", _("Mailgun"), ("mailgun",), ("mailgun_domain", "mailgun_eu")),
    ("ses", _("Amazon SES"), ("ses",), _SES),
    ("webhook", _("Suivi de la remise (webhook)"), _HTTP, _WEBHOOK),
)


class SendingProfileForm(forms.ModelForm):
    """How a collaborator or a billing company sends: one form for every method.

    Only the chosen method's fields are required and saved; the others keep what is stored
    (a method can be switched back without typing everything again). Secrets are write-only.
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
        if "sendgrid_eu" in self.fields and "mailgun_eu" in self.fields:
            eu = self.instance.api_region == SendingProfile.Region.EU
            self.initial.setdefault("sendgrid_eu", eu)
            self.initial.setdefault("mailgun_eu", eu)
        method_field = self.fields.get("method")
        if isinstance(method_field, forms.ChoiceField):
            method_field.choices = self._method_choices()
        # The password belongs next to the login, not after the addresses.
        self.order_fields(
            [
                "method",
                "smtp_host",
                "smtp_port",
                "smtp_security",
                "smtp_auth",
                "smtp_username",
                "password",
                "clear_password",
            ]
        )

    def _method_choices(self) -> list[tuple[str, str]]:
        choices = []
        for value, label in SendingProfile.Method.choices:
            provider = {"gmail": "google", "microsoft": "microsoft"}.get(value)
            text = str(label)
            if provider and not oauth_configured(provider):
                text = gettext("%(method)s — à configurer par l'administrateur du cabinet") % {
                    "method": label
                }
            choices.append((value, text))
        return choices

    # -- what the page shows ------------------------------------------------------------------

    def chosen_method(self) -> str:
        if self.is_bound:
            value = self.data.get(self.add_prefix("method"), "")
            if value in SendingProfile.Method.values:
                return str(value)
        return str(self.instance.method or SendingProfile.Method.SMTP)

    def groups(self) -> list[dict[str, Any]]:
        """The method-dependent parts of the form, each with the methods it belongs to."""
        method = self.chosen_method()
        return [
            {
                "key": key,
                "title": title,
                "methods": " ".join(methods),
                "active": method in methods,
                "fields": [self[name] for name in names if name in self.fields],
            }
            for key, title, methods, names in FIELD_GROUPS
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
        method = str(cleaned.get("method") or self.instance.method)
        if "method" in self.errors:
            return cleaned
        active = set(COMMON_FIELDS) | set(SHARED_FIELDS) | set(METHOD_FIELDS.get(method, ()))
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
        if method == Method.SMTP:
            self._require("smtp_host", required)
            self._require("smtp_port", required)
            if cleaned.get("imap_enabled"):
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
        elif method in (Method.GMAIL, Method.MICROSOFT):
            self._check_oauth_available(method)
        api_methods = (Method.SENDGRID, Method.BREVO, Method.MAILGUN, Method.POSTMARK)
        if method in api_methods and "api_key" in self.fields and not self._will_hold("api_key"):
            self.add_error("api_key", _("Saisissez la clé d'API du fournisseur."))
        if method == Method.MAILGUN:
            self._require("mailgun_domain", required)
        if method == Method.SES:
            self._require("aws_access_key_id", required)
            self._require("aws_region", required)
            if "aws_secret_access_key" in self.fields and not self._will_hold(
                "aws_secret_access_key"
            ):
                self.add_error("aws_secret_access_key", _("Saisissez la clé secrète AWS."))
        return cleaned

    @staticmethod
    def _model_field(name: str) -> Any:
        try:
            return SendingProfile._meta.get_field(name)
        except FieldDoesNotExist:
            return None

    def _check_oauth_available(self, method: str) -> None:
        provider = "google" if method == Method.GMAIL else "microsoft"
        unchanged = self.instance.pk is not None and self.instance.method == method
        if oauth_configured(provider) or unchanged:
            return
        label = "Gmail" if provider == "google" else "Microsoft 365"
        prefix = "GOOGLE" if provider == "google" else "MICROSOFT"
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
        if profile.method == Method.SENDGRID and "sendgrid_eu" in cleaned:
            profile.api_region = (
                SendingProfile.Region.EU
                if cleaned["sendgrid_eu"]
                else SendingProfile.Region.DEFAULT
            )
        elif profile.method == Method.MAILGUN and "mailgun_eu" in cleaned:
            profile.api_region = (
                SendingProfile.Region.EU if cleaned["mailgun_eu"] else SendingProfile.Region.DEFAULT
            )
        if commit:
            profile.save()
        return profile


# --- Compose --------------------------------------------------------------------------------

BRUSSELS = ZoneInfo("Europe/Brussels")
# A scheduled time a moment ago (the page stayed open while typing) still means "now".
SCHEDULE_GRACE = timedelta(minutes=5)
_ADDRESS_SPLIT = re.compile(r"[,;\s]+")


class Recipients(models.TextChoices):
    CLIENT = "client", _("Envoi au client sélectionné")
    SELECTION = "selection", _("À une sélection de clients")


def parse_addresses(text: str) -> list[str]:
    """Addresses typed in a Cc/Cci box, separated by commas, semicolons or spaces; each checked,
    duplicates dropped. Raises ValidationError naming the first bad one."""
    found: list[str] = []
    for item in _ADDRESS_SPLIT.split(text or ""):
        address = item.strip().strip("<>").strip()
        if not address:
            continue
        address = clean_address(address)
        if address.lower() not in {known.lower() for known in found}:
            found.append(address)
    copies_check(len(found))
    return found


class _AddressesField(forms.CharField):
    def clean(self, value: Any) -> list[str]:  # type: ignore[override]
        return parse_addresses(str(super().clean(value) or ""))


def _upload_ids(values: Any) -> list[int]:
    """Upload ids posted by the window (hidden inputs); anything that is not one is ignored."""
    ids: list[int] = []
    for value in values or ():
        text = str(value).strip()
        if text.isdigit() and len(text) < 18 and int(text) not in ids:
            ids.append(int(text))
    return ids


class ComposeForm(forms.Form):
    """The compose window: one client or a selection, the options, the text, the attachments.

    Fields are checked against the client catalogue before anything; the uploads are the
    sender's own files, kept by their ids while the form goes back and forth."""

    recipients = forms.ChoiceField(
        label=_("Destinataires"),
        choices=Recipients.choices,
        required=False,
        widget=forms.RadioSelect,
    )
    client = forms.IntegerField(widget=forms.HiddenInput, required=False)
    template = forms.ModelChoiceField(
        label=_("Modèle"),
        queryset=MailTemplate.objects.none(),
        required=False,
        empty_label=_("— aucun modèle —"),
    )
    language = forms.ChoiceField(label=_("Langue du message"), choices=MailLanguage.choices)
    other_language = forms.BooleanField(
        label=OTHER_LANGUAGE,
        required=False,
        help_text=_(
            "Un mail part tout entier dans une seule langue : texte, formule d'appel, dates et "
            "montants. Chaque client le reçoit dans sa langue : la version du modèle dans sa "
            "langue, ou le texte ci-dessous s'il est écrit dans sa langue. Sinon, il est "
            "bloqué à la vérification avant l'envoi — à moins que cette case ne soit cochée : "
            "il reçoit alors le mail tout entier dans la langue du message."
        ),
    )
    subject = forms.CharField(
        label=_("Sujet"),
        max_length=255,
        widget=forms.TextInput(attrs={"data-merge-target": "", "autocomplete": "off"}),
    )
    body = RichTextField(
        label=_("Contenu"), widget=RichTextWidget(attrs={"rows": 14, "data-merge-target": ""})
    )
    archive = forms.BooleanField(
        label=_("Archiver les messages envoyés dans les fiches client"),
        required=False,
        initial=True,
    )
    cc = _AddressesField(
        label=_("Cc"),
        required=False,
        max_length=4000,
        help_text=_("Copie visible de chaque mail ; séparez les adresses par une virgule."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "email"}),
    )
    bcc = _AddressesField(
        label=_("Cci"),
        required=False,
        max_length=4000,
        help_text=_("Copie cachée de chaque mail : absente des en-têtes que le client reçoit."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "email"}),
    )
    reply_to = forms.CharField(
        label=_("Adresse de réponse"),
        required=False,
        max_length=254,
        help_text=_("Vide : l'adresse de réponse de votre paramétrage d'envoi, s'il en a une."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "email"}),
    )
    copy_to_sender = forms.BooleanField(label=_("M'envoyer une copie"), required=False)
    read_receipt = forms.BooleanField(
        label=_("Demander un accusé de réception"),
        required=False,
        help_text=_("Le programme du client lui propose de vous confirmer la lecture."),
    )
    scheduled_date = forms.DateField(
        label=_("Date"),
        required=False,
        input_formats=["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    scheduled_time = forms.TimeField(
        label=_("Heure"),
        required=False,
        input_formats=["%H:%M", "%H:%M:%S", "%Hh%M", "%H.%M"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    uploads = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    send_by_link = forms.BooleanField(
        label=_("Envoyer les pièces jointes par lien sécurisé"),
        required=False,
        help_text=_(
            "Les fichiers restent au cabinet : le mail donne un lien, valable 14 jours, que le "
            "client ouvre avec un code communiqué séparément."
        ),
    )
    send_code = forms.BooleanField(
        label=_("Envoyer le code dans un second mail"),
        required=False,
        help_text=_(
            "Sinon, le code vous est montré une seule fois après l'envoi : donnez-le au "
            "client par téléphone."
        ),
    )
    # Generated with the page: the same form sent twice (double click, reload) queues once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    # Offered when an object of the window (an invoice) had its mail already: a re-send on
    # purpose, recorded as such, as "@" in the register sends one.
    resend = forms.BooleanField(
        label=_("Envoyer à nouveau"),
        required=False,
        help_text=_(
            "Le mail part une nouvelle fois et reste marqué comme renvoi dans la fiche du client."
        ),
    )

    field_context = "client"

    def __init__(
        self,
        *args: Any,
        user: Collaborator,
        client: Client | None = None,
        default_language: str | None = None,
        context: str = "client",
        **kwargs: Any,
    ) -> None:
        # A mail about objects of a context (invoices, VAT returns, ...): its fields and its
        # templates instead of the client's.
        self.field_context = context
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("recipients", Recipients.CLIENT if client else Recipients.SELECTION)
        if client is not None:
            initial.setdefault("client", client.pk)
        initial.setdefault(
            "language", client.language if client else (default_language or MailLanguage.FR)
        )
        initial.setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.user = user
        self.recipient = client
        template_field = self.fields["template"]
        assert isinstance(template_field, forms.ModelChoiceField)
        template_field.queryset = templates_for(user=user, context=self.field_context)
        # A template of another context (the invoice one for a credit note), or one no longer
        # shared: said plainly.
        template_field.error_messages["invalid_choice"] = _(
            "Ce modèle n'est pas proposé pour ce mail : choisissez-en un dans la liste."
        )
        if client is None:
            recipients = self.fields["recipients"]
            assert isinstance(recipients, forms.ChoiceField)
            recipients.choices = [(Recipients.SELECTION.value, Recipients.SELECTION.label)]
        # The files already joined, read from the posted ids (or the initial ones): the list
        # shows them again when the form comes back with errors.
        raw_ids = (
            self.data.getlist(self.add_prefix("uploads"))
            if self.is_bound and hasattr(self.data, "getlist")
            else initial.get("uploads", [])
        )
        self.upload_ids = _upload_ids(raw_ids)
        by_id = {
            upload.pk: upload
            for upload in Upload.objects.filter(owner=user, pk__in=self.upload_ids)
        }
        self.upload_objects: list[Upload] = [by_id[pk] for pk in self.upload_ids if pk in by_id]

    @property
    def mode(self) -> str:
        """ "client" or "selection", whatever was posted: a selection needs no client."""
        value = self["recipients"].value() or ""
        if value == Recipients.SELECTION or self.recipient is None:
            return Recipients.SELECTION
        return Recipients.CLIENT

    def add_uploads(self, uploads: list[Upload]) -> None:
        """Files stored while this form was posted (the window without its script)."""
        for upload in uploads:
            if upload.pk not in self.upload_ids:
                self.upload_ids.append(upload.pk)
                self.upload_objects.append(upload)

    def clean_client(self) -> int | None:
        value = self.cleaned_data.get("client")
        if self.recipient is None:
            return None
        if value is not None and value != self.recipient.pk:
            raise ValidationError(_("Le destinataire a changé : rechargez la page."))
        return self.recipient.pk

    def clean_recipients(self) -> str:
        return self.mode

    def clean_subject(self) -> str:
        subject = str(self.cleaned_data["subject"]).strip()
        validate_header_text(subject)
        return subject

    def clean_reply_to(self) -> str:
        value = str(self.cleaned_data.get("reply_to") or "").strip()
        if not value:
            return ""
        return clean_address(value)

    def clean_uploads(self) -> list[Upload]:
        if len(self.upload_objects) != len(self.upload_ids):
            raise ValidationError(
                _("Un fichier joint n'est plus disponible : joignez-le à nouveau."),
                code="upload_missing",
            )
        return list(self.upload_objects)

    def _scheduled_at(self, cleaned: dict[str, Any]) -> datetime | None:
        day: date | None = cleaned.get("scheduled_date")
        moment: time | None = cleaned.get("scheduled_time")
        if "scheduled_date" in self.errors or "scheduled_time" in self.errors:
            return None
        if day is None and moment is None:
            return None
        if day is None:
            self.add_error("scheduled_date", gettext("Indiquez aussi la date de l'envoi."))
            return None
        if moment is None:
            self.add_error("scheduled_time", gettext("Indiquez aussi l'heure de l'envoi."))
            return None
        when = datetime.combine(day, moment, tzinfo=BRUSSELS)
        now = timezone.now()
        if when < now - SCHEDULE_GRACE:
            self.add_error(
                "scheduled_date",
                gettext("Ce moment est passé : choisissez une date et une heure à venir."),
            )
            return None
        try:
            horizon_check(when, now=now)
        except ValidationError as exc:
            self.add_error("scheduled_date", exc)
            return None
        return when if when > now else None

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
        cleaned["scheduled_at"] = self._scheduled_at(cleaned)
        return cleaned

    @property
    def compose_key(self) -> str | None:
        key = self.cleaned_data.get("idempotency_key") or ""
        return f"compose:{key}" if key else None

    def options(self) -> dict[str, Any]:
        """The options every mail of this window carries, as the compose services take them."""
        data = self.cleaned_data
        return {
            "cc": list(data.get("cc") or []),
            "bcc": list(data.get("bcc") or []),
            "copy_to_sender": bool(data.get("copy_to_sender")),
            "read_receipt": bool(data.get("read_receipt")),
            "reply_to": data.get("reply_to") or None,
            "scheduled_at": data.get("scheduled_at"),
        }

    def batch_options(self) -> dict[str, Any]:
        """The same options stored with a batch (JSON: the date in ISO form)."""
        options = self.options()
        scheduled = options["scheduled_at"]
        options["scheduled_at"] = scheduled.isoformat() if scheduled else None
        options["archive"] = bool(self.cleaned_data.get("archive"))
        options["language"] = self.cleaned_data.get("language") or ""
        options["other_language"] = bool(self.cleaned_data.get("other_language"))
        options["idempotency_key"] = self.cleaned_data.get("idempotency_key") or ""
        options["send_by_link"] = bool(self.cleaned_data.get("send_by_link"))
        options["resend"] = bool(self.cleaned_data.get("resend"))
        return options


class TemplateSaveForm(forms.Form):
    """ "Sauver modèle": the window's subject and body become a language version of a template,
    a new personal one or one the user may edit (their own; the firm's for an administrator)."""

    save_name = forms.CharField(label=_("Nom du nouveau modèle"), max_length=200, required=False)
    save_over = forms.ModelChoiceField(
        label=_("Ou remplacer la version de"),
        queryset=MailTemplate.objects.none(),
        required=False,
        empty_label=_("— nouveau modèle —"),
    )
    language = forms.ChoiceField(label=_("Langue"), choices=MailLanguage.choices)
    subject = forms.CharField(label=_("Sujet"), max_length=255)
    body = RichTextField(label=_("Contenu"))

    context: str = MailTemplate.Context.CLIENT

    def __init__(
        self, *args: Any, user: Collaborator, context: str | None = None, **kwargs: Any
    ) -> None:
        if context:
            self.context = context
        super().__init__(*args, **kwargs)
        self.user = user
        field = self.fields["save_over"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = templates_editable(user=user, context=self.context)

    def clean_subject(self) -> str:
        subject = str(self.cleaned_data["subject"]).strip()
        validate_header_text(subject)
        rendering.check_fields(subject, context=self.context)
        return subject

    def clean_body(self) -> str:
        body = str(self.cleaned_data["body"])
        if not body.strip():
            raise ValidationError(_("Le contenu est vide."), code="empty")
        rendering.check_fields(body, context=self.context)
        return body

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        name = str(cleaned.get("save_name") or "").strip()
        cleaned["save_name"] = name
        if cleaned.get("save_over") is None and "save_over" not in self.errors:
            if not name:
                self.add_error(
                    "save_name",
                    gettext("Donnez un nom au modèle, ou choisissez celui à remplacer."),
                )
            elif MailTemplate.objects.filter(
                owner=self.user, context=self.context, name__iexact=name
            ).exists():
                self.add_error(
                    "save_name",
                    gettext(
                        "Vous avez déjà un modèle « %(name)s » : choisissez-le dans la liste "
                        "pour remplacer sa version."
                    )
                    % {"name": name},
                )
        return cleaned

    @transaction.atomic
    def save(self) -> tuple[MailTemplate, bool]:
        """The template and whether it is new."""
        data = self.cleaned_data
        template: MailTemplate | None = data.get("save_over")
        created = template is None
        if template is None:
            template = MailTemplate.objects.create(
                name=data["save_name"], context=self.context, owner=self.user
            )
        else:
            template.save(update_fields=["updated_at"])
        MailTemplateVersion.objects.update_or_create(
            template=template,
            language=data["language"],
            defaults={"subject": data["subject"], "body": data["body"]},
        )
        return template, created


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
