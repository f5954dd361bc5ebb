"""Compose: one mail from the compose window (or a caller) to the outbox, stored once.

`message_compose` strings the jobs together: the options checked (`options`), the send's setup
read (`setup`), the mail rendered (`drafts`), its bytes built and stored as queued (`store`,
`mime`). The profile that sends follows the rule of `profiles.profile_for`: the billing
company's when one is given, else the sender's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from courrier.audit import audited
from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.contexts import PURPOSE_CLIENT, MailContext
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage
from courrier.mailing.services.checks import PresendCheck
from courrier.mailing.services.drafts import Draft, mail_draft
from courrier.mailing.services.options import ComposeOptions, options_from
from courrier.mailing.services.setup import compose_setup
from courrier.mailing.services.store import message_for_key, message_prepare, message_store_once
from courrier.texts import text_error


def message_compose(
    *,
    sender: Collaborator,
    client: Client,
    draft: Draft,
    options: ComposeOptions | Mapping[str, Any] | None = None,
    context: MailContext | None = None,
    purpose: str = PURPOSE_CLIENT,
    idempotency_key: str | None = None,
    billing_company: BillingCompany | None = None,
    batch: MailBatch | None = None,
) -> OutboundMessage:
    """Validate, render, build the message once and store it as queued; delivery is enqueued
    when the transaction commits (at the options' `scheduled_at` when given). `draft` is what
    the sender wrote, `options` the window's (checked here when given as a mapping). A known
    `idempotency_key` returns its message unchanged (should another request store it
    meanwhile, its unique index refuses the second message, and the first is the answer).

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
        uploads=draft.uploads,
        options=options_from(options),
    )
    preview = mail_draft(
        setup,
        client=client,
        subject=draft.subject,
        body=draft.body,
        language=draft.language,
        context=context,
    )
    return message_store_once(
        message_prepare(
            setup,
            client=client,
            preview=preview,
            template=draft.template,
            purpose=purpose,
            idempotency_key=idempotency_key,
            batch=batch,
            context=context,
        )
    )


@audited("message_sent")
def message_store_checked(
    check: PresendCheck,
    *,
    template: MailTemplate | None,
    purpose: str = PURPOSE_CLIENT,
    idempotency_key: str | None = None,
) -> OutboundMessage:
    """Store the mail a pre-send check has just rendered and passed (the compose window's
    "Envoyer" to one client): its preview is the mail, built and stored once, with no second
    look-up of the profile nor second rendering. Raises what would still stop it (the check
    blocked it: ValidationError), and returns the message already stored under the key."""
    if check.blockers or check.preview is None or check.setup is None:
        raise ValidationError([text_error(text) for text in check.blockers] or _("Rien à envoyer."))
    return message_store_once(
        message_prepare(
            check.setup,
            client=check.client,
            preview=check.preview,
            template=template,
            purpose=purpose,
            idempotency_key=idempotency_key,
            context=check.context,
        )
    )
