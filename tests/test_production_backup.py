"""`courrier backup` and `courrier restore`, end to end: an installation with a document and an
archived mail is backed up while it runs, restored into a fresh installation (another data
directory, another database), and the restored copy sends a mail to a real SMTP server with
the password stored (encrypted) before the backup. On SQLite always; on PostgreSQL when the
server answers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.fakes.smtp import FakeSMTPServer

TIMEOUT = 120
DOCUMENT = b"%PDF-1.4 comptes annuels 2026 de la Boulangerie Dupuis"

SEED = """
import sys, django
django.setup()
from datetime import date
from django.core.files.base import ContentFile
from courrier.clients.models import Client, ClientEmail
from courrier.documents.models import Document
from courrier.firm.models import Collaborator
from courrier.mailing.models import SendingProfile
from courrier.mailing.services import Draft, message_compose

port, content = int(sys.argv[1]), sys.argv[2].encode()
sender = Collaborator.objects.create_user(
    email="anne@fidu.test", password=None, first_name="Anne", last_name="Dupont"
)
SendingProfile.objects.create(
    collaborator=sender, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
    smtp_username="anne", smtp_password="mot-de-passe-smtp",
    from_name="Anne Dupont", from_address="anne@fidu.test",
)
client = Client.objects.create(number="C00001", name="Boulangerie Dupuis", language="fr")
ClientEmail.objects.create(client=client, address="info@dupuis.test")
document = Document(
    client=client, title="Comptes annuels 2026", date=date(2026, 12, 1),
    filename="comptes.pdf", content_type="application/pdf", size=len(content), sha256="-",
)
document.file.save("comptes.pdf", ContentFile(content), save=False)
document.save()
message_compose(
    sender=sender, client=client,
    draft=Draft(subject="Avant la sauvegarde", body="Bonjour {NOMCLIENT},"),
)
"""

AFTER = """
import hashlib, json, django
django.setup()
from courrier.clients.models import Client
from courrier.documents.models import Document
from courrier.firm.models import Collaborator
from courrier.mailing.models import MessageContent, OutboundMessage
from courrier.mailing.services import Draft, message_compose

message_compose(
    sender=Collaborator.objects.get(email="anne@fidu.test"),
    client=Client.objects.get(number="C00001"),
    draft=Draft(subject="Après la restauration", body="Bonjour {NOMCLIENT},"),
)
document = Document.objects.get()
print(json.dumps({
    "document": hashlib.sha256(document.file.read()).hexdigest(),
    "archived": [
        [m.subject, m.status, MessageContent.objects.filter(message=m).exists()]
        for m in OutboundMessage.objects.order_by("pk")
    ],
}))
"""


def environment(data_dir: Path, database_url: str, keys: str) -> dict[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURRIER_", "DJANGO_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(sys.path),
        DJANGO_SETTINGS_MODULE="courrier.settings",
        DATABASE_URL=database_url,
        COURRIER_DATA_DIR=str(data_dir),
        COURRIER_SECRET_KEY="backup-test-" + "b" * 50,
        COURRIER_ENCRYPTION_KEYS=keys,
        COURRIER_LOG_LEVEL="WARNING",
    )
    return env


def run(
    command: list[str], env: dict[str, str], ok: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if ok:
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def courrier(*args: str, env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "courrier", *args], env, ok)


def deliver(env: dict[str, str]) -> None:
    courrier("db_worker", "--batch", "--no-startup-delay", "--no-reload", env=env)


def _backup_then_restore(
    source_url: str, target_url: str, tmp_path: Path, server: FakeSMTPServer
) -> None:
    keys = Fernet.generate_key().decode()
    original = environment(tmp_path / "original", source_url, keys)
    courrier("migrate", "--noinput", "-v", "0", env=original)
    run([sys.executable, "-c", SEED, str(server.port), DOCUMENT.decode()], original)
    deliver(original)
    assert [m.message["Subject"] for m in server.messages] == ["Avant la sauvegarde"]

    archive = tmp_path / "archives" / "courrier.tar.gz"
    result = courrier("backup", "--output", str(archive), env=original)
    assert "COURRIER_ENCRYPTION_KEYS" in result.stdout  # the reminder
    assert archive.stat().st_mode & 0o077 == 0  # for the owner's eyes only

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert not any("keys" in name.split("/") for name in names)
    assert keys not in json.dumps(manifest)
    assert [f["sha256"] for f in manifest["files"]] == [hashlib.sha256(DOCUMENT).hexdigest()]
    assert manifest["missing_files"] == []

    restored = environment(tmp_path / "restored", target_url, keys)
    result = courrier("restore", str(archive), env=restored)
    assert "Attention" not in result.stderr
    courrier("migrate", "--noinput", "-v", "0", env=restored)
    report = json.loads(run([sys.executable, "-c", AFTER], restored).stdout.splitlines()[-1])
    assert report["document"] == hashlib.sha256(DOCUMENT).hexdigest()
    assert report["archived"] == [
        ["Avant la sauvegarde", "sent", True],
        ["Après la restauration", "queued", True],
    ]
    deliver(restored)  # with the SMTP password stored before the backup
    assert [m.message["Subject"] for m in server.messages] == [
        "Avant la sauvegarde",
        "Après la restauration",
    ]
    assert server.messages[-1].rcpt_tos == ["info@dupuis.test"]
    assert server.messages[-1].authenticated_as == "anne"

    # Restoring again over data is refused, then done on demand.
    refused = courrier("restore", str(archive), env=restored, ok=False)
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    courrier("restore", "--force", str(archive), env=restored)


@pytest.fixture
def server() -> Iterator[FakeSMTPServer]:
    with FakeSMTPServer(auth=("anne", "mot-de-passe-smtp")) as server:
        yield server


def test_backup_and_restore_on_sqlite(tmp_path: Path, server: FakeSMTPServer) -> None:
    _backup_then_restore(
        f"sqlite:///{tmp_path}/original/courrier.sqlite3",
        f"sqlite:///{tmp_path}/restored/courrier.sqlite3",
        tmp_path,
        server,
    )


@pytest.fixture
def two_postgres_databases() -> Iterator[tuple[str, str]]:
    psycopg = pytest.importorskip("psycopg")
    host, _sep, port = os.environ.get("COURRIER_TEST_PG", "127.0.0.1:5432").partition(":")
    server = f"postgresql://postgres@{host}:{port or '5432'}"
    try:
        admin = psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL does not answer on {host}:{port} (user postgres): {exc}")
    names = [f"courrier_backup_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{server}/{names[0]}", f"{server}/{names[1]}"
    finally:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.postgres
def test_backup_and_restore_on_postgresql(
    tmp_path: Path, server: FakeSMTPServer, two_postgres_databases: tuple[str, str]
) -> None:
    source, target = two_postgres_databases
    _backup_then_restore(source, target, tmp_path, server)


def _archive_with(tmp_path: Path, change: Any) -> tuple[Path, dict[str, str]]:
    """A real archive of an empty installation, rewritten by `change(name, bytes)`."""
    env = environment(
        tmp_path / "a", f"sqlite:///{tmp_path}/a.sqlite3", Fernet.generate_key().decode()
    )
    (tmp_path / "a" / "media" / "documents").mkdir(parents=True)
    (tmp_path / "a" / "media" / "documents" / "note.txt").write_bytes(b"note")
    courrier("migrate", "--noinput", "-v", "0", env=env)
    good = tmp_path / "good.tar.gz"
    courrier("backup", "-o", str(good), env=env)
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(good) as source, tarfile.open(bad, "w:gz") as target:
        for member in source:
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            data = change(member.name, data)
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    fresh = environment(
        tmp_path / "b", f"sqlite:///{tmp_path}/b.sqlite3", env["COURRIER_ENCRYPTION_KEYS"]
    )
    return bad, fresh


def test_a_damaged_archive_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    bad, fresh = _archive_with(
        tmp_path, lambda name, data: b"changed" if name.endswith("note.txt") else data
    )
    result = courrier("restore", str(bad), env=fresh, ok=False)
    assert result.returncode == 1
    assert "abîmée" in result.stderr and "note.txt" in result.stderr
    assert not (tmp_path / "b" / "media").exists()
    assert "Traceback" not in result.stderr


def test_restoring_with_other_keys_says_so(tmp_path: Path) -> None:
    good, fresh = _archive_with(tmp_path, lambda name, data: data)
    fresh["COURRIER_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    result = courrier("restore", str(good), env=fresh)
    assert "COURRIER_ENCRYPTION_KEYS ne contient pas la clé" in result.stderr
    assert (tmp_path / "b" / "media" / "documents" / "note.txt").read_bytes() == b"note"
