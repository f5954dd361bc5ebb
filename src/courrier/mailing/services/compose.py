"""Compose: one mail from the compose window (or a caller) to the outbox, stored once.

`message_compose` strings the jobs together: the options checked (`options`), the send's setup
read (`setup`), the mail rendered (`drafts`), its bytes built and stored as queued (`store`,
`mime`). The profile that sends follows the rule of `profiles.profile_for`: the billing
company's when one is given, else the sender's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.contexts import MailContext
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    OutboundMessage,
    Upload,
)
from courrier.mailing.services.drafts import mail_draft
from courrier.mailing.services.options import compose_options
from courrier.mailing.services.setup import compose_setup
from courrier.mailing.services.store import message_for_key, message_prepare, message_store_once


def message_compose(
    *,
    sender: Collaborator,
    client: Client,
    subject: str,
    body: str,
    language: str | None = None,
    template: MailTemplate | None = None,
    archive: bool = True,
    purpose: str = "client",
    idempotency_key: str | None = None,
    billing_company: BillingCompany | None = None,
    cc: Iterable[str] | str | None = (),
    bcc: Iterable[str] | str | None = (),
    copy_to_sender: bool = False,
    read_receipt: bool = False,
    reply_to: str | None = None,
    scheduled_at: datetime | None = None,
    uploads: Sequence[Upload] = (),
    batch: MailBatch | None = None,
    context: MailContext | None = None,
) -> OutboundMessage:
    """Validate, render, build the message once and store it as queued; delivery is enqueued
    when the transaction commits (at `scheduled_at` when given). A known `idempotency_key`
    returns its message unchanged (should another request store it meanwhile, its unique
    index refuses the second message, and the first is the answer).

    Cc is a visible header; Bcc, "send me a copy" and the firm's fixed Bcc are in the envelope
    only. `billing_company` given (a mail about an invoice): that company's profile sends, and
    its absence is an error before anything is stored; otherwise the sender's profile sends.
    A `context` adds its fields, files and addresses (and, for an invoice, its billing
    company) and is recorded on the message with its object's id."""
    existing = message_for_key(idempotency_key)
    if existing is not None:
        return existing
    setup = compose_setup(
        sender=sender,
        billing_company=billing_company,
        context=context,
        uploads=uploads,
        options=compose_options(
            cc=cc,
            bcc=bcc,
            copy_to_sender=copy_to_sender,
            read_receipt=read_receipt,
            reply_to=reply_to,
            scheduled_at=scheduled_at,
            archive=archive,
        ),
    )
    preview = mail_draft(
        setup, client=client, subject=subject, body=body, language=language, context=context
    )
    return message_store_once(
        message_prepare(
            setup,
            client=client,
            preview=preview,
            template=template,
            purpose=purpose,
            idempotency_key=idempotency_key,
            batch=batch,
            context=context,
        )
    )
