"""The invoice pages as the office uses them: the lists and registers with their filters, a
draft written, edited, issued, its PDF, a credit note, the paper register's print run."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from courrier.billing.models import Invoice
from courrier.billing.services.issue import invoice_create, invoice_issue
from courrier.clients.models import Client as ClientRecord
from courrier.clients.models import ClientEmail
from courrier.firm.models import BillingCompany, Collaborator
from courrier.firm.permissions import billing_grant
from courrier.mailing.models import OutboundMessage, SendingProfile
from tests.billing.factories import issue_confirmed
from tests.clients.factories import make_client
from tests.firm.factories import make_collaborator, make_company

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
DAY = datetime.date(2026, 3, 2)


@pytest.fixture
def anne(client: Browser) -> Collaborator:
    collaborator = make_collaborator()
    billing_grant(collaborator)  # she bills: the role Facturation
    client.force_login(collaborator)
    return collaborator


@pytest.fixture
def company() -> BillingCompany:
    return make_company(
        "FIDU",
        iban="BE71096123456769",
        bic="GKCCBEBB",
        street="Rue Haute 1",
        postal_code="5000",
        city="Namur",
    )


def email_client(number: str = "C0001", **extra: Any) -> ClientRecord:
    extra.setdefault("name", "Boulangerie Émile")
    extra.setdefault("language", "fr")
    record = make_client(number, emails=("compta@emile.test",), invoice_channel="email", **extra)
    return record


def paper_client(number: str = "C0002", **extra: Any) -> ClientRecord:
    extra.setdefault("name", "Bakkerij Peeters")
    return make_client(number, **extra)


def issued(
    company: BillingCompany,
    client: ClientRecord,
    *,
    by: Collaborator | None = None,
    day: datetime.date = DAY,
    price: str = "100.00",
    kind: str = Invoice.Kind.INVOICE,
) -> Invoice:
    draft = invoice_create(
        billing_company=company,
        client=client,
        kind=kind,
        issue_date=day,
        lines=[{"description": "Tenue de la comptabilité", "unit_price": price, "vat_rate": "21"}],
        by=by,
    )
    return invoice_issue(invoice=draft, by=by)


def draft_data(client: ClientRecord, *lines: tuple[str, str, str, str], **extra: str) -> dict:
    data = {
        "client": str(client.pk),
        "kind": "invoice",
        "issue_date": "2026-03-02",
        "due_date": "",
        "reference": "",
        "notes": "",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "200",
    }
    for index, (description, quantity, price, rate) in enumerate(lines):
        data[f"lines-{index}-description"] = description
        data[f"lines-{index}-quantity"] = quantity
        data[f"lines-{index}-unit_price"] = price
        data[f"lines-{index}-vat_rate"] = rate
    data.update(extra)
    return data


def text(response: Any) -> str:
    return response.content.decode()


# --- Lists and registers ----------------------------------------------------------------


def test_the_home_page_goes_to_the_only_company(
    client: Browser, anne: Collaborator, company
) -> None:
    response = client.get(reverse("billing:home"))
    assert response.status_code == 302
    assert response.url == reverse("billing:invoices", args=["FIDU"])


def test_the_home_page_lists_the_companies(client: Browser, anne: Collaborator, company) -> None:
    make_company("SECOND", name="Conseils Dubois", enterprise_number="0202.239.951")
    page = text(client.get(reverse("billing:home")))
    assert "Fiduciaire Dubois" in page and "Conseils Dubois" in page


def test_an_unknown_company_is_a_404(client: Browser, anne: Collaborator) -> None:
    response = client.get(reverse("billing:invoices", args=["NOPE"]))
    assert response.status_code == 404


def test_the_registers_hold_email_and_paper_invoices_apart(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    by_mail = issued(company, email_client())
    on_paper = issued(company, paper_client())
    # Flag set but no address: the paper register.
    no_address = issued(
        company, make_client("C0003", name="Garage Lenoir", language="fr", invoice_channel="email")
    )
    draft = invoice_create(
        billing_company=company,
        client=paper_client("C0004", name="Café Rivière"),
        lines=[{"description": "Conseil", "unit_price": "50"}],
        by=anne,
    )
    assert by_mail.register == "email" and on_paper.register == "paper"

    every = text(client.get(reverse("billing:invoices", args=["FIDU"])))
    for invoice in (by_mail, on_paper, no_address):
        assert invoice.display_number in every
    assert "Café Rivière" in every and "brouillon" in every

    email = text(client.get(reverse("billing:email_register", args=["FIDU"])))
    assert by_mail.display_number in email
    assert on_paper.display_number not in email and no_address.display_number not in email
    assert "Café Rivière" not in email
    assert 'data-mail-state="unsent"' in email and "non envoyée" in email

    paper = text(client.get(reverse("billing:paper_register", args=["FIDU"])))
    assert on_paper.display_number in paper and no_address.display_number in paper
    assert by_mail.display_number not in paper
    assert draft.pk  # drafts belong to no register


def archived_mail(invoice: Invoice, **state: str) -> OutboundMessage:
    """A mail of `invoice` in the outbox, in the given state, through its company's profile."""
    profile, _created = SendingProfile.objects.get_or_create(
        billing_company=invoice.billing_company,
        defaults={
            "method": SendingProfile.Method.SMTP,
            "smtp_host": "127.0.0.1",
            "from_address": "factures@fidu.test",
        },
    )
    return OutboundMessage.objects.create(
        profile=profile,
        client=invoice.client,
        context="invoice",
        object_id=invoice.pk,
        language="fr",
        message_id=f"<{invoice.pk}-{state['status']}@fidu.test>",
        subject="Facture",
        from_address="factures@fidu.test",
        **state,
    )


def test_register_filters_dates_client_and_mail_state(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    march = issued(company, email_client(), day=datetime.date(2026, 3, 2))
    april = issued(
        company, email_client("C0009", name="Librairie Agora"), day=datetime.date(2026, 4, 10)
    )
    url = reverse("billing:email_register", args=["FIDU"])

    page = text(client.get(url, {"date_from": "2026-04-01"}))
    assert april.display_number in page and march.display_number not in page
    page = text(client.get(url, {"date_to": "2026-03-31"}))
    assert march.display_number in page and april.display_number not in page
    page = text(client.get(url, {"q": "agora"}))
    assert april.display_number in page and march.display_number not in page

    archived_mail(march, status="sent", delivery_status="delivered")
    page = text(client.get(url, {"status": "unsent"}))
    assert april.display_number in page and march.display_number not in page
    page = text(client.get(url, {"status": "delivered"}))
    assert march.display_number in page and april.display_number not in page
    assert 'data-mail-state="delivered"' in page


def test_bad_filters_are_said_not_a_500(client: Browser, anne: Collaborator, company) -> None:
    issued(company, email_client())
    response = client.get(
        reverse("billing:email_register", args=["FIDU"]), {"date_from": "31/31/2026", "status": "x"}
    )
    assert response.status_code == 200
    assert "Saisissez une date valide." in text(response) or "date" in text(response)


def test_mail_states_shown_from_the_latest_message(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    from courrier.billing.selectors import mail_state

    assert mail_state(None, None) == "unsent"
    assert mail_state("queued", "") == "queued"
    assert mail_state("retry", "") == "queued"
    assert mail_state("sent", "") == "sent"
    assert mail_state("sent", "delivered") == "delivered"
    assert mail_state("sent", "bounced") == "bounced"
    assert mail_state("failed", "") == "failed"
    assert mail_state("uncertain", "") == "uncertain"
    assert mail_state("cancelled", "") == "cancelled"


def test_a_cancelled_mail_is_shown_as_such_not_as_unsent(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    """A batch leaves out an invoice whose mail was cancelled (only "@" sends it again): the
    register says "annulée", and the "not sent" filter does not offer it."""
    cancelled = issued(company, email_client())
    untouched = issued(company, email_client("C0009", name="Librairie Agora"))
    archived_mail(cancelled, status="cancelled")
    url = reverse("billing:email_register", args=["FIDU"])
    page = text(client.get(url, {"status": "unsent"}))
    assert untouched.display_number in page and cancelled.display_number not in page
    page = text(client.get(url, {"status": "cancelled"}))
    assert cancelled.display_number in page and untouched.display_number not in page
    assert 'data-mail-state="cancelled"' in page and "annulée" in page


# --- A draft: written, edited, issued ---------------------------------------------------


def test_write_a_draft_then_issue_it(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    record = email_client()
    url = reverse("billing:invoice_create", args=["FIDU"])
    page = text(client.get(url))
    assert "Nouvelle facture" in page and "Boulangerie Émile" in page

    response = client.post(
        url,
        draft_data(
            record,
            ("Tenue de la comptabilité", "3", "120.00", "21"),
            ("Livre de référence", "1", "40.00", "6"),
            reference="BC-7",
        ),
    )
    draft = Invoice.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "billing:invoice", args=[draft.pk]
    )
    assert draft.status == "draft" and draft.number is None
    assert draft.due_date == DAY + datetime.timedelta(days=company.invoice_due_days)
    assert [line.description for line in draft.lines.all()] == [
        "Tenue de la comptabilité",
        "Livre de référence",
    ]
    page = text(client.get(response.url))
    assert "Émettre la facture" in page
    # 360 + 75.60 at 21 %, 40 + 2.40 at 6 %
    assert "478,00" in page or "478.00" in page

    # A post that does not carry the confirmed number only shows what would happen.
    response = client.post(reverse("billing:invoice_issue", args=[draft.pk]))
    assert "Elle prendra le numéro" in text(response) and "2026/0001" in text(response)
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.number is None

    response = issue_confirmed(client, draft)
    draft.refresh_from_db()
    assert draft.status == "issued" and draft.display_number == "2026/0001"
    assert draft.register == "email" and draft.pdf
    page = text(response)
    assert "2026/0001" in page and "registre e-mail" in page
    assert "+++" in page
    assert "Pas encore envoyée" in page


def test_a_draft_with_bad_lines_keeps_what_was_typed(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    record = paper_client()
    response = client.post(
        reverse("billing:invoice_create", args=["FIDU"]),
        draft_data(record, ("Conseil fiscal", "2", "abc", "21"), due_date="2026-01-01"),
    )
    assert response.status_code == 200
    page = text(response)
    assert "Conseil fiscal" in page
    assert "L&#x27;échéance ne peut pas précéder la date de facture." in page
    assert not Invoice.objects.exists()

    response = client.post(reverse("billing:invoice_create", args=["FIDU"]), draft_data(record))
    assert "Ajoutez au moins une ligne à la facture." in text(response)
    assert not Invoice.objects.exists()


def test_edit_a_draft(client: Browser, anne: Collaborator, company: BillingCompany) -> None:
    record = paper_client()
    draft = invoice_create(
        billing_company=company,
        client=record,
        lines=[{"description": "Conseil", "unit_price": "50"}],
        by=anne,
    )
    url = reverse("billing:invoice_edit", args=[draft.pk])
    page = text(client.get(url))
    assert 'value="Conseil"' in page
    response = client.post(
        url,
        draft_data(
            record,
            ("Conseil", "2", "50.00", "21"),
            ("Déplacement", "1", "30", "21"),
            issue_date="2026-03-05",
            due_date="2026-04-30",
        ),
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.due_date == datetime.date(2026, 4, 30)
    assert draft.lines.count() == 2 and draft.total_incl_vat == Decimal("157.30")


def test_an_issued_invoice_is_not_edited(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    invoice = issued(company, paper_client())
    response = client.get(reverse("billing:invoice_edit", args=[invoice.pk]), follow=True)
    assert "Une facture émise ne se modifie plus" in text(response)
    response = client.post(reverse("billing:invoice_issue", args=[invoice.pk]), follow=True)
    assert "Cette facture est déjà émise." in text(response)
    invoice.refresh_from_db()
    assert invoice.number == 1


def test_lines_added_and_removed_with_htmx(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    record = paper_client()
    url = reverse("billing:invoice_lines", args=["FIDU"])
    data = draft_data(record, ("Conseil", "2", "50.00", "21"), ("Livre", "1", "10.00", "6"))
    page = text(client.post(url, {**data, "lines-action": "add"}, headers=HTMX))
    assert 'name="lines-TOTAL_FORMS" value="3"' in page
    assert 'value="Conseil"' in page and 'value="Livre"' in page
    assert 'name="lines-2-description"' in page
    assert "131,60" in page  # 100 + 21 at 21 %, 10 + 0.60 at 6 %

    page = text(client.post(url, {**data, "lines-action": "remove-0"}, headers=HTMX))
    assert 'name="lines-TOTAL_FORMS" value="1"' in page
    assert 'value="Conseil"' not in page and 'value="Livre"' in page
    assert not Invoice.objects.exists()


# --- One invoice --------------------------------------------------------------------------


def test_the_pdf_as_issued_download_and_inline(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    invoice = issued(company, paper_client())
    response = client.get(reverse("billing:invoice_pdf", args=[invoice.pk]))
    content = b"".join(response.streaming_content)
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    assert "Facture-2026-0001.pdf" in response["Content-Disposition"]
    invoice.pdf.open("rb")
    assert content == invoice.pdf.read()
    invoice.pdf.close()
    response = client.get(reverse("billing:invoice_pdf", args=[invoice.pk]), {"inline": "1"})
    assert response["Content-Disposition"].startswith("inline")


def test_a_draft_has_no_pdf(client: Browser, anne: Collaborator, company: BillingCompany) -> None:
    draft = invoice_create(
        billing_company=company,
        client=paper_client(),
        lines=[{"description": "X", "unit_price": "1"}],
        by=anne,
    )
    response = client.get(reverse("billing:invoice_pdf", args=[draft.pk]))
    assert response.status_code == 404


def test_credit_note_from_an_invoice(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    invoice = issued(company, paper_client())
    response = client.post(reverse("billing:credit_note_create", args=[invoice.pk]))
    note = Invoice.objects.get(kind="credit_note")
    assert response.url == reverse("billing:invoice_edit", args=[note.pk])
    assert note.credited_invoice == invoice and note.status == "draft"
    assert [line.description for line in note.lines.all()] == ["Tenue de la comptabilité"]
    page = text(client.get(response.url))
    assert "crédite la facture 2026/0001" in page

    issue_confirmed(client, note)
    note.refresh_from_db()
    assert note.display_number == "2026/0002"  # the same series
    page = text(client.get(reverse("billing:invoice", args=[invoice.pk])))
    assert "2026/0002" in page
    # A credit note is not credited again.
    response = client.post(reverse("billing:credit_note_create", args=[note.pk]), follow=True)
    assert "Seule une facture émise peut être créditée." in text(response)


def test_an_unknown_invoice_is_a_404(client: Browser, anne: Collaborator) -> None:
    assert client.get(reverse("billing:invoice", args=[999])).status_code == 404


# --- Paper register: one PDF to print ----------------------------------------------------


def test_paper_register_prints_the_chosen_invoices_in_one_pdf(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    first = issued(company, paper_client(), price="100.00")
    second = issued(company, paper_client("C0005", name="Garage Lenoir"), price="250.00")
    by_mail = issued(company, email_client())
    response = client.post(
        reverse("billing:paper_pdf", args=["FIDU"]),
        {"invoices": [str(second.pk), str(first.pk), str(by_mail.pk)]},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "FIDU-2026-0001-2026-0002.pdf" in response["Content-Disposition"]
    merged = PdfReader(io.BytesIO(response.content))
    pages = [len(PdfReader(io.BytesIO(inv.pdf.open("rb").read())).pages) for inv in (first, second)]
    assert len(merged.pages) == sum(pages)
    words = merged.pages[0].extract_text()
    assert "2026/0001" in words or "0001" in words
    # The e-mail register's invoice was left out.
    assert "Boulangerie" not in "".join(page.extract_text() for page in merged.pages)


def test_paper_register_with_nothing_ticked(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    response = client.post(reverse("billing:paper_pdf", args=["FIDU"]), {}, follow=True)
    assert "Cochez au moins une facture à imprimer." in text(response)
    response = client.post(
        reverse("billing:paper_pdf", args=["FIDU"]), {"invoices": ["abc"]}, follow=True
    )
    assert response.status_code == 200


def test_pages_need_a_login(client: Browser, company: BillingCompany) -> None:
    response = client.get(reverse("billing:invoices", args=["FIDU"]))
    assert (response.status_code == 302 and "login" in response.url) or "connexion" in response.url


def test_every_page_answers(client: Browser, anne: Collaborator, company: BillingCompany) -> None:
    invoice = issued(company, email_client())
    for url in (
        reverse("billing:invoices", args=["fidu"]),
        reverse("billing:email_register", args=["FIDU"]),
        reverse("billing:paper_register", args=["FIDU"]),
        reverse("billing:invoice_create", args=["FIDU"]),
        reverse("billing:invoice", args=[invoice.pk]),
    ):
        assert client.get(url).status_code == 200, url
    ClientEmail.objects.all().delete()


def test_a_draft_is_deleted_an_issued_invoice_is_not(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    record = paper_client()
    draft = invoice_create(
        billing_company=company,
        client=record,
        lines=[{"description": "Conseil", "unit_price": "50"}],
        by=anne,
    )
    assert "Supprimer le brouillon" in text(client.get(reverse("billing:invoice", args=[draft.pk])))
    response = client.post(reverse("billing:invoice_delete", args=[draft.pk]), follow=True)
    assert "Le brouillon a été supprimé." in text(response)
    assert not Invoice.objects.filter(pk=draft.pk).exists()

    invoice = issued(company, record)
    assert "Supprimer le brouillon" not in text(
        client.get(reverse("billing:invoice", args=[invoice.pk]))
    )
    response = client.post(reverse("billing:invoice_delete", args=[invoice.pk]), follow=True)
    assert "ne peut plus être modifiée" in text(response)
    assert Invoice.objects.filter(pk=invoice.pk).exists()


def test_register_queries_do_not_grow_with_its_rows(
    client: Browser,
    anne: Collaborator,
    company: BillingCompany,
    django_assert_max_num_queries: Any,
) -> None:
    url = reverse("billing:email_register", args=["FIDU"])
    for number in range(2):
        issued(company, email_client(f"C1{number}"))
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for number in range(6):
        issued(company, email_client(f"C2{number}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = text(client.get(url))
    assert page.count('data-mail-state="unsent"') == 8


@pytest.mark.parametrize("price", ["1e999999", "NaN", "12,5", "-Infinity", "9" * 40])
def test_lines_with_odd_figures_never_fail(
    client: Browser, anne: Collaborator, company: BillingCompany, price: str
) -> None:
    data = draft_data(paper_client(), ("Conseil", "2", price, "21"))
    response = client.post(
        reverse("billing:invoice_lines", args=["FIDU"]), {**data, "lines-action": "totals"}
    )
    assert response.status_code == 200
    response = client.post(reverse("billing:invoice_create", args=["FIDU"]), data)
    assert response.status_code == 200 and not Invoice.objects.exists()


def test_issuing_asks_for_confirmation_and_says_the_number_it_takes(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    issued(company, paper_client("C0009"))  # 2026/0001 is taken
    draft = invoice_create(
        billing_company=company,
        client=email_client(),
        issue_date=DAY,
        lines=[{"description": "Conseil", "unit_price": "100.00"}],
        by=anne,
    )
    # The draft's page leads to the confirmation; it issues nothing by itself.
    page = text(client.get(reverse("billing:invoice", args=[draft.pk])))
    confirm_url = reverse("billing:invoice_issue", args=[draft.pk])
    assert f'href="{confirm_url}"' in page
    for response in (client.get(confirm_url), client.post(confirm_url)):
        shown = " ".join(text(response).replace("&#x27;", "'").split())
        assert response.status_code == 200
        assert "Émettre la facture ?" in shown
        assert "Elle prendra le numéro <strong" in shown and ">2026/0002</strong>" in shown
        assert "registre e-mail" in shown and "C'est irréversible." in shown
        assert "se corrige ensuite par une note de crédit" in shown
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.number is None

    # Someone else issues meanwhile: the confirmed 2026/0002 is gone, nothing is issued and
    # the new number is asked for.
    issued(company, paper_client("C0010"))
    response = client.post(confirm_url, {"confirm": "1", "year": "2026", "number": "2"})
    shown = text(response)
    assert response.status_code == 409
    assert "a pris le numéro 2026/0002 entre-temps" in shown and ">2026/0003</strong>" in shown
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert Invoice.objects.filter(status="issued").count() == 2

    response = client.post(confirm_url, {"confirm": "1", "year": "2026", "number": "3"})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.display_number == "2026/0003"
    # Numbers stay without a gap: the refused attempt took none.
    numbers = sorted(Invoice.objects.filter(status="issued").values_list("number", flat=True))
    assert numbers == [1, 2, 3]
