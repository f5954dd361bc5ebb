"""A draft written in a real browser: lines added and removed in place, the totals recomputed,
saved, issued after a confirmation that says its number, its PDF opened; then the paper
register prints it."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from courrier.billing.models import Invoice
from courrier.billing.services import credit_note_create
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.billing.test_register_browser import settled
from tests.firm.test_browser import CHROMIUM, context  # noqa: F401 (fixture used by name)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]


def test_write_a_draft_issue_it_and_print_it(context: BrowserContext) -> None:  # noqa: F811
    make_billing_company()
    record = make_invoice_client("C1", name="Bakkerij Peeters", language="nl", by_email=False)
    page = context.new_page()
    page.goto("/factures/FIDU/nouvelle/")
    page.get_by_label("Client").select_option(label="Bakkerij Peeters SRL (C1)")
    page.get_by_label("Date de facture").fill("2026-03-02")

    page.locator("#id_lines-0-description").fill("Tenue de la comptabilité")
    page.locator("#id_lines-0-quantity").fill("3")
    page.locator("#id_lines-0-unit_price").fill("120")
    page.get_by_role("button", name="+ Ajouter une ligne").click()
    expect(page.locator("#id_lines-1-description")).to_be_visible()
    settled(page)
    # What was typed in the first line came back with the new one.
    expect(page.locator("#id_lines-0-description")).to_have_value("Tenue de la comptabilité")
    page.locator("#id_lines-1-description").fill("Ligne de trop")
    page.locator("#id_lines-1-unit_price").fill("999")
    page.get_by_role("button", name="+ Ajouter une ligne").click()
    expect(page.locator("#id_lines-2-description")).to_be_visible()
    settled(page)
    page.locator("#id_lines-2-description").fill("Livre « Fiscalité »")
    page.locator("#id_lines-2-unit_price").fill("40")
    page.locator("#id_lines-2-vat").select_option("6")

    page.get_by_role("button", name="Retirer la ligne 2").click()
    expect(page.locator("#lines-rows tr")).to_have_count(2)
    settled(page)
    expect(page.locator("#id_lines-1-description")).to_have_value("Livre « Fiscalité »")
    expect(page.locator("#id_lines-1-vat")).to_have_value("6")
    page.get_by_role("button", name="Recalculer les totaux").click()
    # 360 + 75.60 at 21 %, 40 + 2.40 at 6 %
    expect(page.locator("#form-totals")).to_contain_text("478,00")
    settled(page)

    page.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(page.locator(".flash-success")).to_contain_text("Le brouillon a été enregistré.")
    draft = Invoice.objects.get()
    assert [line.description for line in draft.lines.all()] == [
        "Tenue de la comptabilité",
        "Livre « Fiscalité »",
    ]
    assert draft.total_incl_vat == Decimal("478.00") and draft.language == "nl"

    # Issuing is irreversible: the page first says what will happen, and takes no number.
    page.get_by_role("link", name="Émettre la facture…").click()
    expect(page.locator("#issue-confirm")).to_contain_text("Elle prendra le numéro 2026/0001")
    expect(page.locator("#issue-confirm")).to_contain_text("C'est irréversible.")
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.number is None
    page.get_by_role("button", name="Émettre la facture 2026/0001").click()
    expect(page.locator(".flash-success")).to_contain_text(
        "Facture 2026/0001 émise ; elle est dans le registre papier."
    )
    pdf = page.get_by_role("link", name="Télécharger le PDF")
    with page.expect_download() as download:
        pdf.click()
    assert download.value.suggested_filename == "Facture-2026-0001.pdf"

    page.goto("/factures/FIDU/registre-papier/")
    page.get_by_label("Choisir la facture 2026/0001").check()
    with page.expect_download() as download:
        page.get_by_role("button", name="PDF à imprimer des factures cochées").click()
    assert download.value.suggested_filename == "FIDU-2026-0001.pdf"
    assert record.invoices.count() == 1


def test_without_a_script_a_credit_note_is_issued_after_its_confirmation_and_counted_as_a_credit(
    context: BrowserContext,  # noqa: F811
    live_server: Any,
) -> None:
    """The pages work without JavaScript: the confirmation is a page, its button a form."""
    company = make_billing_company()
    record = make_invoice_client("C1", name="Boulangerie Dupuis", by_email=False, emails=())
    invoice = make_invoice(company, record)
    note = credit_note_create(invoice=invoice, by=None)
    assert context.browser is not None
    plain = context.browser.new_context(
        java_script_enabled=False, locale="fr-BE", base_url=live_server.url
    )
    plain.add_cookies(context.cookies())
    page = plain.new_page()
    page.goto(f"/factures/{note.pk}/")
    page.get_by_role("link", name="Émettre la note de crédit…").click()
    confirm = page.locator("#issue-confirm")
    expect(confirm).to_contain_text("Elle prendra le numéro 2026/0002")
    expect(confirm).to_contain_text("C'est irréversible.")
    note.refresh_from_db()
    assert note.number is None
    page.get_by_role("button", name="Émettre la note de crédit 2026/0002").click()
    expect(page.locator(".flash-success")).to_contain_text("Note de crédit 2026/0002 émise")

    page.goto(f"/factures/client/{record.pk}/")
    row = page.locator(f'tr[data-invoice="{note.pk}"]')
    expect(row).to_contain_text("note de crédit")
    expect(row.locator("td.num")).to_have_text(re.compile(r"^-1[\s.]?178,19\s?€$"))
    expect(page.locator(f'tr[data-invoice="{invoice.pk}"] td.num')).to_have_text(
        re.compile(r"^1[\s.]?178,19\s?€$")
    )
    plain.close()
