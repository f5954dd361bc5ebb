"""The README's Production section, followed from an empty data directory: its `courrier`
commands in its order, then what the systemd units of docs/production/ run (the web server,
a worker, the timers' commands), until the health page says that all is well.

Differences with a real machine, and only these: no root (the data directory is a temporary
one, the environment file is this test's dictionary), `createsuperuser` without questions,
and the backup written to a temporary folder."""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from tests.fakes.smtp import free_port

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "docs" / "production" / "systemd"
HOST = "courrier.fidu.test"
TIMEOUT = 90


def _readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Production\n") :]
    block = section[section.index("```sh\n") + 6 : section.index("```\n", section.index("```sh"))]
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] in {"courrier", "/srv/courrier/.venv/bin/courrier"}:
            commands.append(words[1:])
    return commands


def _unit_command(name: str) -> list[str]:
    line = next(
        line for line in (UNITS / name).read_text().splitlines() if line.startswith("ExecStart=")
    )
    words = shlex.split(line.removeprefix("ExecStart="))
    assert words[0] == "/srv/courrier/.venv/bin/courrier"
    return [word.replace("%H", "test").replace("%i", "1") for word in words[1:]]


def _health(port: int) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    connection.request("GET", "/sante/", headers={"Host": HOST, "X-Forwarded-Proto": "https"})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_from_a_fresh_machine_to_a_healthy_service(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURRIER_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        PYTHONPATH=os.pathsep.join(sys.path),
        PYTHONUNBUFFERED="1",
        COURRIER_PRODUCTION="1",
        COURRIER_DATA_DIR=str(tmp_path / "data"),
        COURRIER_ALLOWED_HOSTS=HOST,
        COURRIER_PUBLIC_URL=f"https://{HOST}",
        DJANGO_SUPERUSER_PASSWORD="un-mot-de-passe-solide-2026",
    )

    def courrier(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "courrier", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, f"courrier {args}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    (tmp_path / "data").mkdir()  # install -d ... /var/lib/courrier
    ran = []
    for command in _readme_commands():
        if command[0] == "createsuperuser":
            command = [*command, "--noinput"]
        output = courrier(*command)
        ran.append(command[0])
        if command[0] == "generate_keys":  # "paste both lines into the environment file"
            env.update(re.findall(r"^(COURRIER_[A-Z_]+)=(\S+)$", output, re.M))
    assert ran == ["generate_keys", "check", "migrate", "createsuperuser"]

    port = free_port()
    serve = _unit_command("courrier-web.service")
    worker = _unit_command("courrier-worker@.service")
    assert serve == ["serve"] and worker[0] == "worker"
    processes = []
    try:
        for args, log in (
            ([*serve, "--bind", f"127.0.0.1:{port}", "--workers", "2"], "web.log"),
            (worker, "worker.log"),
        ):
            with (tmp_path / log).open("wb") as output:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "courrier", *args],
                        env=env,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + TIMEOUT
        report: dict[str, object] = {}
        while True:
            try:
                status, report = _health(port)
                if status == 200 and report["worker_last_seen_seconds"] is not None:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (
                f"{report}\n{(tmp_path / 'web.log').read_text()}\n"
                f"{(tmp_path / 'worker.log').read_text()}"
            )
            assert all(process.poll() is None for process in processes)
            time.sleep(0.5)
        assert report == {**report, "status": "ok", "workers": True, "queue": True}

        # What the timers run, while the service runs.
        courrier(*_unit_command("courrier-outbox-recover.service"))
        courrier(*_unit_command("courrier-links-purge.service"))
        courrier(*_unit_command("courrier-data-purge.service"))
        backup = _unit_command("courrier-backup.service")
        assert backup[:2] == ["backup", "--output"]
        (tmp_path / "backups").mkdir()
        courrier("backup", "--output", str(tmp_path / "backups"))
        assert [path.suffixes for path in (tmp_path / "backups").iterdir()] == [[".tar", ".gz"]]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=TIMEOUT)
