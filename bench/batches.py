"""Time the composing of batches: a selection of N clients and a VAT list of N returns, each
made by `batch_create` and composed to its end, through the public services only.

    .venv/bin/python bench/batches.py [--count 2000] [--kinds selection,vat]
    .venv/bin/python bench/batches.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/batches.py --workers 2          # real `courrier db_worker` processes
    .venv/bin/python bench/batches.py --src /other/checkout/src   # another version's code

The two kinds, as the compose window's "Envoyer" makes them:

- selection: `batch_create(client_ids=...)` for N clients (French and Dutch speaking, every
  field filled), a shared firm template with a French and a Dutch version full of client
  fields, no attachment;
- vat: `batch_create(context="vat", object_ids=...)` for N VAT returns (one per client, as the
  VAT list's "send" passes the checked rows to the compose window), a template of the "vat"
  context with client and VAT fields, no attachment.

What is measured, per kind, is the composing of that one batch until its state is "done"
(every message rendered, built and stored in the outbox, its delivery enqueued):

- by default (`--workers 0`), in this process, one call of the task's body
  `batch_compose(batch_id=...)` (called with that argument only): its wall-clock seconds,
  messages per second, CPU seconds, the SQL statements it runs per mail (every statement
  through Django's cursor, counted by an `execute_wrapper`: savepoints included, and BEGIN
  where Django sends it as a statement (SQLite); COMMIT not) and the process's peak RSS
  during the call. Nothing is delivered: the delivery tasks that compose enqueues stay in the
  queue;
- with `--workers K`, K real `courrier db_worker` processes started once the batch is made:
  from their start (start-up included) to the batch's state "done"; their CPU and each one's
  peak RSS. One batch whatever K: how it is shared between the workers is the engine's
  business. The workers also run the delivery tasks the composing enqueues (to smtp-sink, or
  to the aiosmtpd fake of the tests in this process), as in production; what is left of the
  delivery when the batch is done is cancelled before the next kind.

`batch_create` (the check of the selection, the VAT returns resolved) is timed apart. The
exit code is 1 unless each batch ends "done" with exactly N messages stored and none blocked.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import common
from delivery import throwaway_database
from invoices import peak_rss_mb, run_workers

if TYPE_CHECKING:
    from courrier.mailing.models import MailBatch, MailTemplate

KINDS = ("selection", "vat")
# A port nothing is asked to listen on: in this process nothing is delivered.
NO_DELIVERY_PORT = 9

VAT_SUBJECTS = {
    "fr": "{NOMCLIENT} : déclaration TVA du {PERIODE} déposée",
    "nl": "{NOMCLIENT}: btw-aangifte van {PERIODE} ingediend",
}
VAT_BODIES = {
    "fr": """{FORMULE},

Nous avons déposé le {DATEDEPOT} la déclaration TVA du {PERIODE} de {NOMCLIENT} (dossier
{NUMCLIENT}, TVA {NUMTVA}, régime {REGIME}), avant l'échéance du {ECHEANCE}.

Grille 54 : {CASE54}. Grille 59 : {CASE59}. Grille 71 : {CASE71}. Grille 72 : {CASE72}.
Solde : {SOLDE}.

Votre responsable de dossier, {RESPONSABLE} ({RESPONSABLE_EMAIL}), reste à votre disposition.

Bien cordialement,
""",
    "nl": """{FORMULE},

Wij hebben op {DATEDEPOT} de btw-aangifte van {PERIODE} van {NOMCLIENT} ingediend (dossier
{NUMCLIENT}, btw {NUMTVA}, stelsel {REGIME}), vóór de uiterste datum van {ECHEANCE}.

Rooster 54: {CASE54}. Rooster 59: {CASE59}. Rooster 71: {CASE71}. Rooster 72: {CASE72}.
Saldo: {SOLDE}.

Uw dossierbeheerder, {RESPONSABLE} ({RESPONSABLE_EMAIL}), helpt u graag.

Met vriendelijke groeten,
""",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=common.positive, default=2000, help="clients / VAT returns (2000)"
    )
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"which batches, in order (default {','.join(KINDS)})",
    )
    parser.add_argument(
        "--workers",
        type=common.not_negative,
        default=0,
        help="0 (default): batch_compose in this process; K: K `courrier db_worker` processes",
    )
    parser.add_argument(
        "--body-kb",
        type=common.not_negative,
        default=0,
        help="pad the selection template's body to about this many KB (default 0: ~1 KB)",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server to create a throw-away database on (default: SQLite, WAL)",
    )
    parser.add_argument(
        "--src",
        type=Path,
        help="use the `courrier` package of this src directory (another checkout of the same "
        "schema), in this process and in the workers, e.g. to compare with an earlier version",
    )
    parser.add_argument("--timeout", type=common.positive, default=1800, help="seconds")
    args = parser.parse_args()
    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    if args.database_url and urlsplit(args.database_url).scheme not in ("postgres", "postgresql"):
        parser.error("--database-url must be a postgres:// or postgresql:// URL")
    if args.src is not None:
        args.src = args.src.resolve()
        if not (args.src / "courrier" / "__init__.py").exists():
            parser.error(f"--src: no courrier package in {args.src}")
        # Before anything imports Django or the project.
        sys.path.insert(0, str(args.src))

    database_url, drop = throwaway_database(args.database_url)
    directory = Path(tempfile.mkdtemp(prefix="courrier-bench-"))
    receiver: common.Receiver | None = None
    ok = False
    try:
        if args.workers:
            receiver = common.Receiver(kind="auto", directory=directory)
        env = common.environment(data_dir=directory / "data", database_url=database_url)
        if args.src is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(args.src), *filter(None, [env.get("PYTHONPATH")])]
            )
        common.django_setup(env)
        ok = run(args, kinds=kinds, env=env, receiver=receiver, directory=directory)
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


# -- seed ---------------------------------------------------------------------------------------


def vat_seed(firm: common.SeededFirm) -> tuple[MailTemplate, list[int]]:
    """A shared template of the "vat" context (fr, nl) and one filed VAT return of the third
    quarter per client (a balance to pay for two clients in three, to receive for the third),
    written by the taxes app's own service. Returns the template and the returns' ids."""
    from courrier.mailing.models import MailTemplate, MailTemplateVersion
    from courrier.taxes.services import vat_return_create

    template = MailTemplate.objects.create(name="TVA déposée", context="vat", shared=True)
    MailTemplateVersion.objects.bulk_create(
        MailTemplateVersion(
            template=template,
            language=language,
            subject=VAT_SUBJECTS[language],
            body=VAT_BODIES[language],
        )
        for language in ("fr", "nl")
    )
    ids = []
    for n, client in enumerate(firm.clients):
        grids = {"54": "2100", "59": "865.44"} if n % 3 else {"54": "100", "59": "1350.5"}
        row = vat_return_create(
            client=client, year=2026, period=3, grids=grids, filed_on=date(2026, 10, 18)
        )
        ids.append(row.pk)
    return template, ids


# -- measures -----------------------------------------------------------------------------------

TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', re.IGNORECASE)


@contextmanager
def counted_statements() -> Iterator[Counter[str]]:
    """Count the statements run through Django's default connection, by verb and table
    ("INSERT mailing_outboundmessage"), while the block runs."""
    from django.db import connection

    counts: Counter[str] = Counter()

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        table = TABLE.search(sql)
        counts[sql.split(None, 1)[0].upper() + (f" {table.group(1)}" if table else "")] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counts


def peak_reset() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS; False where Linux refuses."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), in MB."""
    found = re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(found.group(1)) / 1024 if found else 0.0


def source_label() -> str:
    """Where the `courrier` package comes from, and that checkout's commit when it has one."""
    import courrier

    src = Path(courrier.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(  # noqa: S603 (git, our own arguments)
            ["git", "-C", str(src), "log", "-1", "--format=%h %s"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "no git commit"
    return f"{src} ({commit[:70]})"


# -- the run ------------------------------------------------------------------------------------


def run(
    args: argparse.Namespace,
    *,
    kinds: list[str],
    env: dict[str, str],
    receiver: common.Receiver | None,
    directory: Path,
) -> bool:
    from courrier.firm.models import Collaborator

    count = args.count
    started = time.perf_counter()
    port = receiver.port if receiver is not None else NO_DELIVERY_PORT
    firm = common.firm_seed(clients=count, smtp_port=port, body_kb=args.body_kb)
    vat_template, vat_ids = vat_seed(firm) if "vat" in kinds else (None, [])
    how = (
        f"{args.workers} x `courrier db_worker` (receiver: {receiver.name})"
        if receiver is not None
        else "batch_compose(batch_id=...) in this process, nothing delivered"
    )
    print(
        f"batches: {count} mails per batch, {how}, {common.database_label()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"seeded in {time.perf_counter() - started:.1f} s"
    )
    print(f"  code: {source_label()}")
    sender = Collaborator.objects.get(pk=firm.sender.pk)
    ok = True
    for kind in kinds:
        from courrier.mailing import services

        began = time.perf_counter()
        if kind == "selection":
            batch = services.batch_create(
                sender=sender,
                client_ids=[client.pk for client in firm.clients],
                subject="",
                body="",
                template=firm.template,
                options={},
            )
        else:
            batch = services.batch_create(
                sender=sender,
                subject="",
                body="",
                template=vat_template,
                options={},
                context="vat",
                object_ids=vat_ids,
            )
        created = time.perf_counter() - began
        if args.workers:
            ok = (
                by_workers(batch, args, kind=kind, env=env, directory=directory, created=created)
                and ok
            )
        else:
            ok = in_process(batch, kind=kind, count=count, created=created) and ok
    return ok


def in_process(batch: MailBatch, *, kind: str, count: int, created: float) -> bool:
    from courrier.mailing import services

    reset = peak_reset()
    rss = rss_mb()
    cpu = time.process_time()
    began = time.perf_counter()
    with counted_statements() as statements:
        services.batch_compose(batch_id=batch.pk)
    took = time.perf_counter() - began
    cpu = time.process_time() - cpu
    peak = peak_rss_mb(os.getpid())
    ok = report(batch, kind=kind, count=count, created=created, took=took)
    total = sum(statements.values())
    print(
        f"    CPU {cpu:.1f} s ({1000 * cpu / count:.1f} ms per mail); peak RSS {peak:.0f} MB "
        + (f"during the compose (RSS {rss:.0f} MB before it)" if reset else "since start")
    )
    # Per mail, the statements run at least once per 200 mails; the rarer ones in "other".
    top = [(name, n) for name, n in statements.most_common() if n * 200 >= count]
    rest = total - sum(n for _name, n in top)
    shown = ", ".join(f"{name} {n / count:.2f}" for name, n in top)
    print(
        f"    {total / count:.2f} SQL statements per mail ({total} in all): {shown}"
        + (f", other {rest / count:.3f}" if rest else "")
    )
    return ok


def by_workers(
    batch: MailBatch,
    args: argparse.Namespace,
    *,
    kind: str,
    env: dict[str, str],
    directory: Path,
    created: float,
) -> bool:
    from django_tasks_db.models import DBTaskResult

    from courrier.mailing.models import MailBatch, OutboundMessage

    def progress(marks: dict[str, float], at: float) -> None:
        state = MailBatch.objects.filter(pk=batch.pk).values_list("state", flat=True).first()
        if state in ("done", "failed"):
            marks["done"] = at

    elapsed, peaks, marks = run_workers(
        args.workers, env, directory, until=progress, timeout=args.timeout
    )
    took = marks.get("done", elapsed)
    ok = report(batch, kind=kind, count=args.count, created=created, took=took)
    busy = marks.get("cpu", 0.0)
    print(
        f"    workers' CPU (start-up and delivery included): {busy:.1f} s, "
        f"{1000 * busy / args.count:.1f} ms per mail; peak RSS per worker: "
        + ", ".join(f"{peak:.0f} MB" for peak in peaks)
    )
    print("    SQL statements: not counted with workers (run with --workers 0)")
    # What the workers left of the delivery would deliver during the next kind's composing.
    OutboundMessage.objects.filter(status="queued").update(status="cancelled")
    DBTaskResult.objects.all().delete()
    return ok


def report(batch: MailBatch, *, kind: str, count: int, created: float, took: float) -> bool:
    """Print a kind's figures; True when its batch is done with `count` messages, none blocked."""
    from django.db.models import Avg

    from courrier.mailing.models import OutboundMessage

    batch.refresh_from_db()
    messages = OutboundMessage.objects.filter(batch=batch)
    stored = messages.count()
    size = (messages.aggregate(size=Avg("size"))["size"] or 0) / 1024
    ok = batch.state == "done" and stored == count and not batch.blocked
    label = {"selection": "selection of clients", "vat": 'VAT list (context "vat")'}[kind]
    print(f"  {label}: N = {count}, messages of {size:.1f} KB")
    print(f"    batch_create: {created:.2f} s")
    print(
        f"    composed (state {batch.state}) in {took:.1f} s: {count / took:.0f} mails/s, "
        f"{1000 * took / count:.1f} ms per mail"
    )
    print(
        f"    stored {stored} messages, {len(batch.blocked or {})} blocked, batch.queued "
        f"{batch.queued} -> {'OK' if ok else 'FAILED'}"
    )
    return ok


if __name__ == "__main__":
    main()
