"""`/sante/`: what a monitor reads — the database answers, a worker takes tasks, the outbox
moves — with 200 when all is well and 503 otherwise. The workers are the real django-tasks-db
worker, run here in the test's process; time passing is a heartbeat asked for long ago."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as Browser
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker

from courrier.firm.models import WorkerHeartbeat
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import Draft, message_compose

pytestmark = pytest.mark.django_db


def _health(browser: Browser) -> tuple[int, dict[str, Any]]:
    response = browser.get("/sante/")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


def _worker_runs_the_queue() -> None:
    """The real worker takes every task waiting, then stops (its batch mode)."""
    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()


def _waiting_since(minutes: int) -> None:
    """A heartbeat was asked for that long ago and no worker ran it."""
    asked = timezone.now() - timedelta(minutes=minutes)
    WorkerHeartbeat.objects.update_or_create(
        pk=1, defaults={"requested_at": asked, "enqueued_at": asked, "answered_at": None}
    )


def test_healthy_installation_answers_200_anonymously() -> None:
    browser = Browser()
    status, first = _health(browser)
    # The first call asks the workers for a sign of life: nothing to judge yet.
    assert status == 200
    assert first["worker_waiting_seconds"] == 0
    _worker_runs_the_queue()

    status, report = _health(browser)
    assert status == 200
    assert report["status"] == "ok"
    assert report["database"] is True
    assert report["workers"] is True
    assert report["queue"] is True
    assert report["worker_last_seen_seconds"] == 0
    assert report["worker_waiting_seconds"] is None
    assert report["queue_due"] == 0
    assert report["uncertain"] == 0 and report["held"] == 0
    # Nothing secret, nothing that names the machine.
    assert set(report) == {
        "status",
        "database",
        "workers",
        "queue",
        "worker_last_seen_seconds",
        "worker_waiting_seconds",
        "queue_due",
        "queue_oldest_due_seconds",
        "queue_stuck_profiles",
        "sending_stalled",
        "uncertain",
        "held",
    }


def test_workers_dead_gives_503_until_a_worker_runs_again() -> None:
    browser = Browser()
    _waiting_since(minutes=10)

    status, report = _health(browser)
    assert status == 503
    assert report["status"] == "error"
    assert report["workers"] is False
    assert report["database"] is True
    assert report["worker_waiting_seconds"] >= 600
    # Another heartbeat is queued (the first may be lost), the wait still counted from the first.
    status, report = _health(browser)
    assert status == 503 and report["worker_waiting_seconds"] >= 600

    _worker_runs_the_queue()
    status, report = _health(browser)
    assert status == 200
    assert report["workers"] is True


def test_the_heartbeats_do_not_pile_up_in_the_task_queue() -> None:
    from django_tasks_db.models import DBTaskResult

    browser = Browser()
    for _ in range(3):
        _health(browser)
        _worker_runs_the_queue()
        WorkerHeartbeat.objects.filter(pk=1).update(
            requested_at=timezone.now() - timedelta(minutes=2)
        )
    assert DBTaskResult.objects.filter(task_path__endswith="worker_heartbeat").count() <= 1


@pytest.fixture
def queued(
    make_profile: Callable[..., SendingProfile], make_client: Callable[..., Any]
) -> Callable[..., OutboundMessage]:
    profile = make_profile()

    def make(**changes: Any) -> OutboundMessage:
        message = message_compose(
            sender=profile.collaborator,
            client=make_client(),
            draft=Draft(subject="Dossier {NOMCLIENT}", body="Bonjour {NOMCLIENT},"),
        )
        OutboundMessage.objects.filter(pk=message.pk).update(**changes)
        message.refresh_from_db()
        return message

    return make


def test_a_stuck_queue_gives_503(queued: Callable[..., OutboundMessage]) -> None:
    browser = Browser()
    _health(browser)
    _worker_runs_the_queue()  # the workers are alive; but the outbox does not move:
    an_hour_ago = timezone.now() - timedelta(hours=1)
    queued(created_at=an_hour_ago, status=OutboundMessage.Status.QUEUED)
    # Neither a send scheduled for later nor a retry not yet due is late.
    queued(scheduled_at=timezone.now() + timedelta(days=1), created_at=an_hour_ago)
    queued(
        status=OutboundMessage.Status.RETRY,
        next_attempt_at=timezone.now() + timedelta(minutes=5),
        created_at=an_hour_ago,
    )
    queued(status=OutboundMessage.Status.UNCERTAIN)
    queued(status=OutboundMessage.Status.HELD)
    queued(status=OutboundMessage.Status.HELD)

    status, report = _health(browser)
    assert status == 503
    assert report["queue"] is False
    assert report["workers"] is True
    assert report["queue_due"] == 1
    assert report["queue_oldest_due_seconds"] >= 3600
    assert report["queue_stuck_profiles"] == 1
    assert report["uncertain"] == 1
    assert report["held"] == 2


def test_a_send_never_settled_gives_503(queued: Callable[..., OutboundMessage]) -> None:
    """A worker died while sending and no `outbox_recover` ran since (its timer is off)."""
    browser = Browser()
    _health(browser)
    _worker_runs_the_queue()
    sending = OutboundMessage.Status.SENDING
    queued(status=sending, lease_expires_at=timezone.now() - timedelta(minutes=5))
    status, report = _health(browser)
    assert status == 200  # the lease has just run out: the next outbox_recover settles it
    queued(status=sending, lease_expires_at=timezone.now() - timedelta(hours=1))
    status, report = _health(browser)
    assert status == 503
    assert report["queue"] is False
    assert report["sending_stalled"] == 1


def test_a_long_batch_on_its_way_is_not_stuck(queued: Callable[..., OutboundMessage]) -> None:
    """Messages due for an hour, but their profile sent one a minute ago: it is working
    through a large batch."""
    browser = Browser()
    _health(browser)
    _worker_runs_the_queue()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    queued(created_at=an_hour_ago)
    queued(
        created_at=an_hour_ago,
        status=OutboundMessage.Status.SENT,
        sent_at=timezone.now() - timedelta(minutes=1),
    )
    status, report = _health(browser)
    assert status == 200
    assert report["queue_oldest_due_seconds"] >= 3600
    assert report["queue_stuck_profiles"] == 0


def test_a_fresh_queue_is_healthy(queued: Callable[..., OutboundMessage]) -> None:
    browser = Browser()
    _health(browser)
    _worker_runs_the_queue()
    queued(status=OutboundMessage.Status.QUEUED)  # just written: the worker has time
    status, report = _health(browser)
    assert status == 200
    assert report["queue_due"] == 1


def _health_in_a_process(database_url: str, data_dir: Path) -> tuple[str, str, str]:
    """/sante/ asked in a process of its own, whose database is `database_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURRIER_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="courrier.settings",
        COURRIER_DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/sante/', HTTP_HOST='localhost')\n"
        "print(r.status_code, r.content.decode())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    return status, body, result.stderr


def test_database_gone_gives_503_without_a_trace_of_its_address(tmp_path: Path) -> None:
    """A process whose SQLite file cannot be opened (its folder does not exist)."""
    status, body, stderr = _health_in_a_process(
        f"sqlite:///{tmp_path}/gone/courrier.sqlite3", tmp_path
    )
    assert status == "503", stderr
    report = json.loads(body)
    assert report["database"] is False
    assert report["status"] == "error"
    assert "gone" not in body and str(tmp_path) not in body


@pytest.mark.postgres
def test_postgresql_database_gone_gives_503(tmp_path: Path) -> None:
    """The PostgreSQL server answers, but the database is not there (dropped, or misnamed)."""
    psycopg = pytest.importorskip("psycopg")
    host, _sep, port = os.environ.get("COURRIER_TEST_PG", "127.0.0.1:5432").partition(":")
    try:
        psycopg.connect(
            f"postgresql://postgres@{host}:{port or 5432}/postgres", connect_timeout=3
        ).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL does not answer on {host}:{port} (user postgres): {exc}")
    url = f"postgres://postgres:s3cret-pw@{host}:{port or 5432}/courrier_gone_db"
    status, body, stderr = _health_in_a_process(url, tmp_path)
    assert status == "503", stderr
    assert json.loads(body)["database"] is False
    assert "s3cret" not in body and "courrier_gone_db" not in body and host not in body
