"""A worker killed with SIGKILL in the middle of a batch of invoices, then the batch resumed:
every invoice leaves once, except those in flight at the kill, which are "uncertain" (at most
one claimed batch of that worker), listed, and never resent by themselves.

Real `courrier db_worker` processes on an SQLite file (WAL) and on PostgreSQL when it answers;
the SMTP server is the fake of this test process, which keeps every message it took.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.smtp import FakeSMTPServer
from tests.mailing.test_postgres import (  # noqa: F401  (postgres_database is a fixture)
    _courrier,
    _environment,
    _run,
    _wait_for_line,
    postgres_database,
)

INVOICES = 40
BATCH = 5  # COURRIER_DELIVERY_BATCH: what one claim takes
TIMEOUT = 240.0

# A firm with a billing company whose mails go to the SMTP server on port argv[1] (shared
# with the fault tests of tests/mailing/test_faults_kill.py).
SEED_FIRM = """
import json, sys
from datetime import date
import django
django.setup()
from courrier.billing.services import invoice_create, invoice_issue
from courrier.billing.services.sending import invoice_batch_start
from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import MailTemplate, MailTemplateVersion, SendingProfile

port, count = int(sys.argv[1]), int(sys.argv[2])
anne = Collaborator.objects.create_user(
    email="anne@fidu.test", password=None, first_name="Anne", last_name="Dupont"
)
company = BillingCompany.objects.create(
    code="FIDU", name="Fiduciaire Demo", legal_form="SRL", enterprise_number="0494.482.244",
    iban="BE18 0010 1338 4965", bic="GEBABEBB", street="Avenue Louise 250",
    postal_code="1050", city="Bruxelles",
)
SendingProfile.objects.create(
    billing_company=company, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
    from_name="Fiduciaire Demo", from_address="factures@fidu.test",
)
template = MailTemplate.objects.create(name="Factures", context="invoice", shared=True)
MailTemplateVersion.objects.create(
    template=template, language="fr", subject="{TYPEDOC} {NUMFACT}",
    body="Bonjour,\\n\\nVoici la {TYPEDOC} {NUMFACT} de {MONTANT}.",
)
"""

SEED = (
    SEED_FIRM
    + """
for n in range(count):
    client = Client.objects.create(
        number=f"C{n:05d}", name=f"Client {n}", language="fr", invoice_channel="email"
    )
    ClientEmail.objects.create(client=client, address=f"client{n}@dupuis.test")
    draft = invoice_create(
        billing_company=company, client=client, by=anne, issue_date=date(2026, 3, 14),
        lines=[{"description": "Honoraires", "quantity": "1", "unit_price": "100.00"}],
    )
    invoice_issue(invoice=draft, by=anne, make_pdf=False)
batch = invoice_batch_start(by=anne, billing_company=company)
print(json.dumps(batch.pk))
"""
)

REPORT = """
import json, sys
import django
django.setup()
from collections import Counter
from courrier.billing.services.sending import invoice_batch_summary
from courrier.mailing.models import MailBatch, OutboundMessage

batch = MailBatch.objects.get(pk=int(sys.argv[1]))
summary = invoice_batch_summary(batch=batch)
messages = OutboundMessage.objects.filter(batch=batch)
print(json.dumps({
    "statuses": dict(Counter(messages.values_list("status", flat=True))),
    "by_status": {s: [pk for pk in messages.filter(status=s).values_list("pk", flat=True)]
                  for s in ("sent", "uncertain")},
    "uncertain_invoices": summary.uncertain,
    "queued": batch.queued,
    "state": batch.state,
}))
"""


def _report(env: dict[str, str], batch_id: int) -> dict[str, Any]:
    output = _run([sys.executable, "-c", REPORT, str(batch_id)], env)
    return json.loads(output.strip().splitlines()[-1])


def _crash_then_resume(database_url: str, tmp_path: Path, smtp_server: FakeSMTPServer) -> None:
    env = _environment(database_url, tmp_path / "data")
    env["COURRIER_DELIVERY_BATCH"] = str(BATCH)
    env["COURRIER_SENDING_LEASE_SECONDS"] = "3"
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)
    batch_id = json.loads(
        _run([sys.executable, "-c", SEED, str(smtp_server.port), str(INVOICES)], env)
        .strip()
        .splitlines()[-1]
    )

    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            _courrier("db_worker", "--interval", "0.05", "--no-startup-delay", "--no-reload"),
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_line(log, "Starting worker", worker)
        smtp_server.wait_for(INVOICES // 3, timeout=TIMEOUT)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=15)
    at_kill = len(smtp_server.messages)
    assert at_kill < INVOICES, "the worker was killed before the end of the batch"

    # Past the lease, the sweeper settles the killed run; a new worker finishes the batch.
    time.sleep(4)
    _run(_courrier("outbox_recover"), env)
    _run(_courrier("db_worker", "--batch", "--no-startup-delay", "--interval", "0"), env)
    first = _report(env, batch_id)
    # Once more: nothing is resent by itself, the uncertain ones included.
    time.sleep(4)
    _run(_courrier("outbox_recover"), env)
    _run(_courrier("db_worker", "--batch", "--no-startup-delay", "--interval", "0"), env)
    report = _report(env, batch_id)

    arrived = Counter(int(m.message["X-Courrier-Message"]) for m in smtp_server.messages)
    duplicates = {pk: n for pk, n in arrived.items() if n > 1}
    assert not duplicates, f"sent more than once: {duplicates}"
    assert report == first
    assert report["state"] == "done" and report["queued"] == INVOICES
    sent, uncertain = report["by_status"]["sent"], report["by_status"]["uncertain"]
    assert len(sent) + len(uncertain) == INVOICES, report["statuses"]
    assert set(sent) <= set(arrived), "every message marked sent arrived"
    assert len(uncertain) <= BATCH, "at most one claimed batch of the killed worker"
    assert len(report["uncertain_invoices"]) == len(uncertain)


def test_kill_the_worker_mid_batch_then_resume_on_sqlite(
    tmp_path: Path, smtp_server: FakeSMTPServer
) -> None:
    database = tmp_path / "courrier.sqlite3"
    _crash_then_resume(f"sqlite:///{database}", tmp_path, smtp_server)


@pytest.mark.postgres
def test_kill_the_worker_mid_batch_then_resume_on_postgresql(
    postgres_database: str,  # noqa: F811
    tmp_path: Path,
    smtp_server: FakeSMTPServer,
) -> None:
    _crash_then_resume(postgres_database, tmp_path, smtp_server)
