"""The pre-send check and the batch: one mail per client of a selection, in its language.

The check renders every recipient's mail through `drafts.mail_draft`, the path compose
takes, and says per recipient what blocks and what only warns. A batch is stored first (what
was asked, for whom), then a task composes its messages one by one, each in its own
transaction under the idempotency key of the batch and the client: a task that stops midway
loses nothing, and running it again queues only what is missing.

Its size: the selection engine (check, batch, composing task) is to absorb billing's invoice
engine; the pre-send check moves beside `drafts` when the two become one, not before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NotRequired, TypedDict, Unpack

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.mailing import contexts
from courrier.mailing.contexts import MailContext
from courrier.mailing.exceptions import ConfigurationError, MailingError
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage, SendingProfile, Upload
from courrier.mailing.rendering import body_html, check_fields
from courrier.mailing.services import by_link, once
from courrier.mailing.services.delivery import enqueue_on_commit
from courrier.mailing.services.drafts import (
    CLIENT_CONTEXT,
    Preview,
    mail_draft,
    no_address,
    too_large,
)
from courrier.mailing.services.languages import language_rule, missing_version
from courrier.mailing.services.options import ComposeOptions, options_from
from courrier.mailing.services.profiles import profile_error, profile_for
from courrier.mailing.services.setup import (
    SendSetup,
    attachments_of,
    message_size_limit,
    send_setup,
)
from courrier.mailing.services.store import message_for_key, message_store
from courrier.texts import Lines, Sentence, Text, Verbatim, text_of, texts_json, texts_of

logger = logging.getLogger("courrier.mailing")

State = MailBatch.State


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
    )


def prefetch_clients(clients: Iterable[Client]) -> list[Client]:
    """The clients with what their fields read (addresses, responsible, billing company)
    loaded in a few queries for all of them."""
    rows = list(clients)
    prefetch_related_objects(rows, "emails", "responsible", "billing_company")
    return rows


# PLR0913: the window's fields, keyword-only; a Draft when the engines merge.
def presend_check(  # noqa: PLR0913
    *,
    sender: Collaborator,
    clients: Iterable[Client] = (),
    subject: str,
    body: str,
    template: MailTemplate | None = None,
    uploads: Sequence[Upload] = (),
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
    window's "Envoyer à nouveau") asks for a re-send."""
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


# -- the batch -------------------------------------------------------------------------------


def batch_key(batch: MailBatch, client_id: int) -> str:
    """The idempotency key of a batch's message to one client (or, for a batch about other
    objects, about one object: the id is then the object's). Objects mailed once (invoices)
    are stored under their own key instead (`once.object_key`), whatever batch sends them."""
    if batch.context and batch.context != CLIENT_CONTEXT:
        return f"batch:{batch.pk}:{batch.context}:{client_id}"
    return f"batch:{batch.pk}:client:{client_id}"


def batch_contexts(*, batch: MailBatch) -> list[MailContext]:
    """The objects of a batch about invoices, VAT returns, ..., as its sender may see them
    today, in the batch's order ([] for a batch to clients, or a context gone)."""
    if not batch.context or batch.context == CLIENT_CONTEXT:
        return []
    try:
        return contexts.resolve(batch.context, _client_ids(batch.object_ids), user=batch.sender)
    except LookupError:
        return []


def _client_ids(values: Iterable[Any]) -> list[int]:
    ids: list[int] = []
    for value in values:
        text = str(value).strip()
        if text.isdigit() and int(text) not in ids:
            ids.append(int(text))
    return ids


def _enqueue_compose(batch_id: int) -> None:
    # Imported here: the task module imports the services.
    from courrier.mailing.tasks import compose_batch

    compose_batch.enqueue(batch_id)


def batch_create(
    *,
    sender: Collaborator,
    client_ids: Iterable[int] = (),
    subject: str,
    body: str,
    template: MailTemplate | None,
    options: Mapping[str, Any],
    uploads: Sequence[Upload] = (),
    context: str = CLIENT_CONTEXT,
    object_ids: Iterable[int] = (),
) -> MailBatch:
    """Store a send to a selection and enqueue the task that composes its messages (when the
    transaction commits). Refused before anything is stored: a bad option (address, past
    scheduled time), someone else's file, an unknown field, no client, and a sending profile
    that is missing or cannot send.

    With a `context` other than "client", one mail per object of `object_ids` (those the
    sender may see; `client_ids` is ignored and stored as each object's client, in order)."""
    objects: list[MailContext] = []
    if context != CLIENT_CONTEXT:
        try:
            objects = contexts.resolve(context, _client_ids(object_ids), user=sender)
        except LookupError:
            raise ValidationError(
                _("Contexte d'envoi inconnu : « %(context)s »."),
                code="unknown_context",
                params={"context": context[:40]},
            ) from None
        if not objects:
            raise ValidationError(_("Aucun élément n'est choisi."), code="no_object")
        ids = [item.client.pk for item in objects]
    else:
        ids = _client_ids(client_ids)
    if not ids:
        raise ValidationError(_("Aucun client n'est choisi."), code="no_client")
    checked = options_from(options)
    if template is None:
        check_fields(subject + "\n" + body, context=context)
    attachments_of(uploads, sender=sender)
    companies = {
        item.billing_company.pk if item.billing_company else None: item.billing_company
        for item in objects
    } or {None: None}
    for company in companies.values():
        profile = profile_for(sender=sender, billing_company=company)
        problem = profile_error(profile)
        if problem is not None:
            raise problem
    with transaction.atomic():
        batch = MailBatch.objects.create(
            sender=sender,
            template=template,
            subject=subject if template is None else (subject or template.name),
            body=body_html(body),
            # The window's own keys (its idempotency key, ...) are kept beside the checked ones.
            options={**dict(options), **checked.as_dict()},
            client_ids=ids,
            context=context,
            object_ids=[item.object_id for item in objects],
            total=len(objects) if objects else len(ids),
            state=State.PENDING,
        )
        batch.uploads.set(list(uploads))
        transaction.on_commit(partial(_enqueue_compose, batch.pk), robust=True)
    logger.info("batch %s created by %s for %d %s mails", batch.pk, sender.pk, batch.total, context)
    return batch


class BatchValues(TypedDict):
    """What `batch_create` takes besides its sender."""

    client_ids: NotRequired[Iterable[int]]
    subject: str
    body: str
    template: MailTemplate | None
    options: Mapping[str, Any]
    uploads: NotRequired[Sequence[Upload]]
    context: NotRequired[str]
    object_ids: NotRequired[Iterable[int]]


def batch_create_once(
    *, key: str, sender: Collaborator, **values: Unpack[BatchValues]
) -> tuple[MailBatch, bool]:
    """`batch_create` for a form that may be sent twice (two quick clicks on "Envoyer"): the
    batch this sender already created under `key` (the window's idempotency key), or a new one
    made with `values`; the flag says whether it is new. The sender's row is the lock the
    second click waits on, held until the first batch is stored, so one key makes one batch."""
    with transaction.atomic():
        Collaborator.objects.select_for_update().filter(pk=sender.pk).first()
        if key:
            existing = MailBatch.objects.filter(sender=sender, options__idempotency_key=key).first()
            if existing is not None:
                return existing, False
        return batch_create(sender=sender, **values), True


# The apps whose batches another task composes (billing's invoices): the name they write in
# `batch.options["composer"]`, and how to enqueue that task again for a batch.
_COMPOSERS: dict[str, Callable[[int], None]] = {}


def batch_composer_register(name: str, enqueue: Callable[[int], None]) -> None:
    """Let an app compose its own batches (call it from AppConfig.ready): a batch whose
    options name `name` as its composer is resumed by `enqueue(batch_id)`, not by this
    module's task. The outbox never imports the apps it serves: they register here."""
    _COMPOSERS[name] = enqueue


def batch_resume(*, batch: MailBatch) -> bool:
    """Enqueue the composing task again for a batch that did not finish (it stopped, or its
    profile had to be fixed). Only what is missing will be queued. False when it is done."""
    if batch.state == State.DONE:
        return False
    # A batch of invoices is composed by billing's task, under its own keys.
    enqueue = _COMPOSERS.get(str(batch.options.get("composer", "")), _enqueue_compose)
    transaction.on_commit(partial(enqueue, batch.pk), robust=True)
    return True


def batches_resume_stalled(*, now: datetime | None = None) -> int:
    """Resume the batches left unfinished for longer than a delivery lease (their worker
    stopped mid-way); a resumed batch queues only what is missing. Returns how many."""
    limit = (now or timezone.now()) - timedelta(seconds=settings.COURRIER["SENDING_LEASE_SECONDS"])
    stalled = MailBatch.objects.filter(
        state__in=[State.PENDING, State.COMPOSING], created_at__lt=limit
    )
    count = 0
    with transaction.atomic():
        for batch in stalled:
            count += batch_resume(batch=batch)
    return count


def _finish(batch: MailBatch, *, state: str, error: Text | None = None) -> None:
    batch.queued = OutboundMessage.objects.filter(batch=batch).count()
    batch.state = state
    batch.error = error or Verbatim("")
    batch.finished_at = timezone.now()
    batch.save(update_fields=["queued", "state", "error", "finished_at", "blocked"])


def batch_compose(*, batch_id: int, limit: int | None = None) -> MailBatch:
    """The task's body: one message per client of the batch that nothing blocks, wholly in
    one language (the rule of `check_recipient`).

    Each message is stored in its own transaction under `batch_key`, with the `queued` counter;
    the clients that cannot receive it are listed in `blocked` with the reasons, as it goes.
    Run again (after a stop, a crash or a fix), it queues only what is missing. `limit` stops
    after that many new messages, leaving the batch "composing" (to be resumed)."""
    batch = MailBatch.objects.select_related("sender", "template").get(pk=batch_id)
    if batch.state == State.DONE:
        return batch
    MailBatch.objects.filter(pk=batch.pk).update(state=State.COMPOSING)
    batch.state = State.COMPOSING
    try:
        finished = _compose_all(batch, limit=limit)
    except (MailingError, ValidationError) as exc:
        # The whole batch cannot go on (profile missing or broken, a file gone): said, kept.
        texts = [exc.text] if isinstance(exc, MailingError) else texts_of(exc)
        _finish(batch, state=State.FAILED, error=Lines(*texts))
        logger.warning("batch %s stopped: %s", batch.pk, batch.error)
        return batch
    except Exception as exc:
        _finish(
            batch,
            state=State.FAILED,
            error=Sentence(
                gettext_noop("Erreur interne pendant la mise en file : %(error)s"),
                {"error": repr(exc)},
            ),
        )
        logger.exception("batch %s stopped by an internal error", batch.pk)
        raise
    if finished:
        _finish(batch, state=State.DONE)
        logger.info(
            "batch %s done: %d queued, %d blocked", batch.pk, batch.queued, len(batch.blocked)
        )
    return batch


# C901: the selection engine, to merge with billing's into one.
def _compose_all(batch: MailBatch, *, limit: int | None) -> bool:  # noqa: C901
    """Compose what is missing; True when every client (or object) was settled (queued or
    blocked)."""
    options = options_from(batch.options, require_future=False)
    uploads = list(batch.uploads.all())
    setups: dict[int | None, SendSetup] = {}

    def setup_for(company: BillingCompany | None) -> SendSetup:
        key = company.pk if company is not None else None
        if key not in setups:
            setup = send_setup(
                sender=batch.sender, billing_company=company, options=options, uploads=uploads
            )
            if setup.problem is not None:
                raise setup.problem
            for attachment in setup.attachments:
                attachment.content  # noqa: B018 (read once for the whole batch, and checked)
            setups[key] = setup
        return setups[key]

    if batch.context in ("", CLIENT_CONTEXT):
        setup_for(None)  # a profile to fix stops the batch before its first mail
    template = batch.template
    if template is not None:
        prefetch_related_objects([template], "versions")
    about_objects = bool(batch.context) and batch.context != CLIENT_CONTEXT
    ids = _client_ids(batch.object_ids if about_objects else batch.client_ids)
    keys = {batch_key(batch, pk): pk for pk in ids}
    # Objects mailed once (invoices) have one key whatever sends them: this batch's are the
    # messages it stored; another path's first mail blocks the object, unless the window
    # asked for a re-send ("resend").
    sent_once = contexts.sent_once(batch.context) if about_objects else None
    again = bool((batch.options or {}).get("resend"))
    done: set[str | None]
    if sent_once is not None:
        stored = set(
            OutboundMessage.objects.filter(
                batch=batch, context=batch.context, object_id__in=ids
            ).values_list("object_id", flat=True)
        )
        done = {key for key, pk in keys.items() if pk in stored}
    else:
        done = set(
            OutboundMessage.objects.filter(idempotency_key__in=list(keys)).values_list(
                "idempotency_key", flat=True
            )
        )
    missing = [keys[key] for key in keys if key not in done]
    clients: dict[int, Client] = {}
    objects: dict[int, MailContext] = {}
    if about_objects:
        if missing:
            try:
                found = contexts.resolve(batch.context, missing, user=batch.sender)
            except LookupError:
                found = []
            objects = {item.object_id: item for item in found if item.object_id is not None}
    else:
        clients = {
            client.pk: client
            for client in Client.objects.filter(pk__in=missing)
            .select_related("responsible", "billing_company")
            .prefetch_related("emails")
        }
    every = max(1, int(settings.COURRIER["DELIVERY_BATCH"]))
    send_by_link = bool((batch.options or {}).get("send_by_link"))
    # The same dict as the batch's: what a crash leaves in it is what _finish saves. Each
    # reason is stored as Text.as_json(), read back by courrier.texts.text_of.
    blocked: dict[str, list[Any]] = dict(batch.blocked or {})
    batch.blocked = blocked
    firsts = once.first_mails(objects.values()) if sent_once is not None else {}
    composed = 0
    stopped = False
    profiles: set[int] = set()
    for key, pk in keys.items():
        if key in done:
            blocked.pop(str(pk), None)
            continue
        if limit is not None and composed >= limit:
            stopped = True
            break
        context = objects.get(pk) if about_objects else None
        client = context.client if context is not None else clients.get(pk)
        if client is None:
            reasons: list[Text] = [
                Sentence(gettext_noop("Cet élément n'existe plus ou ne vous est plus accessible."))
                if about_objects
                else Sentence(gettext_noop("Ce client n'existe plus."))
            ]
        elif context is not None and pk in firsts and not again:
            reasons = [once.already_mailed(context, firsts[pk])]
        else:
            setup = setup_for(context.billing_company if context is not None else None)
            target = once.object_key(context, first=firsts.get(pk), again=again)
            # Delivery chains its runs by itself: waking it now and then is enough.
            reasons = _compose_one(
                setup,
                batch,
                client=client,
                key=target.key if target is not None else key,
                purpose=target.purpose if target is not None else "client",
                enqueue=composed % every == 0,
                context=context,
                send_by_link=send_by_link,
            )
            if not reasons and setup.profile is not None:
                profiles.add(setup.profile.pk)
        if reasons:
            blocked[str(pk)] = texts_json(reasons)
        else:
            composed += 1
            if blocked.pop(str(pk), None) is None:
                continue  # nothing to correct in the list of blocked clients
        MailBatch.objects.filter(pk=batch.pk).update(blocked=blocked)
    for profile_pk in sorted(profiles):
        # Whatever the rhythm above, a run after the last one.
        enqueue_on_commit(profile_pk, run_after=options.scheduled_at)
    return not stopped


def _compose_one(
    setup: SendSetup,
    batch: MailBatch,
    *,
    client: Client,
    key: str,
    enqueue: bool,
    context: MailContext | None = None,
    send_by_link: bool = False,
    purpose: str = "client",
) -> list[Text]:
    """Queue the batch's message to `client` (about `context`) under `key`; the reasons it
    cannot be, or [] once queued."""
    check = check_recipient(
        setup,
        client=client,
        subject=batch.subject,
        body=batch.body,
        template=batch.template,
        batch=True,
        context=context,
        send_by_link=send_by_link,
    )
    if check.blockers or check.preview is None:
        return check.blockers
    try:
        with transaction.atomic():
            if send_by_link:
                message, made = by_link.message_store_by_link(
                    setup,
                    client=client,
                    context=context,
                    subject=check.subject,
                    body=check.body,
                    language=check.language,
                    template=batch.template,
                    purpose=purpose,
                    idempotency_key=key,
                    batch=batch,
                    enqueue=enqueue,
                )
                # Nobody is there to read the code out: it follows in a second mail.
                by_link.code_send(made=made, sender=setup.sender, language=message.language)
            else:
                message_store(
                    setup,
                    client=client,
                    preview=check.preview,
                    template=batch.template,
                    purpose=purpose,
                    idempotency_key=key,
                    batch=batch,
                    enqueue=enqueue,
                    context=context,
                )
            # The counter moves with the message, in the same transaction.
            MailBatch.objects.filter(pk=batch.pk).update(queued=F("queued") + 1)
    except IntegrityError:
        # Another run of this batch stored it a moment ago: queued all the same; another path
        # mailed the object meanwhile (an invoice sent by the register): blocked, saying when.
        # Anything else is not ours to hide: the batch stops and says so, a rerun goes on.
        existing = message_for_key(key)
        if existing is None:
            raise
        if context is not None and existing.batch_id != batch.pk:
            return [once.already_mailed(context, existing)]
        return []
    except ValidationError as exc:
        return list(texts_of(exc))
    return []
