"""Reads for the mailing screens: templates a user may use, the archive, the outbox, batches.

Who sees a message is decided here, once (`messages_visible`): every page, download, batch
page and administration page of messages reads through it, so a message someone may not see
answers "not found", exactly like a message that does not exist."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.mailing.contexts import CLIENT_CONTEXT, PURPOSE_LINK_CODE
from courrier.mailing.models import (
    PROFILE_SECRET_FIELDS,
    DeliveryStatus,
    MailBatch,
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    ProfileTest,
    SendingProfile,
)

Status = OutboundMessage.Status
# The purpose of a re-sent copy: "resend:<pk of the original>" (`services.resend`).
RESEND_PREFIX = "resend:"

# Messages a person may still have to look at. "failed" stays listed for a week.
OUTBOX_STATUSES = (
    Status.QUEUED,
    Status.SENDING,
    Status.RETRY,
    Status.HELD,
    Status.UNCERTAIN,
    Status.FAILED,
)
RECENT_FAILURES = timedelta(days=7)


def templates_for(*, user: Collaborator, context: str = CLIENT_CONTEXT) -> QuerySet[MailTemplate]:
    """Templates `user` may use in `context`: the firm's, their own, and those others shared."""
    return (
        MailTemplate.objects.filter(context=context)
        .filter(Q(owner__isnull=True) | Q(owner=user) | Q(shared=True))
        .select_related("owner")
        .prefetch_related("versions")
        .order_by("name", "id")
    )


def templates_editable(
    *, user: Collaborator, context: str = CLIENT_CONTEXT
) -> QuerySet[MailTemplate]:
    """Templates `user` may overwrite from the compose window: their own, and the firm's for an
    administrator (a collaborator never overwrites a firm template nor someone else's)."""
    owned = Q(owner=user)
    if user.is_firm_admin:
        owned |= Q(owner__isnull=True)
    return (
        MailTemplate.objects.filter(context=context)
        .filter(owned)
        .prefetch_related("versions")
        .order_by("name", "id")
    )


def templates_visible(*, user: Collaborator) -> QuerySet[MailTemplate]:
    """Every template `user` sees on the templates page, all contexts; admins see all of them."""
    templates = MailTemplate.objects.select_related("owner").prefetch_related(
        Prefetch("versions", queryset=MailTemplateVersion.objects.order_by("language"))
    )
    if not user.is_firm_admin:
        templates = templates.filter(Q(owner__isnull=True) | Q(owner=user) | Q(shared=True))
    return templates.order_by("context", "name", "id")


# --- Who sees a message ----------------------------------------------------------------------


def messages_visible(*, user: Any) -> QuerySet[OutboundMessage]:
    """The messages `user` may open: an administrator of the firm, every one; a collaborator,
    their own (whatever their state, archived or not, scheduled or not) and the others' that
    are archived in a client file (the firm shares its client files), a secure link's code mail
    excepted, which stays its sender's; nobody else (anonymous, a deactivated account), none."""
    messages = OutboundMessage.objects.all()
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return messages.none()
    if getattr(user, "is_firm_admin", False):
        return messages
    return messages.filter(
        Q(sender_id=user.pk) | (Q(archived=True) & ~Q(purpose=PURPOSE_LINK_CODE))
    )


def client_messages(*, client: Client, user: Any) -> QuerySet[OutboundMessage]:
    """The client's archived messages that `user` may open, newest first."""
    return (
        messages_visible(user=user)
        .filter(client=client, archived=True)
        .select_related("sender")
        .order_by("-created_at", "-id")
    )


def outbox_messages(
    *, user: Collaborator, status: str | None = None, batch: MailBatch | None = None
) -> QuerySet[OutboundMessage]:
    """Messages not yet settled: everyone's for an admin, the user's own otherwise. For one
    batch: all of its messages whatever their state, to follow its delivery to the end."""
    since = timezone.now() - RECENT_FAILURES
    messages = messages_visible(user=user)
    if batch is not None:
        messages = messages.filter(batch=batch)
    else:
        messages = messages.filter(status__in=OUTBOX_STATUSES).exclude(
            status=Status.FAILED, updated_at__lt=since
        )
    messages = (
        messages.select_related("sender", "client", "profile", "profile__billing_company")
        .defer(*(f"profile__{name}" for name in PROFILE_SECRET_FIELDS))
        .order_by("-created_at", "-id")
    )
    if not user.is_firm_admin:
        messages = messages.filter(sender=user)
    if status:
        messages = messages.filter(status=status)
    return messages


def batch_get(*, pk: int, user: Collaborator) -> MailBatch | None:
    """One send to a selection, for its sender or an administrator; None otherwise."""
    batches = MailBatch.objects.select_related("sender", "template").prefetch_related("uploads")
    if not user.is_firm_admin:
        batches = batches.filter(sender=user)
    return batches.filter(pk=pk).first()


def batch_clients(*, batch: MailBatch) -> QuerySet[Client]:
    """The clients a batch was for, by name."""
    ids = [int(pk) for pk in batch.client_ids if str(pk).isdigit()]
    return Client.objects.filter(pk__in=ids).order_by("name", "pk")


def batch_status_counts(*, batch: MailBatch) -> dict[str, int]:
    """How many of a batch's messages are in each state."""
    rows = OutboundMessage.objects.filter(batch=batch).values("status").annotate(n=Count("pk"))
    return {row["status"]: row["n"] for row in rows}


# What became of a message, one word: its state, or what the provider reported once it was
# sent (delivered, bounced); the keys of the batch page's counts.
# A Peppol document the buyer answered was delivered first; one the network refused did not
# arrive, like a bounce.
_DELIVERED = {
    DeliveryStatus.DELIVERED,
    DeliveryStatus.OPENED,
    DeliveryStatus.ACKNOWLEDGED,
    DeliveryStatus.APPROVED,
    DeliveryStatus.DISPUTED,
    DeliveryStatus.PAID,
}
_BOUNCED = {
    DeliveryStatus.BOUNCED,
    DeliveryStatus.DROPPED,
    DeliveryStatus.COMPLAINED,
    DeliveryStatus.REJECTED,
}
# Settled: nothing more happens to these by itself.
SETTLED = frozenset(
    {Status.SENT, Status.FAILED, Status.UNCERTAIN, Status.CANCELLED, "delivered", "bounced"}
)


def outcome_of(status: str, delivery_status: str) -> str:
    """queued, sending, retry, held, sent, delivered, bounced, failed, uncertain, cancelled."""
    if status == Status.SENT:
        if delivery_status in _DELIVERED:
            return "delivered"
        if delivery_status in _BOUNCED:
            return "bounced"
    return str(status)


def batch_messages(*, batch: MailBatch, limit: int = 500) -> list[OutboundMessage]:
    """A batch's messages with what its page shows (no bytes), by client name, then in the
    order they were made; at most `limit`."""
    return list(
        OutboundMessage.objects.filter(batch=batch)
        .select_related("client", "profile", "profile__billing_company")
        .defer(*(f"profile__{name}" for name in PROFILE_SECRET_FIELDS))
        .order_by("client__name", "pk")[:limit]
    )


def batch_outcomes(*, batch: MailBatch) -> dict[str, int]:
    """How many of a batch's messages have each outcome (`outcome_of`)."""
    rows = (
        OutboundMessage.objects.filter(batch=batch)
        .values("status", "delivery_status")
        .annotate(n=Count("pk"))
    )
    counts: dict[str, int] = {}
    for row in rows:
        key = outcome_of(row["status"], row["delivery_status"])
        counts[key] = counts.get(key, 0) + row["n"]
    return counts


def batch_subjects(*, batch: MailBatch) -> list[str]:
    """The subjects the batch's messages went with, as rendered: one when they share it, two
    when they differ (each message's own then matters), none before the first is made."""
    return list(
        OutboundMessage.objects.filter(batch=batch)
        .order_by("subject")
        .values_list("subject", flat=True)
        .distinct()[:2]
    )


def batch_waiting_for_schedule(*, batch: MailBatch) -> int:
    """Messages of the batch queued for a time still to come (a scheduled send)."""
    return OutboundMessage.objects.filter(
        batch=batch, status=Status.QUEUED, scheduled_at__gt=timezone.now()
    ).count()


def message_get(*, pk: int, user: Any) -> OutboundMessage | None:
    """One message with what its page shows, or None when there is none or `user` may not
    open it (`messages_visible`)."""
    return (
        messages_visible(user=user)
        .select_related("sender", "client", "profile")
        .defer(*(f"profile__{name}" for name in PROFILE_SECRET_FIELDS))
        .prefetch_related("attempts_log")
        .filter(pk=pk)
        .first()
    )


def profile_tests(*, profile: SendingProfile, limit: int = 5) -> list[ProfileTest]:
    """The last connection tests of a profile, newest first."""
    return list(profile.tests.select_related("requested_by").order_by("-at", "-id")[:limit])


@dataclass
class ParsedMessage:
    """A stored message read back for display: what the recipient's mail program would show."""

    headers: list[tuple[str, str]]
    text: str
    html: str
    attachments: list[tuple[str, str, int]] = field(default_factory=list)  # name, type, bytes
    error: str = ""


def message_parse(*, raw: bytes) -> ParsedMessage:
    """Parse stored .eml bytes; never raises (a damaged message shows what can be read)."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # a stored message must always open, damaged or not
        return ParsedMessage(headers=[], text="", html="", error=str(exc))
    assert isinstance(msg, EmailMessage)  # policy.default builds EmailMessage
    # A folded header read back may start with the folding space: not part of the value.
    headers = [(name, str(value).strip()) for name, value in msg.items()]
    text = html = ""
    error = ""
    try:
        text_part = msg.get_body(preferencelist=("plain",))
        if text_part is not None:
            text = str(text_part.get_content())  # type: ignore[attr-defined]
        html_part = msg.get_body(preferencelist=("html",))
        if html_part is not None:
            html = str(html_part.get_content())  # type: ignore[attr-defined]
    except (LookupError, ValueError, KeyError) as exc:
        error = str(exc)
    attachments: list[tuple[str, str, int]] = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        attachments.append((part.get_filename() or "", part.get_content_type(), size))
    return ParsedMessage(
        headers=headers, text=text, html=html, attachments=attachments, error=error
    )


@dataclass(frozen=True)
class AttachedPart:
    name: str
    content_type: str
    content: bytes


def message_attachment(*, raw: bytes, index: int) -> AttachedPart | None:
    """The `index`-th attachment of stored .eml bytes (the order `message_parse` lists them
    in), decoded, with its name and type as the message gives them; None when there is none."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(msg, EmailMessage)
        parts = list(msg.iter_attachments())
    except Exception:  # a damaged message: nothing to hand out, never a 500
        return None
    if not 0 <= index < len(parts):
        return None
    part = parts[index]
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    return AttachedPart(
        name=part.get_filename() or "", content_type=part.get_content_type(), content=payload
    )


# --- A secure link's code, kept out of the archive's pages ------------------------------------

# A code as `links.code_generate` writes it (ABCDE-FGHJK, from its alphabet without look-alikes).
_LINK_CODE = re.compile(r"(?<![A-Za-z0-9])[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}(?![A-Za-z0-9])")
CODE_MASK = "•••••-•••••"


def code_masked(text: str) -> str:
    """`text` with every secure-link code replaced by dots."""
    return _LINK_CODE.sub(CODE_MASK, text)


def carries_code(message: OutboundMessage) -> bool:
    """Whether the message gives a secure link's code: a code mail, or a re-sent copy of one."""
    purpose = message.purpose
    for _step in range(10):  # a chain of re-sends, bounded
        if purpose == PURPOSE_LINK_CODE:
            return True
        if not purpose.startswith(RESEND_PREFIX):
            return False
        tail = purpose[len(RESEND_PREFIX) :]
        if not tail.isdigit():
            return False
        purpose = (
            OutboundMessage.objects.filter(pk=int(tail)).values_list("purpose", flat=True).first()
            or ""
        )
    return False


def message_shown(*, message: OutboundMessage, raw: bytes) -> bytes:
    """The bytes of a message as a person of the firm reads or downloads them: the stored ones,
    except that a code mail's code is dotted out. The code is the client's alone: the stored
    bytes keep it (the mail is delivered and re-sent from them), no page of the firm shows it."""
    if not carries_code(message):
        return raw
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(msg, EmailMessage)
        for part in msg.walk():
            if part.is_multipart() or part.get_content_maintype() != "text":
                continue
            content = str(part.get_content())  # type: ignore[attr-defined]
            masked = code_masked(content)
            if masked != content:
                part.set_content(masked, subtype=part.get_content_subtype(), charset="utf-8")  # type: ignore[attr-defined]
        return msg.as_bytes(policy=policy.SMTP)
    except Exception:  # a damaged code mail: its headers only, never a body that may hold it
        head, _sep, _body = raw.partition(b"\r\n\r\n")
        return head + b"\r\n\r\n"
