"""Invoice mails are signed by their billing company, in the invoice's language, whoever
clicked: read in the bytes that reached the SMTP server, for every way an invoice mail leaves
(a batch, "@", sending on issue, a mail about the invoice from the compose window)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from courrier.billing.fields import invoice_context
from courrier.billing.services.sending import (
    invoice_batch_start,
    invoice_issued,
    invoice_presend_check,
    invoice_resend,
)
from courrier.demo.seed import demo_seed
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import MailTemplate, MailTemplateVersion, OutboundMessage
from courrier.mailing.services import Draft, batch_compose, message_compose, messages_deliver
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.fakes.smtp import FakeSMTPServer, Received
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db

BOEK_NL = "Het team van Boekhouding Demo BV\nFrankrijklei 120, 2000 Antwerpen\nTel. +32 3 555 20 00"
BOEK_FR = "L'équipe de Boekhouding Demo BV\nFrankrijklei 120, 2000 Anvers\nTél. +32 3 555 20 00"
SOPHIE_FR = "Sophie Dubois\nExpert-comptable\nFiduciaire Demo\nTél. +32 2 555 10 21"
SOPHIE_NL = "Sophie Dubois\nAccountant\nFiduciaire Demo\nTel. +32 2 555 10 21"


@pytest.fixture
def boek(smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]) -> BillingCompany:
    """The firm's second billing company, with its own Dutch and French invoice mail."""
    make_billing_company("FIDU")
    company = make_billing_company(
        "BOEK",
        name="Boekhouding Demo",
        legal_form="BV",
        enterprise_number="0663.412.791",
        vat_number="BE0663412791",
        email="facturen@boekhouding-demo.test",
        signature_nl=BOEK_NL,
        signature_fr=BOEK_FR,
    )
    make_profile(
        server=smtp_server,
        billing_company=company,
        collaborator=None,
        from_address="facturen@boekhouding-demo.test",
    )
    template = MailTemplate.objects.create(
        name="Facturen Boekhouding", context=MailTemplate.Context.INVOICE, shared=True
    )
    for language, subject, body in (
        ("nl", "{TYPEDOC} {NUMFACT}", "Beste,\n\nIn bijlage onze {TYPEDOC}.\n\nMet groeten,"),
        ("fr", "{TYPEDOC} {NUMFACT}", "Bonjour,\n\nVoici notre {TYPEDOC}.\n\nBien à vous,"),
        ("de", "{TYPEDOC} {NUMFACT}", "Guten Tag,\n\nanbei unsere {TYPEDOC}.\n\nMit Grüßen"),
    ):
        MailTemplateVersion.objects.create(
            template=template, language=language, subject=subject, body=body
        )
    company.invoice_template = template
    company.save()
    return company


@pytest.fixture
def sophie(smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]) -> Collaborator:
    """The collaborator who clicks, with a personal signature of her own."""
    sophie = make_collaborator(
        "sophie@fidu.test",
        first_name="Sophie",
        last_name="Dubois",
        signature_fr=SOPHIE_FR,
        signature_nl=SOPHIE_NL,
    )
    make_profile(server=smtp_server, collaborator=sophie)
    return sophie


def plain(received: Received) -> str:
    return received.part("text/plain").replace("\r\n", "\n")


def deliver_all() -> None:
    for profile_id in set(OutboundMessage.objects.values_list("profile_id", flat=True)):
        messages_deliver(profile_id=profile_id)


def test_every_dutch_invoice_mail_ends_with_the_companys_dutch_signature(
    boek: BillingCompany,
    sophie: Collaborator,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    peeters = make_invoice_client("C1", language="nl", name="Bakkerij Peeters")
    invoice = make_invoice(boek, peeters)
    boek.send_invoices_on_issue = True
    boek.save()
    issued = make_invoice(boek, make_invoice_client("C2", language="nl", name="Brouwerij Wouters"))

    with django_capture_on_commit_callbacks(execute=True):
        batch = invoice_batch_start(by=sophie, invoices=[invoice], enqueue=False)
        batch_compose(batch_id=batch.pk)
        invoice_resend(invoice=invoice, by=sophie)
        message_compose(
            sender=sophie,
            client=peeters,
            context=invoice_context(invoice),
            draft=Draft(
                subject="Uw {TYPEDOC} {NUMFACT}", body="Beste,\n\nHierbij nogmaals uw {TYPEDOC}."
            ),
        )
        assert invoice_issued(invoice=issued, by=sophie)
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    deliver_all()

    mails = smtp_server.wait_for(4)
    assert len(mails) == 4
    for received in mails:
        assert received.mail_from == "facturen@boekhouding-demo.test"
        text = plain(received)
        assert text.endswith("\n\n-- \n" + BOEK_NL + "\n"), text
        assert "Sophie" not in text and "Expert-comptable" not in text
        assert "Accountant" not in text and "L'équipe" not in text
        html = received.part("text/html")
        assert "Het team van Boekhouding Demo BV" in html and "Sophie" not in html


def test_a_language_the_company_has_not_written_goes_unsigned_and_the_check_says_so(
    boek: BillingCompany, sophie: Collaborator, smtp_server: FakeSMTPServer
) -> None:
    german = make_invoice(boek, make_invoice_client("C1", language="de", name="Bäckerei Kessler"))
    # Not yet due: its check has nothing else to say.
    french = make_invoice(
        boek, make_invoice_client("C2", language="fr"), issue_date=timezone.localdate()
    )

    checks = {c.about.pk: c for c in invoice_presend_check(invoices=[german, french], by=sophie)}

    [unsigned] = [r for r in checks[german.pk].warnings if r.code == "no_signature"]
    assert unsigned.message == (
        "Ce mail part sans signature : Boekhouding Demo BV n'a pas de signature en allemand "
        "(jamais de signature dans une autre langue). Ajoutez-la sur la page de la société "
        "facturante."
    )
    assert checks[german.pk].ok
    assert [r.code for r in checks[french.pk].warnings] == []

    invoice_resend(invoice=german, by=sophie)
    deliver_all()
    text = plain(smtp_server.wait_for(1)[0])
    assert text == "Guten Tag,\n\nanbei unsere Rechnung.\n\nMit Grüßen\n"


def test_a_company_without_any_signature_signs_nothing_and_warns_of_nothing(
    boek: BillingCompany, sophie: Collaborator, smtp_server: FakeSMTPServer
) -> None:
    boek.signature_nl = boek.signature_fr = ""
    boek.save()
    invoice = make_invoice(
        boek, make_invoice_client("C1", language="nl"), issue_date=timezone.localdate()
    )

    [check] = invoice_presend_check(invoices=[invoice], by=sophie)
    invoice_resend(invoice=invoice, by=sophie)
    deliver_all()

    assert check.warnings == []
    text = plain(smtp_server.wait_for(1)[0])
    assert text.endswith("Met groeten,\n") and "Sophie" not in text


def test_the_demo_bookkeeping_company_signs_its_dutch_invoices_not_sophie(
    smtp_server: FakeSMTPServer,
) -> None:
    demo_seed(smtp_port=smtp_server.port)
    sophie = Collaborator.objects.get(first_name="Sophie")
    boek = BillingCompany.objects.get(code="BOEK")
    [invoice, *_others] = boek.invoices.filter(
        language="nl", status="issued", register="email", kind="invoice"
    ).order_by("number")

    batch = invoice_batch_start(by=sophie, invoices=[invoice], enqueue=False)
    batch_compose(batch_id=batch.pk)
    deliver_all()

    text = plain(smtp_server.wait_for(1)[0])
    assert text.endswith(
        "\n\n-- \nHet team van Boekhouding Demo BV\nFrankrijklei 120, 2000 Antwerpen\n"
        "Tel. +32 3 555 20 00 – facturen@boekhouding-demo.example\nBtw BE 0663.412.791\n"
    )
    assert "Sophie Dubois" not in text and "Expert-comptable" not in text
    # In every language of the demo, the company has a signature of its own.
    for company in BillingCompany.objects.all():
        assert company.signature_languages == ["fr", "nl", "de", "en"]
