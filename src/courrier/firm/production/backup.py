"""`courrier backup` and `courrier restore`: the database and the data directory's files in one
archive (tar.gz), with a manifest that lists every file and its SHA-256.

Consistent while the application runs: the database first (SQLite's online backup API, or
`pg_dump`, each a snapshot of one moment), then the files. A file is only ever added under a
new name before the row that names it is committed, so every file a row of the snapshot names is
on the disk when the files are read; the manifest lists any that is not (a link's file purged
meanwhile).

The keys are never in the archive: not COURRIER_ENCRYPTION_KEYS (whoever holds the archive and
the key reads every stored password and token), not COURRIER_SECRET_KEY (secure links' codes
are checked with it). The manifest keeps a fingerprint of each, so that a restore says whether
the keys in place are the ones the archive needs. Keep the keys apart (a password manager, the
service's environment file), and the archive where a thief of the server would not find it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.models import FileField
from django.utils import timezone
from django.utils.translation import gettext as _

FORMAT = 1
MANIFEST = "manifest.json"
# What the data directory holds that a restore needs: uploads, documents, PDFs, links' files,
# logos (media/), and the firm's own invoice layouts (layouts/). Not keys/, not the collected
# static files (remade by `courrier serve`), not logs.
DATA_FOLDERS = ("media", "layouts")
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or a restore that cannot be done; its message says why, for the command line."""


@dataclass
class BackupSummary:
    path: Path
    engine: str
    files: int = 0
    size: int = 0
    missing: list[str] = field(default_factory=list)


@dataclass
class RestoreSummary:
    engine: str
    files: int
    created_at: str
    keys_match: bool
    secret_key_matches: bool
    missing: list[str]


def fingerprint(secret: str) -> str:
    """A short digest that recognises a key without revealing it."""
    return hashlib.sha256(f"courrier-key:{secret}".encode()).hexdigest()[:16]


def _engine() -> str:
    vendor = connections["default"].vendor
    if vendor not in {"sqlite", "postgresql"}:
        raise BackupError(
            _("Base de données non prise en charge : %(vendor)s") % {"vendor": vendor}
        )
    return vendor


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pg_tool(name: str) -> str:
    """The PostgreSQL client `name`, newest version first (it must be at least the server's)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
        reverse=True,
    )
    found = [str(path) for path in candidates] + [shutil.which(name) or ""]
    for tool in found:
        if tool:
            return tool
    raise BackupError(
        _("%(tool)s est introuvable : installez le client PostgreSQL (postgresql-client).")
        % {"tool": name}
    )


def _pg_environment() -> dict[str, str]:
    """The connection, for pg_dump and pg_restore, in their environment (never on a command line
    that `ps` shows)."""
    db: dict[str, Any] = dict(settings.DATABASES["default"])
    env = dict(os.environ)
    for variable, key in (
        ("PGHOST", "HOST"),
        ("PGPORT", "PORT"),
        ("PGUSER", "USER"),
        ("PGPASSWORD", "PASSWORD"),
        ("PGDATABASE", "NAME"),
    ):
        if db.get(key):
            env[variable] = str(db[key])
    if (db.get("OPTIONS") or {}).get("sslmode"):
        env["PGSSLMODE"] = str(db["OPTIONS"]["sslmode"])
    return env


def _run(command: list[str]) -> None:
    result = subprocess.run(  # noqa: S603 - a fixed PostgreSQL tool, arguments of ours
        command, env=_pg_environment(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(
            _("%(tool)s a échoué : %(error)s")
            % {"tool": Path(command[0]).name, "error": result.stderr.strip()}
        )


def _database_snapshot(engine: str, into: Path) -> Path:
    if engine == "sqlite":
        target = into / "courrier.sqlite3"
        source = sqlite3.connect(settings.DATABASES["default"]["NAME"])
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)
        finally:
            copy.close()
            source.close()
        return target
    target = into / "courrier.pgdump"
    _run(
        [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "-f", str(target)]
    )
    return target


def referenced_files() -> set[str]:
    """Every file name a row of the database names (documents, PDFs, uploads, links, logos)."""
    names: set[str] = set()
    for model in apps.get_models():
        for model_field in model._meta.get_fields():
            if isinstance(model_field, FileField):
                values = model._default_manager.exclude(**{model_field.name: ""}).values_list(
                    model_field.name, flat=True
                )
                names.update(str(value) for value in values if value)
    return names


def _data_files(data_dir: Path) -> Iterator[tuple[Path, str]]:
    for folder in DATA_FOLDERS:
        root = data_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                yield path, path.relative_to(data_dir).as_posix()


def backup_create(*, destination: Path) -> BackupSummary:
    """Write the archive at `destination` (mode 0600, written aside then renamed)."""
    engine = _engine()
    data_dir = Path(settings.DATA_DIR)
    destination = destination.resolve()
    destination.parent.mkdir(parents=True, exist_ok=True)
    summary = BackupSummary(path=destination, engine=engine)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".courrier-backup-") as work:
        snapshot = _database_snapshot(engine, Path(work))
        # The rows of the snapshot name no file added after it; those of the live database
        # may, which only adds names: a name it lists that is not on the disk is missing.
        referenced = referenced_files()
        entries: list[dict[str, Any]] = []
        partial = Path(work) / "archive.tar.gz"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            database_name = f"database/{snapshot.name}"
            archive.add(snapshot, arcname=database_name, recursive=False)
            database = {"engine": engine, "path": database_name, "sha256": _sha256(snapshot)}
            for path, name in _data_files(data_dir):
                digest = _sha256(path)
                archive.add(path, arcname=f"data/{name}", recursive=False)
                entries.append({"path": name, "size": path.stat().st_size, "sha256": digest})
            archived = {entry["path"].removeprefix("media/") for entry in entries}
            summary.missing = sorted(referenced - archived)
            manifest = {
                "format": FORMAT,
                "created_at": timezone.now().isoformat(),
                "database": database,
                "files": entries,
                "missing_files": summary.missing,
                "key_fingerprints": {
                    "encryption_keys": [fingerprint(key) for key in settings.ENCRYPTION_KEYS],
                    "secret_key": fingerprint(settings.SECRET_KEY),
                },
            }
            data = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mtime = int(timezone.now().timestamp())
            info.mode = 0o600
            archive.addfile(info, io.BytesIO(data))
        os.replace(partial, destination)
    summary.files = len(entries)
    summary.size = destination.stat().st_size
    return summary


def _manifest(archive: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = archive.getmember(MANIFEST)
        handle = archive.extractfile(member)
        manifest = json.loads(handle.read()) if handle else None
    except (KeyError, ValueError) as exc:
        raise BackupError(_("Ce fichier n'est pas une sauvegarde de Courrier.")) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(_("Ce fichier n'est pas une sauvegarde de Courrier."))
    return manifest


def _verify(archive_path: Path) -> dict[str, Any]:
    """The manifest, once every file of the archive has the bytes the manifest names."""
    try:
        with tarfile.open(archive_path, mode="r:gz") as archive:
            manifest = _manifest(archive)
            expected = {f"data/{entry['path']}": entry["sha256"] for entry in manifest["files"]}
            expected[manifest["database"]["path"]] = manifest["database"]["sha256"]
            seen: set[str] = set()
            for member in archive:
                if member.name == MANIFEST:
                    continue
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is None or member.name not in expected:
                    raise BackupError(
                        _("La sauvegarde contient %(name)s, que son manifeste ne liste pas.")
                        % {"name": member.name}
                    )
                digest = hashlib.sha256()
                for chunk in iter(lambda h=handle: h.read(_CHUNK), b""):  # type: ignore[misc]
                    digest.update(chunk)
                if digest.hexdigest() != expected[member.name]:
                    raise BackupError(
                        _("La sauvegarde est abîmée : %(name)s n'a pas le contenu attendu.")
                        % {"name": member.name}
                    )
                seen.add(member.name)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise BackupError(_("La sauvegarde est illisible : %(error)s") % {"error": exc}) from exc
    absent = sorted(set(expected) - seen)
    if absent:
        raise BackupError(
            _("La sauvegarde est incomplète : %(name)s manque.") % {"name": absent[0]}
        )
    return manifest


def installation_is_empty() -> bool:
    """No table in the database and no file in the data folders: a fresh installation."""
    with connections["default"].cursor() as cursor:
        tables = connections["default"].introspection.table_names(cursor)
    data_dir = Path(settings.DATA_DIR)
    return not tables and not any(True for _ in _data_files(data_dir))


def backup_restore(*, archive_path: Path, force: bool = False) -> RestoreSummary:
    """Put the archive's database and files in place of this installation's.

    Refuses, before writing anything, an archive whose bytes differ from its manifest, one of
    another database engine, and (unless `force`) an installation that holds data."""
    engine = _engine()
    manifest = _verify(archive_path)
    data_dir = Path(settings.DATA_DIR)
    data_dir.mkdir(parents=True, exist_ok=True)
    if engine == "sqlite":
        Path(settings.DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    if manifest["database"]["engine"] != engine:
        raise BackupError(
            _(
                "Cette sauvegarde vient d'une base %(archived)s ; celle-ci est %(current)s. "
                "Restaurez-la dans une installation du même type."
            )
            % {"archived": manifest["database"]["engine"], "current": engine}
        )
    if not force and not installation_is_empty():
        raise BackupError(
            _(
                "Cette installation contient déjà des données (base ou fichiers) : rien n'a été "
                "restauré. Restaurez dans une installation neuve, ou ajoutez --force pour les "
                "remplacer."
            )
        )
    with (
        tempfile.TemporaryDirectory(dir=data_dir, prefix=".courrier-restore-") as work,
        tarfile.open(archive_path, mode="r:gz") as archive,
    ):
        archive.extractall(work, filter="data")
        _database_restore(engine, Path(work) / manifest["database"]["path"])
        for folder in DATA_FOLDERS:
            target = data_dir / folder
            if target.exists():
                shutil.rmtree(target)
            source = Path(work) / "data" / folder
            if source.is_dir():
                shutil.move(source, target)
    keys = manifest.get("key_fingerprints", {})
    current = {fingerprint(key) for key in settings.ENCRYPTION_KEYS}
    return RestoreSummary(
        engine=engine,
        files=len(manifest["files"]),
        created_at=manifest["created_at"],
        keys_match=not keys.get("encryption_keys") or bool(current & set(keys["encryption_keys"])),
        secret_key_matches=keys.get("secret_key") == fingerprint(settings.SECRET_KEY),
        missing=list(manifest.get("missing_files", [])),
    )


def _database_restore(engine: str, snapshot: Path) -> None:
    connections.close_all()
    if engine == "sqlite":
        source = sqlite3.connect(snapshot)
        target = sqlite3.connect(settings.DATABASES["default"]["NAME"])
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return
    _run(
        [
            _pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            "--dbname",
            str(settings.DATABASES["default"]["NAME"]),
            str(snapshot),
        ]
    )
