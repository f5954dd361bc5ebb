"""An English-speaking colleague reads the firm's amounts in a real browser: `1.234,56 €` in the
invoice list, the client's *Invoices* tab and the VAT list, `-1.234,56 €` for a credit note;
she chooses another format on the firm's settings page and the same pages follow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.conf import settings
from django.test import Client as Browser
from django.urls import reverse
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from courrier.billing.services import credit_note_create, invoice_issue
from courrier.firm.models import Firm
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.firm.factories import make_admin
from tests.firm.test_browser import CHROMIUM, CHROMIUM_FLAGS, TIMEOUT_MS
from tests.taxes import factories as tax_factories
from tests.test_amounts import LINES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]


@pytest.fixture
def emma(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[BrowserContext]:
    """A browser logged in as Emma, an administrator of the firm who reads it in English."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    django_client = Browser()
    django_client.force_login(make_admin("emma@fidu.be", first_name="Emma", language="en"))
    session = django_client.cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            context = browser.new_context(locale="en-GB", base_url=live_server.url)
            context.set_default_timeout(TIMEOUT_MS)
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
            )
            yield context
        finally:
            browser.close()


def _cell(page: Page, pk: int) -> Any:
    return page.locator(f'tr[data-invoice="{pk}"] td.num').first


def test_an_english_colleague_reads_belgian_amounts_then_the_firm_changes_them(
    emma: BrowserContext,
) -> None:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Demo"})
    company = make_billing_company()
    record = make_invoice_client("C0100", name="Bakkerij Peeters", language="nl")
    invoice = make_invoice(company, record, lines=LINES, issue_date=date(2026, 3, 2))
    note = invoice_issue(invoice=credit_note_create(invoice=invoice, by=None), by=None)
    tax_factories.vat_return(record, grids={"54": "2100", "59": "865.44"})
    page = emma.new_page()

    lists = (
        reverse("billing:invoices", args=["FIDU"]),
        reverse("billing:client_invoices", args=[record.pk]),
    )
    vat_list = reverse("taxes:list", args=["tva"])
    for url in lists:
        page.goto(url)
        expect(page.get_by_role("columnheader", name="Total incl. VAT")).to_be_visible()
        expect(_cell(page, invoice.pk)).to_have_text("1.234,56\xa0€")
        expect(_cell(page, note.pk)).to_have_text("-1.234,56\xa0€")
    page.goto(vat_list)
    expect(page.locator("table")).to_contain_text("1.234,56\xa0€")
    expect(page.locator("table")).not_to_contain_text("1,234.56")

    page.goto(reverse("firm:settings"))
    page.get_by_label("Amount format").select_option(
        label="€ 1.234,56 (euro sign before the amount)"
    )
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-success")).to_be_visible()

    for url in lists:
        page.goto(url)
        expect(_cell(page, invoice.pk)).to_have_text("€\xa01.234,56")
        expect(_cell(page, note.pk)).to_have_text("€\xa0-1.234,56")
    page.goto(vat_list)
    expect(page.locator("table")).to_contain_text(re.compile("€\xa01.234,56"))
