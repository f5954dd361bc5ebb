"""The "Factures" tab of the client file: the client's invoices and credit notes, newest first,
with what the registers show of each (number, amount, register, the state of its latest mail),
a page at a time, for whoever may open the invoice pages, in a constant number of queries."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from courrier.billing.models import Invoice
from courrier.billing.services import credit_note_create, invoice_create, invoice_issue
from courrier.billing.views import PER_PAGE
from courrier.clients.models import Client as ClientRecord
from courrier.firm.models import BillingCompany, Collaborator
from courrier.firm.permissions import billing_grant
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_views import archived_mail
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
# The total of the factories' default lines (3 × 250 + 180 at 21 %, 2 × 24,95 at 6 %), in the
# firm's default format, whatever the interface language; a no-break space before the euro.
AMOUNT = "1.178,19\xa0€"


@pytest.fixture
def anne(client: Browser) -> Collaborator:
    """A logged-in collaborator, not an administrator: the invoice pages are hers too."""
    collaborator = make_collaborator()
    billing_grant(collaborator)  # the role Facturation
    client.force_login(collaborator)
    return collaborator


@pytest.fixture
def company() -> BillingCompany:
    return make_billing_company()


def tab_url(record: ClientRecord) -> str:
    return reverse("billing:client_invoices", args=[record.pk])


def text(response: Any) -> str:
    assert response.status_code == 200
    return response.content.decode()


def rows(page: str) -> list[int]:
    """The invoices of the tab's table, in the order shown."""
    return [int(pk) for pk in re.findall(r'<tr data-invoice="(\d+)">', page)]


def test_the_tab_lists_this_clients_invoices_with_what_the_registers_show(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    dupuis = make_invoice_client("C0100")
    other = make_invoice_client("C0200", name="Librairie Agora", emails=("agora@agora.test",))
    second = make_billing_company(
        "CONS", name="Conseils Demo", enterprise_number="0202.239.951", vat_number=""
    )
    march = make_invoice(company, dupuis, issue_date=datetime.date(2026, 3, 2))
    mail = archived_mail(march, status="sent", delivery_status="delivered")
    credit = invoice_issue(
        invoice=credit_note_create(invoice=march, by=anne, issue_date=datetime.date(2026, 3, 20)),
        by=anne,
    )
    april = make_invoice(second, dupuis, issue_date=datetime.date(2026, 4, 10))
    draft = make_invoice(company, dupuis, issue=False, issue_date=datetime.date(2026, 5, 4))
    theirs = make_invoice(company, other, issue_date=datetime.date(2026, 3, 25))

    page = text(client.get(tab_url(dupuis)))

    # This client's documents, newest first; never another client's.
    assert rows(page) == [draft.pk, april.pk, credit.pk, march.pk]
    assert theirs.pk not in rows(page) and theirs.display_number not in page
    assert "Librairie Agora" not in page

    march_row = page[page.index(f'<tr data-invoice="{march.pk}">') :]
    march_row = march_row[: march_row.index("</tr>")]
    for expected in (
        march.display_number,
        "facture",
        "02/03/2026",
        "01/04/2026",  # due 30 days later, the company's default
        AMOUNT,
        "Fiduciaire Demo",
        "registre e-mail",
        'data-mail-state="delivered"',
        "remise",
        f'href="{reverse("mailing:message_detail", args=[mail.pk])}"',
        reverse("billing:invoice", args=[march.pk]),
        reverse("billing:invoice_pdf", args=[march.pk]),
        reverse("billing:invoice_resend", args=[march.pk]),  # "@" as in the e-mail register
    ):
        assert expected in march_row, expected
    assert "note de crédit" in page and credit.display_number in page
    assert "Conseils Demo" in page and april.display_number in page
    # An issued invoice nobody mailed yet says so, like the register.
    april_row = page[page.index(f'<tr data-invoice="{april.pk}">') :]
    assert 'data-mail-state="unsent"' in april_row[: april_row.index("</tr>")]
    # A draft: no number, no register, no PDF, nothing to send.
    draft_row = page[page.index(f'<tr data-invoice="{draft.pk}">') :]
    draft_row = draft_row[: draft_row.index("</tr>")]
    assert "brouillon" in draft_row
    assert reverse("billing:invoice_pdf", args=[draft.pk]) not in draft_row
    assert reverse("billing:invoice_resend", args=[draft.pk]) not in draft_row


def test_the_mail_state_links_to_the_archived_mail(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    dupuis = make_invoice_client("C0100")
    invoice = make_invoice(company, dupuis)
    archived_mail(invoice, status="failed")
    latest = archived_mail(invoice, status="sent", delivery_status="bounced")

    page = text(client.get(tab_url(dupuis)))
    assert f'href="{reverse("mailing:message_detail", args=[latest.pk])}"' in page
    assert 'data-mail-state="bounced"' in page and "rejetée" in page
    assert 'data-mail-state="failed"' not in page  # only the latest mail counts


def test_a_paper_invoice_shows_its_register_and_no_mail(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    peeters = make_invoice_client("C0300", name="Bakkerij Peeters", by_email=False)
    invoice = make_invoice(company, peeters)
    page = text(client.get(tab_url(peeters)))
    assert invoice.register == Invoice.Register.PAPER
    assert "registre papier" in page and invoice.display_number in page
    assert "data-mail-state" not in page
    assert reverse("billing:invoice_resend", args=[invoice.pk]) not in page


def test_a_client_without_invoices_is_told_so(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    dupuis = make_invoice_client("C0100", billing_company=company)
    make_invoice(company, make_invoice_client("C0200", name="Librairie Agora"))

    page = text(client.get(tab_url(dupuis)))
    assert "Aucune facture pour ce client pour l'instant." in page
    assert rows(page) == [] and "<table" not in page
    # Its billing company is known: the first invoice is one click away, for this client.
    create = reverse("billing:invoice_create", args=[company.code])
    assert f'href="{create}?client={dupuis.pk}"' in page


def test_the_tab_is_selected_and_comes_with_the_file(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    dupuis = make_invoice_client("C0100")
    make_invoice(company, dupuis)
    fiche = text(client.get(reverse("clients:detail", args=[dupuis.pk])))
    assert f'href="{tab_url(dupuis)}"' in fiche and ">Factures</a>" in fiche

    # htmx swaps the whole tab block: the selected tab comes with the invoices.
    page = text(client.get(tab_url(dupuis), headers=HTMX))
    block = page[page.index('<div id="client-tabs"') :]
    selected = re.findall(r'<a role="tab"[^>]*aria-selected="true"[^>]*>([^<]+)</a>', block)
    assert selected == ["Factures"]
    assert 'id="client-invoices-panel"' in block


def test_an_unknown_client_is_a_404(client: Browser, anne: Collaborator) -> None:
    assert client.get(reverse("billing:client_invoices", args=[999])).status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "deactivated"])
def test_who_may_not_open_the_invoice_pages_gets_neither_the_tab_nor_its_page(
    client: Browser, company: BillingCompany, who: str
) -> None:
    """The tab follows the invoice pages' rule (every active, logged-in collaborator): whoever
    is sent to the login page by the registers is sent there by the tab, and by the file that
    would show it."""
    dupuis = make_invoice_client("C0100")
    invoice = make_invoice(company, dupuis)
    if who == "deactivated":
        client.force_login(make_collaborator("parti@fidu.be", is_active=False))
    for url in (
        reverse("billing:invoices", args=[company.code]),
        tab_url(dupuis),
        tab_url(dupuis) + "?page=2",
        reverse("clients:detail", args=[dupuis.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
        assert invoice.display_number not in response.content.decode()


def test_a_collaborator_opens_the_tab_as_she_opens_the_registers(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    assert not anne.is_firm_admin
    dupuis = make_invoice_client("C0100")
    invoice = make_invoice(company, dupuis)
    assert client.get(reverse("billing:invoices", args=[company.code])).status_code == 200
    assert invoice.display_number in text(client.get(tab_url(dupuis)))


def drafts(company: BillingCompany, record: ClientRecord, count: int) -> list[Invoice]:
    """`count` drafts a day apart, the newest last (drafts: no PDF to make, a fast setup)."""
    first = datetime.date(2025, 1, 1)
    return [
        invoice_create(
            billing_company=company,
            client=record,
            lines=[{"description": "Conseil", "unit_price": "50"}],
            by=None,
            issue_date=first + datetime.timedelta(days=day),
        )
        for day in range(count)
    ]


def test_pagination_at_the_boundary(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    dupuis = make_invoice_client("C0100")
    made = drafts(company, dupuis, PER_PAGE)
    newest_first = [invoice.pk for invoice in reversed(made)]

    # Exactly one page: all of it, and no page links.
    page = text(client.get(tab_url(dupuis)))
    assert rows(page) == newest_first
    assert f"1–{PER_PAGE} sur {PER_PAGE}" in page and 'rel="next"' not in page

    # One more: the oldest goes to page 2, alone.
    oldest = invoice_create(
        billing_company=company,
        client=dupuis,
        lines=[{"description": "Conseil", "unit_price": "50"}],
        by=None,
        issue_date=datetime.date(2024, 12, 31),
    )
    page = text(client.get(tab_url(dupuis)))
    assert rows(page) == newest_first
    assert f"1–{PER_PAGE} sur {PER_PAGE + 1}" in page
    assert 'href="?page=2" rel="next"' in page
    second = text(client.get(tab_url(dupuis), {"page": "2"}))
    assert rows(second) == [oldest.pk]
    assert f"{PER_PAGE + 1}–{PER_PAGE + 1} sur {PER_PAGE + 1}" in second
    # A page out of range or not a number is a valid page, not an error.
    assert rows(text(client.get(tab_url(dupuis), {"page": "99"}))) == [oldest.pk]
    assert rows(text(client.get(tab_url(dupuis), {"page": "x"}))) == newest_first


def add_invoices(
    companies: tuple[BillingCompany, BillingCompany], record: ClientRecord, start: int, stop: int
) -> None:
    """Invoices `start` to `stop` - 1, of every sort a row can show: issued by either company,
    mailed or not, now and then credited (the credit note issued) or left a draft."""
    for index in range(start, stop):
        invoice = make_invoice(companies[index % 2], record, issue=index % 5 != 4)
        if index % 3 == 0 and invoice.is_issued:
            archived_mail(invoice, status="sent", delivery_status="delivered")
        if index % 7 == 1:
            invoice_issue(invoice=credit_note_create(invoice=invoice, by=None), by=None)


def test_the_tab_reads_in_a_constant_number_of_queries(
    client: Browser,
    anne: Collaborator,
    company: BillingCompany,
    django_assert_num_queries: Any,
) -> None:
    second = make_billing_company(
        "CONS", name="Conseils Demo", enterprise_number="0202.239.951", vat_number=""
    )
    dupuis = make_invoice_client("C0100")
    add_invoices((company, second), dupuis, 0, 3)
    text(client.get(tab_url(dupuis)))  # the first page of a fresh database makes the firm's row
    with CaptureQueriesContext(connection) as three:
        page = text(client.get(tab_url(dupuis)))
    assert len(rows(page)) == 3 + 1  # and the credit note of the second

    add_invoices((company, second), dupuis, 3, 10)
    with django_assert_num_queries(len(three.captured_queries)):
        page = text(client.get(tab_url(dupuis)))
    assert len(rows(page)) == 10 + 2 == Invoice.objects.filter(client=dupuis).count()
    assert page.count('data-mail-state="delivered"') >= 2
    assert "Conseils Demo" in page and "Fiduciaire Demo" in page
