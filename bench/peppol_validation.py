"""The Peppol validator's costs: loading it once, then checking one e-invoice.

Measures, in this process: (1) the first `courrier.peppol.validation.validator()` call, which
reads the two UBL 2.1 schemas with lxml and compiles the CEN EN 16931 and Peppol BIS XSLTs of
the pinned release with Saxon; (2) `validate(xml)` (schema, CEN layer, Peppol layer, SVRL
read) on a 4-line and a 30-line invoice, each carrying a 40 KB PDF as the issued invoices do,
median and 95th percentile over N runs after a few warm-up runs; (3) `ubl_render` for the same
documents. No database is used: the documents are plain data, their totals computed by
billing's `totals_of` as for a real invoice.

    .venv/bin/python bench/peppol_validation.py            # 50 runs per document
    .venv/bin/python bench/peppol_validation.py --runs 200
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import common


def _document(lines: int) -> object:
    from courrier.billing.models import InvoiceLine
    from courrier.billing.services.totals import line_amount, totals_of
    from courrier.peppol.ubl import (
        INVOICE,
        UblAttachment,
        UblDocument,
        UblLine,
        UblParty,
        UblPayment,
        UblVatBreakdown,
    )

    rates = ["21", "6", "12", "21"]
    rows = [
        InvoiceLine(
            description=f"Prestation {n}",
            quantity=Decimal(n % 7 + 1) + Decimal("0.125"),
            unit_price=Decimal(95 + 13 * n) + Decimal("0.45"),
            vat_rate=rates[n % 4],
            vat_category="S",
        )
        for n in range(lines)
    ]
    totals = totals_of(rows)
    party = {"country": "BE", "street": "Avenue Louise 250", "postal_code": "1050"}
    return UblDocument(
        kind=INVOICE,
        number="2026/0042",
        issue_date=date(2026, 3, 14),
        due_date=date(2026, 4, 13),
        seller=UblParty(
            name="Fiduciaire Demo SRL",
            endpoint="0208:0494482244",
            vat_number="BE0494482244",
            enterprise_number="0494482244",
            city="Bruxelles",
            **party,
        ),
        buyer=UblParty(
            name="Bakkerij Peeters BV",
            endpoint="0208:0446407064",
            vat_number="BE0446407064",
            enterprise_number="0446407064",
            city="Antwerpen",
            **party,
        ),
        lines=tuple(
            UblLine(
                id=str(n + 1),
                name=row.description,
                quantity=row.quantity,
                unit_price=row.unit_price,
                amount=line_amount(quantity=row.quantity, unit_price=row.unit_price),
                category="S",
                rate=Decimal(row.vat_rate),
            )
            for n, row in enumerate(rows)
        ),
        vat_breakdown=tuple(
            UblVatBreakdown(category="S", rate=Decimal(r.rate), base=r.base, vat=r.vat)
            for r in totals.by_rate
        ),
        total_excl_vat=totals.excl_vat,
        total_vat=totals.vat,
        total_incl_vat=totals.incl_vat,
        buyer_reference="C0018",
        payment=UblPayment(
            iban="BE18001013384965", bic="GEBABEBB", structured_communication="260100004249"
        ),
        attachment=UblAttachment(
            id="2026/0042",
            filename="FIDU-2026-0042.pdf",
            content=b"%PDF-1.7\n" + os.urandom(40_000),
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=common.positive, default=50, help="default 50")
    parser.add_argument("--warmup", type=common.not_negative, default=5, help="default 5")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="courrier-bench-"))
    try:
        env = common.environment(data_dir=directory, database_url=None)
        os.environ.update(env)
        import django

        django.setup()
        run(runs=args.runs, warmup=args.warmup)
    finally:
        common.remove(directory)


def run(*, runs: int, warmup: int) -> None:
    from courrier.peppol import validation
    from courrier.peppol.ubl import ubl_render

    started = time.perf_counter()
    validation.validator()
    print(f"load (2 schemas + 2 XSLTs compiled): {time.perf_counter() - started:.2f} s")
    for lines in (4, 30):
        document = _document(lines)
        renders, checks = [], []
        for n in range(warmup + runs):
            t0 = time.perf_counter()
            xml = ubl_render(document)  # type: ignore[arg-type]
            t1 = time.perf_counter()
            report = validation.validate(xml)
            t2 = time.perf_counter()
            assert report.ok, report.fatal
            if n >= warmup:
                renders.append(t1 - t0)
                checks.append(t2 - t1)
        print(
            f"{lines:2d} lines, {len(xml) // 1024} KB: validate {common.milliseconds(checks)};"
            f" render {common.milliseconds(renders)}"
        )


if __name__ == "__main__":
    main()
