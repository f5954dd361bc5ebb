"""Follow-up of a client's tax files: periodic VAT returns, corporate tax (ISOC), personal income
tax (IPP) and the filing of annual accounts at the National Bank (BNB).

Each row has a deadline computed by the rule of its kind (`rules.py`) unless a collaborator set
it by hand, a filed date and a status. Deadlines are stored, not computed on the fly, so that
lists can filter late files in the database.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from courrier.taxes import rules
from courrier.taxes.periods import format_period


class FilingStatus(models.TextChoices):
    TODO = "todo", _("à préparer")
    IN_PROGRESS = "in_progress", _("en cours")
    FILED = "filed", _("déposée")


class VatRegime(models.TextChoices):
    MONTHLY = "monthly", _("mensuel")
    QUARTERLY = "quarterly", _("trimestriel")
    NOT_LIABLE = "not_liable", _("non assujetti")


class VatProfile(models.Model):
    """A client's VAT regime: the Client model stays free of tax details."""

    client = models.OneToOneField(
        "clients.Client",
        verbose_name=_("client"),
        on_delete=models.CASCADE,
        related_name="vat_profile",
    )
    regime = models.CharField(
        _("régime TVA"), max_length=20, choices=VatRegime.choices, default=VatRegime.QUARTERLY
    )

    class Meta:
        verbose_name = _("régime TVA du client")
        verbose_name_plural = _("régimes TVA des clients")

    def __str__(self) -> str:
        return f"{self.client} — {self.get_regime_display()}"


class Filing(models.Model):
    """What every tax file has beside its client: deadline, filed date and status."""

    status = models.CharField(
        _("état"), max_length=20, choices=FilingStatus.choices, default=FilingStatus.TODO
    )
    deadline = models.DateField(_("échéance"))
    deadline_by_hand = models.BooleanField(
        _("échéance fixée à la main"),
        default=False,
        help_text=_("Sinon, l'échéance suit la règle légale et se recalcule."),
    )
    filed_on = models.DateField(_("déposée le"), null=True, blank=True)
    notes = models.TextField(_("remarques"), blank=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("créé par"),
    )

    class Meta:
        abstract = True

    def rule_deadline(self) -> date:
        raise NotImplementedError


class VatReturn(Filing):
    """A periodic VAT return: the period, the grid values as declared, the derived 71/72."""

    class PeriodKind(models.TextChoices):
        MONTH = "month", _("mois")
        QUARTER = "quarter", _("trimestre")

    client = models.ForeignKey(
        "clients.Client",
        verbose_name=_("client"),
        on_delete=models.PROTECT,
        related_name="vat_returns",
    )
    year = models.PositiveSmallIntegerField(_("année"))
    period_kind = models.CharField(
        _("périodicité"), max_length=10, choices=PeriodKind.choices, default=PeriodKind.QUARTER
    )
    period = models.PositiveSmallIntegerField(
        _("période"), help_text=_("Le mois (1 à 12) ou le trimestre (1 à 4).")
    )
    # {"54": "1234.56", ...}: the grids the client's figures fill, as decimal strings; 71 and 72
    # are never stored (see grid_71 / grid_72).
    grids = models.JSONField(_("grilles"), default=dict, blank=True)

    class Meta:
        verbose_name = _("déclaration TVA")
        verbose_name_plural = _("déclarations TVA")
        ordering = ["-year", "-period", "client__number"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "year", "period_kind", "period"], name="vat_return_unique"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(period_kind="month", period__gte=1, period__lte=12)
                    | models.Q(period_kind="quarter", period__gte=1, period__lte=4)
                ),
                name="vat_return_period_valid",
            ),
        ]
        indexes = [models.Index(fields=["year", "period_kind", "period"], name="vat_period")]

    def __str__(self) -> str:
        return f"{self.client} — {self.period_label}"

    @property
    def period_code(self) -> str:
        """2026-03 for a month, 2026-T3 for a quarter."""
        if self.period_kind == self.PeriodKind.MONTH:
            return f"{self.year}-{self.period:02d}"
        return f"{self.year}-T{self.period}"

    @property
    def regime(self) -> VatRegime:
        """The client's regime as recorded, else the one this return's periodicity implies."""
        try:
            return VatRegime(self.client.vat_profile.regime)
        except VatProfile.DoesNotExist:
            monthly = self.period_kind == self.PeriodKind.MONTH
            return VatRegime.MONTHLY if monthly else VatRegime.QUARTERLY

    @property
    def regime_label(self) -> str:
        return str(self.regime.label)

    @property
    def period_label(self) -> str:
        """The period in the interface language: "3e trimestre 2026", "mars 2026"."""
        return format_period(
            year=self.year,
            period=self.period,
            monthly=self.period_kind == self.PeriodKind.MONTH,
            language=(get_language() or "fr")[:2],
        )

    def clean(self) -> None:
        limit = 12 if self.period_kind == self.PeriodKind.MONTH else 4
        if not 1 <= (self.period or 0) <= limit:
            raise ValidationError(
                {
                    "period": _("La période doit être comprise entre 1 et %(limit)s.")
                    % {"limit": limit}
                }
            )
        self.grids = rules.grids_validate(self.grids)

    def rule_deadline(self) -> date:
        return rules.vat_deadline(
            year=self.year, period=self.period, monthly=self.period_kind == self.PeriodKind.MONTH
        )

    def grid(self, code: str) -> Decimal:
        """A grid's amount (0 when empty); 71 and 72 are derived."""
        if code == "71":
            return self.grid_71
        if code == "72":
            return self.grid_72
        return rules.grid_amount(self.grids, code)

    @property
    def balance(self) -> Decimal:
        """VAT due minus VAT deductible: positive is due to the State, negative due by it."""
        return rules.vat_balance(self.grids)

    @property
    def grid_71(self) -> Decimal:
        return max(self.balance, Decimal("0.00"))

    @property
    def grid_72(self) -> Decimal:
        return max(-self.balance, Decimal("0.00"))


class TaxReturn(Filing):
    """An income tax return (ISOC, IPP): a filing with the tax it comes to."""

    # Positive: tax to pay; negative: a refund; null: not computed yet.
    result = models.DecimalField(
        _("résultat (impôt à payer, négatif si à recevoir)"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
    )

    class Meta:
        abstract = True

    @property
    def result_amount(self) -> Decimal | None:
        """The result without its sign (the list says "à payer" or "à recevoir")."""
        return abs(self.result) if self.result is not None else None


class CorporateTaxReturn(TaxReturn):
    """ISOC: the corporate income tax return of one financial year."""

    client = models.ForeignKey(
        "clients.Client",
        verbose_name=_("client"),
        on_delete=models.PROTECT,
        related_name="corporate_tax_returns",
    )
    year_end = models.DateField(_("date de clôture de l'exercice comptable"))

    class Meta:
        verbose_name = _("déclaration ISOC")
        verbose_name_plural = _("déclarations ISOC")
        ordering = ["-year_end", "client__number"]
        constraints = [
            models.UniqueConstraint(fields=["client", "year_end"], name="isoc_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.client} — ISOC {self.assessment_year}"

    @property
    def assessment_year(self) -> int:
        return rules.isoc_assessment_year(self.year_end)

    @property
    def year_start(self) -> date:
        return rules.financial_year_start(self.year_end)

    def rule_deadline(self) -> date:
        return rules.isoc_deadline(self.year_end)


class IncomeTaxReturn(TaxReturn):
    """IPP: the personal income tax return of one income year."""

    client = models.ForeignKey(
        "clients.Client",
        verbose_name=_("client"),
        on_delete=models.PROTECT,
        related_name="income_tax_returns",
    )
    income_year = models.PositiveSmallIntegerField(_("année des revenus"))

    class Meta:
        verbose_name = _("déclaration IPP")
        verbose_name_plural = _("déclarations IPP")
        ordering = ["-income_year", "client__number"]
        constraints = [
            models.UniqueConstraint(fields=["client", "income_year"], name="ipp_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.client} — IPP {self.assessment_year}"

    @property
    def assessment_year(self) -> int:
        return self.income_year + 1

    def rule_deadline(self) -> date:
        return rules.ipp_deadline(self.income_year)


class AnnualAccountsFiling(Filing):
    """BNB: the annual accounts filed with the National Bank of Belgium."""

    class Model(models.TextChoices):
        FULL = "full", _("modèle complet")
        ABBREVIATED = "abbreviated", _("modèle abrégé")
        MICRO = "micro", _("micromodèle")

    client = models.ForeignKey(
        "clients.Client",
        verbose_name=_("client"),
        on_delete=models.PROTECT,
        related_name="annual_accounts_filings",
    )
    year_end = models.DateField(_("date de clôture de l'exercice comptable"))
    model = models.CharField(
        _("modèle"), max_length=20, choices=Model.choices, default=Model.ABBREVIATED
    )
    filing_reference = models.CharField(_("référence du dépôt"), max_length=40, blank=True)
    fee = models.DecimalField(
        _("frais de dépôt"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )

    class Meta:
        verbose_name = _("dépôt des comptes annuels (BNB)")
        verbose_name_plural = _("dépôts des comptes annuels (BNB)")
        ordering = ["-year_end", "client__number"]
        constraints = [
            models.UniqueConstraint(fields=["client", "year_end"], name="bnb_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.client} — BNB {self.year_end:%d/%m/%Y}"

    def rule_deadline(self) -> date:
        return rules.bnb_deadline(self.year_end)
