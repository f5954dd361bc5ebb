"""The "send the files by secure link" option of a mail: its files (the sender's uploads and
those its context adds) leave the message and become links served by the app.

The mail is drafted without its files and with, at the end of its body, the text that gives
the links in the mail's language. The links themselves are made when the message is stored
(`links_for`), never at preview: a preview shows the same text around a placeholder address.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from courrier.audit import audited
from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.contexts import PURPOSE_CLIENT, AttachedFile, MailContext
from courrier.mailing.links import (
    DEFAULT_DAYS,
    link_code_mail,
    link_create,
    link_mail_text,
    links_attach,
)
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage, SecureLink
from courrier.mailing.services.drafts import Draft, mail_draft
from courrier.mailing.services.options import ComposeOptions, options_from
from courrier.mailing.services.setup import SendSetup, compose_setup, files_of
from courrier.mailing.services.store import message_for_key, message_store

logger = logging.getLogger("courrier.mailing")

# Stands in a preview where the real token will be: the link does not exist yet.
PREVIEW_TOKEN = "x" * 43


# The files that go by link: every file of the mail.
linked_files = files_of


def without_files(
    setup: SendSetup, context: MailContext | None
) -> tuple[SendSetup, MailContext | None]:
    """The same send with no file joined: the setup's uploads and the context's files off."""
    bare_setup = dataclasses.replace(setup, attachments=[])
    bare_context = dataclasses.replace(context, attachments=()) if context is not None else None
    return bare_setup, bare_context


def _mail_text(links: Sequence[SecureLink], language: str) -> str:
    return link_mail_text(links, language)


def preview_text(*, files: Sequence[AttachedFile], client: Client, language: str) -> str:
    """The text the mail will carry, around placeholder links (nothing stored)."""
    if not files:
        return ""
    expires = timezone.now() + timedelta(days=DEFAULT_DAYS)
    links = [
        SecureLink(
            token=PREVIEW_TOKEN,
            client=client,
            name=item.name,
            content_type=item.content_type,
            size=item.size,
            expires_at=expires,
        )
        for item in files
    ]
    return _mail_text(links, language)


@dataclasses.dataclass
class MadeLinks:
    """The links made for one mail, their one plain code (shown once, never stored) and the
    text the mail gives them with."""

    links: list[SecureLink]
    code: str
    text: str


def links_for(
    *,
    files: Sequence[AttachedFile],
    client: Client,
    sender: Collaborator,
    language: str,
) -> MadeLinks:
    """Make one link per file (a copy of its bytes, for `client` only) and the text that
    gives them in `language`; the links of one mail share one code. Call it inside the
    transaction that stores the message."""
    links: list[SecureLink] = []
    code = ""
    for item in files:
        link, code = link_create(
            client=client,
            name=item.name,
            content_type=item.content_type,
            content=item.content,
            created_by=sender,
            code=code or None,
            language=language,
        )
        links.append(link)
    return MadeLinks(links=links, code=code, text=_mail_text(links, language) if links else "")


def code_send(*, made: MadeLinks, sender: Collaborator, language: str) -> OutboundMessage | None:
    """The code in a second mail to the same client, through the outbox."""
    if not made.links:
        return None
    return link_code_mail(links=made.links, code=made.code, sender=sender, language=language)


# PLR0913: message_compose's arguments plus the code's choice.
def message_store_by_link(  # noqa: PLR0913
    setup: SendSetup,
    *,
    client: Client,
    context: MailContext | None,
    subject: str,
    body: str,
    language: str,
    template: MailTemplate | None,
    purpose: str,
    idempotency_key: str | None,
    batch: MailBatch | None = None,
    enqueue: bool = True,
) -> tuple[OutboundMessage, MadeLinks]:
    """Store the mail with its files replaced by links, made in the same transaction: a mail
    that cannot be stored leaves no link behind."""
    files = linked_files(setup, context)
    bare_setup, bare_context = without_files(setup, context)
    with transaction.atomic():
        made = links_for(files=files, client=client, sender=setup.sender, language=language)
        preview = mail_draft(
            bare_setup,
            client=client,
            subject=subject,
            body=body,
            links_text=made.text,
            language=language,
            context=bare_context,
            linked=len(made.links),
        )
        message = message_store(
            bare_setup,
            client=client,
            preview=preview,
            template=template,
            purpose=purpose,
            idempotency_key=idempotency_key,
            batch=batch,
            enqueue=enqueue,
            context=bare_context,
        )
        links_attach(links=made.links, message=message)
    return message, made


@audited("message_sent")
def message_compose_by_link(
    *,
    sender: Collaborator,
    client: Client,
    draft: Draft,
    options: ComposeOptions | Mapping[str, Any] | None = None,
    context: MailContext | None = None,
    purpose: str = PURPOSE_CLIENT,
    idempotency_key: str | None = None,
    billing_company: BillingCompany | None = None,
    send_code: bool = False,
) -> tuple[OutboundMessage, str]:
    """`message_compose` with the files sent as secure links: the message and the links'
    plain code, to be given to the client another way (never stored) or, `send_code`, sent in
    a second mail. A known `idempotency_key` returns its message and no code."""
    existing = message_for_key(idempotency_key)
    if existing is not None:
        return existing, ""
    setup = compose_setup(
        sender=sender,
        billing_company=billing_company,
        context=context,
        uploads=draft.uploads,
        options=options_from(options),
    )
    language = (
        draft.language or (context.language if context is not None else "") or client.language
    )
    try:
        message, made = message_store_by_link(
            setup,
            client=client,
            context=context,
            subject=draft.subject,
            body=draft.body,
            language=language,
            template=draft.template,
            purpose=purpose,
            idempotency_key=idempotency_key,
        )
    except IntegrityError:
        existing = message_for_key(idempotency_key)
        if existing is not None:
            return existing, ""
        raise
    if send_code:
        code_send(made=made, sender=sender, language=message.language)
    logger.info("message %s queued with %d secure links", message.pk, len(made.links))
    return message, made.code
