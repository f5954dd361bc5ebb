"""Tax files for tests, created through the services (deadlines by rule, grids checked)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from courrier.clients.models import Client
from courrier.taxes import services
from courrier.taxes.models import (
    AnnualAccountsFiling,
    CorporateTaxReturn,
    IncomeTaxReturn,
    VatReturn,
)


def vat_return(client: Client, **fields: Any) -> VatReturn:
    fields.setdefault("year", 2026)
    fields.setdefault("period", 3)
    fields.setdefault("period_kind", VatReturn.PeriodKind.QUARTER)
    return services.vat_return_create(client=client, **fields)


def isoc(client: Client, **fields: Any) -> CorporateTaxReturn:
    fields.setdefault("year_end", date(2025, 12, 31))
    return services.corporate_tax_return_create(client=client, **fields)


def ipp(client: Client, **fields: Any) -> IncomeTaxReturn:
    fields.setdefault("income_year", 2025)
    return services.income_tax_return_create(client=client, **fields)


def bnb(client: Client, **fields: Any) -> AnnualAccountsFiling:
    fields.setdefault("year_end", date(2025, 12, 31))
    fields.setdefault("fee", Decimal("425.98"))
    return services.annual_accounts_filing_create(client=client, **fields)
