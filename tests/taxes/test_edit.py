"""Creating and changing tax files from the lists' pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.taxes.models import FilingStatus, IncomeTaxReturn, VatReturn
from tests.taxes import factories


@pytest.fixture
def browser(client: Browser, collaborator: Collaborator) -> Browser:
    client.force_login(collaborator)
    return client


def test_create_a_vat_return_with_its_grids(
    browser: Browser, make_client: Callable[..., Client]
) -> None:
    owner = make_client()
    url = reverse("taxes:create", args=["tva"])
    assert browser.get(url).status_code == 200
    base = {
        "client": owner.pk,
        "year": "2026",
        "period_kind": "quarter",
        "period": "3",
        "status": "in_progress",
        "filed_on": "",
        "notes": "",
        "deadline_typed": "",
    }
    page = browser.post(url, {**base, "grid_54": "-3", "grid_59": "1,234"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "supérieure ou égale à 0" in text
    assert "2 chiffres après la virgule" in text or "deux décimales" in text
    assert not VatReturn.objects.exists()
    response = browser.post(
        url, {**base, "grid_54": "2100", "grid_59": "865,44", "regime": "monthly"}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.vat_profile.regime == "monthly"
    row = VatReturn.objects.get()
    assert row.grids == {"54": "2100.00", "59": "865.44"}
    assert (row.grid_71, row.grid_72) == (Decimal("1234.56"), Decimal("0.00"))
    assert (row.deadline, row.deadline_by_hand, row.created_by is not None) == (
        date(2026, 10, 25),
        False,
        True,
    )
    # The same period twice is refused on the form.
    again = browser.post(url, {**base, "grid_54": "1"})
    assert again.status_code == 200
    assert VatReturn.objects.count() == 1


def test_edit_sets_and_clears_a_deadline_by_hand(
    browser: Browser, make_client: Callable[..., Client]
) -> None:
    row = factories.ipp(make_client(), result=Decimal("12"))
    url = reverse("taxes:edit", args=["ipp", row.pk])
    page = browser.get(url).content.decode()
    assert "Échéance selon la règle : 15/10/2026" in page
    data = {
        "income_year": "2025",
        "result": "-310,20",
        "status": "in_progress",
        "filed_on": "2026-09-30",
        "notes": "",
        "deadline_typed": "2026-10-16",
    }
    assert browser.post(url, data).status_code == 302
    row = IncomeTaxReturn.objects.get()
    assert (row.deadline, row.deadline_by_hand, row.result, row.status) == (
        date(2026, 10, 16),
        True,
        Decimal("-310.20"),
        FilingStatus.FILED,
    )
    assert browser.post(url, {**data, "deadline_typed": ""}).status_code == 302
    row.refresh_from_db()
    assert (row.deadline, row.deadline_by_hand) == (date(2026, 10, 15), False)
    assert browser.get(reverse("taxes:edit", args=["ipp", 999999])).status_code == 404


def test_every_form_opens(browser: Browser, make_client: Callable[..., Client]) -> None:
    client = make_client()
    rows = {
        "tva": factories.vat_return(client),
        "isoc": factories.isoc(client),
        "ipp": factories.ipp(client),
        "bnb": factories.bnb(client),
    }
    for slug, row in rows.items():
        assert browser.get(reverse("taxes:create", args=[slug])).status_code == 200
        assert browser.get(reverse("taxes:edit", args=[slug, row.pk])).status_code == 200
    response = browser.post(
        reverse("taxes:edit", args=["bnb", rows["bnb"].pk]),
        {
            "year_end": "2025-12-31",
            "model": "micro",
            "filing_reference": "2026-00000042",
            "fee": "175,21",
            "status": "todo",
            "filed_on": "2026-06-30",
            "notes": "",
            "deadline_typed": "",
        },
    )
    assert response.status_code == 302
    rows["bnb"].refresh_from_db()
    assert (rows["bnb"].fee, rows["bnb"].status) == (Decimal("175.21"), FilingStatus.FILED)
