"""Documents stored in a client's file."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Document(models.Model):
    """A file kept in a client's file: its kind, title and date, the bytes stored once with
    their fingerprint, and whether it is sensitive (then it is offered as a secure link rather
    than an attachment)."""

    class Kind(models.TextChoices):
        IPP_RETURN = "ipp_return", _("déclaration IPP")
        TAX_ASSESSMENT = "tax_assessment", _("avertissement-extrait de rôle")
        ANNUAL_ACCOUNTS = "annual_accounts", _("comptes annuels")
        CONTRACT = "contract", _("contrat")
        SUPPLIER_INVOICE = "supplier_invoice", _("facture fournisseur")
        LETTER = "letter", _("courrier")
        OTHER = "other", _("autre")

    # National register numbers and income data: sent as a link by default.
    SENSITIVE_KINDS = frozenset({Kind.IPP_RETURN, Kind.TAX_ASSESSMENT})

    client = models.ForeignKey(
        "clients.Client",
        on_delete=models.CASCADE,
        related_name="documents",
        verbose_name=_("client"),
    )
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.OTHER)
    title = models.CharField(_("titre"), max_length=200)
    date = models.DateField(_("date"))
    file = models.FileField(_("fichier"), upload_to="documents/%Y/%m/")
    filename = models.CharField(_("nom du fichier"), max_length=255)
    content_type = models.CharField(
        _("type de contenu"), max_length=255, default="application/octet-stream"
    )
    size = models.PositiveBigIntegerField(_("taille"), default=0)
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)
    sensitive = models.BooleanField(_("sensible"), default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("déposé par"),
    )
    uploaded_at = models.DateTimeField(_("déposé le"), auto_now_add=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["client", "-date"], name="document_client_date")]

    def __str__(self) -> str:
        return self.title
