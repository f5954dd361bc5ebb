"""Faults a production site meets, with real processes and real servers: two workers on one
data directory, the database server restarted while a worker delivers, the disk full while a
batch is stored. In each: nothing lost, nothing sent twice (counted at the SMTP server, per
message), and a state that says what a person must decide.

(A sweeper whose clock runs ahead of the worker's: tests/mailing/test_recovery.py; a worker
killed: tests/mailing/test_faults_kill.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.smtp import FakeSMTPServer, free_port
from tests.mailing.test_faults_kill import (
    INVOICES_SEED,
    REPORT,
    HoldingSMTPServer,
    _drain,
    _files,
    _kill,
    _worker,
)
from tests.mailing.test_postgres import SEED, _courrier, _environment, _run

TIMEOUT = 120.0


def _report(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(_run([sys.executable, "-c", REPORT], env).strip().splitlines()[-1])


def _message_ids(server: FakeSMTPServer) -> Counter[int]:
    return Counter(int(m.message["X-Courrier-Message"]) for m in server.messages)


def _held_id(server: HoldingSMTPServer) -> int:
    return int(
        next(
            line.split(b":", 1)[1].strip()
            for line in server.held[0].splitlines()
            if line.startswith(b"X-Courrier-Message:")
        )
    )


@pytest.fixture
def holding_server() -> Iterator[HoldingSMTPServer]:
    with HoldingSMTPServer() as server:
        yield server


# -- two workers on one data directory --------------------------------------------------------


def test_a_worker_starting_beside_a_busy_one_leaves_its_work_alone(
    tmp_path: Path, holding_server: HoldingSMTPServer
) -> None:
    count = 20
    env = _environment(f"sqlite:///{tmp_path / 'courrier.sqlite3'}", tmp_path / "data")
    env["COURRIER_DELIVERY_BATCH"] = "50"
    env["COURRIER_SMTP_TIMEOUT"] = "60"
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)
    holding_server.hold_after = 5
    # Stored first: one delivery task, which the first worker takes, claiming them all.
    ids = json.loads(
        _run([sys.executable, "-c", SEED, str(holding_server.port), str(count)], env)
        .strip()
        .splitlines()[-1]
    )
    first = _worker(env, tmp_path / "first.log")
    second = None
    try:
        assert holding_server.holding.wait(TIMEOUT)
        # A second worker on the same data directory starts (and settles what stopped
        # workers left) while the first one waits for the server's answer.
        second = _worker(env, tmp_path / "second.log")
        _run(_courrier("outbox_recover", "--no-kick"), env)
        report = _report(env)
        assert [task[1] for task in report["tasks"]].count("RUNNING") == 1
        assert "FAILED" not in {task[1] for task in report["tasks"]}
        statuses = Counter(status for status, _error in report["messages"].values())
        assert statuses == {"sent": 5, "sending": count - 5}, "the busy run keeps its claim"

        holding_server.release(accept=True)
        holding_server.wait_for(count, timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            report = _report(env)
            if {status for status, _error in report["messages"].values()} == {"sent"}:
                break
            time.sleep(0.2)
    finally:
        for worker in (first, second):
            if worker is not None:
                _kill(worker)
    assert _message_ids(holding_server) == Counter(ids)
    assert {status for status, _error in report["messages"].values()} == {"sent"}


# -- the database server restarted -------------------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, the command runs as the postgres user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture
def own_postgres() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL server of this test's own: a fresh data directory, a free port; yields its
    URL and its data directory (to restart it), and stops it afterwards."""
    if not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"pg_ctl is not in {PG_BIN}")
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user("postgres")):
        pytest.skip("running as root, and no postgres user to run PostgreSQL as")
    psycopg = pytest.importorskip("psycopg")
    home = Path(tempfile.mkdtemp(prefix="courrier-pg-"))
    data, sockets = home / "data", home / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    log = home / "server.log"
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    *("-D", str(data), "-A", "trust", "-U", "postgres"),
                    *("--no-sync", "-E", "UTF8", "--locale", "C"),
                ]
            ),
            check=True,
            capture_output=True,
            timeout=TIMEOUT,
        )
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    *("-D", str(data), "-o", options, "-l", str(log), "-w", "start"),
                ]
            ),
            check=True,
            capture_output=True,
            timeout=TIMEOUT,
        )
        server = f"postgresql://postgres@127.0.0.1:{port}"
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute('CREATE DATABASE "courrier"')
        yield f"{server}/courrier", data
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        shutil.rmtree(home, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_the_database_restarted_while_a_worker_delivers(
    tmp_path: Path, holding_server: HoldingSMTPServer, own_postgres: tuple[str, Path]
) -> None:
    count = 24
    url, data = own_postgres
    env = _environment(url, tmp_path / "data")
    env["COURRIER_DELIVERY_BATCH"] = "50"
    env["COURRIER_SMTP_TIMEOUT"] = "60"
    env["COURRIER_SENDING_LEASE_SECONDS"] = "2"
    env["COURRIER_RETRY_BASE_SECONDS"] = "1"
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)
    holding_server.hold_after = 8
    worker = _worker(env, tmp_path / "worker.log")
    try:
        ids = json.loads(
            _run([sys.executable, "-c", SEED, str(holding_server.port), str(count)], env)
            .strip()
            .splitlines()[-1]
        )
        assert holding_server.holding.wait(TIMEOUT)
        # The server restarts while the worker waits for the mail server's answer; the answer
        # comes once the database is back, on a connection the restart closed.
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    *("-D", str(data), "-l", str(data.parent / "server.log")),
                    *("-m", "fast", "-w", "restart"),
                ]
            ),
            check=True,
            capture_output=True,
            timeout=TIMEOUT,
        )
        holding_server.release(accept=True)
        held = _held_id(holding_server)
        # The worker goes on (or stops); past the lease the cron settles what it left, and a
        # worker finishes the rest.
        deadline = time.monotonic() + TIMEOUT
        report = _report(env)
        while time.monotonic() < deadline:
            time.sleep(2.5)
            _run(_courrier("outbox_recover"), env)
            report = _report(env)
            statuses = {status for status, _error in report["messages"].values()}
            if statuses <= {"sent", "uncertain"}:
                break
    finally:
        _kill(worker)
    _drain(env)
    report = _report(env)

    arrived = _message_ids(holding_server)
    assert not {pk: n for pk, n in arrived.items() if n > 1}, "sent more than once"
    assert sorted(arrived) == sorted(ids), "every message arrived"
    statuses = {int(pk): status for pk, (status, _error) in report["messages"].items()}
    # The message whose answer came as the database went away: accepted by the server, and
    # either recorded as sent or left for a person ("uncertain", saying so), never resent.
    assert statuses.pop(held) in ("sent", "uncertain")
    if report["messages"][str(held)][0] == "uncertain":
        assert "est peut-être parti" in report["messages"][str(held)][1]
    assert set(statuses.values()) == {"sent"}
    assert "RUNNING" not in {task[1] for task in report["tasks"]}


# -- the disk full ----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs mounted where the files of the data directory go (needs root)."""
    media = tmp_path / "data" / "media"
    media.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(media)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"no small disk to fill (mounting a tmpfs needs root): {mounted.stderr!r}")
    try:
        yield media
    finally:
        subprocess.run(["umount", "-l", str(media)], capture_output=True, check=False)


FILES = """
import json
import django
django.setup()
from courrier.billing.models import Invoice
from courrier.mailing.models import MailBatch
batch = MailBatch.objects.get()
print(json.dumps({
    "named": sorted(n for n in Invoice.objects.values_list("pdf", flat=True) if n),
    "state": batch.state,
    "error": str(batch.error),
    "queued": batch.queued,
}))
"""


def test_the_disk_fills_while_a_batch_is_stored(
    tmp_path: Path, smtp_server: FakeSMTPServer, small_disk: Path
) -> None:
    count = 12
    env = _environment(f"sqlite:///{tmp_path / 'courrier.sqlite3'}", tmp_path / "data")
    env["COURRIER_RETRY_BASE_SECONDS"] = "1"
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)
    _kept_batch, kept = json.loads(
        _run([sys.executable, "-c", INVOICES_SEED, str(smtp_server.port), str(count)], env)
        .strip()
        .splitlines()[-1]
    )
    # Room for the PDF issued with its invoice and about two more.
    size = (small_disk / kept).stat().st_size
    subprocess.run(
        ["mount", "-o", f"remount,size={size * 3 // 1024 + 8}k", str(small_disk)], check=True
    )

    _drain(env)
    state = json.loads(_run([sys.executable, "-c", FILES], env).strip().splitlines()[-1])
    assert state["state"] == "composing" and state["queued"] == 0
    assert "Le disque du serveur est plein" in state["error"]
    assert not smtp_server.messages
    assert state["named"] == [kept], "no invoice names a file that was not written whole"

    # Room again: the batch goes on by itself, at its next try.
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    time.sleep(1.5)
    _drain(env)
    smtp_server.wait_for(count, timeout=TIMEOUT)
    state = json.loads(_run([sys.executable, "-c", FILES], env).strip().splitlines()[-1])
    assert (state["state"], state["error"], state["queued"]) == ("done", "", count)
    assert Counter(m.message["Subject"] for m in smtp_server.messages).most_common(1)[0][1] == 1
    assert len(smtp_server.messages) == count
    # What the full disk left (a PDF half written) goes with the cron, an hour later.
    for name in _files(small_disk):
        os.utime(small_disk / name, (time.time() - 7200, time.time() - 7200))
    _run(_courrier("outbox_recover", "--no-kick"), env)
    assert _files(small_disk) == set(state["named"])
