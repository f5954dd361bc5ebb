"""Time invoices by e-mail end to end: N issued invoices without PDF, composed (PDF, render,
message, store) and delivered by K real `courrier db_worker` processes to Postfix's smtp-sink;
then the delivery alone again, compared with Postfix's smtp-source in the same run; then a
relay with latency through 1, 4 and 16 connections of one profile. With `--peppol SHARE`, the
same invoices once more, that share of their clients now on Peppol (`invoices_peppol.py`).

    .venv/bin/python bench/invoices.py [--invoices 1000] [--workers 2]
    .venv/bin/python bench/invoices.py --invoices 10000 --workers 2 \
        --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/invoices.py --invoices 2000 --workers 2 --peppol 0.7 --latency-ms 0

Each worker composes its own share (the invoices are split in K batches, one compose task
each) and delivers through one connection of the billing company's profile (and one to its
access point). Nothing is asserted: the figures are printed; the exit code is 1 when a message
was not sent exactly once.

Its size: one run measures in sequence what must share one seeded installation, one receiver
and the same workers to be compared (the PDF alone, the batch end to end, the delivery alone
against smtp-source, the slow relay); the Peppol run's own parts live in `invoices_peppol.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import common
import invoices_peppol
from delivery import throwaway_database

SMTP_SOURCE = Path("/usr/sbin/smtp-source")
POLL = 0.05
LANGUAGES = ("fr", "nl", "de", "en")
SUBJECTS = {
    "fr": "{TYPEDOC} {NUMFACT} – {SOCIETEFACTURANTE}",
    "nl": "{TYPEDOC} {NUMFACT} – {SOCIETEFACTURANTE}",
    "de": "{TYPEDOC} {NUMFACT} – {SOCIETEFACTURANTE}",
    "en": "{TYPEDOC} {NUMFACT} – {SOCIETEFACTURANTE}",
}
BODIES = {
    "fr": "{FORMULE},\n\nVeuillez trouver ci-joint notre {TYPEDOC} {NUMFACT} du {DATEFACT} "
    "d'un montant de {MONTANT}, payable au plus tard le {ECHEANCE} sur le compte {IBAN} avec "
    "la communication {COMMUNICATION}.\n\nBien cordialement,",
    "nl": "{FORMULE},\n\nIn bijlage vindt u onze {TYPEDOC} {NUMFACT} van {DATEFACT} ten bedrage "
    "van {MONTANT}, te betalen uiterlijk op {ECHEANCE} op rekening {IBAN} met de mededeling "
    "{COMMUNICATION}.\n\nMet vriendelijke groeten,",
    "de": "{FORMULE},\n\nanbei erhalten Sie unsere {TYPEDOC} {NUMFACT} vom {DATEFACT} über "
    "{MONTANT}, zahlbar bis {ECHEANCE} auf das Konto {IBAN} mit der Mitteilung "
    "{COMMUNICATION}.\n\nMit freundlichen Grüßen",
    "en": "{FORMULE},\n\nPlease find attached our {TYPEDOC} {NUMFACT} of {DATEFACT} for "
    "{MONTANT}, payable by {ECHEANCE} to account {IBAN} with the reference "
    "{COMMUNICATION}.\n\nKind regards,",
}


def share(text: str) -> float:
    """An argparse type: a share between 0 and 1 ("0.7")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=common.positive, default=1000, help="default 1000")
    parser.add_argument(
        "--workers", type=common.positive, default=1, help="db_worker processes (default 1)"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server to create a throw-away database on (default: SQLite, WAL)",
    )
    parser.add_argument(
        "--latency-ms",
        type=common.not_negative,
        default=50,
        help="the relay's delay before it accepts each message (default 50; 0: skip)",
    )
    parser.add_argument(
        "--latency-messages",
        type=common.positive,
        default=400,
        help="messages sent through the slow relay per connection count (default 400)",
    )
    parser.add_argument(
        "--peppol",
        type=share,
        default=0.0,
        help="then the same invoices again with this share of the clients on Peppol, e.g. 0.7 "
        "(default 0: e-mail only)",
    )
    parser.add_argument(
        "--access-point",
        choices=invoices_peppol.APIS,
        default="billit",
        help="the API the company's access point speaks (the loopback one; default billit)",
    )
    parser.add_argument(
        "--ubl-samples",
        type=common.positive,
        default=100,
        help="invoices whose e-invoice is made and validated in this process (default 100)",
    )
    parser.add_argument("--timeout", type=common.positive, default=1800, help="seconds")
    args = parser.parse_args()
    if args.database_url and urlsplit(args.database_url).scheme not in ("postgres", "postgresql"):
        parser.error("--database-url must be a postgres:// or postgresql:// URL")
    if not common.SMTP_SINK.exists() or not SMTP_SOURCE.exists():
        raise SystemExit(
            "error: Postfix's smtp-sink and smtp-source are needed (apt install postfix)"
        )

    database_url, drop = throwaway_database(args.database_url)
    directory = Path(tempfile.mkdtemp(prefix="courrier-bench-"))
    receiver: common.Receiver | None = None
    ok = False
    try:
        receiver = common.Receiver(kind="smtp-sink", directory=directory)
        env = common.environment(data_dir=directory / "data", database_url=database_url)
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


# -- seed ---------------------------------------------------------------------------------------


def seed(count: int, smtp_port: int, peppol: list[int]) -> tuple[int, int, list[int]]:
    """A billing company with its profile, an invoice template in four languages, `count`
    clients and one issued invoice each, without PDF. Returns (collaborator, profile, ids).

    The clients at the positions `peppol` are Belgian VAT-registered companies (a valid
    enterprise number of their own, and its VAT number); all receive their invoices by e-mail
    until the Peppol run switches those to Peppol."""
    on_peppol = set(peppol)
    from courrier.billing.models import Invoice, InvoiceLine, InvoiceSeries
    from courrier.billing.services.communication import communication_for
    from courrier.billing.services.totals import totals_of
    from courrier.clients.models import Client, ClientEmail
    from courrier.firm.models import BillingCompany, Collaborator
    from courrier.firm.models import Firm as FirmRow
    from courrier.mailing.models import MailTemplate, MailTemplateVersion, SendingProfile

    FirmRow.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    company = BillingCompany.objects.create(
        code="FIDU",
        name="Fiduciaire Martin",
        legal_form="SRL",
        enterprise_number="0403.019.261",
        vat_number="BE0403019261",
        street="Avenue Louise 54",
        postal_code="1050",
        city="Bruxelles",
        iban="BE18 0010 1338 4965",
        bic="GEBABEBB",
        email="factures@fidu-martin.test",
    )
    anne = Collaborator.objects.create_user(
        email="anne.martin@fidu-martin.test", password=None, first_name="Anne", last_name="Martin"
    )
    profile = SendingProfile.objects.create(
        billing_company=company,
        smtp_host=common.HOST,
        smtp_port=smtp_port,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Fiduciaire Martin",
        from_address="factures@fidu-martin.test",
    )
    template = MailTemplate.objects.create(name="Factures", context="invoice", shared=True)
    MailTemplateVersion.objects.bulk_create(
        MailTemplateVersion(
            template=template, language=lang, subject=SUBJECTS[lang], body=BODIES[lang]
        )
        for lang in LANGUAGES
    )
    clients = Client.objects.bulk_create(
        Client(
            number=f"C{n:06d}",
            name=f"Boulangerie Dupont {n}",
            legal_form="SRL",
            language=LANGUAGES[n % 4],
            contact_name="Marie Dupont",
            street="Rue de la Loi 16",
            postal_code="1000",
            city="Bruxelles",
            billing_company=company,
            invoice_channel="email",
            enterprise_number=invoices_peppol.enterprise_number(n) if n in on_peppol else "",
            vat_number=(
                "BE" + invoices_peppol.enterprise_number(n).replace(".", "")
                if n in on_peppol
                else ""
            ),
        )
        for n in range(count)
    )
    ClientEmail.objects.bulk_create(
        ClientEmail(client=client, address=f"compta{client.pk}@dupont-{client.pk}.test")
        for client in clients
    )
    lines = [
        InvoiceLine(
            position=1,
            description="Tenue de la comptabilité – 1er trimestre",
            quantity=Decimal("3"),
            unit_price=Decimal("250.00"),
            vat_rate="21",
        ),
        InvoiceLine(
            position=2,
            description="Déclaration à l'impôt des personnes physiques",
            quantity=Decimal("1"),
            unit_price=Decimal("180.00"),
            vat_rate="21",
        ),
        InvoiceLine(
            position=3,
            description="Ouvrage « Fiscalité belge 2026 »",
            quantity=Decimal("2"),
            unit_price=Decimal("24.95"),
            vat_rate="6",
        ),
    ]
    totals = totals_of(lines)
    issued = date(2026, 3, 14)
    invoices = Invoice.objects.bulk_create(
        Invoice(
            billing_company=company,
            client=client,
            kind=Invoice.Kind.INVOICE,
            status=Invoice.Status.ISSUED,
            year=2026,
            number=n + 1,
            issue_date=issued,
            due_date=issued + timedelta(days=30),
            language=client.language,
            structured_communication=communication_for(
                year=2026, company_id=company.pk, number=n + 1
            ),
            total_excl_vat=totals.excl_vat,
            total_vat=totals.vat,
            total_incl_vat=totals.incl_vat,
            register=Invoice.Register.EMAIL,
            created_by=anne,
            issued_at=time_now(),
        )
        for n, client in enumerate(clients)
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            position=line.position,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            vat_rate=line.vat_rate,
            vat_category=line.vat_category,
        )
        for invoice in invoices
        for line in lines
    )
    InvoiceSeries.objects.create(billing_company=company, year=2026, last_number=count)
    return anne.pk, profile.pk, [invoice.pk for invoice in invoices]


def time_now() -> Any:
    from django.utils import timezone

    return timezone.now()


# -- workers ------------------------------------------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB; 0 once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(found.group(1)) / 1024 if found else 0.0


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system), in seconds; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_workers(
    count: int,
    env: dict[str, str],
    directory: Path,
    *,
    until: Callable[[dict[str, float], float], None],
    timeout: float,
) -> tuple[float, list[float], dict[str, float]]:
    """K `courrier db_worker --batch` processes until they exit (the queue is empty) or
    `until()` says the work is done; returns (seconds, each worker's peak RSS, marks)."""
    from django.db import connections

    connections.close_all()
    command = [sys.executable, "-m", "courrier", "db_worker", "--batch", "--no-reload"]
    command += ["--no-startup-delay", "--interval", "0"]
    workers: list[subprocess.Popen[bytes]] = []
    peaks = [0.0] * count
    cpu = [0.0] * count
    started = time.perf_counter()
    for n in range(count):
        log = directory / f"worker-{n + 1}.log"
        with log.open("ab") as output:
            workers.append(
                subprocess.Popen(  # noqa: S603 (this interpreter, our own arguments)
                    [*command, "--worker-id", f"bench-{n + 1}"],
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
    marks: dict[str, float] = {}
    deadline = started + timeout
    while time.perf_counter() < deadline:
        for n, worker in enumerate(workers):
            peaks[n] = max(peaks[n], peak_rss_mb(worker.pid))
            cpu[n] = max(cpu[n], cpu_seconds(worker.pid))
        until(marks, time.perf_counter() - started)
        if "done" in marks or all(worker.poll() is not None for worker in workers):
            break
        time.sleep(POLL)
    elapsed = time.perf_counter() - started
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=30)
    marks["cpu"] = sum(cpu)
    return elapsed, peaks, marks


# -- the reference ------------------------------------------------------------------------------


def smtp_source_rate(port: int, *, messages: int, size: int, sessions: int) -> float:
    """Messages per second that Postfix's smtp-source sends to the same smtp-sink: the same
    payload size, `sessions` parallel sessions, each connection reused (-d)."""
    per_session = max(1, messages // sessions)
    command = [
        str(SMTP_SOURCE),
        "-d",
        "-s",
        str(sessions),
        "-m",
        str(per_session * sessions),
        "-l",
        str(size),
        f"{common.HOST}:{port}",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=600)  # noqa: S603
    return per_session * sessions / (time.perf_counter() - started)


class SlowRelay:
    """A TCP relay in front of smtp-sink that holds the answer to each message's final dot for
    `delay` seconds: a relay that takes its time to accept every message."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.port = common.free_port()
        self.target_port = target_port
        self.delay = delay
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, common.HOST, self.port)
        )
        self._server = server
        self._ready.set()
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(common.HOST, self.target_port)
        ended = asyncio.Event()  # the client's data just ended: the next answer waits

        async def upstream() -> None:
            tail = b""
            while data := await reader.read(65536):
                tail = (tail + data)[-5:]
                if tail.endswith(b"\r\n.\r\n"):
                    ended.set()
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                if ended.is_set():
                    ended.clear()
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


# -- the run ------------------------------------------------------------------------------------


def requeue(message_ids: list[int]) -> None:
    """The same stored messages waiting again, as if just composed (the attempts forgotten)."""
    from courrier.mailing.models import DeliveryAttempt, OutboundMessage

    DeliveryAttempt.objects.filter(message_id__in=message_ids).delete()
    OutboundMessage.objects.filter(pk__in=message_ids).update(
        status="queued", attempts=0, claimed_by="", sent_at=None, lease_expires_at=None
    )


def run(
    args: argparse.Namespace, *, env: dict[str, str], receiver: common.Receiver, directory: Path
) -> bool:
    from django_tasks_db.models import DBTaskResult

    from courrier.billing.models import Invoice
    from courrier.billing.services.sending import invoice_batch_start
    from courrier.firm.models import Collaborator
    from courrier.mailing.models import DeliveryAttempt, MailBatch, OutboundMessage
    from courrier.mailing.services import messages_deliver

    count, k = args.invoices, args.workers
    started = time.perf_counter()
    on_peppol = invoices_peppol.share_of(count, args.peppol) if args.peppol else []
    if args.peppol and not on_peppol:
        print(f"--peppol {args.peppol}: no client of {count} on Peppol; e-mail only")
    by_pk, profile_id, ids = seed(count, receiver.port, on_peppol)
    print(
        f"invoices: {count} issued invoices without PDF, {k} worker(s), "
        f"{common.database_label()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; seeded in {time.perf_counter() - started:.1f} s"
    )
    print(
        f"  data: one billing company, {count} clients (fr, nl, de, en in turn), one invoice each "
        "(3 lines, 2 VAT rates); the invoices split in one batch per worker"
        + (
            f"; then the same invoices again with {len(on_peppol)} of the clients on Peppol"
            if on_peppol
            else ""
        )
    )

    # 1. The PDF alone, in this process, one compiler, nothing stored.
    pdf_ms = pdf_alone(ids)

    # 2. Compose and deliver, end to end, by the workers: one batch per worker.
    by = Collaborator.objects.get(pk=by_pk)
    invoices = list(Invoice.objects.filter(pk__in=ids).order_by("pk"))
    batches = [invoice_batch_start(by=by, invoices=invoices[n::k]).pk for n in range(k)]

    def progress(marks: dict[str, float], at: float) -> None:
        if (
            "composed" not in marks
            and not MailBatch.objects.filter(
                pk__in=batches, state__in=["pending", "composing"]
            ).exists()
        ):
            marks["composed"] = at
        if "first" not in marks and receiver.count():
            marks["first"] = at
        if receiver.count() >= count and "composed" in marks:
            marks["delivered"] = at
            marks["done"] = at

    elapsed, peaks, marks = run_workers(k, env, directory, until=progress, timeout=args.timeout)
    email_elapsed, email_peaks = elapsed, peaks
    statuses = Counter(OutboundMessage.objects.values_list("status", flat=True))
    composed = marks.get("composed", elapsed)
    delivered = marks.get("delivered", elapsed)
    message_ids = list(OutboundMessage.objects.values_list("pk", flat=True))
    size = sum(OutboundMessage.objects.values_list("size", flat=True)) / max(1, len(message_ids))
    print(f"  messages of {size / 1024:.0f} KB (PDF attached, base64)")
    print(
        f"  compose (PDF + render + message + store), {k} worker(s): {composed:.1f} s, "
        f"{count / composed:.0f} invoices/s"
    )
    print(
        f"  end to end (workers started -> last message taken by smtp-sink): {delivered:.1f} s, "
        f"{count / delivered:.0f} invoices/s"
    )
    print("  peak RSS per worker: " + ", ".join(f"{peak:.0f} MB" for peak in peaks))
    busy = marks.get("cpu", 0.0)
    print(
        f"  workers' CPU (start-up included): {busy:.1f} s, {1000 * busy / count:.1f} ms per "
        f"invoice; busy {100 * busy / (k * elapsed):.0f} % of the {k} worker(s)' {elapsed:.1f} s"
    )
    received = receiver.count()
    ok = dict(statuses) == {"sent": count} and received == count
    ok = ok and DeliveryAttempt.objects.count() == count
    print(
        f"  exactly once: {dict(statuses)}, smtp-sink received {received}, "
        f"{DeliveryAttempt.objects.count()} attempts -> {'OK' if ok else 'FAILED'}"
    )

    # 3. The delivery alone: the same stored messages again, one delivery task per worker.
    requeue(message_ids)
    DBTaskResult.objects.all().delete()
    before = receiver.count()
    from courrier.mailing.tasks import deliver_profile

    for _n in range(k):
        # delivery_enqueue would reuse one waiting task: K tasks here, one per worker.
        deliver_profile.enqueue(profile_id)

    def all_received(marks: dict[str, float], at: float) -> None:
        got = receiver.count() - before
        if got and "first" not in marks:
            marks["first"] = at
        if got >= count:
            marks["done"] = at

    elapsed, peaks, marks = run_workers(k, env, directory, until=all_received, timeout=args.timeout)
    again = receiver.count() - before
    sent = OutboundMessage.objects.filter(status="sent").count()
    ok = ok and again == count and sent == count
    # From the first message to the last: the workers' start-up (2 to 4 s) left out.
    span = max(marks.get("done", elapsed) - marks.get("first", 0.0), 1e-6)
    rate = max(count - 1, 1) / span
    reference = smtp_source_rate(
        receiver.port, messages=min(count, 5000), size=int(size), sessions=k
    )
    print(
        f"  delivery alone, {k} worker(s), one connection each: {rate:.0f} messages/s "
        f"({rate / k:.0f} per worker), first to last message {span:.1f} s; "
        f"{elapsed:.1f} s with the workers' start-up"
    )
    print(
        f"  smtp-source, same size, {k} session(s), same run: {reference:.0f} messages/s -> "
        f"Courrier at {100 * rate / reference:.0f} % of it"
    )
    print("  peak RSS per worker: " + ", ".join(f"{peak:.0f} MB" for peak in peaks))
    print(f"  exactly once: {again} received, {sent} sent -> {'OK' if ok else 'FAILED'}")
    email_figures = {
        "composed": composed,
        "delivered": delivered,
        "cpu": busy,
        "busy": 100 * busy / (k * email_elapsed),
        "peak": max(email_peaks) if email_peaks else 0.0,
    }

    # 4. A relay that takes its time: parallel connections of one profile.
    if args.latency_ms:
        from django.conf import settings

        from courrier.mailing.models import SendingProfile

        # Claims of 10: 16 connections find work in a queue of a few hundred messages.
        batch_size = settings.COURRIER["DELIVERY_BATCH"]
        settings.COURRIER["DELIVERY_BATCH"] = 10
        relay = SlowRelay(receiver.port, args.latency_ms / 1000)
        try:
            SendingProfile.objects.filter(pk=profile_id).update(smtp_port=relay.port)
            for connections in (1, 4, 16):
                chosen = message_ids[: min(len(message_ids), args.latency_messages)]
                if connections == 1:
                    chosen = chosen[: max(1, len(chosen) // 4)]
                OutboundMessage.objects.exclude(pk__in=chosen).update(status="cancelled")
                requeue(chosen)
                SendingProfile.objects.filter(pk=profile_id).update(max_connections=connections)
                before = receiver.count()
                began = time.perf_counter()
                while messages_deliver(profile_id=profile_id).claimed:
                    pass
                took = time.perf_counter() - began
                got = receiver.count() - before
                print(
                    f"  relay with {args.latency_ms} ms per message, {connections:2d} "
                    f"connection(s): {len(chosen)} messages in {took:.1f} s, "
                    f"{len(chosen) / took:.0f} messages/s (received {got})"
                )
                ok = ok and got == len(chosen)
        finally:
            relay.stop()
            settings.COURRIER["DELIVERY_BATCH"] = batch_size
            SendingProfile.objects.filter(pk=profile_id).update(
                smtp_port=receiver.port, max_connections=1
            )

    # 5. The same invoices again, a share of the clients on Peppol.
    if on_peppol:
        lent = invoices_peppol.Bench(
            args=args,
            env=env,
            directory=directory,
            receiver=receiver,
            run_workers=run_workers,
            cpu_seconds=cpu_seconds,
            pdf_alone=pdf_alone,
        )
        peppol_ok = invoices_peppol.peppol_run(
            lent, by_pk=by_pk, ids=ids, on_peppol=on_peppol, email=email_figures, pdf_ms=pdf_ms
        )
        ok = peppol_ok and ok
    return ok


def pdf_alone(ids: list[int]) -> float:
    """The PDF of 100 invoices made in this process, one compiler, nothing stored: the same
    Typst work in every run, the machine's noise. Prints it; returns the median in ms."""
    from courrier.billing.models import Invoice
    from courrier.billing.services.pdf import invoice_pdf_render

    sample = list(
        Invoice.objects.select_related("billing_company", "client").filter(pk__in=ids[:100])
    )
    invoice_pdf_render(sample[0])  # the compiler's first use loads the fonts
    durations = []
    for invoice in sample:
        began = time.perf_counter()
        pdf = invoice_pdf_render(invoice)
        durations.append(time.perf_counter() - began)
    print(
        f"  PDF alone (typst, one compiler, this process): {1 / statistics.median(durations):.0f}"
        f" invoices/s, {common.milliseconds(durations)}, {len(pdf) / 1024:.0f} KB each"
    )
    return statistics.median(durations) * 1000


if __name__ == "__main__":
    main()
