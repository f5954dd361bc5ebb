"""Is a client reachable on Peppol, and for which documents? Asked of an access point.

The look-up goes through the access point of the client's billing company (else the first
billing company that has one: any access point answers for the whole network), and what it
says is kept on the client (`peppol_registered`, `peppol_document_types`, `peppol_checked_at`)
so that the pre-send check blocks an e-invoice to a participant the network does not know
without asking again for every invoice. `clients_lookup` does it for many clients, for the
command that switches a firm's clients to Peppol at once; it never stops on one client's error,
and waits when the access point asks it to (HTTP 429, `Retry-After`), a bounded number of times.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.utils import timezone

from courrier.clients.models import Client, InvoiceChannel
from courrier.mailing.exceptions import MailingError, TransientError
from courrier.mailing.models import SendingProfile
from courrier.peppol.access_points.base import INVOICE_DOCUMENT_TYPE, AccessPoint, Participant

# How long the bulk look-up waits at most for one answer the access point asked it to retry.
_LONGEST_WAIT = 60.0
_TRIES = 4


class NoAccessPoint(LookupError):
    """No billing company has an access point: nothing can be looked up."""


def lookup_profile(client: Client | None = None) -> SendingProfile:
    """The access point that answers for `client`: its billing company's, else the first one
    configured. Raises NoAccessPoint when there is none."""
    profiles = SendingProfile.objects.filter(peppol_company__isnull=False).order_by("pk")
    if client is not None and client.billing_company_id is not None:
        own = profiles.filter(peppol_company_id=client.billing_company_id).first()
        if own is not None:
            return own
    first = profiles.first()
    if first is None:
        raise NoAccessPoint()
    return first


def client_lookup(client: Client, *, access_point: AccessPoint) -> Participant:
    """Look `client` up on Peppol through `access_point` and keep the answer on the client.
    Raises ValueError when the client has no Peppol identifier, a MailingError when the access
    point fails (the client keeps what it knew)."""
    peppol_id = client.peppol_address
    if not peppol_id:
        raise ValueError("no Peppol identifier")
    participant = access_point.lookup(peppol_id)
    client.peppol_registered = participant.registered
    client.peppol_document_types = list(participant.document_types)
    client.peppol_checked_at = timezone.now()
    Client.objects.filter(pk=client.pk).update(
        peppol_registered=client.peppol_registered,
        peppol_document_types=client.peppol_document_types,
        peppol_checked_at=client.peppol_checked_at,
    )
    return participant


@dataclass
class LookupReport:
    """What a bulk look-up found, by client number."""

    registered: list[str] = field(default_factory=list)
    not_registered: list[str] = field(default_factory=list)
    no_identifier: list[str] = field(default_factory=list)
    switched: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def clients_lookup(
    clients: Iterable[Client],
    *,
    access_point_for: Callable[[Client], AccessPoint],
    switch: bool = False,
    progress: Callable[[Client, str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LookupReport:
    """Look every client up; `switch`: a client registered for invoices is switched to Peppol
    (its channel set, the others left as they are). `progress(client, outcome)` is told each
    client's outcome: "registered", "not_registered", "no_identifier", "switched" or "error"."""
    report = LookupReport()
    for client in clients:
        outcome = _one(client, access_point_for, report, sleep)
        if (
            outcome == "registered"
            and switch
            and client.invoice_channel != InvoiceChannel.PEPPOL
            and INVOICE_DOCUMENT_TYPE in client.peppol_document_types
        ):
            Client.objects.filter(pk=client.pk).update(invoice_channel=InvoiceChannel.PEPPOL)
            client.invoice_channel = InvoiceChannel.PEPPOL
            report.switched.append(client.number)
            outcome = "switched"
        if progress is not None:
            progress(client, outcome)
    return report


def _one(
    client: Client,
    access_point_for: Callable[[Client], AccessPoint],
    report: LookupReport,
    sleep: Callable[[float], None],
) -> str:
    if not client.peppol_address:
        report.no_identifier.append(client.number)
        return "no_identifier"
    for attempt in range(_TRIES):
        try:
            participant = client_lookup(client, access_point=access_point_for(client))
        except TransientError as exc:
            if attempt == _TRIES - 1:
                report.errors[client.number] = str(exc)
                return "error"
            sleep(min(exc.retry_after or 2.0 ** (attempt + 1), _LONGEST_WAIT))
            continue
        except (MailingError, NoAccessPoint) as exc:
            report.errors[client.number] = str(exc)
            return "error"
        if participant.registered:
            report.registered.append(client.number)
            return "registered"
        report.not_registered.append(client.number)
        return "not_registered"
    return "error"
