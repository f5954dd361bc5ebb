"""The outbox store: a rendered mail prepared (row and bytes) and stored as queued.

`message_prepare` builds the row and the bytes of a `drafts.Preview`, outside any transaction;
`messages_store` stores many in the caller's transaction (three statements whatever their
number), `message_store` one in its own, `message_store_once` one whose idempotency key may
already be taken. Delivery is enqueued when the transaction commits.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.mailing.contexts import CLIENT_CONTEXT, MailContext
from courrier.mailing.exceptions import ConfigurationError
from courrier.mailing.models import (
    Channel,
    MailBatch,
    MailTemplate,
    OutboundMessage,
    SendingProfile,
)
from courrier.mailing.services.contents import contents_store
from courrier.mailing.services.delivery import enqueue_on_commit
from courrier.mailing.services.drafts import Preview, too_large, unique_addresses
from courrier.mailing.services.mime import message_id_for, mime_bytes
from courrier.mailing.services.setup import SendSetup, files_of
from courrier.sql import per_row
from courrier.texts import text_error

logger = logging.getLogger("courrier.mailing")

Status = OutboundMessage.Status


# mail can hold it, and it is only looked for in the headers.
_ROW_MARKER = f"row-{uuid.uuid4().hex}".encode("ascii")
_ID_DIGITS = 19  # the longest id the marker can stand for (a 64-bit integer)


@dataclass
class PreparedMessage:
    """A mail rendered and built, not stored yet: its row (unsaved) and its bytes, whose
    X-Courrier-Message header waits for the row's id."""

    message: OutboundMessage
    raw: bytes
    # A document for an access point (`document_prepare`): its bytes are stored as they are.
    document: bool = False

    def bytes_for(self, row_id: int) -> bytes:
        if self.document:
            return self.raw
        head, separator, body = self.raw.partition(b"\r\n\r\n")
        head = head.replace(_ROW_MARKER, str(row_id).encode("ascii"), 1)
        return head + separator + body


def message_prepare(
    setup: SendSetup,
    *,
    client: Client,
    preview: Preview,
    template: MailTemplate | None,
    purpose: str,
    idempotency_key: str | None,
    batch: MailBatch | None = None,
    context: MailContext | None = None,
) -> PreparedMessage:
    """The row and the bytes of a rendered mail, nothing stored: the MIME message is built
    here, outside any transaction (on SQLite, outside the write lock). Raises what would stop
    it from being stored: no profile or one to fix, a field left empty or a value left to type
    (`Preview.blockers`), no address, a message over the method's limit."""
    profile = setup.profile
    if profile is None:  # profile_for raised before any caller gets here
        raise ConfigurationError()
    if setup.problem is not None:
        raise setup.problem
    if preview.blockers:
        # The pre-send check said so already; no path stores a mail with a hole.
        raise ValidationError([text_error(text, code="hole") for text in preview.blockers])
    if not preview.to:
        raise ValidationError(
            _("Le client %(client)s n'a pas d'adresse e-mail : ajoutez-en une dans sa fiche."),
            code="no_address",
            params={"client": client.display_name},
        )
    options = setup.options
    message_id = message_id_for(profile.from_address)
    raw = mime_bytes(
        preview=preview,
        message_id=message_id,
        row_id=_ROW_MARKER.decode("ascii"),
        attachments=files_of(setup, context),
    )
    size = len(raw) - len(_ROW_MARKER) + _ID_DIGITS
    if size > setup.size_limit:
        raise text_error(too_large(size, setup), code="size")
    message = OutboundMessage(
        profile=profile,
        sender=setup.sender,
        client=client,
        purpose=purpose,
        context=context.name if context is not None else CLIENT_CONTEXT,
        object_id=context.object_id if context is not None else None,
        template=template,
        idempotency_key=idempotency_key or None,
        archived=options.archive,
        language=preview.language,
        message_id=message_id,
        subject=preview.rendered.subject,
        from_address=profile.from_address,
        to=preview.to,
        cc=preview.cc,
        bcc=unique_addresses(
            [*options.bcc, *([setup.sender.email] if options.copy_to_sender else [])],
            without=preview.to + preview.cc,
        ),
        envelope_recipients=preview.envelope,
        read_receipt=options.read_receipt,
        scheduled_at=options.scheduled_at,
        batch=batch,
        status=Status.QUEUED,
    )
    return PreparedMessage(message=message, raw=raw)


def document_prepare(  # noqa: PLR0913 (a document's row, keyword-only)
    *,
    profile: SendingProfile,
    sender: Collaborator,
    client: Client,
    raw: bytes,
    receiver: str,
    subject: str,
    language: str,
    purpose: str,
    idempotency_key: str,
    batch: MailBatch | None = None,
    context: MailContext | None = None,
) -> PreparedMessage:
    """The row of a document that leaves through an access point rather than as a mail (a
    Peppol e-invoice): `raw` is the document as made and validated, `receiver` its recipient's
    identifier on the network. It is stored, claimed, retried, found uncertain and archived in
    the client's file as a mail is; its transport is its profile's (a Peppol method)."""
    message = OutboundMessage(
        profile=profile,
        sender=sender,
        client=client,
        purpose=purpose,
        context=context.name if context is not None else CLIENT_CONTEXT,
        object_id=context.object_id if context is not None else None,
        idempotency_key=idempotency_key,
        archived=True,
        language=language,
        message_id=f"<{uuid.uuid4()}@peppol.invalid>",
        subject=subject,
        from_address=profile.from_address,
        to=[receiver],
        envelope_recipients=[receiver],
        batch=batch,
        status=Status.QUEUED,
        channel=Channel.PEPPOL,
    )
    return PreparedMessage(message=message, raw=raw, document=True)


def messages_store(
    prepared: Sequence[PreparedMessage], *, enqueue: bool = True
) -> list[OutboundMessage]:
    """Store prepared mails as queued, in the caller's transaction (all or none): their rows
    in one INSERT, their bytes (each with its row's id) in another, their sizes in one UPDATE,
    whatever their number. Delivery is enqueued when the transaction commits (`enqueue`), once
    per profile and scheduled time. A known idempotency key raises IntegrityError."""
    if not prepared:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError("messages_store needs a transaction")
    messages = OutboundMessage.objects.bulk_create([item.message for item in prepared])
    contents: list[tuple[OutboundMessage, bytes]] = []
    sizes: dict[int, int] = {}
    for item, message in zip(prepared, messages, strict=True):
        raw = item.bytes_for(message.pk)
        contents.append((message, raw))
        message.size = sizes[message.pk] = len(raw)
    contents_store(contents)
    for message in messages:
        logger.info(
            "message %s queued for profile %s (%d bytes, %d recipients)",
            message.pk,
            message.profile_id,
            message.size,
            len(message.envelope_recipients),
        )
    OutboundMessage.objects.filter(pk__in=list(sizes)).update(
        size=per_row(sizes, "size", model=OutboundMessage)
    )
    if enqueue:
        for profile_id, run_after in dict.fromkeys(
            (message.profile_id, message.scheduled_at) for message in messages
        ):
            enqueue_on_commit(profile_id, run_after=run_after)
    return messages


def message_store(
    setup: SendSetup,
    *,
    client: Client,
    preview: Preview,
    template: MailTemplate | None,
    purpose: str,
    idempotency_key: str | None,
    batch: MailBatch | None = None,
    enqueue: bool = True,
    context: MailContext | None = None,
) -> OutboundMessage:
    """Build the bytes of a rendered mail once and store it as queued, in one transaction;
    delivery is enqueued when it commits (`enqueue`), not before its scheduled time."""
    prepared = message_prepare(
        setup,
        client=client,
        preview=preview,
        template=template,
        purpose=purpose,
        idempotency_key=idempotency_key,
        batch=batch,
        context=context,
    )
    with transaction.atomic():
        (message,) = messages_store([prepared], enqueue=enqueue)
    return message


def message_store_once(prepared: PreparedMessage) -> OutboundMessage:
    """Store one prepared mail in its own transaction. Should its idempotency key have been
    stored meanwhile (another request, another run), its unique index refuses this one and
    the message already stored is the answer."""
    try:
        with transaction.atomic():
            (message,) = messages_store([prepared])
    except IntegrityError:
        existing = message_for_key(prepared.message.idempotency_key)
        if existing is not None:
            return existing
        raise
    return message


def message_for_key(idempotency_key: str | None) -> OutboundMessage | None:
    """The message already stored under `idempotency_key`, if any: the one look-up by key, for
    the services that store and the screens that say "already sent"."""
    if not idempotency_key:
        return None
    return OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
