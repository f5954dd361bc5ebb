"""VAT categories on an invoice: the one VAT select of the draft form and its errors, the rules
every caller meets (an exempt line needs its reason, reverse charge and intra-Community supply a
client identified for VAT), the totals per category and rate, the PDF's legal mentions in the
four languages, and a credit note that keeps its invoice's categories."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as Browser
from django.urls import reverse
from pypdf import PdfReader

from courrier.billing.models import Invoice
from courrier.billing.services import invoice_issue, invoice_pdf_bytes
from courrier.billing.services.issue import LineData, invoice_create, invoice_update
from courrier.billing.services.pdf import invoice_pdf_render
from courrier.billing.services.totals import totals_of
from courrier.clients.models import Client as ClientRecord
from courrier.firm.models import BillingCompany, Collaborator
from courrier.firm.permissions import billing_grant
from tests.billing.factories import (
    issue_confirmed,
    make_billing_company,
    make_invoice,
    make_invoice_client,
)
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
REASON = "Exonération — article 44, § 2, 4°, du Code de la TVA"


@pytest.fixture
def anne(client: Browser) -> Collaborator:
    collaborator = make_collaborator()
    billing_grant(collaborator)  # the role Facturation
    client.force_login(collaborator)
    return collaborator


@pytest.fixture
def company() -> BillingCompany:
    return make_billing_company()


def identified(number: str = "C0100", **extra: Any) -> ClientRecord:
    """A client identified for VAT, in another member state."""
    extra.setdefault("vat_number", "FR40303265045")
    extra.setdefault("country", "FR")
    return make_invoice_client(number, **extra)


def form_data(client: ClientRecord, *lines: tuple[str, str, str], **extra: str) -> dict[str, str]:
    """A draft as the page posts it: each line's description, unit price and VAT choice."""
    data = {
        "client": str(client.pk),
        "kind": "invoice",
        "issue_date": "2026-03-02",
        "due_date": "",
        "reference": "",
        "order_reference": "",
        "vat_exemption_reason": "",
        "notes": "",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "200",
    }
    for index, (description, price, vat) in enumerate(lines):
        data[f"lines-{index}-description"] = description
        data[f"lines-{index}-quantity"] = "1"
        data[f"lines-{index}-unit_price"] = price
        data[f"lines-{index}-vat"] = vat
    data.update(extra)
    return data


def page_text(response: Any) -> str:
    return unescape(response.content.decode())


def pdf_text(content: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return text.replace("\u202f", " ").replace("\xa0", " ")


def stored(invoice: Invoice) -> list[tuple[str, str, str]]:
    return [(line.description, line.vat_rate, line.vat_category) for line in invoice.lines.all()]


# --- The draft form -----------------------------------------------------------------------


def test_the_vat_select_offers_rates_and_categories(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    page = page_text(client.get(reverse("billing:invoice_create", args=["FIDU"])))
    for label in (
        "21 %",
        "12 %",
        "6 %",
        "0 % (taux zéro)",
        "Exonéré",
        "Autoliquidation",
        "Livraison intracommunautaire",
        "Exportation hors UE",
        "Hors champ TVA",
    ):
        assert f">{label}</option>" in page
    assert "Bon de commande" in page and "Motif d'exonération" in page


def test_each_choice_is_stored_as_its_rate_and_category(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    record = identified()
    response = client.post(
        reverse("billing:invoice_create", args=["FIDU"]),
        form_data(
            record,
            ("Conseil", "100.00", "21"),
            ("Ouvrage", "10.00", "6"),
            ("Journal", "5.00", "0"),
            ("Formation", "30.00", "E"),
            ("Travaux", "200.00", "AE"),
            ("Logiciel livré", "50.00", "K"),
            ("Logiciel exporté", "40.00", "G"),
            order_reference="PO-2026-118",
            vat_exemption_reason=REASON,
        ),
    )
    assert response.status_code == 302, page_text(response)
    draft = Invoice.objects.get()
    assert stored(draft) == [
        ("Conseil", "21", "S"),
        ("Ouvrage", "6", "S"),
        ("Journal", "0", "Z"),
        ("Formation", "0", "E"),
        ("Travaux", "0", "AE"),
        ("Logiciel livré", "0", "K"),
        ("Logiciel exporté", "0", "G"),
    ]
    assert draft.order_reference == "PO-2026-118" and draft.vat_exemption_reason == REASON
    assert draft.total_vat == Decimal("21.60")  # 21.00 + 0.60

    # Its page: the order and the reason, each line's VAT, the totals per category and rate.
    page = page_text(client.get(response.url))
    assert "PO-2026-118" in page and REASON in page
    for row in (
        "Taux zéro — base",
        "Exonération — base",
        "Exonération — TVA",
        "Autoliquidation — base",
        "Livraison intracommunautaire — base",
        "Exportation hors UE — base",
        "Base TVA 6 %",
        "Base TVA 21 %",
    ):
        assert row in page
    assert ">Autoliquidation</td>" in page and ">21 %</td>" in page

    # The edit page shows each line's choice again, and the two new fields.
    page = page_text(client.get(reverse("billing:invoice_edit", args=[draft.pk])))
    for index, choice in enumerate(("21", "6", "0", "E", "AE", "K", "G")):
        select = page.split(f'name="lines-{index}-vat"')[1].split("</select>")[0]
        assert f'value="{choice}" selected' in select
    assert 'value="PO-2026-118"' in page and REASON in page


def test_an_exempt_line_without_its_reason_is_refused_on_the_field(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    response = client.post(
        reverse("billing:invoice_create", args=["FIDU"]),
        form_data(identified(), ("Conseil", "100.00", "21"), ("Formation", "30.00", "E")),
    )
    assert response.status_code == 200
    page = page_text(response)
    assert "La ligne 2 est exonérée de TVA : indiquez le motif d'exonération" in page
    field = page.split("data-vat-exempt>")[1].split("</div>\n")[0]
    assert "field-invalid" in field and "La ligne 2 est exonérée" in page
    assert "Formation" in page  # what was typed is kept
    assert not Invoice.objects.exists()


def test_the_exempt_reason_error_speaks_the_collaborator_language(
    client: Browser, company: BillingCompany
) -> None:
    biller = make_collaborator(language="nl")
    billing_grant(biller)  # the role Facturation
    client.force_login(biller)
    response = client.post(
        reverse("billing:invoice_create", args=["FIDU"]),
        form_data(identified(), ("Opleiding", "30.00", "E")),
    )
    assert response.status_code == 200
    page = page_text(response)
    assert "Regel 1 is vrijgesteld van btw: vul de reden van vrijstelling in" in page
    assert "Reden van vrijstelling" in page  # the field's label
    assert not Invoice.objects.exists()


def test_reverse_charge_and_intra_community_need_a_client_identified_for_vat(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    unidentified = make_invoice_client(vat_number="")
    url = reverse("billing:invoice_create", args=["FIDU"])
    page = page_text(client.post(url, form_data(unidentified, ("Travaux", "200.00", "AE"))))
    assert (
        "Ligne 1 : l'autoliquidation exige un acheteur identifié à la TVA, et le client "
        "Boulangerie Dupuis SRL n'a pas de numéro de TVA. Ajoutez-le à sa fiche."
    ) in page
    page = page_text(
        client.post(
            url, form_data(unidentified, ("Conseil", "9.00", "21"), ("Pièces", "50.00", "K"))
        )
    )
    assert "Ligne 2 : une livraison intracommunautaire exige un acheteur identifié" in page
    assert not Invoice.objects.exists()


def test_outside_the_scope_is_not_mixed_with_other_lines(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    url = reverse("billing:invoice_create", args=["FIDU"])
    record = identified()
    page = page_text(
        client.post(url, form_data(record, ("Débours", "12.00", "O"), ("Conseil", "9.00", "21")))
    )
    assert "Une facture hors champ TVA ne contient que des lignes hors champ" in page
    assert not Invoice.objects.exists()
    response = client.post(url, form_data(record, ("Débours", "12.00", "O")))
    assert response.status_code == 302
    assert stored(Invoice.objects.get()) == [("Débours", "0", "O")]


def test_a_post_of_the_former_rate_select_still_works(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    """A page loaded before the VAT select changed posts `vat_rate` alone: 0 % is zero-rated."""
    data = form_data(identified(), ("Conseil", "100.00", "21"), ("Journal", "5.00", "0"))
    for index in (0, 1):
        data[f"lines-{index}-vat_rate"] = data.pop(f"lines-{index}-vat")
    response = client.post(reverse("billing:invoice_create", args=["FIDU"]), data)
    assert response.status_code == 302
    assert stored(Invoice.objects.get()) == [("Conseil", "21", "S"), ("Journal", "0", "Z")]


def test_the_live_totals_show_each_category(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    data = form_data(
        identified(),
        ("Conseil", "100.00", "21"),
        ("Travaux", "200.00", "AE"),
        ("Travaux bis", "50.00", "AE"),
        ("Formation", "30.00", "E"),
    )
    data["lines-action"] = "add"
    response = client.post(reverse("billing:invoice_lines", args=["FIDU"]), data, headers=HTMX)
    page = page_text(response)
    rows = page.split('id="form-totals"')[1]
    assert '<tr data-vat-category="E"><th>Exonération — base</th><td class="num">30,00' in rows
    assert (
        '<tr data-vat-category="AE"><th>Autoliquidation — base</th><td class="num">250,00'
    ) in rows
    assert "<th>Autoliquidation — TVA</th>" in rows
    assert "Base TVA 21 %" in rows and "401,00" in rows  # 380 + 21
    # The row added starts at 21 %, the others keep their choice.
    assert 'name="lines-4-vat"' in page
    select = page.split('name="lines-1-vat"')[1].split("</select>")[0]
    assert 'value="AE" selected' in select


# --- The rules in the services ------------------------------------------------------------


def test_the_services_apply_the_same_rules(company: BillingCompany) -> None:
    unidentified = make_invoice_client(vat_number="")
    with pytest.raises(ValidationError) as refused:
        invoice_create(
            billing_company=company,
            client=unidentified,
            lines=[
                LineData(description="Formation", unit_price=Decimal("30"), vat_category="E"),
                {"description": "Travaux", "unit_price": "200", "vat_category": "AE"},
            ],
            by=None,
        )
    assert sorted(error.code or "" for error in refused.value.error_list) == [
        "buyer_vat_number",
        "vat_exemption_reason",
    ]

    # A draft made right, whose reason is then taken away, or whose client loses its number.
    draft = invoice_create(
        billing_company=company,
        client=identified("C0200"),
        lines=[
            {"description": "Formation", "unit_price": "30", "vat_category": "E"},
            {"description": "Travaux", "unit_price": "200", "vat_category": "AE"},
        ],
        vat_exemption_reason=REASON,
        by=None,
    )
    with pytest.raises(ValidationError, match="indiquez le motif d'exonération"):
        invoice_update(invoice=draft, vat_exemption_reason="  ", by=None)
    draft.client.vat_number = ""
    draft.client.save()
    with pytest.raises(ValidationError, match="l'autoliquidation exige un acheteur identifié"):
        invoice_issue(invoice=draft, by=None)
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.number is None


def test_totals_are_per_category_and_rate() -> None:
    draft = make_invoice(
        make_billing_company(),
        identified(),
        issue=False,
        vat_exemption_reason=REASON,
        lines=[
            {"description": "a", "unit_price": "100.00", "vat_rate": "21"},
            {"description": "b", "unit_price": "200.00", "vat_category": "AE"},
            {"description": "c", "unit_price": "0.05", "vat_rate": "21"},
            {"description": "d", "unit_price": "30.00", "vat_category": "E"},
            {"description": "e", "unit_price": "10.00", "vat_rate": "0"},
            {"description": "f", "unit_price": "50.00", "vat_category": "K"},
            {"description": "g", "unit_price": "5.00", "vat_category": "AE"},
        ],
    )
    totals = totals_of(draft.lines.all())
    assert [(row.category, row.rate, row.base, row.vat) for row in totals.by_rate] == [
        ("Z", "0", Decimal("10.00"), Decimal("0.00")),
        ("E", "0", Decimal("30.00"), Decimal("0.00")),
        ("AE", "0", Decimal("205.00"), Decimal("0.00")),
        ("K", "0", Decimal("50.00"), Decimal("0.00")),
        ("S", "21", Decimal("100.05"), Decimal("21.01")),
    ]
    assert (totals.excl_vat, totals.vat, totals.incl_vat) == (
        Decimal("395.05"),
        Decimal("21.01"),
        Decimal("416.06"),
    )


# --- The PDF ------------------------------------------------------------------------------

MIXED = [
    {"description": "Tenue de la comptabilité", "unit_price": "100.00", "vat_rate": "21"},
    {"description": "Formation", "unit_price": "30.00", "vat_category": "E"},
    {"description": "Travaux", "unit_price": "200.00", "vat_category": "AE"},
    {"description": "Pièces", "unit_price": "50.00", "vat_category": "K"},
    {"description": "Logiciel", "unit_price": "40.00", "vat_category": "G"},
]

PDF_WORDS = {
    "fr": {
        "AE": "Autoliquidation — TVA due par le cocontractant (art. 51, § 2, du Code de la TVA)",
        "K": "Livraison intracommunautaire exemptée — art. 39bis du Code de la TVA",
        "G": "Exportation — art. 39 du Code de la TVA",
        "O": "Hors du champ d'application de la TVA",
        "order": "Bon de commande",
        "rows": ("Exonéré", "Autoliquidation", "Intracommunautaire", "Exportation", "TVA 21 %"),
    },
    "nl": {
        "AE": (
            "Verlegging van heffing — btw te voldoen door de medecontractant "
            "(art. 51, § 2, van het Btw-Wetboek)"
        ),
        "K": "Vrijgestelde intracommunautaire levering — art. 39bis van het Btw-Wetboek",
        "G": "Uitvoer — art. 39 van het Btw-Wetboek",
        "O": "Buiten het toepassingsgebied van de btw",
        "order": "Bestelbon",
        "rows": ("Vrijgesteld", "Verlegging", "Intracommunautair", "Uitvoer", "Btw 21 %"),
    },
    "de": {
        "AE": (
            "Steuerschuldnerschaft des Leistungsempfängers — MwSt. vom Vertragspartner "
            "geschuldet (Art. 51 § 2 MwSt.-Gesetzbuch)"
        ),
        "K": "Steuerfreie innergemeinschaftliche Lieferung — Art. 39bis MwSt.-Gesetzbuch",
        "G": "Ausfuhr — Art. 39 MwSt.-Gesetzbuch",
        "O": "Nicht im Anwendungsbereich der Mehrwertsteuer",
        "order": "Bestellnummer",
        "rows": ("Steuerfrei", "Reverse Charge", "Innergemeinschaftlich", "Ausfuhr", "MwSt. 21 %"),
    },
    "en": {
        "AE": "Reverse charge — VAT due by the customer (art. 51, § 2, of the Belgian VAT Code)",
        "K": "Exempt intra-Community supply — art. 39bis of the Belgian VAT Code",
        "G": "Export — art. 39 of the Belgian VAT Code",
        "O": "Outside the scope of VAT",
        "order": "Purchase order",
        "rows": ("Exempt", "Reverse charge", "Intra-Community", "Export", "VAT 21%"),
    },
}


def one_line(text: str) -> str:
    """The PDF's text with its line breaks undone (a long mention may wrap)."""
    return " ".join(text.split())


@pytest.mark.parametrize("language", ["fr", "nl", "de", "en"])
def test_the_pdf_prints_each_category_with_its_mention(language: str) -> None:
    company = make_billing_company()
    words = PDF_WORDS[language]
    invoice = make_invoice(
        company,
        identified(language=language),
        lines=MIXED,
        order_reference="PO-2026-118",
        vat_exemption_reason=REASON,
    )
    text = one_line(pdf_text(invoice_pdf_bytes(invoice)))
    for category in ("AE", "K", "G"):
        assert one_line(words[category]) in text, category
    assert REASON in text  # E: the invoice's own reason, as typed
    assert words["O"] not in text  # no line outside the scope
    assert f"{words['order']} PO-2026-118" in text
    # The totals, one row per category and rate, as totals_of gives them: zero-rated
    # categories first, at their base and 0,00 €, then 21 %.
    exempt, reverse, intra, export, standard = words["rows"]
    assert f"{exempt} 30,00 € 0,00 €" in text
    assert f"{reverse} 200,00 € 0,00 €" in text
    assert f"{intra} 50,00 € 0,00 €" in text
    assert f"{export} 40,00 € 0,00 €" in text
    assert f"{standard} 100,00 € 21,00 €" in text
    assert text.index(f"{exempt} 30,00") < text.index(f"{standard} 100,00")
    assert "441,00 €" in text  # 420 + 21

    outside = make_invoice(
        company,
        identified("C0300", language=language),
        lines=[{"description": "Débours", "unit_price": "12.00", "vat_category": "O"}],
    )
    assert words["O"] in one_line(pdf_text(invoice_pdf_render(outside)))


def test_a_standard_invoice_prints_no_mention() -> None:
    invoice = make_invoice(make_billing_company(), make_invoice_client())
    text = one_line(pdf_text(invoice_pdf_bytes(invoice)))
    assert "Code de la TVA" not in text and "Bon de commande" not in text
    assert "TVA 21 %" in text and "TVA 6 %" in text


# --- The credit note ----------------------------------------------------------------------


def test_a_credit_note_keeps_the_invoice_categories_reason_and_order(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    invoice = make_invoice(
        company,
        identified(),
        lines=MIXED,
        order_reference="PO-2026-118",
        vat_exemption_reason=REASON,
        issue_date=datetime.date(2026, 3, 2),
    )
    response = client.post(reverse("billing:credit_note_create", args=[invoice.pk]))
    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert response.url == reverse("billing:invoice_edit", args=[note.pk])
    page = page_text(client.get(response.url))
    for index, choice in enumerate(("21", "E", "AE", "K", "G")):
        select = page.split(f'name="lines-{index}-vat"')[1].split("</select>")[0]
        assert f'value="{choice}" selected' in select
    assert 'value="PO-2026-118"' in page and REASON in page

    page = page_text(issue_confirmed(client, note))
    note.refresh_from_db()
    assert note.is_issued
    assert stored(note) == stored(invoice)
    assert "Autoliquidation — base" in page and "PO-2026-118" in page
    text = one_line(pdf_text(invoice_pdf_bytes(note)))
    assert PDF_WORDS["fr"]["AE"] in text and REASON in text
    assert "Bon de commande PO-2026-118" in text
    assert "Autoliquidation 200,00 € 0,00 €" in text
