"""Each tax context's fields, rendered in French and Dutch through the compose preview."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from courrier.clients.models import Client
from courrier.mailing import contexts
from courrier.mailing.fields import fields_for
from courrier.mailing.models import SendingProfile
from courrier.mailing.services import Draft, message_preview
from courrier.taxes import fields
from courrier.taxes.models import AnnualAccountsFiling, VatRegime, VatReturn
from courrier.taxes.services import vat_profile_set
from tests.taxes import factories

NBSP = "\xa0"
NNBSP = "\u202f"


def _text(value: str) -> str:
    """Babel's spaces (narrow and non-breaking) as plain spaces, to compare with readable text."""
    return value.replace(NNBSP, " ").replace(NBSP, " ")


@pytest.fixture
def sender(make_profile: Callable[..., SendingProfile]) -> SendingProfile:
    return make_profile()


def _render(profile: SendingProfile, context_name: str, object_id: int, body: str) -> str:
    [context] = contexts.resolve(context_name, [object_id], user=profile.collaborator)
    assert profile.collaborator is not None
    preview = message_preview(
        sender=profile.collaborator,
        client=context.client,
        context=context,
        draft=Draft(subject="{NOMCLIENT}", body=body),
    )
    return _text(preview.rendered.text).strip()


@pytest.mark.parametrize(
    ("language", "period", "monthly", "expected"),
    [
        ("fr", 3, False, "3e trimestre 2026"),
        ("fr", 1, False, "1er trimestre 2026"),
        ("nl", 3, False, "3de kwartaal 2026"),
        ("nl", 1, False, "1ste kwartaal 2026"),
        ("de", 3, False, "3. Quartal 2026"),
        ("en", 3, False, "3rd quarter 2026"),
        ("en", 2, False, "2nd quarter 2026"),
        ("fr", 3, True, "mars 2026"),
        ("nl", 3, True, "maart 2026"),
        ("de", 3, True, "März 2026"),
        ("en", 3, True, "March 2026"),
    ],
)
def test_periods_are_spelled_in_the_language(
    language: str, period: int, monthly: bool, expected: str
) -> None:
    assert fields.format_period(year=2026, period=period, monthly=monthly, language=language) == (
        expected
    )


def test_vat_fields_render_in_french_and_dutch(
    sender: SendingProfile, make_client: Callable[..., Client]
) -> None:
    body = "{PERIODE} | {CASE71} | {CASE72} | {SOLDE} | {ECHEANCE} | {CASE54} | {REGIME}"
    french = make_client(language="fr", name="Dupuis")
    dutch = make_client(language="nl", name="Peeters")
    vat_profile_set(client=dutch, regime=VatRegime.MONTHLY)
    due = factories.vat_return(french, grids={"54": "2100", "59": "865.44"})
    refund = factories.vat_return(
        dutch, period=9, period_kind=VatReturn.PeriodKind.MONTH, grids={"54": "100", "59": "1350.5"}
    )
    assert _render(sender, "vat", due.pk, body) == (
        "3e trimestre 2026 | 1.234,56 € | 0,00 € | 1.234,56 € à payer | 25/10/2026 | "
        "2.100,00 € | trimestriel"
    )
    assert _render(sender, "vat", refund.pk, body) == (
        "september 2026 | 0,00 € | 1.250,50 € | 1.250,50 € terug te krijgen | 20/10/2026 | "
        "100,00 € | maandelijks"
    )


def test_isoc_and_ipp_fields_render_in_french_and_dutch(
    sender: SendingProfile, make_client: Callable[..., Client]
) -> None:
    french = make_client(language="fr")
    dutch = make_client(language="nl")
    body = "{EXERCICE} | {EXERCICECOMPTABLE} | {MONTANT} | {RESULTAT} | {ECHEANCE} | {DATEDEPOT}"
    isoc = factories.isoc(
        french, year_end=date(2026, 6, 30), result=Decimal("4820"), filed_on=date(2027, 1, 12)
    )
    assert _render(sender, "isoc", isoc.pk, body) == (
        "2026 | 01/07/2025 – 30/06/2026 | 4.820,00 € | à payer | 31/01/2027 | 12/01/2027"
    )
    isoc_nl = factories.isoc(dutch, result=Decimal("-310.2"))
    assert _render(sender, "isoc", isoc_nl.pk, "{EXERCICE} {MONTANT} {RESULTAT}") == (
        "2026 310,20 € terug te krijgen"
    )
    body = "{EXERCICE} | {ANNEEREVENUS} | {MONTANT} | {RESULTAT} | {ECHEANCE}"
    ipp_fr = factories.ipp(french, result=Decimal("-1250.4"))
    ipp_nl = factories.ipp(dutch, result=Decimal("77"), deadline=date(2026, 10, 16))
    assert _render(sender, "ipp", ipp_fr.pk, body) == (
        "2026 | 2025 | 1.250,40 € | à recevoir | 15/10/2026"
    )
    assert (
        _render(sender, "ipp", ipp_nl.pk, body) == "2026 | 2025 | 77,00 € | te betalen | 16/10/2026"
    )


def test_bnb_fields_render_in_french_and_dutch(
    sender: SendingProfile, make_client: Callable[..., Client]
) -> None:
    body = "{DATECLOTURE} | {MODELE} | {ECHEANCE} | {DATEDEPOT} | {REFDEPOT} | {FRAIS}"
    french = factories.bnb(
        make_client(language="fr"),
        model=AnnualAccountsFiling.Model.MICRO,
        filed_on=date(2026, 6, 28),
        filing_reference="2026-00123456",
    )
    dutch = factories.bnb(make_client(language="nl"), model=AnnualAccountsFiling.Model.FULL)
    assert _render(sender, "bnb", french.pk, body) == (
        "31/12/2025 | micromodèle | 31/07/2026 | 28/06/2026 | 2026-00123456 | 425,98 €"
    )
    assert _render(sender, "bnb", dutch.pk, body) == (
        "31/12/2025 | volledig model | 31/07/2026 |  |  | 425,98 €"
    )


def test_catalogues_and_labels(make_client: Callable[..., Client]) -> None:
    codes = {field.code for field in fields_for("vat")}
    assert {"NOMCLIENT", "CASE71", "CASE72", "PERIODE", "ECHEANCE", "SOLDE", "CASE54"} <= codes
    assert {"EXERCICE", "MONTANT", "RESULTAT"} <= {field.code for field in fields_for("isoc")}
    assert {"ANNEEREVENUS"} <= {field.code for field in fields_for("ipp")}
    assert {"MODELE", "REFDEPOT", "FRAIS"} <= {field.code for field in fields_for("bnb")}
    client = make_client()
    first = factories.vat_return(client)
    second = factories.vat_return(client, period=4)
    resolved = contexts.resolve("vat", [second.pk, 999_999, first.pk], user=None)
    assert [context.object_id for context in resolved] == [second.pk, first.pk]
    assert [str(context.label) for context in resolved] == [
        "TVA 4e trimestre 2026",
        "TVA 3e trimestre 2026",
    ]
    isoc = factories.isoc(client)
    ipp = factories.ipp(client)
    bnb = factories.bnb(client)
    assert str(contexts.resolve("isoc", [isoc.pk])[0].label) == "ISOC exercice 2026"
    assert str(contexts.resolve("ipp", [ipp.pk])[0].label) == "IPP exercice 2026 (revenus 2025)"
    assert str(contexts.resolve("bnb", [bnb.pk])[0].label) == "Comptes annuels au 31/12/2025"
