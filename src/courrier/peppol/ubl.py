"""A Peppol BIS Billing 3.0 invoice or credit note (UBL 2.1), written from plain data.

The document is described by frozen dataclasses (`UblDocument` and its parts), so that this
module knows nothing of the database: billing fills them from an issued invoice
(`courrier.billing.services.ubl`), tests from anything. Nothing is computed here: every
amount, the VAT breakdown included, is written as given, with exactly two decimals, so that
the e-invoice shows the PDF's very figures; the validator (`courrier.peppol.validation`) then
checks that they add up (BR-CO-10 to BR-CO-17, BR-S-08) without the rules' one-unit tolerance
ever being needed.

Choices the rules leave open, made for Belgian invoices:

* Payment: means code 30 (credit transfer), with the seller's IBAN and BIC. Code 58 (SEPA credit
  transfer) would be as valid (BR-61 treats both alike); 30 is the one every receiver reads. The
  structured communication is the payment identifier (BT-83) in its printed form
  ``+++ddd/dddd/ddddd+++``, the form Belgian software recognises as a structured communication
  (rather than a free reference). A credit note asks for no payment: it has no payment means,
  and its payment terms say that the amount is credited (the sentence its PDF prints).
* A line with a negative price (a discount) is written with a negative quantity and a positive
  price, since an item's net price may not be negative (BR-27); its amount is unchanged.
* The legal mention of a VAT category other than S and Z is written in the document's language:
  these are the fixed wordings of the Belgian VAT Code ("Autoliquidation", "Verlegging"), not
  interface texts, so they live here rather than in the translation catalogue.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lxml import etree

from courrier.peppol.artifacts import vatex_codes

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
CREDIT_TRANSFER = "30"

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_CAC = f"{{{NS_CAC}}}"
_CBC = f"{{{NS_CBC}}}"
CENT = Decimal("0.01")

# The VATEX code of each category without VAT but E (whose invoice gives its own legal ground,
# `exemption`). The mention's words are the caller's, in the document's language: billing gives
# the very mention its PDF prints (a gettext string of the "invoice pdf" context).
VATEX_CODES: dict[str, str] = {
    "AE": "VATEX-EU-AE",
    "K": "VATEX-EU-IC",
    "G": "VATEX-EU-G",
    "O": "VATEX-EU-O",
}
_VATEX = re.compile(r"VATEX-[A-Z]{2}-[0-9A-Z-]+", re.IGNORECASE)


def exemption(category: str, *, mention: str = "", reason: str = "") -> tuple[str, str]:
    """The (VATEX code, reason text) of a VAT breakdown of this category; ("", "") for S and Z.

    AE, K, G and O take their code and the `mention` given (the PDF's, in the document's
    language). E takes the invoice's own reason; a VATEX code written in it ("...
    VATEX-EU-132-1C") becomes the code when the official list has it, and leaves the text."""
    if category == "E":
        found = _VATEX.search(reason)
        if found is not None and found.group(0).upper() in vatex_codes():
            text = " ".join((reason[: found.start()] + reason[found.end() :]).split())
            return found.group(0).upper(), text.strip(" -–—:;,") or reason.strip()
        return "", reason.strip()
    if category in VATEX_CODES:
        return VATEX_CODES[category], mention.strip()
    return "", ""


@dataclass(frozen=True)
class UblParty:
    """A seller or buyer. `endpoint`: its Peppol identifier, ``0208:0123456789``;
    `enterprise_number`: the ten digits, without dots; `vat_number`: BE0123456789."""

    name: str
    country: str
    endpoint: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""
    vat_number: str = ""
    enterprise_number: str = ""
    email: str = ""


@dataclass(frozen=True)
class UblLine:
    """An invoice line: its amount is the line's net amount as billing computed it."""

    id: str
    name: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    category: str
    rate: Decimal
    unit_code: str = "C62"  # one (unit), UN/ECE Recommendation 20


@dataclass(frozen=True)
class UblVatBreakdown:
    """One row of the VAT breakdown (BG-23): a category at a rate, its base and its VAT."""

    category: str
    rate: Decimal
    base: Decimal
    vat: Decimal
    exemption_code: str = ""
    exemption_reason: str = ""


@dataclass(frozen=True)
class UblPayment:
    """How to pay: a credit transfer to `iban` quoting the 12 digits of the structured
    communication, when there is one."""

    iban: str
    bic: str = ""
    structured_communication: str = ""
    account_name: str = ""


@dataclass(frozen=True)
class UblAttachment:
    """A document joined to the e-invoice (the PDF as issued)."""

    id: str
    filename: str
    content: bytes
    mime_code: str = "application/pdf"
    description: str = ""


@dataclass(frozen=True)
class UblDocument:
    """An invoice or credit note, with its totals as computed by billing.

    Peppol requires a buyer reference or an order reference (PEPPOL-EN16931-R003); the caller
    gives one (billing gives the client's number when the invoice has no reference)."""

    kind: str  # INVOICE or CREDIT_NOTE
    number: str
    issue_date: date
    seller: UblParty
    buyer: UblParty
    lines: tuple[UblLine, ...]
    vat_breakdown: tuple[UblVatBreakdown, ...]
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    due_date: date | None = None
    buyer_reference: str = ""
    order_reference: str = ""
    credited_number: str = ""
    credited_issue_date: date | None = None
    payment: UblPayment | None = None
    payment_terms: str = ""
    attachment: UblAttachment | None = None
    note: str = ""
    delivery_date: date | None = None
    delivery_country: str = ""
    currency: str = "EUR"

    @property
    def is_credit_note(self) -> bool:
        return self.kind == CREDIT_NOTE


def amount(value: Decimal) -> str:
    """An amount with exactly two decimals: 1234.50, -0.05."""
    return f"{Decimal(value).quantize(CENT):f}"


def _plain(value: Decimal) -> str:
    """A rate or quantity as given, without an exponent: 21, 6, 1.500."""
    return f"{Decimal(value):f}"


def _scheme(identifier: str) -> tuple[str, str]:
    scheme, _sep, number = identifier.partition(":")
    return scheme, number


class _Writer:
    def __init__(self, document: UblDocument) -> None:
        self.document = document

    def sub(
        self, parent: etree._Element, tag: str, text: str | None = None, **attributes: str
    ) -> etree._Element:
        prefix = _CBC if text is not None else _CAC
        element = etree.SubElement(parent, prefix + tag, attrib=attributes or None)
        if text is not None:
            element.text = text
        return element

    def money(self, parent: etree._Element, tag: str, value: Decimal) -> None:
        self.sub(parent, tag, amount(value), currencyID=self.document.currency)

    def build(self) -> etree._Element:
        doc = self.document
        root_ns = NS_CREDIT_NOTE if doc.is_credit_note else NS_INVOICE
        root = etree.Element(
            f"{{{root_ns}}}{'CreditNote' if doc.is_credit_note else 'Invoice'}",
            nsmap={None: root_ns, "cac": NS_CAC, "cbc": NS_CBC},
        )
        self.sub(root, "CustomizationID", CUSTOMIZATION_ID)
        self.sub(root, "ProfileID", PROFILE_ID)
        self.sub(root, "ID", doc.number)
        self.sub(root, "IssueDate", doc.issue_date.isoformat())
        if doc.is_credit_note:
            self.sub(root, "CreditNoteTypeCode", "381")
        else:
            if doc.due_date is not None:
                self.sub(root, "DueDate", doc.due_date.isoformat())
            self.sub(root, "InvoiceTypeCode", "380")
        if doc.note:
            self.sub(root, "Note", doc.note)
        self.sub(root, "DocumentCurrencyCode", doc.currency)
        if doc.buyer_reference:
            self.sub(root, "BuyerReference", doc.buyer_reference)
        if doc.order_reference:
            order = self.sub(root, "OrderReference")
            self.sub(order, "ID", doc.order_reference)
        if doc.credited_number:
            billing = self.sub(root, "BillingReference")
            reference = self.sub(billing, "InvoiceDocumentReference")
            self.sub(reference, "ID", doc.credited_number)
            if doc.credited_issue_date is not None:
                self.sub(reference, "IssueDate", doc.credited_issue_date.isoformat())
        if doc.attachment is not None:
            self.attachment(root, doc.attachment)
        self.party(self.sub(root, "AccountingSupplierParty"), doc.seller, seller=True)
        self.party(self.sub(root, "AccountingCustomerParty"), doc.buyer, seller=False)
        if doc.delivery_date is not None or doc.delivery_country:
            self.delivery(root)
        if doc.payment is not None:
            self.payment(root, doc.payment)
        if doc.payment_terms:
            self.sub(self.sub(root, "PaymentTerms"), "Note", doc.payment_terms)
        self.tax_total(root)
        self.monetary_total(root)
        for line in doc.lines:
            self.line(root, line)
        return root

    def attachment(self, root: etree._Element, attachment: UblAttachment) -> None:
        reference = self.sub(root, "AdditionalDocumentReference")
        self.sub(reference, "ID", attachment.id)
        if attachment.description:
            self.sub(reference, "DocumentDescription", attachment.description)
        holder = self.sub(reference, "Attachment")
        self.sub(
            holder,
            "EmbeddedDocumentBinaryObject",
            base64.b64encode(attachment.content).decode("ascii"),
            mimeCode=attachment.mime_code,
            filename=attachment.filename,
        )

    def party(self, wrapper: etree._Element, party: UblParty, *, seller: bool) -> None:
        element = self.sub(wrapper, "Party")
        if party.endpoint:
            scheme, number = _scheme(party.endpoint)
            self.sub(element, "EndpointID", number, schemeID=scheme)
        if party.enterprise_number:
            identification = self.sub(element, "PartyIdentification")
            self.sub(identification, "ID", party.enterprise_number, schemeID="0208")
        self.sub(self.sub(element, "PartyName"), "Name", party.name)
        address = self.sub(element, "PostalAddress")
        if party.street:
            self.sub(address, "StreetName", party.street)
        if party.city:
            self.sub(address, "CityName", party.city)
        if party.postal_code:
            self.sub(address, "PostalZone", party.postal_code)
        self.sub(self.sub(address, "Country"), "IdentificationCode", party.country)
        if party.vat_number:
            tax = self.sub(element, "PartyTaxScheme")
            self.sub(tax, "CompanyID", party.vat_number)
            self.sub(self.sub(tax, "TaxScheme"), "ID", "VAT")
        legal = self.sub(element, "PartyLegalEntity")
        self.sub(legal, "RegistrationName", party.name)
        if party.enterprise_number:
            self.sub(legal, "CompanyID", party.enterprise_number, schemeID="0208")
        if seller and party.email:
            self.sub(self.sub(element, "Contact"), "ElectronicMail", party.email)

    def delivery(self, root: etree._Element) -> None:
        doc = self.document
        delivery = self.sub(root, "Delivery")
        if doc.delivery_date is not None:
            self.sub(delivery, "ActualDeliveryDate", doc.delivery_date.isoformat())
        if doc.delivery_country:
            address = self.sub(self.sub(delivery, "DeliveryLocation"), "Address")
            self.sub(self.sub(address, "Country"), "IdentificationCode", doc.delivery_country)

    def payment(self, root: etree._Element, payment: UblPayment) -> None:
        means = self.sub(root, "PaymentMeans")
        self.sub(means, "PaymentMeansCode", CREDIT_TRANSFER)
        digits = payment.structured_communication
        if digits:
            self.sub(means, "PaymentID", f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++")
        account = self.sub(means, "PayeeFinancialAccount")
        self.sub(account, "ID", "".join(payment.iban.split()).upper())
        if payment.account_name:
            self.sub(account, "Name", payment.account_name)
        if payment.bic:
            branch = self.sub(account, "FinancialInstitutionBranch")
            self.sub(branch, "ID", "".join(payment.bic.split()).upper())

    def category(
        self, parent: etree._Element, tag: str, category: str, rate: Decimal, **extra: str
    ) -> None:
        element = self.sub(parent, tag)
        self.sub(element, "ID", category)
        # BR-O-05: a category outside the scope of VAT has no rate at all.
        if category != "O":
            self.sub(element, "Percent", _plain(rate))
        if extra.get("code"):
            self.sub(element, "TaxExemptionReasonCode", extra["code"])
        if extra.get("reason"):
            self.sub(element, "TaxExemptionReason", extra["reason"])
        self.sub(self.sub(element, "TaxScheme"), "ID", "VAT")

    def tax_total(self, root: etree._Element) -> None:
        doc = self.document
        total = self.sub(root, "TaxTotal")
        self.money(total, "TaxAmount", doc.total_vat)
        for row in doc.vat_breakdown:
            subtotal = self.sub(total, "TaxSubtotal")
            self.money(subtotal, "TaxableAmount", row.base)
            self.money(subtotal, "TaxAmount", row.vat)
            self.category(
                subtotal,
                "TaxCategory",
                row.category,
                row.rate,
                code=row.exemption_code,
                reason=row.exemption_reason,
            )

    def monetary_total(self, root: etree._Element) -> None:
        doc = self.document
        total = self.sub(root, "LegalMonetaryTotal")
        self.money(total, "LineExtensionAmount", doc.total_excl_vat)
        self.money(total, "TaxExclusiveAmount", doc.total_excl_vat)
        self.money(total, "TaxInclusiveAmount", doc.total_incl_vat)
        self.money(total, "PayableAmount", doc.total_incl_vat)

    def line(self, root: etree._Element, line: UblLine) -> None:
        credit = self.document.is_credit_note
        element = self.sub(root, "CreditNoteLine" if credit else "InvoiceLine")
        self.sub(element, "ID", line.id)
        quantity, price = line.quantity, line.unit_price
        if price < 0:  # BR-27: a discount is a negative quantity at a positive price
            quantity, price = -quantity, -price
        self.sub(
            element,
            "CreditedQuantity" if credit else "InvoicedQuantity",
            _plain(quantity),
            unitCode=line.unit_code,
        )
        self.money(element, "LineExtensionAmount", line.amount)
        item = self.sub(element, "Item")
        self.sub(item, "Name", line.name)
        self.category(item, "ClassifiedTaxCategory", line.category, line.rate)
        self.money(self.sub(element, "Price"), "PriceAmount", price)


def ubl_render(document: UblDocument) -> bytes:
    """The document's UBL 2.1 XML, UTF-8 with its declaration."""
    root = _Writer(document).build()
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
