"""Writing tax files: every create and change goes through here, so that the deadline follows its
rule (unless set by hand), the grids are checked and a filed date marks the file filed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import TypeVar

from django.db import transaction

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.taxes.models import (
    AnnualAccountsFiling,
    CorporateTaxReturn,
    Filing,
    FilingStatus,
    IncomeTaxReturn,
    VatProfile,
    VatRegime,
    VatReturn,
)

F = TypeVar("F", bound=Filing)


def vat_profile_set(*, client: Client, regime: str) -> VatProfile:
    """Record the client's VAT regime (monthly, quarterly, not liable)."""
    profile, _created = VatProfile.objects.update_or_create(
        client=client, defaults={"regime": VatRegime(regime)}
    )
    return profile


def vat_regime_of(client: Client) -> str:
    """The client's regime; quarterly when none was recorded (the common case)."""
    profile = VatProfile.objects.filter(client=client).first()
    return profile.regime if profile is not None else VatRegime.QUARTERLY


def filing_save(*, filing: F, deadline: date | None = None, by: Collaborator | None = None) -> F:
    """Check and save a tax file of any kind.

    `deadline` given: the deadline is set by hand and kept; otherwise a file whose deadline
    was not set by hand follows its rule. A filed date marks the file filed. Raises
    ValidationError (per field) on bad values; nothing is saved then.
    """
    # The model's own checks first: the rule needs a valid period or year.
    filing.clean()
    if deadline is not None:
        filing.deadline = deadline
        filing.deadline_by_hand = True
    elif not filing.deadline_by_hand or filing.deadline is None:
        filing.deadline = filing.rule_deadline()
        filing.deadline_by_hand = False
    if filing.filed_on is not None:
        filing.status = FilingStatus.FILED
    elif filing.status == FilingStatus.FILED:
        filing.status = FilingStatus.IN_PROGRESS
    if filing.pk is None and by is not None:
        filing.created_by = by
    filing.full_clean()
    with transaction.atomic():
        filing.save()
    return filing


def vat_return_create(
    *,
    client: Client,
    year: int,
    period: int,
    period_kind: str | None = None,
    grids: Mapping[str, object] | None = None,
    filed_on: date | None = None,
    status: str = FilingStatus.TODO,
    deadline: date | None = None,
    by: Collaborator | None = None,
) -> VatReturn:
    """A VAT return for a month or a quarter; the periodicity defaults to the client's regime."""
    if period_kind is None:
        monthly = vat_regime_of(client) == VatRegime.MONTHLY
        period_kind = VatReturn.PeriodKind.MONTH if monthly else VatReturn.PeriodKind.QUARTER
    vat_return = VatReturn(
        client=client,
        year=year,
        period=period,
        period_kind=period_kind,
        grids=dict(grids or {}),
        filed_on=filed_on,
        status=status,
    )
    return filing_save(filing=vat_return, deadline=deadline, by=by)


def corporate_tax_return_create(
    *,
    client: Client,
    year_end: date,
    result: Decimal | None = None,
    filed_on: date | None = None,
    status: str = FilingStatus.TODO,
    deadline: date | None = None,
    by: Collaborator | None = None,
) -> CorporateTaxReturn:
    filing = CorporateTaxReturn(
        client=client, year_end=year_end, result=result, filed_on=filed_on, status=status
    )
    return filing_save(filing=filing, deadline=deadline, by=by)


def income_tax_return_create(
    *,
    client: Client,
    income_year: int,
    result: Decimal | None = None,
    filed_on: date | None = None,
    status: str = FilingStatus.TODO,
    deadline: date | None = None,
    by: Collaborator | None = None,
) -> IncomeTaxReturn:
    filing = IncomeTaxReturn(
        client=client, income_year=income_year, result=result, filed_on=filed_on, status=status
    )
    return filing_save(filing=filing, deadline=deadline, by=by)


def annual_accounts_filing_create(
    *,
    client: Client,
    year_end: date,
    model: str = AnnualAccountsFiling.Model.ABBREVIATED,
    filing_reference: str = "",
    fee: Decimal | None = None,
    filed_on: date | None = None,
    status: str = FilingStatus.TODO,
    deadline: date | None = None,
    by: Collaborator | None = None,
) -> AnnualAccountsFiling:
    filing = AnnualAccountsFiling(
        client=client,
        year_end=year_end,
        model=model,
        filing_reference=filing_reference,
        fee=fee,
        filed_on=filed_on,
        status=status,
    )
    return filing_save(filing=filing, deadline=deadline, by=by)
