"""Time how long mails waiting for a retry take to leave once the server heals, with no cron.

    .venv/bin/python bench/retry.py [--mails 20] [--runs 3] [--cases rcpt,data,slow]
    .venv/bin/python bench/retry.py --worker-src /other/checkout/src   # another version

One real `courrier db_worker` process (polling every --interval seconds, as in production)
delivers; nothing else wakes delivery (no `outbox_recover`). For each case, the SMTP server
(the aiosmtpd fake of the tests, in this process) is put in trouble, N mails are composed
for one sending profile, and once every one of them has been refused --refusals times the
server heals. What is measured, per run, is the time from the server becoming healthy
(`heal()`) to the last of the N mails accepted by it (its end of data answered 250): "all
sent". Printed per case: the median and the maximum of that time over the runs, the median
and maximum per mail (heal to that mail's arrival), and whether each mail arrived exactly
once. A run that does not end within --timeout seconds counts the mails still waiting.

Cases: rcpt (451 to every RCPT), data (451 to the DATA command), end (451 after the data),
drop (hang up at MAIL), slow (the greeting comes after --slow-seconds, longer than the SMTP
timeout), absent (nothing listens on the port).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common

CASES = ("rcpt", "data", "end", "drop", "slow", "absent")
POLL = 0.02  # seconds between two looks at the outbox or the server


@dataclass
class Outcome:
    all_sent: list[float] = field(default_factory=list)  # per run that ended, seconds
    per_mail: list[float] = field(default_factory=list)  # every mail of those runs
    left: list[int] = field(default_factory=list)  # per run that timed out: mails not sent
    repeated: int = 0  # mails that arrived more than once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=common.positive, default=20, help="per run (20)")
    parser.add_argument("--runs", type=common.positive, default=3, help="per case (3)")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, among {', '.join(CASES)}"
    )
    parser.add_argument(
        "--refusals", type=common.positive, default=3, help="per mail before healing (3)"
    )
    parser.add_argument(
        "--retry-base", type=float, default=1.0, help="COURRIER_RETRY_BASE_SECONDS (1)"
    )
    parser.add_argument(
        "--retry-max", type=float, default=4.0, help="COURRIER_RETRY_MAX_SECONDS (4)"
    )
    parser.add_argument("--smtp-timeout", type=float, default=2.0, help="COURRIER_SMTP_TIMEOUT (2)")
    parser.add_argument(
        "--slow-seconds", type=float, default=3.0, help="greeting delay of the slow case (3)"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="db_worker --interval (1, its default)"
    )
    parser.add_argument(
        "--timeout", type=common.positive, default=60, help="seconds to wait for a run (60)"
    )
    parser.add_argument(
        "--worker-src",
        type=Path,
        help="run the worker with the `courrier` package of this src directory (another "
        "checkout of the same schema), e.g. to compare with an earlier version",
    )
    args = parser.parse_args()
    cases = [case.strip() for case in args.cases.split(",") if case.strip()]
    if unknown := set(cases) - set(CASES):
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")

    directory = Path(tempfile.mkdtemp(prefix="courrier-bench-"))
    worker: subprocess.Popen[bytes] | None = None
    server: Any = None
    try:
        env = common.environment(data_dir=directory / "data", database_url=None)
        env.update(
            COURRIER_RETRY_BASE_SECONDS=str(args.retry_base),
            COURRIER_RETRY_MAX_SECONDS=str(args.retry_max),
            COURRIER_SMTP_TIMEOUT=str(args.smtp_timeout),
            # Never given up while the benchmark waits for its refusals.
            COURRIER_MAX_ATTEMPTS="1000",
        )
        common.django_setup(env)
        # The fake lives in the tests; they are not installed with the package.
        sys.path.insert(0, str(common.ROOT))
        from tests.fakes.smtp import FakeSMTPServer

        server = FakeSMTPServer().start()
        firm = common.firm_seed(clients=args.mails, smtp_port=server.port, body_kb=0)

        worker_env = dict(env)
        if args.worker_src:
            worker_env["PYTHONPATH"] = str(args.worker_src.resolve())
        with (directory / "worker.log").open("wb") as log:
            worker = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                [
                    sys.executable,
                    "-m",
                    "courrier",
                    "db_worker",
                    "--interval",
                    str(args.interval),
                    "--no-startup-delay",
                    "--no-reload",
                ],
                env=worker_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        header(args, firm_source=args.worker_src)
        for case in cases:
            outcome = Outcome()
            for _run in range(args.runs):
                one_run(case, args, server=server, firm=firm, outcome=outcome)
            report(case, outcome, mails=args.mails)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if server is not None:
            server.heal()
            server.stop()
        from django.apps import apps

        if apps.ready:
            from django.db import connections

            connections.close_all()
        common.remove(directory)


def header(args: argparse.Namespace, *, firm_source: Path | None) -> None:
    print(
        f"retry: {args.mails} mails per run, {args.runs} runs per case, one sending profile, "
        f"{common.database_label()}"
    )
    source = f"courrier from {firm_source}" if firm_source else "courrier from this checkout"
    print(
        f"  worker: one `courrier db_worker --interval {args.interval:g}` ({source}); no cron, "
        "no outbox_recover"
    )
    print(
        f"  retry delays: {args.retry_base:g} s after the first try, doubling, at most "
        f"{args.retry_max:g} s, each drawn between half and all of it; SMTP timeout "
        f"{args.smtp_timeout:g} s; the slow server greets after {args.slow_seconds:g} s"
    )
    print(
        f"  the server heals once every mail was refused {args.refusals} times; 'all sent': "
        "from heal() to the last mail accepted (end of data answered 250)"
    )
    print(f"  receiver: aiosmtpd fake (tests/fakes/smtp.py); load average {os.getloadavg()[0]:.1f}")
    print(
        f"  {'case':<7} {'all sent: median':>17} {'max':>8}   {'per mail: median':>17} "
        f"{'max':>8}   exactly once"
    )


def one_run(
    case: str, args: argparse.Namespace, *, server: Any, firm: common.SeededFirm, outcome: Outcome
) -> None:
    from courrier.mailing.models import DeliveryAttempt, OutboundMessage
    from courrier.mailing.services import Draft, message_compose

    server.misbehave(case, delay=args.slow_seconds)
    before = len(server.messages)
    ids = []
    for client in firm.clients:
        subject, body = firm.texts[client.language]
        message = message_compose(
            sender=firm.sender,
            client=client,
            draft=Draft(subject=subject, body=body, template=firm.template),
        )
        ids.append(message.pk)

    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        refused = Counter(
            DeliveryAttempt.objects.filter(
                message_id__in=ids, outcome=DeliveryAttempt.Outcome.TRANSIENT
            ).values_list("message_id", flat=True)
        )
        if len(refused) == len(ids) and min(refused.values()) >= args.refusals:
            break
        time.sleep(POLL)
    server.heal()
    healed = server.healed_at

    deadline = time.monotonic() + args.timeout
    while len(server.messages) - before < len(ids) and time.monotonic() < deadline:
        time.sleep(POLL)
    arrived = server.messages[before:]
    numbers = Counter(int(received.message["X-Courrier-Message"]) for received in arrived)
    outcome.repeated += sum(1 for n in numbers.values() if n > 1)
    if len(numbers) < len(ids):
        outcome.left.append(len(ids) - len(numbers))
    else:
        times = [received.arrived_at - healed for received in arrived]
        outcome.all_sent.append(max(times))
        outcome.per_mail.extend(times)
    # Let the worker record the last answers, then leave nothing of this run waiting.
    deadline = time.monotonic() + 10
    waiting = OutboundMessage.objects.filter(pk__in=ids).exclude(status="sent")
    while waiting.filter(status="sending").exists() and time.monotonic() < deadline:
        time.sleep(POLL)
    waiting.filter(status__in=("queued", "retry")).update(status="cancelled")


def report(case: str, outcome: Outcome, *, mails: int) -> None:
    def seconds(values: list[float]) -> tuple[str, str]:
        if not values:
            return "-", "-"
        return f"{statistics.median(values):.2f} s", f"{max(values):.2f} s"

    all_median, all_max = seconds(outcome.all_sent)
    mail_median, mail_max = seconds(outcome.per_mail)
    once = "yes" if not outcome.repeated else f"NO: {outcome.repeated} mails repeated"
    line = f"  {case:<7} {all_median:>17} {all_max:>8}   {mail_median:>17} {mail_max:>8}   {once}"
    if outcome.left:
        line += (
            f"; {len(outcome.left)} run(s) not done in time, "
            f"{', '.join(str(n) for n in outcome.left)} of {mails} mails still waiting"
        )
    print(line, flush=True)


if __name__ == "__main__":
    main()
