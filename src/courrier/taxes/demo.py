"""Demo VAT returns, ISOC, IPP and BNB files."""

from __future__ import annotations

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator


def seed_taxes(
    *,
    collaborators: dict[str, Collaborator],
    companies: dict[str, BillingCompany],
    clients: list[Client],
) -> int:
    """Create the demo rows (idempotent); returns how many exist."""
    return 0
