"""Clients for the tests. The model is ClientRecord here: `client` is Django's test client."""

from __future__ import annotations

from typing import Any

from courrier.clients.models import Client as ClientRecord
from courrier.clients.models import ClientEmail


def make_client(
    number: str = "C0042", *, emails: tuple[str, ...] = (), **extra: Any
) -> ClientRecord:
    fields: dict[str, Any] = {"name": "Bakkerij Peeters", "legal_form": "BV", "language": "nl"}
    fields.update(extra)
    record = ClientRecord.objects.create(number=number, **fields)
    for position, address in enumerate(emails):
        ClientEmail.objects.create(client=record, address=address, position=position)
    return record
