"""Two real `courrier db_worker` processes drain one outbox: every message leaves exactly once.

Runs on a fresh PostgreSQL database when the server named by COURRIER_TEST_PG (default
127.0.0.1:5432, user postgres, trust) answers, and on an SQLite file in WAL mode. The
database is migrated, seeded and checked by `courrier` subprocesses, as in production;
the SMTP server is the fake one of this test process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.fakes.smtp import FakeSMTPServer

MESSAGES = 200
TIMEOUT = 180.0  # seconds, for any one wait

SEED = """
import json, sys
import django
django.setup()
from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator
from courrier.mailing.models import SendingProfile
from courrier.mailing.services import Draft, message_compose

port, count = int(sys.argv[1]), int(sys.argv[2])
sender = Collaborator.objects.create_user(
    email="anne@fidu.test", password=None, first_name="Anne", last_name="Dupont"
)
SendingProfile.objects.create(
    collaborator=sender, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
    from_name="Anne Dupont", from_address="anne@fidu.test",
)
ids = []
for n in range(count):
    client = Client.objects.create(number=f"C{n:05d}", name=f"Client {n}", language="fr")
    ClientEmail.objects.create(client=client, address=f"client{n}@dupuis.test")
    message = message_compose(
        sender=sender, client=client,
        draft=Draft(
            subject="Dossier {NOMCLIENT}",
            body="Bonjour {NOMCLIENT},\\n\\nvoici le décompte : 1 250,00 € à régler.",
        ),
        idempotency_key=f"charge-{n}",
    )
    ids.append(message.pk)
print(json.dumps(ids))
"""

REPORT = """
import hashlib, json
import django
django.setup()
from collections import Counter
from django_tasks_db.models import DBTaskResult
from courrier.mailing.models import DeliveryAttempt, MessageContent, OutboundMessage

tasks = DBTaskResult.objects.all()
print(json.dumps({
    "messages": dict(Counter(OutboundMessage.objects.values_list("status", flat=True))),
    "answers": {
        str(pk): [answer, str(sent_at)]
        for pk, answer, sent_at in OutboundMessage.objects.values_list(
            "pk", "provider_message_id", "sent_at"
        )
    },
    "details": {
        str(pk): str(detail)
        for pk, detail in DeliveryAttempt.objects.values_list("message_id", "detail")
    },
    "stored": {
        str(pk): [size, hashlib.sha256(bytes(raw)).hexdigest()]
        for pk, size, raw in MessageContent.objects.values_list(
            "message_id", "message__size", "raw"
        )
    },
    "tasks": dict(Counter(tasks.values_list("status", flat=True))),
    "workers": sorted({w for ids in tasks.values_list("worker_ids", flat=True) for w in ids}),
}))
"""


def _environment(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COURRIER_", "DJANGO_", "DATABASE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="courrier.settings",
        DATABASE_URL=database_url,
        COURRIER_DATA_DIR=str(data_dir),
        COURRIER_SECRET_KEY="two-workers-test-" + "k" * 40,
        COURRIER_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        COURRIER_SMTP_TIMEOUT="10",
        # Small batches, so that both workers claim messages of the same profile in turn.
        COURRIER_DELIVERY_BATCH="5",
        COURRIER_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def _courrier(*args: str) -> list[str]:
    return [sys.executable, "-m", "courrier", *args]


def _run(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, f"{command[3:]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _report(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(_run([sys.executable, "-c", REPORT], env).strip().splitlines()[-1])


def _wait_for_line(path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{path.read_text(errors='replace')}")
        time.sleep(0.1)
    raise AssertionError(f"worker not started after {TIMEOUT} s")


def _two_workers_deliver_each_message_once(
    database_url: str, tmp_path: Path, smtp_server: FakeSMTPServer
) -> None:
    env = _environment(database_url, tmp_path / "data")
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)

    workers: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        for number in (1, 2):
            log = tmp_path / f"worker{number}.log"
            logs.append(log)
            with log.open("wb") as output:
                workers.append(
                    subprocess.Popen(
                        _courrier(
                            "db_worker",
                            "--interval",
                            "0.05",
                            "--no-startup-delay",
                            "--no-reload",
                            "--worker-id",
                            f"worker-{number}",
                        ),
                        env=env,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                    )
                )
        for worker, log in zip(workers, logs, strict=True):
            _wait_for_line(log, "Starting worker", worker)

        # Both workers are polling while the messages are composed and enqueued.
        ids = json.loads(
            _run([sys.executable, "-c", SEED, str(smtp_server.port), str(MESSAGES)], env)
            .strip()
            .splitlines()[-1]
        )
        assert len(ids) == MESSAGES

        smtp_server.wait_for(MESSAGES, timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        report = _report(env)
        while set(report["tasks"]) - {"SUCCESSFUL"} and time.monotonic() < deadline:
            time.sleep(0.5)
            report = _report(env)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=15)

    arrived = Counter(int(m.message["X-Courrier-Message"]) for m in smtp_server.messages)
    duplicates = {pk: n for pk, n in arrived.items() if n > 1}
    assert not duplicates, f"sent more than once: {duplicates}"
    assert sorted(arrived) == sorted(ids)
    assert report["messages"] == {"sent": MESSAGES}
    # Each message settled with its own answer of the server (the n-th message received was
    # told "queued as FAKE000n"), though a batch is settled in one UPDATE.
    for n, received in enumerate(smtp_server.messages, start=1):
        pk = received.message["X-Courrier-Message"]
        answer, sent_at = report["answers"][pk]
        assert answer.endswith(f"FAKE{n:04d}"), (pk, answer)
        assert report["details"][pk].endswith(f"FAKE{n:04d}")
        assert sent_at != "None"
        # The bytes that arrived are those stored at compose time, and the size recorded.
        size, sha256 = report["stored"][pk]
        assert (len(received.data), hashlib.sha256(received.data).hexdigest()) == (size, sha256)
    assert set(report["tasks"]) == {"SUCCESSFUL"}, report["tasks"]
    assert report["workers"] == ["worker-1", "worker-2"], "both workers took part"


def test_two_workers_on_sqlite_wal(tmp_path: Path, smtp_server: FakeSMTPServer) -> None:
    database = tmp_path / "courrier.sqlite3"
    _two_workers_deliver_each_message_once(f"sqlite:///{database}", tmp_path, smtp_server)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh database on the test PostgreSQL server, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    host, _sep, port = os.environ.get("COURRIER_TEST_PG", "127.0.0.1:5432").partition(":")
    port = port or "5432"
    server = f"postgresql://postgres@{host}:{port}"
    try:
        admin = psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL does not answer on {host}:{port} (user postgres): {exc}")
    name = f"courrier_test_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{server}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.postgres
def test_two_workers_on_postgresql(
    postgres_database: str, tmp_path: Path, smtp_server: FakeSMTPServer
) -> None:
    _two_workers_deliver_each_message_once(postgres_database, tmp_path, smtp_server)
