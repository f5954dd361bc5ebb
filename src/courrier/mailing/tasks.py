"""Background tasks: thin wrappers around the services, run by `courrier db_worker`."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from courrier.mailing import services
from courrier.mailing.models import MailBatch, OutboundMessage


@task()
def deliver_profile(profile_id: int) -> dict[str, Any]:
    """Settle runs that stopped, then deliver a batch of the profile's ready messages.

    The delivery run sets the next one however it ends; if the sweep before it fails, the
    next run is set here, so that the chain of runs never breaks."""
    try:
        services.messages_recover()
    except Exception:
        services.delivery_ensure_next(profile_id=profile_id, after_error=True)
        raise
    return services.messages_deliver(profile_id=profile_id).as_dict()


@task()
def copy_to_sent(message_pk: int, attempt: int = 1) -> str:
    """Append a copy of a sent message to its sender's Sent folder (IMAP), once."""
    message = OutboundMessage.objects.filter(pk=message_pk).first()
    if message is None:
        return "gone"
    services.sent_copy_append(message=message, attempt=attempt)
    message.refresh_from_db(fields=["sent_copy"])
    # done, failed, copying (another run has it), or "" (a later try is enqueued)
    return message.sent_copy or "waiting"


@task()
def compose_batch(batch_id: int, part: int = 0, parts: int = 1) -> dict[str, Any]:
    """Queue the messages of a batch (this task's share: every parts-th client or object from
    the part-th), one per client or object; run again, only the missing ones."""
    if not MailBatch.objects.filter(pk=batch_id).exists():
        return {"state": "gone"}
    batch = services.batch_compose(batch_id=batch_id, part=part, parts=parts)
    return {
        "state": batch.state,
        "total": batch.total,
        "queued": batch.queued,
        "blocked": len(batch.blocked),
    }
