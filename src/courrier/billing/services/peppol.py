"""Invoices by Peppol: which way each invoice goes, what blocks its e-invoice, its outbox row.

An invoice goes the way its client receives invoices *when it is sent* (`Client.invoice_channel`
then, not the register it was listed in at issue): by Peppol when the client chose Peppol, has
a Peppol identifier and the billing company has an access point (a `SendingProfile` of a Peppol
method owned through `peppol_company`); by e-mail when the client chose e-mail — or Peppol while
its company has no access point yet —; else it is to print. One batch routes every invoice
(`sending.INVOICE_BATCH`, `route`), one summary counts them by way.

The e-invoice is made once and stored with its hash (`ubl.invoice_ubl_ensure`), validated on
the network's three layers before it is stored: a document with a fatal finding never reaches
the outbox. It is stored in the outbox as a document (`services.document_prepare`) under its
own key, `invoice:<id>:peppol`, with the purpose PURPOSE_PEPPOL: claimed, retried, found
uncertain after a crash and never sent twice, as a mail. After the access point took it, the
client who asked for it gets the PDF by e-mail as a courtesy copy, under `invoice:<id>:courtesy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from django.utils import translation
from django.utils.translation import gettext_noop, pgettext

from courrier.billing.fields import INVOICE_CONTEXT, invoice_context
from courrier.billing.models import Invoice
from courrier.clients.models import Client, InvoiceChannel
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing import services
from courrier.mailing.contexts import MailContext
from courrier.mailing.models import MailBatch, SendingProfile
from courrier.mailing.services import PreparedMessage, Reason
from courrier.peppol.access_points.base import CREDIT_NOTE_DOCUMENT_TYPE, INVOICE_DOCUMENT_TYPE
from courrier.texts import Sentence, Text, text_of

PURPOSE_PEPPOL = "invoice-peppol"
PURPOSE_COURTESY = "invoice-courtesy"


class Way(StrEnum):
    """How one invoice leaves."""

    PEPPOL = "peppol"
    EMAIL = "email"
    PAPER = "paper"


def peppol_key(invoice_pk: int) -> str:
    """The idempotency key of an invoice's e-invoice: sent once by Peppol, whatever sends it."""
    return f"{INVOICE_CONTEXT}:{invoice_pk}:peppol"


def courtesy_key(invoice_pk: int) -> str:
    """The key of the courtesy copy by e-mail that follows an e-invoice: once."""
    return f"{INVOICE_CONTEXT}:{invoice_pk}:courtesy"


def peppol_profiles(companies: Iterable[BillingCompany | int]) -> dict[int, SendingProfile]:
    """The access point of each of these billing companies that has one, by company id."""
    ids = [company if isinstance(company, int) else company.pk for company in companies]
    rows = SendingProfile.objects.filter(peppol_company_id__in=ids)
    return {
        int(profile.peppol_company_id): profile for profile in rows if profile.peppol_company_id
    }


def peppol_profile(company: BillingCompany) -> SendingProfile | None:
    """The billing company's access point, or None when it sends no e-invoices yet."""
    return peppol_profiles([company]).get(company.pk)


def way_of(client: Client, *, peppol: bool) -> Way:
    """The way an invoice to `client` goes now; `peppol`: its company has an access point."""
    channel = client.invoice_channel
    if channel == InvoiceChannel.PEPPOL and peppol and client.peppol_address:
        return Way.PEPPOL
    if channel == InvoiceChannel.PAPER:
        return Way.PAPER
    return Way.EMAIL


def is_belgian_vat_company(client: Client) -> bool:
    """A client with a Belgian VAT number: its legal invoice is a Peppol e-invoice."""
    vat = "".join(ch for ch in (client.vat_number or "") if ch.isalnum()).upper()
    return vat.startswith("BE") and len(vat) > 2


def document_type_of(invoice: Invoice) -> str:
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        return CREDIT_NOTE_DOCUMENT_TYPE
    return INVOICE_DOCUMENT_TYPE


# -- what the pre-send check says ----------------------------------------------------------------


def to_print() -> Text:
    return Sentence(
        gettext_noop(
            "Le client reçoit ses factures sur papier : imprimez-la depuis le registre papier."
        )
    )


def peppol_required(client: Client) -> Text:
    """Why a PDF by e-mail is refused once the company sends e-invoices."""
    return Sentence(
        gettext_noop(
            "%(client)s est assujetti à la TVA en Belgique : sa facture légale est la facture "
            "électronique Peppol, que la société facturante peut envoyer. Dans la fiche du "
            "client, choisissez « Peppol » pour l'envoi des factures (vérifiez-le sur Peppol "
            "depuis la fiche), puis relancez l'envoi."
        ),
        {"client": client.display_name},
    )


def peppol_warning() -> Text:
    return Sentence(
        gettext_noop(
            "Client assujetti à la TVA en Belgique : depuis le 1er janvier 2026, sa facture "
            "légale est la facture électronique Peppol ; ce PDF n'en est qu'une copie. "
            "Configurez le point d'accès Peppol de la société facturante pour l'envoyer."
        )
    )


def no_access_point() -> Text:
    return Sentence(
        gettext_noop(
            "Le client a choisi Peppol, mais la société facturante n'a pas de point d'accès "
            "Peppol : la facture part par e-mail."
        )
    )


def no_access_point_here() -> Text:
    return Sentence(
        gettext_noop(
            "La société facturante n'a pas de point d'accès Peppol : configurez-le sur sa page "
            "(Peppol) avant d'envoyer des factures électroniques."
        )
    )


def peppol_reasons(invoice: Invoice, *, sent: bool, profile_problem: Text | None) -> list[Reason]:
    """What blocks the e-invoice of an issued invoice whose client is on Peppol: sent already,
    no identifier, not reachable on Peppol (the last look-up said so) or not for this kind of
    document, the access point to fix, a stored document with fatal findings."""
    client = invoice.client
    reasons: list[Reason] = []
    if sent:
        reasons.append(
            Reason(
                "already_sent",
                Sentence(
                    gettext_noop("Déjà envoyée par Peppol : elle ne part pas une seconde fois.")
                ),
            )
        )
    if not client.peppol_address:
        reasons.append(
            Reason(
                "no_peppol_id",
                Sentence(
                    gettext_noop(
                        "Le client %(client)s n'a pas d'identifiant Peppol : indiquez-le dans "
                        "sa fiche (ou son numéro d'entreprise)."
                    ),
                    {"client": client.display_name},
                ),
            )
        )
    elif client.peppol_registered is False:
        reasons.append(
            Reason(
                "not_on_peppol",
                Sentence(
                    gettext_noop(
                        "%(id)s n'est pas inscrit sur Peppol (vérifié le %(date)s) : choisissez "
                        "l'e-mail ou le papier dans la fiche du client, ou vérifiez de nouveau."
                    ),
                    {
                        "id": client.peppol_address,
                        "date": client.peppol_checked_at.strftime("%d/%m/%Y")
                        if client.peppol_checked_at
                        else "—",
                    },
                ),
            )
        )
    elif (
        client.peppol_registered
        and client.peppol_document_types
        and document_type_of(invoice) not in client.peppol_document_types
    ):
        reasons.append(
            Reason(
                "peppol_type",
                Sentence(
                    gettext_noop(
                        "%(id)s est inscrit sur Peppol mais n'y reçoit pas ce type de "
                        "document (%(kind)s) : envoyez-le par e-mail ou sur papier."
                    ),
                    {
                        "id": client.peppol_address,
                        "kind": text_of(Invoice.Kind(invoice.kind).label),
                    },
                ),
            )
        )
    if profile_problem is not None:
        reasons.append(Reason("profile", profile_problem))
    findings = [f for f in (invoice.ubl_findings or []) if isinstance(f, dict)]
    if findings and not invoice.ubl:
        rules = ", ".join(str(f.get("rule_id", "?")) for f in findings[:5])
        reasons.append(
            Reason(
                "ubl_invalid",
                Sentence(
                    gettext_noop(
                        "La facture électronique ne passe pas la validation Peppol (%(rules)s) : "
                        "voyez le détail sur la page de la facture."
                    ),
                    {"rules": rules},
                ),
            )
        )
    return reasons


# -- the outbox row ------------------------------------------------------------------------------


def peppol_subject(invoice: Invoice) -> str:
    """How the e-invoice is named in the client's file: "Facture 2026/0042 (Peppol)", in the
    invoice's language."""
    with translation.override(invoice.language):
        if invoice.kind == Invoice.Kind.CREDIT_NOTE:
            return pgettext("mail", "Note de crédit %(number)s (Peppol)") % {
                "number": invoice.display_number
            }
        return pgettext("mail", "Facture %(number)s (Peppol)") % {"number": invoice.display_number}


def peppol_prepare(
    invoice: Invoice,
    *,
    xml: bytes,
    access_point: SendingProfile,
    by: Collaborator,
    batch: MailBatch | None = None,
    context: MailContext | None = None,
) -> PreparedMessage:
    """The outbox row of an invoice's e-invoice, not stored yet: through the company's access
    point, to the client's Peppol identifier, under `peppol_key`."""
    return services.document_prepare(
        profile=access_point,
        sender=by,
        client=invoice.client,
        raw=xml,
        receiver=invoice.client.peppol_address,
        subject=peppol_subject(invoice),
        language=invoice.language,
        purpose=PURPOSE_PEPPOL,
        idempotency_key=peppol_key(invoice.pk),
        batch=batch,
        context=context if context is not None else invoice_context(invoice),
    )
