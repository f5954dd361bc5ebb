"""`courrier demo` as a user runs it: a subprocess on free ports, stopped with Ctrl-C."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from courrier.demo.stack import RECOVER_SECONDS, DemoError, DemoStack, demo_data_dir_prepare
from tests.fakes.smtp import free_port

START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


def demo_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "COURRIER_DEMO"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "courrier.settings",
            "COURRIER_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def processes_using(data_dir: Path) -> list[int]:
    """Pids of the processes whose environment names `data_dir` (the demo and its children)."""
    needle = f"COURRIER_DATA_DIR={data_dir}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ:
            found.append(int(entry.name))
    return found


def get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class RunningDemo:
    def __init__(
        self, data_dir: Path, port: int, smtp_port: int, *extra: str, peppol_port: int = 0
    ) -> None:
        self.data_dir, self.port, self.smtp_port = data_dir, port, smtp_port
        # Never the default port: another demo may be running on this machine.
        self.peppol_port = peppol_port or free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "courrier",
                "demo",
                f"--port={port}",
                f"--smtp-port={smtp_port}",
                f"--peppol-port={self.peppol_port}",
                *extra,
            ],
            env=demo_env(data_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out, err = self.process.communicate()
                pytest.fail(f"courrier demo exited early:\n{out.decode()}\n{err.decode()}")
            try:
                get(self.port, "/connexion/")
                # The welcome text is printed once the server answers.
                time.sleep(0.3)
                return
            except OSError:
                time.sleep(0.3)
        pytest.fail("courrier demo did not answer in time")

    def interrupt(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=STOP_TIMEOUT)
        return self.process.returncode, out.decode(), err.decode()

    def kill_leftovers(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=STOP_TIMEOUT)
        for pid in processes_using(self.data_dir):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[RunningDemo]:
    demo = RunningDemo(tmp_path / "demo", free_port(), free_port())
    try:
        demo.wait_started()
        yield demo
    finally:
        demo.kill_leftovers()


def received_states(demo: RunningDemo) -> list[str]:
    """The states of the e-invoices the demo's access point took, as its directory keeps them."""
    return [
        json.loads(path.read_text())["state"]
        for path in sorted((demo.data_dir / "demo-peppol").glob("*.json"))
    ]


def test_demo_starts_serves_and_stops_cleanly(running_demo: RunningDemo) -> None:
    assert get(running_demo.port, "/connexion/") == 200
    assert get(running_demo.port, "/demo/") == 302  # the mailbox exists, behind the login
    assert get(running_demo.port, "/demo/peppol/") == 302  # and the access point's page
    # The access point answers on its port (Billit's API, which wants its key).
    assert get(running_demo.peppol_port, "/v1/parties/424242") == 401
    # The e-invoice the seed queued leaves at the start and comes back delivered by webhook.
    deadline = time.monotonic() + 60
    while received_states(running_demo) != ["delivered"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert received_states(running_demo) == ["delivered"]

    code, out, err = running_demo.interrupt()

    assert code == 0, err
    assert "Traceback" not in out + err
    assert f"http://127.0.0.1:{running_demo.port}/" in out
    assert "sophie.dubois@fiduciaire-demo.example" in out
    assert "courrier-demo" in out
    assert f"http://127.0.0.1:{running_demo.peppol_port}" in out
    assert f"http://127.0.0.1:{running_demo.port}/demo/peppol/" in out
    assert f"http://127.0.0.1:{running_demo.port}/factures/FIDU/registre-peppol/" in out
    deadline = time.monotonic() + STOP_TIMEOUT
    while processes_using(running_demo.data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_using(running_demo.data_dir) == []
    assert (running_demo.data_dir / "COURRIER-DEMO").exists()


def _run_demo(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not any(arg.startswith("--peppol-port=") for arg in args):
        args = (*args, f"--peppol-port={free_port()}")
    return subprocess.run(
        [sys.executable, "-m", "courrier", "demo", *args],
        env=demo_env(data_dir),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_port_is_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_demo(tmp_path / "demo", f"--port={port}", f"--smtp-port={free_port()}")

    assert result.returncode == 1
    assert f"Le port {port} est déjà utilisé" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_taken_access_point_port_is_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_demo(
            tmp_path / "demo",
            f"--port={free_port()}",
            f"--smtp-port={free_port()}",
            f"--peppol-port={port}",
        )

    assert result.returncode == 1
    assert f"Le port {port} est déjà utilisé" in result.stderr
    assert "--peppol-port" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_second_demo_on_the_same_folder_is_refused_and_the_first_goes_on(
    running_demo: RunningDemo,
) -> None:
    database = running_demo.data_dir / "courrier.sqlite3"
    before = database.stat().st_size

    result = _run_demo(
        running_demo.data_dir, "--reset", f"--port={free_port()}", f"--smtp-port={free_port()}"
    )

    assert result.returncode == 1
    assert "Une démo tourne déjà sur le dossier" in result.stderr
    assert f"(processus {running_demo.process.pid})" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    # Nothing of the first one was reset: its database, its pages.
    assert database.stat().st_size >= before
    assert get(running_demo.port, "/connexion/") == 200


def test_a_database_that_is_not_the_demo_is_left_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "production"
    data_dir.mkdir()
    database = data_dir / "courrier.sqlite3"
    database.write_bytes(b"precious")

    result = _run_demo(data_dir, "--reset", f"--port={free_port()}", f"--smtp-port={free_port()}")

    assert result.returncode == 1
    assert "ne sont pas celles de la démo" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert database.read_bytes() == b"precious"
    assert not (data_dir / "COURRIER-DEMO").exists()


def test_reset_empties_only_a_demo_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    (data_dir / "keys").mkdir(parents=True)  # what `courrier` writes before the demo starts
    (data_dir / "keys" / "secret_key").write_text("kept")
    demo_data_dir_prepare(data_dir=data_dir, reset=False)
    (data_dir / "courrier.sqlite3").write_bytes(b"demo")
    (data_dir / "demo-mailbox").mkdir()
    (data_dir / "demo-mailbox" / "old.eml").write_bytes(b"old")

    demo_data_dir_prepare(data_dir=data_dir, reset=False)
    assert (data_dir / "courrier.sqlite3").exists()

    demo_data_dir_prepare(data_dir=data_dir, reset=True)
    assert not (data_dir / "courrier.sqlite3").exists()
    assert not (data_dir / "demo-mailbox").exists()
    assert (data_dir / "keys" / "secret_key").read_text() == "kept"
    assert (data_dir / "COURRIER-DEMO").exists()

    other = tmp_path / "other"
    (other / "media").mkdir(parents=True)
    with pytest.raises(DemoError):
        demo_data_dir_prepare(data_dir=other, reset=True)


def test_the_demo_runs_outbox_recover_as_cron_would(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    demo_data_dir_prepare(data_dir=data_dir, reset=False)
    stack = DemoStack(
        data_dir=data_dir,
        port=free_port(),
        smtp_port=free_port(),
        peppol_port=free_port(),
        stop_requested=threading.Event(),
    )
    try:
        assert stack.run_step("migrate", "migrate", "--noinput")
        stack.recover_when_due()
        assert stack.recover is None  # not yet: the first run comes after RECOVER_SECONDS
        later = time.monotonic() + RECOVER_SECONDS + 1
        stack.recover_when_due(now=later)
        assert stack.recover is not None
        first = stack.recover
        stack.recover_when_due(now=later + 2 * RECOVER_SECONDS)
        assert stack.recover is first or first.poll() is not None  # one run at a time
        assert first.wait(timeout=60) == 0
        assert "envoi interrompu réglé" in (data_dir / "logs" / "recover.log").read_text()
        assert stack.children == {}  # not a service: its end stops nothing
    finally:
        stack.stop()
