"""One invoice, one mail: whatever sends it first — the compose window
(`/courrier/ecrire/?context=invoice&objects=<id>`, one invoice or several), the register's batch,
`courrier send-invoices` — the others see that mail and send nothing; only an explicit "send
again" sends it a second time, recorded as a re-send. The same for credit notes, whose mails are
invoice mails. What counts is what the client receives: the document's PDF at the SMTP fake."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from html import unescape
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from courrier.billing.demo import (
    CREDIT_NOTE_TEMPLATE,
    CREDIT_NOTE_VERSIONS,
    INVOICE_TEMPLATE,
    TEMPLATE_VERSIONS,
    seed_mail_templates,
)
from courrier.billing.models import Invoice
from courrier.billing.services import invoice_pdf_bytes
from courrier.billing.services.sending import PURPOSE_EMAIL, PURPOSE_RESEND
from courrier.firm.models import BillingCompany, Collaborator
from courrier.firm.permissions import billing_grant
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage
from courrier.mailing.services import batch_compose
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_credit_notes import credit_note_of
from tests.billing.test_sending import deliver, pdf_of
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db

COMPOSE = reverse("mailing:compose")


@pytest.fixture
def fidu(smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]) -> BillingCompany:
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    seed_mail_templates(companies={"FIDU": company})
    return company


@pytest.fixture
def anne(client: Browser) -> Collaborator:
    anne = make_collaborator()
    billing_grant(anne)  # the role Facturation
    client.force_login(anne)
    return anne


def issued(company: BillingCompany, number: str, address: str, kind: str) -> Invoice:
    """An issued invoice of the e-mail register, or a credit note of one (`kind`)."""
    invoice = make_invoice(
        company,
        make_invoice_client(number, emails=(address,)),
        issue_date=timezone.localdate(),
    )
    return credit_note_of(invoice) if kind == "credit_note" else invoice


@pytest.fixture(params=["invoice", "credit_note"])
def document(request: pytest.FixtureRequest, fidu: BillingCompany) -> Invoice:
    return issued(fidu, "C1", "compta@dupuis.test", request.param)


def copies(smtp_server: FakeSMTPServer, document: Invoice) -> int:
    """How many times the client received this document's PDF."""
    pdf = invoice_pdf_bytes(document)
    return sum(pdf_of(received) == pdf for received in smtp_server.messages)


def mails_about(document: Invoice) -> list[OutboundMessage]:
    return list(
        OutboundMessage.objects.filter(context="invoice", object_id=document.pk).order_by("pk")
    )


def window(*documents: Invoice) -> dict[str, str]:
    return {"context": "invoice", "objects": ",".join(str(item.pk) for item in documents)}


def written(*documents: Invoice, **extra: str) -> dict[str, str]:
    """The window of these documents posted with "Envoyer", with the firm's template of their
    kind as the window loads it (each form with its own one-time key, as each page has)."""
    credit = documents[0].is_credit_note
    name = CREDIT_NOTE_TEMPLATE if credit else INVOICE_TEMPLATE
    subject, body = (CREDIT_NOTE_VERSIONS if credit else TEMPLATE_VERSIONS)["fr"]
    template = MailTemplate.objects.get(name=name, owner__isnull=True)
    return {
        **window(*documents),
        "language": "fr",
        "subject": subject,
        "body": body,
        "template": str(template.pk),
        "archive": "on",
        "idempotency_key": uuid.uuid4().hex,
        "send": "1",
        **extra,
    }


def window_batches() -> list[MailBatch]:
    """The batches the compose window started (the register's are billing's)."""
    return [batch for batch in MailBatch.objects.order_by("pk") if "checked" not in batch.options]


def send_invoices() -> str:
    """`courrier send-invoices --company FIDU`, what it printed (its exit code aside)."""
    out = StringIO()
    with contextlib.suppress(SystemExit):
        call_command("send_invoices", "--company", "FIDU", stdout=out)
    return out.getvalue()


def page_text(response: Any) -> str:
    return unescape(response.content.decode())


def already_said(document: Invoice) -> str:
    today = timezone.localdate().strftime("%d/%m/%Y")
    kind = "Note de crédit" if document.is_credit_note else "Facture"
    return f"{kind} {document.display_number} a déjà été envoyée par e-mail le {today}."


def test_mailed_from_the_window_then_the_command_sends_it_no_more(
    client: Browser,
    anne: Collaborator,
    document: Invoice,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The defect as it was met on the demo: the window, then `send-invoices` — twice."""
    sent = client.post(COMPOSE, written(document))
    assert sent.status_code == 302, page_text(sent)
    deliver()
    assert copies(smtp_server, document) == 1

    with django_capture_on_commit_callbacks(execute=True):
        send_invoices()
    deliver()

    assert copies(smtp_server, document) == 1
    [first] = mails_about(document)
    # Stored as the register stores an invoice's first mail.
    assert first.idempotency_key == f"invoice:{document.pk}:email"
    assert first.purpose == PURPOSE_EMAIL


def test_mailed_from_the_window_then_the_registers_batch_blocks_it(
    client: Browser,
    anne: Collaborator,
    document: Invoice,
    smtp_server: FakeSMTPServer,
) -> None:
    """Ticked in the register after the window mailed it: the check blocks it, the batch
    leaves it out; the client has it once."""
    assert client.post(COMPOSE, written(document)).status_code == 302
    deliver()

    chosen = {"scope": "selection", "invoices": [document.pk]}
    checked = page_text(client.post(reverse("billing:email_presend", args=["FIDU"]), chosen))
    assert "Déjà envoyée par e-mail" in checked
    client.post(reverse("billing:email_send", args=["FIDU"]), chosen)
    batch = MailBatch.objects.get(context="invoice", options__checked=True)
    batch_compose(batch_id=batch.pk)
    deliver()

    assert copies(smtp_server, document) == 1
    assert len(mails_about(document)) == 1
    assert list(MailBatch.objects.get(pk=batch.pk).blocked) == [str(document.pk)]


def test_sent_by_the_command_the_window_refuses_until_send_again_is_ticked(
    client: Browser,
    anne: Collaborator,
    document: Invoice,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The other way round: the batch first. The window says when it went, sends nothing, and
    offers "Envoyer à nouveau"; ticked, the document goes again, recorded as a re-send, as "@"
    in the register records it."""
    with django_capture_on_commit_callbacks(execute=True):
        send_invoices()
    deliver()
    assert copies(smtp_server, document) == 1

    opened = page_text(client.get(COMPOSE, window(document)))
    assert already_said(document) in opened
    assert "Envoyer à nouveau" in opened

    refused = client.post(COMPOSE, written(document))
    assert refused.status_code == 200
    said = page_text(refused)
    assert already_said(document) in said and "Envoyer à nouveau" in said
    checked = page_text(
        client.post(reverse("mailing:presend"), {**written(document), "check": "1"})
    )
    assert already_said(document) in checked
    deliver()
    assert copies(smtp_server, document) == 1 and len(mails_about(document)) == 1

    ticked = written(document, resend="on")
    again = client.post(COMPOSE, ticked)
    assert again.status_code == 302, page_text(again)
    # The same form posted twice (a double click): one re-send.
    assert client.post(COMPOSE, ticked).status_code == 302
    deliver()
    assert copies(smtp_server, document) == 2
    first, resent = mails_about(document)
    assert first.purpose == PURPOSE_EMAIL
    assert resent.purpose == PURPOSE_RESEND
    key = ticked["idempotency_key"]
    assert resent.idempotency_key == f"invoice:{document.pk}:resend:{key}"

    # "@" afterwards counts that re-send: its own is the second.
    client.post(reverse("billing:invoice_resend", args=[document.pk]))
    assert mails_about(document)[-1].idempotency_key == f"invoice:{document.pk}:resend:2"


def test_a_window_of_several_documents_and_the_command_each_send_what_the_other_did_not(
    client: Browser,
    anne: Collaborator,
    fidu: BillingCompany,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Several invoices and credit notes in one window (a batch of the compose window): the one
    "@" sent already is blocked, saying when; the others go. The command then finds nothing
    left to send; a second window with "Envoyer à nouveau" sends them all again, once each."""
    sent_before = issued(fidu, "C1", "compta@dupuis.test", "invoice")
    others = [
        issued(fidu, "C2", "info@peeters.test", "invoice"),
        issued(fidu, "C3", "b@braun.test", "invoice"),
    ]
    client.post(reverse("billing:invoice_resend", args=[sent_before.pk]))
    deliver()
    chosen = [sent_before, *others]

    checked = page_text(client.post(reverse("mailing:presend"), {**written(*chosen), "check": "1"}))
    assert already_said(sent_before) in checked
    assert "2 prêts, 1 bloqué" in checked
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(COMPOSE, written(*chosen))
    assert response.status_code == 302, page_text(response)
    [batch] = window_batches()
    batch_compose(batch_id=batch.pk)
    deliver()
    assert [copies(smtp_server, item) for item in chosen] == [1, 1, 1]
    blocked = MailBatch.objects.get(pk=batch.pk).blocked
    assert list(blocked) == [str(sent_before.pk)]
    progress = page_text(client.get(reverse("mailing:batch_progress", args=[batch.pk])))
    assert already_said(sent_before) in progress

    # Composed again (a worker that resumes it): nothing more.
    batch_compose(batch_id=batch.pk)
    with django_capture_on_commit_callbacks(execute=True):
        out = send_invoices()
    deliver()
    assert [copies(smtp_server, item) for item in chosen] == [1, 1, 1]
    assert "0 facture à envoyer" in out

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(COMPOSE, written(*chosen, resend="on"))
    assert again.status_code == 302, page_text(again)
    [second] = [item for item in window_batches() if item.pk != batch.pk]
    batch_compose(batch_id=second.pk)
    batch_compose(batch_id=second.pk)  # resumed: each re-send is made once
    deliver()
    assert [copies(smtp_server, item) for item in chosen] == [2, 2, 2]
    assert {mail.purpose for mail in OutboundMessage.objects.filter(batch=second)} == {
        PURPOSE_RESEND
    }


def test_credit_notes_mailed_together_from_the_window_are_not_sent_again_by_the_command(
    client: Browser,
    anne: Collaborator,
    fidu: BillingCompany,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Two credit notes in one window (a batch of the window, with their template), then the
    command: only the two credited invoices, which nothing sent yet, go."""
    notes = [
        issued(fidu, "C1", "compta@dupuis.test", "credit_note"),
        issued(fidu, "C2", "info@peeters.test", "credit_note"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(COMPOSE, written(*notes))
    assert response.status_code == 302, page_text(response)
    [batch] = window_batches()
    batch_compose(batch_id=batch.pk)
    deliver()
    assert [copies(smtp_server, note) for note in notes] == [1, 1]

    with django_capture_on_commit_callbacks(execute=True):
        out = send_invoices()
    deliver()

    assert "2 factures à envoyer, 0 bloquée." in out
    assert [copies(smtp_server, note) for note in notes] == [1, 1]
    credited = [note.credited_invoice for note in notes]
    assert [copies(smtp_server, invoice) for invoice in credited if invoice] == [1, 1]


def test_an_english_colleague_reads_when_it_was_sent(
    client: Browser,
    fidu: BillingCompany,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    invoice = issued(fidu, "C1", "compta@dupuis.test", "invoice")
    biller = make_collaborator("emma@fidu.test", language="en")
    billing_grant(biller)  # the role Facturation
    client.force_login(biller)
    with django_capture_on_commit_callbacks(execute=True):
        send_invoices()

    refused = page_text(client.post(COMPOSE, written(invoice)))

    today = timezone.localdate().strftime("%d/%m/%Y")
    assert f"Invoice {invoice.display_number} was already sent by e-mail on {today}." in refused
    assert "Send again" in refused
    assert len(mails_about(invoice)) == 1
