"""What Courrier asks of a Peppol access point: send one document, read its status, look up a
participant, test the connection.

Courrier does not speak AS4 itself: a billing company sends through the access point it has a
contract with, over that access point's own HTTP API. Each API is one module beside this one;
`SendingProfile` rows of a Peppol method (`mailing.methods`) carry its address and credentials,
and the outbox's transport for those methods (`mailing.transports.peppol`) calls `send`.

Failures are raised as `courrier.mailing.exceptions`, as the mail transports do, so that the
outbox treats a Peppol document exactly as a mail: `ProfileRejected` for refused credentials
(the profile's messages wait), `TransientError` for 429 / 5xx / timeouts (with the API's
`Retry-After`), `PermanentError` for a document the access point refuses, `DeliveryUncertain`
when the connection broke after the document was handed over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Peppol BIS Billing 3.0: the process and the two document types Courrier sends.
PROCESS_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
INVOICE_DOCUMENT_TYPE = (
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##" + CUSTOMIZATION_ID + "::2.1"
)
CREDIT_NOTE_DOCUMENT_TYPE = (
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote##"
    + CUSTOMIZATION_ID
    + "::2.1"
)


class DocumentState(StrEnum):
    """Where a document sent through an access point stands."""

    # Taken by our access point, not yet delivered to the receiver's.
    ACCEPTED = "accepted"
    # Delivered to the receiver's access point (AS4 receipt).
    DELIVERED = "delivered"
    # Refused by an access point (ours or the receiver's) or undeliverable: it did not arrive.
    REJECTED = "rejected"
    # The receiver's business response (Invoice Response), when the access point reports it.
    ACKNOWLEDGED = "acknowledged"  # AB: received, processing
    APPROVED = "approved"  # AP: accepted by the buyer
    DISPUTED = "disputed"  # UQ / RE: under query or refused by the buyer
    PAID = "paid"  # PD


@dataclass(frozen=True)
class Sent:
    """The access point took the document: its own id for it, and its answer in a line."""

    provider_id: str
    answer: str


@dataclass(frozen=True)
class DocumentStatus:
    state: DocumentState
    at: datetime | None = None
    # The access point's or the buyer's reason, as they gave it (shown to the user as is).
    detail: str = ""


@dataclass(frozen=True)
class Participant:
    """What the Peppol network says of a participant identifier (`0208:0123456789`)."""

    peppol_id: str
    registered: bool
    # The document type identifiers it can receive (empty when not registered).
    document_types: tuple[str, ...] = field(default_factory=tuple)
    name: str = ""

    @property
    def receives_invoices(self) -> bool:
        return INVOICE_DOCUMENT_TYPE in self.document_types

    @property
    def receives_credit_notes(self) -> bool:
        return CREDIT_NOTE_DOCUMENT_TYPE in self.document_types


class AccessPoint:
    """One access point's API, for one billing company's account there."""

    def send(
        self, *, xml: bytes, sender: str, receiver: str, document_type: str, idempotency_key: str
    ) -> Sent:
        """Hand over one UBL document for `receiver` (a Peppol identifier, `0208:...`)."""
        raise NotImplementedError

    def status(self, provider_id: str) -> DocumentStatus:
        """The current status of a document this account sent."""
        raise NotImplementedError

    def lookup(self, peppol_id: str) -> Participant:
        """Whether `peppol_id` is registered on Peppol, and for which document types."""
        raise NotImplementedError

    def check(self) -> str:
        """Test the credentials with a harmless call; return what the API said, in a line."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the HTTP session; never raises."""
