"""Credit notes are not invoices: the mail that reaches the client asks for no payment and
names the invoice it corrects; a company chooses its credit-note mail as it chooses its
invoice mail; the pre-send check and "@" refuse a credit note whose template asks for
payment; lists count a credit note as a credit; its PDF carries what an accountant needs."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone, translation

from courrier.billing.demo import (
    BOEK_CREDIT_NOTE_TEMPLATE,
    CREDIT_NOTE_TEMPLATE,
    INVOICE_TEMPLATE,
    seed_mail_templates,
)
from courrier.billing.models import Invoice
from courrier.billing.services import credit_note_create, invoice_issue, invoice_pdf_bytes
from courrier.billing.services.payment_terms import payment_asks
from courrier.billing.services.sending import (
    credit_note_template,
    invoice_batch_start,
    invoice_presend_check,
    mail_template_for,
)
from courrier.demo.seed import demo_seed
from courrier.firm.models import BillingCompany, Collaborator
from courrier.firm.permissions import billing_grant
from courrier.mailing.models import MailTemplate, MailTemplateVersion, OutboundMessage
from courrier.mailing.rendering import check_fields
from courrier.mailing.services import batch_compose
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_pdf import pdf_text
from tests.billing.test_sending import deliver
from tests.fakes.smtp import FakeSMTPServer, Received
from tests.firm.factories import make_admin, make_collaborator
from tests.firm.test_pages import company_data

pytestmark = pytest.mark.django_db

# What asks a client for money, as it would read in the mail: a structured communication, the
# company's account, a due date, and the phrases of the invoice mails.
STRUCTURED = re.compile(r"\+\+\+\d{3}/\d{4}/\d{5}\+\+\+")


def credit_note_of(invoice: Invoice, *, by: Collaborator | None = None) -> Invoice:
    return invoice_issue(invoice=credit_note_create(invoice=invoice, by=by), by=by)


def bodies(received: Received) -> str:
    return f"{received.message['Subject']}\n{received.part('text/plain')}"


def asks_for_money(text: str, company: BillingCompany, due: date) -> list[str]:
    """Everything in a mail that would ask its reader to pay."""
    found = [*payment_asks(text).phrases]
    if STRUCTURED.search(text):
        found.append("structured communication")
    if company.iban in text or company.iban.replace(" ", "") in text:
        found.append("IBAN")
    for shown in (due.strftime("%d/%m/%Y"), due.strftime("%d.%m.%Y")):
        if shown in text:
            found.append(f"due date {shown}")
    return found


@pytest.fixture
def fidu(smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]) -> BillingCompany:
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    seed_mail_templates(companies={"FIDU": company})
    return company


def test_the_credit_note_mail_that_arrives_asks_for_no_payment_and_names_the_invoice(
    fidu: BillingCompany, smtp_server: FakeSMTPServer
) -> None:
    anne = make_collaborator()
    made: dict[str, tuple[Invoice, Invoice]] = {}
    for number, language in (("C1", "fr"), ("C2", "nl"), ("C3", "de")):
        client = make_invoice_client(number, language=language, emails=(f"{language}@client.test",))
        invoice = make_invoice(fidu, client, issue_date=date(2026, 3, 2))
        made[language] = (invoice, credit_note_of(invoice, by=anne))
    everything = [invoice for pair in made.values() for invoice in pair]

    batch = invoice_batch_start(by=anne, invoices=everything, enqueue=False)
    assert batch.blocked == {}
    batch_compose(batch_id=batch.pk)
    deliver()

    arrived = {received.rcpt_tos[0]: [] for received in smtp_server.messages}
    for received in smtp_server.messages:
        arrived[received.rcpt_tos[0]].append(received)
    for language, (invoice, note) in made.items():
        mails = arrived[f"{language}@client.test"]
        assert len(mails) == 2
        by_kind = {
            "credit": next(m for m in mails if note.display_number in str(m.message["Subject"])),
            "invoice": next(
                m for m in mails if invoice.display_number in str(m.message["Subject"])
            ),
        }
        credit_text = bodies(by_kind["credit"])
        assert asks_for_money(credit_text, fidu, note.due_date) == []
        assert asks_for_money(credit_text, fidu, invoice.due_date) == []
        # It names the invoice it corrects, with its date in the mail's language.
        shown_date = "02.03.2026" if language == "de" else "02/03/2026"
        assert invoice.display_number in credit_text and shown_date in credit_text
        word = {"fr": "note de crédit", "nl": "creditnota", "de": "Gutschrift"}[language]
        assert word in credit_text
        # The invoice's own mail still asks for payment: the same check sees it there.
        assert asks_for_money(bodies(by_kind["invoice"]), fidu, invoice.due_date)


def test_a_template_that_asks_for_payment_blocks_a_credit_note_in_the_check_and_at(
    fidu: BillingCompany, client: Browser, smtp_server: FakeSMTPServer
) -> None:
    """The firm's credit-note template rewritten to ask for payment: the check blocks the
    credit note (naming what asks), and "@" refuses to send it; nothing leaves."""
    anne = make_collaborator()
    billing_grant(anne)  # the role Facturation
    client.force_login(anne)
    invoice = make_invoice(fidu, make_invoice_client("C1"), issue_date=timezone.localdate())
    note = credit_note_of(invoice)
    template = credit_note_template(billing_company=fidu)
    assert template is not None
    MailTemplateVersion.objects.filter(template=template, language="fr").update(
        body="{FORMULE},\n\nMerci de la régler avant le {ECHEANCE} avec {COMMUNICATION}."
    )

    page = client.post(
        reverse("billing:email_presend", args=["FIDU"]),
        {"scope": "selection", "invoices": [str(invoice.pk), str(note.pk)]},
    )
    html = unescape(page.content.decode())
    blocked = html[html.index('id="presend-blocked"') :]
    blocked = blocked[: blocked.index("</ul>")]
    assert f'data-invoice="{note.pk}"' in blocked
    assert f'data-invoice="{invoice.pk}"' not in blocked
    assert "une note de crédit ne se paie pas" in blocked
    assert "{ECHEANCE}" in blocked and "{COMMUNICATION}" in blocked
    assert "« Merci de la régler »" in blocked
    assert "1 facture sera envoyée" in html

    response = client.post(reverse("billing:invoice_resend", args=[note.pk]), follow=True)
    assert "une note de crédit ne se paie pas" in unescape(response.content.decode())
    assert not OutboundMessage.objects.filter(object_id=note.pk).exists()
    deliver()
    assert smtp_server.messages == []


def test_without_a_credit_note_template_the_invoice_template_is_never_used(
    smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]
) -> None:
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    seed_mail_templates(companies={})
    MailTemplate.objects.filter(context=MailTemplate.Context.CREDIT_NOTE).delete()
    invoice = make_invoice(company, make_invoice_client("C1"), issue_date=timezone.localdate())
    note = credit_note_of(invoice)
    assert mail_template_for(invoice=note) is None
    assert mail_template_for(invoice=invoice) is not None

    (check,) = invoice_presend_check(invoices=[note], by=make_collaborator())
    assert [reason.code for reason in check.blockers] == ["no_template"]
    assert "notes de crédit" in str(check.blockers[0].message)


def test_each_company_chooses_its_credit_note_mail_with_the_same_fallbacks(
    client: Browser,
) -> None:
    seed_mail_templates(companies={})
    firm = MailTemplate.objects.get(name=CREDIT_NOTE_TEMPLATE)
    own = MailTemplate.objects.create(
        name="Notes de crédit du conseil", context=MailTemplate.Context.CREDIT_NOTE
    )
    personal = MailTemplate.objects.create(
        name="Mes notes",
        context=MailTemplate.Context.CREDIT_NOTE,
        owner=make_collaborator("eva@fidu.be"),
    )
    invoices = MailTemplate.objects.get(name=INVOICE_TEMPLATE)
    company = make_billing_company(code="CONSEIL", enterprise_number="0403.170.701")
    client.force_login(make_admin())
    url = reverse("firm:company_edit", args=[company.pk])

    html = unescape(client.get(url).content.decode())
    start = html.index('name="credit_note_template"')
    select = html[start : html.index("</select>", start)]
    assert "le modèle de notes de crédit du cabinet" in select
    assert f'value="{firm.pk}"' in select and f'value="{own.pk}"' in select
    assert f'value="{personal.pk}"' not in select and f'value="{invoices.pk}"' not in select

    data = company_data(code="CONSEIL", enterprise_number="0403.170.701")
    assert client.post(url, {**data, "credit_note_template": str(own.pk)}).status_code == 302
    company.refresh_from_db()
    assert credit_note_template(billing_company=company) == own
    # An invoice template posted by hand is refused: it asks for payment.
    response = client.post(url, {**data, "credit_note_template": str(invoices.pk)})
    assert "Choisissez un modèle de mail des notes de crédit" in unescape(response.content.decode())
    # Deleted: the firm's again, never the invoice template.
    own.delete()
    company = BillingCompany.objects.get(pk=company.pk)
    assert credit_note_template(billing_company=company) == firm


def _amount_cell(html: str, invoice: Invoice) -> str:
    row = html[html.index(f'data-invoice="{invoice.pk}"') :]
    row = row[: row.index("</tr>")]
    cells = re.findall(r'<td class="num[^"]*">(.*?)</td>', row, re.S)
    assert len(cells) == 1, row
    return unescape(cells[0]).replace("\u202f", " ").replace("\xa0", " ").strip()


def test_lists_show_a_credit_note_as_a_negative_amount(client: Browser) -> None:
    company = make_billing_company()
    paper = make_invoice_client("C1", by_email=False, emails=())
    mailed = make_invoice_client("C2")
    on_paper = make_invoice(company, paper)
    by_mail = make_invoice(company, mailed)
    paper_note, mail_note = credit_note_of(on_paper), credit_note_of(by_mail)
    biller = make_collaborator()
    billing_grant(biller)  # the role Facturation
    client.force_login(biller)
    assert on_paper.total_incl_vat == by_mail.total_incl_vat == Decimal("1178.19")

    pages = {
        "paper": (reverse("billing:paper_register", args=["FIDU"]), paper_note, on_paper),
        "email": (reverse("billing:email_register", args=["FIDU"]), mail_note, by_mail),
        "all": (reverse("billing:invoices", args=["FIDU"]), paper_note, on_paper),
        "tab": (reverse("billing:client_invoices", args=[paper.pk]), paper_note, on_paper),
    }
    for url, note, invoice in pages.values():
        html = client.get(url).content.decode()
        shown = _amount_cell(html, note)
        # Whatever the thousands separator: the amount is the credit note's, negative.
        assert re.fullmatch(r"-1[ .]?178,19 ?€", shown), shown
        assert not _amount_cell(html, invoice).startswith("-")


def test_the_credit_note_pdf_speaks_as_an_accountant_expects() -> None:
    company = make_billing_company()
    invoice = make_invoice(company, make_invoice_client(language="fr"))
    note = credit_note_of(invoice)
    text = pdf_text(invoice_pdf_bytes(note)).replace("\u202f", " ").replace("\xa0", " ")
    assert "NOTE DE CRÉDIT" in text
    assert "Crédite la facture" in text and "2026/0001 (14/03/2026)" in text
    assert "Total crédité" in text and "Total à payer" not in text
    assert "Échéance" not in text and "+++" not in text
    # The VAT it carries goes back to the State for a client who deducted it.
    assert "TVA à reverser à l'État dans la mesure où elle a été initialement déduite" in (
        " ".join(text.split())
    )
    assert re.search(r"1[ .]?178,19", text)  # the amount credited, as the invoice printed it


def test_the_demo_sends_right_credit_notes_for_both_companies(
    smtp_server: FakeSMTPServer,
) -> None:
    demo_seed(smtp_port=smtp_server.port)
    by = Collaborator.objects.order_by("pk").first()
    assert by is not None
    fidu = BillingCompany.objects.get(code="FIDU")
    boek = BillingCompany.objects.get(code="BOEK")
    firm_note = credit_note_template(billing_company=fidu)
    boek_note = credit_note_template(billing_company=boek)
    assert firm_note is not None and firm_note.name == CREDIT_NOTE_TEMPLATE
    assert boek_note is not None and boek_note.name == BOEK_CREDIT_NOTE_TEMPLATE
    for template in (firm_note, boek_note):
        versions = list(template.versions.all())
        assert {version.language for version in versions} == {"fr", "nl", "de", "en"}
        for version in versions:
            check_fields(version.subject + version.body, context="credit_note")
            assert not payment_asks(version.subject, version.body), version.language

    notes = list(Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).order_by("pk"))
    assert {note.billing_company.code for note in notes} == {"FIDU", "BOEK"}
    checks = invoice_presend_check(invoices=notes, by=by)
    for check in checks:
        assert [r.code for r in check.blockers if r.code not in ("no_address", "paper")] == []
    batch = invoice_batch_start(by=by, invoices=notes, enqueue=False)
    batch_compose(batch_id=batch.pk)
    deliver()
    # Fiduciaire Demo's note goes by Peppol (its client is on Peppol), the other one by mail.
    by_mail = [note for note in notes if note.register == Invoice.Register.EMAIL]
    assert [note.billing_company.code for note in by_mail] == ["BOEK"]
    assert {note.register for note in notes} == {"email", "peppol"}
    sent = [check.about for check in checks if check.ok and check.about in by_mail]
    assert sent and len(smtp_server.messages) == len(sent)
    for received in smtp_server.messages:
        text = bodies(received)
        note = next(n for n in sent if n.display_number in str(received.message["Subject"]))
        assert note.credited_invoice is not None
        assert note.credited_invoice.display_number in text
        # (Its own due date is its date, which it names: the invoice's is the one to pay.)
        assert asks_for_money(text, note.billing_company, note.credited_invoice.due_date) == []


def test_a_firm_that_mails_invoices_gets_a_credit_note_template_on_upgrade() -> None:
    migration = importlib.import_module(
        "courrier.billing.migrations.0002_credit_note_mail_template"
    )
    # A firm without an invoice mail gets nothing.
    migration.add_credit_note_template(django_apps, None)
    assert not MailTemplate.objects.filter(context="credit_note").exists()

    MailTemplate.objects.create(name="Envoi de facture", context="invoice")
    migration.add_credit_note_template(django_apps, None)
    migration.add_credit_note_template(django_apps, None)  # once
    (made,) = MailTemplate.objects.filter(context="credit_note")
    assert made.owner_id is None
    versions = {version.language: version for version in made.versions.all()}
    assert set(versions) == {"fr", "nl", "de", "en"}
    for version in versions.values():
        check_fields(version.subject + version.body, context="credit_note")
        assert not payment_asks(version.subject, version.body)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Merci de la régler au plus tard le {ECHEANCE}.", ("ECHEANCE",)),
        ("Gelieve die te betalen op rekening {iban}.", ("IBAN",)),
        ("Bitte überweisen Sie den Betrag mit { COMMUNICATION }.", ("COMMUNICATION",)),
        ("Kindly pay it by the due date.", ()),
        ("Attached is our invoice, payable within 30 days.", ()),
        ("Montant <b>à payer</b> avant le 31/12.", ()),
    ],
)
def test_payment_asks_finds_fields_and_phrases(text: str, found: tuple[str, ...]) -> None:
    asks = payment_asks(text)
    assert asks.fields == found
    assert asks.phrases


@pytest.mark.parametrize(
    "text",
    [
        "Ce montant est porté à votre crédit : vous n'avez rien à payer.",
        "Si vous avez déjà réglé la facture, nous vous remboursons.",
        "Voor deze creditnota hoeft u niets te betalen.",
        "Für diese Gutschrift ist keine Zahlung zu leisten.",
        "If you already paid the invoice, we will refund you. Nothing to pay.",
        "{MONTANT} ({MONTANTHTVA} + {MONTANTTVA}), {NUMFACTCREDITEE}",
    ],
)
def test_payment_asks_leaves_a_credit_notes_words_alone(text: str) -> None:
    assert not payment_asks(text)


def test_the_invoice_context_knows_the_credited_invoice_in_each_language() -> None:
    from courrier.billing.fields import invoice_values

    company = make_billing_company()
    invoice = make_invoice(company, make_invoice_client())
    note = credit_note_of(invoice)
    assert invoice_values(note, "fr")["NUMFACTCREDITEE"] == "2026/0001"
    assert invoice_values(note, "fr")["DATEFACTCREDITEE"] == "14/03/2026"
    assert invoice_values(note, "de")["DATEFACTCREDITEE"] == "14.03.2026"
    assert invoice_values(invoice, "nl")["NUMFACTCREDITEE"] == ""


def test_a_credit_note_crediting_nothing_is_blocked_when_its_template_names_the_invoice(
    fidu: BillingCompany,
) -> None:
    alone = make_invoice(
        fidu,
        make_invoice_client("C1"),
        kind=Invoice.Kind.CREDIT_NOTE,
        issue_date=timezone.localdate() - timedelta(days=1),
    )
    (check,) = invoice_presend_check(invoices=[alone], by=make_collaborator())
    assert [reason.code for reason in check.blockers] == ["credits_nothing"]


def test_a_dutch_colleague_reads_why_a_credit_note_is_blocked_in_dutch(
    fidu: BillingCompany, client: Browser
) -> None:
    biller = make_collaborator("pieter@fidu.be", language="nl")
    billing_grant(biller)  # the role Facturation
    client.force_login(biller)
    invoice = make_invoice(fidu, make_invoice_client("C1"), issue_date=timezone.localdate())
    note = credit_note_of(invoice)
    MailTemplateVersion.objects.filter(
        template=credit_note_template(billing_company=fidu), language="fr"
    ).update(body="{FORMULE},\n\nÀ payer avant le {ECHEANCE}.")
    # The request activates the reader's language in this thread: set back afterwards.
    with translation.override("fr"):
        response = client.post(
            reverse("billing:email_presend", args=["FIDU"]),
            {"scope": "selection", "invoices": [str(note.pk)]},
            headers={"HX-Request": "true"},
        )
    page = unescape(response.content.decode())
    assert "vraagt om een betaling ({ECHEANCE}, « À payer avant »)" in page
    assert "een creditnota wordt niet betaald" in page
    assert "demande un paiement" not in page
