"""Billit's API as a Peppol access point: the UBL is sent as it is, by `POST /v1/peppol/sendxml`.

What its documentation says (docs.billit.be: "Send UBL to Peppol", "About v1/Peppol",
"Header values", "API Key Practical Use", "Sandbox VS Production", "Get Status Info of a Sales
Invoice", "Check Peppol Receiving Capabilities via API", "Webhooks", "Verify signature"), and
what is done with it:

- Authentication: the `ApiKey` header (the user's key, under Profile › Users & API Key) and the
  `PartyID` header (the company's numeric id in Billit, from the URL of "My company"); without
  PartyID Billit would use the oldest company of the key, so it is always sent.
- `POST /v1/peppol/sendxml` with `{"XML": "<the UBL>"}` in JSON: Billit checks the Peppol rules
  and refuses a document that breaks them (400, the document is not sent). The receiver is read
  from the UBL by Billit (there is no receiver field): Courrier checks beforehand that the UBL's
  buyer endpoint is the receiver it meant, and refuses the document otherwise.
- `Idempotent-Key` header ("to make unique requests"): the outbox message's key, so a send
  tried again after a break is not a second invoice.
- Status: `GET /v1/orders/{OrderID}`, its `CurrentDocumentDeliveryDetails`: `Pending`,
  `Delivered` (with, in `DocumentDeliveryInfo`, the buyer's last Invoice Response: Received,
  Approved, Paid, in the account's language) or `Error` (with `DocumentRefusedInfo`).
- Participant: `GET /v1/peppol/participantInformation/{number}` (a Belgian enterprise number
  or a VAT number): `Registered` and `DocumentTypes` ("BISv3Invoice", "BISv3CreditNote", ...).
- Webhooks: signed with the `Billit-Signature` header `t=<unix time>,s=<hex>`, the HMAC-SHA256
  of "<t>.<body>" with the webhook's secret (see `mailing.webhooks.billit`).
- Sandbox `https://api.sandbox.billit.be`, production `https://api.billit.be`.

Where the documentation is silent, the safe choice: the answer of sendxml is not described, so
its `OrderID` is read from a JSON object, a bare number or a string, and a send whose answer has
no id is still "sent" (the document was taken) but cannot be followed; the error bodies are not
described, so their text is shown as it is; a Peppol id of another scheme than 0208 / 9925 is
asked as "scheme:number"; the connection test reads the company (`GET /v1/parties/{PartyID}`),
which changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
from django.conf import settings

from courrier.mailing.exceptions import PermanentError, ProfileRejected
from courrier.peppol.access_points.base import (
    CREDIT_NOTE_DOCUMENT_TYPE,
    INVOICE_DOCUMENT_TYPE,
    AccessPoint,
    DocumentState,
    DocumentStatus,
    Participant,
    Sent,
)
from courrier.peppol.access_points.documents import buyer_endpoint, same_participant
from courrier.peppol.access_points.http import Client
from courrier.texts import sentence as _

SEND_PATH = "/v1/peppol/sendxml"
ORDER_PATH = "/v1/orders/{id}"
PARTICIPANT_PATH = "/v1/peppol/participantInformation/{id}"
PARTY_PATH = "/v1/parties/{id}"

# Billit's names of the document types a participant receives.
DOCUMENT_TYPES = {
    "BISv3Invoice": INVOICE_DOCUMENT_TYPE,
    "BISv3CreditNote": CREDIT_NOTE_DOCUMENT_TYPE,
}
# The buyer's last Invoice Response in DocumentDeliveryInfo, in Billit's languages.
RESPONSES = {
    "received": DocumentState.ACKNOWLEDGED,
    "ontvangen": DocumentState.ACKNOWLEDGED,
    "reçu": DocumentState.ACKNOWLEDGED,
    "recu": DocumentState.ACKNOWLEDGED,
    "in processing": DocumentState.ACKNOWLEDGED,
    "approved": DocumentState.APPROVED,
    "accepted": DocumentState.APPROVED,
    "goedgekeurd": DocumentState.APPROVED,
    "approuvé": DocumentState.APPROVED,
    "accepté": DocumentState.APPROVED,
    "rejected": DocumentState.DISPUTED,
    "under query": DocumentState.DISPUTED,
    "in dispute": DocumentState.DISPUTED,
    "geweigerd": DocumentState.DISPUTED,
    "refusé": DocumentState.DISPUTED,
    "paid": DocumentState.PAID,
    "betaald": DocumentState.PAID,
    "payé": DocumentState.PAID,
}


def production_url() -> str:
    return str(settings.PROVIDER_URLS["BILLIT"])


def parse_when(value: Any) -> datetime | None:
    """Billit's dates ("2025-03-26T14:30:48.11", UTC without offset), or None."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def status_of(order: Any) -> DocumentStatus:
    """The status an order object (GET /v1/orders/{id}, or a webhook's body) says."""
    details = order.get("CurrentDocumentDeliveryDetails") if isinstance(order, dict) else None
    if not isinstance(details, dict):
        return DocumentStatus(DocumentState.ACCEPTED)
    delivery = str(details.get("DocumentDeliveryStatus") or "").strip().lower()
    if delivery == "error" or details.get("DocumentRefusedDate"):
        detail = " — ".join(
            str(details.get(key) or "").strip()
            for key in ("DocumentRefusedInfo", "DocumentRefusedReasonTC")
            if str(details.get(key) or "").strip()
        )
        return DocumentStatus(
            DocumentState.REJECTED, parse_when(details.get("DocumentRefusedDate")), detail
        )
    if details.get("IsDocumentDelivered") or delivery == "delivered":
        info = str(details.get("DocumentDeliveryInfo") or "").strip()
        state = RESPONSES.get(info.lower(), DocumentState.DELIVERED)
        return DocumentStatus(state, parse_when(details.get("DocumentDeliveryDate")), info)
    return DocumentStatus(DocumentState.ACCEPTED)


def _order_id(answer: Any) -> str:
    if isinstance(answer, dict):
        for key in ("OrderID", "OrderId", "orderID", "ID", "Id", "id"):
            if answer.get(key) not in (None, ""):
                return str(answer[key]).strip()
        return ""
    if isinstance(answer, int | str):
        return str(answer).strip().strip('"')
    return ""


def _asked_as(peppol_id: str) -> str:
    """How participantInformation takes an identifier: the number for 0208 and 9925."""
    scheme, _colon, number = peppol_id.partition(":")
    return number if scheme in ("0208", "9925") else peppol_id


class BillitAccessPoint(AccessPoint):
    provider = "Billit"

    def __init__(
        self,
        *,
        api_key: str,
        party_id: str,
        base_url: str = "",
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key.strip() or not party_id.strip():
            raise ProfileRejected(
                _(
                    "La clé d'API Billit ou l'identifiant de la société chez Billit (PartyID) "
                    "manque : complétez les paramètres Peppol de la société."
                )
            )
        self.party_id = party_id.strip()
        self.client = Client(
            provider=self.provider,
            base_url=base_url.strip() or production_url(),
            headers={"ApiKey": api_key.strip(), "PartyID": self.party_id},
            timeout=timeout,
            session=session,
        )

    def send(
        self, *, xml: bytes, sender: str, receiver: str, document_type: str, idempotency_key: str
    ) -> Sent:
        endpoint = buyer_endpoint(xml)
        if endpoint and not same_participant(endpoint, receiver):
            raise PermanentError(
                _(
                    "Le document s'adresse à %(endpoint)s, mais il devait partir vers "
                    "%(receiver)s : Billit l'enverrait au premier. Rien n'a été envoyé."
                )
                % {"endpoint": endpoint, "receiver": receiver}
            )
        answer = self.client.call(
            "POST",
            SEND_PATH,
            body={"XML": xml.decode("utf-8")},
            headers={"Idempotent-Key": idempotency_key[:200]},
            sending=True,
        )
        order_id = _order_id(answer)
        return Sent(provider_id=order_id, answer=f"Billit OrderID {order_id or '?'}")

    def status(self, provider_id: str) -> DocumentStatus:
        return status_of(self.client.call("GET", ORDER_PATH.format(id=provider_id)))

    def lookup(self, peppol_id: str) -> Participant:
        answer = self.client.call("GET", PARTICIPANT_PATH.format(id=_asked_as(peppol_id)))
        if not isinstance(answer, dict):
            return Participant(peppol_id=peppol_id, registered=False)
        registered = bool(answer.get("Registered"))
        names = answer.get("DocumentTypes") or []
        types = tuple(
            dict.fromkeys(
                DOCUMENT_TYPES.get(str(name), str(name))
                for name in (names if isinstance(names, list) else [])
            )
        )
        return Participant(
            peppol_id=str(answer.get("Identifier") or peppol_id),
            registered=registered,
            document_types=types if registered else (),
            name=str(answer.get("Name") or answer.get("ParticipantName") or ""),
        )

    def check(self) -> str:
        answer = self.client.call("GET", PARTY_PATH.format(id=self.party_id), account_in_path=True)
        name = answer.get("Name") if isinstance(answer, dict) else ""
        return f"Billit: {name or '?'} (PartyID {self.party_id})"

    def close(self) -> None:
        self.client.close()
