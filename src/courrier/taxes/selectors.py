"""Reading the tax files for their lists: filters, and the latest mail written about each row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from courrier.mailing.models import OutboundMessage
from courrier.taxes.models import (
    AnnualAccountsFiling,
    CorporateTaxReturn,
    Filing,
    FilingStatus,
    IncomeTaxReturn,
    VatReturn,
)
from courrier.taxes.rules import isoc_assessment_year

F = TypeVar("F", bound=Filing)

# A mail in one of these states left or is on its way: the row counts as mailed. Failed and
# cancelled mails don't.
MAILED_STATUSES = (
    OutboundMessage.Status.QUEUED,
    OutboundMessage.Status.SENDING,
    OutboundMessage.Status.SENT,
    OutboundMessage.Status.RETRY,
    OutboundMessage.Status.HELD,
    OutboundMessage.Status.UNCERTAIN,
)


@dataclass(frozen=True)
class FilingFilters:
    """What a list is narrowed to; every part is optional."""

    year: int | None = None
    # VAT only: "T1".."T4" for a quarter, "1".."12" for a month.
    period: str = ""
    status: str = ""
    responsible_id: int | None = None
    late: bool = False
    not_mailed: bool = False
    query: str = ""


def _mails(context: str) -> QuerySet[OutboundMessage]:
    return OutboundMessage.objects.filter(
        context=context, object_id=OuterRef("pk"), status__in=MAILED_STATUSES
    )


def with_last_mail(queryset: QuerySet[F], *, context: str) -> QuerySet[F]:
    """Annotate each row with its latest mail (last_mail_id, last_mail_at, last_mail_status)."""
    latest = _mails(context).order_by("-created_at", "-id")
    return queryset.annotate(
        last_mail_id=Subquery(latest.values("id")[:1]),
        last_mail_at=Subquery(
            latest.annotate(at=Coalesce("sent_at", "created_at")).values("at")[:1]
        ),
        last_mail_status=Subquery(latest.values("status")[:1]),
    )


def _year_filter(model: type[Filing], year: int) -> Q:
    if model is VatReturn:
        return Q(year=year)
    if model is CorporateTaxReturn:
        # Assessment year N: financial years closed from 31/12 of N-1 to 30/12 of N.
        return Q(year_end__gte=date(year - 1, 12, 31), year_end__lte=date(year, 12, 30))
    if model is IncomeTaxReturn:
        return Q(income_year=year - 1)
    return Q(year_end__year=year)


def filings_list(
    *, model: type[F], context: str, filters: FilingFilters, today: date | None = None
) -> QuerySet[F]:
    """The rows of one kind of tax file matching `filters`, with their client, responsible and
    latest mail; `year` is the assessment year for ISOC and IPP, the closing year for BNB."""
    today = today or timezone.localdate()
    queryset = model._default_manager.select_related(  # type: ignore[attr-defined]
        "client", "client__responsible"
    )
    if model is VatReturn:
        queryset = queryset.select_related("client__vat_profile")
    if filters.year is not None:
        queryset = queryset.filter(_year_filter(model, filters.year))
    if model is VatReturn and filters.period:
        if filters.period.startswith("T"):
            queryset = queryset.filter(
                period_kind=VatReturn.PeriodKind.QUARTER, period=int(filters.period[1:])
            )
        else:
            queryset = queryset.filter(
                period_kind=VatReturn.PeriodKind.MONTH, period=int(filters.period)
            )
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.responsible_id is not None:
        queryset = queryset.filter(client__responsible_id=filters.responsible_id)
    if filters.late:
        queryset = queryset.filter(filed_on__isnull=True, deadline__lt=today).exclude(
            status=FilingStatus.FILED
        )
    if filters.not_mailed:
        queryset = queryset.exclude(Exists(_mails(context)))
    if filters.query:
        queryset = queryset.filter(
            Q(client__name__icontains=filters.query) | Q(client__number__icontains=filters.query)
        )
    return with_last_mail(queryset, context=context)


def filing_years(model: type[Filing]) -> list[int]:
    """The years the list's year filter offers, latest first."""
    if model is VatReturn:
        years = set(VatReturn.objects.values_list("year", flat=True))
    elif model is IncomeTaxReturn:
        years = {year + 1 for year in IncomeTaxReturn.objects.values_list("income_year", flat=True)}
    elif model is CorporateTaxReturn:
        years = {
            isoc_assessment_year(day)
            for day in CorporateTaxReturn.objects.values_list("year_end", flat=True)
        }
    else:
        years = {
            day.year for day in AnnualAccountsFiling.objects.values_list("year_end", flat=True)
        }
    return sorted(years, reverse=True)
