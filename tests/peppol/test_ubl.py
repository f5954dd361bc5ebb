"""The UBL written from plain data is a Peppol BIS 3 invoice or credit note that passes the
three layers, whatever the mix of VAT categories, rates, discounts and rounding edges; its
amounts are billing's, to the cent."""

from __future__ import annotations

import base64
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from courrier.billing.services.pdf import pdf_words
from courrier.peppol.ubl import CREDIT_NOTE, NS_CAC, NS_CBC, exemption, ubl_render
from courrier.peppol.validation import validate
from tests.peppol.samples import PDF, LineSpec, document

NS = {"cac": NS_CAC, "cbc": NS_CBC}


def _root(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def test_a_four_line_invoice_is_a_valid_peppol_invoice() -> None:
    xml = ubl_render(document())
    report = validate(xml)
    assert report.findings == []
    root = _root(xml)
    assert etree.QName(root).localname == "Invoice"
    text = lambda path: root.findtext(path, namespaces=NS)  # noqa: E731
    assert text("cbc:CustomizationID") == (
        "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
    )
    assert text("cbc:ProfileID") == "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
    assert text("cbc:InvoiceTypeCode") == "380"
    assert text("cbc:DueDate") == "2026-04-13"
    assert text("cac:PaymentMeans/cbc:PaymentMeansCode") == "30"
    assert text("cac:PaymentMeans/cbc:PaymentID") == "+++260/1000/04249+++"
    assert text("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "BE18001013384965"
    endpoint = root.find("cac:AccountingSupplierParty/cac:Party/cbc:EndpointID", NS)
    assert (endpoint.get("schemeID"), endpoint.text) == ("0208", "0494482244")
    # 750 + 180 at 21 %, 49.90 at 6 %, 106.88 (1.125 × 95, half up) at 12 %.
    assert [
        (s.findtext("cbc:TaxableAmount", namespaces=NS), s.findtext("cbc:TaxAmount", namespaces=NS))
        for s in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS)
    ] == [("49.90", "2.99"), ("106.88", "12.83"), ("930.00", "195.30")]
    assert text("cac:LegalMonetaryTotal/cbc:PayableAmount") == "1297.90"
    assert root.findall("cac:InvoiceLine/cbc:InvoicedQuantity", NS)[3].text == "1.125"
    embedded = root.find(".//cbc:EmbeddedDocumentBinaryObject", NS)
    assert embedded.get("mimeCode") == "application/pdf"
    assert embedded.get("filename") == "FIDU-2026-0042.pdf"
    assert base64.b64decode(embedded.text) == PDF


def test_a_credit_note_cites_the_invoice_it_corrects() -> None:
    xml = ubl_render(document(kind=CREDIT_NOTE))
    assert validate(xml).findings == []
    root = _root(xml)
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    assert (
        root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS)
        == "2026/0007"
    )
    assert root.find("cac:PaymentMeans", NS) is None
    assert len(root.findall("cac:CreditNoteLine", NS)) == 4


def test_a_discount_line_is_a_negative_quantity_at_a_positive_price() -> None:
    specs: list[LineSpec] = [
        ("Forfait annuel", Decimal("1"), Decimal("1200.00"), "21", "S"),
        ("Remise fidélité", Decimal("1"), Decimal("-120.00"), "21", "S"),
    ]
    xml = ubl_render(document(specs))
    assert validate(xml).ok
    line = _root(xml).findall("cac:InvoiceLine", NS)[1]
    assert line.findtext("cbc:InvoicedQuantity", namespaces=NS) == "-1"
    assert line.findtext("cac:Price/cbc:PriceAmount", namespaces=NS) == "120.00"
    assert line.findtext("cbc:LineExtensionAmount", namespaces=NS) == "-120.00"


def test_the_mentions_are_the_pdfs_in_the_documents_language() -> None:
    """The e-invoice's reason for a category without VAT is the mention its PDF prints, in the
    document's language, with the category's VATEX code."""

    def mention(category: str, language: str) -> str:
        return pdf_words(language)[f"mention_{category}"]

    for language in ("fr", "nl", "de", "en"):
        for category, code in (("AE", "VATEX-EU-AE"), ("K", "VATEX-EU-IC"), ("G", "VATEX-EU-G")):
            text = mention(category, language)
            assert exemption(category, mention=text) == (code, text)
    assert "Autoliquidation" in mention("AE", "fr")
    assert "erlegging" in mention("AE", "nl")
    assert mention("AE", "fr") != mention("AE", "de")
    assert exemption("S", mention="x") == ("", "")
    assert exemption("E", reason="Article 44, § 2, 1° — VATEX-EU-132-1C") == (
        "VATEX-EU-132-1C",
        "Article 44, § 2, 1°",
    )
    assert exemption("E", reason="Art. 44 (VATEX-XX-NOPE)") == (
        "",
        "Art. 44 (VATEX-XX-NOPE)",
    )


def test_a_reverse_charge_invoice_in_dutch_says_verlegging() -> None:
    specs: list[LineSpec] = [("Renovatiewerken", Decimal("1"), Decimal("5000.00"), "0", "AE")]
    xml = ubl_render(document(specs, language="nl"))
    assert validate(xml).ok
    category = _root(xml).find("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", NS)
    assert category.findtext("cbc:TaxExemptionReasonCode", namespaces=NS) == "VATEX-EU-AE"
    assert category.findtext("cbc:TaxExemptionReason", namespaces=NS).startswith(
        "Verlegging van heffing"
    )


def test_outside_the_scope_of_vat_has_no_rate_and_no_vat_numbers() -> None:
    from dataclasses import replace

    from tests.peppol.samples import BUYER, SELLER

    specs: list[LineSpec] = [("Débours", Decimal("1"), Decimal("42.00"), "0", "O")]
    doc = document(
        specs,
        seller=replace(SELLER, vat_number=""),
        buyer=replace(BUYER, vat_number=""),
    )
    assert validate(ubl_render(doc)).findings == []


# Lines as the invoice form allows them: 3 decimals of quantity, cents of price, a negative
# price for a discount; the categories of a Belgian firm's invoices, mixed.
_CATEGORY = st.sampled_from(["S6", "S12", "S21", "S21", "Z", "E", "AE", "K", "G"])
_QUANTITY = st.one_of(
    st.integers(1, 5).map(Decimal),
    st.integers(0, 99_999_999).map(lambda n: Decimal(n) / 1000),
    st.sampled_from([Decimal("0.005"), Decimal("0.015"), Decimal("0.125"), Decimal("1.005")]),
)
_PRICE = st.one_of(
    st.integers(-50_000, 500_000).map(lambda n: Decimal(n) / 100),
    st.integers(1, 9).map(lambda n: Decimal(n) / 100),
    st.integers(-(10**11), 10**11).map(lambda n: Decimal(n) / 100),
)


@st.composite
def _specs(draw: st.DrawFn) -> list[LineSpec]:
    count = draw(st.integers(1, 30))
    lines = []
    for n in range(count):
        category = draw(_CATEGORY)
        rate = category[1:] if category.startswith("S") else "0"
        lines.append(
            (
                f"Prestation {n + 1}",
                draw(_QUANTITY),
                draw(_PRICE),
                rate,
                category[:1] if category.startswith("S") else category,
            )
        )
    return lines


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=_specs(), credit=st.booleans(), language=st.sampled_from(["fr", "nl", "de", "en"]))
def test_any_mix_of_lines_gives_a_valid_e_invoice(
    specs: list[LineSpec], credit: bool, language: str
) -> None:
    doc = document(specs, kind=CREDIT_NOTE if credit else "invoice", language=language)
    report = validate(ubl_render(doc))
    assert report.ok, [(f.rule_id, f.text, f.location) for f in report.fatal]
