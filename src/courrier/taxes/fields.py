"""Merge fields of the tax files: VAT ("vat"), ISOC ("isoc"), IPP ("ipp"), BNB ("bnb").

Values are formatted for the recipient's language (fr, nl, de, en): amounts and dates with the
helpers of `courrier.amounts` and `courrier.l10n`, periods spelled out ("3e trimestre 2026",
"3de kwartaal 2026").
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from courrier.amounts import amount_example, format_amount
from courrier.l10n import format_date, in_language
from courrier.mailing.fields import Field
from courrier.taxes.models import (
    AnnualAccountsFiling,
    CorporateTaxReturn,
    IncomeTaxReturn,
    VatRegime,
    VatReturn,
)
from courrier.taxes.periods import format_period

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# Words that go into mails, rendered in the mail's language (`l10n.in_language`).
_WORDS: dict[str, StrOrPromise] = {
    "due": pgettext_lazy("mail", "à payer"),
    "refund": pgettext_lazy("mail", "à recevoir"),
    # Translators: a VAT return's result of zero ("0,00 € (néant)").
    "nil": pgettext_lazy("mail", "néant"),
    VatRegime.MONTHLY: pgettext_lazy("mail", "mensuel"),
    VatRegime.QUARTERLY: pgettext_lazy("mail", "trimestriel"),
    VatRegime.NOT_LIABLE: pgettext_lazy("mail", "non assujetti"),
    AnnualAccountsFiling.Model.FULL: pgettext_lazy("mail", "modèle complet"),
    AnnualAccountsFiling.Model.ABBREVIATED: pgettext_lazy("mail", "modèle abrégé"),
    AnnualAccountsFiling.Model.MICRO: pgettext_lazy("mail", "micromodèle"),
}


def word(key: str, language: str) -> str:
    return in_language(_WORDS[key], language)


def vat_period(vat_return: VatReturn, language: str) -> str:
    return format_period(
        year=vat_return.year,
        period=vat_return.period,
        monthly=vat_return.period_kind == VatReturn.PeriodKind.MONTH,
        language=language,
    )


def _result_word(result: Decimal | None, language: str) -> str:
    if result is None:
        return ""
    if result > 0:
        return word("due", language)
    if result < 0:
        return word("refund", language)
    return word("nil", language)


def _signed_amount(result: Decimal | None, language: str) -> str:
    """ "1.234,56 € à payer", "310,00 € à recevoir", or "0,00 € (néant)"."""
    if result is None:
        return ""
    amount = format_amount(abs(result))
    if result == 0:
        return f"{amount} ({word('nil', language)})"
    return f"{amount} {_result_word(result, language)}"


def _date(value: date | None, language: str) -> str:
    return format_date(value, language) if value is not None else ""


# --- VAT ------------------------------------------------------------------------------------

_VAT = _("Déclaration TVA")
_VAT_GRIDS = _("Grilles de la déclaration TVA")
# Grids offered in the picker besides 71 and 72: those that make up the balance.
VAT_EXPOSED_GRIDS: dict[str, object] = {
    "00": _("Grille 00 : opérations à 0 %"),
    "01": _("Grille 01 : opérations à 6 %"),
    "02": _("Grille 02 : opérations à 12 %"),
    "03": _("Grille 03 : opérations à 21 %"),
    "54": _("Grille 54 : TVA due sur les opérations"),
    "55": _("Grille 55 : TVA sur les acquisitions intracommunautaires"),
    "56": _("Grille 56 : TVA due par le cocontractant"),
    "57": _("Grille 57 : TVA sur les importations"),
    "59": _("Grille 59 : TVA déductible"),
    "61": _("Grille 61 : régularisations en faveur de l'État"),
    "62": _("Grille 62 : régularisations en faveur du déclarant"),
    "63": _("Grille 63 : TVA à reverser sur notes de crédit reçues"),
    "64": _("Grille 64 : TVA à récupérer sur notes de crédit délivrées"),
    "91": _("Grille 91 : acompte de décembre"),
}

VAT_FIELDS: list[Field] = [
    Field("PERIODE", _("Période de la déclaration"), _VAT, "3e trimestre 2026"),
    Field("REGIME", _("Régime TVA du client"), _VAT, "trimestriel"),
    Field("ECHEANCE", _("Date limite de dépôt"), _VAT, "25/10/2026"),
    Field("DATEDEPOT", _("Date du dépôt"), _VAT, "20/10/2026"),
    Field("CASE71", _("Grille 71 : taxe due à l'État"), _VAT_GRIDS, amount_example("1234.56")),
    Field("CASE72", _("Grille 72 : somme due par l'État"), _VAT_GRIDS, amount_example("0.00")),
    Field(
        "SOLDE",
        _("Solde de la déclaration (montant à payer ou à recevoir)"),
        _VAT,
        amount_example("1234.56", " à payer"),
    ),
    *[
        Field(f"CASE{code}", label, _VAT_GRIDS, amount_example("100.00"))  # type: ignore[arg-type]
        for code, label in VAT_EXPOSED_GRIDS.items()
    ],
]


def vat_values(vat_return: VatReturn, language: str) -> dict[str, str]:
    """The VAT fields of one return, formatted for `language`."""
    values = {
        "PERIODE": vat_period(vat_return, language),
        "REGIME": word(vat_return.regime, language),
        "ECHEANCE": _date(vat_return.deadline, language),
        "DATEDEPOT": _date(vat_return.filed_on, language),
        "CASE71": format_amount(vat_return.grid_71),
        "CASE72": format_amount(vat_return.grid_72),
        "SOLDE": _signed_amount(vat_return.balance, language),
    }
    for code in VAT_EXPOSED_GRIDS:
        values[f"CASE{code}"] = format_amount(vat_return.grid(code))
    return values


# --- ISOC and IPP ---------------------------------------------------------------------------

_ISOC = _("Impôt des sociétés")
_IPP = _("Impôt des personnes physiques")

ISOC_FIELDS: list[Field] = [
    Field("EXERCICE", _("Exercice d'imposition"), _ISOC, "2026"),
    Field(
        "EXERCICECOMPTABLE",
        _("Exercice comptable"),
        _ISOC,
        "01/01/2025 – 31/12/2025",
    ),
    Field("DATECLOTURE", _("Date de clôture de l'exercice comptable"), _ISOC, "31/12/2025"),
    Field(
        "MONTANT", _("Montant de l'impôt (à payer ou à recevoir)"), _ISOC, amount_example("4820.00")
    ),
    Field("RESULTAT", _("Résultat : à payer ou à recevoir"), _ISOC, "à payer"),
    Field("ECHEANCE", _("Date limite de dépôt"), _ISOC, "31/07/2026"),
    Field("DATEDEPOT", _("Date du dépôt"), _ISOC, "15/07/2026"),
]

IPP_FIELDS: list[Field] = [
    Field("EXERCICE", _("Exercice d'imposition"), _IPP, "2026"),
    Field("ANNEEREVENUS", _("Année des revenus"), _IPP, "2025"),
    Field(
        "MONTANT", _("Montant de l'impôt (à payer ou à recevoir)"), _IPP, amount_example("1250.40")
    ),
    Field("RESULTAT", _("Résultat : à payer ou à recevoir"), _IPP, "à recevoir"),
    Field("ECHEANCE", _("Date limite de dépôt"), _IPP, "15/10/2026"),
    Field("DATEDEPOT", _("Date du dépôt"), _IPP, "30/09/2026"),
]


def isoc_values(filing: CorporateTaxReturn, language: str) -> dict[str, str]:
    result = filing.result
    return {
        "EXERCICE": str(filing.assessment_year),
        "EXERCICECOMPTABLE": (
            f"{format_date(filing.year_start, language)} – {format_date(filing.year_end, language)}"
        ),
        "DATECLOTURE": format_date(filing.year_end, language),
        "MONTANT": format_amount(abs(result)) if result is not None else "",
        "RESULTAT": _result_word(result, language),
        "ECHEANCE": _date(filing.deadline, language),
        "DATEDEPOT": _date(filing.filed_on, language),
    }


def ipp_values(filing: IncomeTaxReturn, language: str) -> dict[str, str]:
    result = filing.result
    return {
        "EXERCICE": str(filing.assessment_year),
        "ANNEEREVENUS": str(filing.income_year),
        "MONTANT": format_amount(abs(result)) if result is not None else "",
        "RESULTAT": _result_word(result, language),
        "ECHEANCE": _date(filing.deadline, language),
        "DATEDEPOT": _date(filing.filed_on, language),
    }


# --- BNB ------------------------------------------------------------------------------------

_BNB = _("Comptes annuels (BNB)")

BNB_FIELDS: list[Field] = [
    Field("DATECLOTURE", _("Date de clôture de l'exercice comptable"), _BNB, "31/12/2025"),
    Field("MODELE", _("Modèle des comptes annuels"), _BNB, "modèle abrégé"),
    Field("ECHEANCE", _("Date limite de dépôt"), _BNB, "31/07/2026"),
    Field("DATEDEPOT", _("Date du dépôt"), _BNB, "28/06/2026"),
    Field("REFDEPOT", _("Référence du dépôt à la BNB"), _BNB, "2026-00123456"),
    Field("FRAIS", _("Frais de dépôt"), _BNB, amount_example("425.98")),
]


def bnb_values(filing: AnnualAccountsFiling, language: str) -> dict[str, str]:
    return {
        "DATECLOTURE": format_date(filing.year_end, language),
        "MODELE": word(filing.model, language),
        "ECHEANCE": _date(filing.deadline, language),
        "DATEDEPOT": _date(filing.filed_on, language),
        "REFDEPOT": filing.filing_reference,
        "FRAIS": format_amount(filing.fee) if filing.fee is not None else "",
    }
