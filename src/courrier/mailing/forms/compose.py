"""The compose window's forms: the mail itself (recipients, copies, subject, body, files, options,
schedule) and "save as template" from the window."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.languages import MailLanguage
from courrier.mailing import rendering
from courrier.mailing.contexts import CLIENT_CONTEXT
from courrier.mailing.editor import RichTextField, RichTextWidget
from courrier.mailing.models import MailTemplate, MailTemplateVersion, Upload
from courrier.mailing.selectors import templates_editable, templates_for
from courrier.mailing.services.languages import OTHER_LANGUAGE
from courrier.mailing.services.options import clean_address, copies_check, horizon_check
from courrier.params import id_from
from courrier.validators import validate_header_text

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
        number = id_from(str(value))
        if number is not None and number not in ids:
            ids.append(number)
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

    field_context = CLIENT_CONTEXT

    def __init__(
        self,
        *args: Any,
        user: Collaborator,
        client: Client | None = None,
        default_language: str | None = None,
        context: str = CLIENT_CONTEXT,
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
