"""Invoices go their client's way: by Peppol through the company's access point, by e-mail, or
to print; one batch, one summary; the e-invoice that arrives is the stored one; a PDF by mail
to a Belgian company is refused once the company sends e-invoices; the courtesy copy follows a
delivered e-invoice, once.

Real parts: the loopback access point speaking Billit's and Recommand's APIs, the loopback SMTP
server, the `send-invoices` command and the worker's task."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from lxml import etree

from courrier.billing.demo import seed_mail_templates
from courrier.billing.models import Invoice
from courrier.billing.selectors import MAIL_STATES, mail_state
from courrier.billing.services.peppol import PURPOSE_COURTESY, PURPOSE_PEPPOL, peppol_key
from courrier.billing.services.sending import invoice_presend_check, invoice_send
from courrier.billing.services.ubl import invoice_ubl_bytes
from courrier.clients.models import Client as ClientRecord
from courrier.demo.access_point import FakeAccessPoint
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import Channel, DeliveryStatus, OutboundMessage, SendingProfile
from courrier.peppol.status import statuses_poll
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_sending import deliver
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator
from tests.peppol.outbox import peppol_profile

pytestmark = pytest.mark.django_db

COMPANY_ID = "0208:0446407064"  # the client company on Peppol (enterprise number, mod 97)
UBL = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}


@pytest.fixture
def access_point() -> Any:
    with FakeAccessPoint() as server:
        server.register(COMPANY_ID)
        yield server


@pytest.fixture
def firm(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., Any],
    access_point: FakeAccessPoint,
) -> tuple[BillingCompany, Collaborator, SendingProfile]:
    company = make_billing_company(email="factures@fidu.be")
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    seed_mail_templates(companies={"FIDU": company})
    peppol = peppol_profile(company, access_point, "billit")
    return company, make_collaborator(), peppol


def peppol_client(number: str = "C1", **fields: Any) -> ClientRecord:
    record = make_invoice_client(
        number,
        name="Bakkerij Peeters",
        language="nl",
        enterprise_number="0446.407.064",
        vat_number="BE0446407064",
        emails=("boekhouding@peeters.test",),
        **fields,
    )
    record.invoice_channel = "peppol"
    record.save()
    return record


def send_invoices(*args: str) -> str:
    out = StringIO()
    with contextlib.suppress(SystemExit):
        call_command("send_invoices", "--company", "FIDU", *args, stdout=out)
    return out.getvalue()


def buyer_endpoint(xml: bytes) -> str:
    root = etree.fromstring(xml)
    (endpoint,) = root.findall("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", UBL)
    return f"{endpoint.get('schemeID')}:{endpoint.text}"


def received(smtp_server: FakeSMTPServer) -> list[EmailMessage]:
    return [received.message for received in smtp_server.messages]


def test_one_batch_sends_each_invoice_its_clients_way(
    firm: tuple[BillingCompany, Collaborator, SendingProfile],
    access_point: FakeAccessPoint,
    smtp_server: FakeSMTPServer,
) -> None:
    company, _anne, _peppol = firm
    by_peppol = make_invoice(company, peppol_client("C1"))
    by_email = make_invoice(company, make_invoice_client("C2", name="Jean Dupuis", kind="person"))
    to_print = make_invoice(company, make_invoice_client("C3", name="Garage Lenoir"))
    ClientRecord.objects.filter(number="C3").update(invoice_channel="paper")
    assert by_peppol.register == Invoice.Register.PEPPOL
    assert by_email.register == Invoice.Register.EMAIL

    out = send_invoices()

    assert "Résumé : 2 factures envoyées (1 par Peppol, 1 par e-mail), 1 à imprimer, 0 bloquée" in (
        out
    )
    assert f"à imprimer (registre papier) : {to_print.display_number}" in out
    # The access point received the stored e-invoice, for the client's Peppol identifier.
    (document,) = access_point.documents
    by_peppol.refresh_from_db()
    assert document.xml == invoice_ubl_bytes(by_peppol)
    assert buyer_endpoint(document.xml) == COMPANY_ID
    row = OutboundMessage.objects.get(idempotency_key=peppol_key(by_peppol.pk))
    assert (row.channel, row.purpose, row.status) == (Channel.PEPPOL, PURPOSE_PEPPOL, "sent")
    assert row.to == [COMPANY_ID] and row.provider_message_id == document.id
    assert row.subject == f"Factuur {by_peppol.display_number} (Peppol)"
    # The mail went to the e-mail client only; nothing to the Peppol or the paper client.
    (mail,) = received(smtp_server)
    assert mail["To"] == "compta@dupuis.test"
    # Run again: nothing goes twice.
    again = send_invoices()
    assert len(access_point.documents) == 1 and len(smtp_server.messages) == 1
    assert "0 facture à envoyer" in again


def test_a_pdf_by_mail_to_a_belgian_company_is_blocked_once_the_company_sends_e_invoices(
    firm: tuple[BillingCompany, Collaborator, SendingProfile],
) -> None:
    company, anne, peppol = firm
    record = make_invoice_client(
        "C4", enterprise_number="0446.407.064", vat_number="BE0446407064"
    )  # chose e-mail
    invoice = make_invoice(company, record)
    (check,) = invoice_presend_check(invoices=[invoice], by=anne)
    [reason] = [r for r in check.blockers if r.code == "peppol"]
    assert "choisissez « Peppol » pour l'envoi des factures" in str(reason.message)
    # Before the company has an access point, the same invoice is only warned about.
    peppol.delete()
    (check,) = invoice_presend_check(invoices=[invoice], by=anne)
    assert check.ok
    assert [r.code for r in check.warnings if r.code == "peppol"] == ["peppol"]


def test_a_client_not_on_peppol_or_without_identifier_is_blocked_with_the_reason(
    firm: tuple[BillingCompany, Collaborator, SendingProfile],
) -> None:
    company, anne, _peppol = firm
    unknown = peppol_client("C5")
    ClientRecord.objects.filter(pk=unknown.pk).update(
        peppol_registered=False, peppol_checked_at=timezone.now()
    )
    invoice = make_invoice(company, ClientRecord.objects.get(pk=unknown.pk))
    (check,) = invoice_presend_check(invoices=[invoice], by=anne)
    assert [r.code for r in check.blockers] == ["not_on_peppol"]
    assert "n'est pas inscrit sur Peppol" in str(check.blockers[0].message)


def test_an_e_invoice_the_rules_refuse_is_blocked_with_its_rules_and_nothing_leaves(
    firm: tuple[BillingCompany, Collaborator, SendingProfile],
    access_point: FakeAccessPoint,
) -> None:
    company, _anne, _peppol = firm
    # An exempt invoice issued before its reason was required: BR-E-10 refuses its e-invoice.
    lines = [{"description": "Formation", "unit_price": "300.00", "vat_category": "E"}]
    invoice = make_invoice(
        company, peppol_client("C6"), lines=lines, vat_exemption_reason="Article 44"
    )
    Invoice.objects.filter(pk=invoice.pk).update(vat_exemption_reason="")

    out = send_invoices()

    assert "1 bloquée" in out and "BR-E-10" in out
    assert access_point.documents == []
    invoice.refresh_from_db()
    assert not invoice.ubl
    assert "BR-E-10" in {finding["rule_id"] for finding in invoice.ubl_findings}


def test_the_courtesy_copy_follows_a_delivered_e_invoice_once(
    firm: tuple[BillingCompany, Collaborator, SendingProfile],
    access_point: FakeAccessPoint,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    company, anne, _peppol = firm
    invoice = make_invoice(company, peppol_client("C7", peppol_courtesy_copy=True))
    invoice_send(invoice=invoice, by=anne)
    deliver()
    (document,) = access_point.documents
    assert smtp_server.messages == []  # no copy before the network delivered it
    access_point.advance(document.id)
    later = timezone.now() + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert statuses_poll(now=later) == 1
    row = OutboundMessage.objects.get(idempotency_key=peppol_key(invoice.pk))
    assert row.delivery_status == DeliveryStatus.DELIVERED
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    deliver()
    (copy,) = received(smtp_server)
    assert copy["Subject"].startswith("[Beleefdheidskopie] ")
    body = copy.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "via het Peppol-netwerk" in text
    assert OutboundMessage.objects.filter(purpose=PURPOSE_COURTESY).count() == 1
    # A second report of the same delivery sends no second copy.
    with django_capture_on_commit_callbacks(execute=True):
        statuses_poll(now=later + timedelta(hours=1))
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    deliver()
    assert len(smtp_server.messages) == 1


def test_one_invoice_sent_by_peppol_from_its_page_and_never_twice(
    firm: tuple[BillingCompany, Collaborator, SendingProfile],
    access_point: FakeAccessPoint,
) -> None:
    company, anne, _peppol = firm
    invoice = make_invoice(company, peppol_client("C8"))
    first = invoice_send(invoice=invoice, by=anne)
    assert invoice_send(invoice=invoice, by=anne).pk == first.pk
    deliver()
    deliver()
    assert len(access_point.documents) == 1


def test_without_access_point_a_peppol_client_gets_the_mail_and_a_warning(
    firm: tuple[BillingCompany, Collaborator, SendingProfile],
) -> None:
    company, anne, peppol = firm
    peppol.delete()
    invoice = make_invoice(company, peppol_client("C9"))
    assert invoice.register == Invoice.Register.EMAIL
    (check,) = invoice_presend_check(invoices=[invoice], by=anne)
    assert "no_access_point" in [r.code for r in check.warnings]


def test_the_peppol_register_lists_its_invoices_and_their_state(
    firm: tuple[BillingCompany, Collaborator, SendingProfile],
    client: Browser,
) -> None:
    company, anne, _peppol = firm
    invoice = make_invoice(company, peppol_client("C10"))
    client.force_login(anne)
    page = client.get(reverse("billing:peppol_register", args=[company.code])).content.decode()
    assert "Registre Peppol" in page
    assert invoice.display_number in page
    assert "non envoyée" in page


def test_peppol_send_refuses_a_draft_and_says_why() -> None:
    company = make_billing_company()
    draft = make_invoice(company, peppol_client("C11"), issue=False)
    with pytest.raises(ValidationError):
        invoice_send(invoice=draft, by=make_collaborator())


@pytest.mark.parametrize(
    ("delivery", "state"),
    [
        ("delivered", "delivered"),
        ("acknowledged", "delivered"),
        ("rejected", "bounced"),
        ("approved", "approved"),
        ("disputed", "disputed"),
        ("paid", "paid"),
    ],
)
def test_the_registers_name_each_peppol_status(delivery: str, state: str) -> None:
    assert mail_state("sent", delivery) == state
    assert state in MAIL_STATES
