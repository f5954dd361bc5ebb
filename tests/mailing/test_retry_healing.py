"""A mail waiting for a retry leaves by itself once the server heals, with no cron.

The real `courrier db_worker` runs in a subprocess on an SQLite file (WAL), as in production,
and nothing else wakes delivery: no `outbox_recover`. The fake SMTP server of this process
is in trouble (4xx at RCPT, at DATA, after the data; hanging up; too slow to greet; not
listening), then heals — by itself after a number of bad answers, or when the test says.
What is checked is what the firm's clients get: each of the 20 mails arrives once, with the
bytes stored at compose time; and, with a server that refuses for good, every mail is given
up after its last allowed attempt instead of waiting in "retry".
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.smtp import FakeSMTPServer, Trouble, free_port
from tests.mailing.test_postgres import (  # noqa: F401  (postgres_database is a fixture)
    SEED,
    _courrier,
    _environment,
    _run,
    postgres_database,
)

MAILS = 20
# Small back-off so that the test is short: 0.1-0.2 s after the first try, doubling, 1 s at
# most; an SMTP client that waits 0.5 s for an answer.
SETTINGS = {
    "COURRIER_RETRY_BASE_SECONDS": "0.2",
    "COURRIER_RETRY_MAX_SECONDS": "1",
    "COURRIER_SMTP_TIMEOUT": "0.5",
    # Not given up while the test waits for the server to heal.
    "COURRIER_MAX_ATTEMPTS": "30",
}
# Far longer than delivery needs once the server is healthy (about a second here).
WAIT = 20.0


@dataclass
class Seeded:
    """A database with 20 mails composed, waiting for their first delivery run."""

    database: Path
    env: dict[str, str]
    port: int  # where the sending profile sends


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """Migrated and composed once (it takes seconds), copied for each test."""
    directory = tmp_path_factory.mktemp("retry-healing")
    database = directory / "courrier.sqlite3"
    env = _environment(f"sqlite:///{database}", directory / "data")
    env.update(SETTINGS)
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)
    port = free_port()
    ids = json.loads(
        _run([sys.executable, "-c", SEED, str(port), str(MAILS)], env).strip().splitlines()[-1]
    )
    assert len(ids) == MAILS
    return Seeded(database, env, port)


@pytest.fixture
def server(seeded: Seeded) -> Iterator[FakeSMTPServer]:
    """The SMTP server of the mails' sending profile, fresh for each test."""
    with FakeSMTPServer(port=seeded.port) as server:
        yield server


class Outbox:
    """The outbox of a worker subprocess: its database, read as the firm would read it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.url = env["DATABASE_URL"]

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite:///"):
            path = self.url.removeprefix("sqlite:///")
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
                return list(db.execute(query))
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db:
            return [tuple(row) for row in db.execute(query).fetchall()]

    def statuses(self) -> Counter[str]:
        return Counter(
            str(status) for (status,) in self.rows("SELECT status FROM mailing_outboundmessage")
        )

    def wait_until(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not after {WAIT} s; outbox {self.statuses()}")
            time.sleep(0.05)


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Outbox]]:
    """Start the real worker (`courrier db_worker`, polling every 50 ms) on the database of
    `env`; it is stopped at the end. Nothing else runs: no cron."""
    workers: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> Outbox:
        log = tmp_path / "worker.log"
        with log.open("wb") as output:
            workers.append(
                subprocess.Popen(
                    _courrier(
                        "db_worker", "--interval", "0.05", "--no-startup-delay", "--no-reload"
                    ),
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
        return Outbox(env)

    yield start
    for worker in workers:
        worker.terminate()  # ends after its current task
        try:
            worker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=15)


@pytest.fixture
def outbox(
    seeded: Seeded, tmp_path: Path, worker: Callable[[dict[str, str]], Outbox]
) -> Callable[..., Outbox]:
    """The worker on a fresh copy of the seeded database (with these settings)."""

    def start(**settings: str) -> Outbox:
        database = tmp_path / "courrier.sqlite3"
        shutil.copyfile(seeded.database, database)
        return worker({**seeded.env, "DATABASE_URL": f"sqlite:///{database}", **settings})

    return start


def _refused_three_times(outbox: Outbox) -> bool:
    """Every mail was refused at least three times (their retry times now spread over
    0.4 s or more)."""
    refused = outbox.rows(
        "SELECT message_id, count(*) FROM mailing_deliveryattempt"
        " WHERE outcome = 'transient' GROUP BY message_id"
    )
    return len(refused) == MAILS and all(n >= 3 for _pk, n in refused)


# (trouble, how it heals: after that many bad answers, or None: when the test says so)
CASES: list[tuple[Trouble, int | None]] = [
    ("rcpt", None),
    ("data", 45),
    ("end", None),
    ("drop", 45),
    ("slow", None),
    ("absent", None),
]


@pytest.mark.parametrize(("trouble", "times"), CASES, ids=[case[0] for case in CASES])
def test_every_mail_arrives_once_after_the_server_heals_without_cron(
    trouble: Trouble,
    times: int | None,
    server: FakeSMTPServer,
    outbox: Callable[..., Outbox],
) -> None:
    server.misbehave(trouble, times=times, delay=1.0)
    _heals_and_each_mail_arrives_once(server, outbox(), times=times)


@pytest.mark.postgres
def test_on_postgresql_every_mail_arrives_once_after_the_server_heals_without_cron(
    postgres_database: str,  # noqa: F811
    tmp_path: Path,
    worker: Callable[[dict[str, str]], Outbox],
) -> None:
    env = _environment(postgres_database, tmp_path / "data")
    env.update(SETTINGS)
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)
    with FakeSMTPServer() as server:
        server.misbehave("end", "452 4.3.1 Insufficient system storage")
        box = worker(env)
        _run([sys.executable, "-c", SEED, str(server.port), str(MAILS)], env)
        _heals_and_each_mail_arrives_once(server, box, times=None)


def _heals_and_each_mail_arrives_once(
    server: FakeSMTPServer, box: Outbox, *, times: int | None
) -> None:
    if times is None:
        box.wait_until("every mail refused three times", lambda: _refused_three_times(box))
        assert server.messages == []
        server.heal()
    else:
        box.wait_until("the server healed after its bad answers", lambda: bool(server.healed_at))

    # Nothing but the worker runs: the retries leave at their time, each mail once.
    box.wait_until("every mail arrived", lambda: len(server.messages) >= MAILS)
    box.wait_until("every mail recorded as sent", lambda: box.statuses() == {"sent": MAILS})
    arrived = Counter(int(m.message["X-Courrier-Message"]) for m in server.messages)
    assert set(arrived.values()) == {1}, f"sent more than once: {arrived}"
    stored: dict[int, bytes] = dict(box.rows("SELECT message_id, raw FROM mailing_messagecontent"))
    assert sorted(arrived) == sorted(stored)
    for received in server.messages:
        assert received.data == bytes(stored[int(received.message["X-Courrier-Message"])])
    assert all(received.arrived_at >= (server.healed_at or 0) for received in server.messages)
    attempts = box.rows("SELECT message_id, outcome FROM mailing_deliveryattempt")
    assert Counter(outcome for _pk, outcome in attempts)["sent"] == MAILS
    assert {outcome for _pk, outcome in attempts} == {"transient", "sent"}


def test_a_server_that_refuses_for_good_gets_every_mail_given_up_after_its_last_attempt(
    server: FakeSMTPServer, outbox: Callable[..., Outbox]
) -> None:
    server.misbehave("rcpt", "451 4.7.1 Greylisted, try again later")

    box = outbox(COURRIER_MAX_ATTEMPTS="3")

    box.wait_until("every mail given up", lambda: box.statuses() == {"failed": MAILS})
    assert server.messages == []
    # Exactly three tries each, the third one giving up: none left waiting for a fourth.
    assert server.troubles == 3 * MAILS
    tries: dict[int, list[str]] = {}
    for pk, outcome in box.rows(
        "SELECT message_id, outcome FROM mailing_deliveryattempt ORDER BY id"
    ):
        tries.setdefault(pk, []).append(outcome)
    assert len(tries) == MAILS
    assert {tuple(outcomes) for outcomes in tries.values()} == {
        ("transient", "transient", "permanent")
    }
    assert box.rows(
        "SELECT count(*) FROM mailing_outboundmessage WHERE next_attempt_at IS NOT NULL"
    ) == [(0,)]
    # What the administrator reads: each mail given up, with the server's last answer.
    status = _run(_courrier("outbox_status", "--limit", "50"), box.env)
    given_up = [line for line in status.splitlines() if "Abandonné après 3 essais" in line]
    assert len(given_up) == MAILS, status
    assert all("451 4.7.1 Greylisted" in line for line in given_up)
