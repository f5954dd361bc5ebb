"""An invoice's mail: its key, its template, and the invoices as their mails read them.

Every path that mails an invoice (the register's batch, `courrier send-invoices`, "@", the send
on issue, the compose window) stores its first mail under `email_key` (`contexts.mail_key`)
with the purpose PURPOSE_EMAIL, and an explicit re-send under a key of its own with
PURPOSE_RESEND. The template is the company's invoice template, or its credit-note template for
a credit note (which never asks for payment: `asks_payment`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext_noop

from courrier.billing.fields import INVOICE_CONTEXT
from courrier.billing.models import Invoice
from courrier.billing.services.payment_terms import named, payment_asks
from courrier.firm.models import BillingCompany
from courrier.languages import MailLanguage
from courrier.mailing import contexts
from courrier.mailing.models import MailTemplate, MailTemplateVersion
from courrier.mailing.services import Reason
from courrier.texts import Sentence, Text, text_of

PURPOSE_EMAIL = "invoice"
PURPOSE_RESEND = "invoice-resend"


def email_key(invoice_pk: int) -> str:
    """The idempotency key of an invoice's mail: sent once, whatever runs it (the compose
    window included: `contexts.mail_key`)."""
    return contexts.mail_key(INVOICE_CONTEXT, invoice_pk)


# -- the template ------------------------------------------------------------------------------


def _company_template(context: str, chosen_id: int | None) -> MailTemplate | None:
    """The template chosen on the company, else the firm's template of `context` (a firm or
    shared template; the firm's own first, then by name). A chosen template that is no
    longer the firm's or shared, or no longer of that context, is passed over."""
    usable = MailTemplate.objects.filter(context=context).filter(
        Q(owner__isnull=True) | Q(shared=True)
    )
    if chosen_id is not None:
        chosen = usable.filter(pk=chosen_id).prefetch_related("versions").first()
        if chosen is not None:
            return chosen
    return (
        usable.prefetch_related("versions")
        .order_by(F("owner").asc(nulls_first=True), "name", "pk")
        .first()
    )


def invoice_template(*, billing_company: BillingCompany) -> MailTemplate | None:
    """The company's invoice template: the one chosen on the company, else the firm's
    template for invoices (context "invoice")."""
    return _company_template(MailTemplate.Context.INVOICE, billing_company.invoice_template_id)


def credit_note_template(*, billing_company: BillingCompany) -> MailTemplate | None:
    """The company's credit-note template: the one chosen on the company, else the firm's
    template for credit notes (context "credit_note"). Never the invoice template: that one
    asks for payment."""
    return _company_template(
        MailTemplate.Context.CREDIT_NOTE, billing_company.credit_note_template_id
    )


def mail_template_for(*, invoice: Invoice) -> MailTemplate | None:
    """The template of an invoice's mail: its company's credit-note template for a credit
    note, its invoice template otherwise."""
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        return credit_note_template(billing_company=invoice.billing_company)
    return invoice_template(billing_company=invoice.billing_company)


def asks_payment(template: MailTemplate, version: MailTemplateVersion) -> Reason | None:
    """Why a credit note cannot go with this version, when it asks for payment."""
    found = payment_asks(version.subject, version.body)
    if not found:
        return None
    return Reason(
        "asks_payment",
        Sentence(
            gettext_noop(
                "Le modèle « %(template)s » demande un paiement (%(found)s) : une note de "
                "crédit ne se paie pas. Choisissez un modèle de notes de crédit sur la page de "
                "la société facturante, ou retirez ces mentions."
            ),
            {"template": template.name, "found": named(found)},
        ),
    )


# Fields that only a credit note of an invoice can fill.
CREDITED_FIELDS = ("NUMFACTCREDITEE", "DATEFACTCREDITEE")


def credits_nothing(version: MailTemplateVersion) -> Reason | None:
    """A credit note that credits no invoice, with a template that names the invoice it
    credits, would go out with a hole."""
    text = f"{version.subject}\n{version.body}"
    if not any(f"{{{code}}}" in text for code in CREDITED_FIELDS):
        return None
    return Reason(
        "credits_nothing",
        Sentence(
            gettext_noop(
                "Cette note de crédit ne crédite aucune facture, mais le modèle cite la facture "
                "créditée ({NUMFACTCREDITEE}, {DATEFACTCREDITEE})."
            )
        ),
    )


# -- what is said ------------------------------------------------------------------------------


def language_label(code: str) -> Text | str:
    """A language's name, translated when shown."""
    try:
        return text_of(MailLanguage(code).label)
    except ValueError:
        return code


def not_issued() -> Text:
    return Sentence(gettext_noop("Brouillon : une facture est émise avant l'envoi."))


def no_template(*, credit_note: bool) -> Text:
    if credit_note:
        return Sentence(
            gettext_noop(
                "Aucun modèle de mail pour les notes de crédit : créez un modèle du cabinet de "
                "contexte « note de crédit » (celui des factures demande un paiement)."
            )
        )
    return Sentence(
        gettext_noop(
            "Aucun modèle de mail pour les factures : créez un modèle du cabinet de contexte "
            "« facture »."
        )
    )


def mail_invoices(ids: Iterable[int]) -> QuerySet[Invoice]:
    return (
        Invoice.objects.filter(pk__in=list(ids))
        .select_related(
            "client",
            "client__billing_company",
            "client__responsible",
            "billing_company",
            "credited_invoice",
        )
        .prefetch_related("client__emails")
    )
