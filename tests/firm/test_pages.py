"""Login, roles, and the firm's administration pages, as the office staff use them."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client as Browser
from django.urls import NoReverseMatch, reverse

from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.firm.permissions import can_manage_profile
from courrier.mailing.models import SendingProfile
from tests.firm.factories import PASSWORD, make_admin, make_collaborator, make_company

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")


def company_data(**overrides: str) -> dict[str, str]:
    data = {
        "code": "compta",
        "name": "Compta Plus",
        "legal_form": "SRL",
        "enterprise_number": "0417 497 106",
        "vat_number": "0417497106",
        "iban": "be71 0961 2345 6769",
        "bic": "gkcc bebb",
        "email": "factures@comptaplus.be",
        "phone": "",
        "street": "Rue Haute 1",
        "postal_code": "1000",
        "city": "Bruxelles",
        "country": "be",
        "default_language": "fr",
    }
    data.update(overrides)
    return data


# --- login ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "clients:list",
        "firm:companies",
        "firm:settings",
        "firm:collaborators",
        "firm:company_create",
    ],
)
def test_pages_need_a_login(client: Browser, name: str) -> None:
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={url}"


def test_login_with_the_email_address_in_any_case(client: Browser) -> None:
    make_collaborator("anne@fidu.be")
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert "Adresse e-mail" in page.content.decode()

    response = client.post(LOGIN, {"username": "Anne@Fidu.be ", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("clients:list")
    assert client.get(reverse("clients:list")).status_code == 200


def test_wrong_password_says_so_and_keeps_the_address(client: Browser) -> None:
    make_collaborator("anne@fidu.be")
    response = client.post(LOGIN, {"username": "anne@fidu.be", "password": "nope"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "mot de passe" in html
    assert 'value="anne@fidu.be"' in html


@pytest.mark.parametrize(
    ("language", "expected", "wrong"),
    [
        (
            "fr",
            "Adresse e-mail ou mot de passe incorrect. Vérifiez les deux et réessayez.",
            ["un adresse", "Saisissez un"],
        ),
        (
            "nl",
            "E-mailadres of wachtwoord onjuist. Controleer beide en probeer opnieuw.",
            ["Voer een juiste", "adresse"],
        ),
        (
            "en",
            "Incorrect e-mail address or password. Check both and try again.",
            ["Please enter a correct", "adresse"],
        ),
    ],
)
def test_a_refused_login_reads_as_a_sentence_in_the_readers_language(
    client: Browser, language: str, expected: str, wrong: list[str]
) -> None:
    """Someone who mistyped their password reads a correct sentence, not Django's message
    assembled from the field's name ("Saisissez un adresse e-mail...")."""
    make_collaborator("anne@fidu.be")
    response = client.post(
        LOGIN,
        {"username": "anne@fidu.be", "password": "nope"},
        headers={"accept-language": language},
    )
    assert response.status_code == 200
    html = response.content.decode().replace("&#x27;", "'")
    assert expected in html
    for text in wrong:
        assert text not in html


def test_logout_is_a_post(client: Browser) -> None:
    client.force_login(make_collaborator())
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("clients:list")).status_code == 302


# --- roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["firm:companies", "firm:company_create", "firm:settings", "firm:collaborators"]
)
def test_a_collaborator_is_refused_the_admin_pages_with_a_clear_message(
    client: Browser, name: str
) -> None:
    client.force_login(make_collaborator())
    response = client.get(reverse(name))
    assert response.status_code == 403
    assert "réservée aux administrateurs du cabinet" in response.content.decode()


def test_a_collaborator_cannot_edit_a_company_by_post(client: Browser) -> None:
    company = make_company()
    client.force_login(make_collaborator())
    response = client.post(reverse("firm:company_edit", args=[company.pk]), company_data())
    assert response.status_code == 403
    company.refresh_from_db()
    assert company.name == "Fiduciaire Dubois"


def test_a_stale_form_says_so_in_french(client: Browser) -> None:
    """A login page left open while the user logged in from another tab: Django's CSRF check
    refuses it. The page explains what happened instead of Django's English technical page."""
    strict = Browser(enforce_csrf_checks=True)
    strict.get(LOGIN)  # the CSRF cookie of the page left open
    response = strict.post(LOGIN, {"username": "anne@fidu.be", "password": PASSWORD})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Page expirée" in html and "Le formulaire n'a pas été enregistré" in html
    assert "CSRF verification failed" not in html


def test_nav_shows_admin_links_to_admins_only(client: Browser) -> None:
    client.force_login(make_collaborator())
    html = client.get(reverse("clients:list")).content.decode()
    assert reverse("clients:list") in html
    assert reverse("firm:companies") not in html

    client.force_login(make_admin())
    html = client.get(reverse("clients:list")).content.decode()
    assert reverse("firm:companies") in html
    assert reverse("firm:settings") in html


def test_nav_links_the_demo_mailbox_only_in_the_demo(
    client: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.force_login(make_collaborator())
    monkeypatch.delenv("COURRIER_DEMO", raising=False)
    assert reverse("demo:mailbox") not in client.get(reverse("clients:list")).content.decode()
    monkeypatch.setenv("COURRIER_DEMO", "1")
    html = client.get(reverse("clients:list")).content.decode()
    assert f'href="{reverse("demo:mailbox")}"' in html and "Boîte de la démo" in html


def test_every_page_names_an_icon_that_exists(client: Browser) -> None:
    html = client.get(LOGIN).content.decode()
    icon = re.search(r'<link rel="icon" href="([^"]+)"', html)
    assert icon is not None
    path = icon.group(1).removeprefix(settings.STATIC_URL).removeprefix("/" + settings.STATIC_URL)
    assert finders.find(path), icon.group(1)


def test_can_manage_profile() -> None:
    anne = make_collaborator("anne@fidu.be")
    bob = make_collaborator("bob@fidu.be")
    boss = make_admin()
    profile = SendingProfile.objects.create(collaborator=anne, from_address="anne@fidu.be")
    company_profile = SendingProfile.objects.create(
        billing_company=make_company(), from_address="factures@fidu.be"
    )
    assert can_manage_profile(anne, profile)
    assert not can_manage_profile(bob, profile)
    assert not can_manage_profile(anne, company_profile)
    assert can_manage_profile(boss, profile)
    assert can_manage_profile(boss, company_profile)


# --- language -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["nl", "en", "fr"])
def test_pages_speak_the_collaborators_language(client: Browser, language: str) -> None:
    client.force_login(make_collaborator(language=language))
    html = client.get(reverse("clients:list")).content.decode()
    assert f'<html lang="{language}">' in html


# --- billing companies ----------------------------------------------------------------------


def test_admin_creates_a_company_with_normalised_numbers(client: Browser) -> None:
    client.force_login(make_admin())
    response = client.post(reverse("firm:company_create"), company_data())
    assert response.status_code == 302
    assert response["Location"] == reverse("firm:companies")
    company = BillingCompany.objects.get()
    assert company.code == "COMPTA"
    assert company.enterprise_number == "0417.497.106"
    assert company.vat_number == "BE0417497106"
    assert company.iban == "BE71 0961 2345 6769"
    assert company.bic == "GKCCBEBB"

    listing = client.get(reverse("firm:companies")).content.decode()
    assert "Compta Plus" in listing
    assert "a été créée" in listing


def test_invalid_numbers_show_french_field_errors_and_keep_what_was_typed(
    client: Browser,
) -> None:
    client.force_login(make_admin())
    response = client.post(
        reverse("firm:company_create"),
        company_data(enterprise_number="0417.497.107", iban="BE00 1234", name="Compta Plus"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "n&#x27;est pas un numéro d&#x27;entreprise belge valide" in html
    assert "n&#x27;est pas un IBAN valide" in html
    assert 'value="0417.497.107"' in html
    assert 'value="Compta Plus"' in html
    assert 'value="factures@comptaplus.be"' in html
    assert not BillingCompany.objects.exists()


def test_admin_edits_a_company(client: Browser) -> None:
    company = make_company()
    client.force_login(make_admin())
    page = client.get(reverse("firm:company_edit", args=[company.pk]))
    assert "Fiduciaire Dubois" in page.content.decode()
    response = client.post(
        reverse("firm:company_edit", args=[company.pk]),
        company_data(code="FIDU", name="Fiduciaire Dubois & fils", enterprise_number="0403170701"),
    )
    assert response.status_code == 302
    company.refresh_from_db()
    assert company.name == "Fiduciaire Dubois & fils"
    assert company.enterprise_number == "0403.170.701"


def test_duplicate_enterprise_number_is_a_field_error(client: Browser) -> None:
    make_company(enterprise_number="0417.497.106")
    client.force_login(make_admin())
    response = client.post(reverse("firm:company_create"), company_data())
    assert response.status_code == 200
    html = response.content.decode()
    assert "Une autre société facturante a déjà ce numéro d&#x27;entreprise." in html
    assert "Un objet" not in html
    assert BillingCompany.objects.count() == 1


def test_duplicate_code_is_a_field_error_in_words(client: Browser) -> None:
    make_company("COMPTA", enterprise_number="0403.170.701")
    client.force_login(make_admin())
    response = client.post(reverse("firm:company_create"), company_data(code="COMPTA"))
    assert response.status_code == 200
    assert "Une autre société facturante utilise déjà ce code." in response.content.decode()


def test_companies_show_the_state_of_their_sending_profile(client: Browser) -> None:
    broken = make_company("BROKEN", enterprise_number="0417.497.106")
    SendingProfile.objects.create(
        billing_company=broken,
        from_address="factures@broken.be",
        state=SendingProfile.State.BROKEN,
        state_reason="Identifiant refusé par le serveur.",
        smtp_password="s3cret-do-not-show",
    )
    unset = make_company("UNSET")
    client.force_login(make_admin(is_staff=True))
    listing = client.get(reverse("firm:companies")).content.decode()
    assert "à corriger" in listing and "non configuré" in listing
    page = client.get(reverse("firm:company_edit", args=[broken.pk])).content.decode()
    assert "à corriger" in page and "Identifiant refusé par le serveur." in page
    for html in (listing, page):
        assert "s3cret-do-not-show" not in html

    # Each company links to where its settings are edited: the mailing screens' page for it,
    # or, before that page exists, the technical administration.
    profile = SendingProfile.objects.get()
    try:
        broken_url = reverse("mailing:company_profile", args=[broken.pk])
        unset_url = reverse("mailing:company_profile", args=[unset.pk])
    except NoReverseMatch:
        broken_url = reverse("admin:mailing_sendingprofile_change", args=[profile.pk])
        unset_url = f"{reverse('admin:mailing_sendingprofile_add')}?billing_company={unset.pk}"
    assert f'href="{broken_url}"' in listing and f'href="{unset_url}"' in listing
    assert f'href="{broken_url}"' in page


def test_unknown_company_is_a_404(client: Browser) -> None:
    client.force_login(make_admin())
    assert client.get(reverse("firm:company_edit", args=[999])).status_code == 404


# --- firm settings and collaborators ------------------------------------------------------


def test_admin_edits_the_firm_settings(client: Browser) -> None:
    client.force_login(make_admin())
    response = client.post(
        reverse("firm:settings"),
        {
            "name": "Fiduciaire Dubois",
            "default_language": "nl",
            "fixed_bcc": "archive@fidu.be",
            "amount_format": "be",
        },
    )
    assert response.status_code == 302
    firm = Firm.load()
    assert (firm.name, firm.default_language, firm.fixed_bcc) == (
        "Fiduciaire Dubois",
        "nl",
        "archive@fidu.be",
    )
    # The firm name is in the top bar of every page.
    assert "Fiduciaire Dubois" in client.get(reverse("clients:list")).content.decode()


@pytest.mark.parametrize(
    ("language", "label", "help_text"),
    [
        ("fr", "Suivre l'ouverture des mails", "signalent quand un destinataire ouvre le mail"),
        ("nl", "Het openen van mails volgen", None),
        ("en", "Track mail opens", None),
    ],
)
def test_an_administrator_turns_open_tracking_on_and_off_from_the_settings_page(
    client: Browser, language: str, label: str, help_text: str | None
) -> None:
    """The README's "suivre l'ouverture des mails" is a box on the firm settings page, in the
    administrator's language."""
    client.force_login(make_admin(language=language))
    url = reverse("firm:settings")
    html = client.get(url).content.decode().replace("&#x27;", "'")
    box = re.search(r'<input type="checkbox" name="track_opens"[^>]*>', html)
    assert box and "checked" not in box.group(0)
    assert re.search(rf"<label[^>]*>{re.escape(label)}</label>", html)
    if help_text:
        assert help_text in html
    data = {
        "name": "Fiduciaire Dubois",
        "default_language": "fr",
        "fixed_bcc": "",
        "amount_format": "be",
    }

    assert client.post(url, {**data, "track_opens": "on"}).status_code == 302
    assert Firm.load().track_opens is True
    box = re.search(
        r'<input type="checkbox" name="track_opens"[^>]*>', client.get(url).content.decode()
    )
    assert box and "checked" in box.group(0)

    assert client.post(url, data).status_code == 302
    assert Firm.load().track_opens is False


def test_firm_settings_refuse_a_bad_bcc(client: Browser) -> None:
    client.force_login(make_admin())
    response = client.post(
        reverse("firm:settings"),
        {"name": "Fidu", "default_language": "fr", "fixed_bcc": "pas une adresse"},
    )
    assert response.status_code == 200
    assert "Saisissez une adresse de courriel valide" in response.content.decode()
    assert Firm.load().fixed_bcc == ""


def test_admin_changes_a_collaborators_role_and_language(client: Browser) -> None:
    anne = make_collaborator()
    client.force_login(make_admin())
    listing = client.get(reverse("firm:collaborators")).content.decode()
    assert "anne@fidu.be" in listing
    response = client.post(
        reverse("firm:collaborator_edit", args=[anne.pk]),
        {
            "first_name": "Anne",
            "last_name": "Martin",
            "role": "admin",
            "language": "nl",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    anne.refresh_from_db()
    assert anne.role == Collaborator.Role.ADMIN
    assert anne.language == "nl"


def test_collaborators_link_to_their_fiche_and_its_sending_profile(client: Browser) -> None:
    anne = make_collaborator()
    SendingProfile.objects.create(
        collaborator=anne, from_address=anne.email, state=SendingProfile.State.BROKEN
    )
    marc = make_collaborator("marc@fidu.be", first_name="Marc")
    client.force_login(make_admin())
    fiche = reverse("mailing:my_profile")
    listing = client.get(reverse("firm:collaborators")).content.decode()
    assert f"{fiche}?collaborator={anne.pk}" in listing
    assert f"{fiche}?collaborator={marc.pk}" in listing
    assert "à corriger" in listing and "non configuré" in listing
    page = client.get(reverse("firm:collaborator_edit", args=[anne.pk])).content.decode()
    assert f"{fiche}?collaborator={anne.pk}" in page


def test_an_admin_cannot_demote_themselves(client: Browser) -> None:
    boss = make_admin()
    client.force_login(boss)
    response = client.post(
        reverse("firm:collaborator_edit", args=[boss.pk]),
        {"first_name": "Luc", "last_name": "Dubois", "role": "collaborator", "language": "fr"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "propre rôle d&#x27;administrateur" in html
    assert "désactiver votre propre compte" in html
    boss.refresh_from_db()
    assert boss.role == Collaborator.Role.ADMIN and boss.is_active
