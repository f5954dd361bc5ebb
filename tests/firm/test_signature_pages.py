"""Where signatures are typed: Ma fiche for a collaborator, the company's page for a billing
company. One field per mail language, the rule that chooses among them stated beside them, the
page in the reader's language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import translation

from courrier.firm.models import BillingCompany
from tests.firm.factories import make_admin, make_collaborator, make_company
from tests.firm.test_pages import company_data

pytestmark = pytest.mark.django_db

MY_PROFILE = reverse("mailing:my_profile")


@pytest.fixture(autouse=True)
def french_afterwards() -> Iterator[None]:
    """The pages asked here speak Dutch or English and leave that language active in this
    thread; the tests after these start in French again."""
    with translation.override("fr"):
        yield


def page_text(response: Any) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_ma_fiche_in_english_offers_a_signature_per_mail_language_and_states_the_rule(
    client: Browser,
) -> None:
    emma = make_collaborator("emma@fidu.be", language="en", signature_en="Emma Collins")
    client.force_login(emma)

    page = page_text(client.get(MY_PROFILE))

    assert "E-mail signature" in page
    for language in ("French", "Dutch", "German", "English"):
        assert f"Signature in {language}" in page
    assert (
        "A mail gets the version in its language. If there is none, it goes without a "
        "signature, never with one in another language; the preview and the pre-send check "
        "say so."
    ) in page
    assert "Your mails (to one client, to a selection," in page
    assert "({EXPEDITEUR}, {CABINET}, {SOCIETEFACTURANTE}, …) signs itself" in page
    assert "Signature en" not in page and "Un mail reçoit" not in page

    response = client.post(
        MY_PROFILE,
        {
            "save_details": "1",
            "me-first_name": "Emma",
            "me-last_name": "Collins",
            "me-phone": "",
            "me-language": "en",
            "me-signature_fr": "",
            "me-signature_nl": "",
            "me-signature_de": "Emma Collins\nSteuerberaterin",
            "me-signature_en": "Emma Collins\nTax adviser",
        },
    )
    assert response.status_code == 302
    emma.refresh_from_db()
    assert emma.signature_languages == ["de", "en"]
    assert "Steuerberaterin" in client.get(MY_PROFILE).content.decode()


def test_ma_fiche_in_dutch_states_the_rule_in_dutch(client: Browser) -> None:
    client.force_login(make_collaborator("pieter@fidu.be", language="nl"))

    page = page_text(client.get(MY_PROFILE))

    assert "Handtekening in het Duits" in page
    assert "Een mail krijgt de versie in zijn taal." in page


def test_the_company_page_in_english_holds_its_four_signatures_and_the_rule(
    client: Browser,
) -> None:
    company = make_company(signature_nl="Het team van Fiduciaire Dubois")
    client.force_login(make_admin(language="en"))
    url = reverse("firm:company_edit", args=[company.pk])

    page = page_text(client.get(url))

    assert "E-mail signature" in page
    assert "Signature in German" in page and "Het team van Fiduciaire Dubois" in page
    assert (
        "Mails sent by this company (invoice batches, “@”, sending on issue, any mail about an "
        "invoice) carry its signature, never that of the collaborator who sends them."
    ) in page
    assert "A mail gets the version in its language." in page
    assert "Les mails envoyés par cette société" not in page

    response = client.post(
        url,
        company_data(
            code="FIDU",
            enterprise_number="0403170701",
            signature_fr="L'équipe de Fiduciaire Dubois",
            signature_nl="Het team van Fiduciaire Dubois",
            signature_de="Ihr Team von Fiduciaire Dubois",
            signature_en="The Fiduciaire Dubois team",
        ),
    )
    assert response.status_code == 302
    company = BillingCompany.objects.get(pk=company.pk)
    # Typed without the editor (plain text): stored as the editor writes it.
    assert company.signature_in("de") == "<p>Ihr Team von Fiduciaire Dubois</p>"
    assert company.signature_languages == ["fr", "nl", "de", "en"]


def test_a_signature_posted_from_the_editor_is_stored_sanitised_with_the_bodies_allow_list(
    client: Browser,
) -> None:
    """Whatever a browser posts (a paste from Word, a crafted request), only the allow-list of
    bodies is stored: bold, a web link, line breaks; no script, style, event or javascript:."""
    emma = make_collaborator("emma@fidu.be", language="en")
    client.force_login(emma)
    posted = (
        '<p style="color:red" onclick="steal()"><b>Emma Collins</b><br>'
        '<a href="https://fidu.be/emma" onmouseover="x()">fidu.be</a>'
        '<script>alert(1)</script><img src="https://tracker.example/p.gif"></p>'
        '<p><a href="javascript:alert(1)">Tax adviser</a></p>'
    )
    fields = {f"me-signature_{code}": "" for code in ("fr", "nl", "de")}
    response = client.post(
        MY_PROFILE,
        {
            "save_details": "1",
            "me-first_name": "Emma",
            "me-last_name": "Collins",
            "me-phone": "",
            "me-language": "en",
            **fields,
            "me-signature_en": posted,
        },
    )

    assert response.status_code == 302
    emma.refresh_from_db()
    assert emma.signature_en == (
        '<p><strong>Emma Collins</strong><br><a href="https://fidu.be/emma">fidu.be</a></p>\n'
        "<p>Tax adviser</p>"
    )


def test_both_pages_give_each_signature_the_editor_loaded_with_its_lines(
    client: Browser,
) -> None:
    """Ma fiche and the company's page draw each signature as the rich-text editor (its script
    served by the app) holding the stored HTML, so that lines typed before show as lines."""
    company = make_company(signature_nl="<p>Het team van Fiduciaire Dubois<br>Antwerpen</p>")
    admin = make_admin(language="fr", signature_fr="<p><strong>Luc Dubois</strong><br>Associé</p>")
    client.force_login(admin)

    for url, prefix, value in (
        (reverse("firm:company_edit", args=[company.pk]), "", "Het team van Fiduciaire Dubois"),
        (MY_PROFILE, "me-", "<strong>Luc Dubois</strong>"),
    ):
        html = client.get(url).content.decode()
        assert "courrier/richtext.js" in html and "django_prose_editor/editor.css" in html
        for code in ("fr", "nl", "de", "en"):
            textarea = re.search(rf'<textarea[^>]*name="{prefix}signature_{code}"[^>]*>', html)
            assert textarea is not None and "data-richtext=" in textarea.group(0)
        assert unescape(html).count(value) == 1
