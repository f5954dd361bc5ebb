"""Where an address is typed (the client form, the firm's fixed Bcc, compose's Cc and Bcc), an
address with an accented domain is taken as typed, and one no server can be given is refused
with the reason on the page."""

from __future__ import annotations

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import ClientEmail
from courrier.firm.models import Firm
from tests.clients.test_pages import form_data
from tests.firm.factories import make_admin

pytestmark = pytest.mark.django_db


def _page(response: object) -> str:
    content: bytes = response.content  # type: ignore[attr-defined]
    return content.decode().replace("&#x27;", "'").replace("&quot;", '"')


def test_a_client_address_with_an_accented_domain_is_saved_as_typed(client: Browser) -> None:
    client.force_login(make_admin())
    response = client.post(reverse("clients:create"), form_data(("jean@Exämple.be", "general")))
    assert response.status_code == 302, _page(response)
    assert list(ClientEmail.objects.values_list("address", flat=True)) == ["jean@exämple.be"]


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("josé@exemple.be", "avant le @"),
        ("jeanſ@exemple.be", "avant le @"),  # a long s, which Django's own check lets through
        ("info@☃.net", "le nom de domaine après le @ n'est pas valide"),
    ],
)
def test_a_client_address_no_server_can_be_given_is_refused_with_its_reason(
    client: Browser, typed: str, reason: str
) -> None:
    client.force_login(make_admin())
    response = client.post(reverse("clients:create"), form_data((typed, "general")))
    assert response.status_code == 200
    page = _page(response)
    assert reason in page
    assert f"« {typed} »" in page
    assert not ClientEmail.objects.exists()


def _settings(fixed_bcc: str) -> dict[str, str]:
    return {
        "name": "Fiduciaire Dubois",
        "default_language": "fr",
        "fixed_bcc": fixed_bcc,
        "amount_format": "be",
    }


def test_the_firms_fixed_bcc_takes_an_accented_domain_and_refuses_what_cannot_be_delivered(
    client: Browser,
) -> None:
    client.force_login(make_admin())
    response = client.post(reverse("firm:settings"), _settings("archives@exämple.be"))
    assert response.status_code == 302
    assert Firm.load().fixed_bcc == "archives@exämple.be"

    response = client.post(reverse("firm:settings"), _settings("comptabilité@fidu.be"))
    assert response.status_code == 200
    assert "avant le @" in _page(response)
    assert Firm.objects.get().fixed_bcc == "archives@exämple.be"
