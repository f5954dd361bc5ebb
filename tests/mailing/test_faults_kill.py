"""A worker killed with SIGKILL, and the next worker's start-up: what it left is settled at
once, without waiting for a lease or for the cron.

Real `courrier worker` processes on an SQLite file (WAL), the SMTP server of this test
process. Killed while the server holds a message's data without answering: that one message
is "uncertain" (with what is known), the rest of its claimed batch goes on, nothing twice.
Killed between writing a round's invoice PDFs and committing the round: the task row is
marked failed with the reason, the batch is composed again at once, and the files nobody
names are removed by `courrier outbox_recover` (never one a stored invoice names).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.billing.test_sending_crash import SEED_FIRM
from tests.fakes.smtp import FakeSMTPServer
from tests.mailing.test_postgres import SEED, _courrier, _environment, _run, _wait_for_line

TIMEOUT = 120.0

REPORT = """
import json
import django
django.setup()
from django.utils import translation
from django_tasks_db.models import DBTaskResult
from courrier.mailing.models import OutboundMessage

translation.activate("fr")
print(json.dumps({
    "messages": {
        str(pk): [status, str(error)]
        for pk, status, error in OutboundMessage.objects.values_list("pk", "status", "last_error")
    },
    "tasks": [
        [row.task_path.rsplit(".", 1)[1], row.status, row.worker_ids, row.exception_class_path,
         row.traceback]
        for row in DBTaskResult.objects.order_by("enqueued_at")
    ],
}))
"""


class HoldingSMTPServer(FakeSMTPServer):
    """The fake server, which from its `hold_after`-th message on reads a message's data and
    then holds its answer (a server that stalls at the worst moment) until `release()`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold_after: int | None = None
        self.held: list[bytes] = []
        self.holding = threading.Event()
        self._released = False
        self._accept = False

    def release(self, *, accept: bool = False) -> None:
        """Answer the held message: refused ("421", the default), or accepted and kept."""
        self.hold_after = None
        self._accept = accept
        self._released = True

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.hold_after is not None and len(self.messages) >= self.hold_after:
            self.held.append(bytes(envelope.original_content or b""))
            self.holding.set()
            while not self._released:
                await asyncio.sleep(0.05)
            if not self._accept:
                return "421 4.3.0 Closing"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def holding_server() -> Any:
    with HoldingSMTPServer() as server:
        yield server


def _report(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(_run([sys.executable, "-c", REPORT], env).strip().splitlines()[-1])


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        worker = subprocess.Popen(
            _courrier("worker", "--interval", "0.05", "--no-startup-delay", "--no-reload"),
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    _wait_for_line(log, "Starting worker", worker)
    return worker


def _kill(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=15)


def _drain(env: dict[str, str]) -> None:
    """A new worker: its start-up settles what the killed one left, then it runs what waits."""
    _run(
        _courrier("worker", "--batch", "--no-startup-delay", "--interval", "0", "--no-reload"), env
    )


def test_a_worker_killed_while_the_server_holds_an_answer(
    tmp_path: Path, holding_server: HoldingSMTPServer
) -> None:
    count, accepted = 30, 12
    env = _environment(f"sqlite:///{tmp_path / 'courrier.sqlite3'}", tmp_path / "data")
    # One claim takes the whole outbox; the lease stays at its default (ten minutes).
    env["COURRIER_DELIVERY_BATCH"] = "50"
    env["COURRIER_SMTP_TIMEOUT"] = "60"
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)
    holding_server.hold_after = accepted
    ids = json.loads(
        _run([sys.executable, "-c", SEED, str(holding_server.port), str(count)], env)
        .strip()
        .splitlines()[-1]
    )

    worker = _worker(env, tmp_path / "worker.log")
    try:
        assert holding_server.holding.wait(TIMEOUT), "the worker never reached the held message"
    finally:
        _kill(worker)
    holding_server.release()
    assert len(holding_server.messages) == accepted

    _drain(env)
    report = _report(env)

    arrived = Counter(int(m.message["X-Courrier-Message"]) for m in holding_server.messages)
    assert not {pk: n for pk, n in arrived.items() if n > 1}, "sent more than once"
    held_pk = int(
        next(
            line.split(b":", 1)[1].strip()
            for line in holding_server.held[0].splitlines()
            if line.startswith(b"X-Courrier-Message:")
        )
    )
    assert held_pk not in arrived, "the message whose fate is unknown was never resent"
    statuses = {int(pk): status for pk, (status, _error) in report["messages"].items()}
    assert statuses.pop(held_pk) == "uncertain"
    # Every other message of the killed run's batch left once, after the new worker started.
    assert set(statuses.values()) == {"sent"} and sorted(arrived) == sorted(set(ids) - {held_pk})
    explanation = report["messages"][str(held_pk)][1]
    assert "Le serveur avait accepté le message précédent de la tournée le " in explanation
    assert "Les messages suivants de la tournée n'avaient pas été remis" in explanation

    lost = [task for task in report["tasks"] if task[3] == "courrier.mailing.WorkerLost"]
    assert len(lost) == 1
    name, status, workers, _exception, reason = lost[0]
    assert (name, status) == ("deliver_profile", "FAILED")
    assert f"Worker {workers[-1]} stopped" in reason
    assert f":{worker.pid}:" in workers[-1], "the worker's id names its process"
    assert "RUNNING" not in {task[1] for task in report["tasks"]}


INVOICES_SEED = (
    SEED_FIRM
    + """
# An invoice issued with its PDF before the batch: a file that a stored row names.
kept = None
for n in range(count):
    client = Client.objects.create(
        number=f"C{n:05d}", name=f"Client {n}", language="fr", invoice_channel="email"
    )
    ClientEmail.objects.create(client=client, address=f"client{n}@dupuis.test")
    draft = invoice_create(
        billing_company=company, client=client, by=anne, issue_date=date(2026, 3, 14),
        lines=[{"description": "Honoraires", "quantity": "1", "unit_price": "100.00"}],
    )
    issued = invoice_issue(invoice=draft, by=anne, make_pdf=n == 0)
    kept = kept or issued.pdf.name
batch = invoice_batch_start(by=anne, billing_company=company)
print(json.dumps([batch.pk, kept]))
"""
)

# The worker, killed by itself at the worst moment of a round: its PDFs written, the
# transaction that records them and stores the mails not yet begun.
KILLED_IN_A_ROUND = """
import os, signal
import django
django.setup()
from django.core.management import call_command
from courrier.billing.services import sending

def killed(invoices):
    os.kill(os.getpid(), signal.SIGKILL)

sending.invoice_pdfs_record = killed
call_command("worker", "--batch", "--no-startup-delay", "--interval", "0", "--no-reload")
"""

FILES = """
import json
import django
django.setup()
from courrier.billing.models import Invoice
from courrier.mailing.models import OutboundMessage
print(json.dumps({
    "named": sorted(n for n in Invoice.objects.values_list("pdf", flat=True) if n),
    "sha": {n: s for n, s in Invoice.objects.values_list("pdf", "pdf_sha256") if n},
    "statuses": sorted(OutboundMessage.objects.values_list("status", flat=True)),
}))
"""


def _files(media: Path) -> set[str]:
    return {str(path.relative_to(media)) for path in media.rglob("*") if path.is_file()}


def test_a_worker_killed_between_writing_a_rounds_pdfs_and_storing_it(
    tmp_path: Path, smtp_server: FakeSMTPServer
) -> None:
    count = 6
    env = _environment(f"sqlite:///{tmp_path / 'courrier.sqlite3'}", tmp_path / "data")
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)
    media = tmp_path / "data" / "media"
    _batch, kept = json.loads(
        _run([sys.executable, "-c", INVOICES_SEED, str(smtp_server.port), str(count)], env)
        .strip()
        .splitlines()[-1]
    )
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_IN_A_ROUND],
        env=env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    left = _files(media) - {kept}
    assert len(left) == count - 1, "the round's PDFs were written before the kill"
    assert not smtp_server.messages

    # The next worker's start-up marks the task failed and composes the batch again at once.
    _drain(env)
    report = _report(env)
    lost = [task for task in report["tasks"] if task[3] == "courrier.mailing.WorkerLost"]
    assert [(task[0], task[1]) for task in lost] == [("compose_batch", "FAILED")]
    smtp_server.wait_for(count, timeout=TIMEOUT)
    arrived = Counter(m.message["Subject"] for m in smtp_server.messages)
    assert len(arrived) == count and set(arrived.values()) == {1}

    # An hour later, the cron removes the files nobody names, and only those.
    hour_ago = time.time() - 2 * 3600
    for name in _files(media):
        os.utime(media / name, (hour_ago, hour_ago))
    output = _run(_courrier("outbox_recover", "--no-kick"), env)
    assert f"{count - 1} fichiers laissés par des envois groupés interrompus supprimés." in output
    stored = json.loads(_run([sys.executable, "-c", FILES], env).strip().splitlines()[-1])
    assert _files(media) == set(stored["named"]) and kept in stored["named"]
    assert not left & _files(media)
    assert stored["statuses"] == ["sent"] * count
    # Each mail carries the PDF stored under its invoice's name, intact.
    for received in smtp_server.messages:
        (pdf,) = [
            part.get_payload(decode=True)
            for part in received.message.walk()
            if part.get_content_type() == "application/pdf"
        ]
        assert hashlib.sha256(pdf).hexdigest() in stored["sha"].values()
