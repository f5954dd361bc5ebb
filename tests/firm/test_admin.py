"""The Django admin: e-mail logins, write-only secrets, a read-only archive."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.contrib import admin as django_admin
from django.contrib.staticfiles import finders
from django.db import connection
from django.templatetags.static import static
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django_tasks_db.models import DBTaskResult

from courrier.clients.models import Client as ClientRecord
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.models import MailTemplate, OutboundMessage, SendingProfile
from courrier.mailing.services.contents import contents_store
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
    # Through the login page: the login throttling wants the browser's request.
    browser = Browser()
    response = browser.post(
        reverse("login"), {"username": "bob@fidu.be", "password": "a-long-Passphrase-42"}
    )
    assert response.status_code == 302
    assert browser.session["_auth_user_id"] == str(bob.pk)


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
    )
    contents_store([(message, b"Subject: Uw documenten\r\n\r\nx\r\n")])
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
        "invoice_channel": "email",
        "peppol_id": "",
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


# --- the reader's language and the icon --------------------------------------------------------

ENGLISH_LEFTOVERS = [
    "Next attempt at",
    "next attempt at",
    "Envelope recipients",
    "Idempotency key",
    "Claimed by",
    "Last error",
    "Provider message id",
    "Created at",
    "Updated at",
    "Webhook token",
    "Oauth",
    "Task Result",
    "Tasks Database Backend",
    "Enqueued at",
    "Run after",
    "Profile tests",
]


def admin_in(client: Browser, language: str) -> Collaborator:
    user = Collaborator.objects.create_superuser(
        f"root-{language}@fidu.be", "pw-root-1234", language=language
    )
    client.force_login(user)
    return user


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def a_message_and_a_task() -> tuple[OutboundMessage, DBTaskResult]:
    anne = make_collaborator()
    profile = SendingProfile.objects.create(collaborator=anne, from_address=anne.email)
    message = OutboundMessage.objects.create(
        profile=profile,
        sender=anne,
        client=make_client(),
        language="fr",
        message_id="<2@fidu.be>",
        subject="Vos documents",
        from_address=anne.email,
        to=["info@dupuis.be"],
    )
    contents_store([(message, b"Subject: Vos documents\r\n\r\nx\r\n")])
    task = DBTaskResult.objects.create(
        task_path="courrier.mailing.tasks.deliver_profile",
        args_kwargs={"args": [], "kwargs": {"profile_id": profile.pk}},
        backend_name="default",
        run_after=timezone.now(),
        exception_class_path="",
        traceback="",
        status="FAILED",
    )
    return message, task


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "fr",
            [
                "Administration technique",
                "Tâches en arrière-plan",
                "Tests de connexion",
                "Prochain essai le",
                "Destinataires de l'enveloppe",
                "Dernière erreur",
                "Échouée",
            ],
        ),
        (
            "nl",
            [
                "Technisch beheer",
                "Achtergrondtaken",
                "Verbindingstests",
                "Volgende poging op",
                "Ontvangers van de envelop",
                "Laatste fout",
                "Mislukt",
            ],
        ),
        (
            "en",
            [
                "Technical administration",
                "Background tasks",
                "Connection tests",
                "Next attempt on",
                "Envelope recipients",
                "Last error",
                "Failed",
            ],
        ),
    ],
)
def test_the_technical_administration_speaks_the_readers_language(
    client: Browser, language: str, expected: list[str]
) -> None:
    """An administrator reads the model and field names in their own interface language: no
    English default made from a field's name, no third-party page in English only."""
    admin_in(client, language)
    message, task = a_message_and_a_task()
    pages = [
        client.get(reverse("admin:index")),
        client.get(reverse("admin:mailing_outboundmessage_change", args=[message.pk])),
        client.get(reverse("admin:mailing_backgroundtask_changelist")),
        client.get(reverse("admin:mailing_backgroundtask_change", args=[task.pk])),
    ]
    for page in pages:
        assert page.status_code == 200
    text = " ".join(visible_text(page.content.decode()) for page in pages)
    for words in expected:
        assert words.casefold() in text.casefold(), words
    if language != "en":  # in English, those words are the right ones
        assert [word for word in ENGLISH_LEFTOVERS if word in text] == []
    # The queue's English-only page is gone; its rows are listed by ours.
    assert client.get("/admin/django_tasks_database/dbtaskresult/").status_code == 404


def test_every_field_the_administration_shows_has_a_translated_name() -> None:
    """Each registered model's name and each of its fields' names go through the catalogue
    (a name Django makes up from the field, "next attempt at", is English in every language)."""
    untranslated = []
    for model in django_admin.site._registry:
        options = model._meta
        for name in (options.verbose_name, options.verbose_name_plural):
            if not isinstance(name, Promise):
                untranslated.append(f"{options.label}: {name}")
        for field in options.get_fields():
            verbose = getattr(field, "verbose_name", None)
            if verbose is None or field.name == "id" or field.model is not model:
                continue
            if model.__module__.startswith("courrier.") and not isinstance(verbose, Promise):
                untranslated.append(f"{options.label}.{field.name}: {verbose}")
    assert untranslated == []


def test_the_application_has_its_own_icon_everywhere(client: Browser) -> None:
    """The tab shows Courrier's icon on the firm's pages, the technical administration (its
    login page too) and a client's secure-link page; served by the application itself."""
    icon = static("courrier/favicon.svg")
    link = f'<link rel="icon" href="{icon}" type="image/svg+xml">'
    assert finders.find("courrier/favicon.svg")
    assert link in client.get(reverse("admin:login")).content.decode()
    assert link in client.get(reverse("login")).content.decode()
    # A browser that asks for /favicon.ico, logged in or not, gets the same icon.
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"] == icon
    admin_in(client, "fr")
    message, _task = a_message_and_a_task()
    for url in (
        reverse("admin:index"),
        reverse("admin:mailing_outboundmessage_changelist"),
        reverse("admin:mailing_outboundmessage_change", args=[message.pk]),
        reverse("admin:firm_collaborator_add"),
    ):
        assert link in client.get(url).content.decode(), url
