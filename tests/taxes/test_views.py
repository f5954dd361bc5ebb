"""The tax lists: filters, the selection sent to the compose window, "envoyé le" on a row."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils.timezone import localtime

from courrier.clients.models import Client
from courrier.firm.models import Collaborator
from courrier.mailing import contexts
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import Draft, message_compose
from courrier.taxes.models import FilingStatus, VatReturn
from tests.taxes import factories


@pytest.fixture
def browser(client: Browser, collaborator: Collaborator) -> Browser:
    client.force_login(collaborator)
    return client


def _rows(response: object) -> list[str]:
    """The client numbers of the rows shown, in order."""
    html = response.content.decode()  # type: ignore[attr-defined]
    return re.findall(r'data-client="([^"]+)"', html)


def _spaces(text: str) -> str:
    return text.replace("\u202f", " ").replace("\xa0", " ")


def test_each_list_shows_its_rows(browser: Browser, make_client: Callable[..., Client]) -> None:
    client = make_client(number="C1", name="Dupuis")
    factories.vat_return(client, grids={"54": "2100", "59": "865.44"})
    factories.isoc(client, result=Decimal("-310.20"))
    factories.ipp(client, result=Decimal("77"))
    factories.bnb(client, filing_reference="2026-00123456")
    vat = browser.get(reverse("taxes:list", args=["tva"]))
    assert vat.status_code == 200
    text = _spaces(vat.content.decode())
    assert "3e trimestre 2026" in text and "1.234,56 €" in text and "trimestriel" in text
    isoc = _spaces(browser.get(reverse("taxes:list", args=["isoc"])).content.decode())
    assert "310,20 €" in isoc and "à recevoir" in isoc
    ipp = _spaces(browser.get(reverse("taxes:list", args=["ipp"])).content.decode())
    assert "77,00 €" in ipp and "à payer" in ipp
    bnb = _spaces(browser.get(reverse("taxes:list", args=["bnb"])).content.decode())
    assert "2026-00123456" in bnb and "425,98 €" in bnb
    assert browser.get(reverse("taxes:list", args=["autre"])).status_code == 404
    assert browser.get(reverse("taxes:index")).status_code == 302


def test_filters(
    browser: Browser,
    make_client: Callable[..., Client],
    make_collaborator: Callable[..., Collaborator],
) -> None:
    luc = make_collaborator(first_name="Luc", last_name="Peeters")
    a = make_client(number="A", responsible=luc)
    b = make_client(number="B", name="Garage Leroy")
    c = make_client(number="C")
    factories.vat_return(a, year=2026, period=1, filed_on=date(2026, 4, 20))
    late = factories.vat_return(b, year=2026, period=1)
    factories.vat_return(c, year=2025, period=4, status=FilingStatus.IN_PROGRESS)
    factories.vat_return(c, year=2026, period=3, period_kind=VatReturn.PeriodKind.MONTH)
    url = reverse("taxes:list", args=["tva"])
    assert sorted(_rows(browser.get(url))) == ["A", "B", "C", "C"]
    assert sorted(_rows(browser.get(url, {"year": 2026}))) == ["A", "B", "C"]
    assert sorted(_rows(browser.get(url, {"year": 2026, "period": "T1"}))) == ["A", "B"]
    assert _rows(browser.get(url, {"period": "3"})) == ["C"]
    assert _rows(browser.get(url, {"status": "filed"})) == ["A"]
    assert _rows(browser.get(url, {"status": "in_progress"})) == ["C"]
    assert _rows(browser.get(url, {"responsible": luc.pk})) == ["A"]
    assert _rows(browser.get(url, {"q": "leroy"})) == ["B"]
    # Late: deadline passed (25/04/2026 for Q1 on any day after) and not filed.
    assert late.deadline == date(2026, 4, 25)
    # Whatever today is: a return of 2020 not filed is late, one of 2099 is not.
    factories.vat_return(b, year=2020, period=1)
    factories.vat_return(b, year=2099, period=1)
    factories.vat_return(a, year=2020, period=1, filed_on=date(2020, 4, 20))
    assert _rows(browser.get(url, {"late": "on", "year": 2020})) == ["B"]
    assert _rows(browser.get(url, {"late": "on", "year": 2099})) == []
    # A wrong filter value is ignored rather than an error.
    assert browser.get(url, {"year": "abc", "period": "T9", "responsible": "x"}).status_code == 200


def test_year_filters_of_isoc_ipp_bnb(browser: Browser, make_client: Callable[..., Client]) -> None:
    factories.isoc(make_client(number="I1"), year_end=date(2025, 12, 31))  # assessment 2026
    factories.isoc(make_client(number="I2"), year_end=date(2026, 6, 30))  # assessment 2026
    factories.isoc(make_client(number="I3"), year_end=date(2026, 12, 31))  # assessment 2027
    rows = _rows(browser.get(reverse("taxes:list", args=["isoc"]), {"year": 2026}))
    assert sorted(rows) == ["I1", "I2"]
    factories.ipp(make_client(number="P1"), income_year=2025)
    factories.ipp(make_client(number="P2"), income_year=2024)
    assert _rows(browser.get(reverse("taxes:list", args=["ipp"]), {"year": 2026})) == ["P1"]
    factories.bnb(make_client(number="B1"), year_end=date(2025, 12, 31))
    factories.bnb(make_client(number="B2"), year_end=date(2024, 12, 31))
    assert _rows(browser.get(reverse("taxes:list", args=["bnb"]), {"year": 2025})) == ["B1"]


def test_checked_rows_open_the_compose_window(
    browser: Browser, make_client: Callable[..., Client]
) -> None:
    first = factories.vat_return(make_client())
    second = factories.vat_return(make_client())
    list_url = reverse("taxes:list", args=["tva"]) + "?year=2026"
    response = browser.get(
        reverse("taxes:mail", args=["tva"]),
        {"objects": [str(second.pk), str(first.pk), str(second.pk)], "next": list_url},
    )
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == reverse("mailing:compose")
    query = parse_qs(target.query)
    assert query == {
        "context": ["vat"],
        "objects": [f"{second.pk},{first.pk}"],
        "next": [list_url],
    }
    # Nothing checked: back to the list with a message; a foreign next is not followed.
    response = browser.get(
        reverse("taxes:mail", args=["tva"]), {"next": "https://evil.example/"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("taxes:list", args=["tva"])
    assert "Cochez au moins une ligne" in response.content.decode()
    # Each row links to the window on its own object, and back to the list.
    page = browser.get(list_url).content.decode()
    assert f"context=vat&amp;next=%2Ffiscal%2Ftva%2F%3Fyear%3D2026&amp;objects={first.pk}" in page


def test_a_row_says_when_it_was_mailed(
    browser: Browser,
    smtp_server: object,
    make_client: Callable[..., Client],
    make_profile: Callable[..., SendingProfile],
) -> None:
    profile = make_profile(server=smtp_server)
    assert profile.collaborator is not None
    mailed = factories.ipp(make_client(number="M"), result=Decimal("12"))
    factories.ipp(make_client(number="N"))
    [context] = contexts.resolve("ipp", [mailed.pk], user=profile.collaborator)
    message = message_compose(
        sender=profile.collaborator,
        client=context.client,
        context=context,
        draft=Draft(subject="IPP {EXERCICE}", body="{MONTANT} {RESULTAT}"),
    )
    assert (message.context, message.object_id) == ("ipp", mailed.pk)
    url = reverse("taxes:list", args=["ipp"])
    page = browser.get(url).content.decode()
    detail = reverse("mailing:message_detail", args=[message.pk])
    day = f"{localtime(message.created_at):%d/%m/%Y}"
    assert f'<a class="taxes-mail-link" href="{detail}">envoyé le {day}</a>' in page
    assert _rows(browser.get(url, {"not_mailed": "on"})) == ["N"]
    # A cancelled mail doesn't count.
    OutboundMessage.objects.filter(pk=message.pk).update(status=OutboundMessage.Status.CANCELLED)
    assert sorted(_rows(browser.get(url, {"not_mailed": "on"}))) == ["M", "N"]
