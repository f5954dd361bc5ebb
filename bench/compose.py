"""Time message_compose: render a two-language template for one client, build the MIME bytes,
store the outbox row and enqueue its delivery, for N clients, on a throw-away SQLite database.

    .venv/bin/python bench/compose.py [--clients 500] [--body-kb 60]

Also times message_preview (the same rendering, nothing built nor stored) on the same
clients, and counts the SQL queries of one compose. Nothing is sent.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=common.positive, default=500, help="default 500")
    parser.add_argument(
        "--body-kb",
        type=common.not_negative,
        default=60,
        help="pad the template's body to about this many KB (0: the template alone, ~1 KB)",
    )
    parser.add_argument(
        "--warmup", type=common.not_negative, default=10, help="composes not counted (default 10)"
    )
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="courrier-bench-"))
    try:
        common.django_setup(common.environment(data_dir=directory, database_url=None))
        run(clients=args.clients, body_kb=args.body_kb, warmup=args.warmup)
    finally:
        common.remove(directory)


def run(*, clients: int, body_kb: int, warmup: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from courrier.mailing.services import Draft, message_compose, message_preview

    firm = common.firm_seed(clients=clients + warmup + 1, smtp_port=2525, body_kb=body_kb)
    sender, texts = firm.sender, firm.texts

    def compose(client: common.Client) -> int:
        subject, body = texts[client.language]
        message = message_compose(
            sender=sender,
            client=client,
            draft=Draft(subject=subject, body=body, template=firm.template),
        )
        return message.size

    for client in firm.clients[:warmup]:
        compose(client)
    measured = firm.clients[warmup : warmup + clients]

    previews: list[float] = []
    for client in measured:
        subject, body = texts[client.language]
        started = time.perf_counter()
        message_preview(sender=sender, client=client, draft=Draft(subject=subject, body=body))
        previews.append(time.perf_counter() - started)

    durations: list[float] = []
    sizes: list[int] = []
    cpu = time.process_time()
    for client in measured:
        started = time.perf_counter()
        sizes.append(compose(client))
        durations.append(time.perf_counter() - started)
    cpu = time.process_time() - cpu

    with CaptureQueriesContext(connection) as queries:
        compose(firm.clients[-1])

    body_size = len(texts["fr"][1].encode()) / 1024
    total = sum(durations)
    print(f"compose: {clients} messages to {clients} clients, {common.database_label()}")
    size = sum(sizes) / len(sizes) / 1024
    print(f"  template body {body_size:.1f} KB (fr/nl), message {size:.1f} KB (text + HTML parts)")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"  message_compose  {common.milliseconds(durations)}, {clients / total:.0f} messages/s "
        f"(CPU {cpu / clients * 1000:.2f} ms per message)"
    )
    print(
        f"  message_preview  {common.milliseconds(previews)} (the same rendering, nothing stored)"
    )
    statements = common.statements(queries.captured_queries)
    print(f"  {len(queries)} SQL statements per compose: {statements}")


if __name__ == "__main__":
    main()
