"""Parallel connections of one profile (`max_connections`): each lane claims its own batches
over its own connection and database connection; every message leaves exactly once.

Run in a `courrier` subprocess on an SQLite file (WAL) and on PostgreSQL when it answers: the
in-memory database of the other tests belongs to one connection.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.fakes.smtp import FakeSMTPServer
from tests.mailing.test_postgres import (  # noqa: F401  (postgres_database is a fixture)
    SEED,
    _courrier,
    _environment,
    _run,
    postgres_database,
)

MESSAGES = 60

DELIVER = """
import json, sys
import django
django.setup()
from courrier.mailing.models import OutboundMessage, DeliveryAttempt, SendingProfile
from courrier.mailing.services import messages_deliver

profile = SendingProfile.objects.get()
profile.max_connections = int(sys.argv[1])
profile.save()
report = messages_deliver(profile_id=profile.pk)
print(json.dumps({
    "report": report.as_dict(),
    "statuses": sorted(set(OutboundMessage.objects.values_list("status", flat=True))),
    "attempts": DeliveryAttempt.objects.count(),
    "open": DeliveryAttempt.objects.filter(finished_at__isnull=True).count(),
}))
"""


def _lanes(database_url: str, tmp_path: Path, smtp_server: FakeSMTPServer) -> None:
    env = _environment(database_url, tmp_path / "data")
    _run(_courrier("migrate", "--noinput", "-v", "0"), env)
    ids = json.loads(
        _run([sys.executable, "-c", SEED, str(smtp_server.port), str(MESSAGES)], env)
        .strip()
        .splitlines()[-1]
    )
    result = json.loads(_run([sys.executable, "-c", DELIVER, "4"], env).strip().splitlines()[-1])

    arrived = Counter(int(m.message["X-Courrier-Message"]) for m in smtp_server.messages)
    assert sorted(arrived) == sorted(ids)
    assert set(arrived.values()) == {1}, "each message once"
    assert result["report"]["sent"] == MESSAGES and result["report"]["claimed"] == MESSAGES
    assert result["statuses"] == ["sent"]
    assert result["attempts"] == MESSAGES and result["open"] == 0
    # Four lanes, each its own connection (batches of 5 for 60 messages keep them all busy).
    assert 1 < smtp_server.connections <= 4


def test_four_lanes_on_sqlite_wal(tmp_path: Path, smtp_server: FakeSMTPServer) -> None:
    _lanes(f"sqlite:///{tmp_path / 'courrier.sqlite3'}", tmp_path, smtp_server)


@pytest.mark.postgres
def test_four_lanes_on_postgresql(
    postgres_database: str,  # noqa: F811
    tmp_path: Path,
    smtp_server: FakeSMTPServer,
) -> None:
    _lanes(postgres_database, tmp_path, smtp_server)
