"""Time delivery: queue N messages for one sending profile, then drain them into a local SMTP
receiver and check that each one arrived exactly once.

    .venv/bin/python bench/delivery.py [--messages 2000] [--body-kb 60]
    .venv/bin/python bench/delivery.py --workers 2 [--database-url postgresql://postgres@127.0.0.1/postgres]

Without --workers, this process calls messages_deliver itself (by default one run claims
every message: one SMTP connection). With --workers K, K real `courrier db_worker --batch`
processes run the delivery tasks that compose enqueued, as in production, on the same
database: a throw-away SQLite file (WAL), or a throw-away database created on the
PostgreSQL server of --database-url and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import common

POLL = 0.01  # seconds between two looks at the receiver's count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=common.positive, default=2000, help="default 2000")
    parser.add_argument(
        "--body-kb",
        type=common.not_negative,
        default=60,
        help="pad the template's body to about this many KB (default 60)",
    )
    parser.add_argument(
        "--workers",
        type=common.not_negative,
        default=0,
        help="K `courrier db_worker` processes (default 0: deliver in this process)",
    )
    parser.add_argument(
        "--batch",
        type=common.positive,
        help="messages claimed per delivery run (default: all of them in this process; "
        "the DELIVERY_BATCH setting, 50, with workers)",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server to create a throw-away database on, e.g. "
        "postgresql://postgres@127.0.0.1:5432/postgres (default: SQLite in a temp dir)",
    )
    parser.add_argument(
        "--receiver",
        choices=("auto", "smtp-sink", "fake"),
        default="auto",
        help="auto: Postfix's smtp-sink when installed, else the aiosmtpd fake of the tests",
    )
    parser.add_argument(
        "--timeout", type=common.positive, default=600, help="seconds to wait for the workers"
    )
    args = parser.parse_args()
    if args.database_url and urlsplit(args.database_url).scheme not in ("postgres", "postgresql"):
        parser.error("--database-url must be a postgres:// or postgresql:// URL")
    if args.database_url and not args.workers:
        parser.error("--database-url is for --workers; without it the default SQLite is used")

    database_url, drop = throwaway_database(args.database_url)
    directory = Path(tempfile.mkdtemp(prefix="courrier-bench-"))
    receiver: common.Receiver | None = None
    try:
        receiver = common.Receiver(kind=args.receiver, directory=directory)
        env = common.environment(data_dir=directory / "data", database_url=database_url)
        if args.batch:
            env["COURRIER_DELIVERY_BATCH"] = str(args.batch)
        common.django_setup(env)
        ok = run(args, env=env, receiver=receiver, directory=directory)
    finally:
        if receiver is not None:
            receiver.stop()
        from django.apps import apps

        if apps.ready:
            from django.db import connections

            connections.close_all()
        drop()
        common.remove(directory)
    sys.exit(0 if ok else 1)


def throwaway_database(server_url: str | None) -> tuple[str | None, Callable[[], None]]:
    """A new database on the PostgreSQL server of `server_url`, and the function that drops it."""
    if not server_url:
        return None, lambda: None
    import psycopg

    try:
        admin = psycopg.connect(server_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        # Named by host and port only: the URL may hold a password.
        where = f"{urlsplit(server_url).hostname}:{urlsplit(server_url).port or 5432}"
        raise SystemExit(f"error: cannot connect to PostgreSQL on {where}: {exc}") from None
    name = f"courrier_bench_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}")), drop


def run(
    args: argparse.Namespace, *, env: dict[str, str], receiver: common.Receiver, directory: Path
) -> bool:
    from courrier.mailing.models import DeliveryAttempt, OutboundMessage
    from courrier.mailing.services import Draft, message_compose

    count = args.messages
    firm = common.firm_seed(clients=count, smtp_port=receiver.port, body_kb=args.body_kb)
    started = time.perf_counter()
    for client in firm.clients:
        subject, body = firm.texts[client.language]
        message_compose(
            sender=firm.sender,
            client=client,
            draft=Draft(subject=subject, body=body, template=firm.template),
        )
    composed = time.perf_counter() - started
    size = sum(OutboundMessage.objects.values_list("size", flat=True)) / count / 1024
    print(f"delivery: {count} messages of {size:.1f} KB, one profile, {common.database_label()}")
    print(f"  receiver: {receiver.name}; load average {os.getloadavg()[0]:.1f}")
    print(f"  queued in {composed:.1f} s ({count / composed:.0f} messages/s composed)")

    if args.workers:
        elapsed = drain_with_workers(args, env=env, receiver=receiver, directory=directory)
    else:
        elapsed = drain_here(firm.profile_id, batch=args.batch or count, receiver=receiver)

    statuses = Counter(OutboundMessage.objects.values_list("status", flat=True))
    attempts = DeliveryAttempt.objects.count()
    retried = OutboundMessage.objects.filter(attempts__gt=1).count()
    received = receiver.count()
    print(f"  SMTP connections opened: {receiver.connections()}")
    print(
        f"  {count} messages in {elapsed:.2f} s: {count / elapsed:.0f} messages/s "
        f"({elapsed / count * 1000:.2f} ms per message)"
    )
    problems = []
    if dict(statuses) != {"sent": count}:
        problems.append(f"statuses {dict(statuses)}")
    if attempts != count or retried:
        problems.append(f"{attempts} attempts logged, {retried} messages tried more than once")
    if received != count:
        problems.append(f"the receiver got {received} messages")
    numbers = receiver.message_numbers()
    if numbers is not None:
        expected = set(OutboundMessage.objects.values_list("pk", flat=True))
        repeated = {pk: n for pk, n in Counter(numbers).items() if n > 1}
        if repeated or set(numbers) != expected:
            problems.append(f"sent more than once: {repeated}, missing: {expected - set(numbers)}")
    check = "identified by X-Courrier-Message" if numbers is not None else "counted by smtp-sink"
    if problems:
        print("  EXACTLY-ONCE CHECK FAILED: " + "; ".join(problems))
        return False
    print(f"  exactly once: {received} received ({check}), {count} sent, {attempts} attempts")
    if not args.workers:
        statements_per_message(firm, sample=min(count, 100))
        sample = min(count, 500)
        alone = transport_alone(firm.profile_id, sample)
        overhead = (elapsed / count - alone / sample) * 1000
        print(
            f"  the transport alone, same bytes, {sample} messages: {sample / alone:.0f} "
            f"messages/s; the outbox's bookkeeping adds {overhead:.2f} ms per message"
        )
    return True


def drain_here(profile_id: int, *, batch: int, receiver: common.Receiver) -> float:
    """messages_deliver in this process until nothing is left; wall time in seconds."""
    from courrier.mailing.services import messages_deliver

    runs = 0
    cpu = time.process_time()
    started = time.perf_counter()
    while messages_deliver(profile_id=profile_id, limit=batch).claimed:
        runs += 1
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    count = receiver.count()
    connections = "one SMTP connection" if runs == 1 else f"{runs} runs, one connection each"
    print(f"  messages_deliver in this process, batch {batch}: {connections}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  CPU of this process: {cpu / max(1, count) * 1000:.2f} ms per message; "
        f"peak memory {peak:.0f} MB"
    )
    return elapsed


def statements_per_message(firm: common.SeededFirm, *, sample: int) -> None:
    """Queue `sample` more messages and list the SQL of their delivery (kept apart from the
    timed run: on SQLite, Django quotes the parameters of each logged statement with a query)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from courrier.mailing.services import Draft, message_compose, messages_deliver

    for client in firm.clients[:sample]:
        subject, body = firm.texts[client.language]
        message_compose(sender=firm.sender, client=client, draft=Draft(subject=subject, body=body))
    with CaptureQueriesContext(connection) as queries:
        messages_deliver(profile_id=firm.profile_id, limit=sample)
    print(
        f"  {len(queries) / sample:.1f} SQL statements per message ({sample} more sent): "
        + common.statements(queries.captured_queries)
    )


def transport_alone(profile_id: int, count: int) -> float:
    """Seconds to hand `count` stored messages to the profile's transport over one connection,
    without the outbox's bookkeeping (they reach the receiver a second time). Their bytes are
    read before the clock starts, in one query."""
    from courrier.mailing.models import OutboundMessage, SendingProfile
    from courrier.mailing.services.contents import contents_load
    from courrier.mailing.transports import transport_for

    profile = SendingProfile.objects.get(pk=profile_id)
    messages = list(OutboundMessage.objects.filter(profile_id=profile_id).order_by("pk")[:count])
    contents_load(messages)
    started = time.perf_counter()
    with transport_for(profile) as transport:
        for message in messages:
            transport.send(message)
    return time.perf_counter() - started


def drain_with_workers(
    args: argparse.Namespace, *, env: dict[str, str], receiver: common.Receiver, directory: Path
) -> float:
    """K `courrier db_worker --batch` processes run the queued tasks until none is left."""
    from django.db import connections
    from django_tasks_db.models import DBTaskResult

    count = args.messages
    tasks = DBTaskResult.objects.count()
    connections.close_all()
    command = [sys.executable, "-m", "courrier", "db_worker", "--batch", "--no-reload"]
    command += ["--no-startup-delay", "--interval", "0"]
    workers: list[subprocess.Popen[bytes]] = []
    logs = [directory / f"worker-{n}.log" for n in range(1, args.workers + 1)]
    started = time.perf_counter()
    first = last = None
    for n, log in enumerate(logs, start=1):
        with log.open("wb") as output:
            workers.append(
                subprocess.Popen(  # noqa: S603 (this interpreter, our own arguments)
                    [*command, "--worker-id", f"bench-{n}"],
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
    deadline = started + args.timeout
    while time.perf_counter() < deadline:
        received = receiver.count()
        if received and first is None:
            first = time.perf_counter() - started
        if received >= count and last is None:
            last = time.perf_counter() - started
        if all(worker.poll() is not None for worker in workers):
            break
        time.sleep(POLL)
    done = time.perf_counter() - started
    for worker, log in zip(workers, logs, strict=True):
        if worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=30)
            print(f"  {log.name} still running after {args.timeout} s: stopped")
        elif worker.returncode:
            print(f"  {log.name} exited with {worker.returncode}:\n{log.read_text()[-2000:]}")

    results = DBTaskResult.objects.all()
    by_worker = Counter(w for ids in results.values_list("worker_ids", flat=True) for w in ids)
    task_statuses = dict(Counter(results.values_list("status", flat=True)))
    # A task that claimed nothing still costs its worker a run: time those apart.
    idle = [
        (finished - started).total_seconds()
        for started, finished, value in results.values_list(
            "started_at", "finished_at", "return_value"
        )
        if started and finished and isinstance(value, dict) and not value.get("claimed")
    ]
    batch = args.batch or 50
    print(f"  {args.workers} x `courrier db_worker --batch`, batch {batch} messages per run")
    print(f"  {tasks} delivery tasks enqueued by compose; after the run: {task_statuses}")
    print(f"  tasks per worker: {dict(sorted(by_worker.items()))}")
    if idle:
        print(f"  {len(idle)} tasks claimed nothing, each {common.milliseconds(idle)}")
    print(
        f"  first message after {first or 0:.2f} s (worker start-up), last after "
        f"{last or 0:.2f} s, every task done after {done:.2f} s"
    )
    return last or done


if __name__ == "__main__":
    main()
