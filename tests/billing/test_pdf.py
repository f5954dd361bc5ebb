"""The invoice PDF: its text in each language, the EPC QR code read back, page overflow,
the firm's colour, logo and own layout."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from django.core.files.base import ContentFile
from django.test import override_settings
from pypdf import PdfReader

from courrier.billing.services import credit_note_create, invoice_issue, invoice_pdf_bytes
from courrier.billing.services.epc import EpcPayment
from courrier.billing.services.pdf import invoice_pdf_render
from tests.billing.factories import make_billing_company, make_invoice, make_invoice_client

pytestmark = pytest.mark.django_db

# A 1×1 red PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d7"
    "63f8cfc000000301010018dd8db00000000049454e44ae426082"
)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def qr_payloads(content: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(content)
    found: list[str] = []
    for page in document:
        image = page.render(scale=3).to_pil()
        found += [code.text for code in zxingcpp.read_barcodes(image)]
    return found


@pytest.mark.parametrize(
    ("language", "title", "date_text", "amount", "due_word"),
    [
        ("fr", "FACTURE", "14/03/2026", "1.178,19 €", "Échéance"),
        ("nl", "FACTUUR", "14/03/2026", "1.178,19 €", "Vervaldag"),
        ("de", "RECHNUNG", "14.03.2026", "1.178,19 €", "Fälligkeit"),
        ("en", "INVOICE", "14/03/2026", "1.178,19 €", "Due date"),
    ],
)
def test_the_pdf_holds_number_date_and_amount_in_the_invoice_language(
    language: str, title: str, date_text: str, amount: str, due_word: str
) -> None:
    company = make_billing_company()
    invoice = make_invoice(company, make_invoice_client(language=language))
    text = pdf_text(invoice_pdf_bytes(invoice)).replace("\u202f", " ").replace("\xa0", " ")
    assert title in text
    assert "2026/0001" in text
    assert date_text in text
    assert amount in text
    assert due_word in text
    assert "Livre « Fiscalité »" in text  # accents and guillemets in the embedded font
    assert invoice.structured_communication[:3] in text
    # The legal mentions of the billing company.
    assert "Fiduciaire Demo SRL" in text
    assert "0494.482.244" in text
    assert "BE18 0010 1338 4965" in text
    assert "Avenue Louise 250" in text


def test_the_epc_qr_code_reads_back_field_by_field() -> None:
    company = make_billing_company()
    invoice = make_invoice(company, make_invoice_client())
    [payload] = qr_payloads(invoice_pdf_bytes(invoice))
    fields = payload.split("\n")
    assert fields[:4] == ["BCD", "002", "1", "SCT"]
    assert fields[4] == "GEBABEBB"
    assert fields[5] == "Fiduciaire Demo SRL"
    assert fields[6] == "BE18001013384965"
    assert fields[7] == "EUR1178.19"
    assert fields[8] == ""  # no purpose code
    assert fields[9] == invoice.structured_communication  # the 12 digits, reference field
    assert len(fields) == 10  # no free text next to the reference
    assert (
        payload
        == EpcPayment(
            bic="GEBABEBB",
            name="Fiduciaire Demo SRL",
            iban="BE18 0010 1338 4965",
            amount=Decimal("1178.19"),
            reference=invoice.structured_communication,
        ).payload()
    )


def test_a_credit_note_has_no_payment_code() -> None:
    company = make_billing_company()
    client = make_invoice_client(language="nl")
    invoice = make_invoice(company, client)
    note = invoice_issue(invoice=credit_note_create(invoice=invoice, by=None), by=None)
    content = invoice_pdf_bytes(note)
    assert qr_payloads(content) == []
    text = pdf_text(content)
    assert "CREDITNOTA" in text
    assert "2026/0001" in text and "2026/0002" in text  # its number and the credited one


def test_the_epc_payload_refuses_both_reference_and_text_and_bad_amounts() -> None:
    base = {"bic": "X", "name": "N", "iban": "BE18", "amount": Decimal("1")}
    with pytest.raises(ValueError):
        EpcPayment(**base, reference="1", text="t").payload()  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EpcPayment(**{**base, "amount": Decimal("0")}).payload()  # type: ignore[arg-type]


def test_many_lines_flow_onto_more_pages() -> None:
    company = make_billing_company()
    lines = [
        {"description": f"Prestation n° {n} — révision", "unit_price": "10.00"} for n in range(70)
    ]
    invoice = make_invoice(company, make_invoice_client(), lines=lines)
    content = invoice_pdf_bytes(invoice)
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) >= 2
    assert "Prestation n° 0 " in reader.pages[0].extract_text()
    assert "Prestation n° 69" in pdf_text(content)
    last = reader.pages[-1].extract_text()
    assert "847,00" in last  # the totals come after the last line
    assert f"Page {len(reader.pages)}/{len(reader.pages)}" in last
    # The table's header is repeated on the next page.
    assert "Description" in reader.pages[1].extract_text()


def test_one_line_fits_on_one_page() -> None:
    company = make_billing_company()
    invoice = make_invoice(
        company, make_invoice_client(), lines=[{"description": "x", "unit_price": "1"}]
    )
    assert len(PdfReader(io.BytesIO(invoice_pdf_bytes(invoice))).pages) == 1


def test_a_draft_is_marked_as_such() -> None:
    company = make_billing_company()
    draft = make_invoice(company, make_invoice_client(language="de"), issue=False)
    assert "ENTWURF" in pdf_text(invoice_pdf_render(draft))


def test_colour_logo_and_footer_of_the_company() -> None:
    company = make_billing_company(
        invoice_colour="#C00000", invoice_footer="Conditions générales au verso."
    )
    company.invoice_logo.save("logo.png", ContentFile(PNG))
    invoice = make_invoice(company, make_invoice_client())
    content = invoice_pdf_bytes(invoice)
    assert "Conditions générales au verso." in pdf_text(content)
    page = PdfReader(io.BytesIO(content)).pages[0]
    assert page["/Resources"].get("/XObject"), "the logo is embedded as an image"
    # The title is printed in the company's colour (#C00000: 192/255 0 0).
    assert b"0.7529412 0 0 scn" in page.get_contents().get_data()


def test_a_firm_layout_in_the_data_directory_replaces_ours(tmp_path: Path) -> None:
    layouts = tmp_path / "layouts"
    layouts.mkdir()
    (layouts / "invoice-FIDU.typ").write_text(
        "#let data = json(bytes(sys.inputs.data))\n"
        '#set text(font: "Libertinus Serif")\n'
        "Notre mise en page : #data.title #data.number #data.total.at(1)\n",
        encoding="utf-8",
    )
    company = make_billing_company()
    other = make_billing_company("BOEK", enterprise_number="0663.412.791")
    client = make_invoice_client()
    with override_settings(DATA_DIR=tmp_path):
        ours = make_invoice(company, client, issue_date=date(2026, 5, 1))
        theirs = make_invoice(other, client, issue_date=date(2026, 5, 1))
    assert "Notre mise en page : Facture 2026/0001 1.178,19 €" in pdf_text(
        invoice_pdf_bytes(ours)
    ).replace("\u202f", " ").replace("\xa0", " ")
    assert "Notre mise en page" not in pdf_text(invoice_pdf_bytes(theirs))
