"""The firm: its one settings row, its collaborators (the users) and its billing companies."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.fields.files import FieldFile
from django.utils.translation import gettext_lazy as _

from courrier.amounts import DEFAULT_AMOUNT_FORMAT, AmountFormat
from courrier.languages import MailLanguage, UILanguage
from courrier.validators import (
    normalise_enterprise_number,
    normalise_iban,
    normalise_vat_number,
    validate_header_text,
)

LOGO_MAX_SIZE = 2 * 1024 * 1024
_LOGO_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def validate_logo(value: FieldFile) -> None:
    """A logo is a PNG, a JPEG or an SVG image of 2 MB at most, judged by its bytes."""
    if value.size is not None and value.size > LOGO_MAX_SIZE:
        raise ValidationError(_("Le logo dépasse 2 Mo."), code="logo_too_large")
    value.seek(0)
    head = value.read(512)
    value.seek(0)
    if isinstance(head, str):
        head = head.encode()
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    is_svg = text.startswith((b"<?xml", b"<svg")) and b"<svg" in head + value.read(4096)
    value.seek(0)
    if not (head.startswith(_LOGO_SIGNATURES) or is_svg):
        raise ValidationError(_("Le logo doit être une image PNG, JPEG ou SVG."), code="logo_type")


class Firm(models.Model):
    """Firm-wide settings. One row per installation (pk=1)."""

    name = models.CharField(_("nom du cabinet"), max_length=200, default="")
    default_language = models.CharField(
        _("langue par défaut des mails"),
        max_length=2,
        choices=MailLanguage.choices,
        default=MailLanguage.FR,
    )
    fixed_bcc = models.EmailField(
        _("copie cachée fixe"),
        blank=True,
        help_text=_(
            "Reçoit une copie cachée de chaque mail envoyé (par exemple une boîte d'archive)."
        ),
    )
    website = models.URLField(_("site web"), blank=True)
    phone = models.CharField(_("téléphone"), max_length=40, blank=True)
    track_opens = models.BooleanField(
        _("suivre l'ouverture des mails"),
        default=False,
        help_text=_(
            "Les fournisseurs qui le permettent (SendGrid, Brevo, Mailgun, Postmark, Amazon SES) "
            "signalent quand un destinataire ouvre le mail."
        ),
    )
    amount_format = models.CharField(
        _("format des montants"),
        max_length=10,
        choices=AmountFormat.choices,
        default=DEFAULT_AMOUNT_FORMAT,
        help_text=_(
            "Le même dans les mails (quelle que soit leur langue), les factures en PDF et les "
            "listes."
        ),
    )
    # Belgian tax law keeps invoices and the documents behind the accounts 10 years (VAT Code
    # art. 60, ITC 92 art. 315, as amended by the law of 20 November 2022, from 2023; the Code
    # of Economic Law still says 7): the default. The purge (`courrier data_purge`) never
    # deletes an invoice nor its mails.
    retention_years = models.PositiveSmallIntegerField(
        _("conserver les mails et documents archivés (années)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_(
            "Les mails envoyés et les documents des fiches clients plus anciens sont supprimés "
            "chaque nuit (vide : 10 ans). Les factures émises et les mails qui les ont envoyées "
            "sont toujours conservés."
        ),
    )

    class Meta:
        verbose_name = _("cabinet")
        verbose_name_plural = _("cabinet")

    def __str__(self) -> str:
        return self.name or str(_("Cabinet"))

    @classmethod
    def load(cls) -> Firm:
        firm, _created = cls.objects.get_or_create(pk=1)
        return firm


# One signature per mail language, on collaborators and on billing companies: the form fields,
# in the order the forms show them.
SIGNATURE_FIELDS = tuple(f"signature_{language}" for language in MailLanguage.values)


class MailSignatures(models.Model):
    """The signature of whoever signs a mail, one version per mail language, each stored as
    the rich-text editor writes it (sanitised HTML, see `courrier.mailing.editor`). Which
    version a mail gets, if any, is decided by `courrier.mailing.signatures.mail_signature`."""

    signature_fr = models.TextField(_("signature en français"), blank=True)
    signature_nl = models.TextField(_("signature en néerlandais"), blank=True)
    signature_de = models.TextField(_("signature en allemand"), blank=True)
    signature_en = models.TextField(_("signature en anglais"), blank=True)

    class Meta:
        abstract = True

    def signature_in(self, language: str) -> str:
        """The version written for mails in `language`, without its surrounding blank lines;
        "" when there is none."""
        if language not in MailLanguage.values:
            return ""
        return str(getattr(self, f"signature_{language}")).strip()

    @property
    def signature_languages(self) -> list[str]:
        """The mail languages that have a version, in the order fr, nl, de, en."""
        return [language for language in MailLanguage.values if self.signature_in(language)]


class CollaboratorManager(BaseUserManager["Collaborator"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> Collaborator:
        if not email:
            raise ValueError("A collaborator needs an e-mail address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> Collaborator:
        # People type their address with capitals (phones do it for them); addresses are stored
        # in lower case, so the login ignores case.
        return self.get(email__iexact=(username or "").strip())

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> Collaborator:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(
        self, email: str, password: str | None = None, **extra: Any
    ) -> Collaborator:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", Collaborator.Role.ADMIN)
        return self._create(email, password, **extra)


class Collaborator(AbstractUser, MailSignatures):
    """A member of the firm's staff who logs in. Logs in with their e-mail address."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("administrateur du cabinet")
        COLLABORATOR = "collaborator", _("collaborateur")

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("adresse e-mail"), unique=True)
    role = models.CharField(
        _("rôle"), max_length=20, choices=Role.choices, default=Role.COLLABORATOR
    )
    language = models.CharField(
        _("langue de l'interface"), max_length=2, choices=UILanguage.choices, default=UILanguage.FR
    )
    phone = models.CharField(_("téléphone"), max_length=40, blank=True)
    # When the last "forgotten password" mail left for this account: anyone may type its
    # address on the reset page, so mails to it are spaced (`firm.passwords`).
    password_reset_sent_at = models.DateTimeField(
        _("dernier mail « mot de passe oublié »"), null=True, blank=True, editable=False
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = CollaboratorManager()  # type: ignore[misc,assignment]

    class Meta:
        verbose_name = _("collaborateur")
        verbose_name_plural = _("collaborateurs")
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    @property
    def is_firm_admin(self) -> bool:
        return self.role == self.Role.ADMIN or self.is_superuser

    def clean(self) -> None:
        super().clean()
        for name in ("first_name", "last_name"):
            validate_header_text(getattr(self, name))


class BillingCompany(MailSignatures):
    """A company of the firm that issues invoices, with its own sending settings."""

    code = models.SlugField(
        _("code"),
        max_length=20,
        unique=True,
        help_text=_("Code court utilisé en ligne de commande, par exemple « FIDU »."),
    )
    name = models.CharField(_("dénomination"), max_length=200)
    legal_form = models.CharField(_("forme juridique"), max_length=40, blank=True)
    enterprise_number = models.CharField(_("numéro d'entreprise"), max_length=20, unique=True)
    vat_number = models.CharField(_("numéro de TVA"), max_length=20, blank=True)
    street = models.CharField(_("rue et numéro"), max_length=200, blank=True)
    postal_code = models.CharField(_("code postal"), max_length=10, blank=True)
    city = models.CharField(_("localité"), max_length=100, blank=True)
    country = models.CharField(_("pays"), max_length=2, default="BE")
    iban = models.CharField(_("IBAN"), max_length=42, blank=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    email = models.EmailField(_("adresse e-mail"), blank=True)
    phone = models.CharField(_("téléphone"), max_length=40, blank=True)
    default_language = models.CharField(
        _("langue par défaut"), max_length=2, choices=MailLanguage.choices, default=MailLanguage.FR
    )
    # Invoices. WinPrest's rule: an issued invoice waits in the e-mail register for a batch,
    # so that someone checks it first; the option sends each one as soon as it is issued.
    send_invoices_on_issue = models.BooleanField(
        _("envoyer chaque facture dès son émission"),
        default=False,
        help_text=_(
            "Sinon, les factures des clients qui les reçoivent par e-mail attendent dans le "
            "registre e-mail et partent par lot."
        ),
    )
    # The mail that carries its invoices; empty: the firm's invoice template.
    invoice_template = models.ForeignKey(
        "mailing.MailTemplate",
        verbose_name=_("modèle de mail des factures"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"context": "invoice"},
        help_text=_(
            "Le mail qui accompagne ses factures. Vide : le modèle de factures du cabinet."
        ),
    )
    # A credit note asks for no payment: it has a mail of its own, never the invoice one.
    credit_note_template = models.ForeignKey(
        "mailing.MailTemplate",
        verbose_name=_("modèle de mail des notes de crédit"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"context": "credit_note"},
        help_text=_(
            "Le mail qui accompagne ses notes de crédit. Vide : le modèle de notes de crédit "
            "du cabinet."
        ),
    )
    invoice_due_days = models.PositiveSmallIntegerField(
        _("délai de paiement (jours)"),
        default=30,
        validators=[MaxValueValidator(365)],
        help_text=_("Échéance proposée pour une nouvelle facture, en jours après sa date."),
    )
    invoice_colour = models.CharField(
        _("couleur des factures"),
        max_length=7,
        default="#1F4E79",
        validators=[
            RegexValidator(
                r"^#[0-9A-Fa-f]{6}$",
                _("Indiquez une couleur au format #RRVVBB, par exemple #1F4E79."),
            )
        ],
    )
    invoice_logo = models.FileField(
        _("logo sur les factures"),
        upload_to="logos/",
        blank=True,
        validators=[validate_logo],
        help_text=_("Image PNG, JPEG ou SVG de 2 Mo au plus."),
    )
    invoice_footer = models.TextField(
        _("pied de page des factures"),
        blank=True,
        help_text=_("Texte ajouté au bas de chaque facture (conditions générales, ...)."),
    )

    class Meta:
        verbose_name = _("société facturante")
        verbose_name_plural = _("sociétés facturantes")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} {self.legal_form}".strip()

    def clean(self) -> None:
        errors: dict[str, ValidationError] = {}
        for field, normalise in (
            ("enterprise_number", normalise_enterprise_number),
            ("vat_number", normalise_vat_number),
            ("iban", normalise_iban),
        ):
            value = getattr(self, field)
            if not value:
                continue
            try:
                setattr(self, field, normalise(value))
            except ValidationError as exc:
                errors[field] = exc
        if self.code:
            self.code = self.code.upper()
        if errors:
            raise ValidationError(errors)


class WorkerHeartbeat(models.Model):
    """One row: since when the health page waits for a sign of life of the workers (a heartbeat
    task in the queue), when it last queued one, and when a worker last ran one. A request older
    than the health page's limit with no answer since says that no worker takes tasks."""

    requested_at = models.DateTimeField(_("demandé le"), null=True, blank=True)
    enqueued_at = models.DateTimeField(_("mis en file le"), null=True, blank=True)
    answered_at = models.DateTimeField(_("répondu le"), null=True, blank=True)

    class Meta:
        verbose_name = _("signe de vie des workers")
        verbose_name_plural = _("signes de vie des workers")

    def __str__(self) -> str:
        return f"{self.requested_at} → {self.answered_at}"
