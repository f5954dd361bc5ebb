"""Demo VAT returns, ISOC, IPP and BNB files, and a template per tax context."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.services import template_ensure
from courrier.taxes import services
from courrier.taxes.models import (
    AnnualAccountsFiling,
    CorporateTaxReturn,
    FilingStatus,
    IncomeTaxReturn,
    VatProfile,
    VatRegime,
    VatReturn,
)
from courrier.taxes.rules import vat_deadline

# Clients that file monthly (the larger ones); the other VAT-registered clients file quarterly.
MONTHLY = {"C0004", "C0008", "C0010"}

# One template per tax context, in the four mail languages: (subject, body).
TEMPLATES: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("vat", "Déclaration TVA déposée"): {
        "fr": (
            "Déclaration TVA – {PERIODE}",
            "{FORMULE},\n\nNous avons préparé votre déclaration TVA pour la période {PERIODE}.\n\n"
            "Solde : {SOLDE} (grille 71 : {CASE71} ; grille 72 : {CASE72}).\n"
            "Date limite : {ECHEANCE}.\n\nBien cordialement,\n{EXPEDITEUR}",
        ),
        "nl": (
            "Btw-aangifte – {PERIODE}",
            "{FORMULE},\n\nWij hebben uw btw-aangifte voor {PERIODE} voorbereid.\n\n"
            "Saldo: {SOLDE} (rooster 71: {CASE71}; rooster 72: {CASE72}).\n"
            "Uiterste datum: {ECHEANCE}.\n\nMet vriendelijke groeten,\n{EXPEDITEUR}",
        ),
        "de": (
            "Mehrwertsteuererklärung – {PERIODE}",
            "{FORMULE},\n\nWir haben Ihre Mehrwertsteuererklärung für {PERIODE} vorbereitet.\n\n"
            "Saldo: {SOLDE} (Feld 71: {CASE71}; Feld 72: {CASE72}).\n"
            "Frist: {ECHEANCE}.\n\nMit freundlichen Grüßen\n{EXPEDITEUR}",
        ),
        "en": (
            "VAT return – {PERIODE}",
            "{FORMULE},\n\nWe have prepared your VAT return for {PERIODE}.\n\n"
            "Balance: {SOLDE} (box 71: {CASE71}; box 72: {CASE72}).\n"
            "Deadline: {ECHEANCE}.\n\nKind regards,\n{EXPEDITEUR}",
        ),
    },
    ("isoc", "Impôt des sociétés"): {
        "fr": (
            "Impôt des sociétés – exercice {EXERCICE}",
            "{FORMULE},\n\nVotre déclaration à l'impôt des sociétés (exercice {EXERCICE}, "
            "exercice comptable {EXERCICECOMPTABLE}) donne un montant de {MONTANT} {RESULTAT}."
            "\n\nBien cordialement,\n{EXPEDITEUR}",
        ),
        "nl": (
            "Vennootschapsbelasting – aanslagjaar {EXERCICE}",
            "{FORMULE},\n\nUw aangifte vennootschapsbelasting (aanslagjaar {EXERCICE}, "
            "boekjaar {EXERCICECOMPTABLE}) geeft een bedrag van {MONTANT} {RESULTAT}."
            "\n\nMet vriendelijke groeten,\n{EXPEDITEUR}",
        ),
        "de": (
            "Körperschaftsteuer – Steuerjahr {EXERCICE}",
            "{FORMULE},\n\nIhre Körperschaftsteuererklärung (Steuerjahr {EXERCICE}, "
            "Geschäftsjahr {EXERCICECOMPTABLE}) ergibt einen Betrag von {MONTANT} {RESULTAT}."
            "\n\nMit freundlichen Grüßen\n{EXPEDITEUR}",
        ),
        "en": (
            "Corporate income tax – assessment year {EXERCICE}",
            "{FORMULE},\n\nYour corporate income tax return (assessment year {EXERCICE}, "
            "financial year {EXERCICECOMPTABLE}) shows {MONTANT} {RESULTAT}."
            "\n\nKind regards,\n{EXPEDITEUR}",
        ),
    },
    ("ipp", "Impôt des personnes physiques"): {
        "fr": (
            "Votre déclaration IPP – revenus {ANNEEREVENUS}",
            "{FORMULE},\n\nSelon notre calcul, votre déclaration (exercice {EXERCICE}, revenus "
            "{ANNEEREVENUS}) donne {MONTANT} {RESULTAT}.\n\nBien cordialement,\n{EXPEDITEUR}",
        ),
        "nl": (
            "Uw aangifte personenbelasting – inkomsten {ANNEEREVENUS}",
            "{FORMULE},\n\nVolgens onze berekening geeft uw aangifte (aanslagjaar {EXERCICE}, "
            "inkomsten {ANNEEREVENUS}) {MONTANT} {RESULTAT}.\n\nMet vriendelijke groeten,\n"
            "{EXPEDITEUR}",
        ),
        "de": (
            "Ihre Einkommensteuererklärung – Einkünfte {ANNEEREVENUS}",
            "{FORMULE},\n\nNach unserer Berechnung ergibt Ihre Erklärung (Steuerjahr {EXERCICE}, "
            "Einkünfte {ANNEEREVENUS}) {MONTANT} {RESULTAT}.\n\nMit freundlichen Grüßen\n"
            "{EXPEDITEUR}",
        ),
        "en": (
            "Your personal income tax return – {ANNEEREVENUS} income",
            "{FORMULE},\n\nBy our calculation your return (assessment year {EXERCICE}, "
            "{ANNEEREVENUS} income) shows {MONTANT} {RESULTAT}.\n\nKind regards,\n{EXPEDITEUR}",
        ),
    },
    ("bnb", "Comptes annuels déposés"): {
        "fr": (
            "Comptes annuels au {DATECLOTURE} déposés",
            "{FORMULE},\n\nVos comptes annuels au {DATECLOTURE} ({MODELE}) ont été déposés à la "
            "Banque nationale le {DATEDEPOT} (référence {REFDEPOT}). Frais de dépôt : {FRAIS}."
            "\n\nBien cordialement,\n{EXPEDITEUR}",
        ),
        "nl": (
            "Jaarrekening per {DATECLOTURE} neergelegd",
            "{FORMULE},\n\nUw jaarrekening per {DATECLOTURE} ({MODELE}) werd op {DATEDEPOT} "
            "neergelegd bij de Nationale Bank (referte {REFDEPOT}). Neerleggingskosten: {FRAIS}."
            "\n\nMet vriendelijke groeten,\n{EXPEDITEUR}",
        ),
        "de": (
            "Jahresabschluss zum {DATECLOTURE} hinterlegt",
            "{FORMULE},\n\nIhr Jahresabschluss zum {DATECLOTURE} ({MODELE}) wurde am "
            "{DATEDEPOT} bei der Nationalbank hinterlegt (Referenz {REFDEPOT}). "
            "Hinterlegungskosten: {FRAIS}.\n\nMit freundlichen Grüßen\n{EXPEDITEUR}",
        ),
        "en": (
            "Annual accounts at {DATECLOTURE} filed",
            "{FORMULE},\n\nYour annual accounts at {DATECLOTURE} ({MODELE}) were filed with the "
            "National Bank on {DATEDEPOT} (reference {REFDEPOT}). Filing fee: {FRAIS}."
            "\n\nKind regards,\n{EXPEDITEUR}",
        ),
    },
}


def _seed_templates() -> None:
    for (context, name), versions in TEMPLATES.items():
        template_ensure(name=name, context=context, versions=versions)


def _amount(index: int, base: int, step: int) -> Decimal:
    """A made-up but stable amount for the index-th client."""
    return Decimal(base + (index * step) % 9000) + Decimal(index % 100) / 100


def _seed_vat(index: int, client: Client, by: Collaborator | None) -> None:
    if not client.vat_number:
        VatProfile.objects.get_or_create(client=client, defaults={"regime": VatRegime.NOT_LIABLE})
        return
    monthly = client.number in MONTHLY
    profile, _created = VatProfile.objects.get_or_create(
        client=client,
        defaults={"regime": VatRegime.MONTHLY if monthly else VatRegime.QUARTERLY},
    )
    if profile.regime == VatRegime.NOT_LIABLE:
        return
    monthly = profile.regime == VatRegime.MONTHLY
    kind = VatReturn.PeriodKind.MONTH if monthly else VatReturn.PeriodKind.QUARTER
    periods = [(2026, 9), (2026, 10)] if monthly else [(2026, 2), (2026, 3)]
    for number, (year, period) in enumerate(periods):
        if VatReturn.objects.filter(
            client=client, year=year, period_kind=kind, period=period
        ).exists():
            continue
        sales = _amount(index + number, 8000, 1370)
        vat_due = (sales * Decimal("0.21")).quantize(Decimal("0.01"))
        grids: dict[str, Decimal] = {
            "03": sales,
            "54": vat_due,
            "81": _amount(index, 900, 310),
            "82": _amount(index, 2000, 770),
        }
        # Most clients owe VAT (grid 71); every fourth bought more than it sold and gets VAT
        # back (grid 72).
        share = Decimal("0.35") + Decimal((index + number) % 5) / 10
        deductible = (vat_due * share).quantize(Decimal("0.01"))
        if (index + number) % 4 == 0:
            deductible = vat_due + _amount(index, 300, 410)
        grids["59"] = deductible
        first = number == 0
        services.vat_return_create(
            client=client,
            year=year,
            period=period,
            period_kind=kind,
            grids={code: str(value) for code, value in grids.items()},
            status=FilingStatus.FILED if first else FilingStatus.IN_PROGRESS,
            filed_on=_filed_before(year, period, monthly) if first else None,
            by=by,
        )


def _filed_before(year: int, period: int, monthly: bool) -> date:
    """A filed date a few days before the period's deadline."""
    deadline = vat_deadline(year=year, period=period, monthly=monthly)
    return deadline.replace(day=deadline.day - 3)


def _seed_isoc_and_bnb(index: int, client: Client, by: Collaborator | None) -> None:
    year_end = date(2025, 12, 31)
    if not CorporateTaxReturn.objects.filter(client=client, year_end=year_end).exists():
        result = _amount(index, 1200, 2310)
        if index % 3 == 0:
            result = -_amount(index, 150, 90)
        filed = index % 2 == 0
        services.corporate_tax_return_create(
            client=client,
            year_end=year_end,
            result=result,
            status=FilingStatus.FILED if filed else FilingStatus.IN_PROGRESS,
            filed_on=date(2026, 7, 10 + index % 15) if filed else None,
            by=by,
        )
    if not AnnualAccountsFiling.objects.filter(client=client, year_end=year_end).exists():
        models = list(AnnualAccountsFiling.Model)
        model = models[index % len(models)]
        filed = index % 3 != 1
        services.annual_accounts_filing_create(
            client=client,
            year_end=year_end,
            model=model,
            filing_reference=f"2026-{10_000_000 + index * 7919:08d}" if filed else "",
            fee={
                AnnualAccountsFiling.Model.FULL: Decimal("591.34"),
                AnnualAccountsFiling.Model.ABBREVIATED: Decimal("425.98"),
                AnnualAccountsFiling.Model.MICRO: Decimal("175.21"),
            }[model],
            status=FilingStatus.FILED if filed else FilingStatus.TODO,
            filed_on=date(2026, 6, 10 + index % 18) if filed else None,
            by=by,
        )


def _seed_ipp(index: int, client: Client, by: Collaborator | None) -> None:
    if IncomeTaxReturn.objects.filter(client=client, income_year=2025).exists():
        return
    result = _amount(index, 200, 530)
    if index % 2 == 0:
        result = -result
    filed = index % 3 == 0
    services.income_tax_return_create(
        client=client,
        income_year=2025,
        result=result,
        status=FilingStatus.FILED if filed else FilingStatus.IN_PROGRESS,
        filed_on=date(2026, 9, 15 + index % 10) if filed else None,
        by=by,
    )


def seed_taxes(
    *,
    collaborators: dict[str, Collaborator],
    companies: dict[str, BillingCompany],
    clients: list[Client],
) -> int:
    """Create the demo rows (idempotent); returns how many exist."""
    _seed_templates()
    for index, client in enumerate(clients, start=1):
        by = client.responsible
        _seed_vat(index, client, by)
        if client.kind == Client.Kind.COMPANY:
            _seed_isoc_and_bnb(index, client, by)
        elif client.kind == Client.Kind.PERSON:
            _seed_ipp(index, client, by)
    return (
        VatReturn.objects.count()
        + CorporateTaxReturn.objects.count()
        + IncomeTaxReturn.objects.count()
        + AnnualAccountsFiling.objects.count()
    )
