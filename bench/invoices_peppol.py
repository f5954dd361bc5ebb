"""The Peppol mix of `bench/invoices.py`: the same invoices again, a share of their clients now
on Peppol, composed and delivered end to end by both channels.

Why a module of its own: the e-mail figures of `invoices.py` stay as they were, and what the
Peppol run adds — an access point to receive, the per-invoice cost of the e-invoice in one
process, the reset of the outbox between the two runs — is read here in one place.

The access point is the loopback one of the demo and the tests (`courrier.demo.access_point`),
run in a process of its own (spawned, not forked) so that its Python does not share the
benchmark's interpreter and its CPU time is counted apart; it keeps a count of the documents it
took, not their bytes. Every client on Peppol is registered there with its `0208:` identifier.
Its connections are set TCP_NODELAY (see `_serve`): as it stands, it answers each request of a
kept-alive connection 40 ms late, which would be the figure measured instead of Courrier's.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import common

APIS = ("billit", "recommand")


def share_of(count: int, share: float) -> list[int]:
    """Which of `count` clients (by position) are on Peppol: `share` of them, spread evenly
    over the list (and so over its four languages)."""
    return [n for n in range(count) if int((n + 1) * share) > int(n * share)]


def enterprise_number(n: int) -> str:
    """A valid Belgian enterprise number (modulo 97), one per client: 0100.000.0xx ..."""
    base = 1_000_000 + n
    digits = f"{base:08d}{97 - base % 97:02d}"
    return f"{digits[:4]}.{digits[4:7]}.{digits[7:]}"


# -- the access point, in its own process ----------------------------------------------------


def _serve(
    conn: Connection, receivers: list[str], sends: Synchronized[int], kept: Synchronized[int]
) -> None:
    """The child's body: a FakeAccessPoint counting what it takes until told to stop."""
    from courrier.demo.access_point import Document, FakeAccessPoint

    class Counting(FakeAccessPoint):
        def start(self, port: int = 0) -> str:
            url = super().start(port)
            # Python's http.server writes an answer's headers and body in two segments: with
            # Nagle's algorithm on, the second waits for the client's delayed ACK, 40 ms per
            # request on a kept-alive connection. An access point's real server does not.
            assert self._server is not None
            self._server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
            return url

        def handle(
            self, method: str, path: str, headers: dict[str, str], body: bytes
        ) -> tuple[int, dict[str, str], Any]:
            status, extra, answer = super().handle(method, path, headers, body)
            self.requests.clear()  # nothing reads them here; 10,000 would only grow
            sending = path.lower().endswith("/sendxml") or path.endswith("/send")
            if method == "POST" and sending and status == 200:
                with sends.get_lock():
                    sends.value += 1
            return status, extra, answer

        def _keep(
            self, api: str, receiver: str, document_type: str, xml: bytes, key: str
        ) -> Document:
            with kept.get_lock():
                kept.value += 1
            # The bytes are not kept: thousands of e-invoices of ~50 KB each.
            return super()._keep(api, receiver, document_type, b"", key)

    server = Counting()
    for receiver in receivers:
        server.register(receiver)
    conn.send(server.start())
    conn.recv()  # "stop"
    server.stop()


class AccessPointProcess:
    """The loopback access point (Billit's and Recommand's APIs) in a spawned process."""

    def __init__(self, receivers: list[str]) -> None:
        context = multiprocessing.get_context("spawn")
        self.sends: Synchronized[int] = context.Value("q", 0)
        self.kept: Synchronized[int] = context.Value("q", 0)
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, receivers, self.sends, self.kept), daemon=True
        )
        self._process.start()
        if not self._conn.poll(60):
            self.stop()
            raise SystemExit("error: the loopback access point did not start")
        self.base_url: str = self._conn.recv()
        self.pid = self._process.pid or 0
        self.server = _credentials()

    def sent(self) -> int:
        """Documents sent to it and answered 200 (a repeat under the same Billit key too)."""
        return int(self.sends.value)

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


def _credentials() -> Any:
    """The fake's default credentials (the child runs the same defaults)."""
    from courrier.demo.access_point import FakeAccessPoint

    return FakeAccessPoint()  # never started: its credentials only


# -- the data --------------------------------------------------------------------------------


def peppol_switch(
    *, company_id: int, client_ids: list[int], ap: AccessPointProcess, api: str
) -> Any:
    """The billing company gets its access point (a Peppol profile owned through
    `peppol_company`, pointed at the loopback one, as the tests do), and these clients choose
    Peppol, looked up and registered; their invoices move to the Peppol register."""
    from django.utils import timezone

    from courrier.billing.models import Invoice
    from courrier.clients.models import Client, InvoiceChannel
    from courrier.mailing.models import SendingProfile
    from courrier.peppol.access_points.base import (
        CREDIT_NOTE_DOCUMENT_TYPE,
        INVOICE_DOCUMENT_TYPE,
    )

    server = ap.server
    values: dict[str, Any] = {"peppol_company_id": company_id, "method": api}
    if api == SendingProfile.Method.BILLIT:
        values.update(api_key=server.billit_key, peppol_account=server.billit_party)
    else:
        values.update(
            api_key=server.recommand_key,
            api_secret=server.recommand_secret,
            peppol_account=server.recommand_company,
        )
    profile = SendingProfile.objects.create(
        api_base_url=ap.base_url, from_address="factures@fidu-martin.test", **values
    )
    Client.objects.filter(pk__in=client_ids).update(
        invoice_channel=InvoiceChannel.PEPPOL,
        peppol_registered=True,
        peppol_document_types=[INVOICE_DOCUMENT_TYPE, CREDIT_NOTE_DOCUMENT_TYPE],
        peppol_checked_at=timezone.now(),
    )
    Invoice.objects.filter(client_id__in=client_ids).update(register=Invoice.Register.PEPPOL)
    return profile


def outbox_reset(invoice_ids: list[int]) -> None:
    """Back to the issued invoices without PDF of the seed: the outbox, the batches and the
    tasks emptied, the PDFs (and e-invoices) made by the previous run removed."""
    from django_tasks_db.models import DBTaskResult

    from courrier.billing.models import Invoice
    from courrier.mailing.models import (
        DeliveryAttempt,
        DeliveryEvent,
        MailBatch,
        MessageContent,
        OutboundMessage,
    )

    for model in (DeliveryEvent, DeliveryAttempt, MessageContent, OutboundMessage, MailBatch):
        model.objects.all().delete()
    DBTaskResult.objects.all().delete()
    storage = Invoice._meta.get_field("pdf").storage  # type: ignore[attr-defined]
    for pdf, ubl in Invoice.objects.filter(pk__in=invoice_ids).values_list("pdf", "ubl"):
        for name in (pdf, ubl):
            if name:
                storage.delete(name)
    Invoice.objects.filter(pk__in=invoice_ids).update(
        pdf="", pdf_sha256="", ubl="", ubl_sha256="", ubl_findings=[]
    )


# -- the e-invoice alone, in this process ------------------------------------------------------


@dataclass
class Stages:
    """Per-invoice durations in seconds, by stage."""

    times: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)

    def median_ms(self, name: str) -> float:
        return statistics.median(self.times[name]) * 1000 if self.times.get(name) else 0.0


def _validate_by_stage(xml: bytes, stages: Stages, prefix: str) -> bool:
    """The steps of `Validator.validate`, each timed, on its own objects (read, never changed):
    lxml's parse, the UBL schema, the text handed to Saxon, Saxon's parse, each Schematron
    layer's XSLT, the SVRL read. False when the validator's inside is not what this expects."""
    from lxml import etree

    from courrier.peppol import validation

    v = validation.validator()
    if not all(hasattr(v, name) for name in ("_schemas", "_processor", "_layers")):
        return False
    t0 = time.perf_counter()
    root = etree.fromstring(xml, parser=validation._secure_parser())
    t1 = time.perf_counter()
    schema = v._schemas[etree.QName(root).namespace or ""]
    assert schema.validate(root), schema.error_log
    t2 = time.perf_counter()
    text = etree.tostring(root, encoding="unicode")
    t3 = time.perf_counter()
    node = v._processor.parse_xml(xml_text=text)
    t4 = time.perf_counter()
    stages.add(f"{prefix}lxml parse", t1 - t0)
    stages.add(f"{prefix}UBL schema", t2 - t1)
    stages.add(f"{prefix}text for Saxon", t3 - t2)
    stages.add(f"{prefix}Saxon parse", t4 - t3)
    findings = []
    for layer, executable in v._layers:
        began = time.perf_counter()
        svrl = executable.transform_to_string(xdm_node=node)
        stages.add(f"{prefix}XSLT {layer}", time.perf_counter() - began)
        began = time.perf_counter()
        findings.extend(validation._svrl_findings(layer, svrl or ""))
        stages.add(f"{prefix}SVRL read", time.perf_counter() - began)
    return True


def ubl_alone(invoice_ids: list[int], *, samples: int) -> dict[str, float]:
    """The e-invoice of `samples` Peppol invoices in this process: the validators' load (the
    first use, which each worker process pays once), then per invoice its UBL made
    (`ubl_document` + `ubl_render`, as `invoice_ubl_made` does) and validated (`validate`, the
    three layers); the same again without the embedded PDF, and each validation step timed.
    Prints the figures; returns the medians in ms."""
    from courrier.billing.services.invoice_mail import mail_invoices
    from courrier.billing.services.pdf import invoice_pdf_render
    from courrier.billing.services.ubl import ubl_document
    from courrier.peppol import validation
    from courrier.peppol.ubl import ubl_render

    began = time.perf_counter()
    validation.validator()
    load = time.perf_counter() - began
    print(
        f"  validators' load (2 UBL schemas read, CEN and Peppol XSLTs compiled by Saxon), "
        f"first use in this process: {load:.2f} s; each worker process pays it once"
    )
    chosen = invoice_ids[: samples + 3]
    invoices = list(mail_invoices(chosen).prefetch_related("lines").order_by("pk"))
    pdfs = {invoice.pk: invoice_pdf_render(invoice) for invoice in invoices}
    stages = Stages()
    sizes: dict[str, list[int]] = {"with": [], "without": []}
    stepwise = True
    for n, invoice in enumerate(invoices):
        t0 = time.perf_counter()
        document = ubl_document(invoice, pdf=pdfs[invoice.pk])
        xml = ubl_render(document)
        t1 = time.perf_counter()
        report = validation.validate(xml)
        t2 = time.perf_counter()
        if not report.ok:
            raise SystemExit(f"error: invoice {invoice.pk}'s e-invoice refused: {report.fatal}")
        bare = ubl_render(replace(document, attachment=None))
        t3 = time.perf_counter()
        report = validation.validate(bare)
        t4 = time.perf_counter()
        if not report.ok:
            raise SystemExit(f"error: the e-invoice without PDF refused: {report.fatal}")
        if n < 3:  # warm-up
            continue
        stages.add("make", t1 - t0)
        stages.add("validate", t2 - t1)
        stages.add("make, no PDF", t3 - t2)
        stages.add("validate, no PDF", t4 - t3)
        sizes["with"].append(len(xml))
        sizes["without"].append(len(bare))
        stepwise = stepwise and _validate_by_stage(xml, stages, "")
        stepwise = stepwise and _validate_by_stage(bare, stages, "no PDF: ")
    pdf_kb = statistics.median(len(pdf) for pdf in pdfs.values()) / 1024
    count = len(stages.times.get("make", []))
    print(
        f"  the e-invoice alone, this process, {count} invoices (3 lines, PDF of {pdf_kb:.0f} KB "
        f"embedded; 3 warm-up not counted):"
    )
    print(
        f"    made (ubl_document + ubl_render), {statistics.median(sizes['with']) / 1024:.0f} KB:"
        f" {common.milliseconds(stages.times['make'])}"
    )
    print(f"    validated (3 layers): {common.milliseconds(stages.times['validate'])}")
    print(
        f"    without the PDF ({statistics.median(sizes['without']) / 1024:.0f} KB; measured "
        f"only, the product always embeds it): made "
        f"{common.milliseconds(stages.times['make, no PDF'])}; validated "
        f"{common.milliseconds(stages.times['validate, no PDF'])}"
    )
    if stepwise:
        names = [
            "lxml parse",
            "UBL schema",
            "text for Saxon",
            "Saxon parse",
            "XSLT cen",
            "XSLT peppol",
            "SVRL read",
        ]
        print(
            "    validation step by step, median ms with PDF / without: "
            + ", ".join(
                f"{name} {stages.median_ms(name):.2f} / {stages.median_ms('no PDF: ' + name):.2f}"
                for name in names
            )
            + " (SVRL read: per layer)"
        )
    return {
        "load": load * 1000,
        "make": stages.median_ms("make"),
        "validate": stages.median_ms("validate"),
        "make_bare": stages.median_ms("make, no PDF"),
        "validate_bare": stages.median_ms("validate, no PDF"),
    }


# -- the mixed batch, end to end ---------------------------------------------------------------


RunWorkers = Callable[..., tuple[float, list[float], dict[str, float]]]


@dataclass
class Bench:
    """What `invoices.py` lends the Peppol run: its arguments, installation, receiver, and how
    it runs and watches the workers."""

    args: argparse.Namespace
    env: dict[str, str]
    directory: Path
    receiver: common.Receiver
    run_workers: RunWorkers
    cpu_seconds: Callable[[int], float]
    pdf_alone: Callable[[list[int]], float]


def mixed_run(
    bench: Bench, *, by_pk: int, ids: list[int], peppol_ids: list[int], ap: AccessPointProcess
) -> tuple[bool, dict[str, float]]:
    """The invoices in K batches (one per worker, as the e-mail run), composed and delivered by
    K `courrier db_worker`: each invoice by Peppol or by e-mail as its client now receives
    them. Prints what it measured; returns (exactly once, figures)."""
    from courrier.billing.models import Invoice
    from courrier.billing.services.sending import invoice_batch_start
    from courrier.firm.models import Collaborator
    from courrier.mailing.models import Channel, DeliveryAttempt, MailBatch, OutboundMessage

    count, workers, receiver = bench.args.invoices, bench.args.workers, bench.receiver
    cpu_seconds = bench.cpu_seconds
    by = Collaborator.objects.get(pk=by_pk)
    invoices = list(Invoice.objects.filter(pk__in=ids).order_by("pk"))
    batches = [invoice_batch_start(by=by, invoices=invoices[n::workers]).pk for n in range(workers)]
    blocked = sum(len(b.blocked or {}) for b in MailBatch.objects.filter(pk__in=batches))
    by_peppol = len(peppol_ids)
    by_email = count - by_peppol
    mails_before, ap_before = receiver.count(), ap.sent()
    ap_cpu_before = cpu_seconds(ap.pid)

    def progress(marks: dict[str, float], at: float) -> None:
        if (
            "composed" not in marks
            and not MailBatch.objects.filter(
                pk__in=batches, state__in=["pending", "composing"]
            ).exists()
        ):
            marks["composed"] = at
        mails, documents = receiver.count() - mails_before, ap.sent() - ap_before
        if mails >= by_email and "mails" not in marks:
            marks["mails"] = at
        if documents >= by_peppol and "documents" not in marks:
            marks["documents"] = at
        if "mails" in marks and "documents" in marks and "composed" in marks:
            marks["delivered"] = at
            marks["done"] = at

    elapsed, peaks, marks = bench.run_workers(
        workers, bench.env, bench.directory, until=progress, timeout=bench.args.timeout
    )
    composed = marks.get("composed", elapsed)
    delivered = marks.get("delivered", elapsed)
    busy = marks.get("cpu", 0.0)
    ap_cpu = cpu_seconds(ap.pid) - ap_cpu_before
    rows = OutboundMessage.objects.values_list("channel", "status")
    statuses = Counter(f"{channel} {status}" for channel, status in rows)
    mails, documents = receiver.count() - mails_before, ap.sent() - ap_before
    kept = int(ap.kept.value)
    attempts = DeliveryAttempt.objects.count()
    expected = {f"{Channel.PEPPOL} sent": by_peppol, f"{Channel.EMAIL} sent": by_email}
    ok = (
        {key: n for key, n in statuses.items()} == {k: n for k, n in expected.items() if n}
        and mails == by_email
        and documents == by_peppol
        and kept == by_peppol
        and attempts == count
        and not blocked
    )
    sizes = _sizes()
    print(
        f"  batches: {by_peppol} invoices by Peppol ({100 * by_peppol / count:.0f} %), "
        f"{by_email} by e-mail, {blocked} blocked; e-invoices of {sizes.get('peppol', 0):.0f} KB "
        f"(UBL with the PDF, base64), mails of {sizes.get('email', 0):.0f} KB"
    )
    print(
        f"  compose (PDF + e-invoice made and validated, or PDF + mail; stored), {workers} "
        f"worker(s): {composed:.1f} s, {count / composed:.0f} invoices/s"
    )
    print(
        f"  end to end (workers started -> last mail taken by smtp-sink and last e-invoice "
        f"taken by the access point): {delivered:.1f} s, {count / delivered:.0f} invoices/s "
        f"(last mail at {marks.get('mails', elapsed):.1f} s, last e-invoice at "
        f"{marks.get('documents', elapsed):.1f} s)"
    )
    print("  peak RSS per worker: " + ", ".join(f"{peak:.0f} MB" for peak in peaks))
    print(
        f"  workers' CPU (start-up and each worker's validators' load included): {busy:.1f} s, "
        f"{1000 * busy / count:.1f} ms per invoice; busy {100 * busy / (workers * elapsed):.0f} "
        f"% of the {workers} worker(s)' {elapsed:.1f} s; the access point's process: "
        f"{ap_cpu:.1f} s of CPU"
    )
    print(
        f"  exactly once: {dict(statuses)}, smtp-sink received {mails}, the access point took "
        f"{documents} ({kept} kept), {attempts} attempts -> {'OK' if ok else 'FAILED'}"
    )
    return ok, {
        "composed": composed,
        "delivered": delivered,
        "cpu": busy,
        "busy": 100 * busy / (workers * elapsed),
        "peak": max(peaks) if peaks else 0.0,
        "ap_cpu": ap_cpu,
    }


def _sizes() -> dict[str, float]:
    """Mean stored size per channel, in KB."""
    from django.db.models import Avg

    from courrier.mailing.models import OutboundMessage

    rows = OutboundMessage.objects.values("channel").annotate(size=Avg("size"))
    return {str(row["channel"]): float(row["size"] or 0) / 1024 for row in rows}


def transport_alone(profile_id: int, *, limit: int) -> float:
    """Documents per second that the Peppol transport alone hands to the access point, in this
    process, one connection: the first `limit` stored e-invoices sent again under their keys
    (Billit's API answers a repeat from its key; Recommand's, which has none, takes it again),
    no outbox bookkeeping."""
    from courrier.mailing.models import OutboundMessage, SendingProfile
    from courrier.mailing.services.contents import contents_load
    from courrier.mailing.transports.peppol import PeppolTransport

    profile = SendingProfile.objects.select_related("peppol_company").get(pk=profile_id)
    messages = list(OutboundMessage.objects.filter(profile=profile).order_by("pk")[:limit])
    contents_load(messages)
    transport = PeppolTransport(profile)
    transport.open()
    began = time.perf_counter()
    for message in messages:
        transport.send(message)
    took = time.perf_counter() - began
    transport.close()
    return len(messages) / took


def peppol_run(
    bench: Bench,
    *,
    by_pk: int,
    ids: list[int],
    on_peppol: list[int],
    email: dict[str, float],
    pdf_ms: float,
) -> bool:
    """The outbox emptied and the PDFs removed; the company gets its access point and the
    chosen clients choose Peppol; the e-invoice alone in this process, then the batch end to
    end by the workers; a table of both runs."""
    from courrier.billing.models import Invoice
    from courrier.firm.models import BillingCompany

    args = bench.args
    count, k = args.invoices, args.workers
    company_id = BillingCompany.objects.get(code="FIDU").pk
    peppol_invoices = [ids[n] for n in on_peppol]
    client_ids = list(
        Invoice.objects.filter(pk__in=peppol_invoices).values_list("client_id", flat=True)
    )
    outbox_reset(ids)
    receivers = ["0208:" + enterprise_number(n).replace(".", "") for n in on_peppol]
    ap = AccessPointProcess(receivers)
    try:
        profile = peppol_switch(
            company_id=company_id, client_ids=client_ids, ap=ap, api=args.access_point
        )
        print(
            f"peppol: the same {count} invoices, outbox emptied and PDFs removed; {len(on_peppol)}"
            f" clients ({100 * len(on_peppol) / count:.0f} %) now on Peppol, registered at the "
            f"loopback access point ({args.access_point.capitalize()}'s API, "
            "courrier.demo.access_point, in a process of its own), the others by e-mail to "
            f"smtp-sink; {k} worker(s), each with one connection to each; load average "
            f"{os.getloadavg()[0]:.1f}"
        )
        again_ms = bench.pdf_alone(ids)
        ubl = ubl_alone(peppol_invoices, samples=args.ubl_samples)
        ok, mixed = mixed_run(bench, by_pk=by_pk, ids=ids, peppol_ids=peppol_invoices, ap=ap)
        sample = min(len(on_peppol), 1000)
        rate = transport_alone(profile.pk, limit=sample)
        print(
            f"  the Peppol transport alone (this process, one connection, {sample} stored "
            f"e-invoices sent again, no outbox): {rate:.0f} documents/s"
        )
    finally:
        ap.stop()
    print(
        f"same data, same run: {count} invoices, {k} worker(s), {common.database_label()}, "
        f"load average now {os.getloadavg()[0]:.1f}; totals for all workers, CPU summed over "
        "them, RSS the highest worker's"
    )
    print(
        "  | run | PDF alone | validators' load (per worker) | UBL made + validated, per "
        "invoice | compose | end to end | workers' CPU per invoice | busy | peak RSS |"
    )
    print(
        f"  | e-mail only | {pdf_ms:.1f} ms | — | — | {email['composed']:.1f} s | "
        f"{email['delivered']:.1f} s | {1000 * email['cpu'] / count:.1f} ms | "
        f"{email['busy']:.0f} % | {email['peak']:.0f} MB |"
    )
    print(
        f"  | {100 * len(on_peppol) / count:.0f} % Peppol | {again_ms:.1f} ms | "
        f"{ubl['load'] / 1000:.2f} s | {ubl['make']:.1f} + {ubl['validate']:.1f} ms "
        f"(no PDF: {ubl['make_bare']:.1f} + {ubl['validate_bare']:.1f}) | "
        f"{mixed['composed']:.1f} s | {mixed['delivered']:.1f} s | "
        f"{1000 * mixed['cpu'] / count:.1f} ms | {mixed['busy']:.0f} % | {mixed['peak']:.0f} MB |"
    )
    return ok
