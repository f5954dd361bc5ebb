"""Warnings about a profile that works today but is likely to let the firm down."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.firm.models import BillingCompany, Collaborator
from courrier.mailing.advice import ISP_RELAYS, failure_hint, profile_advice
from courrier.mailing.models import SendingProfile


def text_of(response: Any) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def profile(**fields: Any) -> SendingProfile:
    """An unsaved profile: advice reads plain fields only."""
    values: dict[str, Any] = {
        "method": "smtp",
        "smtp_host": "smtp.fidu.be",
        "smtp_port": 587,
        "smtp_security": "starttls",
        "smtp_username": "anne@fidu.be",
        "from_address": "anne@fidu.be",
    }
    values.update(fields)
    return SendingProfile(**values)


def messages(advice: list[Any], level: str | None = None) -> str:
    return " | ".join(str(item.message) for item in advice if level in (None, item.level))


def test_a_good_profile_gets_no_advice() -> None:
    assert profile_advice(profile()) == []


@pytest.mark.parametrize(
    "host",
    ["relay.skynet.be", "smtp.voo.be", "smtp.proximus.be", "SMTP.Telenet.be", "out.telenet.be"],
)
def test_an_internet_providers_relay_is_called_unreliable(host: str) -> None:
    advice = profile_advice(profile(smtp_host=host, smtp_port=25, smtp_username=""))

    assert advice[0].level == "warning"
    assert host.lower() in advice[0].message
    assert "fournisseur d'accès" in advice[0].message
    # The port 25 advice is for other servers: a relay's own warning says it all.
    assert "Le port 25" not in messages(advice)


def test_the_relay_list_is_lower_case_host_names() -> None:
    assert all(host == host.lower().strip() and "." in host for host in ISP_RELAYS)


@pytest.mark.parametrize(
    "address", ["facturation@gmail.com", "fidu@hotmail.be", "info@skynet.be", "x@telenet.be"]
)
def test_a_free_mail_sender_on_a_billing_company_is_advised_the_firms_domain(address: str) -> None:
    company = BillingCompany(pk=1, code="FIDU", name="Fidu")

    advice = profile_advice(
        profile(billing_company=company, from_address=address, smtp_username=address)
    )

    warning = messages(advice, "warning")
    assert address in warning and "domaine du cabinet" in warning


def test_a_free_mail_sender_on_a_collaborator_is_not_flagged() -> None:
    advice = profile_advice(profile(from_address="anne@gmail.com", smtp_username="anne@gmail.com"))

    assert "domaine du cabinet" not in messages(advice)


def test_gmail_smtp_rewrites_a_sender_outside_the_accounts_domain() -> None:
    advice = profile_advice(
        profile(smtp_host="smtp.gmail.com", smtp_username="fidu@gmail.com", smtp_auth="password")
    )

    warning = messages(advice, "warning")
    assert "Gmail le remplacera par fidu@gmail.com" in warning
    assert "mot de passe d'application" in messages(advice, "info")


def test_microsoft_smtp_with_a_password_is_told_it_is_being_switched_off() -> None:
    advice = profile_advice(profile(smtp_host="smtp.office365.com", smtp_username="anne@fidu.be"))

    assert "Microsoft supprime l'envoi SMTP avec mot de passe" in messages(advice, "warning")


def test_a_connected_gmail_account_that_is_not_the_sender_is_a_warning() -> None:
    advice = profile_advice(
        profile(method="gmail", oauth_account="cabinet@gmail.com", from_address="anne@fidu.be")
    )

    assert "Gmail le remplacera par cabinet@gmail.com" in messages(advice, "warning")
    assert (
        profile_advice(
            profile(method="gmail", oauth_account="Anne@Fidu.be", from_address="anne@fidu.be")
        )
        == []
    )


def test_microsoft_refuses_a_sender_that_is_not_the_shared_mailbox() -> None:
    advice = profile_advice(
        profile(
            method="microsoft",
            oauth_account="admin@fidu.be",
            microsoft_mailbox="factures@fidu.be",
            from_address="compta@fidu.be",
        )
    )

    warning = messages(advice, "warning")
    assert "Microsoft 365 refusera" in warning and "factures@fidu.be" in warning
    assert (
        profile_advice(
            profile(
                method="microsoft",
                oauth_account="admin@fidu.be",
                microsoft_mailbox="factures@fidu.be",
                from_address="factures@fidu.be",
            )
        )
        == []
    )


def test_providers_need_a_verified_domain() -> None:
    advice = profile_advice(profile(method="sendgrid", from_address="factures@fidu.be"))
    assert "fidu.be" in messages(advice, "info") and "SendGrid" in messages(advice)

    mailgun = profile_advice(
        profile(method="mailgun", mailgun_domain="mg.autre.be", from_address="factures@fidu.be")
    )
    assert "mg.autre.be" in messages(mailgun, "warning")
    assert (
        profile_advice(
            profile(method="mailgun", mailgun_domain="mg.fidu.be", from_address="x@mg.fidu.be")
        )
        == []
    )


def test_login_in_clear_is_a_warning() -> None:
    advice = profile_advice(profile(smtp_security="none"))

    assert "en clair" in messages(advice, "warning")


def test_failure_hints() -> None:
    assert "mot de passe d'application" in failure_hint(profile(smtp_host="smtp.gmail.com"))
    assert "Microsoft 365" in failure_hint(profile(smtp_host="smtp.office365.com"))
    assert failure_hint(profile()) is None
    assert failure_hint(profile(method="sendgrid")) is None


# --- On the pages -------------------------------------------------------------------------


def test_ma_fiche_warns_about_relay_skynet(db: None) -> None:
    anne = Collaborator.objects.create_user("anne@fidu.be", "pw-anne-1234")
    SendingProfile.objects.create(
        collaborator=anne,
        smtp_host="relay.skynet.be",
        smtp_port=25,
        smtp_security="none",
        from_address="anne@fidu.be",
    )
    browser = Browser()
    browser.force_login(anne)

    response = browser.get(reverse("mailing:my_profile"))

    page = text_of(response)
    assert "Attention : Le serveur relay.skynet.be est le relais d'un fournisseur d'accès" in page
    assert 'data-advice="warning"' in response.content.decode()


def test_a_company_page_advises_against_a_gmail_sender(db: None) -> None:
    boss = Collaborator.objects.create_user(
        "chef@fidu.be", "pw-chef-1234", role=Collaborator.Role.ADMIN
    )
    company = BillingCompany.objects.create(
        code="FIDU", name="Fiduciaire Martin", enterprise_number="0403.170.701"
    )
    SendingProfile.objects.create(
        billing_company=company,
        smtp_host="smtp.gmail.com",
        smtp_port=587,
        smtp_username="fidu.martin@gmail.com",
        from_address="fidu.martin@gmail.com",
    )
    browser = Browser()
    browser.force_login(boss)

    page = text_of(browser.get(reverse("mailing:company_profile", args=[company.pk])))

    assert "Les factures partiraient de l'adresse fidu.martin@gmail.com" in page
    assert "domaine du cabinet" in page


def test_advice_follows_what_was_typed_when_the_form_comes_back(db: None) -> None:
    anne = Collaborator.objects.create_user("anne@fidu.be", "pw-anne-1234")
    browser = Browser()
    browser.force_login(anne)

    response = browser.post(
        reverse("mailing:my_profile"),
        {
            "save_profile": "1",
            "profile-method": "smtp",
            "profile-smtp_host": "smtp.voo.be",
            "profile-smtp_port": "70000",  # an error: the page comes back
            "profile-from_address": "anne@fidu.be",
        },
    )

    assert response.status_code == 200
    assert "smtp.voo.be est le relais d'un fournisseur d'accès" in text_of(response)
