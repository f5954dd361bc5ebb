"""Mails sent once per object: an invoice (or a credit note) reaches its client once, whatever
sends it.

A context registered with `contexts.SentOnce` stores the first mail about each object under
`contexts.mail_key` ("invoice:42:email") and an explicit re-send under `contexts.resend_key`
("invoice:42:resend:1"), numbered as "@" in the register numbers them (or, from the compose
window, tagged with the window's one-time key). Billing's batch, "@" and
send on issue, the compose window and its batches all take their keys from here: each path's
check sees the others' mails, and the outbox's unique index on the key refuses a second first
mail stored at the same moment by another path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_noop

from courrier.mailing import contexts
from courrier.mailing.contexts import MailContext
from courrier.mailing.models import OutboundMessage
from courrier.texts import Sentence, Text


@dataclass(frozen=True)
class ObjectKey:
    """The key and purpose a mail about an object is stored under."""

    key: str
    purpose: str


def first_mails(objects: Iterable[MailContext]) -> dict[int, OutboundMessage]:
    """The first mail already stored about each of `objects` sent once, by object id (the
    objects of other contexts, and those not mailed yet, are left out). One query."""
    keys = {
        contexts.mail_key(item.name, item.object_id): item.object_id
        for item in objects
        if item.object_id is not None and contexts.sent_once(item.name) is not None
    }
    if not keys:
        return {}
    found = OutboundMessage.objects.filter(idempotency_key__in=list(keys)).only(
        "pk", "idempotency_key", "batch_id", "created_at", "sent_at"
    )
    return {keys[str(message.idempotency_key)]: message for message in found}


def mailed_on(message: OutboundMessage) -> str:
    """The day the mail left (or was queued, when it has not left yet): 07/12/2026."""
    moment = message.sent_at or message.created_at
    return timezone.localtime(moment).strftime("%d/%m/%Y")


def already_mailed(context: MailContext, message: OutboundMessage) -> Text:
    """Why a first mail about this object is refused: it had one, on that day."""
    return Sentence(
        gettext_noop(
            "%(object)s a déjà été envoyée par e-mail le %(date)s. Pour l'envoyer une nouvelle "
            "fois, cochez « Envoyer à nouveau »."
        ),
        {"object": str(context.label), "date": mailed_on(message)},
    )


def resend_next(name: str, object_id: int) -> str:
    """The key of the next re-send of an object's mail: one more than those stored. Two
    clicks at once get the same key: the second is refused and finds the first."""
    prefix = contexts.resend_key(name, object_id, "")
    count = OutboundMessage.objects.filter(idempotency_key__startswith=prefix).count()
    return contexts.resend_key(name, object_id, count + 1)


def object_key(
    context: MailContext | None,
    *,
    first: OutboundMessage | None,
    again: bool,
    tag: str = "",
) -> ObjectKey | None:
    """Where a mail about `context` is stored (`first`: its first mail, from `first_mails`):
    a re-send's key when it had one and `again` was asked for — tagged with `tag` (the
    compose window's one-time key: the same form posted twice re-sends once), else numbered
    after those stored; otherwise its first mail's key (with `again` but no first mail: there
    is nothing to send again), so that a first mail found meanwhile is the answer, never a
    second one. None when the context is not sent once: the caller keeps its own key."""
    if context is None or context.object_id is None:
        return None
    once = contexts.sent_once(context.name)
    if once is None:
        return None
    if first is not None and again:
        key = (
            contexts.resend_key(context.name, context.object_id, tag)
            if tag
            else resend_next(context.name, context.object_id)
        )
        return ObjectKey(key, once.resend_purpose)
    return ObjectKey(contexts.mail_key(context.name, context.object_id), once.purpose)
