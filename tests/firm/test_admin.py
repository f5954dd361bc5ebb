"""The Django admin: e-mail logins, write-only secrets, a read-only archive."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client as ClientRecord
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.models import MailTemplate, OutboundMessage, SendingProfile
from tests.clients.factories import make_client
from tests.firm.factories import make_collaborator

pytestmark = pytest.mark.django_db

SECRET = "s3cret-SMTP-pa55"


@pytest.fixture
def superuser(client: Browser) -> Collaborator:
    user = Collaborator.objects.create_superuser("root@fidu.be", "pw-root-1234")
    client.force_login(user)
    return user


def profile_data(owner: Collaborator, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "collaborator": str(owner.pk),
        "billing_company": "",
        "method": "smtp",
        "smtp_host": "smtp.fidu.be",
        "smtp_port": "587",
        "smtp_security": "starttls",
        "smtp_username": owner.email,
        "password": "",
        "from_name": "Anne Martin",
        "from_address": owner.email,
        "reply_to": "",
    }
    data.update(overrides)
    return data


def test_every_admin_page_opens(client: Browser, superuser: Collaborator) -> None:
    Firm.load()
    for model in (
        "firm/firm",
        "firm/collaborator",
        "firm/billingcompany",
        "clients/client",
        "mailing/sendingprofile",
        "mailing/mailtemplate",
        "mailing/outboundmessage",
        "mailing/profiletest",
    ):
        assert client.get(f"/admin/{model}/").status_code == 200, model
    assert client.get(reverse("admin:firm_collaborator_add")).status_code == 200
    assert client.get(reverse("admin:clients_client_add")).status_code == 200


def test_admin_creates_a_collaborator_who_logs_in_with_the_email(
    client: Browser, superuser: Collaborator
) -> None:
    response = client.post(
        reverse("admin:firm_collaborator_add"),
        {
            "email": "Bob@Fidu.be",
            "first_name": "Bob",
            "last_name": "Peeters",
            "role": "collaborator",
            "language": "nl",
            "usable_password": "true",
            "password1": "a-long-Passphrase-42",
            "password2": "a-long-Passphrase-42",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    bob = Collaborator.objects.get(email="bob@fidu.be")
    assert bob.language == "nl"
    browser = Browser()
    assert browser.login(username="bob@fidu.be", password="a-long-Passphrase-42")


def test_the_profile_password_is_write_only(client: Browser, superuser: Collaborator) -> None:
    anne = make_collaborator()
    profile = SendingProfile.objects.create(
        collaborator=anne, from_address=anne.email, smtp_host="smtp.fidu.be", smtp_password=SECRET
    )
    url = reverse("admin:mailing_sendingprofile_change", args=[profile.pk])
    page = client.get(url).content.decode()
    assert SECRET not in page
    assert "fernet:" not in page
    assert 'name="password"' in page

    # Saving with the field left empty keeps the stored password.
    response = client.post(url, profile_data(anne, smtp_host="mail.fidu.be"))
    assert response.status_code == 302
    profile = SendingProfile.objects.get(pk=profile.pk)
    assert (profile.smtp_host, profile.smtp_password) == ("mail.fidu.be", SECRET)

    # A new one replaces it, and is stored encrypted.
    client.post(url, profile_data(anne, password="n3w-secret"))
    assert SendingProfile.objects.get(pk=profile.pk).smtp_password == "n3w-secret"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT smtp_password FROM mailing_sendingprofile WHERE id = %s", [profile.pk]
        )
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and "n3w-secret" not in stored


def test_a_profile_whose_secret_no_longer_decrypts_still_opens(
    client: Browser, superuser: Collaborator
) -> None:
    anne = make_collaborator()
    profile = SendingProfile.objects.create(
        collaborator=anne, from_address=anne.email, smtp_host="smtp.fidu.be"
    )
    foreign = "fernet:" + Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE mailing_sendingprofile SET smtp_password = %s WHERE id = %s",
            [foreign, profile.pk],
        )
    assert client.get(reverse("admin:mailing_sendingprofile_changelist")).status_code == 200
    url = reverse("admin:mailing_sendingprofile_change", args=[profile.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, profile_data(anne, password="typed-again"))
    assert response.status_code == 302
    assert SendingProfile.objects.get(pk=profile.pk).smtp_password == "typed-again"


def test_the_archive_is_read_only(client: Browser, superuser: Collaborator) -> None:
    anne = make_collaborator()
    profile = SendingProfile.objects.create(collaborator=anne, from_address=anne.email)
    message = OutboundMessage.objects.create(
        profile=profile,
        sender=anne,
        client=make_client(),
        language="nl",
        message_id="<1@fidu.be>",
        subject="Uw documenten",
        from_address=anne.email,
        to=["info@peeters.be"],
        raw=b"Subject: Uw documenten\r\n\r\nx\r\n",
    )
    assert "Uw documenten" in client.get("/admin/mailing/outboundmessage/").content.decode()
    page = client.get(reverse("admin:mailing_outboundmessage_change", args=[message.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Uw documenten" in html
    assert 'name="_save"' not in html
    assert client.get(reverse("admin:mailing_outboundmessage_add")).status_code == 403
    client.post(reverse("admin:mailing_outboundmessage_delete", args=[message.pk]), {"post": "yes"})
    assert OutboundMessage.objects.filter(pk=message.pk).exists()


def test_template_versions_are_checked_for_unknown_fields(
    client: Browser, superuser: Collaborator
) -> None:
    data = {
        "name": "Rappel",
        "context": "client",
        "owner": "",
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "1",
        "versions-MAX_NUM_FORMS": "1000",
        "versions-0-language": "fr",
        "versions-0-subject": "Bonjour {NOMCLIEN}",
        "versions-0-body": "Texte",
    }
    response = client.post(reverse("admin:mailing_mailtemplate_add"), data)
    assert response.status_code == 200
    assert "NOMCLIENT" in response.content.decode()
    assert not MailTemplate.objects.exists()

    data["versions-0-subject"] = "Bonjour {NOMCLIENT}"
    assert client.post(reverse("admin:mailing_mailtemplate_add"), data).status_code == 302
    assert MailTemplate.objects.get().versions.get().subject == "Bonjour {NOMCLIENT}"


def test_client_admin_validates_numbers_and_saves_addresses(
    client: Browser, superuser: Collaborator
) -> None:
    data = {
        "number": "C0200",
        "kind": "company",
        "name": "Garage Dupont",
        "legal_form": "SRL",
        "enterprise_number": "0477.472.702",
        "vat_number": "",
        "language": "fr",
        "contact_name": "",
        "salutation": "",
        "phone": "",
        "street": "",
        "postal_code": "",
        "city": "",
        "country": "BE",
        "billing_company": "",
        "responsible": "",
        "active": "on",
        "emails-TOTAL_FORMS": "1",
        "emails-INITIAL_FORMS": "0",
        "emails-MIN_NUM_FORMS": "0",
        "emails-MAX_NUM_FORMS": "1000",
        "emails-0-address": "info@garage-dupont.be",
        "emails-0-purpose": "general",
        "emails-0-position": "0",
    }
    response = client.post(reverse("admin:clients_client_add"), data)
    assert response.status_code == 200
    assert "numéro d&#x27;entreprise belge valide" in response.content.decode()

    data["enterprise_number"] = "0477472701"
    assert client.post(reverse("admin:clients_client_add"), data).status_code == 302
    record = ClientRecord.objects.get(number="C0200")
    assert record.enterprise_number == "0477.472.701"
    assert record.addresses() == ["info@garage-dupont.be"]
