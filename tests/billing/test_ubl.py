"""An issued invoice's Peppol e-invoice: made from billing's own figures, validated on all
three layers, stored once with its fingerprint, refused with its findings when a rule is
broken; and its page, where the office downloads it or sees what to fix."""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as Browser
from django.urls import reverse
from lxml import etree

from courrier.billing.models import Invoice
from courrier.billing.services import (
    UblInvalidError,
    credit_note_create,
    invoice_issue,
    invoice_ubl_bytes,
    invoice_ubl_ensure,
    invoice_ubl_render,
)
from courrier.billing.services.pdf import pdf_words
from courrier.billing.services.totals import totals_of
from courrier.demo.seed import demo_seed
from courrier.firm.models import Collaborator
from courrier.peppol.ubl import NS_CAC, NS_CBC
from courrier.peppol.validation import validate
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db
NS = {"cac": NS_CAC, "cbc": NS_CBC}


def _company_client(**client: object) -> tuple[object, object]:
    company = make_billing_company()
    fields: dict[str, object] = {
        "enterprise_number": "0446.407.064",
        "vat_number": "BE0446407064",
    }
    fields.update(client)
    return company, make_invoice_client(**fields)  # type: ignore[arg-type]


def test_every_demo_document_of_a_peppol_client_is_valid() -> None:
    demo_seed()
    issued = list(
        Invoice.objects.filter(status=Invoice.Status.ISSUED).select_related(
            "client", "billing_company", "credited_invoice"
        )
    )
    assert {invoice.kind for invoice in issued} == {"invoice", "credit_note"}
    reachable = 0
    for invoice in issued:
        report = validate(invoice_ubl_render(invoice))
        if invoice.client.peppol_address:
            reachable += 1
            assert report.ok, (invoice.display_number, report.fatal)
        else:
            # A private person has no Peppol address: the one thing the e-invoice lacks.
            assert report.rule_ids() == {"PEPPOL-EN16931-R010"}, invoice.display_number
    assert reachable >= 30


def test_the_e_invoice_carries_the_pdfs_figures_and_the_pdf_itself() -> None:
    company, client = _company_client()
    invoice = make_invoice(company, client, reference="PO-77")
    root = etree.fromstring(invoice_ubl_render(invoice))
    totals = totals_of(invoice.lines.all())
    rows = [
        (s.findtext("cbc:TaxableAmount", namespaces=NS), s.findtext("cbc:TaxAmount", namespaces=NS))
        for s in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS)
    ]
    assert rows == [(f"{row.base:.2f}", f"{row.vat:.2f}") for row in totals.by_rate]
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == (
        f"{invoice.total_incl_vat:.2f}"
    )
    assert root.findtext("cbc:BuyerReference", namespaces=NS) == "PO-77"
    assert root.findtext("cbc:ID", namespaces=NS) == invoice.display_number
    embedded = root.findtext(".//cbc:EmbeddedDocumentBinaryObject", namespaces=NS)
    with invoice.pdf.open("rb") as handle:
        assert embedded is not None and base64.b64decode(embedded) == handle.read()


def test_without_a_reference_the_client_number_is_the_buyer_reference() -> None:
    company, client = _company_client()
    invoice = make_invoice(company, client)
    root = etree.fromstring(invoice_ubl_render(invoice))
    assert root.findtext("cbc:BuyerReference", namespaces=NS) == client.number
    with_order = make_invoice(company, client, order_reference="BC-12")
    root = etree.fromstring(invoice_ubl_render(with_order))
    assert root.find("cbc:BuyerReference", NS) is None
    assert root.findtext("cac:OrderReference/cbc:ID", namespaces=NS) == "BC-12"


def test_ensure_stores_once_and_gives_the_same_bytes_again() -> None:
    company, client = _company_client()
    invoice = make_invoice(company, client)
    content = invoice_ubl_ensure(invoice)
    invoice.refresh_from_db()
    assert invoice.ubl.name.endswith(".xml")
    assert invoice.ubl_sha256 == hashlib.sha256(content).hexdigest()
    assert invoice.ubl_findings == []
    name = invoice.ubl.name
    assert invoice_ubl_ensure(invoice) == content
    again = Invoice.objects.get(pk=invoice.pk)
    assert invoice_ubl_ensure(again) == content and again.ubl.name == name


def test_a_credit_note_is_a_valid_creditnote_citing_its_invoice() -> None:
    company, client = _company_client()
    invoice = make_invoice(company, client)
    note = invoice_issue(invoice=credit_note_create(invoice=invoice, by=None), by=None)
    root = etree.fromstring(invoice_ubl_ensure(note))
    assert etree.QName(root).localname == "CreditNote"
    assert (
        root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS)
        == invoice.display_number
    )


def test_categories_without_vat_carry_their_mentions() -> None:
    company, client = _company_client(language="nl")
    lines = [
        {"description": "Renovatie", "unit_price": "1000.00", "vat_category": "AE"},
        {"description": "Opleiding", "unit_price": "200.00", "vat_category": "E"},
        {"description": "Boekhouding", "unit_price": "300.00", "vat_rate": "21"},
    ]
    invoice = make_invoice(
        company, client, lines=lines, vat_exemption_reason="Vrijstelling — artikel 44 W.btw"
    )
    root = etree.fromstring(invoice_ubl_ensure(invoice))
    reasons = {
        c.findtext("cbc:ID", namespaces=NS): c.findtext("cbc:TaxExemptionReason", namespaces=NS)
        for c in root.iterfind("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", NS)
    }
    assert reasons["S"] is None and reasons["E"] == "Vrijstelling — artikel 44 W.btw"
    assert reasons["AE"] == pdf_words("nl")["mention_AE"]  # the PDF's mention, in Dutch


def test_an_exempt_invoice_without_its_reason_is_refused_and_the_findings_kept() -> None:
    """Issuing refuses an exempt line without its reason; an invoice issued before that rule
    (its reason blank in the database) is refused by the e-invoice's validation."""
    company, client = _company_client()
    lines = [{"description": "Formation", "unit_price": "300.00", "vat_category": "E"}]
    invoice = make_invoice(
        company, client, lines=lines, vat_exemption_reason="Exonération — article 44"
    )
    Invoice.objects.filter(pk=invoice.pk).update(vat_exemption_reason="")
    invoice = Invoice.objects.get(pk=invoice.pk)
    with pytest.raises(UblInvalidError) as caught:
        invoice_ubl_ensure(invoice)
    assert "BR-E-10" in {finding.rule_id for finding in caught.value.findings}
    assert "BR-E-10" in " ".join(caught.value.messages)
    invoice.refresh_from_db()
    assert not invoice.ubl and not invoice.ubl_sha256
    assert "BR-E-10" in {finding["rule_id"] for finding in invoice.ubl_findings}


def test_a_client_made_reachable_gets_its_e_invoice_and_the_findings_go() -> None:
    company = make_billing_company()
    client = make_invoice_client(kind="person", name="Jan Maes")
    invoice = make_invoice(company, client)
    with pytest.raises(UblInvalidError):
        invoice_ubl_ensure(invoice)
    invoice.refresh_from_db()
    assert [f["rule_id"] for f in invoice.ubl_findings] == ["PEPPOL-EN16931-R010"]
    client.peppol_id = "0208:0446407064"
    client.save()
    invoice = Invoice.objects.get(pk=invoice.pk)
    invoice_ubl_ensure(invoice)
    invoice.refresh_from_db()
    assert invoice.ubl and invoice.ubl_findings == []


def test_a_bad_enterprise_number_of_the_company_is_r043() -> None:
    company = make_billing_company(enterprise_number="0494.482.245", vat_number="")
    client = make_invoice_client(enterprise_number="0446.407.064")
    invoice = make_invoice(company, client)
    with pytest.raises(UblInvalidError) as caught:
        invoice_ubl_ensure(invoice)
    assert "PEPPOL-COMMON-R043" in {finding.rule_id for finding in caught.value.findings}


def test_a_draft_has_no_e_invoice() -> None:
    company, client = _company_client()
    draft = make_invoice(company, client, issue=False)
    with pytest.raises(ValidationError):
        invoice_ubl_ensure(draft)
    with pytest.raises(ValidationError):
        invoice_ubl_bytes(draft)


def test_an_altered_file_is_refused() -> None:
    company, client = _company_client()
    invoice = make_invoice(company, client)
    invoice_ubl_ensure(invoice)
    with open(invoice.ubl.path, "ab") as handle:
        handle.write(b"<!-- -->")
    with pytest.raises(ValidationError, match="altérée"):
        invoice_ubl_bytes(invoice)


# The invoice page.


@pytest.fixture
def anne(client: Browser) -> Collaborator:
    collaborator = make_collaborator()
    client.force_login(collaborator)
    return collaborator


def test_the_page_generates_then_offers_the_exact_stored_bytes(
    client: Browser, anne: Collaborator
) -> None:
    company, record = _company_client()
    invoice = make_invoice(company, record)
    page = client.get(reverse("billing:invoice", args=[invoice.pk])).content.decode()
    assert "Facture électronique (Peppol)" in page
    assert "Générer et valider" in page
    response = client.post(reverse("billing:invoice_ubl", args=[invoice.pk]), follow=True)
    page = response.content.decode()
    assert "La facture électronique est valide et enregistrée." in page
    invoice.refresh_from_db()
    assert invoice.ubl_sha256 in page
    assert "Générer et valider" not in page
    download = client.get(reverse("billing:invoice_ubl", args=[invoice.pk]))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/xml"
    assert download["Content-Disposition"] == (
        f'attachment; filename="Facture-{invoice.year}-{invoice.number:04d}.xml"'
    )
    assert hashlib.sha256(download.content).hexdigest() == invoice.ubl_sha256
    with invoice.ubl.open("rb") as handle:
        assert download.content == handle.read()


def test_the_page_shows_the_findings_with_their_rule_and_link(
    client: Browser, anne: Collaborator
) -> None:
    company, record = _company_client()
    lines = [{"description": "Formation", "unit_price": "300.00", "vat_category": "E"}]
    invoice = make_invoice(company, record, lines=lines, vat_exemption_reason="Article 44")
    Invoice.objects.filter(pk=invoice.pk).update(vat_exemption_reason="")
    response = client.post(reverse("billing:invoice_ubl", args=[invoice.pk]), follow=True)
    page = response.content.decode()
    assert "ne passe pas la validation Peppol" in page
    assert 'data-rule="BR-E-10"' in page
    assert "Une ligne exonérée (E) demande le motif de l&#x27;exonération sur la facture." in page
    assert "https://docs.peppol.eu/poacc/billing/3.0/rules/ubl-tc434/BR-E-10/" in page
    assert client.get(reverse("billing:invoice_ubl", args=[invoice.pk])).status_code == 404


def test_a_draft_has_no_e_invoice_page(client: Browser, anne: Collaborator) -> None:
    company, record = _company_client()
    draft = make_invoice(company, record, issue=False)
    assert client.get(reverse("billing:invoice_ubl", args=[draft.pk])).status_code == 404
    assert client.post(reverse("billing:invoice_ubl", args=[draft.pk])).status_code == 404
    page = client.get(reverse("billing:invoice", args=[draft.pk])).content.decode()
    assert "Facture électronique (Peppol)" not in page


def test_amounts_of_rounding_edges_stay_exact() -> None:
    company, client = _company_client()
    lines = [
        {"description": "A", "quantity": "0.005", "unit_price": "1.00", "vat_rate": "21"},
        {"description": "B", "quantity": "1.005", "unit_price": "0.10", "vat_rate": "6"},
        {"description": "C", "quantity": "3", "unit_price": "0.05", "vat_rate": "12"},
        {"description": "Remise", "quantity": "1", "unit_price": "-0.01", "vat_rate": "21"},
    ]
    invoice = make_invoice(company, client, lines=lines)
    assert invoice.total_incl_vat == Decimal(
        invoice_ubl_render(invoice)
        .split(b"<cbc:PayableAmount")[1]
        .split(b">")[1]
        .split(b"<")[0]
        .decode()
    )
    invoice_ubl_ensure(invoice)


def test_a_re_send_sends_the_stored_document_even_after_the_company_changed() -> None:
    company, client = _company_client()
    invoice = make_invoice(company, client)
    content = invoice_ubl_ensure(invoice)
    company.iban = "BE71 0961 2345 6769"
    company.save()
    again = Invoice.objects.select_related("billing_company").get(pk=invoice.pk)
    assert invoice_ubl_ensure(again) == content
    assert b"BE18001013384965" in content


def test_an_intra_community_supply_to_a_dutch_client_is_valid() -> None:
    company = make_billing_company()
    client = make_invoice_client(
        name="Bakkerij Jansen",
        legal_form="BV",
        country="NL",
        vat_number="NL859124873B01",
        peppol_id="0106:12345678",
        street="Damrak 1",
        postal_code="1012 LG",
        city="Amsterdam",
    )
    lines = [
        {"description": "Boeken", "quantity": "10", "unit_price": "24.95", "vat_category": "K"}
    ]
    invoice = make_invoice(company, client, lines=lines, language="nl")
    root = etree.fromstring(invoice_ubl_ensure(invoice))
    assert root.findtext("cac:Delivery/cbc:ActualDeliveryDate", namespaces=NS) == (
        invoice.issue_date.isoformat()
    )
    assert (
        root.findtext(
            "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode",
            namespaces=NS,
        )
        == "NL"
    )
    category = root.find("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", NS)
    assert category.findtext("cbc:TaxExemptionReasonCode", namespaces=NS) == "VATEX-EU-IC"
