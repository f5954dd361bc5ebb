"""What `courrier demo` starts: a demo data directory, the worker, the web server, the SMTP
catcher and the Peppol access point.

The demo's own settings come from its children's environment (COURRIER_DATA_DIR is read at
import time), so everything that touches the demo database runs as a `courrier` subprocess.
The catcher and the access point run in the demo's own process, on 127.0.0.1.

The access point delivers each e-invoice a few seconds after it took it and says so by its
webhook, which it posts to the demo's web server (the demo's public address is that server:
the address seeded for the profile, `DEMO_WEBHOOK_TOKEN`, with its secret). As a production
cron would, the demo also runs `courrier outbox_recover` every few minutes: a status whose
webhook was missed is then polled, an interrupted send settled.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import http.client
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from aiosmtpd.controller import Controller
from django.urls import reverse
from django.utils.translation import gettext as _

from courrier.demo.access_point import FakeAccessPoint, received_dir
from courrier.demo.catcher import catcher_start, mailbox_dir, port_is_free
from courrier.demo.seed import (
    DEMO_FIRM_NAME,
    DEMO_WEBHOOK_SECRET,
    DEMO_WEBHOOK_TOKEN,
    peppol_participants,
)

MARKER_NAME = "COURRIER-DEMO"
DATABASE_NAME = "courrier.sqlite3"
MARKER_TEXT = (
    "This directory holds the data of `courrier demo`.\n"
    "`courrier demo --reset` erases its database and its demo mailbox.\n"
)
# What a data directory may hold before it becomes a demo one: `courrier` writes its keys into
# the directory named by COURRIER_DATA_DIR as soon as it starts.
# Held by the running demo for as long as it runs (an advisory lock, released by the system
# when the process ends, however it ends).
LOCK_NAME = ".courrier-demo.lock"
_ALLOWED_BEFORE_MARKER = {"keys", LOCK_NAME}
STOP_TIMEOUT = 10.0
# An e-invoice is delivered this many seconds after the demo's access point took it.
DELIVERY_SECONDS = 3.0
# How often the demo runs `courrier outbox_recover`, as cron does in production.
RECOVER_SECONDS = 120.0

# Environment variables that configure a real installation: the demo never inherits them, so it
# cannot write into a production database nor encrypt with production keys.
_PRODUCTION_VARIABLES = (
    "DATABASE_URL",
    "COURRIER_PRODUCTION",
    "COURRIER_SECRET_KEY",
    "COURRIER_ENCRYPTION_KEYS",
    "COURRIER_PUBLIC_URL",
    "COURRIER_ALLOWED_HOSTS",
)


class DemoError(Exception):
    """Why the demo cannot start or had to stop, in one sentence for the terminal."""


def default_data_dir() -> Path:
    configured = os.environ.get("COURRIER_DATA_DIR")
    return Path(configured) if configured else Path("var") / "demo"


@contextlib.contextmanager
def demo_data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold `data_dir` for one demo: a second demo on the same folder (which would reset or
    seed the database under the first one's feet) is refused with a DemoError naming the
    first one's process."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / LOCK_NAME).open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise DemoError(
                _(
                    "Une démo tourne déjà sur le dossier %(dir)s (processus %(pid)s) : arrêtez-la "
                    "d'abord, ou choisissez un autre dossier avec --data-dir."
                )
                % {"dir": data_dir, "pid": holder}
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def demo_data_dir_prepare(*, data_dir: Path, reset: bool) -> None:
    """Make `data_dir` a demo directory, emptied first with `reset`; never touch another one.

    Raises DemoError when the directory holds data that is not the demo's.
    """
    marker = data_dir / MARKER_NAME
    if data_dir.exists() and not marker.exists():
        foreign = sorted(
            entry.name for entry in data_dir.iterdir() if entry.name not in _ALLOWED_BEFORE_MARKER
        )
        if foreign:
            raise DemoError(
                _(
                    "Le dossier %(dir)s contient déjà des données qui ne sont pas celles de la "
                    "démo (%(names)s) : la démo n'y touche pas. Choisissez un autre dossier "
                    "avec --data-dir."
                )
                % {"dir": data_dir, "names": ", ".join(foreign[:5])}
            )
    if reset and marker.exists():
        for suffix in ("", "-wal", "-shm", "-journal"):
            (data_dir / f"{DATABASE_NAME}{suffix}").unlink(missing_ok=True)
        for name in (mailbox_dir(data_dir).name, received_dir(data_dir).name, "media", "logs"):
            shutil.rmtree(data_dir / name, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(MARKER_TEXT)
    (data_dir / "logs").mkdir(exist_ok=True)
    # WhiteNoise warns about a missing STATIC_ROOT; the demo serves static files from the apps.
    (data_dir / "static").mkdir(exist_ok=True)


def demo_environment(
    *, data_dir: Path, smtp_port: int, port: int = 8000, peppol_port: int | None = None
) -> dict[str, str]:
    """The environment of every process the demo starts."""
    env = {key: value for key, value in os.environ.items() if key not in _PRODUCTION_VARIABLES}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "courrier.settings",
            "COURRIER_DATA_DIR": str(data_dir),
            # Secure links in the demo's mails open on the demo's own web server.
            "COURRIER_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "COURRIER_DEMO": "1",
            "COURRIER_DEMO_SMTP_PORT": str(smtp_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if peppol_port is not None:
        env["COURRIER_DEMO_PEPPOL_PORT"] = str(peppol_port)
    return env


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


# Loaded once in the parent: a child only calls it between fork and exec.
_PRCTL = _libc_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the demo process is killed outright, its children get SIGTERM instead of lingering on
    # their ports.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


class DemoStack:
    """The processes of one demo run. `stop()` ends whatever was started, in any state."""

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        smtp_port: int,
        peppol_port: int,
        stop_requested: threading.Event,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.smtp_port = smtp_port
        self.peppol_port = peppol_port
        self.stop_requested = stop_requested
        self.env = demo_environment(
            data_dir=data_dir, smtp_port=smtp_port, port=port, peppol_port=peppol_port
        )
        self.logs = data_dir / "logs"
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._log_files: list[IO[bytes]] = []
        self.catcher: Controller | None = None
        self.access_point: FakeAccessPoint | None = None
        # `outbox_recover` as cron runs it: not a service (it ends), so not among the children.
        self.recover: subprocess.Popen[bytes] | None = None
        self._recover_at = time.monotonic() + RECOVER_SECONDS
        self._recover_log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def peppol_url(self) -> str:
        return f"http://127.0.0.1:{self.peppol_port}"

    @property
    def webhook_url(self) -> str:
        """Where the access point posts its reports: the seeded profile's webhook, on the
        demo's own web server (its public address)."""
        public = self.env["COURRIER_PUBLIC_URL"].rstrip("/")
        return public + reverse("mailing:webhook", args=[DEMO_WEBHOOK_TOKEN])

    def check_ports(self) -> None:
        for port, option in (
            (self.port, "--port"),
            (self.smtp_port, "--smtp-port"),
            (self.peppol_port, "--peppol-port"),
        ):
            if not port_is_free(port):
                raise DemoError(
                    _(
                        "Le port %(port)d est déjà utilisé sur 127.0.0.1 : choisissez-en un autre "
                        "avec %(option)s."
                    )
                    % {"port": port, "option": option}
                )

    def _spawn(
        self, name: str, *args: str, log_name: str | None = None, service: bool = True
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{log_name or name}.log").open("ab")
        self._log_files.append(log)
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, "-m", "courrier", *args],
            env=self.env,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Ctrl-C reaches the demo process only; it stops its children in order.
            start_new_session=True,
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )
        if service:
            self.children[name] = process
        return process

    def run_step(self, name: str, *args: str) -> bool:
        """Run one `courrier` command to its end. False if a stop was requested meanwhile."""
        process = self._spawn(name, *args, log_name="setup")
        while True:
            try:
                code = process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if self.stop_requested.is_set():
                    return False
        del self.children[name]
        if code != 0:
            raise DemoError(
                _("« courrier %(command)s » a échoué (code %(code)d).")
                % {"command": " ".join(args), "code": code}
                + "\n"
                + self.log_tail("setup")
            )
        return True

    def start_services(self) -> None:
        # The catcher and the access point first: the worker may send at once (the e-invoice
        # the seed queued).
        try:
            self.catcher = catcher_start(directory=mailbox_dir(self.data_dir), port=self.smtp_port)
        except OSError as exc:
            raise DemoError(
                _("Le récepteur SMTP ne peut pas écouter sur le port %(port)d : %(error)s")
                % {"port": self.smtp_port, "error": exc.strerror or exc}
            ) from exc
        self.access_point = self._access_point_start()
        self._spawn("worker", "worker", "--queue-name=*", "--interval=0.5", "--no-startup-delay")
        self._spawn("web", "runserver", f"127.0.0.1:{self.port}", "--noreload")

    def _access_point_start(self) -> FakeAccessPoint:
        access_point = FakeAccessPoint(
            company_name=DEMO_FIRM_NAME,
            auto_deliver_after=DELIVERY_SECONDS,
            directory=received_dir(self.data_dir),
        )
        for participant in peppol_participants():
            access_point.register(participant)
        access_point.webhook_url = self.webhook_url
        access_point.webhook_secret = DEMO_WEBHOOK_SECRET
        try:
            access_point.start(self.peppol_port)
        except OSError as exc:
            raise DemoError(
                _("Le point d'accès Peppol ne peut pas écouter sur le port %(port)d : %(error)s")
                % {"port": self.peppol_port, "error": exc.strerror or exc}
            ) from exc
        return access_point

    def recover_when_due(self, *, now: float | None = None) -> None:
        """Run `courrier outbox_recover` every RECOVER_SECONDS, one run at a time."""
        if self.recover is not None and self.recover.poll() is None:
            return
        now = time.monotonic() if now is None else now
        if now < self._recover_at:
            return
        self._recover_at = now + RECOVER_SECONDS
        if self._recover_log is not None:
            # The last run's log, kept open until it ended.
            self._log_files.remove(self._recover_log)
            self._recover_log.close()
        self.recover = self._spawn("recover", "outbox_recover", service=False)
        self._recover_log = self._log_files[-1]

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until the web server answers. False if a stop was requested meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stop_requested.is_set():
                return False
            self.check_children()
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                connection.request("GET", "/connexion/")
                connection.getresponse().read()
                return True
            except OSError:
                time.sleep(0.2)
            finally:
                connection.close()
        raise DemoError(_("Le serveur web n'a pas répondu à temps.") + "\n" + self.log_tail("web"))

    def check_children(self) -> None:
        """Raise DemoError when the worker or the web server has stopped on its own."""
        for name, process in self.children.items():
            code = process.poll()
            if code is not None:
                raise DemoError(
                    _("Le processus « %(name)s » s'est arrêté (code %(code)d).")
                    % {"name": name, "code": code}
                    + "\n"
                    + self.log_tail(name)
                )

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.logs / f"{name}.log"
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        # The worker finishes the mail it is sending; the web server just ends.
        for process in self.children.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        if self.recover is not None and self.recover.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.recover.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in [*self.children.values(), *([self.recover] if self.recover else [])]:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.children.clear()
        self.recover = None
        self._recover_log = None
        if self.access_point is not None:
            self.access_point.stop()
            self.access_point = None
        if self.catcher is not None:
            self.catcher.stop()
            self.catcher = None
        for log in self._log_files:
            log.close()
        self._log_files.clear()
