"""Reads for the invoice pages: a billing company's invoices and registers with the state of
each invoice's latest mail, a client's invoices, one invoice's mails, the choices of a batch."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from courrier.billing.fields import INVOICE_CONTEXT
from courrier.billing.models import Invoice, InvoiceSeries
from courrier.firm.models import BillingCompany
from courrier.mailing.models import MailBatch, OutboundMessage

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from courrier.clients.models import Client

# The state of an invoice's mail as the registers show it, from its latest message.
MAIL_STATES: dict[str, StrOrPromise] = {
    "unsent": _("non envoyée"),
    "queued": _("en file d'attente"),
    "sent": _("envoyée"),
    "delivered": _("remise"),
    "bounced": _("rejetée"),
    "failed": _("échec"),
    "uncertain": _("incertaine"),
    "cancelled": _("annulée"),
    # An e-invoice: the buyer's answers, when its access point reports them.
    "approved": _("acceptée par le client"),
    "disputed": _("contestée par le client"),
    "paid": _("payée"),
}
_WAITING = {"queued", "sending", "retry", "held"}
_DELIVERED = {"delivered", "opened", "acknowledged"}
_BOUNCED = {"bounced", "dropped", "complained", "rejected"}
_ANSWERED = {"approved", "disputed", "paid"}


def mail_state(status: str | None, delivery_status: str | None) -> str:
    """One word for the latest mail of an invoice: unsent, queued, sent, delivered, bounced,
    failed, uncertain or cancelled (a key of MAIL_STATES). A cancelled mail is not "unsent":
    a batch leaves that invoice out, and only "@" sends it again."""
    if not status:
        return "unsent"
    if status == "cancelled":
        return "cancelled"
    if status in _WAITING:
        return "queued"
    if status == "failed":
        return "failed"
    if status == "uncertain":
        return "uncertain"
    if delivery_status in _ANSWERED:
        return str(delivery_status)
    if delivery_status in _DELIVERED:
        return "delivered"
    if delivery_status in _BOUNCED:
        return "bounced"
    return "sent"


def company_get(*, code: str) -> BillingCompany | None:
    """A billing company by its code, whatever its case."""
    return BillingCompany.objects.filter(code__iexact=code.strip()[:20]).first()


def companies() -> QuerySet[BillingCompany]:
    return BillingCompany.objects.order_by("name")


@dataclass(frozen=True)
class InvoiceFilters:
    """What a list or register page is narrowed to; empty values keep everything."""

    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    status: str = ""  # draft / issued (the list) or a MAIL_STATES key (the registers)
    query: str = ""


# The courtesy copy by e-mail of an e-invoice: the registers show the e-invoice's state.
_COURTESY = "invoice-courtesy"


def _latest_mail() -> QuerySet[OutboundMessage]:
    return (
        OutboundMessage.objects.filter(context=INVOICE_CONTEXT, object_id=OuterRef("pk"))
        .exclude(purpose=_COURTESY)
        .order_by("-created_at", "-id")
    )


def with_mail(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Invoices annotated with their latest mail: mail_id, mail_status, mail_delivery."""
    latest = _latest_mail()
    return invoices.annotate(
        mail_id=Subquery(latest.values("pk")[:1]),
        mail_status=Subquery(latest.values("status")[:1]),
        mail_delivery=Subquery(latest.values("delivery_status")[:1]),
        mail_sent_at=Subquery(latest.values("sent_at")[:1]),
        mail_error=Subquery(latest.values("last_error")[:1]),
    )


def _mail_state_q(state: str) -> Q | None:
    """The condition on the annotations of `with_mail` for one mail state."""
    if state == "unsent":
        return Q(mail_status__isnull=True)
    if state == "cancelled":
        return Q(mail_status="cancelled")
    if state == "queued":
        return Q(mail_status__in=_WAITING)
    if state in ("failed", "uncertain"):
        return Q(mail_status=state)
    if state == "delivered":
        return Q(mail_status="sent", mail_delivery__in=_DELIVERED)
    if state == "bounced":
        return Q(mail_status="sent", mail_delivery__in=_BOUNCED)
    if state in _ANSWERED:
        return Q(mail_status="sent", mail_delivery=state)
    if state == "sent":
        return Q(mail_status="sent") & ~Q(mail_delivery__in=_DELIVERED | _BOUNCED | _ANSWERED)
    return None


def _client_q(query: str) -> Q:
    q = Q()
    for word in query.split()[:5]:
        q &= (
            Q(client__name__icontains=word)
            | Q(client__number__icontains=word)
            | Q(reference__icontains=word)
        )
    return q


def company_invoices(
    *, company: BillingCompany, register: str = "", filters: InvoiceFilters = InvoiceFilters()
) -> QuerySet[Invoice]:
    """A billing company's invoices and credit notes, newest first, with their latest mail.

    With a register ("email" or "paper"): the issued documents of that register, and the
    filter's status is a mail state. Without: every document, drafts first, and the status is
    draft or issued."""
    invoices = with_mail(
        Invoice.objects.filter(billing_company=company).select_related("client", "billing_company")
    )
    if register:
        invoices = invoices.filter(status=Invoice.Status.ISSUED, register=register)
        state_q = _mail_state_q(filters.status)
        if state_q is not None:
            invoices = invoices.filter(state_q)
    elif filters.status in Invoice.Status.values:
        invoices = invoices.filter(status=filters.status)
    if filters.date_from:
        invoices = invoices.filter(issue_date__gte=filters.date_from)
    if filters.date_to:
        invoices = invoices.filter(issue_date__lte=filters.date_to)
    if filters.query:
        invoices = invoices.filter(_client_q(filters.query))
    if register:
        return invoices.order_by("-year", "-number", "-id")
    # Drafts ("draft" sorts before "issued") above the numbered documents, newest first.
    return invoices.order_by("status", "-year", "-number", "-id")


def client_invoices(*, client: Client) -> QuerySet[Invoice]:
    """A client's invoices and credit notes of every billing company, drafts included, newest
    first (by issue date: numbers of two companies' series do not compare), each with its
    latest mail as the registers have it (`with_mail`)."""
    return with_mail(
        Invoice.objects.filter(client=client).select_related("billing_company")
    ).order_by("-issue_date", "-id")


def invoice_get(*, pk: int) -> Invoice | None:
    return (
        Invoice.objects.select_related("billing_company", "client", "credited_invoice")
        .filter(pk=pk)
        .first()
    )


def invoice_mails(*, invoice: Invoice) -> QuerySet[OutboundMessage]:
    """Every mail about this invoice, newest first."""
    return OutboundMessage.objects.filter(context=INVOICE_CONTEXT, object_id=invoice.pk).order_by(
        "-created_at", "-id"
    )


def register_invoices(
    *, company: BillingCompany, register: str | tuple[str, ...], ids: Iterable[int]
) -> list[Invoice]:
    """The issued invoices of a register (or of these registers) among these ids, in register
    order; others dropped."""
    wanted = {int(pk) for pk in ids}
    if not wanted:
        return []
    registers = (register,) if isinstance(register, str) else register
    return list(
        Invoice.objects.filter(
            billing_company=company,
            status=Invoice.Status.ISSUED,
            register__in=registers,
            pk__in=wanted,
        )
        .select_related("client", "billing_company")
        .order_by("year", "number", "id")
    )


def unsent_invoices(
    *,
    company: BillingCompany,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> list[Invoice]:
    """The invoices of the Peppol and e-mail registers that nothing was ever queued for (a
    batch sends each its client's way), oldest first, optionally within issue dates."""
    filters = InvoiceFilters(date_from=date_from, date_to=date_to, status="unsent")
    invoices = company_invoices(
        company=company, register=Invoice.Register.EMAIL, filters=filters
    ) | company_invoices(company=company, register=Invoice.Register.PEPPOL, filters=filters)
    return list(invoices.order_by("year", "number", "id"))


def batch_invoices(*, ids: Iterable[int]) -> QuerySet[Invoice]:
    """The invoices of a batch with their latest mail, in the batch's order of numbers."""
    return with_mail(
        Invoice.objects.filter(pk__in=list(ids)).select_related("client", "billing_company")
    ).order_by("year", "number", "id")


def batch_of_company(*, company: BillingCompany, pk: int) -> MailBatch | None:
    """An invoice batch of this company, or None: a batch belongs to the company of its
    invoices, and one that holds another company's invoice is not this company's."""
    batch = MailBatch.objects.filter(pk=pk, context=INVOICE_CONTEXT).first()
    if batch is None:
        return None
    ids = [int(pk) for pk in batch.object_ids or [] if str(pk).isdigit()]
    companies = set(Invoice.objects.filter(pk__in=ids).values_list("billing_company_id", flat=True))
    return batch if companies == {company.pk} else None


def next_number(*, invoice: Invoice) -> str:
    """The number a draft would take if it were issued now ("2026/0043"), nothing reserved:
    the next of its company's series for the year of its date."""
    year = invoice.issue_date.year
    last = (
        InvoiceSeries.objects.filter(billing_company_id=invoice.billing_company_id, year=year)
        .values_list("last_number", flat=True)
        .first()
    )
    return f"{year}/{(last or 0) + 1:04d}"


def company_batches(*, company: BillingCompany, limit: int = 5) -> list[MailBatch]:
    """The latest batches of invoice mails of a billing company, newest first (a batch's
    company is that of its invoices)."""
    recent = list(
        MailBatch.objects.filter(context=INVOICE_CONTEXT)
        .exclude(object_ids=[])
        .select_related("sender")
        .order_by("-created_at", "-id")[:50]
    )
    firsts = {batch.pk: int(batch.object_ids[0]) for batch in recent if batch.object_ids}
    mine = set(
        Invoice.objects.filter(pk__in=firsts.values(), billing_company=company).values_list(
            "pk", flat=True
        )
    )
    return [batch for batch in recent if firsts.get(batch.pk) in mine][:limit]
