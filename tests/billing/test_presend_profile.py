"""One rule for "can this profile send": a billing company whose sending profile is in service
but lacks its API key is blocked by every pre-send check — the compose window's, the e-mail
register's ("Vérifier", "Envoyer") and `courrier send-invoices` — with the same sentence, in the
reader's language, and nothing is stored or sent."""

from __future__ import annotations

import uuid
from html import unescape
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone, translation

from courrier.billing.demo import INVOICE_TEMPLATE, TEMPLATE_VERSIONS, seed_mail_templates
from courrier.billing.models import Invoice
from courrier.firm.models import BillingCompany
from courrier.firm.permissions import billing_grant
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage, SendingProfile
from courrier.mailing.services import batch_compose
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_admin, make_collaborator

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def fidu() -> BillingCompany:
    """FIDU sends through SendGrid; the profile is in service but its API key was never typed."""
    company = make_billing_company()
    SendingProfile.objects.create(
        billing_company=company,
        method=SendingProfile.Method.SENDGRID,
        from_name="Fiduciaire Demo",
        from_address="factures@fidu.test",
    )
    seed_mail_templates(companies={"FIDU": company})
    return company


@pytest.fixture
def invoice(fidu: BillingCompany) -> Invoice:
    return make_invoice(
        fidu,
        make_invoice_client("C1", emails=("compta@dupuis.test",)),
        issue_date=timezone.localdate(),
    )


def french(company: BillingCompany) -> str:
    return (
        "La clé d'API SendGrid manque : complétez "
        f"« Sociétés facturantes › {company} › Paramétrage d'envoi »."
    )


def english(company: BillingCompany) -> str:
    return (
        "The SendGrid API key is missing: complete "
        f"‘Billing companies › {company} › Sending settings’."
    )


def page(response: Any) -> str:
    assert response.status_code == 200
    return unescape(response.content.decode())


def window_check(client: Browser, invoice: Invoice) -> str:
    """The compose window of this invoice (`?context=invoice&objects=<id>`), "Vérifier"."""
    subject, body = TEMPLATE_VERSIONS["fr"]
    template = MailTemplate.objects.get(name=INVOICE_TEMPLATE, owner__isnull=True)
    data = {
        "context": "invoice",
        "objects": str(invoice.pk),
        "language": "fr",
        "subject": subject,
        "body": body,
        "template": str(template.pk),
        "idempotency_key": uuid.uuid4().hex,
        "check": "1",
    }
    return page(client.post(reverse("mailing:presend"), data))


def register_check(client: Browser, invoice: Invoice, *, htmx: bool = True) -> str:
    """The e-mail register's "Vérifier" on this invoice (the fragment, or the page without
    the script)."""
    return page(
        client.post(
            reverse("billing:email_presend", args=["FIDU"]),
            {"scope": "selection", "invoices": [invoice.pk]},
            headers=HTMX if htmx else {},
        )
    )


def test_the_register_blocks_a_profile_without_its_key_as_the_window_does(
    client: Browser,
    fidu: BillingCompany,
    invoice: Invoice,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    biller = make_collaborator()
    billing_grant(biller)  # the role Facturation
    client.force_login(biller)
    sentence = french(fidu)
    assert sentence in window_check(client, invoice)

    for htmx in (True, False):
        checked = register_check(client, invoice, htmx=htmx)
        assert sentence in checked
        assert "1 bloquée (rien ne part)" in checked
        assert "0 facture sera envoyée" in checked and "Envoyer 1 facture" not in checked

    # "Envoyer" anyway (the choice posted as it was): the invoice is blocked with that sentence.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("billing:email_send", args=["FIDU"]),
            {"scope": "selection", "invoices": [invoice.pk]},
            headers=HTMX,
        )
    for batch in MailBatch.objects.filter(context="invoice").exclude(state="done"):
        batch_compose(batch_id=batch.pk)
    [batch] = MailBatch.objects.all()
    assert list(batch.blocked) == [str(invoice.pk)]
    summary = page(client.get(reverse("billing:batch", args=["FIDU", batch.pk])))
    assert sentence in summary
    assert not OutboundMessage.objects.exists() and smtp_server.messages == []


def test_an_english_colleague_reads_the_same_sentence_on_both_screens(
    client: Browser, fidu: BillingCompany, invoice: Invoice
) -> None:
    biller = make_collaborator("emma@fidu.be", language="en")
    billing_grant(biller)  # the role Facturation
    client.force_login(biller)
    # The request activates the reader's language in this thread: set back afterwards.
    with translation.override("fr"):
        window = window_check(client, invoice)
        register = register_check(client, invoice)
    sentence = english(fidu)
    assert sentence in window
    assert sentence in register
    assert "API key" in register and "manque" not in register
    assert not OutboundMessage.objects.exists()


def test_send_invoices_blocks_it_with_the_same_sentence_and_sends_nothing(
    fidu: BillingCompany,
    invoice: Invoice,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_admin()
    sentence = french(fidu)
    for dry_run in (("--dry-run",), ()):
        out = StringIO()
        with pytest.raises(SystemExit) as exited, django_capture_on_commit_callbacks(execute=True):
            call_command("send_invoices", "--company", "FIDU", *dry_run, stdout=out)
        assert exited.value.code == 1
        printed = out.getvalue()
        assert "FIDU" in printed or str(fidu) in printed
        assert "0 facture à envoyer, 1 bloquée." in printed
        assert f"bloquée {invoice.display_number}" in printed and sentence in printed
    assert not OutboundMessage.objects.exists() and smtp_server.messages == []
