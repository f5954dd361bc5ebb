"""Many people issuing at once: each series gets 1..N, no gap, no duplicate.

Threads of one `courrier` process issue drafts at the same moment (a barrier), each on its
own database connection, on an SQLite file in WAL mode and on PostgreSQL.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.mailing.test_postgres import (  # noqa: F401 (postgres_database is a fixture)
    _courrier,
    _environment,
    _run,
    postgres_database,
)

ISSUE_AT_ONCE = """
import json, sys, threading
from datetime import date
import django
django.setup()
from django.db import connection
from courrier.billing.services import invoice_create, invoice_issue
from courrier.clients.models import Client
from courrier.firm.models import BillingCompany

plan = json.loads(sys.argv[1])  # [[company code, year], ...] one draft each
companies = {
    code: BillingCompany.objects.create(
        code=code, name=code, enterprise_number=number, iban="BE18 0010 1338 4965",
        bic="GEBABEBB",
    )
    for code, number in (("FIDU", "0494.482.244"), ("BOEK", "0663.412.791"))
}
client = Client.objects.create(number="C1", name="Dupuis", language="fr")
drafts = [
    invoice_create(
        billing_company=companies[code], client=client, by=None,
        issue_date=date(year, 6, 1), lines=[{"description": "x", "unit_price": "10"}],
    )
    for code, year in plan
]
barrier = threading.Barrier(len(drafts))
results, errors = [], []

def issue(draft):
    try:
        barrier.wait()
        invoice = invoice_issue(invoice=draft, by=None)
        results.append([invoice.billing_company.code, invoice.year, invoice.number])
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()

threads = [threading.Thread(target=issue, args=(draft,)) for draft in drafts]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"results": results, "errors": errors}))
"""

PLAN = [["FIDU", 2026]] * 12 + [["FIDU", 2027]] * 4 + [["BOEK", 2026]] * 6


def _issue_at_once(database_url: str, tmp_path: Path) -> None:
    env = _environment(database_url, tmp_path / "data")
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)
    output = _run([sys.executable, "-c", ISSUE_AT_ONCE, json.dumps(PLAN)], env)
    report = json.loads(output.strip().splitlines()[-1])
    assert report["errors"] == []
    series: dict[tuple[str, int], list[int]] = defaultdict(list)
    for code, year, number in report["results"]:
        series[(code, year)].append(number)
    assert {key: sorted(numbers) for key, numbers in series.items()} == {
        ("FIDU", 2026): list(range(1, 13)),
        ("FIDU", 2027): list(range(1, 5)),
        ("BOEK", 2026): list(range(1, 7)),
    }


def test_concurrent_issues_on_sqlite_get_consecutive_numbers(tmp_path: Path) -> None:
    _issue_at_once(f"sqlite:///{tmp_path / 'courrier.sqlite3'}", tmp_path)


@pytest.mark.postgres
def test_concurrent_issues_on_postgresql_get_consecutive_numbers(
    postgres_database: str,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    _issue_at_once(postgres_database, tmp_path)
