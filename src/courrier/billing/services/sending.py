"""Invoices by e-mail and by Peppol: batches, their summary, the explicit re-send, sending on
issue.

A batch routes each invoice the way its client receives invoices now (`peppol.way_of`): its
e-invoice through the company's access point (`BatchHooks.route`: the UBL made and validated in
the round's load, outside any transaction, stored with the PDF), its mail, or nothing for an
invoice to print (listed as such in the summary).

One message per invoice, through its billing company's profile, with the company's invoice
template (its credit-note template for a credit note, which never asks for payment) in the
invoice's language and the PDF as issued attached, under the invoice's own key (`email_key`,
the key the compose window uses too): a batch run twice, resumed after a crash, a second
batch over the same invoices, or a batch after the compose window mailed the invoice queues
nothing twice. Only an explicit re-send ("@", or "Envoyer à nouveau" in the window) sends
again, under a key of its own.

A batch of invoices is a batch of the outbox like any other (`services.batch_create_checked`,
composed by `services.batch_compose`): billing brings only what its objects need, registered
with the invoice context (`INVOICE_BATCH`): the invoices of a round loaded with their lines,
their PDFs made before the round (outside any transaction) and recorded with its mails, the
company's template of each.

Its size: the batch's hooks and the one-invoice sends (the send on issue, "@", the e-invoice
from the invoice's page, the courtesy copy) are kept together because they must take the same
keys, the same templates and the same checks; the rules themselves live beside it
(`invoice_mail`, `presend`, `peppol`, `ubl`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext

from courrier.audit import audited
from courrier.billing.fields import INVOICE_CONTEXT, invoice_context
from courrier.billing.models import Invoice
from courrier.billing.services.invoice_mail import (
    PURPOSE_EMAIL,
    PURPOSE_RESEND,
    asks_payment,
    credit_note_template,
    credits_nothing,
    email_key,
    invoice_template,
    language_label,
    mail_invoices,
    mail_template_for,
    no_template,
    not_issued,
)
from courrier.billing.services.issue import (
    invoice_pdf_ensure,
    invoice_pdfs_record,
    invoice_pdfs_write,
)
from courrier.billing.services.leftovers import invoice_files_sweep
from courrier.billing.services.pdf import invoice_pdf_render
from courrier.billing.services.peppol import (
    PURPOSE_COURTESY,
    PURPOSE_PEPPOL,
    Way,
    courtesy_key,
    no_access_point_here,
    peppol_key,
    peppol_prepare,
    peppol_profile,
    peppol_profiles,
    peppol_reasons,
    way_of,
)
from courrier.billing.services.presend import invoice_presend_check
from courrier.billing.services.ubl import (
    UblInvalidError,
    invoice_ubl_bytes,
    invoice_ubl_ensure,
    invoice_ubl_made,
    invoice_ubls_record,
    invoice_ubls_write,
)
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing import contexts, services
from courrier.mailing.contexts import MailContext
from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import MailBatch, MailTemplate, OutboundMessage, SendingProfile
from courrier.mailing.services import PreparedMessage, Reason
from courrier.texts import Sentence, render_all, text_error, text_of

logger = logging.getLogger("courrier.billing")

__all__ = [
    "INVOICE_BATCH",
    "PURPOSE_EMAIL",
    "PURPOSE_RESEND",
    "BatchSummary",
    "credit_note_template",
    "email_key",
    "invoice_batch_start",
    "invoice_batch_summary",
    "invoice_issued",
    "invoice_presend_check",
    "invoice_resend",
    "invoice_send",
    "invoice_template",
    "invoices_unsent",
    "mail_template_for",
]


# -- what a batch takes --------------------------------------------------------------------------


def invoices_unsent(
    *, billing_company: BillingCompany, until: date | None = None
) -> QuerySet[Invoice]:
    """The company's issued invoices of the Peppol and e-mail registers sent neither by
    e-mail nor by Peppol, issued on or before `until` when given, in the order of their
    numbers."""
    sent = OutboundMessage.objects.filter(
        context=INVOICE_CONTEXT, purpose__in=[PURPOSE_EMAIL, PURPOSE_PEPPOL]
    ).values("object_id")
    invoices = Invoice.objects.filter(
        billing_company=billing_company,
        status=Invoice.Status.ISSUED,
        register__in=[Invoice.Register.EMAIL, Invoice.Register.PEPPOL],
    ).exclude(pk__in=sent)
    if until is not None:
        invoices = invoices.filter(issue_date__lte=until)
    return invoices.order_by("year", "number")


def invoice_batch_start(
    *,
    by: Collaborator,
    invoices: Iterable[Invoice] | None = None,
    billing_company: BillingCompany | None = None,
    until: date | None = None,
    enqueue: bool = True,
    parts: int | None = None,
) -> MailBatch:
    """A batch of invoices, each by Peppol or by e-mail as its client receives them: the
    invoices given, or the company's unsent ones of the Peppol and e-mail registers (up to
    `until`). The pre-send check runs first: blocked invoices are listed in `batch.blocked`
    with their reasons and are not sent (those to print among them, noted as such in the
    batch's options for the summary); the others are composed by task (enqueued when the
    transaction commits; `enqueue=False`: the caller composes).

    `parts` tasks compose it side by side (default: one per worker, COURRIER["COMPOSE_TASKS"],
    no more than it has rounds): the workers share the PDFs and the rendering."""
    if invoices is None:
        if billing_company is None:
            raise ValueError("invoices or billing_company")
        chosen = list(
            mail_invoices(
                invoices_unsent(billing_company=billing_company, until=until).values_list(
                    "pk", flat=True
                )
            ).order_by("year", "number")
        )
    else:
        given = [invoice.pk for invoice in invoices]
        by_pk = {invoice.pk: invoice for invoice in mail_invoices(given)}
        chosen = [by_pk[pk] for pk in dict.fromkeys(given) if pk in by_pk]
    checks = invoice_presend_check(invoices=chosen, by=by)
    company = billing_company or (chosen[0].billing_company if chosen else None)
    template = invoice_template(billing_company=company) if company is not None else None
    return services.batch_create_checked(
        sender=by,
        context=INVOICE_CONTEXT,
        object_ids=[check.about.pk for check in checks],
        client_ids=[check.about.client_id for check in checks],
        blocked={check.about.pk: check.blockers for check in checks if check.blockers},
        template=template,
        subject=template.name if template is not None else _("Factures"),
        enqueue=enqueue,
        parts=parts,
        notes={
            "to_print": [
                check.about.pk
                for check in checks
                if any(isinstance(r, Reason) and r.code == "paper" for r in check.blockers)
            ]
        },
    )


# -- what an invoice batch brings to the batch engine ------------------------------------------


@dataclass
class _InRound:
    """An invoice as a round of its batch loaded it: its template, the PDF made for it in
    this round (None: it had one, or it is not issued); for an invoice that goes by Peppol,
    its company's access point and the e-invoice made and validated in this round (None: it
    had one), or why it cannot be made."""

    invoice: Invoice
    template: MailTemplate | None
    pdf: bytes | None
    access_point: SendingProfile | None = None
    ubl: bytes | None = None
    ubl_refused: UblInvalidError | None = None


def _in_round(context: MailContext) -> _InRound:
    about = context.about
    assert isinstance(about, _InRound)
    return about


def _round_load(ids: Sequence[int], user: Collaborator | None) -> list[MailContext]:
    """The invoices of a round with their lines, in one query; the PDFs they lack made here,
    outside any transaction (recorded with the round's mails); each one's template read once
    per company and kind."""
    templates: dict[tuple[int, str], MailTemplate | None] = {}
    invoices = list(mail_invoices(ids).prefetch_related("lines"))
    access_points = peppol_profiles({invoice.billing_company_id for invoice in invoices})
    loaded = []
    for invoice in invoices:
        which = (invoice.billing_company_id, invoice.kind)
        issued = invoice.status == Invoice.Status.ISSUED
        pdf = invoice_pdf_render(invoice) if issued and not invoice.pdf else None
        access_point = access_points.get(invoice.billing_company_id)
        about = _InRound(invoice=invoice, template=None, pdf=pdf)
        if issued and way_of(invoice.client, peppol=access_point is not None) == Way.PEPPOL:
            about.access_point = access_point
            if not invoice.ubl:
                try:
                    about.ubl = invoice_ubl_made(invoice, pdf=pdf)
                except UblInvalidError as refused:
                    about.ubl_refused = refused
        else:
            if which not in templates:
                templates[which] = mail_template_for(invoice=invoice)
            about.template = templates[which]
        context = invoice_context(invoice, pdf=pdf)
        context.about = about
        loaded.append(context)
    by_pk = {context.object_id: context for context in loaded}
    return [by_pk[pk] for pk in ids if pk in by_pk]


def _round_template(context: MailContext) -> MailTemplate | None:
    """The company's template of the invoice's mail; a draft or no template blocks it."""
    about = _in_round(context)
    invoice = about.invoice
    if invoice.status != Invoice.Status.ISSUED:
        raise text_error(not_issued())
    if about.template is None:
        raise text_error(no_template(credit_note=invoice.kind == Invoice.Kind.CREDIT_NOTE))
    version = about.template.version(invoice.language)
    if version is not None and invoice.kind == Invoice.Kind.CREDIT_NOTE:
        refused = asks_payment(about.template, version) or (
            None if invoice.credited_invoice_id else credits_nothing(version)
        )
        if refused is not None:
            raise text_error(text_of(refused.message))
    return about.template


def _fresh(objects: Sequence[MailContext]) -> list[_InRound]:
    return [about for about in map(_in_round, objects) if about.pdf is not None]


def _fresh_ubl(objects: Sequence[MailContext]) -> list[_InRound]:
    return [about for about in map(_in_round, objects) if about.ubl is not None]


def _round_write(objects: Sequence[MailContext]) -> None:
    invoice_pdfs_write([(about.invoice, about.pdf) for about in _fresh(objects) if about.pdf])
    invoice_ubls_write([(about.invoice, about.ubl) for about in _fresh_ubl(objects) if about.ubl])


def _round_record(objects: Sequence[MailContext]) -> set[int]:
    taken = invoice_pdfs_record([about.invoice for about in _fresh(objects)])
    return taken | invoice_ubls_record([about.invoice for about in _fresh_ubl(objects)])


def _forget(invoice: Invoice, field: str) -> None:
    """Remove the file written in `field` ("pdf", "ubl") of an invoice whose mail or document
    was not stored, and forget its name and fingerprint."""
    stored = getattr(invoice, field)
    if stored:
        try:
            stored.storage.delete(stored.name)
        except OSError:
            logger.warning("%s %s of invoice %s left behind", field, stored.name, invoice.pk)
    stored.name = ""
    setattr(invoice, f"{field}_sha256", "")


def _round_drop(objects: Sequence[MailContext]) -> None:
    """Remove the files written for mails and documents that were not stored, and forget them."""
    for about in _fresh(objects):
        _forget(about.invoice, "pdf")
    for about in _fresh_ubl(objects):
        _forget(about.invoice, "ubl")


def _round_route(context: MailContext, batch: MailBatch) -> PreparedMessage | None:
    """An invoice whose client is on Peppol goes as its e-invoice (the one made in this round,
    or the one stored); a document the validation refused is blocked with its findings."""
    about = _in_round(context)
    if about.access_point is None:
        return None
    invoice = about.invoice
    if about.ubl_refused is not None:
        raise about.ubl_refused
    xml = about.ubl if about.ubl is not None else invoice_ubl_bytes(invoice)
    return peppol_prepare(
        invoice,
        xml=xml,
        access_point=about.access_point,
        by=batch.sender,
        batch=batch,
        context=context,
    )


def _settle(context: MailContext) -> MailContext:
    """In the transaction of a mail made alone: the PDF made in the round recorded (or the one
    another run recorded meanwhile kept), and the context read again with it."""
    about = _in_round(context)
    invoice = about.invoice
    if invoice.status == Invoice.Status.ISSUED:
        invoice_pdf_ensure(invoice=invoice, content=about.pdf)
    if about.access_point is not None and about.ubl_refused is None:
        invoice_ubl_ensure(invoice=invoice, content=about.ubl)
    settled = invoice_context(invoice)
    settled.about = _InRound(
        invoice=invoice,
        template=about.template,
        pdf=None,
        access_point=about.access_point,
        ubl_refused=about.ubl_refused,
    )
    return settled


# Registered with the invoice context (BillingConfig.ready).
INVOICE_BATCH = contexts.BatchHooks(
    load=_round_load,
    template=_round_template,
    write=_round_write,
    record=_round_record,
    drop=_round_drop,
    settle=_settle,
    route=_round_route,
    sweep=invoice_files_sweep,
)


# -- the summary ---------------------------------------------------------------------------------


@dataclass
class BatchSummary:
    total: int
    # Blocked, with the reasons (those to print are not among them).
    blocked: dict[int, list[str]]
    # status -> invoice ids
    by_status: dict[str, list[int]]
    # The invoices that go by Peppol (their e-invoices), and those to print.
    peppol: set[int] = field(default_factory=set)
    to_print: list[int] = field(default_factory=list)

    def count(self, *statuses: str) -> int:
        return sum(len(self.by_status.get(status, [])) for status in statuses)

    @property
    def sent(self) -> int:
        return self.count(OutboundMessage.Status.SENT)

    @property
    def sent_by_peppol(self) -> int:
        return len(set(self.by_status.get(OutboundMessage.Status.SENT, [])) & self.peppol)

    @property
    def sent_by_email(self) -> int:
        return self.sent - self.sent_by_peppol

    @property
    def complete(self) -> bool:
        """Every invoice sent, or to print: nothing blocked, failed, waiting or uncertain."""
        return self.sent + len(self.to_print) == self.total

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
    peppol: set[int] = set()
    rows = OutboundMessage.objects.filter(batch=batch).values_list("status", "object_id", "purpose")
    for status, object_id, purpose in rows.order_by("object_id"):
        by_status.setdefault(status, []).append(int(object_id or 0))
        if purpose == PURPOSE_PEPPOL:
            peppol.add(int(object_id or 0))
    to_print = [int(pk) for pk in (batch.options or {}).get("to_print", [])]
    return BatchSummary(
        total=batch.total,
        # In the active language (the command's, the page's).
        blocked={
            int(pk): render_all(reasons)
            for pk, reasons in batch.blocked.items()
            if int(pk) not in to_print
        },
        by_status=by_status,
        peppol=peppol,
        to_print=to_print,
    )


# -- one invoice ---------------------------------------------------------------------------------


def _courtesy(subject: str, body: str, language: str) -> tuple[str, str]:
    """The subject and body of a courtesy copy: marked as such in the client's language, the
    note before the template's text (in the body's own form, HTML or light markup)."""
    with translation.override(language):
        mark = pgettext("mail", "Copie de courtoisie")
        note = pgettext(
            "mail",
            "Cette facture vous a été transmise par le réseau Peppol ; ce PDF en est une copie "
            "de courtoisie, à ne pas comptabiliser une seconde fois.",
        )
    if body.lstrip().startswith("<"):
        body = f"<p><em>{escape(note)}</em></p>{body}"
    else:
        body = f"_{note}_\n\n{body}"
    return f"[{mark}] {subject}", body


def _compose_invoice(
    invoice: Invoice,
    *,
    by: Collaborator,
    idempotency_key: str,
    purpose: str,
    courtesy: bool = False,
) -> OutboundMessage:
    """One invoice's mail, stored on its own: the PDF made if it was not yet (never remade),
    the company's template in the invoice's language, the stored PDF attached, the company's
    profile. A known `idempotency_key` returns its message unchanged. `courtesy`: the copy by
    e-mail of an invoice sent by Peppol, marked as such."""
    if invoice.status != Invoice.Status.ISSUED:
        raise text_error(not_issued())
    existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    invoice_pdf_ensure(invoice=invoice)
    template = mail_template_for(invoice=invoice)
    if template is None:
        raise text_error(no_template(credit_note=invoice.kind == Invoice.Kind.CREDIT_NOTE))
    version = template.version(invoice.language)
    if version is None:
        raise text_error(
            Sentence(
                gettext_noop("Le modèle « %(template)s » n'a pas de version en %(language)s."),
                {"template": template.name, "language": language_label(invoice.language)},
            )
        )
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        # Whatever sends it (a batch, "@", the send on issue): a credit note's mail never
        # asks for payment, and never names an invoice it does not credit.
        refused = asks_payment(template, version) or (
            None if invoice.credited_invoice_id else credits_nothing(version)
        )
        if refused is not None:
            raise text_error(text_of(refused.message))
    subject, body = version.subject, version.body
    if courtesy:
        subject, body = _courtesy(subject, body, invoice.language)
    return services.message_compose(
        sender=by,
        client=invoice.client,
        draft=services.Draft(
            subject=subject,
            body=body,
            language=invoice.language,
            template=template,
        ),
        context=invoice_context(invoice),
        purpose=purpose,
        idempotency_key=idempotency_key,
    )


@audited("invoice_resent")
def invoice_resend(*, invoice: Invoice, by: Collaborator) -> OutboundMessage:
    """Send an issued invoice again ("@" in the register): a new message with the same PDF
    bytes, under a key of its own, recorded as a re-send (purpose "invoice-resend")."""
    key = services.resend_next(INVOICE_CONTEXT, invoice.pk)
    invoice = mail_invoices([invoice.pk]).get()
    message = _compose_invoice(invoice, by=by, idempotency_key=key, purpose=PURPOSE_RESEND)
    logger.info("invoice %s re-sent by collaborator %s: message %s", invoice.pk, by.pk, message.pk)
    return message


@audited("message_sent")
def invoice_send(*, invoice: Invoice, by: Collaborator) -> OutboundMessage:
    """Queue an issued invoice once, the way its client receives invoices: its e-invoice by
    Peppol, or its mail (the same keys as a batch: never twice)."""
    invoice = mail_invoices([invoice.pk]).get()
    access_point = peppol_profile(invoice.billing_company)
    if way_of(invoice.client, peppol=access_point is not None) == Way.PEPPOL:
        return invoice_peppol_send(invoice=invoice, by=by)
    return _compose_invoice(
        invoice, by=by, idempotency_key=email_key(invoice.pk), purpose=PURPOSE_EMAIL
    )


def invoice_peppol_send(*, invoice: Invoice, by: Collaborator) -> OutboundMessage:
    """Queue an issued invoice's e-invoice once: made and validated if it was not yet (never
    remade), through its company's access point, under `peppol_key`. Raises a ValidationError
    saying why it cannot go (no access point, the pre-send check's Peppol reasons, fatal
    findings of the validation)."""
    invoice = mail_invoices([invoice.pk]).get()
    if invoice.status != Invoice.Status.ISSUED:
        raise text_error(not_issued())
    existing = services.message_for_key(peppol_key(invoice.pk))
    if existing is not None:
        return existing
    access_point = peppol_profile(invoice.billing_company)
    if access_point is None:
        raise text_error(no_access_point_here())
    reasons = peppol_reasons(
        invoice, sent=False, profile_problem=services.profile_blocker(access_point)
    )
    if reasons:
        raise ValidationError([text_error(text_of(reason.message)) for reason in reasons])
    xml = invoice_ubl_ensure(invoice)
    prepared = peppol_prepare(invoice, xml=xml, access_point=access_point, by=by)
    message = services.message_store_once(prepared)
    logger.info("invoice %s queued by Peppol: message %s", invoice.pk, message.pk)
    return message


def invoice_courtesy_send(*, invoice: Invoice, by: Collaborator) -> OutboundMessage:
    """The courtesy copy by e-mail (the PDF) of an invoice sent by Peppol, once."""
    invoice = mail_invoices([invoice.pk]).get()
    return _compose_invoice(
        invoice,
        by=by,
        idempotency_key=courtesy_key(invoice.pk),
        purpose=PURPOSE_COURTESY,
        courtesy=True,
    )


def courtesy_copies_send(*, invoice_ids: Iterable[int]) -> list[OutboundMessage]:
    """After their e-invoices were taken by the access point: the courtesy copies of these
    invoices whose clients asked for one, each once (sent by the collaborator who sent the
    e-invoice). A copy that cannot go (no address, no template) is logged, never retried
    in a loop: the e-invoice is the legal one."""
    documents = OutboundMessage.objects.filter(
        context=INVOICE_CONTEXT,
        object_id__in=list(invoice_ids),
        purpose=PURPOSE_PEPPOL,
        status=OutboundMessage.Status.SENT,
        client__peppol_courtesy_copy=True,
    ).select_related("sender")
    sent: list[OutboundMessage] = []
    for document in documents:
        if document.sender is None or document.object_id is None:
            continue
        invoice = Invoice.objects.filter(pk=document.object_id).first()
        if invoice is None:
            continue
        try:
            sent.append(invoice_courtesy_send(invoice=invoice, by=document.sender))
        except (ValidationError, MailingError) as exc:
            logger.warning("courtesy copy of invoice %s not sent: %s", invoice.pk, exc)
    return sent


def invoice_issued(*, invoice: Invoice, by: Collaborator | None) -> bool:
    """After an issue: when the company sends its invoices as soon as they are issued and the
    invoice is in the e-mail register, its mail is queued once the transaction commits.
    Returns whether it will be."""
    company = invoice.billing_company
    if not company.send_invoices_on_issue or by is None:
        return False
    if invoice.status != Invoice.Status.ISSUED or invoice.register not in (
        Invoice.Register.EMAIL,
        Invoice.Register.PEPPOL,
    ):
        return False

    def enqueue() -> None:
        from courrier.billing.tasks import send_invoice

        send_invoice.enqueue(invoice.pk, by.pk)

    transaction.on_commit(enqueue, robust=True)
    return True
