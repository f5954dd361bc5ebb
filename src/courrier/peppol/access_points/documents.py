"""What Courrier reads of a UBL document before handing it to an access point: its type (the
root element) and the buyer's Peppol endpoint. The bytes are parsed without entities or network
access: they are our own, but a parser that trusts its input is a habit worth not having."""

from __future__ import annotations

from lxml import etree

from courrier.mailing.exceptions import PermanentError
from courrier.peppol.access_points.base import CREDIT_NOTE_DOCUMENT_TYPE, INVOICE_DOCUMENT_TYPE
from courrier.texts import sentence as _

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

ROOTS = {
    f"{{{INVOICE_NS}}}Invoice": INVOICE_DOCUMENT_TYPE,
    f"{{{CREDIT_NOTE_NS}}}CreditNote": CREDIT_NOTE_DOCUMENT_TYPE,
}

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _root(xml: bytes) -> etree._Element:
    try:
        return etree.fromstring(xml, parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise PermanentError(
            _("Le document Peppol n'est pas un XML lisible : il ne peut pas être envoyé."),
            detail=str(exc)[:300],
        ) from exc


def document_type_of(xml: bytes) -> str:
    """The Peppol document type identifier of a UBL Invoice or CreditNote, or PermanentError."""
    root = _root(xml)
    try:
        return ROOTS[root.tag]
    except KeyError:
        raise PermanentError(
            _(
                "Le document n'est ni une facture ni une note de crédit UBL (élément racine "
                "« %(root)s ») : il ne peut pas partir par Peppol."
            )
            % {"root": etree.QName(root).localname}
        ) from None


def buyer_endpoint(xml: bytes) -> str:
    """The buyer's endpoint as "scheme:number" (AccountingCustomerParty/Party/EndpointID), or
    "" when the document does not say."""
    root = _root(xml)
    found = root.find(f"{{{CAC}}}AccountingCustomerParty/{{{CAC}}}Party/{{{CBC}}}EndpointID")
    if found is None or not (found.text or "").strip():
        return ""
    scheme = (found.get("schemeID") or "").strip()
    number = "".join((found.text or "").split())
    return f"{scheme}:{number}" if scheme else number


def same_participant(first: str, second: str) -> bool:
    """Whether two Peppol identifiers name the same participant, however they are written."""
    from django.core.exceptions import ValidationError

    from courrier.peppol.identifiers import normalise_peppol_id

    def norm(value: str) -> str:
        try:
            return normalise_peppol_id(value).lower()
        except ValidationError:
            return "".join(value.split()).lower()

    return norm(first) == norm(second)
