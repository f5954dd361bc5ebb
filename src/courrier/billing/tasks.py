"""Background tasks of invoicing: thin wrappers around the services, run by `courrier db_worker`."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from courrier.billing.models import Invoice
from courrier.billing.services import sending
from courrier.firm.models import Collaborator
from courrier.mailing.models import MailBatch


@task()
def compose_invoice_batch(batch_id: int, part: int = 0, parts: int = 1) -> dict[str, Any]:
    """Queue the mails of a batch of invoices (this task's share of them: every parts-th from
    the part-th), one per invoice; run again, only the missing ones."""
    if not MailBatch.objects.filter(pk=batch_id).exists():
        return {"state": "gone"}
    batch = sending.invoice_batch_compose(batch_id=batch_id, part=part, parts=parts)
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
    message = sending.invoice_send(invoice=invoice, by=by)
    return message.status
