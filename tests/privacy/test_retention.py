"""The retention purge: what is older than the firm's period goes with its files, what is
younger stays, invoices and the mails that carried them always stay; one log line of counts."""

from __future__ import annotations

import html
import io
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from courrier.amounts import DEFAULT_AMOUNT_FORMAT
from courrier.billing.models import Invoice
from courrier.documents.models import Document
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.models import MessageContent, OutboundMessage, SecureLink
from courrier.privacy.services import data_purge
from tests.privacy.conftest import ClientFile, logged_in


def _age(file: ClientFile, days: int) -> None:
    """Make everything of the file `days` old."""
    then = timezone.now() - timedelta(days=days)
    OutboundMessage.objects.filter(pk__in=[file.mail.pk, file.invoice_mail.pk]).update(
        created_at=then, sent_at=then
    )
    Document.objects.filter(pk=file.document.pk).update(uploaded_at=then)
    SecureLink.objects.filter(pk=file.link.pk).update(created_at=then)


def test_the_default_keeps_ten_years(db: None) -> None:
    assert Firm.load().retention_years == 10


def test_older_rows_go_with_their_files_younger_ones_and_invoices_stay(
    make_file: Callable[[str, str], ClientFile],
    media: Path,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    Firm.objects.filter(pk=Firm.load().pk).update(retention_years=2)
    old = make_file("C0001", "Ancien Client")
    young = make_file("C0002", "Jeune Client")
    _age(old, 3 * 365)
    _age(young, 365)
    old_document = media / old.document.file.name
    old_link = media / old.link.file.name
    invoice_pdf = media / old.invoice.pdf.name
    assert old_document.exists() and old_link.exists() and invoice_pdf.exists()

    with (
        caplog.at_level(logging.INFO, logger="courrier.privacy"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        report = data_purge()

    assert (report.mails, report.documents, report.links) == (1, 1, 1)
    assert not OutboundMessage.objects.filter(pk=old.mail.pk).exists()
    assert not MessageContent.objects.filter(message_id=old.mail.pk).exists()
    assert not Document.objects.filter(pk=old.document.pk).exists()
    assert not SecureLink.objects.filter(pk=old.link.pk).exists()
    assert not old_document.exists()
    assert not old_link.exists()
    # The younger client file is whole.
    assert OutboundMessage.objects.filter(pk=young.mail.pk).exists()
    assert Document.objects.filter(pk=young.document.pk).exists()
    assert (media / young.document.file.name).exists()
    # Legal records: the invoice, its PDF and the mail that carried it.
    assert OutboundMessage.objects.filter(pk=old.invoice_mail.pk).exists()
    assert Invoice.objects.filter(pk=old.invoice.pk, status="issued").exists()
    assert invoice_pdf.exists()
    lines = [line for line in caplog.messages if "data purge" in line]
    assert len(lines) == 1
    assert "retention 2 years" in lines[0]
    assert "deleted 1 mails, 1 documents, 1 secure links; kept 1 invoice mails" in lines[0]
    # Nothing personal in the line: no name, no address, no subject.
    assert "Ancien" not in lines[0] and "@" not in lines[0] and "bilan" not in lines[0]


def test_a_mail_still_on_its_way_is_never_purged(
    make_file: Callable[[str, str], ClientFile],
) -> None:
    file = make_file("C0003", "Client")
    _age(file, 11 * 365)
    OutboundMessage.objects.filter(pk=file.mail.pk).update(status=OutboundMessage.Status.HELD)
    data_purge()
    assert OutboundMessage.objects.filter(pk=file.mail.pk).exists()


def test_the_dry_run_counts_and_deletes_nothing(
    make_file: Callable[[str, str], ClientFile],
    media: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    file = make_file("C0004", "Client")
    _age(file, 11 * 365)
    out = io.StringIO()
    call_command("data_purge", "--dry-run", stdout=out)
    assert "seraient supprimés" in out.getvalue()
    assert "1 mails, 1 documents et 1 liens sécurisés" in out.getvalue()
    assert OutboundMessage.objects.filter(pk=file.mail.pk).exists()
    assert (media / file.document.file.name).exists()

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("data_purge", stdout=out)
    assert "supprimés avant le" in out.getvalue()
    assert not OutboundMessage.objects.filter(pk=file.mail.pk).exists()
    assert not (media / file.document.file.name).exists()


def test_the_period_is_a_setting_of_the_firm_page(admin: Collaborator) -> None:
    browser = logged_in(admin)
    page = browser.get(reverse("firm:settings")).content.decode()
    assert "Conserver les mails et documents archivés (années)" in html.unescape(page)
    data = {"name": "Fiduciaire", "default_language": "fr", "amount_format": DEFAULT_AMOUNT_FORMAT}
    response = browser.post(reverse("firm:settings"), {**data, "retention_years": "0"})
    assert response.status_code == 200
    assert Firm.load().retention_years == 10
    response = browser.post(reverse("firm:settings"), {**data, "retention_years": "7"})
    assert response.status_code == 302
    assert Firm.load().retention_years == 7
    # Left empty: the legal period again.
    response = browser.post(reverse("firm:settings"), {**data, "retention_years": ""})
    assert response.status_code == 302
    assert Firm.load().retention_years == 10
