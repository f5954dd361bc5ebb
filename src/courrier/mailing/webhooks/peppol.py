"""What the Peppol access points' reports become: one `Event` per status that means something
to the firm (a document only taken by the access point is already "sent": no event).

Shared by the webhooks of Billit and Recommand and by the status polling
(`courrier.peppol.status`). The event's id is made of the document, its state and its moment,
so the same status reported twice (a webhook and a poll, or a replayed webhook) is kept once.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from courrier.mailing.models import DeliveryStatus
from courrier.mailing.webhooks import Event
from courrier.peppol.access_points.base import DocumentState, DocumentStatus

KINDS: dict[DocumentState, DeliveryStatus] = {
    DocumentState.DELIVERED: DeliveryStatus.DELIVERED,
    DocumentState.REJECTED: DeliveryStatus.REJECTED,
    DocumentState.ACKNOWLEDGED: DeliveryStatus.ACKNOWLEDGED,
    DocumentState.APPROVED: DeliveryStatus.APPROVED,
    DocumentState.DISPUTED: DeliveryStatus.DISPUTED,
    DocumentState.PAID: DeliveryStatus.PAID,
}
# Nothing comes after these: their documents are no longer asked about.
FINAL = frozenset({DeliveryStatus.REJECTED, DeliveryStatus.PAID})


def event_for(
    status: DocumentStatus, provider_id: str, *, now: datetime | None = None
) -> Event | None:
    """The event a document's status is, or None when it says nothing new (accepted)."""
    kind = KINDS.get(status.state)
    if kind is None or not provider_id:
        return None
    at = status.at or now or timezone.now()
    stamp = status.at.isoformat() if status.at else ""
    return Event(
        kind=kind,
        at=at,
        provider_event_id=f"peppol:{provider_id}:{status.state.value}:{stamp}"[:255],
        detail=status.detail[:2000],
        provider_message_ids=(provider_id,),
    )
