"""The invoice context: its fields in French and Dutch, its resolver, and a mail about an
invoice that arrives with the PDF as issued, at the invoice addresses, from the company."""

from __future__ import annotations

from datetime import date
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest

from courrier.billing.fields import INVOICE_FIELDS, invoice_values
from courrier.billing.models import Invoice
from courrier.billing.services import (
    credit_note_create,
    invoice_context,
    invoice_issue,
    invoice_pdf_bytes,
)
from courrier.mailing import contexts
from courrier.mailing.fields import CONTEXT_FIELDS, fields_for
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import Draft, message_compose, message_preview, messages_deliver
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db


def test_the_invoice_catalogue_is_registered_with_the_client_fields() -> None:
    codes = [field.code for field in fields_for("invoice")]
    assert codes[: len(CONTEXT_FIELDS["client"])] == [f.code for f in CONTEXT_FIELDS["client"]]
    for code in ("NUMFACT", "DATEFACT", "TYPEDOC", "MONTANT", "ECHEANCE", "COMMUNICATION"):
        assert code in codes
    assert "NOMCLIENT" in codes and "SOCIETEFACTURANTE" in codes
    assert len(codes) == len(set(codes))
    assert "invoice" in contexts.registered()
    assert {field.code for field in INVOICE_FIELDS} <= set(codes)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "fr",
            {
                "NUMFACT": "2026/0001",
                "DATEFACT": "14/03/2026",
                "TYPEDOC": "facture",
                "MONTANT": "1.178,19 €",
                "MONTANTHTVA": "979,90 €",
                "MONTANTTVA": "198,29 €",
                "ECHEANCE": "13/04/2026",
                "IBAN": "BE18 0010 1338 4965",
                "BIC": "GEBABEBB",
                "REFERENCE": "PO-77",
            },
        ),
        (
            "nl",
            {
                "NUMFACT": "2026/0001",
                "DATEFACT": "14/03/2026",
                "TYPEDOC": "factuur",
                "MONTANT": "1.178,19 €",
                "MONTANTHTVA": "979,90 €",
                "MONTANTTVA": "198,29 €",
                "ECHEANCE": "13/04/2026",
            },
        ),
        ("de", {"DATEFACT": "14.03.2026", "TYPEDOC": "Rechnung", "MONTANT": "1.178,19 €"}),
        ("en", {"TYPEDOC": "invoice", "ECHEANCE": "13/04/2026"}),
    ],
)
def test_fields_in_the_recipient_language(language: str, expected: dict[str, str]) -> None:
    company = make_billing_company()
    invoice = make_invoice(company, make_invoice_client(language=language), reference="PO-77")
    values = {
        code: value.replace("\u202f", " ").replace("\xa0", " ")
        for code, value in invoice_values(invoice, language).items()
    }
    assert {code: values[code] for code in expected} == expected
    digits = invoice.structured_communication
    assert values["COMMUNICATION"] == f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


@pytest.mark.parametrize(
    ("language", "word"),
    [("fr", "note de crédit"), ("nl", "creditnota"), ("de", "Gutschrift"), ("en", "credit note")],
)
def test_typedoc_of_a_credit_note(language: str, word: str) -> None:
    company = make_billing_company()
    invoice = make_invoice(company, make_invoice_client(language=language))
    note = invoice_issue(invoice=credit_note_create(invoice=invoice, by=None), by=None)
    assert invoice_values(note, language)["TYPEDOC"] == word


def test_the_resolver_gives_issued_invoices_in_the_order_asked() -> None:
    company = make_billing_company()
    client = make_invoice_client(language="nl")
    first = make_invoice(company, client)
    second = make_invoice(company, client)
    draft = make_invoice(company, client, issue=False)
    found = contexts.resolve("invoice", [second.pk, draft.pk, 999_999, first.pk])
    assert [context.object_id for context in found] == [second.pk, first.pk]
    context = found[0]
    assert context.name == "invoice"
    assert str(context.label) == "Facture 2026/0002"
    assert context.billing_company == company
    assert context.language == "nl"
    assert context.addresses == contexts.Addresses.INVOICES
    [attachment] = context.attachments
    assert attachment.name == "Factuur-2026-0002.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.content == invoice_pdf_bytes(second)
    assert attachment.size == len(attachment.content)


def _company_profile(company: Any, server: FakeSMTPServer) -> SendingProfile:
    return SendingProfile.objects.create(
        billing_company=company,
        method=SendingProfile.Method.SMTP,
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security=server.security,
        from_name="Fiduciaire Demo",
        from_address="factures@fidu.test",
    )


def test_preview_renders_the_invoice_fields_in_dutch() -> None:
    company = make_billing_company()
    client = make_invoice_client(language="nl", name="Bakkerij Peeters", legal_form="BV")
    invoice = make_invoice(company, client)
    SendingProfile.objects.create(
        billing_company=company,
        smtp_host="127.0.0.1",
        smtp_port=2525,
        from_name="Fidu",
        from_address="factures@fidu.test",
    )
    preview = message_preview(
        sender=make_collaborator(),
        client=client,
        context=invoice_context(invoice),
        draft=Draft(
            subject="{TYPEDOC} {NUMFACT}",
            body="{NOMCLIENT}: {MONTANT} vóór {ECHEANCE}, mededeling {COMMUNICATION}.",
        ),
    )
    assert preview.rendered.subject == "factuur 2026/0001"
    text = preview.rendered.text.replace("\xa0", " ")
    assert "Bakkerij Peeters BV: 1.178,19 € vóór 13/04/2026" in text
    assert "+++260" in text


def test_a_mail_about_an_invoice_arrives_with_the_pdf_as_issued(
    smtp_server: FakeSMTPServer, django_capture_on_commit_callbacks: Any
) -> None:
    company = make_billing_company()
    profile = _company_profile(company, smtp_server)
    client = make_invoice_client(
        language="fr", emails=("info@dupuis.test",), invoice_emails=("compta@dupuis.test",)
    )
    invoice = make_invoice(company, client, issue_date=date(2026, 3, 14))
    assert invoice.register == Invoice.Register.EMAIL
    with django_capture_on_commit_callbacks(execute=True):
        message = message_compose(
            sender=make_collaborator(),
            client=client,
            context=invoice_context(invoice),
            purpose="invoice",
            idempotency_key=f"invoice:{invoice.pk}:email",
            draft=Draft(
                subject="Votre {TYPEDOC} {NUMFACT} du {DATEFACT}", body="Montant : {MONTANT}"
            ),
        )
    assert (message.context, message.object_id) == ("invoice", invoice.pk)
    assert message.profile_id == profile.pk
    assert messages_deliver(profile_id=profile.pk).sent == 1
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["compta@dupuis.test"]
    mail = BytesParser(policy=policy.default).parsebytes(received.data)
    assert mail["Subject"] == "Votre facture 2026/0001 du 14/03/2026"
    assert "factures@fidu.test" in mail["From"]
    [pdf] = [part for part in mail.iter_attachments()]
    assert pdf.get_filename() == "Facture-2026-0001.pdf"
    assert pdf.get_content() == invoice_pdf_bytes(invoice)
    assert OutboundMessage.objects.filter(context="invoice", object_id=invoice.pk).count() == 1
