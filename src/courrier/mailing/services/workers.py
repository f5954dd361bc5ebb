"""Which process holds a claim, and whether it still lives.

A delivery run's token (`claimed_by`) and a worker's id (django-tasks-db's `worker_ids`)
begin with the name of the process that wrote them: its host, its pid and the moment the
process started (in clock ticks since boot, from /proc), `host:pid:start:`. On the same
host, that is enough to tell a live process from a dead one, even when the pid was given
to another process since. On another host nothing can be told from here: `process_alive`
then answers None, and the lease (or a long age) decides, as before.
"""

from __future__ import annotations

import os
import socket
import uuid
from functools import cache


@cache
def _host() -> str:
    # Colons separate the parts of the name; a host name never holds one, but be sure.
    return socket.gethostname().replace(":", "-")[:20] or "host"


def _started(pid: int) -> str | None:
    """When the process `pid` started (ticks since boot), "" where /proc is missing, None
    when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except FileNotFoundError:
        if not os.path.isdir("/proc/self"):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            except PermissionError:
                return ""
            return ""
        return None
    except OSError:
        return ""
    # Field 22 of stat; after the command name's ")" the fields start at the third.
    return fields[19] if len(fields) > 19 else ""


def process_name() -> str:
    """This process's name: `host:pid:start`."""
    pid = os.getpid()
    return f"{_host()}:{pid}:{_started(pid) or 0}"


def process_token() -> str:
    """A new token (at most 64 characters) that begins with this process's name."""
    return f"{process_name()}:{uuid.uuid4().hex[:16]}"


def process_alive(token: str) -> bool | None:
    """Whether the process that wrote `token` still runs: True, False, or None when this
    process cannot tell (another host, or a token written before processes were named)."""
    parts = token.split(":")
    if len(parts) < 3 or parts[0] != _host() or not parts[1].isdigit():
        return None
    pid, start = int(parts[1]), parts[2]
    if pid == os.getpid():
        return True
    now = _started(pid)
    if now is None:
        return False
    if not now or start == "0":
        # No start time to compare: the pid answers, which is all that is known.
        return True
    return now == start
