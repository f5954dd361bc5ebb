"""Invoices and credit notes of the billing companies: lines, numbering, the issued PDF.

A document is a draft until it is issued. Issuing gives it the next number of its billing
company's series for its year (one series for invoices and credit notes, as in WinPrest),
inside the transaction that locks the series row: two people issuing at once get two
consecutive numbers, never the same one and never a gap. The unique constraint on
(company, year, number) is the database's guarantee behind that lock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from courrier.languages import MailLanguage

if TYPE_CHECKING:
    from courrier.peppol.validation import Finding


class InvoiceSeries(models.Model):
    """The last number given by a billing company in a year; its row is the issuing lock."""

    billing_company = models.ForeignKey(
        "firm.BillingCompany",
        on_delete=models.PROTECT,
        related_name="invoice_series",
        verbose_name=_("société facturante"),
    )
    year = models.PositiveSmallIntegerField(_("année"))
    last_number = models.PositiveIntegerField(_("dernier numéro"), default=0)

    class Meta:
        verbose_name = _("série de numérotation")
        verbose_name_plural = _("séries de numérotation")
        constraints = [
            models.UniqueConstraint(
                fields=["billing_company", "year"], name="invoice_series_company_year"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.billing_company_id}/{self.year}: {self.last_number}"


class VatRate(models.TextChoices):
    """The Belgian VAT rates."""

    ZERO = "0", _("0 %")
    SIX = "6", _("6 %")
    TWELVE = "12", _("12 %")
    TWENTYONE = "21", _("21 %")


class VatCategory(models.TextChoices):
    """The VAT category of a line (EN 16931, UNCL5305), as the Peppol invoice states it.

    S carries the rate (6, 12 or 21 %); every other category is at 0 % and, but for Z, the
    invoice says why no VAT is charged (its mention, and in the Peppol invoice the VATEX code)."""

    STANDARD = "S", _("taux normal ou réduit")
    ZERO = "Z", _("taux zéro")
    EXEMPT = "E", _("exonération")
    REVERSE_CHARGE = "AE", _("autoliquidation (TVA due par le cocontractant)")
    INTRA_EU = "K", _("livraison intracommunautaire")
    EXPORT = "G", _("exportation hors de l'Union européenne")
    OUTSIDE_SCOPE = "O", _("hors du champ de la TVA")


def line_vat(rate: str, category: str | None) -> tuple[str, str]:
    """The (rate, category) a line is stored with: a category other than S is at 0 %, and a
    0 % line whose category is not said is zero-rated (Z), as "0 %" always meant here."""
    category = category or VatCategory.STANDARD
    if category != VatCategory.STANDARD:
        return VatRate.ZERO.value, category
    if rate == VatRate.ZERO:
        return VatRate.ZERO.value, VatCategory.ZERO.value
    return rate, category


class Invoice(models.Model):
    class Kind(models.TextChoices):
        INVOICE = "invoice", _("facture")
        CREDIT_NOTE = "credit_note", _("note de crédit")

    class Status(models.TextChoices):
        DRAFT = "draft", _("brouillon")
        ISSUED = "issued", _("émise")

    class Register(models.TextChoices):
        PEPPOL = "peppol", _("registre Peppol")
        EMAIL = "email", _("registre e-mail")
        PAPER = "paper", _("registre papier")

    billing_company = models.ForeignKey(
        "firm.BillingCompany",
        verbose_name=_("société facturante"),
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    client = models.ForeignKey(
        "clients.Client",
        verbose_name=_("client"),
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.INVOICE)
    status = models.CharField(
        _("état"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    # Given at issue: the year of the issue date and the next number of the series.
    year = models.PositiveSmallIntegerField(_("année"), null=True, blank=True)
    number = models.PositiveIntegerField(_("numéro"), null=True, blank=True)
    issue_date = models.DateField(_("date de facture"))
    due_date = models.DateField(_("échéance"))
    # The client's language when the document was made: the PDF and the mail speak it.
    language = models.CharField(
        _("langue"), max_length=2, choices=MailLanguage.choices, default=MailLanguage.FR
    )
    # The credit note's invoice, when it credits one.
    credited_invoice = models.ForeignKey(
        "self",
        verbose_name=_("facture créditée"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_notes",
    )
    # The buyer's reference (Peppol BT-10) and its purchase order (BT-13).
    reference = models.CharField(_("votre référence"), max_length=100, blank=True)
    order_reference = models.CharField(_("bon de commande"), max_length=100, blank=True)
    # Why no VAT is charged on the lines of category E (exempt): the legal mention, e.g.
    # "Exonération — article 44, § 2, du Code de la TVA"; printed and sent in the UBL.
    vat_exemption_reason = models.CharField(
        _("motif d'exonération de TVA"), max_length=300, blank=True
    )
    notes = models.TextField(_("mentions"), blank=True)
    # 12 digits, the last two the check digits; shown as +++ddd/dddd/ddddd+++.
    structured_communication = models.CharField(
        _("communication structurée"), max_length=12, blank=True
    )
    total_excl_vat = models.DecimalField(
        _("total hors TVA"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    total_vat = models.DecimalField(
        _("total TVA"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    total_incl_vat = models.DecimalField(
        _("total TVA comprise"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    # Where it went at issue: the e-mail register (the client chose e-mail and has an invoice
    # address) or the paper register.
    register = models.CharField(
        _("registre"), max_length=10, choices=Register.choices, blank=True, default=""
    )
    # The PDF as issued, made once; a re-send attaches these very bytes.
    pdf = models.FileField(_("PDF"), upload_to="invoices/%Y/", blank=True)
    pdf_sha256 = models.CharField(_("empreinte SHA-256 du PDF"), max_length=64, blank=True)
    # The Peppol e-invoice (UBL 2.1) as issued, made once like the PDF and validated before it
    # is stored; a re-send sends these very bytes.
    ubl = models.FileField(_("facture électronique (UBL)"), upload_to="invoices/%Y/", blank=True)
    ubl_sha256 = models.CharField(_("empreinte SHA-256 de l'UBL"), max_length=64, blank=True)
    # The fatal findings of the last validation that refused the UBL (courrier.peppol.validation
    # Finding.as_dict()); emptied when a valid one is stored.
    ubl_findings = models.JSONField(_("erreurs de validation Peppol"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("créée par"),
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    issued_at = models.DateTimeField(_("émise le"), null=True, blank=True)

    class Meta:
        verbose_name = _("facture")
        verbose_name_plural = _("factures")
        ordering = ["-year", "-number", "-id"]
        # Held through the group "Facturation" or by an administrator's role
        # (courrier.firm.permissions).
        permissions = [
            ("issue_invoice", _("Peut émettre une facture (numéro légal)")),
            ("delete_draft", _("Peut supprimer un brouillon de facture")),
            ("send_invoices", _("Peut envoyer des factures")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["billing_company", "year", "number"],
                condition=Q(number__isnull=False),
                name="invoice_number_unique",
            ),
            # Issued means numbered, and only issued documents have a number.
            models.CheckConstraint(
                condition=(
                    Q(status="issued", number__isnull=False, year__isnull=False)
                    | Q(status="draft", number__isnull=True)
                ),
                name="invoice_issued_numbered",
            ),
            models.CheckConstraint(
                condition=Q(number__isnull=True) | Q(number__gte=1), name="invoice_number_positive"
            ),
        ]
        indexes = [
            models.Index(
                fields=["billing_company", "register", "issue_date"], name="invoice_register"
            ),
            models.Index(fields=["client", "-issue_date"], name="invoice_client"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.display_number}"

    @property
    def display_number(self) -> str:
        """2026/0042 once issued; empty for a draft."""
        if self.number is None or self.year is None:
            return ""
        return f"{self.year}/{self.number:04d}"

    @property
    def is_issued(self) -> bool:
        return self.status == self.Status.ISSUED

    @property
    def is_credit_note(self) -> bool:
        return self.kind == self.Kind.CREDIT_NOTE

    @property
    def signed_total_incl_vat(self) -> Decimal:
        """The total as lists and registers add it up: a credit note's is negative (its own
        document, the PDF, prints it as the amount credited)."""
        return -self.total_incl_vat if self.is_credit_note else self.total_incl_vat

    @property
    def einvoice_findings(self) -> list[Finding]:
        """The fatal findings of the last validation of its UBL, each with its rule's page
        and its text in the reader's language where Courrier words it."""
        from courrier.peppol.validation import Finding

        return [Finding.from_dict(item) for item in self.ubl_findings or [] if item]


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    description = models.CharField(_("description"), max_length=500)
    quantity = models.DecimalField(
        _("quantité"),
        max_digits=12,
        decimal_places=3,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    unit_price = models.DecimalField(_("prix unitaire HTVA"), max_digits=14, decimal_places=2)
    vat_rate = models.CharField(
        _("taux de TVA"), max_length=3, choices=VatRate.choices, default=VatRate.TWENTYONE
    )
    vat_category = models.CharField(
        _("catégorie de TVA"),
        max_length=2,
        choices=VatCategory.choices,
        default=VatCategory.STANDARD,
    )

    class Meta:
        verbose_name = _("ligne de facture")
        verbose_name_plural = _("lignes de facture")
        ordering = ["position", "id"]
        constraints = [
            # S at 6, 12 or 21 %; every other category at 0 %.
            models.CheckConstraint(
                condition=(Q(vat_category="S") & Q(vat_rate__in=["6", "12", "21"]))
                | (~Q(vat_category="S") & Q(vat_rate="0")),
                name="invoice_line_category_rate",
            ),
        ]

    def __str__(self) -> str:
        return self.description

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.vat_rate, self.vat_category = line_vat(str(self.vat_rate), self.vat_category)
        super().save(*args, **kwargs)

    @property
    def amount_excl_vat(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))
