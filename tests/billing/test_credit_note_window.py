"""A collaborator writes about a credit note from the compose window
(`?context=invoice&objects=<id>`): the window offers the credit-note templates, never the
invoice ones, and refuses a text that asks the client to pay, whatever path it takes (the
preview, the check, the send); the mail that arrives speaks as a credit note."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from courrier.billing.demo import (
    CREDIT_NOTE_TEMPLATE,
    CREDIT_NOTE_VERSIONS,
    INVOICE_TEMPLATE,
    TEMPLATE_VERSIONS,
    seed_mail_templates,
)
from courrier.billing.models import Invoice
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage
from courrier.mailing.services import batch_compose
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_credit_notes import asks_for_money, bodies, credit_note_of
from tests.billing.test_sending import deliver
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db

COMPOSE = reverse("mailing:compose")


@pytest.fixture
def fidu(smtp_server: FakeSMTPServer, make_profile: Callable[..., Any]) -> BillingCompany:
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    seed_mail_templates(companies={"FIDU": company})
    return company


@pytest.fixture
def anne(client: Browser) -> Collaborator:
    anne = make_collaborator()
    client.force_login(anne)
    return anne


@pytest.fixture
def note(fidu: BillingCompany) -> Invoice:
    client = make_invoice_client("C1", emails=("compta@dupuis.test",))
    invoice = make_invoice(fidu, client, issue_date=timezone.localdate())
    return credit_note_of(invoice)


def window(note: Invoice, **extra: str) -> dict[str, str]:
    return {"context": "invoice", "objects": str(note.pk), **extra}


def offered(html: str) -> list[str]:
    """The names of the templates the window's picker offers."""
    picker = re.search(r'<select name="template"[^>]*>(.*?)</select>', html, re.S)
    assert picker is not None
    labels = re.findall(r'<option value="\d+"[^>]*>([^<]*)</option>', picker.group(1))
    return [unescape(label).strip() for label in labels]


def sent_data(note: Invoice, subject: str, body: str, **extra: str) -> dict[str, str]:
    return {
        **window(note),
        "language": note.language,
        "subject": subject,
        "body": body,
        "archive": "on",
        "idempotency_key": f"credit-{note.pk}-{len(extra)}",
        "send": "1",
        **extra,
    }


def template(name: str) -> MailTemplate:
    return MailTemplate.objects.get(name=name, owner__isnull=True)


def test_the_window_of_a_credit_note_offers_the_credit_note_templates_only(
    client: Browser, anne: Collaborator, note: Invoice
) -> None:
    page = client.get(COMPOSE, window(note))

    assert page.status_code == 200
    names = offered(page.content.decode())
    assert any(name.startswith(CREDIT_NOTE_TEMPLATE) for name in names), names
    assert not any(name.startswith(INVOICE_TEMPLATE) for name in names), names
    # The window says whose templates these are.
    assert "Modèles du contexte « note de crédit »" in unescape(page.content.decode())

    # The invoice's window still offers the invoice template, not the credit note's.
    invoice = note.credited_invoice
    assert invoice is not None
    names = offered(client.get(COMPOSE, window(invoice)).content.decode())
    assert any(name.startswith(INVOICE_TEMPLATE) for name in names), names
    assert not any(name.startswith(CREDIT_NOTE_TEMPLATE) for name in names), names

    # "Récupérer modèle" loads the credit-note template, and not the invoice one.
    load = reverse("mailing:template_load")
    loaded = client.get(load, window(note, template=str(template(CREDIT_NOTE_TEMPLATE).pk)))
    assert loaded.status_code == 200
    assert CREDIT_NOTE_VERSIONS["fr"][0] in unescape(loaded.content.decode())
    refused = client.get(load, window(note, template=str(template(INVOICE_TEMPLATE).pk)))
    assert refused.status_code == 404


def test_a_credit_note_written_with_the_invoice_wording_is_refused_then_goes_as_a_credit(
    client: Browser,
    anne: Collaborator,
    note: Invoice,
    fidu: BillingCompany,
    smtp_server: FakeSMTPServer,
) -> None:
    """The invoice template's text, pasted in the window of a credit note: the preview, the
    check and the send refuse it, saying why; nothing is stored nor sent. Its own template
    goes, and the client reads a credit note."""
    subject, body = TEMPLATE_VERSIONS["fr"]

    preview = client.post(reverse("mailing:preview"), sent_data(note, subject, body))
    said = unescape(preview.content.decode())
    assert "une note de crédit ne se paie pas" in said
    assert "{ECHEANCE}" in said and "{COMMUNICATION}" in said

    checked = client.post(reverse("mailing:presend"), sent_data(note, subject, body))
    assert "une note de crédit ne se paie pas" in unescape(checked.content.decode())

    refused = client.post(COMPOSE, sent_data(note, subject, body))
    assert refused.status_code == 200
    page = unescape(refused.content.decode())
    assert re.search(
        r"Ce mail demande un paiement \(\{ECHEANCE\}, [^)]*\{COMMUNICATION\}, "
        r"« Merci de la régler »[^)]*\) : une note de crédit ne se paie pas\. Choisissez un "
        r"modèle de notes de crédit, ou retirez ces mentions\.",
        page,
    ), page
    # The invoice template itself cannot be chosen for it.
    chosen = client.post(
        COMPOSE, sent_data(note, subject, body, template=str(template(INVOICE_TEMPLATE).pk))
    )
    assert chosen.status_code == 200
    assert "Ce modèle n'est pas proposé pour ce mail" in unescape(chosen.content.decode())
    assert OutboundMessage.objects.count() == 0

    credit_subject, credit_body = CREDIT_NOTE_VERSIONS["fr"]
    sent = client.post(
        COMPOSE,
        sent_data(
            note, credit_subject, credit_body, template=str(template(CREDIT_NOTE_TEMPLATE).pk)
        ),
    )
    assert sent.status_code == 302, unescape(sent.content.decode())
    deliver()
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["compta@dupuis.test"]
    text = bodies(received)
    assert note.display_number in str(received.message["Subject"])
    assert "note de crédit" in text
    assert asks_for_money(text, fidu, note.due_date) == []
    invoice = note.credited_invoice
    assert invoice is not None and invoice.display_number in text


def test_an_english_colleague_reads_why_the_credit_note_cannot_go(
    client: Browser, note: Invoice
) -> None:
    client.force_login(make_collaborator("emma@fidu.test", language="en"))
    subject, body = TEMPLATE_VERSIONS["fr"]
    refused = client.post(COMPOSE, sent_data(note, subject, body))
    page = unescape(refused.content.decode())
    assert re.search(
        r"This mail asks for payment \(\{ECHEANCE\}, [^)]*\): a credit note is not paid\.", page
    )
    assert OutboundMessage.objects.count() == 0


def test_credit_notes_chosen_together_go_with_their_template_from_the_window(
    client: Browser,
    anne: Collaborator,
    note: Invoice,
    fidu: BillingCompany,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Two credit notes in one window: the credit-note templates are offered, each gets the
    version in its language, and the batch's page says it sends credit notes."""
    dutch = make_invoice_client("C2", language="nl", emails=("boekhouding@peeters.test",))
    other = credit_note_of(make_invoice(fidu, dutch, issue_date=timezone.localdate()))
    both = {"context": "invoice", "objects": f"{note.pk},{other.pk}"}
    assert any(
        name.startswith(CREDIT_NOTE_TEMPLATE)
        for name in offered(client.get(COMPOSE, both).content.decode())
    )

    subject, body = CREDIT_NOTE_VERSIONS["fr"]
    data = {
        **sent_data(note, subject, body, template=str(template(CREDIT_NOTE_TEMPLATE).pk)),
        **both,
    }
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(COMPOSE, data)
    assert sent.status_code == 302, unescape(sent.content.decode())
    batch = MailBatch.objects.get()
    invoice_compose = batch_compose(batch_id=batch.pk)
    assert invoice_compose.blocked == {}
    deliver()
    arrived = {received.rcpt_tos[0]: bodies(received) for received in smtp_server.wait_for(2)}
    assert "note de crédit" in arrived["compta@dupuis.test"]
    assert "creditnota" in arrived["boekhouding@peeters.test"]
    for text in arrived.values():
        assert asks_for_money(text, fidu, note.due_date) == []

    page = unescape(client.get(sent["Location"]).content.decode())
    assert re.search(r"<h1[^>]*>Envoi de notes de crédit</h1>", page)


def test_a_mixed_window_blocks_the_credit_note_the_invoice_template_would_ask_to_pay(
    client: Browser, anne: Collaborator, note: Invoice
) -> None:
    """An invoice and its credit note in one window: the invoice templates are offered (the
    invoice asks for payment), and the check blocks the credit note, saying why."""
    invoice = note.credited_invoice
    assert invoice is not None
    mixed = {"context": "invoice", "objects": f"{invoice.pk},{note.pk}"}
    names = offered(client.get(COMPOSE, mixed).content.decode())
    assert any(name.startswith(INVOICE_TEMPLATE) for name in names), names

    subject, body = TEMPLATE_VERSIONS["fr"]
    data = {
        **sent_data(note, subject, body, template=str(template(INVOICE_TEMPLATE).pk)),
        **mixed,
        "check": "1",
    }
    data.pop("send")
    html = unescape(client.post(reverse("mailing:presend"), data).content.decode())
    assert html.count("une note de crédit ne se paie pas") == 1
    assert note.display_number in html
