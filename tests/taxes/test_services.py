"""Writing tax files: deadlines by rule or by hand, filed dates, grids checked before saving."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.taxes import services
from courrier.taxes.models import FilingStatus, VatRegime, VatReturn
from tests.taxes import factories


def test_periodicity_follows_the_client_regime(make_client: Callable[..., Client]) -> None:
    monthly = make_client()
    services.vat_profile_set(client=monthly, regime=VatRegime.MONTHLY)
    row = services.vat_return_create(client=monthly, year=2026, period=3)
    assert (row.period_kind, row.deadline, row.period_code) == (
        "month",
        date(2026, 4, 20),
        "2026-03",
    )
    row = services.vat_return_create(client=make_client(), year=2026, period=3)
    assert (row.period_kind, row.deadline, row.period_code) == (
        "quarter",
        date(2026, 10, 25),
        "2026-T3",
    )
    with pytest.raises(ValidationError) as caught:
        services.vat_return_create(client=monthly, year=2026, period=13)
    assert "entre 1 et 12" in str(caught.value)


def test_71_and_72_are_derived_and_never_both(make_client: Callable[..., Client]) -> None:
    row = factories.vat_return(make_client(), grids={"54": "2100", "55": "50", "59": "865.44"})
    assert (row.grid_71, row.grid_72) == (Decimal("1284.56"), Decimal("0.00"))
    row.grids = {"54": "100", "59": "350.5"}
    services.filing_save(filing=row)
    row.refresh_from_db()
    assert row.grids == {"54": "100.00", "59": "350.50"}
    assert (row.grid_71, row.grid_72, row.grid("72")) == (
        Decimal("0.00"),
        Decimal("250.50"),
        Decimal("250.50"),
    )
    # Wrong grids are refused and nothing stored changes.
    with pytest.raises(ValidationError):
        row.grids = {"54": "-5", "71": "10"}
        services.filing_save(filing=row)
    row.refresh_from_db()
    assert row.grids == {"54": "100.00", "59": "350.50"}


def test_deadline_by_hand_is_kept_until_reset(make_client: Callable[..., Client]) -> None:
    row = factories.ipp(make_client(), deadline=date(2026, 10, 16))
    assert (row.deadline, row.deadline_by_hand) == (date(2026, 10, 16), True)
    row.income_year = 2024
    services.filing_save(filing=row)
    assert row.deadline == date(2026, 10, 16)
    # Forgetting the deadline typed by hand (as the admin does): the rule applies again.
    row.deadline_by_hand = False
    services.filing_save(filing=row)
    assert (row.deadline, row.deadline_by_hand) == (date(2025, 10, 15), False)
    # A rule-following deadline moves with its inputs.
    isoc = factories.isoc(make_client(), year_end=date(2025, 12, 31))
    assert isoc.deadline == date(2026, 7, 31)
    isoc.year_end = date(2026, 3, 31)
    services.filing_save(filing=isoc)
    assert isoc.deadline == date(2026, 10, 31)


def test_a_filed_date_files_the_return(make_client: Callable[..., Client]) -> None:
    row = factories.bnb(make_client())
    assert row.status == FilingStatus.TODO
    row.filed_on = date(2026, 6, 28)
    services.filing_save(filing=row)
    assert row.status == FilingStatus.FILED
    row.filed_on = None
    services.filing_save(filing=row)
    assert row.status == FilingStatus.IN_PROGRESS


def test_one_return_per_client_and_period(make_client: Callable[..., Client]) -> None:
    client = make_client()
    factories.vat_return(client)
    with pytest.raises(ValidationError):
        factories.vat_return(client)
    assert VatReturn.objects.count() == 1


def test_admin_saves_through_the_rules(
    client: Browser,
    make_client: Callable[..., Client],
    make_collaborator: Callable[..., Collaborator],
) -> None:
    admin = make_collaborator(is_staff=True, is_superuser=True)
    client.force_login(admin)
    owner = make_client()
    url = reverse("admin:taxes_vatreturn_add")
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "client": owner.pk,
            "status": "todo",
            "year": 2026,
            "period_kind": "quarter",
            "period": 2,
            "grids": '{"54": "10", "99": "1"}',
            "deadline": "",
            "notes": "",
        },
    )
    assert response.status_code == 200
    assert "« 99 » n&#x27;existe pas" in response.content.decode()
    response = client.post(
        url,
        {
            "client": owner.pk,
            "status": "todo",
            "year": 2026,
            "period_kind": "quarter",
            "period": 2,
            "grids": '{"54": "10"}',
            "deadline": "",
            "notes": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    row = VatReturn.objects.get()
    assert (row.deadline, row.deadline_by_hand, row.grids) == (
        date(2026, 7, 25),
        False,
        {"54": "10.00"},
    )
    assert client.get(reverse("admin:taxes_vatreturn_changelist")).status_code == 200
