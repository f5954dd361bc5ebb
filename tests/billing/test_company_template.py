"""Each billing company may choose the mail that carries its invoices; without a choice, the
firm's invoice template serves. Chosen on the company's page, among the firm's and the shared
invoice templates only; a batch then writes each company's invoices with its own template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.billing.services.sending import invoice_batch_start, invoice_template
from courrier.firm.models import BillingCompany
from courrier.mailing.models import MailTemplate, MailTemplateVersion
from courrier.mailing.services import batch_compose
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_sending import deliver, make_invoice_template
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_admin, make_collaborator
from tests.firm.test_pages import company_data

pytestmark = pytest.mark.django_db


def consulting_template(**extra: Any) -> MailTemplate:
    template = MailTemplate.objects.create(
        name="Factures du bureau de conseil", context=MailTemplate.Context.INVOICE, **extra
    )
    for language, subject in (("fr", "Honoraires {NUMFACT}"), ("nl", "Erelonen {NUMFACT}")):
        MailTemplateVersion.objects.create(
            template=template, language=language, subject=subject, body="{FORMULE},"
        )
    return template


def test_the_company_page_offers_the_firms_and_shared_invoice_templates_only(
    client: Browser,
) -> None:
    firm = make_invoice_template()
    consulting = consulting_template()
    shared = consulting_template(owner=make_collaborator("marc@fidu.be"), shared=True)
    personal = consulting_template(owner=make_collaborator("eva@fidu.be"))
    about_clients = MailTemplate.objects.create(name="Relance client")
    company = make_billing_company(code="CONSEIL", enterprise_number="0403.170.701")
    client.force_login(make_admin())
    url = reverse("firm:company_edit", args=[company.pk])

    html = client.get(url).content.decode()
    assert "Modèle de mail des factures" in html
    assert "le modèle de factures du cabinet" in html
    for offered in (firm, consulting, shared):
        assert f'<option value="{offered.pk}"' in html
    for hidden in (personal, about_clients):
        assert f'<option value="{hidden.pk}"' not in html

    data = company_data(code="CONSEIL", enterprise_number="0403.170.701")
    response = client.post(url, {**data, "invoice_template": str(consulting.pk)})
    assert response.status_code == 302
    company.refresh_from_db()
    assert company.invoice_template == consulting

    # Someone's own template, posted by hand: refused in French, the choice kept.
    response = client.post(url, {**data, "invoice_template": str(personal.pk)})
    assert response.status_code == 200
    assert "Choisissez un modèle de mail des factures du cabinet ou partagé" in (
        response.content.decode().replace("&#x27;", "'")
    )
    company.refresh_from_db()
    assert company.invoice_template == consulting


def test_a_batch_writes_each_companys_invoices_with_its_template(
    smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]
) -> None:
    firm = make_invoice_template()
    consulting = consulting_template()
    accounting = make_billing_company(code="COMPTA")
    advice = make_billing_company(
        code="CONSEIL", enterprise_number="0403.170.701", invoice_template=consulting
    )
    for company in (accounting, advice):
        make_profile(server=smtp_server, billing_company=company, collaborator=None)
    anne = make_collaborator()
    counted = make_invoice(accounting, make_invoice_client("C1", emails=("c1@client.test",)))
    advised = make_invoice(
        advice, make_invoice_client("C2", language="nl", emails=("c2@client.test",))
    )

    for company in (accounting, advice):
        batch = invoice_batch_start(by=anne, billing_company=company, enqueue=False)
        batch_compose(batch_id=batch.pk)
    deliver()

    subjects = {m.rcpt_tos[0]: str(m.message["Subject"]) for m in smtp_server.messages}
    assert subjects["c2@client.test"] == f"Erelonen {advised.display_number}"
    assert subjects["c1@client.test"].startswith("facture ")
    assert counted.display_number in subjects["c1@client.test"]
    assert invoice_template(billing_company=accounting) == firm


def test_a_chosen_template_no_longer_shared_or_deleted_gives_way_to_the_firms() -> None:
    firm = make_invoice_template()
    marc = make_collaborator("marc@fidu.be")
    shared = consulting_template(owner=marc, shared=True)
    company = make_billing_company(invoice_template=shared)
    assert invoice_template(billing_company=company) == shared

    MailTemplate.objects.filter(pk=shared.pk).update(shared=False)
    assert invoice_template(billing_company=company) == firm

    shared.delete()
    company = BillingCompany.objects.get(pk=company.pk)
    assert company.invoice_template is None
    assert invoice_template(billing_company=company) == firm
