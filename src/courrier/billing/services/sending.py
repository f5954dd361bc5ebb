"""Invoices by e-mail: the pre-send check, batches, the explicit re-send, sending on issue.

One message per invoice, through its billing company's profile, with the company's invoice
template (its credit-note template for a credit note, which never asks for payment) in the
invoice's language and the PDF as issued attached. Each invoice's mail has the
idempotency key `invoice:<pk>:email` (`contexts.mail_key`, the key the compose window uses
too): a batch run twice, resumed after a crash, a second batch over the same invoices, or a
batch after the compose window mailed the invoice queues nothing twice. Only an explicit
re-send ("@", or "Envoyer à nouveau" in the window) sends again, under a key of its own
(`invoice:<pk>:resend:<n>`, `contexts.resend_key`).

Its size: this module is billing's own batch engine beside `mailing.services.batch`; the two
are to become one engine in the outbox, with billing bringing only its hooks (the PDFs before a
round, the key per invoice). Split now, it would be split again along the wrong lines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from courrier.billing.fields import INVOICE_CONTEXT
from courrier.billing.models import Invoice
from courrier.billing.services.payment_terms import named, payment_asks
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.languages import MailLanguage
from courrier.mailing import contexts
from courrier.mailing.exceptions import MailingError
from courrier.mailing.fields import client_values
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    SendingProfile,
)
from courrier.mailing.services import PresendCheck, Reason, profile_blocker, resend_next
from courrier.mailing.services.delivery import delivery_grouped
from courrier.mailing.services.drafts import mail_draft
from courrier.mailing.services.holes import holes
from courrier.mailing.services.options import compose_options
from courrier.mailing.services.profiles import profile_for
from courrier.mailing.services.setup import (
    compose_setup,
    encoded_size,
    message_size_limit,
    send_setup_shared,
)
from courrier.mailing.services.store import (
    PreparedMessage,
    message_for_key,
    message_prepare,
    message_store_once,
    messages_store,
)
from courrier.mailing.signatures import mail_signature
from courrier.texts import (
    Sentence,
    Size,
    Text,
    Verbatim,
    render_all,
    text_error,
    text_of,
    texts_json,
    texts_of,
)

logger = logging.getLogger("courrier.billing")

PURPOSE_EMAIL = "invoice"
PURPOSE_RESEND = "invoice-resend"
# MailBatch.options["composer"]: the batch is composed by `invoice_batch_compose`.
COMPOSER = "invoices"
# Invoices read, and their mails counted in the batch's progress, per round of a batch run.
CHUNK = 100
# Headers, text part and MIME overhead around the PDF, counted against the provider's limit.
_MAIL_OVERHEAD = 64 * 1024

State = MailBatch.State


def email_key(invoice_pk: int) -> str:
    """The idempotency key of an invoice's mail: sent once, whatever runs it (the compose
    window included: `contexts.mail_key`)."""
    return contexts.mail_key(INVOICE_CONTEXT, invoice_pk)


# -- the template ------------------------------------------------------------------------------


def _company_template(context: str, chosen_id: int | None) -> MailTemplate | None:
    """The template chosen on the company, else the firm's template of `context` (a firm or
    shared template; the firm's own first, then by name). A chosen template that is no
    longer the firm's or shared, or no longer of that context, is passed over."""
    usable = MailTemplate.objects.filter(context=context).filter(
        Q(owner__isnull=True) | Q(shared=True)
    )
    if chosen_id is not None:
        chosen = usable.filter(pk=chosen_id).prefetch_related("versions").first()
        if chosen is not None:
            return chosen
    return (
        usable.prefetch_related("versions")
        .order_by(F("owner").asc(nulls_first=True), "name", "pk")
        .first()
    )


def invoice_template(*, billing_company: BillingCompany) -> MailTemplate | None:
    """The company's invoice template: the one chosen on the company, else the firm's
    template for invoices (context "invoice")."""
    return _company_template(MailTemplate.Context.INVOICE, billing_company.invoice_template_id)


def credit_note_template(*, billing_company: BillingCompany) -> MailTemplate | None:
    """The company's credit-note template: the one chosen on the company, else the firm's
    template for credit notes (context "credit_note"). Never the invoice template: that one
    asks for payment."""
    return _company_template(
        MailTemplate.Context.CREDIT_NOTE, billing_company.credit_note_template_id
    )


def mail_template_for(*, invoice: Invoice) -> MailTemplate | None:
    """The template of an invoice's mail: its company's credit-note template for a credit
    note, its invoice template otherwise."""
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        return credit_note_template(billing_company=invoice.billing_company)
    return invoice_template(billing_company=invoice.billing_company)


def _asks_payment(template: MailTemplate, version: MailTemplateVersion) -> Reason | None:
    """Why a credit note cannot go with this version, when it asks for payment."""
    found = payment_asks(version.subject, version.body)
    if not found:
        return None
    return Reason(
        "asks_payment",
        Sentence(
            gettext_noop(
                "Le modèle « %(template)s » demande un paiement (%(found)s) : une note de "
                "crédit ne se paie pas. Choisissez un modèle de notes de crédit sur la page de "
                "la société facturante, ou retirez ces mentions."
            ),
            {"template": template.name, "found": named(found)},
        ),
    )


# Fields that only a credit note of an invoice can fill.
_CREDITED_FIELDS = ("NUMFACTCREDITEE", "DATEFACTCREDITEE")


def _credits_nothing(version: MailTemplateVersion) -> Reason | None:
    """A credit note that credits no invoice, with a template that names the invoice it
    credits, would go out with a hole."""
    text = f"{version.subject}\n{version.body}"
    if not any(f"{{{code}}}" in text for code in _CREDITED_FIELDS):
        return None
    return Reason(
        "credits_nothing",
        Sentence(
            gettext_noop(
                "Cette note de crédit ne crédite aucune facture, mais le modèle cite la facture "
                "créditée ({NUMFACTCREDITEE}, {DATEFACTCREDITEE})."
            )
        ),
    )


# -- the pre-send check --------------------------------------------------------------------------


def _language_label(code: str) -> Text | str:
    """A language's name, translated when shown."""
    try:
        return text_of(MailLanguage(code).label)
    except ValueError:
        return code


def _already_sent() -> Text:
    return Sentence(gettext_noop("Déjà envoyée par e-mail : utilisez « @ » pour la renvoyer."))


def _draft() -> Text:
    return Sentence(gettext_noop("Brouillon : une facture est émise avant l'envoi."))


def _no_template(*, credit_note: bool) -> Text:
    if credit_note:
        return Sentence(
            gettext_noop(
                "Aucun modèle de mail pour les notes de crédit : créez un modèle du cabinet de "
                "contexte « note de crédit » (celui des factures demande un paiement)."
            )
        )
    return Sentence(
        gettext_noop(
            "Aucun modèle de mail pour les factures : créez un modèle du cabinet de contexte "
            "« facture »."
        )
    )


def _is_belgian_vat_company(invoice: Invoice) -> bool:
    vat = "".join(ch for ch in (invoice.client.vat_number or "") if ch.isalnum()).upper()
    return vat.startswith("BE") and len(vat) > 2


def _pdf_stored(invoice: Invoice) -> bool:
    try:
        return bool(invoice.pdf) and invoice.pdf.storage.exists(invoice.pdf.name)
    except OSError:
        return False


def _invoices(ids: Iterable[int]) -> QuerySet[Invoice]:
    return (
        Invoice.objects.filter(pk__in=list(ids))
        .select_related(
            "client",
            "client__billing_company",
            "client__responsible",
            "billing_company",
            "credited_invoice",
        )
        .prefetch_related("client__emails")
    )


def _holes(
    invoice: Invoice,
    subject: str,
    body: str,
    *,
    by: Collaborator | None,
    firm: Firm,
    said: Collection[str] = (),
) -> list[Text]:
    """The blanks the invoice's mail would have (`services.holes`), from its values alone: the
    check does not render the mails of a batch. `said`: blanks another reason explains."""
    from courrier.billing.fields import invoice_values

    values = client_values(client=invoice.client, sender=by, language=invoice.language, firm=firm)
    values.update(invoice_values(invoice, invoice.language))
    return holes(subject=subject, body=body, values=values, context=INVOICE_CONTEXT, said=said)


# C901: one reason per branch; goes with billing's engine into the one batch engine.
def invoice_presend_check(  # noqa: C901
    *, invoices: Iterable[Invoice], by: Collaborator | None
) -> list[PresendCheck]:
    """The check before a batch: one entry per invoice, in the order given.

    Blockers: not issued, already sent by e-mail (only "@" sends again), no invoice address,
    no sending profile for its company, no template (the invoice one, or the credit-note one
    for a credit note) or none in the invoice's language, a credit note whose template asks
    for payment or names an invoice it does not credit, a field its template uses that is
    empty for this invoice (or a value left to type), a stored PDF gone from the server, a
    PDF over the provider's limit. Warnings: an invoice whose due date is past; a Belgian
    VAT-registered company, whose legal invoice is a Peppol e-invoice since 1 January 2026; a
    mail that goes unsigned, its company having no signature in its language. An issued
    invoice whose PDF was not made yet is not blocked: the batch makes it."""
    invoices = list(invoices)
    sent_keys = set(
        OutboundMessage.objects.filter(
            idempotency_key__in=[email_key(invoice.pk) for invoice in invoices]
        ).values_list("idempotency_key", flat=True)
    )
    templates: dict[tuple[int, str], MailTemplate | None] = {}
    profiles: dict[int, SendingProfile | Text] = {}
    checks: list[PresendCheck] = []
    today = timezone.localdate()
    firm = Firm.load()
    for invoice in invoices:
        check = PresendCheck(client=invoice.client, language=invoice.language, about=invoice)
        checks.append(check)
        blockers, warnings = check.blockers, check.warnings
        if invoice.status != Invoice.Status.ISSUED:
            blockers.append(Reason("draft", _draft()))
            continue
        if email_key(invoice.pk) in sent_keys:
            blockers.append(Reason("already_sent", _already_sent()))
        client = invoice.client
        if not client.invoice_addresses():
            blockers.append(
                Reason(
                    "no_address",
                    Sentence(
                        gettext_noop(
                            "Le client %(client)s n'a pas d'adresse e-mail pour les factures."
                        ),
                        {"client": client.display_name},
                    ),
                )
            )
        company = invoice.billing_company
        if company.pk not in profiles:
            try:
                profiles[company.pk] = profile_for(sender=by, billing_company=company)  # type: ignore[arg-type]
            except MailingError as exc:
                profiles[company.pk] = exc.text
        profile = profiles[company.pk]
        # The rule of every pre-send check and of compose: what it blocks fails at compose.
        unusable = profile if isinstance(profile, Text) else profile_blocker(profile)
        if unusable is not None:
            blockers.append(Reason("no_profile" if profile is unusable else "profile", unusable))
        is_credit = invoice.kind == Invoice.Kind.CREDIT_NOTE
        if (company.pk, invoice.kind) not in templates:
            templates[company.pk, invoice.kind] = mail_template_for(invoice=invoice)
        template = templates[company.pk, invoice.kind]
        version = template.version(invoice.language) if template is not None else None
        if template is None:
            blockers.append(Reason("no_template", _no_template(credit_note=is_credit)))
        elif version is None:
            blockers.append(
                Reason(
                    "no_language",
                    Sentence(
                        gettext_noop(
                            "Le modèle « %(template)s » n'a pas de version en %(language)s."
                        ),
                        {"template": template.name, "language": _language_label(invoice.language)},
                    ),
                )
            )
        elif is_credit:
            for reason in (
                _asks_payment(template, version),
                None if invoice.credited_invoice_id else _credits_nothing(version),
            ):
                if reason is not None:
                    blockers.append(reason)
        if not is_credit and invoice.due_date < today:
            warnings.append(
                Reason(
                    "past_due",
                    # Without the number: the check lists the invoices of each warning.
                    Sentence(
                        gettext_noop(
                            "Échéance déjà passée (le %(date)s) : le mail demandera un paiement "
                            "pour une date révolue. Corrigez-la par une note de crédit et une "
                            "nouvelle facture, ou prévenez le client."
                        ),
                        {"date": invoice.due_date.strftime("%d/%m/%Y")},
                    ),
                )
            )
        if version is not None:
            unsigned = mail_signature(
                sender=by, billing_company=company, language=invoice.language, body=version.body
            ).warning()
            if unsigned:
                warnings.append(Reason("no_signature", unsigned))
            # A credit note crediting nothing already says why its invoice's fields are empty.
            said = (
                _CREDITED_FIELDS
                if any(isinstance(r, Reason) and r.code == "credits_nothing" for r in blockers)
                else ()
            )
            blockers.extend(
                Reason("hole", reason)
                for reason in _holes(
                    invoice, version.subject, version.body, by=by, firm=firm, said=said
                )
            )
        if invoice.pdf:
            if not _pdf_stored(invoice):
                blockers.append(
                    Reason(
                        "pdf_missing",
                        Sentence(
                            gettext_noop("Le PDF de la facture est introuvable sur le serveur.")
                        ),
                    )
                )
            elif not isinstance(profile, Text):
                size = encoded_size(invoice.pdf.size) + _MAIL_OVERHEAD
                limit = message_size_limit(profile)
                if size > limit:
                    blockers.append(
                        Reason(
                            "too_large",
                            Sentence(
                                gettext_noop(
                                    "Le message pèserait %(size)s avec le PDF : la méthode "
                                    "d'envoi accepte au plus %(limit)s."
                                ),
                                {"size": Size(size), "limit": Size(limit, limit=True)},
                            ),
                        )
                    )
        if _is_belgian_vat_company(invoice):
            warnings.append(
                Reason(
                    "peppol",
                    Sentence(
                        gettext_noop(
                            "Client assujetti à la TVA en Belgique : depuis le 1er janvier 2026, "
                            "sa facture légale est la facture électronique Peppol ; ce PDF n'en "
                            "est qu'une copie."
                        )
                    ),
                )
            )
    return checks


# -- what a batch takes --------------------------------------------------------------------------


def invoices_unsent(
    *, billing_company: BillingCompany, until: date | None = None
) -> QuerySet[Invoice]:
    """The company's issued invoices of the e-mail register not yet sent by e-mail, issued
    on or before `until` when given, in the order of their numbers."""
    sent = OutboundMessage.objects.filter(context=INVOICE_CONTEXT, purpose=PURPOSE_EMAIL).values(
        "object_id"
    )
    invoices = Invoice.objects.filter(
        billing_company=billing_company,
        status=Invoice.Status.ISSUED,
        register=Invoice.Register.EMAIL,
    ).exclude(pk__in=sent)
    if until is not None:
        invoices = invoices.filter(issue_date__lte=until)
    return invoices.order_by("year", "number")


def invoice_batch_enqueue(batch_id: int, parts: int = 1) -> None:
    """Enqueue the `parts` tasks that compose an invoice batch side by side (also how the
    outbox resumes a stalled one: registered in BillingConfig.ready)."""
    # Imported here: the task module imports the services.
    from courrier.billing.tasks import compose_invoice_batch

    for part in range(parts):
        compose_invoice_batch.enqueue(batch_id, part, parts)


def invoice_batch_start(
    *,
    by: Collaborator,
    invoices: Iterable[Invoice] | None = None,
    billing_company: BillingCompany | None = None,
    until: date | None = None,
    enqueue: bool = True,
    parts: int | None = None,
) -> MailBatch:
    """A batch of invoice mails: the invoices given, or the company's unsent ones of the
    e-mail register (up to `until`). The pre-send check runs first: blocked invoices are
    listed in `batch.blocked` with their reasons and are not sent; the others are composed by
    task (enqueued when the transaction commits; `enqueue=False`: the caller composes).

    `parts` tasks compose it side by side (default COURRIER["INVOICE_COMPOSE_TASKS"], 2): as
    many workers as there are share the PDFs and the rendering."""
    if invoices is None:
        if billing_company is None:
            raise ValueError("invoices or billing_company")
        chosen = list(
            _invoices(
                invoices_unsent(billing_company=billing_company, until=until).values_list(
                    "pk", flat=True
                )
            ).order_by("year", "number")
        )
    else:
        given = [invoice.pk for invoice in invoices]
        by_pk = {invoice.pk: invoice for invoice in _invoices(given)}
        chosen = [by_pk[pk] for pk in dict.fromkeys(given) if pk in by_pk]
    checks = invoice_presend_check(invoices=chosen, by=by)
    company = billing_company or (chosen[0].billing_company if chosen else None)
    template = invoice_template(billing_company=company) if company is not None else None
    with transaction.atomic():
        batch = MailBatch.objects.create(
            sender=by,
            template=template,
            subject=template.name if template is not None else _("Factures"),
            body="",
            options={"composer": COMPOSER},
            context=INVOICE_CONTEXT,
            object_ids=[check.about.pk for check in checks],
            client_ids=[check.about.client_id for check in checks],
            total=len(checks),
            blocked={
                str(check.about.pk): texts_json(check.blockers)
                for check in checks
                if check.blockers
            },
        )
        if enqueue:
            if parts is None:
                parts = int(settings.COURRIER.get("INVOICE_COMPOSE_TASKS", 2))
            count = max(1, min(parts, len(checks) or 1))
            transaction.on_commit(partial(invoice_batch_enqueue, batch.pk, count), robust=True)
    logger.info(
        "invoice batch %s: %d invoices, %d blocked", batch.pk, batch.total, len(batch.blocked)
    )
    return batch


# -- composing ---------------------------------------------------------------------------------


def _compose_invoice(
    invoice: Invoice,
    *,
    by: Collaborator,
    idempotency_key: str,
    purpose: str,
    batch: MailBatch | None = None,
    template: MailTemplate | None = None,
    pdf: bytes | None = None,
) -> OutboundMessage:
    """One invoice's mail, stored on its own: the PDF made if it was not yet (never remade;
    `pdf` is the one the caller made before its transaction), the template in the invoice's
    language, the stored PDF attached, the company's profile. A known `idempotency_key`
    returns its message unchanged."""
    # Imported here: billing.services imports this module's neighbours.
    from courrier.billing.services.issue import invoice_pdf_ensure

    if invoice.status != Invoice.Status.ISSUED:
        raise text_error(_draft())
    invoice_pdf_ensure(invoice=invoice, content=pdf)
    existing = message_for_key(idempotency_key)
    if existing is not None:
        return existing
    return message_store_once(
        _prepare_invoice(
            invoice,
            by=by,
            idempotency_key=idempotency_key,
            purpose=purpose,
            batch=batch,
            template=template or mail_template_for(invoice=invoice),
            pdf=None,
        )
    )


@dataclass
class BatchProgress:
    total: int
    done: int


@dataclass
class _Pending:
    """An invoice's mail built in a round of a batch, waiting to be stored with the others."""

    invoice: Invoice
    prepared: PreparedMessage
    # The PDF made for it in this round (stored with the mail), or None: it had one.
    pdf: bytes | None


def _prepare_invoice(
    invoice: Invoice,
    *,
    by: Collaborator,
    idempotency_key: str,
    purpose: str,
    batch: MailBatch | None,
    template: MailTemplate | None,
    pdf: bytes | None,
) -> PreparedMessage:
    """An invoice's mail built without touching the database: the template in the invoice's
    language, the PDF (`pdf`, just made, or the stored one) attached."""
    from courrier.billing.fields import invoice_context

    if template is None:
        raise text_error(_no_template(credit_note=invoice.kind == Invoice.Kind.CREDIT_NOTE))
    version = template.version(invoice.language)
    if version is None:
        raise text_error(
            Sentence(
                gettext_noop("Le modèle « %(template)s » n'a pas de version en %(language)s."),
                {"template": template.name, "language": _language_label(invoice.language)},
            )
        )
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        # Whatever sends it (a batch, "@", the send on issue): a credit note's mail never
        # asks for payment, and never names an invoice it does not credit.
        refused = _asks_payment(template, version) or (
            None if invoice.credited_invoice_id else _credits_nothing(version)
        )
        if refused is not None:
            raise text_error(text_of(refused.message))
    context = invoice_context(invoice, pdf=pdf)
    setup = compose_setup(
        sender=by, billing_company=None, context=context, uploads=(), options=compose_options()
    )
    preview = mail_draft(
        setup,
        client=invoice.client,
        subject=version.subject,
        body=version.body,
        language=invoice.language,
        context=context,
    )
    return message_prepare(
        setup,
        client=invoice.client,
        preview=preview,
        template=template,
        purpose=purpose,
        idempotency_key=idempotency_key,
        batch=batch,
        context=context,
    )


def _store_round(pending: list[_Pending]) -> list[_Pending]:
    """Store a round's mails together: their new PDFs written first (outside the
    transaction), then, in one transaction, the invoices' rows and the messages in a few
    statements whatever their number. Returns those to compose again one by one from what is
    stored: every mail of the round when one of its keys was taken meanwhile (another run of
    the batch), or the invoices another run gave a PDF meanwhile (ours is dropped)."""
    from courrier.billing.services.issue import invoice_pdfs_record, invoice_pdfs_write

    fresh = [item for item in pending if item.pdf is not None]
    taken: set[int] = set()
    try:
        invoice_pdfs_write([(item.invoice, item.pdf) for item in fresh if item.pdf is not None])
        with transaction.atomic():
            taken = invoice_pdfs_record([item.invoice for item in fresh])
            messages_store([item.prepared for item in pending if item.invoice.pk not in taken])
    except IntegrityError:
        redo = pending
    except BaseException:
        _pdfs_drop(fresh)
        raise
    else:
        redo = [item for item in pending if item.invoice.pk in taken]
    _pdfs_drop([item for item in redo if item.pdf is not None])
    return redo


def _pdfs_drop(pending: list[_Pending]) -> None:
    """Remove the files written for mails that were not stored, and forget them."""
    for item in pending:
        invoice = item.invoice
        if invoice.pdf:
            try:
                invoice.pdf.storage.delete(invoice.pdf.name)
            except OSError:
                logger.warning("PDF %s of invoice %s left behind", invoice.pdf.name, invoice.pk)
        invoice.pdf.name = ""
        invoice.pdf_sha256 = ""


@send_setup_shared()
# C901: billing's own engine, to merge into the one batch engine.
def invoice_batch_compose(  # noqa: C901
    *,
    batch_id: int,
    limit: int | None = None,
    part: int = 0,
    parts: int = 1,
    progress: Callable[[BatchProgress], None] | None = None,
) -> MailBatch:
    """The task's body: one message per invoice of the batch that nothing blocked, under
    `email_key`. Run again (after a stop or a crash), it queues only what is missing. `limit`
    stops after that many new messages (the batch stays composing).

    The invoices go by rounds of CHUNK: each one's PDF and mail are made outside any
    transaction, then the round is stored in one transaction (PDFs recorded, messages
    inserted), so that a crash leaves whole rounds and a rerun makes what is missing. When a
    round cannot be stored whole (a key taken meanwhile by another run), its invoices are
    composed again one by one, each in its own transaction.

    `part` of `parts`: this run composes every parts-th invoice from the part-th, so that
    several workers compose one batch side by side; the run that finds every invoice settled
    (queued or blocked) closes the batch."""
    from courrier.billing.services.pdf import invoice_pdf_render

    batch = MailBatch.objects.select_related("sender").get(pk=batch_id)
    if batch.state == State.DONE:
        return batch
    MailBatch.objects.filter(pk=batch.pk).update(state=State.COMPOSING)
    batch.state = State.COMPOSING
    mine = [int(pk) for pk in batch.object_ids][part::parts]
    ids = [pk for pk in mine if str(pk) not in batch.blocked]
    existing = dict(
        OutboundMessage.objects.filter(
            idempotency_key__in=[email_key(pk) for pk in ids]
        ).values_list("idempotency_key", "batch_id")
    )
    templates: dict[tuple[int, str], MailTemplate | None] = {}
    made = 0
    counted = 0  # of `made`, those already added to the batch's `queued`
    done = len(mine) - len(ids)
    stopped = False

    def count_queued() -> None:
        # Once per round rather than per mail: on SQLite an UPDATE rewrites the whole batch
        # row, whose lists of ids grow with the batch (10,000 invoices: ~120 KB per UPDATE).
        nonlocal counted
        if made > counted:
            MailBatch.objects.filter(pk=batch.pk).update(queued=F("queued") + (made - counted))
            counted = made

    def refused(pk: int, exc: ValidationError | MailingError) -> None:
        reasons = [exc.text] if isinstance(exc, MailingError) else texts_of(exc)
        _block(batch, pk, reasons)
        logger.warning("invoice %s not queued: %s", pk, "; ".join(render_all(reasons)))

    try:
        with delivery_grouped() as deliveries:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                # The lines too, for the PDFs to make: one query per round, not per invoice.
                found = _invoices(chunk).prefetch_related("lines")
                by_pk = {invoice.pk: invoice for invoice in found}
                pending: list[_Pending] = []
                for pk in chunk:
                    key = email_key(pk)
                    if key in existing:
                        if existing[key] != batch.pk:
                            _block(batch, pk, [_already_sent()])
                        done += 1
                        continue
                    if limit is not None and made + len(pending) >= limit:
                        stopped = True
                        break
                    invoice = by_pk.get(pk)
                    try:
                        if invoice is None:
                            raise text_error(Sentence(gettext_noop("Cette facture n'existe plus.")))
                        if invoice.status != Invoice.Status.ISSUED:
                            raise text_error(_draft())
                        which = (invoice.billing_company_id, invoice.kind)
                        if which not in templates:
                            templates[which] = mail_template_for(invoice=invoice)
                        pdf = None if invoice.pdf else invoice_pdf_render(invoice)
                        prepared = _prepare_invoice(
                            invoice,
                            by=batch.sender,
                            idempotency_key=key,
                            purpose=PURPOSE_EMAIL,
                            batch=batch,
                            template=templates[which],
                            pdf=pdf,
                        )
                    except (ValidationError, MailingError) as exc:
                        refused(pk, exc)
                        done += 1
                        continue
                    pending.append(_Pending(invoice=invoice, prepared=prepared, pdf=pdf))
                    if progress is not None:
                        # Counted as it is made; the round is stored (or redone) below.
                        progress(BatchProgress(total=len(mine), done=done + len(pending)))
                redo = _store_round(pending)
                made += len(pending) - len(redo)
                done += len(pending) - len(redo)
                for item in redo:
                    try:
                        with transaction.atomic():
                            message = _compose_invoice(
                                item.invoice,
                                by=batch.sender,
                                idempotency_key=email_key(item.invoice.pk),
                                purpose=PURPOSE_EMAIL,
                                batch=batch,
                                template=templates[
                                    item.invoice.billing_company_id, item.invoice.kind
                                ],
                                pdf=item.pdf,
                            )
                        if message.batch_id == batch.pk:
                            made += 1
                        else:  # another batch, or "@", sent it meanwhile
                            _block(batch, item.invoice.pk, [_already_sent()])
                    except (ValidationError, MailingError) as exc:
                        refused(item.invoice.pk, exc)
                    done += 1
                if progress is not None:
                    progress(BatchProgress(total=len(mine), done=done))
                count_queued()
                deliveries.flush()
                if stopped:
                    break
    except Exception as exc:
        _finish(
            batch,
            state=State.FAILED,
            error=Sentence(
                gettext_noop("Erreur interne pendant la mise en file : %(error)s"),
                {"error": repr(exc)},
            ),
        )
        logger.exception("invoice batch %s stopped by an internal error", batch.pk)
        raise
    count_queued()
    batch.refresh_from_db(fields=["blocked", "queued"])
    settled = OutboundMessage.objects.filter(batch=batch).count() + len(batch.blocked)
    if not stopped and settled >= len(batch.object_ids):
        _finish(batch, state=State.DONE)
    else:
        # Stopped by `limit`, or another part is still at work: that one closes the batch.
        batch.queued = OutboundMessage.objects.filter(batch=batch).count()
        MailBatch.objects.filter(pk=batch.pk).update(queued=batch.queued)
    return batch


def _block(batch: MailBatch, invoice_pk: int, reasons: list[Text]) -> None:
    """List an invoice as blocked, with its reasons (under a lock: parts run side by side)."""
    stored = texts_json(reasons)
    with transaction.atomic():
        row = MailBatch.objects.select_for_update().only("blocked").get(pk=batch.pk)
        row.blocked[str(invoice_pk)] = stored
        row.save(update_fields=["blocked"])
    batch.blocked[str(invoice_pk)] = stored


def _finish(batch: MailBatch, *, state: str, error: Text | None = None) -> None:
    with transaction.atomic():
        row = MailBatch.objects.select_for_update().only("blocked").get(pk=batch.pk)
        batch.blocked = row.blocked
        batch.queued = OutboundMessage.objects.filter(batch=batch).count()
        batch.state = state
        batch.error = error or Verbatim("")
        batch.finished_at = timezone.now()
        batch.save(update_fields=["queued", "state", "error", "finished_at"])


# -- the summary ---------------------------------------------------------------------------------


@dataclass
class BatchSummary:
    total: int
    blocked: dict[int, list[str]]
    # status -> invoice ids
    by_status: dict[str, list[int]]

    def count(self, *statuses: str) -> int:
        return sum(len(self.by_status.get(status, [])) for status in statuses)

    @property
    def sent(self) -> int:
        return self.count(OutboundMessage.Status.SENT)

    @property
    def waiting(self) -> int:
        Status = OutboundMessage.Status
        return self.count(Status.QUEUED, Status.SENDING, Status.RETRY, Status.HELD)

    @property
    def failed(self) -> int:
        return self.count(OutboundMessage.Status.FAILED, OutboundMessage.Status.CANCELLED)

    @property
    def uncertain(self) -> list[int]:
        return self.by_status.get(OutboundMessage.Status.UNCERTAIN, [])


def invoice_batch_summary(*, batch: MailBatch) -> BatchSummary:
    """Where the batch's invoices stand: sent, waiting, failed, uncertain (may have left:
    never resent by itself), blocked with the reasons."""
    by_status: dict[str, list[int]] = {}
    rows = OutboundMessage.objects.filter(batch=batch).values_list("status", "object_id")
    for status, object_id in rows.order_by("object_id"):
        by_status.setdefault(status, []).append(int(object_id or 0))
    return BatchSummary(
        total=batch.total,
        # In the active language (the command's, the page's).
        blocked={int(pk): render_all(reasons) for pk, reasons in batch.blocked.items()},
        by_status=by_status,
    )


# -- one invoice ---------------------------------------------------------------------------------


def invoice_resend(*, invoice: Invoice, by: Collaborator) -> OutboundMessage:
    """Send an issued invoice again ("@" in the register): a new message with the same PDF
    bytes, under a key of its own, recorded as a re-send (purpose "invoice-resend")."""
    key = resend_next(INVOICE_CONTEXT, invoice.pk)
    invoice = _invoices([invoice.pk]).get()
    message = _compose_invoice(invoice, by=by, idempotency_key=key, purpose=PURPOSE_RESEND)
    logger.info("invoice %s re-sent by collaborator %s: message %s", invoice.pk, by.pk, message.pk)
    return message


def invoice_send(*, invoice: Invoice, by: Collaborator) -> OutboundMessage:
    """Queue an issued invoice's mail once (the same key as a batch: never twice)."""
    invoice = _invoices([invoice.pk]).get()
    return _compose_invoice(
        invoice, by=by, idempotency_key=email_key(invoice.pk), purpose=PURPOSE_EMAIL
    )


def invoice_issued(*, invoice: Invoice, by: Collaborator | None) -> bool:
    """After an issue: when the company sends its invoices as soon as they are issued and the
    invoice is in the e-mail register, its mail is queued once the transaction commits.
    Returns whether it will be."""
    company = invoice.billing_company
    if not company.send_invoices_on_issue or by is None:
        return False
    if invoice.register != Invoice.Register.EMAIL or invoice.status != Invoice.Status.ISSUED:
        return False

    def enqueue() -> None:
        from courrier.billing.tasks import send_invoice

        send_invoice.enqueue(invoice.pk, by.pk)

    transaction.on_commit(enqueue, robust=True)
    return True
