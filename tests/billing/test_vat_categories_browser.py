"""The draft form's VAT select in a real browser: "Motif d'exonération" shows once a line is
exempt, stays through a line added in place, and the draft is saved with its categories."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, expect

from courrier.billing.models import Invoice
from tests.billing.factories import make_billing_company, make_invoice_client
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


def test_the_exemption_reason_shows_when_a_line_is_exempt(
    context: BrowserContext,  # noqa: F811
) -> None:
    make_billing_company()
    make_invoice_client("C1", name="Société Lumière", vat_number="FR40303265045", country="FR")
    page = context.new_page()
    page.goto("/factures/FIDU/nouvelle/")
    page.get_by_label("Client").select_option(label="Société Lumière SRL (C1)")
    page.get_by_label("Date de facture").fill("2026-03-02")
    reason = page.get_by_label("Motif d'exonération")
    expect(reason).to_be_hidden()

    page.locator("#id_lines-0-description").fill("Formation à la TVA")
    page.locator("#id_lines-0-unit_price").fill("300")
    page.locator("#id_lines-0-vat").select_option(label="Exonéré")
    expect(reason).to_be_visible()
    page.locator("#id_lines-0-vat").select_option(label="Autoliquidation")
    expect(reason).to_be_hidden()
    page.locator("#id_lines-0-vat").select_option(label="Exonéré")

    page.get_by_role("button", name="+ Ajouter une ligne").click()
    expect(page.locator("#id_lines-1-description")).to_be_visible()
    settled(page)
    expect(reason).to_be_visible()
    page.locator("#id_lines-1-description").fill("Travaux")
    page.locator("#id_lines-1-unit_price").fill("200")
    page.locator("#id_lines-1-vat").select_option(label="Autoliquidation")
    page.get_by_role("button", name="Recalculer les totaux").click()
    settled(page)
    expect(page.locator("#form-totals")).to_contain_text("Autoliquidation — base")
    expect(page.locator("#form-totals")).to_contain_text("Exonération — base")

    # Saved without the reason: the page says what is missing, on the field.
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(page.locator(".field-invalid")).to_contain_text(
        "La ligne 1 est exonérée de TVA : indiquez le motif d'exonération"
    )
    expect(reason).to_be_visible()
    reason.fill("Exonération — article 44, § 2, 4°, du Code de la TVA")
    page.get_by_label("Bon de commande").fill("PO-77")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(page.locator(".flash-success")).to_contain_text("Le brouillon a été enregistré.")
    draft = Invoice.objects.get()
    assert [(line.vat_rate, line.vat_category) for line in draft.lines.all()] == [
        ("0", "E"),
        ("0", "AE"),
    ]
    assert draft.order_reference == "PO-77"
