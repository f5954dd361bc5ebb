"""The invoice series of a billing company: one per year, invoices and credit notes together.

The next number is taken under the series row's lock (SELECT ... FOR UPDATE on PostgreSQL; on
SQLite the IMMEDIATE transaction already holds the database's write lock), inside the issuing
transaction: if issuing fails, the number goes back with the rollback, so there is no gap.
"""

from __future__ import annotations

from django.db import transaction

from courrier.billing.models import InvoiceSeries
from courrier.firm.models import BillingCompany


def series_next_number(*, billing_company: BillingCompany, year: int) -> int:
    """Reserve the next number of the company's series for `year` (call inside atomic())."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("series_next_number must run inside the issuing transaction.")
    # Creating the year's row cannot race: a concurrent insert of the same row is ignored and
    # both transactions then queue on the lock of that one row.
    InvoiceSeries.objects.bulk_create(
        [InvoiceSeries(billing_company=billing_company, year=year)], ignore_conflicts=True
    )
    series = InvoiceSeries.objects.select_for_update().get(
        billing_company=billing_company, year=year
    )
    series.last_number += 1
    series.save(update_fields=["last_number"])
    return series.last_number
