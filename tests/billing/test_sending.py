"""Invoices by e-mail against the real SMTP fake: the pre-send check, batches sent once, the
re-send with the same PDF, sending on issue, parallel connections."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from courrier.billing.models import Invoice
from courrier.billing.services import invoice_issue, invoice_pdf_bytes
from courrier.billing.services.sending import (
    PURPOSE_RESEND,
    email_key,
    invoice_batch_start,
    invoice_batch_summary,
    invoice_issued,
    invoice_presend_check,
    invoice_resend,
    invoices_unsent,
)
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import MailTemplate, MailTemplateVersion, OutboundMessage
from courrier.mailing.services import batch_compose, message_bytes, messages_deliver
from courrier.texts import render
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.fakes.smtp import FakeSMTPServer, Received
from tests.firm.factories import make_collaborator

Status = OutboundMessage.Status

SUBJECTS = {
    "fr": "{TYPEDOC} {NUMFACT} de {NOMCLIENT}",
    "nl": "{TYPEDOC} {NUMFACT} voor {NOMCLIENT}",
}
BODIES = {
    "fr": "Bonjour,\n\nVeuillez trouver ci-joint la {TYPEDOC} {NUMFACT} de {MONTANT}.",
    "nl": "Beste,\n\nIn bijlage vindt u {TYPEDOC} {NUMFACT} van {MONTANT}.",
}


def make_invoice_template(languages: tuple[str, ...] = ("fr", "nl")) -> MailTemplate:
    template = MailTemplate.objects.create(
        name="Envoi des factures", context=MailTemplate.Context.INVOICE, shared=True
    )
    for language in languages:
        MailTemplateVersion.objects.create(
            template=template, language=language, subject=SUBJECTS[language], body=BODIES[language]
        )
    return template


@pytest.fixture
def setup(
    smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]
) -> tuple[BillingCompany, Collaborator]:
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    make_invoice_template()
    return company, make_collaborator()


def pdf_of(received: Received) -> bytes:
    for part in received.message.walk():
        if part.get_content_type() == "application/pdf":
            content = part.get_content()
            assert isinstance(content, bytes)
            return content
    raise AssertionError("no PDF attached")


def deliver(profile_id: int | None = None) -> None:
    for profile in {m.profile_id for m in OutboundMessage.objects.all()}:
        if profile_id in (None, profile):
            messages_deliver(profile_id=profile)


def run_batch(by: Collaborator, **kwargs: Any) -> Any:
    batch = invoice_batch_start(by=by, enqueue=False, **kwargs)
    return batch_compose(batch_id=batch.pk)


@pytest.mark.django_db
def test_presend_check_lists_blockers_and_the_peppol_warning(
    setup: tuple[BillingCompany, Collaborator],
) -> None:
    company, anne = setup
    fine = make_invoice(company, make_invoice_client("C1"), issue_date=timezone.localdate())
    peppol = make_invoice(
        company,
        make_invoice_client("C2", vat_number="BE0403.019.261"),
        issue_date=timezone.localdate(),
    )
    german = make_invoice(company, make_invoice_client("C3", language="de"))
    no_address = make_invoice(company, make_invoice_client("C4", emails=()))
    gone = make_invoice(company, make_invoice_client("C5"))
    gone.pdf.storage.delete(gone.pdf.name)
    draft = make_invoice(company, make_invoice_client("C6"), issue=False)

    checks = {
        check.about.pk: check
        for check in invoice_presend_check(
            invoices=[fine, peppol, german, no_address, gone, draft], by=anne
        )
    }

    def codes(invoice: Invoice, kind: str = "blockers") -> list[str]:
        return [reason.code for reason in getattr(checks[invoice.pk], kind)]

    assert checks[fine.pk].ok and codes(fine, "warnings") == []
    assert checks[peppol.pk].ok and codes(peppol, "warnings") == ["peppol"]
    assert "Peppol" in checks[peppol.pk].warnings[0].message
    assert codes(german) == ["no_language"]
    assert "allemand" in str(checks[german.pk].blockers[0].message).lower()
    assert codes(no_address) == ["no_address"]
    assert codes(gone) == ["pdf_missing"]
    assert codes(draft) == ["draft"]


@pytest.mark.django_db
def test_a_batch_sends_each_invoice_once_with_its_pdf_in_its_language(
    setup: tuple[BillingCompany, Collaborator],
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    company, anne = setup
    french = make_invoice(company, make_invoice_client("C1", invoice_emails=("f@dupuis.test",)))
    dutch = make_invoice(company, make_invoice_client("C2", language="nl", name="Bakkerij Peeters"))
    # Issued without its PDF: the batch makes it, once.
    later = invoice_issue(
        invoice=make_invoice(company, make_invoice_client("C3"), issue=False),
        by=anne,
        make_pdf=False,
    )
    assert not later.pdf
    paper = make_invoice(company, make_invoice_client("C4", by_email=False))
    german = make_invoice(company, make_invoice_client("C5", language="de"))

    assert set(invoices_unsent(billing_company=company)) == {french, dutch, later, german}
    with django_capture_on_commit_callbacks(execute=True):
        batch = run_batch(anne, billing_company=company)
    deliver()

    assert batch.state == "done" and batch.total == 4 and batch.queued == 3
    assert list(batch.blocked) == [str(german.pk)]
    by_to = {tuple(m.rcpt_tos): m for m in smtp_server.messages}
    assert set(by_to) == {("f@dupuis.test",), ("compta@dupuis.test",)} or len(by_to) == 2
    assert len(smtp_server.messages) == 3
    later.refresh_from_db()
    assert later.pdf and later.pdf_sha256
    for invoice in (french, dutch, later):
        invoice.refresh_from_db()
        [message] = OutboundMessage.objects.filter(idempotency_key=email_key(invoice.pk))
        [received] = [m for m in smtp_server.messages if m.data == message_bytes(message)]
        assert pdf_of(received) == invoice_pdf_bytes(invoice)
        assert invoice.display_number in received.message["Subject"]
        assert message.context == "invoice" and message.object_id == invoice.pk
    [to_french] = [m for m in smtp_server.messages if m.rcpt_tos == ["f@dupuis.test"]]
    assert (
        to_french.message["Subject"].startswith("facture ")
        or "facture" in to_french.message["Subject"].lower()
    )
    [to_dutch] = [m for m in smtp_server.messages if "Bakkerij" in m.message["Subject"]]
    assert "factuur" in to_dutch.message["Subject"].lower()
    assert paper.pk not in batch.object_ids

    summary = invoice_batch_summary(batch=batch)
    assert summary.sent == 3 and summary.failed == 0 and summary.uncertain == []
    assert list(summary.blocked) == [german.pk]

    # Twice is once: the unsent are gone, and the same invoices chosen again are blocked.
    with django_capture_on_commit_callbacks(execute=True):
        again = run_batch(anne, billing_company=company)
        chosen = run_batch(anne, invoices=[french, dutch])
    deliver()
    assert again.object_ids == [german.pk] and again.queued == 0
    assert chosen.queued == 0 and set(chosen.blocked) == {str(french.pk), str(dutch.pk)}
    assert "Déjà envoyée" in render(chosen.blocked[str(french.pk)][0])
    assert len(smtp_server.messages) == 3
    # Composing the first batch again queues nothing either.
    OutboundMessage.objects.filter(batch=batch).count()
    type(batch).objects.filter(pk=batch.pk).update(state="composing")
    batch_compose(batch_id=batch.pk)
    assert OutboundMessage.objects.count() == 3


@pytest.mark.django_db
def test_resend_sends_the_same_pdf_again_recorded_as_a_resend(
    setup: tuple[BillingCompany, Collaborator],
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    company, anne = setup
    invoice = make_invoice(company, make_invoice_client("C1"))
    with django_capture_on_commit_callbacks(execute=True):
        run_batch(anne, invoices=[invoice])
        first = invoice_resend(invoice=invoice, by=anne)
        second = invoice_resend(invoice=invoice, by=anne)
    deliver()

    assert first.pk != second.pk
    assert first.idempotency_key == f"invoice:{invoice.pk}:resend:1"
    assert second.idempotency_key == f"invoice:{invoice.pk}:resend:2"
    assert {first.purpose, second.purpose} == {PURPOSE_RESEND}
    assert len(smtp_server.messages) == 3
    pdfs = {pdf_of(received) for received in smtp_server.messages}
    assert pdfs == {invoice_pdf_bytes(invoice)}
    # In the client file: three mails about this invoice, two of them re-sends.
    purposes = Counter(
        OutboundMessage.objects.filter(client=invoice.client, object_id=invoice.pk).values_list(
            "purpose", flat=True
        )
    )
    assert purposes == {"invoice": 1, PURPOSE_RESEND: 2}


@pytest.mark.django_db
def test_a_company_that_sends_on_issue_queues_the_mail_when_the_issue_commits(
    setup: tuple[BillingCompany, Collaborator],
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    company, anne = setup
    client = make_invoice_client("C1")
    draft = make_invoice(company, client, issue=False)
    assert invoice_issued(invoice=draft, by=anne) is False  # not issued, option off
    company.send_invoices_on_issue = True
    company.save()
    invoice = make_invoice(company, client)
    with django_capture_on_commit_callbacks(execute=True):
        assert invoice_issued(invoice=invoice, by=anne) is True
        assert invoice_issued(invoice=invoice, by=anne) is True
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    deliver()
    [received] = smtp_server.messages
    assert pdf_of(received) == invoice_pdf_bytes(invoice)


@pytest.mark.django_db
def test_two_parts_compose_one_batch_and_the_last_closes_it(
    setup: tuple[BillingCompany, Collaborator],
    django_capture_on_commit_callbacks: Any,
) -> None:
    company, anne = setup
    invoices = [make_invoice(company, make_invoice_client(f"C{n}")) for n in range(4)]
    german = make_invoice(company, make_invoice_client("C9", language="de"))
    batch = invoice_batch_start(by=anne, invoices=[*invoices, german], enqueue=False)

    first = batch_compose(batch_id=batch.pk, part=0, parts=2)
    assert first.state == "composing"
    second = batch_compose(batch_id=batch.pk, part=1, parts=2)
    assert second.state == "done" and second.queued == 4
    assert list(second.blocked) == [str(german.pk)]
    assert {m.object_id for m in OutboundMessage.objects.filter(batch=batch)} == {
        invoice.pk for invoice in invoices
    }


@pytest.mark.django_db
def test_sending_on_issue_without_a_template_in_its_language_leaves_it_unsent(
    setup: tuple[BillingCompany, Collaborator],
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    company, anne = setup
    company.send_invoices_on_issue = True
    company.save()
    invoice = make_invoice(company, make_invoice_client("C1", language="de"))
    with django_capture_on_commit_callbacks(execute=True):
        invoice_issued(invoice=invoice, by=anne)
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    assert smtp_server.messages == []
    assert list(invoices_unsent(billing_company=company)) == [invoice]


@pytest.mark.django_db
def test_an_invoice_whose_mail_would_have_a_blank_is_blocked_and_not_sent(
    setup: tuple[BillingCompany, Collaborator], smtp_server: FakeSMTPServer
) -> None:
    company, anne = setup
    version = MailTemplateVersion.objects.get(language="fr")
    version.body = "Bonjour {CONTACT},\n\nVeuillez trouver ci-joint la {TYPEDOC} {NUMFACT}."
    version.save()
    known = make_invoice(
        company, make_invoice_client("C1", contact_name="Marie", emails=("marie@dupuis.test",))
    )
    nobody = make_invoice(company, make_invoice_client("C2", emails=("info@leroy.test",)))

    checks = {
        check.about.pk: check for check in invoice_presend_check(invoices=[known, nobody], by=anne)
    }
    batch = run_batch(anne, invoices=[known, nobody])
    deliver()

    assert checks[known.pk].ok
    assert [reason.code for reason in checks[nobody.pk].blockers] == ["hole"]
    assert "{CONTACT} (Personne de contact) est vide" in checks[nobody.pk].blockers[0].message
    assert list(batch.blocked) == [str(nobody.pk)]
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["marie@dupuis.test"]
    assert b"Bonjour Marie," in received.data
    assert not OutboundMessage.objects.filter(client=nobody.client).exists()
