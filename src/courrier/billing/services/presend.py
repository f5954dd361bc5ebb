"""The pre-send check of invoices: what blocks each invoice's mail, and what only warns.

The register's "Vérifier" and "Envoyer", `courrier send-invoices` and the start of an invoice
batch judge the invoices from their values, without rendering their mails (10,000 invoices are
checked in a few queries); the batch engine then renders each mail as the compose window's check
does. The result is mailing's one shape, `PresendCheck`, with the invoice in `about` and
reasons told apart by code (`Reason`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from django.utils import timezone
from django.utils.translation import gettext_noop

from courrier.billing.fields import INVOICE_CONTEXT
from courrier.billing.models import Invoice
from courrier.billing.services.invoice_mail import (
    CREDITED_FIELDS,
    asks_payment,
    credits_nothing,
    email_key,
    language_label,
    mail_template_for,
    no_template,
    not_issued,
)
from courrier.billing.services.peppol import (
    Way,
    is_belgian_vat_company,
    no_access_point,
    peppol_key,
    peppol_profiles,
    peppol_reasons,
    peppol_required,
    peppol_warning,
    to_print,
    way_of,
)
from courrier.clients.models import InvoiceChannel
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.exceptions import MailingError
from courrier.mailing.fields import client_values
from courrier.mailing.models import MailTemplate, OutboundMessage, SendingProfile
from courrier.mailing.services import (
    PresendCheck,
    Reason,
    encoded_size,
    holes,
    mail_signature,
    message_size_limit,
    profile_blocker,
    profile_for,
)
from courrier.texts import Sentence, Size, Text

# Headers, text part and MIME overhead around the PDF, counted against the provider's limit.
_MAIL_OVERHEAD = 64 * 1024


def _already_sent() -> Text:
    return Sentence(gettext_noop("Déjà envoyée par e-mail : utilisez « @ » pour la renvoyer."))


def _pdf_missing() -> Text:
    return Sentence(gettext_noop("Le PDF de la facture est introuvable sur le serveur."))


def _pdf_stored(invoice: Invoice) -> bool:
    try:
        return bool(invoice.pdf) and invoice.pdf.storage.exists(invoice.pdf.name)
    except OSError:
        return False


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
            idempotency_key__in=[
                key
                for invoice in invoices
                for key in (email_key(invoice.pk), peppol_key(invoice.pk))
            ]
        ).values_list("idempotency_key", flat=True)
    )
    access_points = peppol_profiles({invoice.billing_company_id for invoice in invoices})
    access_problems = {pk: profile_blocker(profile) for pk, profile in access_points.items()}
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
            blockers.append(Reason("draft", not_issued()))
            continue
        client = invoice.client
        company = invoice.billing_company
        way = way_of(client, peppol=company.pk in access_points)
        if way == Way.PAPER:
            blockers.append(Reason("paper", to_print()))
            continue
        if way == Way.PEPPOL:
            blockers.extend(
                peppol_reasons(
                    invoice,
                    sent=peppol_key(invoice.pk) in sent_keys,
                    profile_problem=access_problems[company.pk],
                )
            )
            if invoice.pdf and not _pdf_stored(invoice):
                blockers.append(Reason("pdf_missing", _pdf_missing()))
            continue
        if client.invoice_channel == InvoiceChannel.PEPPOL:
            warnings.append(Reason("no_access_point", no_access_point()))
        if is_belgian_vat_company(client):
            if company.pk in access_points:
                blockers.append(Reason("peppol", peppol_required(client)))
            else:
                warnings.append(Reason("peppol", peppol_warning()))
        if email_key(invoice.pk) in sent_keys:
            blockers.append(Reason("already_sent", _already_sent()))
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
            blockers.append(Reason("no_template", no_template(credit_note=is_credit)))
        elif version is None:
            blockers.append(
                Reason(
                    "no_language",
                    Sentence(
                        gettext_noop(
                            "Le modèle « %(template)s » n'a pas de version en %(language)s."
                        ),
                        {"template": template.name, "language": language_label(invoice.language)},
                    ),
                )
            )
        elif is_credit:
            for reason in (
                asks_payment(template, version),
                None if invoice.credited_invoice_id else credits_nothing(version),
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
                CREDITED_FIELDS
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
                blockers.append(Reason("pdf_missing", _pdf_missing()))
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
    return checks
