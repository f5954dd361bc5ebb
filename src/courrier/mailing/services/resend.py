"""Undelivered mail: what bounced or failed, and sending it again to the client's addresses now.

A resend is a new outbox row with the same content, addressed to the client's current
addresses. Its own Message-ID (the outbox keeps one row per Message-ID) and two headers
pointing at the original (References, X-Courrier-Resend-Of) make it recognisably the same
mail; its purpose "resend:<original pk>" ties the two rows together in the archive.
"""

from __future__ import annotations

import logging
from email.utils import format_datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import CharField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.audit import audited
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.contexts import PURPOSE_LINK_CODE
from courrier.mailing.models import (
    DeliveryStatus,
    OutboundMessage,
    SendingProfile,
)
from courrier.mailing.services.contents import contents_store, message_bytes
from courrier.mailing.services.delivery import enqueue_on_commit
from courrier.mailing.services.mime import SMTP_POLICY, message_id_for
from courrier.mailing.services.profiles import SECRET_FIELDS
from courrier.mailing.services.store import message_for_key

logger = logging.getLogger("courrier.mailing")

Status = OutboundMessage.Status

# What a provider reported that means the mail did not reach the client.
UNDELIVERED_EVENTS = (DeliveryStatus.BOUNCED, DeliveryStatus.DROPPED, DeliveryStatus.COMPLAINED)
RESEND_PREFIX = "resend:"
# Headers replaced in the copy; every other header and the body stay byte for byte.
_REPLACED = {b"to", b"message-id", b"date", b"x-courrier-message", b"references"}
_REPLACED |= {b"x-courrier-resend-of"}


def _undelivered() -> Q:
    return Q(delivery_status__in=UNDELIVERED_EVENTS) | Q(status=Status.FAILED)


def _resend_key(message_pk: int) -> str:
    return f"resend-of:{message_pk}"


def undelivered_messages(
    *,
    user: Collaborator,
    kind: str = "",
    search: str = "",
) -> QuerySet[OutboundMessage]:
    """Messages that did not reach their client: a provider's bounce, drop or spam complaint,
    or a failure of ours. An administrator sees the firm's, a collaborator their own.

    Each row is annotated `resent_pk`: the copy sent since, if any."""
    resent = OutboundMessage.objects.filter(
        idempotency_key=Concat(Value("resend-of:"), Cast(OuterRef("pk"), output_field=CharField()))
    ).values("pk")[:1]
    messages = (
        OutboundMessage.objects.filter(_undelivered())
        .select_related("sender", "client", "profile", "profile__billing_company")
        .defer(*(f"profile__{name}" for name in SECRET_FIELDS))
        .annotate(resent_pk=Subquery(resent))
        .order_by("-updated_at", "-id")
    )
    if not user.is_firm_admin:
        messages = messages.filter(sender=user)
    if kind == Status.FAILED:
        messages = messages.filter(status=Status.FAILED)
    elif kind in UNDELIVERED_EVENTS:
        messages = messages.filter(delivery_status=kind)
    search = search.strip()
    if search:
        messages = messages.filter(
            Q(client__name__icontains=search)
            | Q(client__number__icontains=search)
            | Q(subject__icontains=search)
            | Q(to__icontains=search)
        )
    return messages


def resend_refusal(message: OutboundMessage) -> str:
    """Why this message cannot be resent (a sentence), or "" when it can."""
    if message.client_id is None:
        return _("Ce message n'est lié à aucun client : il ne peut pas être réadressé.")
    if message.delivery_status == DeliveryStatus.COMPLAINED:
        return _(
            "Le destinataire a signalé ce mail comme indésirable : il n'est pas renvoyé (le "
            "fournisseur bloquerait d'ailleurs cette adresse)."
        )
    if message.status != Status.FAILED and message.delivery_status not in UNDELIVERED_EVENTS:
        return _("Ce message n'est pas signalé comme non remis : il n'y a rien à renvoyer.")
    return ""


def _header_name(line: bytes) -> bytes:
    return line.split(b":", 1)[0].strip().lower()


def _fold(name: str, value: str) -> bytes:
    header = SMTP_POLICY.header_factory(name, value)
    return header.fold(policy=SMTP_POLICY).encode("utf-8")


def readdressed(
    raw: bytes, *, to: list[str], message_id: str, original_id: str, row_id: int
) -> bytes:
    """The stored bytes with a new To, Message-ID and Date and the two headers that point to the
    original; every other header and the body are kept as they are."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = _header_name(line) in _REPLACED
        if not skipping:
            kept.append(line)
    added = [
        _fold("To", ", ".join(to)),
        _fold("Date", format_datetime(timezone.localtime())),
        _fold("Message-ID", message_id),
        _fold("References", original_id),
        _fold("X-Courrier-Resend-Of", original_id),
        _fold("X-Courrier-Message", str(row_id)),
    ]
    lines = [line + b"\r\n" for line in kept] + added
    return b"".join(lines) + b"\r\n" + body


def _first_purpose(message: OutboundMessage) -> str:
    """The purpose of the mail that a chain of re-sends started from."""
    purpose = message.purpose
    for _step in range(10):  # a chain of resends, bounded
        original = resend_of_pk(purpose)
        if original is None:
            break
        purpose = (
            OutboundMessage.objects.filter(pk=original).values_list("purpose", flat=True).first()
            or ""
        )
    return purpose


def _about_invoice(message: OutboundMessage) -> bool:
    """Whether the mail (or the one it re-sends) is about an invoice: it goes to the client's
    invoice addresses."""
    return _first_purpose(message).startswith("invoice")


@audited("message_resent")
def message_resend(*, message: OutboundMessage, by: Collaborator) -> OutboundMessage:
    """Queue a copy of an undelivered message to its client's current addresses.

    The copy goes through the original's profile (its From is that mailbox's); it waits as held
    while that profile is to be fixed. Resending the same message twice returns the first copy.
    Raises ValidationError when the message cannot be resent or the client has no address."""
    refusal = resend_refusal(message)
    if refusal:
        raise ValidationError(refusal, code="resend_not_allowed")
    key = _resend_key(message.pk)
    existing = message_for_key(key)
    if existing is not None:
        return existing
    client = message.client
    assert client is not None  # resend_refusal checked it
    to = client.invoice_addresses() if _about_invoice(message) else client.mail_addresses()
    if not to:
        raise ValidationError(
            _("Le client %(client)s n'a plus d'adresse e-mail : ajoutez-en une dans sa fiche."),
            code="no_address",
            params={"client": client.display_name},
        )
    recipients = list(to)
    fixed_bcc = Firm.load().fixed_bcc
    # A secure link's code is the client's alone: never in the firm's archive mailbox.
    if _first_purpose(message) == PURPOSE_LINK_CODE:
        fixed_bcc = ""
    if fixed_bcc and fixed_bcc not in recipients:
        recipients.append(fixed_bcc)
    profile_ok = (
        SendingProfile.objects.filter(pk=message.profile_id, state=SendingProfile.State.OK)
        .only("pk")
        .exists()
    )
    message_id = message_id_for(message.from_address)
    original_raw = message_bytes(message)
    try:
        with transaction.atomic():
            copy = OutboundMessage.objects.create(
                profile_id=message.profile_id,
                sender_id=message.sender_id,
                client=client,
                purpose=f"{RESEND_PREFIX}{message.pk}",
                template_id=message.template_id,
                idempotency_key=key,
                archived=message.archived,
                language=message.language,
                message_id=message_id,
                subject=message.subject,
                from_address=message.from_address,
                to=to,
                envelope_recipients=recipients,
                status=Status.QUEUED if profile_ok else Status.HELD,
            )
            raw = readdressed(
                original_raw,
                to=to,
                message_id=message_id,
                original_id=message.message_id,
                row_id=copy.pk,
            )
            contents_store([(copy, raw)])
            copy.size = len(raw)
            copy.save(update_fields=["size"])
            if profile_ok:
                enqueue_on_commit(message.profile_id)
    except IntegrityError:
        # Resent by someone else a moment ago: that copy is the answer.
        existing = message_for_key(key)
        if existing is not None:
            return existing
        raise
    logger.info(
        "message %s resent as %s by collaborator %s (%d recipients)",
        message.pk,
        copy.pk,
        by.pk,
        len(recipients),
    )
    return copy


def resend_of_pk(purpose: str) -> int | None:
    """The pk of the message that a message with this purpose re-sends, if it is a resend."""
    if purpose.startswith(RESEND_PREFIX):
        tail = purpose[len(RESEND_PREFIX) :]
        return int(tail) if tail.isdigit() else None
    return None
