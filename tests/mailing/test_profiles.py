"""Which profile sends, and the settings pages of both levels: Ma fiche and a billing company's.

The settings form shows and keeps only the chosen method's fields; secrets are write-only;
the page says what state the profile is in and how many messages wait for it.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.mailing import services
from courrier.mailing.context_processors import alerts_for
from courrier.mailing.exceptions import ConfigurationError, ProfileMissing
from courrier.mailing.models import OutboundMessage, ProfileTest, SendingProfile
from courrier.mailing.services import Draft, message_bytes
from courrier.mailing.services.profiles import profile_for
from tests.fakes.smtp import FakeSMTPServer

MY_PROFILE = reverse("mailing:my_profile")
HTMX = {"HX-Request": "true"}
OAUTH_CONFIGURED = {
    "GOOGLE_CLIENT_ID": "cabinet.apps.googleusercontent.test",
    "GOOGLE_CLIENT_SECRET": "google-client-secret",
    "MICROSOFT_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
    "MICROSOFT_CLIENT_SECRET": "microsoft-client-secret",
}
SECRETS = {
    "smtp_password": "smtp-Secret-1",
    "imap_password": "imap-Secret-2",
    "api_key": "SG.api-Secret-3",
    "aws_secret_access_key": "aws-Secret-4",
    "webhook_secret": "webhook-Secret-5",
    "oauth_refresh_token": "refresh-Secret-6",
    "oauth_access_token": "access-Secret-7",
    "oauth_token_cache": '{"cache": "Secret-8"}',
}


def login(user: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


def text_of(response: Any) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def group_tag(response: Any, key: str) -> str:
    """The opening tag of one method-dependent part of the settings form."""
    match = re.search(rf'<fieldset[^>]*data-group="{key}"[^>]*>', response.content.decode())
    assert match, key
    return match.group(0)


def shown(response: Any, key: str) -> bool:
    return " hidden" not in group_tag(response, key)


def make_client(**extra: Any) -> Client:
    fields: dict[str, Any] = {"number": "C0007", "name": "Garage Lambert", "language": "fr"}
    fields.update(extra)
    client = Client.objects.create(**fields)
    ClientEmail.objects.create(client=client, address="compta@garage-lambert.be")
    return client


def smtp_profile(collaborator: Collaborator, **extra: Any) -> SendingProfile:
    fields: dict[str, Any] = {
        "smtp_host": "smtp.fidu.be",
        "smtp_port": 587,
        "smtp_security": SendingProfile.Security.STARTTLS,
        "smtp_username": collaborator.email,
        "smtp_password": SECRETS["smtp_password"],
        "from_name": str(collaborator),
        "from_address": collaborator.email,
    }
    fields.update(extra)
    return SendingProfile.objects.create(collaborator=collaborator, **fields)


def profile_post(**values: str) -> dict[str, str]:
    data = {
        "save_profile": "1",
        "profile-method": "smtp",
        "profile-from_name": "Anne Martin",
        "profile-from_address": "anne@fidu.be",
        "profile-reply_to": "",
    }
    data.update({f"profile-{key}": value for key, value in values.items()})
    return data


@pytest.fixture
def anne(db: None) -> Collaborator:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    return Collaborator.objects.create_user(
        "anne@fidu.be", "pw-anne-1234", first_name="Anne", last_name="Martin"
    )


@pytest.fixture
def boss(db: None) -> Collaborator:
    return Collaborator.objects.create_user(
        "chef@fidu.be",
        "pw-chef-1234",
        first_name="Claire",
        last_name="Chef",
        role=Collaborator.Role.ADMIN,
    )


@pytest.fixture
def company(db: None) -> BillingCompany:
    return BillingCompany.objects.create(
        code="FIDU",
        name="Fiduciaire Martin",
        legal_form="SRL",
        enterprise_number="0403.170.701",
        email="factures@fidu-martin.be",
    )


@pytest.fixture
def oauth_configured(settings: Any) -> None:
    settings.OAUTH = {**settings.OAUTH, **OAUTH_CONFIGURED}


@pytest.fixture
def oauth_missing(settings: Any) -> None:
    settings.OAUTH = {
        **settings.OAUTH,
        "GOOGLE_CLIENT_ID": "",
        "GOOGLE_CLIENT_SECRET": "",
        "MICROSOFT_CLIENT_ID": "",
        "MICROSOFT_CLIENT_SECRET": "",
    }


def company_profile(company: BillingCompany, **extra: Any) -> SendingProfile:
    fields: dict[str, Any] = {
        "billing_company": company,
        "smtp_host": "smtp.fidu-martin.be",
        "smtp_port": 587,
        "from_name": "Fiduciaire Martin — facturation",
        "from_address": "factures@fidu-martin.be",
    }
    fields.update(extra)
    return SendingProfile.objects.create(**fields)


# --- Which profile sends ---------------------------------------------------------------------


def test_the_billing_companys_profile_sends_a_mail_about_an_invoice(
    anne: Collaborator, company: BillingCompany
) -> None:
    smtp_profile(anne)
    company_profile(company)

    message = services.message_compose(
        sender=anne,
        client=make_client(),
        billing_company=company,
        draft=Draft(subject="Votre facture", body="Bonjour {NOMCLIENT}"),
    )

    assert message.profile.billing_company == company
    assert message.from_address == "factures@fidu-martin.be"
    assert b"factures@fidu-martin.be" in message_bytes(message)
    assert b"anne@fidu.be" not in message_bytes(message).split(b"\r\n\r\n")[0]
    assert message.sender == anne  # the person who sent it is still known
    preview = services.message_preview(
        sender=anne,
        client=make_client(number="C0008"),
        billing_company=company,
        draft=Draft(subject="S", body="B"),
    )
    assert "factures@fidu-martin.be" in preview.from_header


def test_without_the_companys_profile_nothing_is_queued_and_the_company_is_named(
    anne: Collaborator, company: BillingCompany
) -> None:
    smtp_profile(anne)  # the sender has one: it is not used instead

    with pytest.raises(ProfileMissing, match="Fiduciaire Martin SRL"):
        services.message_compose(
            sender=anne,
            client=make_client(),
            billing_company=company,
            draft=Draft(subject="Votre facture", body="Bonjour"),
        )
    with pytest.raises(ProfileMissing, match="Fiduciaire Martin SRL"):
        services.message_preview(
            sender=anne,
            client=make_client(number="C0009"),
            billing_company=company,
            draft=Draft(subject="S", body="B"),
        )

    assert OutboundMessage.objects.count() == 0


def test_a_one_off_mail_never_falls_back_to_the_companys_profile(
    anne: Collaborator, company: BillingCompany
) -> None:
    company_profile(company)

    with pytest.raises(ProfileMissing, match="Ma fiche"):
        services.message_compose(
            sender=anne, client=make_client(), draft=Draft(subject="S", body="B")
        )

    assert OutboundMessage.objects.count() == 0


def test_profile_for_returns_the_owners_row(anne: Collaborator, company: BillingCompany) -> None:
    own = smtp_profile(anne)
    theirs = company_profile(company)

    assert profile_for(sender=anne) == own
    assert profile_for(sender=anne, billing_company=company) == theirs


def test_a_company_profile_to_reconnect_is_refused_before_anything_is_queued(
    anne: Collaborator, company: BillingCompany
) -> None:
    company_profile(
        company,
        state=SendingProfile.State.RECONNECT,
        state_reason="Google a retiré l'accès.",
    )

    with pytest.raises(ConfigurationError, match="reconnecter") as caught:
        services.message_compose(
            sender=anne,
            client=make_client(),
            billing_company=company,
            draft=Draft(subject="S", body="B"),
        )

    assert "Sociétés facturantes" in str(caught.value)
    assert OutboundMessage.objects.count() == 0


def test_an_unconnected_gmail_profile_is_refused_at_compose(
    anne: Collaborator, oauth_configured: None
) -> None:
    SendingProfile.objects.create(collaborator=anne, method="gmail", from_address="anne@fidu.be")

    with pytest.raises(ConfigurationError, match="pas connectée"):
        services.message_compose(
            sender=anne, client=make_client(), draft=Draft(subject="S", body="B")
        )
    assert OutboundMessage.objects.count() == 0


# --- The settings form: only the chosen method -----------------------------------------------


def test_an_smtp_profile_shows_the_smtp_fields_and_hides_the_others(anne: Collaborator) -> None:
    smtp_profile(anne)

    response = login(anne).get(MY_PROFILE)

    assert response.status_code == 200
    assert shown(response, "smtp") and shown(response, "imap")
    for key in ("oauth", "api_key", "sendgrid", "mailgun", "ses", "webhook"):
        assert not shown(response, key), key
    # Without JavaScript every part shows again (the server keeps only the chosen method's).
    assert "<noscript>" in response.content.decode()
    assert "courrier/profile.js" in response.content.decode()


def test_switching_from_smtp_to_sendgrid_needs_no_smtp_field_and_keeps_them(
    anne: Collaborator,
) -> None:
    profile = smtp_profile(anne)
    browser = login(anne)

    # The browser hid the SMTP fields: they are not sent at all.
    response = browser.post(MY_PROFILE, profile_post(method="sendgrid", api_key="SG.new-key"))

    assert response.status_code == 302, text_of(response)
    profile.refresh_from_db()
    assert profile.method == "sendgrid"
    assert profile.api_key == "SG.new-key"
    # The SMTP settings were not erased: switching back needs no retyping.
    assert profile.smtp_host == "smtp.fidu.be"
    assert profile.smtp_password == SECRETS["smtp_password"]
    assert profile.webhook_token  # the provider needs its address from now on
    page = browser.get(MY_PROFILE)
    assert shown(page, "api_key") and shown(page, "sendgrid") and shown(page, "webhook")
    assert not shown(page, "smtp")


def test_other_methods_input_is_ignored_even_when_it_is_wrong(anne: Collaborator) -> None:
    profile = smtp_profile(anne)

    response = login(anne).post(
        MY_PROFILE,
        profile_post(
            method="sendgrid",
            api_key="SG.key",
            smtp_host="bad host\r\nname",
            smtp_port="99999",
            password="typed-but-ignored",
        ),
    )

    assert response.status_code == 302, text_of(response)
    profile.refresh_from_db()
    assert profile.smtp_host == "smtp.fidu.be"
    assert profile.smtp_port == 587
    assert profile.smtp_password == SECRETS["smtp_password"]


def test_sendgrid_needs_its_api_key_and_smtp_needs_its_host(anne: Collaborator) -> None:
    browser = login(anne)

    response = browser.post(MY_PROFILE, profile_post(method="sendgrid"))
    assert response.status_code == 200
    assert "Saisissez la clé d'API" in text_of(response)

    response = browser.post(MY_PROFILE, profile_post(method="smtp", smtp_port="587"))
    assert response.status_code == 200
    assert "obligatoire pour cette méthode" in text_of(response)
    assert not SendingProfile.objects.exists()


def test_a_stored_api_key_is_kept_when_the_input_is_empty_and_cleared_with_the_box(
    anne: Collaborator,
) -> None:
    profile = smtp_profile(anne, method="sendgrid", api_key="SG.stored")
    browser = login(anne)

    assert browser.post(MY_PROFILE, profile_post(method="sendgrid")).status_code == 302
    profile.refresh_from_db()
    assert profile.api_key == "SG.stored"

    response = browser.post(MY_PROFILE, profile_post(method="sendgrid", clear_api_key="on"))
    assert response.status_code == 200  # a SendGrid profile cannot be left without a key
    assert "Saisissez la clé d'API" in text_of(response)

    browser.post(MY_PROFILE, profile_post(method="brevo", api_key="xkeysib-new"))
    profile.refresh_from_db()
    assert (profile.method, profile.api_key) == ("brevo", "xkeysib-new")


def test_no_secret_is_ever_sent_back_to_the_browser(
    anne: Collaborator, boss: Collaborator, company: BillingCompany
) -> None:
    company_profile(company, **SECRETS)
    for method in ("smtp", "gmail", "sendgrid", "ses"):
        SendingProfile.objects.filter(collaborator=anne).delete()
        SendingProfile.objects.create(
            collaborator=anne,
            method=method,
            smtp_host="smtp.fidu.be",
            imap_enabled=True,
            imap_host="imap.fidu.be",
            imap_username="anne@fidu.be",
            oauth_provider="google",
            oauth_account="anne@fidu.be",
            aws_access_key_id="AKIAEXAMPLE",
            from_address="anne@fidu.be",
            **SECRETS,
        )
        pages = [
            login(anne).get(MY_PROFILE),
            login(boss).get(f"{MY_PROFILE}?collaborator={anne.pk}"),
        ]
        pages.append(login(boss).get(reverse("mailing:company_profile", args=[company.pk])))
        for page in pages:
            html = page.content.decode()
            assert page.status_code == 200
            for name, secret in SECRETS.items():
                assert secret not in html, (method, name)
            assert "fernet:" not in html
            assert not re.search(r'type="password"[^>]*value="[^"]', html)


def test_ses_needs_its_keys_and_mailgun_its_domain_and_region(anne: Collaborator) -> None:
    browser = login(anne)

    response = browser.post(MY_PROFILE, profile_post(method="ses", aws_region="eu-west-1"))
    assert response.status_code == 200
    page = text_of(response)
    assert "obligatoire pour cette méthode" in page and "Saisissez la clé secrète AWS" in page

    response = browser.post(
        MY_PROFILE,
        profile_post(
            method="ses",
            aws_access_key_id="AKIAEXAMPLE",
            aws_secret_access_key="wJalr-secret",
            aws_region="eu-central-1",
        ),
    )
    assert response.status_code == 302
    profile = SendingProfile.objects.get(collaborator=anne)
    assert (profile.aws_access_key_id, profile.aws_region) == ("AKIAEXAMPLE", "eu-central-1")
    assert profile.aws_secret_access_key == "wJalr-secret"

    response = browser.post(
        MY_PROFILE,
        profile_post(
            method="mailgun", api_key="key-1", mailgun_domain="MG.Fidu.be", mailgun_eu="on"
        ),
    )
    assert response.status_code == 302
    profile.refresh_from_db()
    assert (profile.mailgun_domain, profile.api_region) == ("mg.fidu.be", "eu")
    # The SES keys stay for a switch back.
    assert profile.aws_secret_access_key == "wJalr-secret"


def test_the_imap_copy_asks_for_its_server(anne: Collaborator) -> None:
    smtp_profile(anne)
    base = {"smtp_host": "smtp.fidu.be", "smtp_port": "587", "smtp_security": "starttls"}
    browser = login(anne)

    response = browser.post(MY_PROFILE, profile_post(**base, imap_enabled="on", imap_port="993"))
    assert response.status_code == 200
    assert "obligatoire pour cette méthode" in text_of(response)

    response = browser.post(
        MY_PROFILE,
        profile_post(
            **base,
            imap_enabled="on",
            imap_host="imap.fidu.be",
            imap_port="993",
            imap_security="ssl",
            imap_sent_folder="Éléments envoyés",
        ),
    )
    assert response.status_code == 302
    profile = SendingProfile.objects.get(collaborator=anne)
    assert profile.imap_enabled and profile.imap_host == "imap.fidu.be"
    assert profile.imap_sent_folder == "Éléments envoyés"


# --- Simultaneous connections --------------------------------------------------------------


def test_a_collaborator_sets_the_simultaneous_connections_within_1_to_16(
    anne: Collaborator,
) -> None:
    """The README's "connexions simultanées": on the profile page, bounded to what delivery
    takes (1 to 16), with a help text that says what it does; out of bounds, a clear message."""
    profile = smtp_profile(anne)
    browser = login(anne)
    page = browser.get(MY_PROFILE)
    html = page.content.decode()
    field = re.search(r'<input type="number" name="profile-max_connections"[^>]*>', html)
    assert field, "no simultaneous connections field"
    assert 'min="1"' in field.group(0) and 'max="16"' in field.group(0)
    assert 'value="1"' in field.group(0)
    text = text_of(page)
    assert "Connexions simultanées" in text
    assert "De 1 à 16 : le nombre de mails d'un envoi en nombre qui partent en même temps" in text

    for wrong in ("0", "17", "beaucoup"):
        response = browser.post(MY_PROFILE, profile_post(max_connections=wrong))
        assert response.status_code == 200
        assert "Saisissez un nombre entier de 1 à 16." in text_of(response)
        profile.refresh_from_db()
        assert profile.max_connections == 1

    smtp = {"smtp_host": "smtp.fidu.be", "smtp_port": "587"}
    response = browser.post(MY_PROFILE, profile_post(max_connections="4", **smtp))
    assert response.status_code == 302, text_of(response)
    profile.refresh_from_db()
    assert profile.max_connections == 4
    # Left empty, what is stored stays.
    assert browser.post(MY_PROFILE, profile_post(**smtp)).status_code == 302
    profile.refresh_from_db()
    assert profile.max_connections == 4


def test_an_english_speaking_administrator_reads_the_connections_field_on_a_companys_page(
    boss: Collaborator, company: BillingCompany
) -> None:
    Collaborator.objects.filter(pk=boss.pk).update(language="en")
    company_profile(company, max_connections=3)
    page = login(boss).get(reverse("mailing:company_profile", args=[company.pk]))
    text = text_of(page)
    assert "Simultaneous connections" in text
    assert "From 1 to 16: how many mails of a bulk sending leave at the same time" in text
    assert re.search(r'name="profile-max_connections"[^>]*value="3"', page.content.decode())


# --- Gmail and Microsoft 365 -----------------------------------------------------------------


def test_without_the_firms_oauth_application_gmail_is_explained_not_broken(
    anne: Collaborator, oauth_missing: None
) -> None:
    """A collaborator is told in plain words to ask the firm's administrator: no environment
    variable, no README."""
    browser = login(anne)

    page = browser.get(MY_PROFILE)
    assert page.status_code == 200
    text = text_of(page)
    assert "à configurer par l'administrateur du cabinet" in text
    assert (
        "L'envoi par Gmail n'est pas encore activé pour le cabinet : demandez à "
        "l'administrateur du cabinet de l'activer." in text
    )
    assert (
        "L'envoi par Microsoft 365 n'est pas encore activé pour le cabinet : demandez à "
        "l'administrateur du cabinet de l'activer." in text
    )
    assert "COURRIER_" not in page.content.decode() and "README" not in text

    response = browser.post(MY_PROFILE, profile_post(method="gmail"))
    assert response.status_code == 200
    text = text_of(response)
    assert "demandez à l'administrateur du cabinet de l'activer" in text
    assert "COURRIER_" not in response.content.decode() and "README" not in text
    assert not SendingProfile.objects.exists()


def test_an_english_speaking_collaborator_is_told_to_ask_the_administrator(
    anne: Collaborator, oauth_missing: None
) -> None:
    Collaborator.objects.filter(pk=anne.pk).update(language="en")
    browser = login(anne)
    page = browser.get(MY_PROFILE)
    text = text_of(page)
    assert (
        "Sending through Gmail is not enabled for the firm yet: ask the firm's administrator "
        "to enable it." in text
    )
    assert "COURRIER_" not in page.content.decode()
    response = browser.post(MY_PROFILE, profile_post(method="microsoft"))
    assert response.status_code == 200
    text = text_of(response)
    assert "ask the firm's administrator to enable it" in text
    assert "COURRIER_" not in response.content.decode()


def test_only_administrators_are_told_which_settings_enable_gmail_and_microsoft_365(
    boss: Collaborator, anne: Collaborator, oauth_missing: None
) -> None:
    """The one who sets the installation up reads the environment variables to fill in, on
    their own page and on a colleague's as on a billing company's."""
    browser = login(boss)
    page = text_of(browser.get(MY_PROFILE))
    for name in (
        "COURRIER_GOOGLE_CLIENT_ID",
        "COURRIER_GOOGLE_CLIENT_SECRET",
        "COURRIER_MICROSOFT_CLIENT_ID",
        "COURRIER_MICROSOFT_CLIENT_SECRET",
    ):
        assert name in page
    assert "demandez à l'administrateur" not in page

    response = browser.post(MY_PROFILE, profile_post(method="gmail"))
    assert response.status_code == 200
    assert "COURRIER_GOOGLE_CLIENT_ID" in text_of(response)
    assert not SendingProfile.objects.exists()

    # A collaborator's page on the same installation does not name them; once technical staff
    # (the Django admin's people), they are told as well.
    assert "COURRIER_" not in login(anne).get(MY_PROFILE).content.decode()
    Collaborator.objects.filter(pk=anne.pk).update(is_staff=True)
    anne.refresh_from_db()
    assert "COURRIER_MICROSOFT_CLIENT_ID" in text_of(login(anne).get(MY_PROFILE))


def test_a_gmail_profile_offers_the_connect_button_then_shows_the_account(
    anne: Collaborator, oauth_configured: None
) -> None:
    browser = login(anne)
    assert browser.post(MY_PROFILE, profile_post(method="gmail")).status_code == 302
    profile = SendingProfile.objects.get(collaborator=anne)

    page = browser.get(MY_PROFILE)
    html = page.content.decode()
    assert shown(page, "oauth")
    assert "Connecter mon Gmail" in text_of(page)
    connect = reverse("mailing:oauth_connect", args=[profile.pk])
    assert re.search(rf'<form id="oauth-connect" method="post" action="{connect}"', html)
    assert "n'est pas connectée" in text_of(page)

    SendingProfile.objects.filter(pk=profile.pk).update(
        oauth_provider="google",
        oauth_account="anne.martin@gmail.com",
        oauth_refresh_token="refresh-token",
        oauth_connected_at=timezone.now(),
    )
    page = browser.get(MY_PROFILE)
    assert "anne.martin@gmail.com" in text_of(page)
    assert "Déconnecter" in text_of(page)
    assert reverse("mailing:oauth_disconnect", args=[profile.pk]) in page.content.decode()
    assert "refresh-token" not in page.content.decode()


def test_the_shared_mailbox_is_offered_on_a_company_only(
    anne: Collaborator, boss: Collaborator, company: BillingCompany, oauth_configured: None
) -> None:
    assert 'name="profile-microsoft_mailbox"' not in login(anne).get(MY_PROFILE).content.decode()
    url = reverse("mailing:company_profile", args=[company.pk])

    response = login(boss).post(
        url,
        {
            **profile_post(method="microsoft", microsoft_mailbox="facturation@fidu-martin.be"),
            "profile-from_address": "facturation@fidu-martin.be",
        },
    )

    assert response.status_code == 302
    profile = SendingProfile.objects.get(billing_company=company)
    assert profile.microsoft_mailbox == "facturation@fidu-martin.be"
    assert "Connecter la boîte Microsoft 365" in text_of(login(boss).get(url))


# --- The webhook ---------------------------------------------------------------------------


def test_the_webhook_address_is_the_profiles_own_and_needs_a_public_url(
    anne: Collaborator, settings: Any
) -> None:
    profile = smtp_profile(anne, method="sendgrid", api_key="SG.key")
    settings.PUBLIC_URL = ""
    browser = login(anne)

    page = text_of(browser.get(MY_PROFILE))
    assert "COURRIER_PUBLIC_URL" in page

    settings.PUBLIC_URL = "https://courrier.fidu-martin.be"
    response = browser.get(MY_PROFILE)
    profile.refresh_from_db()
    assert profile.webhook_token
    address = f"https://courrier.fidu-martin.be/courrier/webhooks/{profile.webhook_token}/"
    assert f'value="{address}"' in response.content.decode()
    assert "Verification Key" in text_of(response)
    assert "COURRIER_PUBLIC_URL" not in text_of(response)


# --- Admins only for a billing company ----------------------------------------------------------


def test_the_company_page_is_for_administrators(
    anne: Collaborator, boss: Collaborator, company: BillingCompany
) -> None:
    url = reverse("mailing:company_profile", args=[company.pk])

    assert login(anne).get(url).status_code == 403
    assert login(anne).post(url, profile_post(smtp_host="x", smtp_port="25")).status_code == 403
    assert (
        login(anne)
        .post(reverse("mailing:profile_test"), {"company": company.pk}, headers=HTMX)
        .status_code
        == 403
    )
    assert Browser().get(url).status_code == 302  # to the login page
    assert login(boss).get(reverse("mailing:company_profile", args=[999999])).status_code == 404
    assert not SendingProfile.objects.exists()


def test_an_administrator_sets_up_a_companys_profile(
    boss: Collaborator, company: BillingCompany
) -> None:
    url = reverse("mailing:company_profile", args=[company.pk])
    browser = login(boss)
    page = browser.get(url)
    assert page.status_code == 200
    assert "factures@fidu-martin.be" in page.content.decode()  # the company's address proposed

    response = browser.post(
        url,
        {
            **profile_post(
                smtp_host="smtp.fidu-martin.be",
                smtp_port="587",
                smtp_security="starttls",
                smtp_auth="password",
                smtp_username="factures@fidu-martin.be",
                password="company-Secret",
            ),
            "profile-from_address": "factures@fidu-martin.be",
            "profile-from_name": "Fiduciaire Martin",
        },
        follow=True,
    )

    assert "Le paramétrage d'envoi est enregistré" in text_of(response)
    profile = SendingProfile.objects.get(billing_company=company)
    assert profile.collaborator is None
    assert profile.smtp_password == "company-Secret"


def test_a_companys_connection_test_goes_through_its_own_profile(
    boss: Collaborator, company: BillingCompany, smtp_server: FakeSMTPServer
) -> None:
    profile = company_profile(
        company,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=SendingProfile.Security.NONE,
    )

    response = login(boss).post(
        reverse("mailing:profile_test"), {"company": company.pk}, headers=HTMX
    )

    assert response.status_code == 200
    assert "Message de test envoyé à chef@fidu.be" in text_of(response)
    [received] = smtp_server.messages
    assert received.mail_from == "factures@fidu-martin.be"
    assert ProfileTest.objects.get().profile == profile


# --- The state: broken, to reconnect, held messages -------------------------------------------


def held_message(profile: SendingProfile, sender: Collaborator) -> OutboundMessage:
    message = services.message_compose(
        sender=sender,
        client=make_client(number=f"C{OutboundMessage.objects.count() + 100}"),
        draft=Draft(subject="Bonjour", body="Bonjour {NOMCLIENT}"),
    )
    OutboundMessage.objects.filter(pk=message.pk).update(status=OutboundMessage.Status.HELD)
    return message


def test_a_profile_to_reconnect_says_why_and_how_many_messages_wait(
    anne: Collaborator, oauth_configured: None
) -> None:
    profile = smtp_profile(anne)
    held_message(profile, anne)
    held_message(profile, anne)
    SendingProfile.objects.filter(pk=profile.pk).update(
        method="gmail",
        oauth_provider="google",
        oauth_refresh_token="revoked",
        state=SendingProfile.State.RECONNECT,
        state_reason="Google a retiré l'accès à la boîte.",
    )

    page = text_of(login(anne).get(MY_PROFILE))

    assert "Boîte mail à reconnecter" in page
    assert "Google a retiré l'accès à la boîte." in page
    assert "2 messages attendent" in page


def test_saving_other_settings_does_not_pretend_a_mailbox_is_reconnected(
    anne: Collaborator, oauth_configured: None
) -> None:
    profile = SendingProfile.objects.create(
        collaborator=anne,
        method="gmail",
        oauth_provider="google",
        oauth_refresh_token="revoked",
        from_address="anne@fidu.be",
        state=SendingProfile.State.RECONNECT,
        state_reason="Accès retiré.",
    )

    login(anne).post(MY_PROFILE, profile_post(method="gmail", from_name="Anne M."))

    profile.refresh_from_db()
    assert profile.from_name == "Anne M."
    assert profile.state == SendingProfile.State.RECONNECT


def test_the_banner_of_every_page_names_the_profiles_the_user_answers_for(
    anne: Collaborator, boss: Collaborator, company: BillingCompany
) -> None:
    own = smtp_profile(anne)
    held_message(own, anne)
    SendingProfile.objects.filter(pk=own.pk).update(
        state=SendingProfile.State.BROKEN, state_reason="Mot de passe refusé."
    )
    company_profile(
        company, state=SendingProfile.State.RECONNECT, state_reason="Consentement expiré."
    )

    [alert] = alerts_for(anne)
    assert (alert.state, alert.reason, alert.held, alert.company) == (
        "broken",
        "Mot de passe refusé.",
        1,
        "",
    )
    assert alert.url == MY_PROFILE + "#sending-profile"
    [company_alert] = alerts_for(boss)  # the admin's own profile is fine; the company's is not
    assert company_alert.company == "Fiduciaire Martin"
    assert company_alert.url.startswith(reverse("mailing:company_profile", args=[company.pk]))


def test_the_banner_snippet_renders_the_alert(anne: Collaborator, rf: Any) -> None:
    from django.template.loader import render_to_string

    from courrier.mailing.context_processors import profile_alert

    profile = smtp_profile(anne)
    SendingProfile.objects.filter(pk=profile.pk).update(
        state=SendingProfile.State.RECONNECT, state_reason="Accès retiré par Microsoft."
    )
    request = rf.get(reverse("clients:list"))
    request.user = anne
    request.resolver_match = None

    html = render_to_string(
        "mailing/_profile_alert.html", {**profile_alert(request), "request": request}
    )

    assert "Votre boîte mail est à reconnecter." in html
    assert "Accès retiré par Microsoft." in html
    assert f'href="{MY_PROFILE}#sending-profile"' in html


def test_the_connection_test_explains_an_unconnected_mailbox(
    anne: Collaborator, oauth_configured: None
) -> None:
    SendingProfile.objects.create(collaborator=anne, method="gmail", from_address="anne@fidu.be")

    response = login(anne).post(reverse("mailing:profile_test"), headers=HTMX)

    assert response.status_code == 200
    page = text_of(response)
    assert "Le test a échoué" in page and "n'est pas connectée" in page
    assert ProfileTest.objects.get().success is False


def test_a_gmail_password_refused_by_smtp_gets_the_app_password_hint(
    anne: Collaborator, settings: Any
) -> None:
    # Nothing listens there: the test fails, and the hint names what Gmail needs.
    settings.COURRIER = {**settings.COURRIER, "TEST_PORTS": [1]}
    smtp_profile(anne, smtp_host="smtp.gmail.com", smtp_port=1, smtp_security="none")

    response = login(anne).post(reverse("mailing:profile_test"), headers=HTMX)

    assert "mot de passe d'application" in text_of(response)
    assert ProfileTest.objects.get().success is False


def test_the_imap_copy_is_tested_with_the_connection(
    anne: Collaborator, smtp_server: FakeSMTPServer, settings: Any
) -> None:
    settings.COURRIER = {**settings.COURRIER, "TEST_PORTS": [smtp_server.port, 1]}
    smtp_profile(
        anne,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        smtp_username="",
        imap_enabled=True,
        imap_host="127.0.0.1",
        imap_port=1,  # nothing listens: the IMAP part fails, the SMTP part succeeds
        imap_security="none",
        imap_username="anne@fidu.be",
        imap_password="imap-pw",
    )

    response = login(anne).post(reverse("mailing:profile_test"), headers=HTMX)

    page = text_of(response)
    assert "Message de test envoyé à anne@fidu.be" in page
    assert "Copie dans « Éléments envoyés » (IMAP) : le test a échoué" in page
