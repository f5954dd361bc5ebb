"""The e-mail register's sending, through the pages: the pre-send check of a choice (all unsent,
a period, ticked rows), the batch started and followed to its summary, "@" on a row; each
mail checked where it arrived, at the SMTP fake."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone, translation
from django_tasks_db.models import DBTaskResult

from courrier.billing.models import Invoice
from courrier.billing.services import invoice_pdf_bytes, sending
from courrier.billing.services.sending import PURPOSE_RESEND
from courrier.firm.models import BillingCompany, Collaborator
from courrier.firm.permissions import billing_grant
from courrier.mailing.models import MailBatch, OutboundMessage
from courrier.mailing.services import batch_compose, messages_deliver
from tests.billing.factories import (
    issue_confirmed,
    make_billing_company,
    make_invoice,
    make_invoice_client,
)
from tests.billing.test_sending import make_invoice_template, pdf_of
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def company(smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]) -> BillingCompany:
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    make_invoice_template()
    return company


@pytest.fixture
def anne(client: Browser) -> Collaborator:
    collaborator = make_collaborator()
    billing_grant(collaborator)  # she bills: the role Facturation
    client.force_login(collaborator)
    return collaborator


def deliver() -> None:
    for profile in set(OutboundMessage.objects.values_list("profile_id", flat=True)):
        messages_deliver(profile_id=profile)


def run_batches() -> None:
    """What the worker does: compose the pending batches, then deliver."""
    for batch in MailBatch.objects.filter(context="invoice").exclude(state="done"):
        batch_compose(batch_id=batch.pk)
    deliver()


def text(response: Any) -> str:
    return response.content.decode()


def three_invoices(company: BillingCompany) -> tuple[Invoice, Invoice, Invoice]:
    march = make_invoice(
        company,
        make_invoice_client("C1", name="Boulangerie Dupuis", emails=("compta@dupuis.test",)),
        issue_date=datetime.date(2026, 3, 2),
    )
    april = make_invoice(
        company,
        make_invoice_client(
            "C2", name="Bakkerij Peeters", language="nl", emails=("info@peeters.test",)
        ),
        issue_date=datetime.date(2026, 4, 7),
    )
    german = make_invoice(
        company,
        make_invoice_client("C3", name="Metzgerei Braun", language="de", emails=("b@braun.test",)),
        issue_date=datetime.date(2026, 4, 9),
    )
    return march, april, german


def test_presend_check_of_all_unsent_lists_the_blocked_with_their_reason(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    _march, _april, german = three_invoices(company)
    peppol = make_invoice(
        company,
        make_invoice_client("C4", name="Garage Lenoir", vat_number="BE0403.019.261"),
    )
    page = text(
        client.post(
            reverse("billing:email_presend", args=["FIDU"]), {"scope": "unsent"}, headers=HTMX
        )
    )
    assert "3 factures seront envoyées" in page
    assert "1 bloquée" in page
    # The template has no German version: that invoice is blocked, with the reason.
    assert german.display_number in page and "allemand" in page
    assert "Peppol" in page and peppol.display_number in page
    assert "Envoyer 3 factures" in page
    assert not OutboundMessage.objects.exists()


def test_presend_check_of_a_period_and_of_ticked_rows(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    march, _april, _german = three_invoices(company)
    url = reverse("billing:email_presend", args=["FIDU"])
    page = text(
        client.post(
            url,
            {"scope": "range", "batch_from": "2026-04-01", "batch_to": "2026-04-08"},
            headers=HTMX,
        )
    )
    assert "1 facture sera envoyée" in page
    page = text(client.post(url, {"scope": "selection", "invoices": [march.pk]}, headers=HTMX))
    assert "1 facture sera envoyée" in page
    # Choices that make no sense are said on the panel.
    page = text(client.post(url, {"scope": "selection"}, headers=HTMX))
    assert "Cochez au moins une facture dans le registre." in page
    page = text(client.post(url, {"scope": "range"}, headers=HTMX))
    assert "Indiquez au moins une date de la période." in page
    page = text(client.post(url, {"scope": "range", "batch_from": "2027-01-01"}, headers=HTMX))
    assert "Aucune facture à envoyer dans ce choix." in page


def test_without_the_script_the_check_is_a_page_whose_button_sends_what_was_checked(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    march, april, _german = three_invoices(company)
    register = text(client.get(reverse("billing:email_register", args=["FIDU"])))
    # The register's own form goes to the check, never straight to the sending.
    presend_url = reverse("billing:email_presend", args=["FIDU"])
    assert f'action="{presend_url}" id="batch-form"' in register

    chosen = {"scope": "selection", "invoices": [str(march.pk), str(april.pk)]}
    page = text(client.post(presend_url, chosen))
    assert "2 factures seront envoyées" in page and "<html" in page
    assert f'action="{reverse("billing:email_send", args=["FIDU"])}"' in page
    assert f'name="invoices" value="{march.pk}"' in page
    assert f'name="invoices" value="{april.pk}"' in page
    assert 'name="scope" value="selection"' in page
    assert not MailBatch.objects.exists()

    response = client.post(reverse("billing:email_send", args=["FIDU"]), chosen)
    batch = MailBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("billing:batch", args=["FIDU", batch.pk])
    assert batch.object_ids == [march.pk, april.pk]


def test_send_a_batch_then_follow_it_to_the_summary(
    client: Browser, anne: Collaborator, company: BillingCompany, smtp_server: FakeSMTPServer
) -> None:
    march, april, german = three_invoices(company)
    response = client.post(
        reverse("billing:email_send", args=["FIDU"]), {"scope": "unsent"}, headers=HTMX
    )
    batch = MailBatch.objects.get()
    url = reverse("billing:batch", args=["FIDU", batch.pk])
    assert response["HX-Redirect"] == url
    assert batch.object_ids == [march.pk, april.pk, german.pk]

    page = text(client.get(url))
    assert "Préparation des mails" in page and 'hx-trigger="every 1s"' in page

    run_batches()
    page = text(client.get(url, headers=HTMX))
    assert "Envoi terminé" in page and "every 1s" not in page
    assert '<dd data-count="sent">2</dd>' in page
    assert '<dd data-count="blocked">1</dd>' in page
    assert '<dd data-count="failed">0</dd>' in page
    assert german.display_number in page and "allemand" in page

    arrived = {tuple(mail.rcpt_tos): mail for mail in smtp_server.messages}
    assert set(arrived) == {("compta@dupuis.test",), ("info@peeters.test",)}
    assert pdf_of(arrived[("compta@dupuis.test",)]) == invoice_pdf_bytes(march)
    assert "2026/0002" in str(arrived[("info@peeters.test",)].message["Subject"])

    register = text(client.get(reverse("billing:email_register", args=["FIDU"])))
    assert register.count('data-mail-state="sent"') == 2
    assert register.count('data-mail-state="unsent"') == 1

    # Sending "all unsent" again finds only the blocked one: nothing is sent twice.
    client.post(reverse("billing:email_send", args=["FIDU"]), {"scope": "unsent"}, headers=HTMX)
    run_batches()
    assert len(smtp_server.messages) == 2


def test_send_with_nothing_to_send_goes_back_with_the_reason(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    response = client.post(
        reverse("billing:email_send", args=["FIDU"]), {"scope": "unsent"}, follow=True
    )
    assert "Aucune facture à envoyer dans ce choix." in text(response)
    assert not MailBatch.objects.exists()


def test_at_sends_the_first_mail_then_resends_the_same_pdf(
    client: Browser, anne: Collaborator, company: BillingCompany, smtp_server: FakeSMTPServer
) -> None:
    invoice = make_invoice(company, make_invoice_client("C1", emails=("compta@dupuis.test",)))
    url = reverse("billing:invoice_resend", args=[invoice.pk])
    cell = text(client.post(url, headers=HTMX))
    assert 'data-mail-state="queued"' in cell and "Mail en file d'attente." in cell
    deliver()
    cell = text(client.post(url, headers=HTMX))
    deliver()
    first, again = OutboundMessage.objects.order_by("pk")
    assert first.idempotency_key == f"invoice:{invoice.pk}:email"
    assert again.purpose == PURPOSE_RESEND
    assert [pdf_of(mail) for mail in smtp_server.messages] == [invoice_pdf_bytes(invoice)] * 2

    page = text(client.get(reverse("billing:invoice", args=[invoice.pk])))
    assert "premier envoi" in page and "renvoi" in page
    assert reverse("mailing:message_detail", args=[again.pk]) in page
    # The client file lists both mails, the second one marked as a re-send.
    mails = text(client.get(reverse("clients:detail", args=[invoice.client_id]), {"tab": "mails"}))
    assert again.subject in mails
    assert mails.count('<span class="badge badge-muted">renvoi</span>') == 1

    # A batch afterwards leaves it out: it was sent.
    client.post(reverse("billing:email_send", args=["FIDU"]), {"scope": "unsent"}, follow=True)
    assert OutboundMessage.objects.count() == 2


def test_at_on_a_client_without_address_says_why(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    invoice = make_invoice(company, make_invoice_client("C1"))
    invoice.client.emails.all().delete()
    response = client.post(reverse("billing:invoice_resend", args=[invoice.pk]), follow=True)
    assert response.status_code == 200
    assert "La facture n&#x27;a pas été envoyée" in text(response)
    assert not OutboundMessage.objects.exists()


def test_a_draft_is_not_sent(client: Browser, anne: Collaborator, company: BillingCompany) -> None:
    draft = make_invoice(company, make_invoice_client("C1"), issue=False)
    response = client.post(reverse("billing:invoice_resend", args=[draft.pk]), follow=True)
    assert "Un brouillon ne s&#x27;envoie pas" in text(response)
    assert not OutboundMessage.objects.exists()


def test_an_unknown_batch_is_a_404(client: Browser, anne: Collaborator, company) -> None:
    assert client.get(reverse("billing:batch", args=["FIDU", 999])).status_code == 404


def test_a_second_company_keeps_its_register(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    other = make_billing_company("AUTRE", name="Conseils Demo", enterprise_number="0202.239.951")
    mine = make_invoice(company, make_invoice_client("C1"))
    theirs = make_invoice(other, make_invoice_client("C2"))
    page = text(
        client.post(
            reverse("billing:email_presend", args=["FIDU"]),
            {"scope": "selection", "invoices": [mine.pk, theirs.pk]},
            headers=HTMX,
        )
    )
    assert "1 facture sera envoyée" in page


def test_issue_sends_at_once_when_the_company_says_so(
    client: Browser,
    anne: Collaborator,
    company: BillingCompany,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    company.send_invoices_on_issue = True
    company.save()
    draft = make_invoice(company, make_invoice_client("C1"), issue=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = issue_confirmed(client, draft)
    assert "Elle part par e-mail dès maintenant." in text(response)
    # The task queued when the issue committed, run as the worker runs it.
    [queued] = DBTaskResult.objects.filter(task_path__endswith="send_invoice")
    queued.task.call(*queued.args_kwargs["args"], **queued.args_kwargs["kwargs"])
    deliver()
    [received] = smtp_server.messages
    draft.refresh_from_db()
    assert pdf_of(received) == invoice_pdf_bytes(draft)


def test_issue_waits_for_a_batch_by_default(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    draft = make_invoice(company, make_invoice_client("C1"), issue=False)
    response = issue_confirmed(client, draft)
    page = text(response)
    assert "registre e-mail" in page and "dès maintenant" not in page
    assert "Pas encore envoyée : elle partira avec le prochain lot du registre e-mail." in page
    assert not OutboundMessage.objects.exists()


def test_the_batch_page_lists_failed_and_uncertain_mails_and_the_register_its_batches(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    march, april, _german = three_invoices(company)
    client.post(
        reverse("billing:email_send", args=["FIDU"]),
        {"scope": "selection", "invoices": [march.pk, april.pk]},
    )
    batch = MailBatch.objects.get()
    batch_compose(batch_id=batch.pk)
    OutboundMessage.objects.filter(object_id=march.pk).update(
        status="failed", last_error="550 Adresse inconnue"
    )
    OutboundMessage.objects.filter(object_id=april.pk).update(status="uncertain")
    page = text(client.get(reverse("billing:batch", args=["FIDU", batch.pk])))
    assert "Envoi terminé" in page
    assert '<dd data-count="failed">1</dd>' in page
    assert '<dd data-count="uncertain">1' in page and "peut-être parties" in page
    assert "550 Adresse inconnue" in page

    register = text(client.get(reverse("billing:email_register", args=["FIDU"])))
    assert "Derniers lots envoyés" in register
    assert reverse("billing:batch", args=["FIDU", batch.pk]) in register
    # Another company's register does not list it.
    make_billing_company("AUTRE", name="Conseils Demo", enterprise_number="0202.239.951")
    other = text(client.get(reverse("billing:email_register", args=["AUTRE"])))
    assert "Derniers lots envoyés" not in other


def test_another_companys_batch_is_not_found_under_this_companys_name(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    """/factures/BOEK/envois/<n>/ of a FIDU batch is a 404, with or without htmx; the batch
    answers under its own company only."""
    boek = make_billing_company("BOEK", name="Boekhouding Demo", enterprise_number="0202.239.951")
    invoice = make_invoice(company, make_invoice_client("C1"))
    batch = sending.invoice_batch_start(by=anne, invoices=[invoice], enqueue=False)

    assert client.get(reverse("billing:batch", args=["FIDU", batch.pk])).status_code == 200
    assert client.get(reverse("billing:batch", args=["fidu", batch.pk])).status_code == 200
    for headers in ({}, HTMX):
        response = client.get(reverse("billing:batch", args=["BOEK", batch.pk]), headers=headers)
        assert response.status_code == 404
        assert "Fiduciaire" not in text(response) and invoice.display_number not in text(response)
    # A batch that holds another company's invoice belongs to neither.
    theirs = make_invoice(boek, make_invoice_client("C2"))
    mixed = sending.invoice_batch_start(by=anne, invoices=[invoice, theirs], enqueue=False)
    for code in ("FIDU", "BOEK"):
        assert client.get(reverse("billing:batch", args=[code, mixed.pk])).status_code == 404


def test_the_check_warns_of_a_due_date_already_past(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    today = timezone.localdate()
    late = make_invoice(
        company,
        make_invoice_client("C1", emails=("compta@dupuis.test",)),
        issue_date=today - datetime.timedelta(days=40),
        due_date=today - datetime.timedelta(days=10),
    )
    on_time = make_invoice(company, make_invoice_client("C2"), issue_date=today)
    due = (today - datetime.timedelta(days=10)).strftime("%d/%m/%Y")

    page = unescape(
        text(
            client.post(
                reverse("billing:email_presend", args=["FIDU"]),
                {"scope": "selection", "invoices": [late.pk, on_time.pk]},
            )
        )
    )
    warnings = page[page.index('id="presend-warnings"') :]
    warnings = warnings[: warnings.index("</ul>")]
    assert f"Échéance déjà passée (le {due})" in warnings
    assert f'data-invoice="{late.pk}">{late.display_number}</a>' in warnings
    assert f'data-invoice="{on_time.pk}"' not in warnings
    assert "2 factures seront envoyées" in page  # a warning, not a blocker


def test_an_english_colleague_reads_the_past_due_warning_in_english(
    client: Browser, company: BillingCompany
) -> None:
    emma = make_collaborator("emma@fidu.be", language="en")
    client.force_login(emma)
    late = make_invoice(company, make_invoice_client("C1"), issue_date=datetime.date(2026, 1, 5))
    # The request activates the reader's language in this thread: set back afterwards.
    with translation.override("fr"):
        response = client.post(
            reverse("billing:email_presend", args=["FIDU"]),
            {"scope": "selection", "invoices": [late.pk]},
            headers=HTMX,
        )
    page = unescape(text(response))
    assert "Due date already past (04/02/2026)" in page
    assert "Échéance" not in page
