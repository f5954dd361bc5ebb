"""The validator says what an access point would say: the official examples pass, and a
broken e-invoice is refused with the rule it breaks, its page and a sentence a person reads."""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import translation
from lxml import etree

from courrier.peppol import validation
from courrier.peppol.artifacts import artifacts_dir
from courrier.peppol.ubl import NS_CBC, ubl_render
from courrier.peppol.validation import Finding, validate
from tests.peppol.samples import document

PEPPOL_EXAMPLES = sorted(
    (artifacts_dir() / "peppol-bis-invoice-3-v3.0.19" / "examples").glob("*.xml")
)
CEN_EXAMPLES = sorted((artifacts_dir() / "cen-en16931-1.3.16" / "ubl" / "examples").glob("*.xml"))


@pytest.mark.parametrize("path", PEPPOL_EXAMPLES, ids=lambda path: path.name)
def test_the_official_peppol_examples_have_no_fatal_finding(path: Path) -> None:
    report = validate(path.read_bytes())
    assert report.ok, report.fatal


@pytest.mark.parametrize("path", CEN_EXAMPLES, ids=lambda path: path.name)
def test_the_cen_examples_pass_the_schema_and_en16931(path: Path) -> None:
    # They are EN 16931 examples, not Peppol ones (no Peppol process, no endpoints): only the
    # first two layers apply to them.
    report = validate(path.read_bytes())
    assert not [f for f in report.fatal if f.layer != validation.LAYER_PEPPOL], report.fatal
    assert {f.layer for f in report.fatal} == {validation.LAYER_PEPPOL}


def _edit(xml: bytes, xpath: str, value: str | None) -> bytes:
    root = etree.fromstring(xml)
    namespaces = {"cbc": NS_CBC, "cac": root.nsmap["cac"], "u": root.nsmap[None]}
    for element in root.xpath(xpath, namespaces=namespaces):
        if value is None:
            element.getparent().remove(element)
        else:
            element.text = value
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_missing_buyer_reference_is_peppol_r003() -> None:
    xml = _edit(ubl_render(document()), "/u:Invoice/cbc:BuyerReference", None)
    report = validate(xml)
    assert "PEPPOL-EN16931-R003" in report.rule_ids()
    finding = next(f for f in report.fatal if f.rule_id == "PEPPOL-EN16931-R003")
    assert finding.layer == "peppol"
    assert (
        finding.url
        == "https://docs.peppol.eu/poacc/billing/3.0/rules/ubl-peppol/PEPPOL-EN16931-R003/"
    )
    assert finding.text.startswith("A buyer reference or purchase order reference MUST")


def test_a_wrong_tax_inclusive_total_is_br_co_15() -> None:
    xml = _edit(
        ubl_render(document()),
        "//cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
        "1.00",
    )
    report = validate(xml)
    assert "BR-CO-15" in report.rule_ids()
    finding = next(f for f in report.fatal if f.rule_id == "BR-CO-15")
    assert finding.url == "https://docs.peppol.eu/poacc/billing/3.0/rules/ubl-tc434/BR-CO-15/"
    assert "TaxInclusiveAmount" not in finding.explanation  # said for a person


def test_an_exempt_line_without_a_reason_is_br_e_10() -> None:
    specs = [("Formation", Decimal("1"), Decimal("300.00"), "0", "E")]
    report = validate(ubl_render(document(specs, reason="")))
    assert "BR-E-10" in report.rule_ids()


def test_a_bad_enterprise_number_is_peppol_common_r043() -> None:
    xml = _edit(
        ubl_render(document()), "//cac:AccountingCustomerParty//cbc:EndpointID", "0446407065"
    )
    report = validate(xml)
    assert report.rule_ids() == {"PEPPOL-COMMON-R043"}


def test_what_is_not_a_ubl_invoice_gets_one_clear_finding() -> None:
    for content in (b"not xml at all", b"<Invoice/>", b'<?xml version="1.0"?><a xmlns="x"/>'):
        report = validate(content)
        assert not report.ok
        assert [f.rule_id for f in report.findings] == ["XSD"]


def test_a_schema_error_is_reported_with_its_line() -> None:
    xml = _edit(ubl_render(document()), "/u:Invoice/cbc:IssueDate", "14/03/2026")
    report = validate(xml)
    schema = [f for f in report.fatal if f.layer == "xsd"]
    assert schema and schema[0].location.startswith("line ")
    assert schema[0].url == ""


def test_the_known_rules_are_explained_in_the_readers_language() -> None:
    finding = Finding("cen", "BR-CO-15", "fatal", "Invoice total amount with VAT ...", "/")
    with translation.override("fr"):
        assert finding.explanation.startswith("Le total TVA comprise")
    unknown = Finding("cen", "BR-CL-14", "fatal", "Country codes ...", "/")
    assert unknown.explanation == "Country codes ..."
    assert Finding.from_dict(finding.as_dict()) == finding
    # Every rule id of the table exists in the release's rule sets.
    folder = artifacts_dir() / validation.RELEASE / "sch"
    known = set(
        re.findall(r'id="([A-Z][A-Z0-9-]+)"', "".join(p.read_text() for p in folder.glob("*.sch")))
    )
    assert set(validation.RULE_TEXTS) - {"XSD"} <= known


def test_threads_share_one_validator_safely() -> None:
    good = ubl_render(document())
    bad = _edit(good, "/u:Invoice/cbc:BuyerReference", None)
    results: list[tuple[bool, bool]] = []

    def check() -> None:
        for _ in range(3):
            results.append((validate(good).ok, validate(bad).ok))

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [(True, False)] * 12
    assert validation.validator() is validation.validator()
