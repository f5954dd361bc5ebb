"""Is a client on Peppol? Asked of the company's access point (the loopback one, speaking
Billit's API) from the client file and for every client at once, the answer kept in the file."""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client as ClientRecord
from courrier.demo.access_point import FakeAccessPoint
from courrier.firm.models import BillingCompany, Collaborator
from courrier.peppol.access_points.base import INVOICE_DOCUMENT_TYPE
from tests.billing.factories import make_billing_company, make_invoice_client
from tests.firm.factories import make_collaborator
from tests.peppol.outbox import peppol_profile

pytestmark = pytest.mark.django_db

ON_PEPPOL = "0208:0446407064"
NOT_ON_PEPPOL = "0208:0403170701"


@pytest.fixture
def access_point() -> Iterator[FakeAccessPoint]:
    with FakeAccessPoint() as server:
        server.register(ON_PEPPOL)
        yield server


@pytest.fixture
def company(access_point: FakeAccessPoint) -> BillingCompany:
    company = make_billing_company()
    peppol_profile(company, access_point, "billit")
    return company


def client_of(company: BillingCompany, number: str, enterprise_number: str) -> ClientRecord:
    return make_invoice_client(number, enterprise_number=enterprise_number, billing_company=company)


def lookup(browser: Browser, record: ClientRecord) -> str:
    response = browser.post(reverse("clients:peppol_lookup", args=[record.pk]), follow=True)
    assert response.status_code == 200
    return " ".join(unescape(response.content.decode()).split())


@pytest.fixture
def anne() -> Collaborator:
    return make_collaborator()


def test_the_client_file_says_a_client_is_on_peppol_and_keeps_it(
    client: Browser, anne: Collaborator, company: BillingCompany
) -> None:
    record = client_of(company, "C1", "0446.407.064")
    client.force_login(anne)
    page = lookup(client, record)
    assert (
        f"{ON_PEPPOL} est inscrit sur Peppol et y reçoit les factures et les notes de crédit."
        in (page)
    )
    record.refresh_from_db()
    assert record.peppol_registered is True
    assert INVOICE_DOCUMENT_TYPE in record.peppol_document_types
    assert record.peppol_checked_at is not None
    assert "inscrit" in page and "Vérifier sur Peppol" in page


def test_a_client_not_on_peppol_is_said_so_in_the_readers_language(
    client: Browser, company: BillingCompany
) -> None:
    record = client_of(company, "C2", "0403.170.701")
    client.force_login(make_collaborator(language="nl"))
    page = lookup(client, record)
    assert f"{NOT_ON_PEPPOL} is niet ingeschreven op Peppol" in page
    record.refresh_from_db()
    assert record.peppol_registered is False


def test_without_an_access_point_or_an_identifier_the_file_says_what_to_do(
    client: Browser, anne: Collaborator
) -> None:
    record = make_invoice_client("C3", enterprise_number="0446.407.064")
    client.force_login(anne)
    assert "Aucune société facturante n'a de point d'accès Peppol" in lookup(client, record)
    person = make_invoice_client("C4", kind="person", name="Jan Maes")
    assert "Ce client n'a pas d'identifiant Peppol" in lookup(client, person)


def test_a_busy_or_broken_access_point_is_said_and_the_file_keeps_what_it_knew(
    client: Browser, anne: Collaborator, company: BillingCompany, access_point: FakeAccessPoint
) -> None:
    record = client_of(company, "C5", "0446.407.064")
    client.force_login(anne)
    access_point.fail_next(500)
    assert "Le point d'accès Peppol n'a pas pu répondre" in lookup(client, record)
    record.refresh_from_db()
    assert record.peppol_registered is None


def run_lookup(*args: str) -> tuple[str, int]:
    """What `courrier peppol-lookup` printed, and its exit code."""
    out = StringIO()
    try:
        call_command("peppol_lookup", *args, stdout=out)
    except SystemExit as exc:
        return out.getvalue(), int(exc.code or 0)
    return out.getvalue(), 0


def test_the_command_looks_every_client_up_and_switches_those_on_peppol(
    company: BillingCompany, access_point: FakeAccessPoint
) -> None:
    on = client_of(company, "C1", "0446.407.064")
    off = client_of(company, "C2", "0403.170.701")
    nobody = make_invoice_client("C3", kind="person", name="Jan Maes", billing_company=company)
    # The access point asks to slow down once: the command waits as told and goes on.
    access_point.fail_next(429, retry_after=1)

    out, code = run_lookup("--company", company.code, "--switch")

    assert code == 0, out
    assert "C1" in out and "inscrit sur Peppol, passé à Peppol" in out
    assert "C2" in out and "pas inscrit sur Peppol" in out
    assert "C3" in out and "pas d'identifiant Peppol" in out
    assert (
        "Résumé : 1 inscrit sur Peppol, 1 passé à Peppol, 1 non inscrit, 1 sans identifiant, "
        "0 erreur." in out
    )
    on.refresh_from_db()
    off.refresh_from_db()
    nobody.refresh_from_db()
    assert (on.invoice_channel, off.invoice_channel) == ("peppol", "email")
    assert nobody.invoice_channel == "email"
    assert (on.peppol_registered, off.peppol_registered) == (True, False)


def test_the_command_refuses_a_wrong_argument_and_no_access_point_clearly(
    company: BillingCompany,
) -> None:
    with pytest.raises(Exception, match="Société facturante inconnue"):
        call_command("peppol_lookup", "--company", "NOPE", stdout=StringIO())
    with pytest.raises(Exception, match="Aucun client actif ne porte le numéro"):
        call_command("peppol_lookup", "--client", "X999", stdout=StringIO())
    company.peppol_profile.delete()
    with pytest.raises(Exception, match="Aucune société facturante n'a de point d'accès Peppol"):
        call_command("peppol_lookup", stdout=StringIO())
