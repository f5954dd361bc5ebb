"""Small UBL documents for the access-point tests: what matters to an access point (the root,
the buyer's endpoint), not a complete invoice (validation is tested elsewhere)."""

from __future__ import annotations

SELLER = "0208:0123456749"
BUYER = "0208:0987654394"


def ubl(kind: str = "Invoice", *, buyer: str = BUYER, number: str = "F2026-001") -> bytes:
    scheme, _colon, endpoint = buyer.partition(":")
    seller_scheme, _colon, seller = SELLER.partition(":")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<{kind} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{kind}-2"
  xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>
  <cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>
  <cbc:ID>{number}</cbc:ID>
  <cac:AccountingSupplierParty><cac:Party>
    <cbc:EndpointID schemeID="{seller_scheme}">{seller}</cbc:EndpointID>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cbc:EndpointID schemeID="{scheme}">{endpoint}</cbc:EndpointID>
    <cac:PartyName><cbc:Name>Société acheteuse — Ærø</cbc:Name></cac:PartyName>
  </cac:Party></cac:AccountingCustomerParty>
</{kind}>
""".encode()
