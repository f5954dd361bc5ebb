"""A batch of invoices is stored by rounds: each round's PDFs and mails are made outside any
transaction, then stored together. What a firm would check: each mail carries its own id, size
and PDF; a round that cannot be stored leaves no row and no file behind; a mail queued by
someone else meanwhile is never queued twice; a PDF made meanwhile by another run is the one
attached, and ours is not left on disk."""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from courrier.billing.models import Invoice
from courrier.billing.services import invoice_issue, invoice_pdf_bytes
from courrier.billing.services import pdf as pdf_module
from courrier.billing.services.issue import invoice_pdf_ensure
from courrier.billing.services.sending import email_key, invoice_batch_start, invoice_send
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import MailBatch, OutboundMessage
from courrier.mailing.services import batch_compose, message_bytes, rounds, store
from courrier.texts import render
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_sending import deliver, make_invoice_template, pdf_of
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db

COUNT = 5


@pytest.fixture
def company(smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]) -> BillingCompany:
    company = make_billing_company(code="RND")
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    make_invoice_template()
    return company


@pytest.fixture
def anne() -> Collaborator:
    return make_collaborator()


@pytest.fixture(autouse=True)
def rounds_of_two(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path) -> None:
    # Five invoices make three rounds (2, 2, 1); the files of this test alone in storage.
    monkeypatch.setattr(rounds, "ROUND", 2)
    settings.MEDIA_ROOT = str(tmp_path / "media")


def issued(company: BillingCompany, anne: Collaborator, *, with_pdf: bool) -> list[Invoice]:
    invoices = []
    for index in range(COUNT):
        client = make_invoice_client(f"R{index}", emails=(f"r{index}@client.test",))
        draft = make_invoice(company, client, issue=False)
        invoices.append(invoice_issue(invoice=draft, by=anne, make_pdf=with_pdf))
    return invoices


def pdf_files(company: BillingCompany) -> list[str]:
    """The PDF files of the company's invoices in storage."""
    folders = {
        posixpath.dirname(name)
        for name in Invoice.objects.exclude(pdf="").values_list("pdf", flat=True)
    } or {f"invoices/{Invoice.objects.first().issued_at.year}"}  # type: ignore[union-attr]
    return sorted(
        f"{folder}/{name}"
        for folder in folders
        if default_storage.exists(folder)
        for name in default_storage.listdir(folder)[1]
        if name.startswith(f"{company.code}-")
    )


def compose_batch(anne: Collaborator, invoices: list[Invoice]) -> MailBatch:
    batch = invoice_batch_start(by=anne, invoices=invoices, enqueue=False)
    return batch_compose(batch_id=batch.pk)


def test_each_mail_of_a_round_carries_its_own_id_size_and_pdf(
    company: BillingCompany, anne: Collaborator, smtp_server: FakeSMTPServer
) -> None:
    invoices = issued(company, anne, with_pdf=False)
    assert pdf_files(company) == []

    steps: list[tuple[int, int]] = []
    started = invoice_batch_start(by=anne, invoices=invoices, enqueue=False)
    batch = batch_compose(
        batch_id=started.pk, progress=lambda step: steps.append((step.done, step.total))
    )
    deliver()

    # The progress moves with each invoice made, never back, and ends at the total.
    done = [step for step, _total in steps]
    assert done == sorted(done) and set(done) == set(range(1, COUNT + 1))
    assert {total for _done, total in steps} == {COUNT}

    assert batch.state == MailBatch.State.DONE and batch.queued == COUNT
    assert len(pdf_files(company)) == COUNT
    received = {m.message["X-Courrier-Message"]: m for m in smtp_server.messages}
    assert len(received) == COUNT
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.pdf and invoice.pdf_sha256
        [message] = OutboundMessage.objects.filter(idempotency_key=email_key(invoice.pk))
        raw = message_bytes(message)
        assert store._ROW_MARKER not in raw
        parsed = message_from_bytes(raw, policy=policy.SMTP)
        assert parsed["X-Courrier-Message"] == str(message.pk)
        assert message.size == len(raw)
        arrived = received[str(message.pk)]
        assert arrived.data == raw
        assert pdf_of(arrived) == invoice_pdf_bytes(invoice)
        assert invoice.display_number in arrived.message["Subject"]


def test_a_round_that_cannot_be_stored_leaves_nothing_and_a_rerun_sends_each_once(
    company: BillingCompany,
    anne: Collaborator,
    smtp_server: FakeSMTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invoices = issued(company, anne, with_pdf=False)
    real_store = rounds.messages_store
    calls = Counter[str]()

    def breaks_on_the_second_round(*args: Any, **kwargs: Any) -> Any:
        calls["store"] += 1
        if calls["store"] == 2:
            raise RuntimeError("disk full")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(rounds, "messages_store", breaks_on_the_second_round)
    batch = invoice_batch_start(by=anne, invoices=invoices, enqueue=False)
    with pytest.raises(RuntimeError):
        batch_compose(batch_id=batch.pk)

    batch.refresh_from_db()
    assert batch.state == MailBatch.State.FAILED and "disk full" in batch.error
    stored = OutboundMessage.objects.filter(batch=batch)
    assert sorted(int(pk or 0) for pk in stored.values_list("object_id", flat=True)) == [
        invoices[0].pk,
        invoices[1].pk,
    ]
    # The second round: no PDF recorded, and the files made for it removed.
    for invoice in invoices[2:]:
        invoice.refresh_from_db()
        assert not invoice.pdf and not invoice.pdf_sha256
    assert len(pdf_files(company)) == 2

    monkeypatch.setattr(rounds, "messages_store", real_store)
    again = batch_compose(batch_id=batch.pk)
    deliver()

    assert again.state == MailBatch.State.DONE and again.queued == COUNT
    assert len(pdf_files(company)) == COUNT
    keys = Counter(OutboundMessage.objects.values_list("idempotency_key", flat=True))
    assert keys == Counter(email_key(invoice.pk) for invoice in invoices)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        f"r{index}@client.test" for index in range(COUNT)
    ]


def test_a_mail_queued_by_someone_else_during_a_round_is_not_queued_twice(
    company: BillingCompany,
    anne: Collaborator,
    smtp_server: FakeSMTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invoices = issued(company, anne, with_pdf=True)
    first = invoices[0]
    real_prepare = rounds.message_prepare

    def sent_meanwhile(*args: Any, **kwargs: Any) -> Any:
        # While the first round is built, a colleague sends the first invoice from its page.
        if kwargs["idempotency_key"] == email_key(invoices[1].pk):
            invoice_send(invoice=first, by=anne)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(rounds, "message_prepare", sent_meanwhile)
    batch = compose_batch(anne, invoices)
    deliver()

    assert batch.state == MailBatch.State.DONE
    assert list(batch.blocked) == [str(first.pk)]
    assert "a déjà été envoyée par e-mail le" in render(batch.blocked[str(first.pk)][0])
    assert batch.queued == COUNT - 1
    keys = Counter(OutboundMessage.objects.values_list("idempotency_key", flat=True))
    assert keys == Counter(email_key(invoice.pk) for invoice in invoices)
    assert OutboundMessage.objects.get(idempotency_key=email_key(first.pk)).batch_id is None
    assert Counter(m.rcpt_tos[0] for m in smtp_server.messages) == Counter(
        f"r{index}@client.test" for index in range(COUNT)
    )
    assert len(pdf_files(company)) == COUNT


def test_a_pdf_made_meanwhile_by_another_run_is_the_one_attached(
    company: BillingCompany,
    anne: Collaborator,
    smtp_server: FakeSMTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invoices = issued(company, anne, with_pdf=False)
    first = invoices[0]
    real_render = pdf_module.invoice_pdf_render

    def made_meanwhile(invoice: Invoice) -> bytes:
        # While the first round is built, another run stores the first invoice's PDF.
        if invoice.pk == invoices[1].pk:
            invoice_pdf_ensure(invoice=Invoice.objects.get(pk=first.pk))
        return real_render(invoice)

    monkeypatch.setattr(pdf_module, "invoice_pdf_render", made_meanwhile)
    batch = compose_batch(anne, invoices)
    deliver()

    assert batch.state == MailBatch.State.DONE and batch.queued == COUNT and not batch.blocked
    first.refresh_from_db()
    [message] = OutboundMessage.objects.filter(idempotency_key=email_key(first.pk))
    [arrived] = [m for m in smtp_server.messages if m.data == message_bytes(message)]
    assert pdf_of(arrived) == invoice_pdf_bytes(first)
    # One file per invoice: the batch's copy of the first PDF was removed.
    assert len(pdf_files(company)) == COUNT
    assert first.pdf.name in pdf_files(company)
