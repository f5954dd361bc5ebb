"""Composing a batch of invoices: the shared work is done once per batch, the bytes unchanged."""

from __future__ import annotations

import io
from collections.abc import Callable
from email import message_from_bytes, policy
from email.generator import BytesGenerator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from courrier.billing.models import Invoice
from courrier.billing.services.issue import invoice_pdf_ensure
from courrier.billing.services.sending import invoice_batch_start
from courrier.firm.models import Collaborator
from courrier.mailing.models import OutboundMessage
from courrier.mailing.services import batch_compose
from courrier.mailing.services.mime import SMTP_POLICY, _Generator
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_sending import make_invoice_template
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db(transaction=True)

SHARED_TABLES = ('FROM "mailing_sendingprofile"', 'FROM "firm_firm"', 'FROM "firm_billingcompany"')


def _compose_batch(
    server: FakeSMTPServer,
    make_profile: Callable[..., Any],
    count: int,
    code: str,
    bce: str,
    by: Collaborator,
) -> tuple[int, int, int]:
    """(SELECTs of the profile, firm and company; all statements; statements about the task
    queue) composing `count` invoices."""
    company = make_billing_company(code=code, enterprise_number=bce)
    make_profile(server=server, billing_company=company, collaborator=None)
    for index in range(count):
        client = make_invoice_client(
            f"{code}{index}", name=f"Client {index}", emails=(f"{code}{index}@x.test",)
        )
        make_invoice(company, client)
    invoices = Invoice.objects.filter(billing_company=company)
    invoices.update(pdf="", pdf_sha256="")
    batch = invoice_batch_start(invoices=invoices, by=by, enqueue=False)
    with CaptureQueriesContext(connection) as queries:
        batch_compose(batch_id=batch.pk)
    assert OutboundMessage.objects.filter(batch=batch).count() == count
    assert not Invoice.objects.filter(billing_company=company, pdf="").exists()
    sqls = [query["sql"] for query in queries.captured_queries]
    shared = sum(
        1 for sql in sqls if sql.startswith("SELECT") and any(t in sql for t in SHARED_TABLES)
    )
    tasks = sum(1 for sql in sqls if "django_tasks_database_dbtaskresult" in sql)
    return shared, len(sqls), tasks


def test_a_batch_reads_the_profile_and_the_firm_and_enqueues_delivery_once_whatever_its_size(
    smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]
) -> None:
    make_invoice_template()
    by = make_collaborator()
    small = _compose_batch(smtp_server, make_profile, 2, "SMALL", "0494.482.244", by)
    large = _compose_batch(smtp_server, make_profile, 6, "LARGE", "0403.170.701", by)
    assert small[0] == large[0]
    # One look for a waiting delivery run, and one run enqueued, per chunk of the batch.
    assert small[2] == large[2] == 2
    # A round is stored with the same statements whatever its size: the invoices' rows locked
    # and their PDFs recorded, then the messages, their bytes and their sizes.
    assert large[1] <= small[1], (small, large)


def test_the_pdf_of_an_issued_invoice_is_made_from_a_stale_draft_copy(
    smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]
) -> None:
    company = make_billing_company()
    draft = make_invoice(company, make_invoice_client(), issue=False)
    stale = Invoice.objects.select_related("billing_company", "client").get(pk=draft.pk)
    from courrier.billing.services import invoice_issue

    issued = invoice_issue(invoice=draft, by=None, make_pdf=False)
    assert not issued.pdf and not stale.is_issued
    invoice_pdf_ensure(invoice=stale)
    assert stale.pdf and stale.pdf_sha256
    with stale.pdf.open("rb") as handle:
        text = PdfReader(handle).pages[0].extract_text()
    assert issued.display_number in text
    # Made once: another copy finds it and takes its name, never a second file.
    other = Invoice.objects.get(pk=draft.pk)
    other.pdf = ""
    invoice_pdf_ensure(invoice=other)
    assert (other.pdf.name, other.pdf_sha256) == (stale.pdf.name, stale.pdf_sha256)


@pytest.mark.parametrize(
    "body",
    [
        "Bonjour,\n\nligne\n",
        "sans fin de ligne",
        "fins\r\nmélangées\rici\n\nfin",
        "",
    ],
)
def test_the_generator_writes_the_standard_bytes(body: str) -> None:
    from django.core.mail import EmailMultiAlternatives

    from courrier.mailing.contexts import StoredFile

    pdf = bytes(range(256)) * 300
    mail = EmailMultiAlternatives(
        subject="Votre facture 2026/0042 — une ligne d'objet assez longue pour être repliée",
        body=body,
        from_email="Fiduciaire Démo <factures@fidu.test>",
        to=["c1@x.test", "Émilie Dupont-Vanderstraeten <emilie.dupont@exemple-société.be>"],
        cc=["comptabilité@x.test"],
        headers={"X-Courrier-Message": "12", "Content-Language": "fr"},
    )
    mail.attach_alternative(f"<p>{body}</p>", "text/html")
    file = StoredFile(
        name="Facture-2026-0042 Société Générale à Liège.pdf",
        content_type="application/pdf",
        size=len(pdf),
        read=lambda: pdf,
    )
    mail.attach(file.mime_part())
    message = mail.message()
    ours, standard = io.BytesIO(), io.BytesIO()
    _Generator(ours, policy=SMTP_POLICY).flatten(message)
    BytesGenerator(standard, policy=SMTP_POLICY).flatten(message)
    assert ours.getvalue() == standard.getvalue()
    parsed = message_from_bytes(ours.getvalue(), policy=policy.default)
    attached = [part for part in parsed.walk() if part.get_content_type() == "application/pdf"]
    assert attached[0].get_content() == pdf


def test_the_qr_path_draws_exactly_the_dark_modules() -> None:
    import re

    import segno

    from courrier.billing.services.epc import qr_svg

    qr = segno.make_qr("BCD\n002\n1\nSCT\nGEBABEBB\nDémo\nBE18001013384965\nEUR1.00\n\n1", mask=4)
    size = len(qr.matrix)
    drawn = [[0] * size for _ in range(size)]
    svg = qr_svg(qr.matrix)
    assert f'width="{4 * size}"' in svg
    for x, y, length in re.findall(r"M(\d+) (\d+)\.5h(\d+)", svg):
        for column in range(int(x), int(x) + int(length)):
            drawn[int(y)][column] = 1
    assert drawn == [list(row) for row in qr.matrix]


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 114, 1000, 34_567])
def test_an_attachment_is_encoded_as_the_standard_encoder_does(size: int) -> None:
    import base64
    import os
    from email import encoders
    from email.mime.base import MIMEBase

    from courrier.mailing.contexts import StoredFile, base64_lines

    data = os.urandom(size)
    assert base64_lines(data) == base64.encodebytes(data).decode("ascii")
    standard = MIMEBase("application", "pdf")
    standard.set_payload(data)
    encoders.encode_base64(standard)
    standard.add_header(
        "Content-Disposition", "attachment", filename=("utf-8", "", "Facture été.pdf")
    )
    ours = StoredFile(
        name="Facture été.pdf", content_type="application/pdf", size=size, read=lambda: data
    ).mime_part()
    assert ours.as_bytes() == standard.as_bytes()
