"""The service files of docs/production/: systemd accepts them, every `courrier` command they
run exists with the options they give, and the reverse-proxy examples agree with the settings
(upload limit, static files, the address `courrier serve` listens on)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands, load_command_class

from courrier.firm.production.server import ServerOptions

DOCS = Path(__file__).resolve().parent.parent / "docs" / "production"
UNITS = sorted((DOCS / "systemd").iterdir())
SYSTEM_UNITS = next(
    (
        path
        for path in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
        if path.is_dir()
    ),
    None,
)
ENV_EXAMPLE = DOCS / "courrier.env.example"


def _exec_lines(unit: Path) -> list[list[str]]:
    return [
        shlex.split(line.split("=", 1)[1])
        for line in unit.read_text().splitlines()
        if re.match(r"^Exec(Start|StartPre|StartPost|Reload)=", line)
    ]


def test_every_unit_is_shown() -> None:
    names = {unit.name for unit in UNITS}
    assert {
        "courrier-web.service",
        "courrier-worker@.service",
        "courrier-outbox-recover.service",
        "courrier-outbox-recover.timer",
        "courrier-links-purge.service",
        "courrier-links-purge.timer",
        "courrier-data-purge.service",
        "courrier-data-purge.timer",
        "courrier-backup.service",
        "courrier-backup.timer",
        "courrier.target",
    } <= names


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or SYSTEM_UNITS is None,
    reason="systemd-analyze is not installed (apt-get install -y systemd)",
)
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify` in a root of its own: systemd's units, ours in
    /etc/systemd/system, and a stand-in at each program path the units run (Courrier is not
    installed in /srv/courrier on the test machine)."""
    assert SYSTEM_UNITS is not None
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    for unit in UNITS:
        target = root / "etc/systemd/system" / unit.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(unit, target)
        for command in _exec_lines(unit):
            program = root / command[0].lstrip("/")
            program.parent.mkdir(parents=True, exist_ok=True)
            program.write_text("#!/bin/sh\n")
            program.chmod(0o755)
    names = [f"/etc/systemd/system/{unit.name.replace('@.', '@1.')}" for unit in UNITS]
    result = subprocess.run(
        ["systemd-analyze", f"--root={root}", "verify", *names],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys and bad values only warn


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".service"], ids=lambda u: u.name)
def test_the_units_run_existing_commands_with_existing_options(unit: Path) -> None:
    commands = [c for c in _exec_lines(unit) if c[0].endswith("/courrier")]
    assert commands, f"{unit.name} runs no courrier command"
    for command in commands:
        name, arguments = command[1], command[2:]
        assert name in get_commands(), f"{unit.name}: no command {name}"
        handler = load_command_class(get_commands()[name], name)
        # systemd's specifiers stand for text (%H host name, %i instance).
        arguments = [argument.replace("%H", "host").replace("%i", "1") for argument in arguments]
        handler.create_parser("courrier", name).parse_args(arguments)


def test_the_timers_replace_the_cron_lines() -> None:
    timers = {unit.stem: unit.read_text() for unit in UNITS if unit.suffix == ".timer"}
    assert "OnUnitActiveSec=5min" in timers["courrier-outbox-recover"]
    assert "OnCalendar=*-*-* 03:30:00" in timers["courrier-links-purge"]
    assert "OnCalendar=*-*-* 04:00:00" in timers["courrier-data-purge"]
    for text in timers.values():
        assert "WantedBy=timers.target" in text


def _env_example() -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )


def test_the_environment_example_names_variables_courrier_reads() -> None:
    source = "\n".join(
        path.read_text() for path in (DOCS.parent.parent / "src" / "courrier").rglob("*.py")
    )
    named = re.findall(r"^#?(COURRIER_[A-Z_]+|DATABASE_URL)=", ENV_EXAMPLE.read_text(), re.M)
    assert len(named) > 10
    for variable in named:
        assert f'"{variable}"' in source, f"{variable} is read nowhere"


def test_the_proxies_match_the_settings() -> None:
    data_dir = Path(_env_example()["COURRIER_DATA_DIR"])
    static_root = str(data_dir / Path(settings.STATIC_ROOT).name)
    upstream = ServerOptions.from_environment().bind
    largest = max(settings.COURRIER["MAX_DOCUMENT_BYTES"], settings.COURRIER["MAX_MESSAGE_BYTES"])
    assert settings.STATIC_URL.strip("/") == "static"

    caddy = (DOCS / "proxy" / "Caddyfile").read_text()
    size = int(re.search(r"max_size (\d+)MiB", caddy).group(1)) * 1024 * 1024  # type: ignore[union-attr]
    assert size >= largest + 1024 * 1024  # room for the form around the file
    assert f"request_buffers {size // (1024 * 1024)}MiB" in caddy
    assert "handle_path /static/*" in caddy
    assert f"root * {static_root}" in caddy
    assert f"reverse_proxy {upstream}" in caddy

    nginx = (DOCS / "proxy" / "nginx.conf").read_text()
    size = int(re.search(r"client_max_body_size (\d+)m;", nginx).group(1)) * 1024 * 1024  # type: ignore[union-attr]
    assert size >= largest + 1024 * 1024
    assert "location /static/ {" in nginx
    assert f"alias {static_root}/;" in nginx
    assert f"server {upstream};" in nginx
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in nginx
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx
    # The proxy waits longer than gunicorn before giving up on a request.
    timeout = int(re.search(r"proxy_read_timeout (\d+)s;", nginx).group(1))  # type: ignore[union-attr]
    assert timeout > ServerOptions.from_environment().timeout


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed")
def test_caddy_accepts_its_example(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "caddy",
            "validate",
            "--adapter",
            "caddyfile",
            "--config",
            str(DOCS / "proxy" / "Caddyfile"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
