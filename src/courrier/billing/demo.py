"""Demo invoices and credit notes for every billing company, in every language.

Each demo client gets an issued invoice of the first quarter (in the e-mail register when it
chose e-mail, else the paper register), every third one a second invoice, each company a
credit note and a few drafts; and the firm gets an invoice mail template and a credit-note
mail template in the four languages (the bookkeeping company has its own of each). Nothing is
created when the demo invoices already exist.

An invoice to a client on Peppol goes to the Peppol register of a company with an access point;
the first of them is queued at once by Peppol (`invoice_peppol_send`, the path every e-invoice
takes), so that `courrier demo`'s worker sends it as soon as it starts and the register shows
it delivered, beside the others left for a batch.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction

from courrier.billing.models import Invoice
from courrier.billing.services import credit_note_create, invoice_create, invoice_issue
from courrier.billing.services.issue import LineData
from courrier.billing.services.sending import invoice_peppol_send
from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.models import MailTemplate
from courrier.mailing.services import template_ensure

INVOICE_TEMPLATE = "Envoi de facture"

TEMPLATE_VERSIONS: dict[str, tuple[str, str]] = {
    "fr": (
        "Votre {TYPEDOC} {NUMFACT} du {DATEFACT}",
        "{FORMULE},\n\nVeuillez trouver ci-joint notre {TYPEDOC} {NUMFACT} du {DATEFACT}, "
        "d'un montant de {MONTANT}.\n\nMerci de la régler au plus tard le {ECHEANCE} sur le "
        "compte {IBAN} avec la communication structurée {COMMUNICATION}.\n\n"
        "Bien cordialement,",
    ),
    "nl": (
        "Uw {TYPEDOC} {NUMFACT} van {DATEFACT}",
        "{FORMULE},\n\nIn bijlage vindt u onze {TYPEDOC} {NUMFACT} van {DATEFACT}, voor een "
        "bedrag van {MONTANT}.\n\nGelieve die uiterlijk op {ECHEANCE} te betalen op rekening "
        "{IBAN} met de gestructureerde mededeling {COMMUNICATION}.\n\n"
        "Met vriendelijke groeten,",
    ),
    "de": (
        "Ihre {TYPEDOC} {NUMFACT} vom {DATEFACT}",
        "{FORMULE},\n\nanbei erhalten Sie unsere {TYPEDOC} {NUMFACT} vom {DATEFACT} über "
        "{MONTANT}.\n\nBitte überweisen Sie den Betrag bis zum {ECHEANCE} auf das Konto "
        "{IBAN} mit der strukturierten Mitteilung {COMMUNICATION}.\n\n"
        "Mit freundlichen Grüßen",
    ),
    "en": (
        "Your {TYPEDOC} {NUMFACT} of {DATEFACT}",
        "{FORMULE},\n\nPlease find attached our {TYPEDOC} {NUMFACT} of {DATEFACT} for "
        "{MONTANT}.\n\nKindly pay it by {ECHEANCE} to account {IBAN} quoting the structured "
        "communication {COMMUNICATION}.\n\nKind regards,",
    ),
}

# The bookkeeping company's own invoice mail, shorter (chosen on the company). Neither template
# signs itself: the company's signature, in the invoice's language, ends every invoice mail.
BOEK_TEMPLATE = "Facturen Boekhouding Demo"

BOEK_TEMPLATE_VERSIONS: dict[str, tuple[str, str]] = {
    "fr": (
        "{TYPEDOC} {NUMFACT} – {SOCIETEFACTURANTE}",
        "{FORMULE},\n\nEn annexe, notre {TYPEDOC} {NUMFACT} de {MONTANT}, à régler pour le "
        "{ECHEANCE} (communication {COMMUNICATION}).\n\nBien à vous,",
    ),
    "nl": (
        "{TYPEDOC} {NUMFACT} – {SOCIETEFACTURANTE}",
        "{FORMULE},\n\nIn bijlage onze {TYPEDOC} {NUMFACT} van {MONTANT}, te betalen tegen "
        "{ECHEANCE} (mededeling {COMMUNICATION}).\n\nMet vriendelijke groeten,",
    ),
    "de": (
        "{TYPEDOC} {NUMFACT} – {SOCIETEFACTURANTE}",
        "{FORMULE},\n\nanbei unsere {TYPEDOC} {NUMFACT} über {MONTANT}, zahlbar bis "
        "{ECHEANCE} (Mitteilung {COMMUNICATION}).\n\nMit freundlichen Grüßen",
    ),
    "en": (
        "{TYPEDOC} {NUMFACT} – {SOCIETEFACTURANTE}",
        "{FORMULE},\n\nAttached is our {TYPEDOC} {NUMFACT} for {MONTANT}, due by "
        "{ECHEANCE} (reference {COMMUNICATION}).\n\nKind regards,",
    ),
}

# The firm's credit-note mail: a credit note asks for no payment and names the invoice it
# corrects. The texts a firm gets on upgrade (billing migration 0002), ending with the greeting
# here as the demo's invoice mails do: the company's signature, in the mail's language, follows.
CREDIT_NOTE_TEMPLATE = "Envoi de note de crédit"

CREDIT_NOTE_VERSIONS: dict[str, tuple[str, str]] = {
    "fr": (
        "Votre note de crédit {NUMFACT} du {DATEFACT}",
        "{FORMULE},\n\nVeuillez trouver ci-joint notre note de crédit {NUMFACT} du "
        "{DATEFACT}, d'un montant de {MONTANT}, qui corrige notre facture {NUMFACTCREDITEE} du "
        "{DATEFACTCREDITEE}.\n\nCe montant est porté à votre crédit : cette note de crédit "
        "n'appelle aucun paiement de votre part.\n\nBien cordialement,",
    ),
    "nl": (
        "Uw creditnota {NUMFACT} van {DATEFACT}",
        "{FORMULE},\n\nIn bijlage vindt u onze creditnota {NUMFACT} van {DATEFACT}, voor een "
        "bedrag van {MONTANT}, die onze factuur {NUMFACTCREDITEE} van {DATEFACTCREDITEE} "
        "corrigeert.\n\nDit bedrag wordt in uw voordeel geboekt: voor deze creditnota hoeft u "
        "niets te betalen.\n\nMet vriendelijke groeten,",
    ),
    "de": (
        "Ihre Gutschrift {NUMFACT} vom {DATEFACT}",
        "{FORMULE},\n\nanbei erhalten Sie unsere Gutschrift {NUMFACT} vom {DATEFACT} über "
        "{MONTANT}, die unsere Rechnung {NUMFACTCREDITEE} vom {DATEFACTCREDITEE} berichtigt."
        "\n\nDer Betrag wird Ihnen gutgeschrieben: Für diese Gutschrift ist keine Zahlung zu "
        "leisten.\n\nMit freundlichen Grüßen",
    ),
    "en": (
        "Your credit note {NUMFACT} of {DATEFACT}",
        "{FORMULE},\n\nPlease find attached our credit note {NUMFACT} of {DATEFACT} for "
        "{MONTANT}, which corrects our invoice {NUMFACTCREDITEE} of {DATEFACTCREDITEE}.\n\n"
        "This amount is credited to your account: there is nothing to pay for this credit "
        "note.\n\nKind regards,",
    ),
}

# The bookkeeping company's own credit-note mail, as short as its invoice mail; signed by the
# company too.
# Named to sort after the firm's: without a choice, a company takes the firm's first by name.
BOEK_CREDIT_NOTE_TEMPLATE = "Notes de crédit Boekhouding Demo"

BOEK_CREDIT_NOTE_VERSIONS: dict[str, tuple[str, str]] = {
    "fr": (
        "Note de crédit {NUMFACT} – {SOCIETEFACTURANTE}",
        "{FORMULE},\n\nEn annexe, notre note de crédit {NUMFACT} de {MONTANT}, qui corrige "
        "notre facture {NUMFACTCREDITEE} du {DATEFACTCREDITEE}. Ce montant est porté à votre "
        "crédit.\n\nBien à vous,",
    ),
    "nl": (
        "Creditnota {NUMFACT} – {SOCIETEFACTURANTE}",
        "{FORMULE},\n\nIn bijlage onze creditnota {NUMFACT} van {MONTANT}, die onze factuur "
        "{NUMFACTCREDITEE} van {DATEFACTCREDITEE} corrigeert. Dit bedrag wordt in uw voordeel "
        "geboekt.\n\nMet vriendelijke groeten,",
    ),
    "de": (
        "Gutschrift {NUMFACT} – {SOCIETEFACTURANTE}",
        "{FORMULE},\n\nanbei unsere Gutschrift {NUMFACT} über {MONTANT}, die unsere Rechnung "
        "{NUMFACTCREDITEE} vom {DATEFACTCREDITEE} berichtigt. Der Betrag wird Ihnen "
        "gutgeschrieben.\n\nMit freundlichen Grüßen",
    ),
    "en": (
        "Credit note {NUMFACT} – {SOCIETEFACTURANTE}",
        "{FORMULE},\n\nAttached is our credit note {NUMFACT} for {MONTANT}, which corrects "
        "our invoice {NUMFACTCREDITEE} of {DATEFACTCREDITEE}. The amount is credited to your "
        "account.\n\nKind regards,",
    ),
}

# What a firm invoices, in the client's language.
SERVICES: dict[str, list[str]] = {
    "fr": [
        "Tenue de la comptabilité – 1er trimestre 2026",
        "Déclaration TVA trimestrielle",
        "Établissement des comptes annuels 2025",
        "Déclaration à l'impôt des personnes physiques",
        "Conseil fiscal (heures)",
        "Ouvrage « Fiscalité belge 2026 »",
    ],
    "nl": [
        "Boekhouding – 1ste kwartaal 2026",
        "Driemaandelijkse btw-aangifte",
        "Opmaak jaarrekening 2025",
        "Aangifte in de personenbelasting",
        "Fiscaal advies (uren)",
        "Boek „Belgische fiscaliteit 2026”",
    ],
    "de": [
        "Buchhaltung – 1. Quartal 2026",
        "Vierteljährliche Mehrwertsteuererklärung",
        "Erstellung des Jahresabschlusses 2025",
        "Einkommensteuererklärung",
        "Steuerberatung (Stunden)",
        "Buch „Belgisches Steuerrecht 2026“",
    ],
    "en": [
        "Bookkeeping – first quarter 2026",
        "Quarterly VAT return",
        "Annual accounts 2025",
        "Personal income tax return",
        "Tax advice (hours)",
        "Book “Belgian Taxation 2026”",
    ],
}


def _lines(language: str, index: int) -> list[LineData]:
    words = SERVICES.get(language, SERVICES["fr"])
    lines = [
        LineData(description=words[0], unit_price=Decimal(450 + 25 * (index % 8))),
        LineData(description=words[1], unit_price=Decimal("95.00")),
    ]
    if index % 3 == 0:
        lines.append(
            LineData(
                description=words[4],
                quantity=Decimal("1.5") + index % 4,
                unit_price=Decimal("120.00"),
            )
        )
    if index % 4 == 1:
        lines.append(LineData(description=words[5], unit_price=Decimal("39.90"), vat_rate="6"))
    return lines


def _seed_template(
    name: str,
    versions: dict[str, tuple[str, str]],
    context: str = MailTemplate.Context.INVOICE,
) -> MailTemplate:
    return template_ensure(name=name, context=context, versions=versions)


def seed_mail_templates(*, companies: dict[str, BillingCompany]) -> None:
    """The firm's invoice and credit-note mails in four languages, and the bookkeeping
    company's own of each, chosen on it (idempotent)."""
    _seed_template(INVOICE_TEMPLATE, TEMPLATE_VERSIONS)
    credit = MailTemplate.Context.CREDIT_NOTE
    _seed_template(CREDIT_NOTE_TEMPLATE, CREDIT_NOTE_VERSIONS, credit)
    bookkeeping = companies.get("BOEK")
    if bookkeeping is None:
        return
    if bookkeeping.invoice_template_id is None:
        bookkeeping.invoice_template = _seed_template(BOEK_TEMPLATE, BOEK_TEMPLATE_VERSIONS)
        bookkeeping.save(update_fields=["invoice_template"])
    if bookkeeping.credit_note_template_id is None:
        bookkeeping.credit_note_template = _seed_template(
            BOEK_CREDIT_NOTE_TEMPLATE, BOEK_CREDIT_NOTE_VERSIONS, credit
        )
        bookkeeping.save(update_fields=["credit_note_template"])


@transaction.atomic
def seed_invoices(
    *,
    collaborators: dict[str, Collaborator],
    companies: dict[str, BillingCompany],
    clients: list[Client],
) -> int:
    """Create the demo rows (idempotent); returns how many exist."""
    seed_mail_templates(companies=companies)
    demo = Invoice.objects.filter(client__in=clients)
    if demo.exists():
        return demo.count()
    by = next(iter(collaborators.values()), None)
    billed = [client for client in clients if client.billing_company_id is not None]
    # Every client has a first-quarter invoice; every third one a second; two drafts each.
    plan: list[tuple[date, Client, int]] = []
    for index, client in enumerate(billed):
        plan.append((date(2026, 1 + index % 3, 5 + index % 20), client, index))
        if index % 3 == 0:
            plan.append((date(2026, 4, 2 + index % 25), client, index + 1))
    plan.sort(key=lambda entry: (entry[0], entry[1].number))
    issued: list[Invoice] = []
    for issue_date, client, index in plan:
        assert client.billing_company is not None
        draft = invoice_create(
            billing_company=client.billing_company,
            client=client,
            lines=_lines(client.language, index),
            by=by,
            issue_date=issue_date,
            reference="" if index % 5 else f"PO-{2026}-{index:03d}",
        )
        issued.append(invoice_issue(invoice=draft, by=by))
    # A credit note per company for its first invoice that is sent (by e-mail or Peppol, not
    # to print), issued after the invoices.
    for company in companies.values():
        first = next(
            (
                i
                for i in issued
                if i.billing_company_id == company.pk and i.register != Invoice.Register.PAPER
            ),
            None,
        )
        if first is not None:
            note = credit_note_create(invoice=first, by=by, issue_date=date(2026, 5, 4))
            invoice_issue(invoice=note, by=by)
    by_peppol = [i for i in issued if i.register == Invoice.Register.PEPPOL]
    if by_peppol and by is not None:
        invoice_peppol_send(invoice=by_peppol[0], by=by)
    for index, client in enumerate(billed[-3:]):
        assert client.billing_company is not None
        invoice_create(
            billing_company=client.billing_company,
            client=client,
            lines=_lines(client.language, index + 7),
            by=by,
            issue_date=date(2026, 5, 20),
        )
    return demo.count()
