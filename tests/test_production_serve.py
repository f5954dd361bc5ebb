"""`courrier serve`: gunicorn runs the application for real, behind the checks that must pass
first. The server is started as a service would start it, and spoken to over HTTP as the
reverse proxy speaks to it (Host of the public address, X-Forwarded-Proto: https)."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from courrier.settings import BASE_DIR
from tests.fakes.smtp import free_port

HOST = "courrier.fidu.test"
TIMEOUT = 60


def production_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURRIER_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        PYTHONPATH=os.pathsep.join(sys.path),
        PYTHONUNBUFFERED="1",
        COURRIER_DATA_DIR=str(data_dir),
        COURRIER_PRODUCTION="1",
        COURRIER_SECRET_KEY="serve-test-" + "s" * 50,
        COURRIER_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        COURRIER_ALLOWED_HOSTS=HOST,
        COURRIER_PUBLIC_URL=f"https://{HOST}",
    )
    env.update(extra)
    return env


def courrier(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "courrier", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("serve")
    result = courrier("migrate", "--noinput", "-v", "0", env=production_env(data_dir))
    assert result.returncode == 0, result.stderr
    return data_dir


def test_refuses_to_start_with_debug_on(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    del env["COURRIER_PRODUCTION"]
    env["COURRIER_DEBUG"] = "1"
    result = courrier("serve", env=env)
    assert result.returncode == 2
    assert "security.W018" in result.stderr  # DEBUG
    assert "security.W012" in result.stderr  # cookies not HTTPS-only
    assert "Le serveur ne démarre pas" in result.stderr


def test_refuses_to_start_without_its_keys(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    del env["COURRIER_SECRET_KEY"]
    result = courrier("serve", env=env)
    assert result.returncode == 2
    assert "COURRIER_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_refuses_to_start_without_a_public_https_address_it_answers_to(tmp_path: Path) -> None:
    result = courrier("serve", env=production_env(tmp_path, COURRIER_PUBLIC_URL=""))
    assert result.returncode == 2
    assert "COURRIER_PUBLIC_URL doit être l'adresse HTTPS publique" in result.stderr
    env = production_env(tmp_path, COURRIER_PUBLIC_URL="https://courrier.autre.test")
    result = courrier("serve", env=env)
    assert result.returncode == 2
    assert "(courrier.autre.test) n'est pas dans COURRIER_ALLOWED_HOSTS" in result.stderr


def test_refuses_to_start_on_a_database_not_migrated(tmp_path: Path) -> None:
    result = courrier("serve", env=production_env(tmp_path))
    assert result.returncode == 2
    assert "courrier migrate" in result.stderr


def test_options_come_from_the_command_line_then_the_environment(migrated: Path) -> None:
    env = production_env(migrated, COURRIER_WEB_WORKERS="3", COURRIER_WEB_TIMEOUT="45")
    result = courrier("serve", "--dry-run", "--timeout", "90", env=env)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert "-m gunicorn courrier.wsgi:application" in line
    assert "--workers 3 " in line
    assert "--timeout 90 " in line  # the option wins over COURRIER_WEB_TIMEOUT
    assert "--graceful-timeout 30 " in line
    assert "--max-requests 1000 --max-requests-jitter 100" in line
    assert "--forwarded-allow-ips 127.0.0.1,::1" in line


@pytest.fixture
def server(migrated: Path, tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    port = free_port()
    log = tmp_path / "serve.log"
    env = production_env(migrated, COURRIER_WEB_WORKERS="2")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "courrier", "serve", "--bind", f"127.0.0.1:{port}"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            get(port, "/sante/")
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text()) from None
            time.sleep(0.2)
    yield port, process, log
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=TIMEOUT)


def get(port: int, path: str, proto: str = "https") -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    headers = {"Host": HOST, "X-Forwarded-For": "203.0.113.7"}
    if proto:
        headers["X-Forwarded-Proto"] = proto
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    return response


def read(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    connection.request("GET", path, headers={"Host": HOST, "X-Forwarded-Proto": "https"})
    response = connection.getresponse()
    return response.status, response.read()


def test_gunicorn_serves_pages_static_files_and_health(
    server: tuple[int, subprocess.Popen[bytes], Path],
) -> None:
    port, process, log = server
    status, body = read(port, "/static/courrier/favicon.svg")
    assert status == 200
    assert body == (BASE_DIR / "static" / "courrier" / "favicon.svg").read_bytes()
    status, body = read(port, "/sante/")
    assert status == 200
    assert b'"database": true' in body
    # Plain HTTP is sent to HTTPS; the login page answers behind the proxy.
    assert get(port, "/connexion/", proto="").status == 301
    assert get(port, "/connexion/").status == 200
    # A secure link's token never reaches the access log.
    get(port, "/l/the-secret-token-of-a-link/")

    process.send_signal(signal.SIGHUP)  # graceful reload of the workers
    time.sleep(1)
    assert read(port, "/sante/")[0] == 200
    process.terminate()
    assert process.wait(timeout=TIMEOUT) == 0

    text = log.read_text()
    assert '203.0.113.7 "GET /connexion/ HTTP/1.1" 200' in text
    assert "ms " in text
    assert "the-secret-token-of-a-link" not in text
    assert '"GET /l/…/ HTTP/1.1"' in text
    assert "Booting worker" in text and "Handling signal: hup" in text
