"""The firm's clients, their e-mail addresses, their tags and the saved selections of clients."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from courrier.languages import MailLanguage
from courrier.peppol.identifiers import normalise_peppol_id, peppol_id_of_company
from courrier.validators import normalise_enterprise_number, normalise_vat_number


class Tag(models.Model):
    """A label the firm puts on clients ("VIP", "Horeca", ...) to find them and write to them."""

    class Colour(models.TextChoices):
        GREY = "grey", _("gris")
        BLUE = "blue", _("bleu")
        GREEN = "green", _("vert")
        YELLOW = "yellow", _("jaune")
        ORANGE = "orange", _("orange")
        RED = "red", _("rouge")
        PURPLE = "purple", _("violet")
        TEAL = "teal", _("turquoise")

    # Background, text: pale backgrounds with dark text stay readable (WCAG AA) in every colour.
    PALETTE: ClassVar[dict[str, tuple[str, str]]] = {
        "grey": ("#eef1f5", "#3d4a5c"),
        "blue": ("#e3effb", "#1d5fa8"),
        "green": ("#e3f4ea", "#1f7a45"),
        "yellow": ("#fdf3d3", "#7a5600"),
        "orange": ("#fde9d9", "#9a4700"),
        "red": ("#fde4e1", "#b3261e"),
        "purple": ("#f1e8fb", "#6b2fa0"),
        "teal": ("#dff4f2", "#0f6963"),
    }

    name = models.CharField(_("nom"), max_length=40)
    colour = models.CharField(
        _("couleur"), max_length=10, choices=Colour.choices, default=Colour.BLUE
    )

    class Meta:
        verbose_name = _("étiquette")
        verbose_name_plural = _("étiquettes")
        ordering = ["name"]
        constraints = [
            # "VIP" and "vip" are the same tag to the people who type them.
            models.UniqueConstraint(
                Lower("name"),
                name="client_tag_name_unique",
                violation_error_message=_("Une étiquette porte déjà ce nom."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def style(self) -> str:
        """Inline CSS for the tag's chip."""
        background, text = self.PALETTE.get(self.colour, self.PALETTE["grey"])
        return f"background:{background};color:{text};border-color:{text}33"


class InvoiceChannel(models.TextChoices):
    """How a client receives the invoices of its billing company."""

    PEPPOL = "peppol", _("Peppol")
    EMAIL = "email", _("e-mail")
    PAPER = "paper", _("papier")


class Client(models.Model):
    class Kind(models.TextChoices):
        COMPANY = "company", _("société")
        PERSON = "person", _("personne physique")
        NONPROFIT = "nonprofit", _("ASBL")

    number = models.CharField(
        _("numéro de client"), max_length=20, unique=True, help_text=_("La référence du cabinet.")
    )
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.COMPANY)
    name = models.CharField(_("nom"), max_length=200)
    legal_form = models.CharField(_("forme juridique"), max_length=40, blank=True)
    enterprise_number = models.CharField(_("numéro d'entreprise"), max_length=20, blank=True)
    vat_number = models.CharField(_("numéro de TVA"), max_length=20, blank=True)
    language = models.CharField(
        _("langue"), max_length=2, choices=MailLanguage.choices, default=MailLanguage.FR
    )
    contact_name = models.CharField(
        _("personne de contact"),
        max_length=200,
        blank=True,
        help_text=_("Pour une société : la personne à qui l'on écrit."),
    )
    salutation = models.CharField(
        _("formule d'appel"),
        max_length=100,
        blank=True,
        help_text=_("Par exemple « Madame », « Cher Monsieur Peeters »."),
    )
    street = models.CharField(_("rue et numéro"), max_length=200, blank=True)
    postal_code = models.CharField(_("code postal"), max_length=10, blank=True)
    city = models.CharField(_("localité"), max_length=100, blank=True)
    country = models.CharField(_("pays"), max_length=2, default="BE")
    phone = models.CharField(_("téléphone"), max_length=40, blank=True)
    invoice_channel = models.CharField(
        _("envoi des factures"),
        max_length=10,
        choices=InvoiceChannel.choices,
        default=InvoiceChannel.PAPER,
        help_text=_(
            "Peppol : la facture électronique, obligatoire entre entreprises belges assujetties "
            "depuis le 1er janvier 2026 ; e-mail : le PDF ; papier : le registre papier."
        ),
    )
    # The client's Peppol participant identifier, `scheme:value` (0208:0123456789 for a Belgian
    # company); empty: derived from the enterprise number (courrier.peppol.identifiers).
    peppol_id = models.CharField(_("identifiant Peppol"), max_length=64, blank=True)
    peppol_courtesy_copy = models.BooleanField(
        _("copie de courtoisie du PDF par e-mail après l'envoi Peppol"), default=False
    )
    # What the last look-up on the Peppol network said (None: never looked up).
    peppol_registered = models.BooleanField(_("inscrit sur Peppol"), null=True, blank=True)
    peppol_document_types = models.JSONField(
        _("documents reçus par Peppol"), default=list, blank=True
    )
    peppol_checked_at = models.DateTimeField(_("vérifié sur Peppol le"), null=True, blank=True)
    billing_company = models.ForeignKey(
        "firm.BillingCompany",
        verbose_name=_("société facturante"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="clients",
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("collaborateur responsable"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="clients",
    )
    tags = models.ManyToManyField(
        Tag, verbose_name=_("étiquettes"), blank=True, related_name="clients"
    )
    active = models.BooleanField(_("actif"), default=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.number})"

    def clean(self) -> None:
        errors: dict[str, ValidationError] = {}
        for field, normalise in (
            ("enterprise_number", normalise_enterprise_number),
            ("vat_number", normalise_vat_number),
            ("peppol_id", normalise_peppol_id),
        ):
            value = getattr(self, field)
            if not value:
                continue
            try:
                setattr(self, field, normalise(value))
            except ValidationError as exc:
                errors[field] = exc
        if errors:
            raise ValidationError(errors)

    @property
    def peppol_address(self) -> str:
        """Where a Peppol invoice goes: the identifier given, else 0208: and the enterprise
        number of a Belgian client; empty when there is neither."""
        if self.peppol_id:
            return self.peppol_id
        if self.enterprise_number and self.country == "BE":
            try:
                return peppol_id_of_company(self.enterprise_number)
            except ValidationError:
                return ""
        return ""

    @property
    def display_name(self) -> str:
        return (
            f"{self.name} {self.legal_form}".strip() if self.kind != self.Kind.PERSON else self.name
        )

    def addresses(self, purpose: str | None = None) -> list[str]:
        """The client's e-mail addresses, in their order; for a purpose, those marked for it."""
        rows = list(self.emails.all())
        if purpose is None:
            return [row.address for row in rows]
        return [row.address for row in rows if row.purpose == purpose]

    def mail_addresses(self) -> list[str]:
        """Where a mail to the client goes: the general addresses, else every address."""
        return self.addresses(ClientEmail.Purpose.GENERAL) or self.addresses()

    def invoice_addresses(self) -> list[str]:
        """Where invoices go: the addresses marked for invoices, else the general ones."""
        return self.addresses(ClientEmail.Purpose.INVOICES) or self.addresses(
            ClientEmail.Purpose.GENERAL
        )


class ClientEmail(models.Model):
    class Purpose(models.TextChoices):
        GENERAL = "general", _("générale")
        INVOICES = "invoices", _("factures")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="emails")
    address = models.EmailField(_("adresse e-mail"))
    purpose = models.CharField(
        _("usage"), max_length=20, choices=Purpose.choices, default=Purpose.GENERAL
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("adresse e-mail")
        verbose_name_plural = _("adresses e-mail")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "address"], name="client_email_unique"),
        ]

    def __str__(self) -> str:
        return self.address

    def save(self, *args: object, **kwargs: object) -> None:
        # The domain is case-insensitive; the local part is the receiving server's business.
        local, _at, domain = self.address.strip().rpartition("@")
        self.address = f"{local}@{domain.lower()}" if local else self.address.strip()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class ClientSelection(models.Model):
    """A saved set of filters over the clients. It stores filters, not clients: each use
    recomputes the clients that match today. Shared, it is visible to the whole firm."""

    name = models.CharField(_("nom"), max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("propriétaire"),
        on_delete=models.CASCADE,
        related_name="client_selections",
    )
    shared = models.BooleanField(
        _("partagée avec le cabinet"),
        default=False,
        help_text=_("Les autres collaborateurs peuvent l'utiliser, pas la modifier."),
    )
    # SelectionFilters.as_dict(): read it back with SelectionFilters.from_dict().
    filters = models.JSONField(_("filtres"), default=dict, blank=True)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("sélection de clients")
        verbose_name_plural = _("sélections de clients")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                "owner",
                Lower("name"),
                name="client_selection_owner_name_unique",
                violation_error_message=_("Vous avez déjà une sélection de ce nom."),
            ),
        ]

    def __str__(self) -> str:
        return self.name
