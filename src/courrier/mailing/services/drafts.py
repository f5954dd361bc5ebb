"""Drafting: one rendering of a mail for its preview, its pre-send check and its compose.

`mail_draft` (the client's fields, the template, the options, the attachments) gives a
`Preview`: `message_preview` shows it, `batch.presend_check` judges it for each recipient of a
selection, `store.message_prepare` builds its bytes. What a person previews is what leaves.
The warnings and blockers a draft may carry are written here (`too_large`, `no_address`,
`language_warning`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator
from courrier.languages import MailLanguage
from courrier.mailing import richtext
from courrier.mailing.contexts import CLIENT_CONTEXT, MailContext
from courrier.mailing.fields import client_values, mail_values
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    Upload,
)
from courrier.mailing.rendering import Rendered, body_html, markup_html, render
from courrier.mailing.services.holes import holes
from courrier.mailing.services.mime import display_name
from courrier.mailing.services.options import (
    MAX_SUBJECT_LENGTH,
    ComposeOptions,
    clean_address,
    options_from,
)
from courrier.mailing.services.setup import SendSetup, compose_setup, encoded_size, files_of
from courrier.mailing.signatures import Signature, mail_signature, sign_off_start
from courrier.texts import Sentence, Size, Text
from courrier.validators import validate_header_text

# Headers, boundaries and part headers of a message around its texts and files, generously.
_ENVELOPE_BYTES = 4096
_PART_BYTES = 512


@dataclass(frozen=True)
class Draft:
    """What the sender wrote: the subject and the body (fields and all), the language they are
    written in (None: the client's, or the object's), the template they come from, the files
    joined."""

    subject: str
    body: str
    language: str | None = None
    template: MailTemplate | None = None
    uploads: Sequence[Upload] = ()


@dataclass
class Preview:
    rendered: Rendered
    to: list[str]
    from_header: str
    reply_to: str
    headers: dict[str, str]
    language: str
    language_fallback: bool
    # Said to the person who composes, now; Texts where the pre-send check may store them.
    warnings: list[str | Text]
    attachments: list[tuple[str, int]] = field(default_factory=list)
    # What stops this mail whatever the window says: a field the text needs left empty, a
    # value to type still in the text, what its object refuses (a credit note asked to be
    # paid). Nothing is stored while there is one.
    blockers: list[Text] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    # Blind copies: typed, "send me a copy" and the firm's fixed Bcc; in the envelope only.
    bcc: list[str] = field(default_factory=list)
    envelope: list[str] = field(default_factory=list)
    read_receipt: bool = False
    scheduled_at: datetime | None = None
    # Estimated size of the message as it leaves, and the limit of the profile's method.
    size: int = 0
    size_limit: int = 0
    method: str = ""
    signature: Signature | None = None


def unique_addresses(addresses: Iterable[str], *, without: Iterable[str] = ()) -> list[str]:
    seen = {address.lower() for address in without}
    result: list[str] = []
    for address in addresses:
        if address and address.lower() not in seen:
            seen.add(address.lower())
            result.append(address)
    return result


def _client_addresses(client: Client, context: MailContext | None = None) -> list[str]:
    """The client's addresses (those the context writes to), each checked: stored data never
    reaches a header unchecked."""
    addresses = context.recipient_addresses() if context is not None else client.mail_addresses()
    return unique_addresses(
        clean_address(address, label=_("Adresse du client")) for address in addresses
    )


def mail_draft(
    setup: SendSetup,
    *,
    client: Client,
    subject: str,
    body: str,
    language: str | None,
    context: MailContext | None = None,
    links_text: str = "",
    linked: int = 0,
) -> Preview:
    """The mail to `client`, rendered, with its headers and envelope; nothing stored.

    With a `context` (an invoice, a VAT return, ...), its fields are filled in next to the
    client's, its files are attached after the sender's and its addresses are used.
    `links_text`, the paragraph that gives the files sent by secure link, follows the body's
    text and precedes its sign-off (`signatures.sign_off_start`) and the signature;
    `linked` says how many files go that way, which {MODEENVOI} tells the client.
    The signature is the one `signatures.mail_signature` chooses.

    Raises ValidationError (unknown field, line break in the subject, a bad stored address).
    A field the text uses but that is empty here, or a value still to type (`prompts`), is a
    blocker of the preview, and so is what the context refuses in the text
    (`MailContext.refuses`); the callers judge the rest (no address, size, profile)."""
    sender, options = setup.sender, setup.options
    language = language or (context.language if context is not None else "") or client.language
    if language not in MailLanguage.values:
        raise ValidationError(
            _("Langue de message inconnue : « %(language)s »."),
            code="language",
            params={"language": language},
        )
    values = client_values(client=client, sender=sender, language=language, firm=setup.firm)
    if context is not None:
        values.update(context.values(language))
    attachments = files_of(setup, context)
    values.update(mail_values(attached=len(attachments), linked=linked, language=language))
    # Judged on the body as written: the links' paragraph is the mail's, not its sign-off.
    signature = mail_signature(
        sender=sender, billing_company=setup.billing_company, language=language, body=body
    )
    # What the object refuses (a credit note: any request for payment), judged on the text as
    # written, before the links' paragraph that is ours.
    refused = list(context.refuses(subject, body)) if context and context.refuses else []
    if links_text:
        # The links' text is plain (its addresses become links): its paragraphs go after the
        # body's text, before its sign-off ("Bien à vous," and who writes), then the signature.
        blocks = richtext.blocks_of(body_html(body))
        at = sign_off_start(blocks)
        parts = (
            richtext.to_html(blocks[:at]),
            markup_html(links_text.strip()),
            richtext.to_html(blocks[at:]),
        )
        body = "\n".join(part for part in parts if part)
    context_name = context.name if context is not None else CLIENT_CONTEXT
    rendered = render(
        subject=subject,
        body=body,
        values=values,
        context=context_name,
        language=language,
        signature=signature.text,
    )
    if len(rendered.subject) > MAX_SUBJECT_LENGTH:
        raise ValidationError(_("Le sujet est trop long."), code="subject_length")
    profile = setup.profile
    name = (profile.from_name.strip() if profile is not None else "") or str(
        setup.billing_company or sender
    )
    validate_header_text(name)
    from_address = setup.from_address
    from_header = f"{display_name(name)} <{from_address}>" if name else from_address

    to = _client_addresses(client, context)
    cc = unique_addresses(options.cc, without=to)
    typed_bcc = list(options.bcc)
    if options.copy_to_sender and sender.email:
        typed_bcc.append(sender.email)
    fixed_bcc = [setup.firm.fixed_bcc] if setup.firm.fixed_bcc and options.firm_bcc else []
    bcc = unique_addresses([*typed_bcc, *fixed_bcc], without=to + cc)
    reply_to = options.reply_to or (profile.reply_to if profile is not None else "")

    headers = {"From": from_header, "To": ", ".join(to)}
    if cc:
        headers["Cc"] = ", ".join(cc)
    if reply_to:
        headers["Reply-To"] = reply_to
    headers["Subject"] = rendered.subject
    if options.read_receipt:
        headers["Disposition-Notification-To"] = from_address
    headers["Content-Language"] = language

    warnings: list[str | Text] = []
    if unsigned := signature.warning():
        warnings.append(unsigned)
    blockers = [*refused, *holes(subject=subject, body=body, values=values, context=context_name)]
    size = (
        _ENVELOPE_BYTES
        + math.ceil(len(rendered.text.encode()) * 1.1)
        + math.ceil(len(rendered.html.encode()) * 1.1)
        + sum(encoded_size(item.size) + _PART_BYTES for item in attachments)
    )
    return Preview(
        rendered=rendered,
        to=to,
        from_header=from_header,
        reply_to=reply_to,
        headers=headers,
        language=language,
        language_fallback=language != client.language,
        warnings=warnings,
        blockers=blockers,
        attachments=[(item.name, item.size) for item in attachments],
        cc=cc,
        bcc=bcc,
        envelope=unique_addresses([*to, *cc, *bcc]),
        read_receipt=options.read_receipt,
        scheduled_at=options.scheduled_at,
        size=size,
        size_limit=setup.size_limit,
        method=setup.method,
        signature=signature,
    )


def too_large(size: int, setup: SendSetup) -> Text:
    return Sentence(
        gettext_noop(
            "Le message pèserait %(size)s une fois encodé (pièces jointes comprises) : la "
            "méthode d'envoi %(method)s accepte au plus %(limit)s par message."
        ),
        {
            "size": Size(size),
            "method": setup.method or "-",
            "limit": Size(setup.size_limit, limit=True),
        },
    )


def no_address(client: Client) -> Text:
    return Sentence(
        gettext_noop(
            "Le client %(client)s n'a pas d'adresse e-mail : ajoutez-en une dans sa fiche avant "
            "d'envoyer."
        ),
        {"client": client.display_name},
    )


def language_warning(client: Client, language: str) -> Text:
    return Sentence(
        gettext_noop(
            "Langue de ce client : %(client_language)s ; ce message part en %(language)s."
        ),
        {
            "client_language": MailLanguage(client.language).label,
            "language": MailLanguage(language).label,
        },
    )


def message_preview(
    *,
    sender: Collaborator,
    client: Client,
    draft: Draft,
    options: ComposeOptions | Mapping[str, Any] | None = None,
    billing_company: BillingCompany | None = None,
    batch: MailBatch | None = None,
    context: MailContext | None = None,
) -> Preview:
    """Exactly what message_compose would send, nothing stored. Raises ValidationError for
    unknown fields, a line break in the subject or a bad option (address, past scheduled
    time, someone else's file), ProfileMissing without the profile that sends; a client
    without address, a message too large for the method or a profile to fix are warnings
    here; an empty field or a value still to type is in `blockers`. `batch` is accepted like
    compose's and changes nothing to the mail."""
    options = options_from(options)
    setup = compose_setup(
        sender=sender,
        billing_company=billing_company,
        context=context,
        uploads=draft.uploads,
        options=options,
    )
    preview = mail_draft(
        setup,
        client=client,
        subject=draft.subject,
        body=draft.body,
        language=draft.language,
        context=context,
    )
    if not preview.to:
        preview.warnings.insert(0, no_address(client))
    if preview.language_fallback:
        preview.warnings.append(language_warning(client, preview.language))
    if preview.size > preview.size_limit:
        preview.warnings.append(too_large(preview.size, setup))
    if setup.problem is not None:
        preview.warnings.append(setup.problem.user_message)
    return preview
