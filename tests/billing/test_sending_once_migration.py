"""Invoices mailed from the compose window before the upgrade were stored under the window's
keys; after the migration the register, the command and the window see them as mailed, and
nothing goes twice."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from html import unescape
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from courrier.billing.demo import seed_mail_templates
from courrier.billing.fields import invoice_context
from courrier.billing.models import Invoice
from courrier.billing.services.sending import PURPOSE_EMAIL, invoice_send
from courrier.mailing.models import OutboundMessage
from courrier.mailing.services import Draft, message_compose
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_sending import deliver
from tests.billing.test_sending_once import copies, send_invoices
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_collaborator

# The data migration that gave invoices mailed before it their keys: run here on rows stored
# as the window stored them then (the tables of later migrations cannot go back to its state).
KEYED = importlib.import_module("courrier.billing.migrations.0004_invoice_mail_keys")


@pytest.fixture
def migrator(db: None) -> Iterator[None]:
    yield


def upgrade() -> None:
    # A data migration: it reads and updates rows, and never touches the schema.
    KEYED.first_mails_keyed(django_apps, None)


def keys(invoice: Invoice) -> list[tuple[str, str]]:
    return list(
        OutboundMessage.objects.filter(context="invoice", object_id=invoice.pk)
        .order_by("pk")
        .values_list("idempotency_key", "purpose")
    )


def test_invoices_the_window_mailed_before_the_upgrade_are_not_sent_again(
    migrator: None,
    client: Browser,
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., Any],
) -> None:
    company = make_billing_company()
    make_profile(server=smtp_server, billing_company=company, collaborator=None)
    seed_mail_templates(companies={"FIDU": company})
    anne = make_collaborator()
    client.force_login(anne)
    today = timezone.localdate()
    by_window, by_batch, twice, nobody = (
        make_invoice(
            company, make_invoice_client(f"C{n}", emails=(f"c{n}@client.test",)), issue_date=today
        )
        for n in range(4)
    )

    def as_the_window_did(invoice: Invoice, key: str) -> None:
        message_compose(
            sender=anne,
            client=invoice.client,
            idempotency_key=key,
            context=invoice_context(invoice),
            draft=Draft(subject="Votre facture {NUMFACT}", body="Bonjour,", language="fr"),
        )

    as_the_window_did(by_window, "compose:0f3a9c")
    as_the_window_did(by_batch, f"batch:7:invoice:{by_batch.pk}")
    # The double send of the defect: the register's mail, then the window's.
    invoice_send(invoice=twice, by=anne)
    as_the_window_did(twice, "compose:77e1d0")
    deliver()
    assert len(smtp_server.messages) == 4

    upgrade()

    assert keys(by_window) == [(f"invoice:{by_window.pk}:email", PURPOSE_EMAIL)]
    assert keys(by_batch) == [(f"invoice:{by_batch.pk}:email", PURPOSE_EMAIL)]
    assert keys(twice) == [
        (f"invoice:{twice.pk}:email", PURPOSE_EMAIL),
        ("compose:77e1d0", "client"),
    ]
    out = send_invoices()
    deliver()
    # Only the invoice nobody mailed goes.
    assert "1 facture à envoyer, 0 bloquée." in out
    assert len(smtp_server.messages) == 5
    assert [copies(smtp_server, invoice) for invoice in (by_window, by_batch, nobody)] == [1, 1, 1]
    page = unescape(
        client.get(
            reverse("mailing:compose"), {"context": "invoice", "objects": str(by_window.pk)}
        ).content.decode()
    )
    assert f"Facture {by_window.display_number} a déjà été envoyée par e-mail le" in page
