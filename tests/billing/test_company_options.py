"""The billing company's invoice options: logo checks, the form, sending on issue."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tasks_db.models import DBTaskResult

from courrier.firm.forms import BillingCompanyForm
from courrier.firm.models import validate_logo
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_pdf import PNG
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db

SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


@pytest.mark.parametrize(
    ("name", "content"),
    [("logo.png", PNG), ("logo.svg", SVG), ("logo.jpg", b"\xff\xd8\xff\xe0" + b"0" * 20)],
)
def test_png_jpeg_and_svg_logos_are_accepted(name: str, content: bytes) -> None:
    validate_logo(SimpleUploadedFile(name, content))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"%PDF-1.7 not an image", "PNG, JPEG ou SVG"),
        (b"<html><script>alert(1)</script></html>", "PNG, JPEG ou SVG"),
        (PNG + b"0" * (2 * 1024 * 1024), "2 Mo"),
    ],
)
def test_other_files_are_refused_with_a_reason(content: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_logo(SimpleUploadedFile("logo.png", content))  # type: ignore[arg-type]


def _form_data(**extra: Any) -> dict[str, Any]:
    data = {
        "code": "FIDU",
        "name": "Fiduciaire Demo",
        "enterprise_number": "0494.482.244",
        "country": "BE",
        "default_language": "fr",
    }
    data.update(extra)
    return data


def test_the_form_keeps_defaults_and_checks_the_colour() -> None:
    form = BillingCompanyForm(data=_form_data())
    assert form.is_valid(), form.errors
    company = form.save()
    assert (company.invoice_due_days, company.invoice_colour) == (30, "#1F4E79")
    assert not company.send_invoices_on_issue
    form = BillingCompanyForm(
        data=_form_data(invoice_colour="rouge", invoice_due_days="400"), instance=company
    )
    assert not form.is_valid()
    assert "#RRVVBB" in str(form.errors["invoice_colour"])
    assert "invoice_due_days" in form.errors


def test_the_form_takes_a_logo_and_refuses_a_pdf() -> None:
    form = BillingCompanyForm(
        data=_form_data(invoice_due_days="45", invoice_footer="IBAN au verso"),
        files={"invoice_logo": SimpleUploadedFile("logo.png", PNG, "image/png")},
    )
    assert form.is_valid(), form.errors
    company = form.save()
    assert company.invoice_due_days == 45 and company.invoice_logo.name.startswith("logos/")
    form = BillingCompanyForm(
        data=_form_data(),
        files={"invoice_logo": SimpleUploadedFile("logo.png", b"%PDF-1.4", "image/png")},
        instance=company,
    )
    assert not form.is_valid()
    assert "PNG, JPEG ou SVG" in str(form.errors["invoice_logo"])


def _send_tasks() -> int:
    return DBTaskResult.objects.filter(task_path__endswith="send_invoice").count()


@pytest.mark.parametrize(("option", "queued"), [(False, 0), (True, 1)])
def test_issue_queues_the_mail_only_with_the_company_option(
    option: bool, queued: int, django_capture_on_commit_callbacks: Any
) -> None:
    company = make_billing_company(send_invoices_on_issue=option)
    anne = make_collaborator()
    with django_capture_on_commit_callbacks(execute=True):
        make_invoice(company, make_invoice_client(), by=anne)  # e-mail register
        make_invoice(company, make_invoice_client("C0900", by_email=False), by=anne)  # paper
    assert _send_tasks() == queued
