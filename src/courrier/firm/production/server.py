"""`courrier serve`: gunicorn with settings fit for Courrier, and the checks that come first.

Gunicorn runs the WSGI application in sync workers, forked by one master that restarts a worker
that dies or stops answering (`timeout`), replaces each worker after `max_requests` requests
(with jitter, so that they do not all restart at once) and reloads them gracefully on SIGHUP.
Every value comes from an option of the command, else from the environment, else from the
defaults here.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import Any

from django.core import checks
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import DatabaseError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from gunicorn.glogging import Logger

# Whom the access log names and what it says: the client's address as the proxy forwarded it,
# the request's path without its query string (OAuth codes, states), status, size and time.
ACCESS_LOG_FORMAT = '%({x-forwarded-for}i)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s" %(p)s'
# Paths whose second part is a secret: a secure link's token, a webhook's token.
_SECRET_PATH = re.compile(r"^(/l/|/courrier/webhooks/)[^/]+")


@dataclass(frozen=True)
class ServerOptions:
    """What gunicorn is started with; `from_environment` reads the COURRIER_WEB_* variables."""

    bind: str
    workers: int
    timeout: int
    graceful_timeout: int
    max_requests: int
    max_requests_jitter: int
    forwarded_allow_ips: str
    access_log: str

    @classmethod
    def from_environment(cls, **given: Any) -> ServerOptions:
        env = os.environ
        values: dict[str, Any] = {
            "bind": env.get("COURRIER_WEB_BIND", "127.0.0.1:8000"),
            "workers": int(env.get("COURRIER_WEB_WORKERS", "0")) or default_workers(),
            "timeout": int(env.get("COURRIER_WEB_TIMEOUT", "120")),
            "graceful_timeout": int(env.get("COURRIER_WEB_GRACEFUL_TIMEOUT", "30")),
            "max_requests": int(env.get("COURRIER_WEB_MAX_REQUESTS", "1000")),
            "max_requests_jitter": int(env.get("COURRIER_WEB_MAX_REQUESTS_JITTER", "100")),
            "forwarded_allow_ips": env.get("COURRIER_FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
            "access_log": env.get("COURRIER_WEB_ACCESS_LOG", "-"),
        }
        values.update({name: value for name, value in given.items() if value is not None})
        return cls(**values)


def default_workers() -> int:
    """Two sync workers per CPU the process may use, plus one; at most 9 (a firm's office does
    not need more, and each worker holds its own memory)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(2 * cpus + 1, 9)


def gunicorn_argv(options: ServerOptions) -> list[str]:
    """The command line that starts gunicorn on Courrier's WSGI application."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "courrier.wsgi:application",
        "--bind",
        options.bind,
        "--workers",
        str(options.workers),
        "--worker-class",
        "sync",
        "--timeout",
        str(options.timeout),
        "--graceful-timeout",
        str(options.graceful_timeout),
        "--max-requests",
        str(options.max_requests),
        "--max-requests-jitter",
        str(options.max_requests_jitter),
        "--forwarded-allow-ips",
        options.forwarded_allow_ips,
        "--access-logfile",
        options.access_log,
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "--error-logfile",
        "-",
        "--logger-class",
        "courrier.firm.production.server.AccessLogger",
        # The heartbeat files of the workers live in memory, not on a disk that may stall.
        "--worker-tmp-dir",
        "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp",  # noqa: S108
        # No control socket in a home directory the service account may not have.
        "--no-control-socket",
    ]


class AccessLogger(Logger):
    """Gunicorn's logger, with the secret part of link and webhook addresses left out."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = _SECRET_PATH.sub(r"\1…", atoms.get("U") or "")
        atoms["r"] = "-"  # the raw request line holds the query string
        if not atoms.get("{x-forwarded-for}i"):
            atoms["{x-forwarded-for}i"] = atoms.get("h", "-")
        return atoms


def deploy_problems() -> list[str]:
    """What forbids serving: the public address, Django's deployment checks (warnings
    included) and migrations not applied. A proxy that redirects to HTTPS itself
    (COURRIER_SSL_REDIRECT=0) is a choice."""
    proxy_redirects = os.environ.get("COURRIER_SSL_REDIRECT", "").strip() in {"0", "false", "no"}
    # The public address is one of the deployment checks (courrier.W001, firm/production/checks).
    problems: list[str] = []
    for message in checks.run_checks(include_deployment_checks=True):
        if message.level < checks.WARNING or message.is_silenced():
            continue
        if proxy_redirects and message.id == "security.W008":
            continue
        problems.append(str(message))
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        problems.append(_("La base de données ne répond pas : %(error)s") % {"error": exc})
    else:
        if pending:
            problems.append(
                ngettext(
                    "%(count)d migration n'est pas appliquée : lancez `courrier migrate`.",
                    "%(count)d migrations ne sont pas appliquées : lancez `courrier migrate`.",
                    len(pending),
                )
                % {"count": len(pending)}
            )
    finally:
        connections.close_all()
    return problems
