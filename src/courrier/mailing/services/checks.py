"""The pre-send check: what blocks each mail of a send and what only warns, before anything
is stored.

`check_recipient` judges one recipient (or one object mailed) by rendering its mail through
`drafts.mail_draft`, the path compose takes; `presend_check` does it for the compose window's
recipients or objects, and the batch engine (`batch.py`) for every mail it composes, so that
what the window said is what the batch does. `PresendCheck` is the one result shape of every
pre-send check, billing's invoice check included; `Reason` a reason its caller tells apart by
code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import prefetch_related_objects
from django.utils.translation import gettext_noop

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.mailing.contexts import MailContext
from courrier.mailing.exceptions import ConfigurationError
from courrier.mailing.models import MailTemplate, SendingProfile
from courrier.mailing.services import by_link, once
from courrier.mailing.services.drafts import Draft, Preview, mail_draft, no_address, too_large
from courrier.mailing.services.languages import language_rule, missing_version
from courrier.mailing.services.options import ComposeOptions, options_from
from courrier.mailing.services.profiles import profile_error, profile_for
from courrier.mailing.services.setup import SendSetup, attachments_of, message_size_limit
from courrier.texts import Sentence, Text, text_of, texts_of

# -- the pre-send check ----------------------------------------------------------------------


class Reason(Text):
    """A reason of the pre-send check that callers tell apart by its `code` ("hole",
    "peppol", ...), said by its `message`. A Text itself: shown, stored and read back as its
    message."""

    __slots__ = ("code", "message")

    def __init__(self, code: str, message: Text | str) -> None:
        self.code = code
        self.message = message

    def render(self) -> str:
        return text_of(self.message).render()

    def as_json(self) -> Any:
        return text_of(self.message).as_json()


@dataclass
class PresendCheck:
    """The pre-send check of one mail: per recipient, or per object mailed (an invoice, a VAT
    return, ...), what blocks it and what only warns. The one result shape of every pre-send
    check: the compose window's and a batch's (`presend_check`), the invoice register's and
    `courrier send-invoices` (billing's `invoice_presend_check`)."""

    client: Client
    language: str = ""
    language_fallback: bool = False
    # Texts (courrier.texts; a `Reason` when its caller tells reasons apart), so that whoever
    # reads a stored batch later reads them in their own language.
    blockers: list[Text] = field(default_factory=list)
    warnings: list[Text] = field(default_factory=list)
    # The mail as it would leave (None when it cannot be rendered), for stepping through.
    preview: Preview | None = None
    # A mail about an object (an invoice, a VAT return, ...): which one, as people name it.
    context: MailContext | None = None
    # Blocked by its size alone: sending its files by secure link would let it go.
    oversize: bool = False
    # The texts its mail is made of (the template's version in its language, or the window's).
    subject: str = ""
    body: str = ""
    # The object itself, for the app that checked it (billing: the invoice).
    about: Any = None
    # What the mail was rendered with (profile, options, files): a mail that passed is stored
    # from this check (`compose.message_store_checked`), not rendered a second time.
    setup: SendSetup | None = None

    @property
    def ok(self) -> bool:
        return not self.blockers

    @property
    def label(self) -> str:
        return str(self.context.label) if self.context is not None else ""

    @property
    def object_id(self) -> int | None:
        return self.context.object_id if self.context is not None else None


def check_recipient(
    setup: SendSetup,
    *,
    client: Client,
    subject: str,
    body: str,
    template: MailTemplate | None,
    batch: bool,
    general: Sequence[Text] = (),
    context: MailContext | None = None,
    send_by_link: bool = False,
) -> PresendCheck:
    """One recipient judged by rendering its mail through `mail_draft`, as compose will.

    The mail goes wholly in one language. In a batch with a template, each recipient gets the
    version in its own language (an object's, such as an invoice's, before the client's);
    otherwise the window's text, written in the window's language (options.language; a
    caller that gives none writes in each recipient's). A recipient whose language that is
    not is blocked, unless the window allows another language (options.other_language): the
    mail then goes wholly in the window's language (the template's version in it), with a
    warning. An empty field the text needs, or a value still to type, blocks too.

    With a `context`, the mail is about that object: its fields, files and addresses.
    `send_by_link`: the files leave the mail and their links' text ends its body."""
    options = setup.options
    own_language = (context.language if context is not None else "") or client.language
    written_in = options.language or own_language
    language = written_in
    blockers = list(general)
    warnings: list[Text] = []
    if template is not None and batch:
        version = template.version(own_language)
        if version is None and options.other_language:
            version = template.version(written_in)
        if version is None:
            blockers.append(missing_version(template, own_language, written_in))
            return PresendCheck(client, own_language, False, blockers, warnings, context=context)
        subject, body, language = version.subject, version.body, version.language
    language_blockers, language_warnings = language_rule(
        own_language=own_language, language=language, allowed=options.other_language
    )
    blockers.extend(language_blockers)
    try:
        draft_setup, draft_context, links_text, linked = setup, context, "", 0
        if send_by_link:
            files = by_link.linked_files(setup, context)
            draft_setup, draft_context = by_link.without_files(setup, context)
            links_text = by_link.preview_text(files=files, client=client, language=language)
            linked = len(files)
        preview = mail_draft(
            draft_setup,
            client=client,
            subject=subject,
            body=body,
            language=language,
            context=draft_context,
            links_text=links_text,
            linked=linked,
        )
    except ValidationError as exc:
        blockers.extend(texts_of(exc))
        return PresendCheck(
            client, language, language != own_language, blockers, warnings, context=context
        )
    oversize = False
    blockers.extend(preview.blockers)
    if not preview.to:
        blockers.append(no_address(client))
    if preview.size > preview.size_limit:
        blockers.append(too_large(preview.size, setup))
        if not send_by_link:
            oversize = True
            blockers.append(
                Sentence(
                    gettext_noop(
                        "Cochez « Envoyer les pièces jointes par lien sécurisé » : le client "
                        "recevra un lien et un code au lieu des fichiers."
                    )
                )
            )
    warnings.extend(text_of(warning) for warning in preview.warnings)
    warnings.extend(language_warnings)
    return PresendCheck(
        client=client,
        language=preview.language,
        language_fallback=preview.language != own_language,
        blockers=blockers,
        warnings=warnings,
        preview=preview,
        context=context,
        oversize=oversize,
        subject=subject,
        body=body,
        setup=setup,
    )


def prefetch_clients(clients: Iterable[Client]) -> list[Client]:
    """The clients with what their fields read (addresses, responsible, billing company)
    loaded in a few queries for all of them."""
    rows = list(clients)
    prefetch_related_objects(rows, "emails", "responsible", "billing_company")
    return rows


def presend_check(
    *,
    sender: Collaborator,
    draft: Draft,
    clients: Iterable[Client] = (),
    options: ComposeOptions | Mapping[str, Any] | None = None,
    billing_company: BillingCompany | None = None,
    batch: bool,
    contexts: Sequence[MailContext] | None = None,
    send_by_link: bool = False,
    again: bool = False,
) -> list[PresendCheck]:
    """Per recipient, what blocks its mail and what only warns, found by rendering each mail
    exactly as compose will. Blocks: no address, an unknown field, an empty field the text
    needs, a value still to type, a language the recipient does not read (no version of the
    template in it, or the window's text in another) unless the window allows it, a message
    too large for the method, the profile not ready, an option that is wrong (bad address,
    scheduled time past) — the last two for every recipient. Warns: a mail that goes, as
    allowed, in another language than the recipient's.

    With `contexts` (mails about invoices, VAT returns, documents, ...), one check per object
    instead of per client, each with its object's fields, files, addresses and (for an
    invoice) its billing company's profile; `clients` is then ignored. An object mailed once
    (an invoice) that had its mail already is blocked, saying when, unless `again` (the
    window's "Envoyer à nouveau") asks for a re-send.

    `draft` is what the window holds (its subject, body, template and files); its language is
    the options' (`ComposeOptions.language`), which the batch keeps with them."""
    subject, body, template, uploads = draft.subject, draft.body, draft.template, draft.uploads
    general: list[Text] = []
    try:
        checked = options_from(options)
    except ValidationError as exc:
        general.extend(texts_of(exc))
        checked = ComposeOptions()
    try:
        attachments = attachments_of(uploads, sender=sender)
    except ValidationError as exc:
        general.extend(texts_of(exc))
        attachments = []
    firm = Firm.load()
    setups: dict[int | None, tuple[SendSetup, list[Text]]] = {}

    def setup_for(company: BillingCompany | None) -> tuple[SendSetup, list[Text]]:
        key = company.pk if company is not None else None
        if key not in setups:
            profile: SendingProfile | None = None
            problem: ConfigurationError | None = None
            try:
                profile = profile_for(sender=sender, billing_company=company)
            except ConfigurationError as exc:
                problem = exc
            if profile is not None:
                problem = profile_error(profile)
            reasons = [*general, *([problem.text] if problem is not None else [])]
            setup = SendSetup(
                sender=sender,
                profile=profile,
                problem=problem,
                billing_company=company,
                firm=firm,
                options=checked,
                attachments=attachments,
                size_limit=message_size_limit(profile),
                method=str(profile.get_method_display()) if profile is not None else "",
            )
            setups[key] = (setup, reasons)
        return setups[key]

    if template is not None:
        prefetch_related_objects([template], "versions")
    if contexts is not None:
        checks = []
        mailed = {} if again else once.first_mails(contexts)
        for context in contexts:
            setup, reasons = setup_for(context.billing_company or billing_company)
            first = mailed.get(context.object_id) if context.object_id is not None else None
            if first is not None:
                reasons = [*reasons, once.already_mailed(context, first)]
            checks.append(
                check_recipient(
                    setup,
                    client=context.client,
                    subject=subject,
                    body=body,
                    template=template,
                    batch=batch,
                    general=reasons,
                    context=context,
                    send_by_link=send_by_link,
                )
            )
        return checks
    setup, reasons = setup_for(billing_company)
    return [
        check_recipient(
            setup,
            client=client,
            subject=subject,
            body=body,
            template=template,
            batch=batch,
            general=reasons,
            send_by_link=send_by_link,
        )
        for client in prefetch_clients(clients)
    ]
