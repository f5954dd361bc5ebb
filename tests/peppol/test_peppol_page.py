"""The billing company's Peppol page, as an administrator uses it in a browser (Django's test
client): the access point saved with its secrets never sent back, the webhook address to give
the provider, the connection test's answer in French, and mail profiles that never offer a
Peppol method."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
from django.test import Client as Browser
from django.test import override_settings
from django.urls import reverse

from courrier.demo.access_point import FakeAccessPoint
from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing import methods
from courrier.mailing.forms import SendingProfileForm
from courrier.mailing.models import SendingProfile
from tests.firm.factories import make_admin, make_collaborator, make_company

pytestmark = pytest.mark.django_db


@pytest.fixture
def access_point() -> Iterator[FakeAccessPoint]:
    with FakeAccessPoint(company_name="Fiduciaire Dubois") as server:
        yield server


@pytest.fixture
def company() -> BillingCompany:
    return make_company(email="factures@fidu.be")


def browser(user: Collaborator) -> Browser:
    client = Browser()
    client.force_login(user)
    return client


def text_of(response: object) -> str:
    html = response.content.decode()  # type: ignore[attr-defined]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def page(company: BillingCompany) -> str:
    return reverse("mailing:company_peppol", args=[company.pk])


def billit_post(server: FakeAccessPoint, **extra: str) -> dict[str, str]:
    data = {
        "peppol-method": "billit",
        "peppol-api_key": server.billit_key,
        "peppol-peppol_account": server.billit_party,
        "peppol-api_base_url": server.base_url,
        "peppol-webhook_secret": "whsec-billit",
    }
    data.update(extra)
    return data


def test_an_admin_saves_the_access_point_and_the_secrets_stay_on_the_server(
    company: BillingCompany, access_point: FakeAccessPoint
) -> None:
    admin = browser(make_admin())
    empty = admin.get(page(company))
    assert empty.status_code == 200
    assert "Point d'accès Peppol" in text_of(empty)

    saved = admin.post(page(company), billit_post(access_point), follow=True)
    assert "Les paramètres Peppol sont enregistrés." in text_of(saved)
    profile = SendingProfile.objects.get(peppol_company=company)
    assert profile.method == "billit"
    assert profile.api_key == access_point.billit_key
    assert profile.webhook_secret == "whsec-billit"
    html = saved.content.decode()
    assert access_point.billit_key not in html and "whsec-billit" not in html
    assert "enregistré — laisser vide pour le conserver" in text_of(saved)
    # The webhook address to give Billit, and how.
    assert f"/courrier/webhooks/{profile.webhook_token}/" in html
    assert "créez un webhook" in text_of(saved)
    # The mail profile of the company is a different row, untouched.
    assert not SendingProfile.objects.filter(billing_company=company).exists()

    # Saved again without the key: the stored one is kept.
    admin.post(page(company), billit_post(access_point, **{"peppol-api_key": ""}))
    profile.refresh_from_db()
    assert profile.api_key == access_point.billit_key


def test_recommand_needs_its_secret_and_says_so_in_french(
    company: BillingCompany, access_point: FakeAccessPoint
) -> None:
    response = browser(make_admin()).post(
        page(company),
        {
            "peppol-method": "recommand",
            "peppol-api_key": access_point.recommand_key,
            "peppol-peppol_account": "",
        },
    )
    text = text_of(response)
    assert "Recommand demande aussi le secret d'API." in text
    assert "L'identifiant de la société chez le point d'accès manque." in text
    assert not SendingProfile.objects.filter(peppol_company=company).exists()


def test_the_connection_test_says_what_the_access_point_answered(
    company: BillingCompany, access_point: FakeAccessPoint
) -> None:
    admin = browser(make_admin())
    admin.post(page(company), billit_post(access_point))
    test_url = reverse("mailing:company_peppol_test", args=[company.pk])

    works = admin.post(test_url, follow=True)
    assert "Le point d'accès a répondu : la connexion fonctionne" in text_of(works)
    assert "Fiduciaire Dubois" in text_of(works)

    SendingProfile.objects.filter(peppol_company=company).update(api_key="revoked")
    refused = admin.post(test_url, follow=True)
    text = text_of(refused)
    assert "Le test de connexion a échoué" in text
    assert "refuse les identifiants enregistrés" in text
    assert "HTTP 401" in text

    access_point.stop()
    SendingProfile.objects.filter(peppol_company=company).update(api_key=access_point.billit_key)
    down = admin.post(test_url, follow=True)
    assert "est injoignable" in text_of(down)


def test_only_administrators_open_it(company: BillingCompany) -> None:
    response = browser(make_collaborator("eve@fidu.be")).get(page(company))
    assert response.status_code in (302, 403)


def test_mail_profiles_never_offer_a_peppol_method(company: BillingCompany) -> None:
    form = SendingProfileForm(instance=SendingProfile(billing_company=company), company=True)
    offered = [code for code, _label in form.fields["method"].choices]
    assert "smtp" in offered
    assert "billit" not in offered and "recommand" not in offered
    assert {m.code for m in methods.declared("peppol")} == {"billit", "recommand"}

    posted = SendingProfileForm(
        {"method": "billit", "from_address": "factures@fidu.be"},
        instance=SendingProfile(billing_company=company),
        company=True,
    )
    assert not posted.is_valid()
    assert "method" in posted.errors


@override_settings(PUBLIC_URL="https://courrier.fidu.be")
def test_the_company_mail_page_links_to_its_peppol_page(company: BillingCompany) -> None:
    response = browser(make_admin()).get(reverse("mailing:company_profile", args=[company.pk]))
    assert page(company) in response.content.decode()
