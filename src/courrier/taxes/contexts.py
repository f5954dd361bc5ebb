"""The four mail contexts of the tax files: their resolvers for the compose window and batches.

Every collaborator sees every client's files (as in the client list), so a resolver leaves out
only ids that do not exist. Labels are in the interface language; values in the recipient's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from django.db.models import Model, QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from courrier.mailing.contexts import MailContext
from courrier.taxes import fields
from courrier.taxes.models import (
    AnnualAccountsFiling,
    CorporateTaxReturn,
    IncomeTaxReturn,
    VatReturn,
)

if TYPE_CHECKING:
    from courrier.firm.models import Collaborator

M = TypeVar("M", bound=Model)

VAT = "vat"
ISOC = "isoc"
IPP = "ipp"
BNB = "bnb"


def _in_order(queryset: QuerySet[M], ids: Sequence[int]) -> list[M]:
    rows = {row.pk: row for row in queryset.filter(pk__in=list(ids))}
    seen: set[int] = set()
    ordered: list[M] = []
    for pk in ids:
        if pk in rows and pk not in seen:
            seen.add(pk)
            ordered.append(rows[pk])
    return ordered


def _ui_language() -> str:
    return (get_language() or "fr")[:2]


def vat_label(vat_return: VatReturn) -> str:
    return _("TVA %(period)s") % {"period": fields.vat_period(vat_return, _ui_language())}


def isoc_label(filing: CorporateTaxReturn) -> str:
    return _("ISOC exercice %(year)s") % {"year": filing.assessment_year}


def ipp_label(filing: IncomeTaxReturn) -> str:
    return _("IPP exercice %(year)s (revenus %(income_year)s)") % {
        "year": filing.assessment_year,
        "income_year": filing.income_year,
    }


def bnb_label(filing: AnnualAccountsFiling) -> str:
    return _("Comptes annuels au %(date)s") % {"date": f"{filing.year_end:%d/%m/%Y}"}


def _year_group(year: int) -> str:
    return _("exercice d'imposition %(year)s") % {"year": year}


def _values(
    function: Callable[[M, str], dict[str, str]], row: M
) -> Callable[[str], dict[str, str]]:
    return lambda language: function(row, language)


def _with_client(queryset: QuerySet[M]) -> QuerySet[M]:
    return queryset.select_related(
        "client", "client__billing_company", "client__responsible"
    ).prefetch_related("client__emails")


def vat_contexts(ids: Sequence[int], user: Collaborator | None) -> list[MailContext]:
    queryset = _with_client(VatReturn.objects.select_related("client__vat_profile"))
    return [
        MailContext(
            name=VAT,
            client=row.client,
            values=_values(fields.vat_values, row),
            object_id=row.pk,
            label=vat_label(row),
            group=fields.vat_period(row, _ui_language()),
        )
        for row in _in_order(queryset, ids)
    ]


def isoc_contexts(ids: Sequence[int], user: Collaborator | None) -> list[MailContext]:
    return [
        MailContext(
            name=ISOC,
            client=row.client,
            values=_values(fields.isoc_values, row),
            object_id=row.pk,
            label=isoc_label(row),
            group=_year_group(row.assessment_year),
        )
        for row in _in_order(_with_client(CorporateTaxReturn.objects.all()), ids)
    ]


def ipp_contexts(ids: Sequence[int], user: Collaborator | None) -> list[MailContext]:
    return [
        MailContext(
            name=IPP,
            client=row.client,
            values=_values(fields.ipp_values, row),
            object_id=row.pk,
            label=ipp_label(row),
            group=_year_group(row.assessment_year),
        )
        for row in _in_order(_with_client(IncomeTaxReturn.objects.all()), ids)
    ]


def bnb_contexts(ids: Sequence[int], user: Collaborator | None) -> list[MailContext]:
    return [
        MailContext(
            name=BNB,
            client=row.client,
            values=_values(fields.bnb_values, row),
            object_id=row.pk,
            label=bnb_label(row),
            group=_("clôture au %(date)s") % {"date": f"{row.year_end:%d/%m/%Y}"},
        )
        for row in _in_order(_with_client(AnnualAccountsFiling.objects.all()), ids)
    ]
