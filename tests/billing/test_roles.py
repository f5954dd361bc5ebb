"""The role Facturation: who issues an invoice (a legal number), deletes a draft and sends
invoices, on the pages and from `courrier send-invoices`; and how an administrator grants it."""

from __future__ import annotations

import re
from html import unescape
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client as Browser
from django.urls import reverse

from courrier.billing.models import Invoice
from courrier.firm.models import BillingCompany, Collaborator
from courrier.firm.permissions import BILLING_GROUP, billing_grant
from courrier.mailing.models import OutboundMessage
from tests.billing.factories import (
    issue_confirmed,
    make_billing_company,
    make_invoice,
    make_invoice_client,
)
from tests.billing.test_sending import setup  # noqa: F401  (the fixture)
from tests.firm.factories import make_admin, make_collaborator

pytestmark = pytest.mark.django_db


def text_of(response: Any) -> str:
    html = response.content.decode()
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def login(user: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


@pytest.fixture
def company() -> BillingCompany:
    return make_billing_company()


def test_a_collaborator_without_the_role_sees_no_button_and_is_refused(
    setup: tuple[BillingCompany, Collaborator],  # noqa: F811
) -> None:
    company, _anyone = setup
    draft = make_invoice(company, make_invoice_client(), issue=False)
    issued = make_invoice(company, make_invoice_client("C0200"))
    emma = make_collaborator("emma@fidu.be")
    browser = login(emma)

    page = browser.get(reverse("billing:invoice", args=[draft.pk])).content.decode()
    assert reverse("billing:invoice_issue", args=[draft.pk]) not in page
    assert reverse("billing:invoice_delete", args=[draft.pk]) not in page
    assert reverse("billing:invoice_edit", args=[draft.pk]) in page  # drafting stays open
    page = browser.get(reverse("billing:invoice", args=[issued.pk])).content.decode()
    assert reverse("billing:invoice_resend", args=[issued.pk]) not in page

    refused = browser.get(reverse("billing:invoice_issue", args=[draft.pk]))
    assert refused.status_code == 403
    assert "Émettre une facture (elle prend un numéro légal) est réservé" in text_of(refused)
    assert browser.post(reverse("billing:invoice_delete", args=[draft.pk])).status_code == 403
    assert browser.post(reverse("billing:invoice_resend", args=[issued.pk])).status_code == 403
    sent = browser.post(reverse("billing:email_send", args=[company.code]), {"scope": "unsent"})
    assert sent.status_code == 403 and "Envoyer des factures est réservé" in text_of(sent)
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.DRAFT and draft.number is None
    assert not OutboundMessage.objects.exists()

    # The check before a batch stays open; its send button is not offered.
    check = browser.post(reverse("billing:email_presend", args=[company.code]), {"scope": "unsent"})
    assert check.status_code == 200
    assert 'id="send-button"' not in check.content.decode()
    assert "Envoyer des factures est réservé" in text_of(check)


def test_the_role_and_an_administrator_issue_and_delete(company: BillingCompany) -> None:
    carla = make_collaborator("carla@fidu.be")
    billing_grant(carla)
    for who in (carla, make_admin()):
        draft = make_invoice(company, make_invoice_client(f"C{who.pk:04d}"), issue=False)
        browser = login(who)
        page = browser.get(reverse("billing:invoice", args=[draft.pk])).content.decode()
        assert reverse("billing:invoice_issue", args=[draft.pk]) in page
        assert reverse("billing:invoice_delete", args=[draft.pk]) in page
        issue_confirmed(browser, draft)
        draft.refresh_from_db()
        assert draft.status == Invoice.Status.ISSUED and draft.number is not None
        other = make_invoice(company, draft.client, issue=False)
        assert browser.post(reverse("billing:invoice_delete", args=[other.pk])).status_code == 302
        assert not Invoice.objects.filter(pk=other.pk).exists()


def test_an_administrator_grants_the_role_on_the_collaborators_page() -> None:
    admin = make_admin()
    emma = make_collaborator("emma@fidu.be")
    url = reverse("firm:collaborator_edit", args=[emma.pk])
    page = login(admin).get(url).content.decode()
    assert 'name="billing"' in page and "Facturation" in page
    fields = {
        "first_name": "Emma",
        "last_name": "Martin",
        "role": Collaborator.Role.COLLABORATOR,
        "language": "fr",
        "is_active": "on",
    }
    assert login(admin).post(url, {**fields, "billing": "on"}).status_code == 302
    emma = Collaborator.objects.get(pk=emma.pk)
    assert emma.has_perm("billing.issue_invoice") and emma.has_perm("billing.send_invoices")
    assert emma.has_perm("billing.delete_draft")
    ticked = re.compile(r'<input[^>]*name="billing"[^>]*checked')
    assert ticked.search(login(admin).get(url).content.decode())

    assert login(admin).post(url, fields).status_code == 302
    emma = Collaborator.objects.get(pk=emma.pk)
    assert not ticked.search(login(admin).get(url).content.decode())
    assert not emma.has_perm("billing.issue_invoice")
    assert not emma.groups.filter(name=BILLING_GROUP).exists()
    assert Group.objects.get(name=BILLING_GROUP).permissions.count() == 3


def test_the_command_sends_as_a_collaborator_only_with_the_role(
    setup: tuple[BillingCompany, Collaborator],  # noqa: F811
) -> None:
    company, _anyone = setup
    make_invoice(company, make_invoice_client())
    make_collaborator("emma@fidu.be")
    with pytest.raises(CommandError, match=r"emma@fidu\.be n'a pas le droit d'envoyer") as error:
        call_command("send_invoices", "--company", "FIDU", "--as", "emma@fidu.be")
    assert error.value.returncode == 2
    assert not OutboundMessage.objects.exists()
    # The dry run sends nothing: anyone may look.
    out = StringIO()
    call_command(
        "send_invoices", "--company", "FIDU", "--by", "emma@fidu.be", "--dry-run", stdout=out
    )
    assert "1 facture à envoyer" in out.getvalue()
