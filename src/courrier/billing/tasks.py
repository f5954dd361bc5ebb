"""Background tasks of invoicing: thin wrappers around the services, run by `courrier db_worker`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django_tasks import task

from courrier.billing.models import Invoice
from courrier.billing.services import sending
from courrier.firm.models import Collaborator
from courrier.mailing import services
from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import MailBatch

logger = logging.getLogger("courrier.billing")


@task()
def compose_invoice_batch(batch_id: int, part: int = 0, parts: int = 1) -> dict[str, Any]:
    """A batch of invoices enqueued before invoice batches became batches of the outbox like
    any other: composed by the outbox's engine (`services.batch_compose`), as
    `mailing.tasks.compose_batch` does for every batch now."""
    if not MailBatch.objects.filter(pk=batch_id).exists():
        return {"state": "gone"}
    batch = services.batch_compose(batch_id=batch_id, part=part, parts=parts)
    return {
        "state": batch.state,
        "total": batch.total,
        "queued": batch.queued,
        "blocked": len(batch.blocked),
    }


@task()
def send_invoice(invoice_id: int, by_id: int) -> str:
    """Queue the mail of an invoice just issued (the company sends on issue), once."""
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    by = Collaborator.objects.filter(pk=by_id).first()
    if invoice is None or by is None:
        return "gone"
    try:
        message = sending.invoice_send(invoice=invoice, by=by)
    except (ValidationError, MailingError) as exc:
        # Not sent: the register shows it unsent, and a batch or "@" sends it once fixed.
        reasons = [exc.user_message] if isinstance(exc, MailingError) else exc.messages
        logger.warning("invoice %s not sent on issue: %s", invoice_id, "; ".join(reasons))
        return "blocked: " + "; ".join(reasons)
    return message.status


@task()
def send_courtesy_copies(invoice_ids: list[int]) -> int:
    """The courtesy copies by e-mail of these invoices, whose e-invoices were just delivered,
    for the clients who asked for one; each once."""
    return len(sending.courtesy_copies_send(invoice_ids=invoice_ids))


def courtesy_copies_enqueue(invoice_ids: Sequence[int]) -> None:
    """Told by the outbox of the invoices whose e-invoices were delivered: their courtesy
    copies are made by the worker. A failure to enqueue is logged (the e-invoice is the legal
    document; the copy can be sent from the invoice's page)."""
    try:
        send_courtesy_copies.enqueue(list(invoice_ids))
    except Exception:
        logger.exception("courtesy copies of invoices %s not enqueued", list(invoice_ids))
