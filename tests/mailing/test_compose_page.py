"""The compose window: template in the client's language, preview, send, and what goes wrong."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.models import (
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    SendingProfile,
)

COMPOSE = reverse("mailing:compose")
HTMX = {"HX-Request": "true"}


def make_collaborator(email: str = "anne@fidu.be", **extra: Any) -> Collaborator:
    extra.setdefault("first_name", "Anne")
    extra.setdefault("last_name", "Martin")
    return Collaborator.objects.create_user(email, "pw-anne-1234", **extra)


def give_profile(collaborator: Collaborator) -> SendingProfile:
    # Compose never connects: delivery happens later in the worker.
    return SendingProfile.objects.create(
        collaborator=collaborator,
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Anne Martin",
        from_address=collaborator.email,
        reply_to="secretariat@fidu.be",
    )


def make_client(number: str = "C0042", *, emails: tuple[str, ...] = (), **extra: Any) -> Client:
    fields: dict[str, Any] = {"name": "Bakkerij Peeters", "legal_form": "BV", "language": "nl"}
    fields.update(extra)
    client = Client.objects.create(number=number, **fields)
    for position, address in enumerate(emails):
        ClientEmail.objects.create(client=client, address=address, position=position)
    return client


def make_template(name: str = "Rappel documents", **versions: tuple[str, str]) -> MailTemplate:
    template = MailTemplate.objects.create(name=name, context=MailTemplate.Context.CLIENT)
    for language, (subject, body) in versions.items():
        MailTemplateVersion.objects.create(
            template=template, language=language, subject=subject, body=body
        )
    return template


def text_of(response: Any) -> str:
    """The page as a user reads it: tags dropped, entities decoded, spaces collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def anne(db: None) -> Collaborator:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    collaborator = make_collaborator()
    give_profile(collaborator)
    return collaborator


@pytest.fixture
def browser(anne: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(anne)
    return browser


@pytest.fixture
def dutch_client(db: None) -> Client:
    return make_client(emails=("jan@peeters.be",), contact_name="Jan Peeters")


@pytest.fixture
def reminder() -> MailTemplate:
    return make_template(
        fr=(
            "Documents manquants – {NOMCLIENT}",
            "Bonjour {CONTACT},\n\nIl nous manque vos pièces.",
        ),
        nl=(
            "Ontbrekende documenten – {NOMCLIENT}",
            "Beste {CONTACT},\n\nWij missen nog uw stukken voor dossier {NUMCLIENT}.",
        ),
    )


def compose_data(client: Client, **extra: str) -> dict[str, str]:
    data = {
        "client": str(client.pk),
        "language": client.language,
        "subject": "Ontbrekende documenten – {NOMCLIENT}",
        "body": "Beste {CONTACT},\n\nWij missen nog uw stukken voor dossier {NUMCLIENT}.",
        "archive": "on",
        "idempotency_key": "0123456789abcdef",
    }
    data.update(extra)
    return data


def test_the_page_shows_the_recipient_the_templates_and_the_field_picker(
    browser: Browser, dutch_client: Client, reminder: MailTemplate
) -> None:
    response = browser.get(COMPOSE, {"client": dutch_client.pk})

    assert response.status_code == 200
    page = text_of(response)
    assert "Bakkerij Peeters BV" in page
    assert "jan@peeters.be" in page
    assert "néerlandais" in page
    assert "Rappel documents" in page
    assert "Insérer des données" in page
    assert "{NOMCLIENT}" in page and "Nom du client" in page
    assert "Archiver les messages envoyés dans les fiches client" in page
    html = response.content.decode()
    assert 'name="archive" checked' in html or re.search(r'name="archive"[^>]*checked', html)
    assert "courrier/compose.js" in html
    assert "Envoyer" in page


def test_loading_a_template_gives_the_version_in_the_clients_language(
    browser: Browser, dutch_client: Client, reminder: MailTemplate
) -> None:
    response = browser.get(
        reverse("mailing:template_load"),
        {"template": reminder.pk, "client": dutch_client.pk},
        headers=HTMX,
    )

    assert response.status_code == 200
    page = text_of(response)
    assert 'value="Ontbrekende documenten – {NOMCLIENT}"' in unescape(response.content.decode())
    assert "Wij missen nog uw stukken" in page
    assert "Documents manquants" not in page
    assert "langue par défaut" not in page


def test_a_template_without_the_clients_language_falls_back_to_the_firms_and_says_so(
    browser: Browser, reminder: MailTemplate
) -> None:
    german = make_client("C0043", name="Bäckerei Schmitz", language="de", emails=("a@schmitz.de",))

    response = browser.get(
        reverse("mailing:template_load"),
        {"template": reminder.pk, "client": german.pk},
        headers=HTMX,
    )

    page = text_of(response)
    assert 'value="Documents manquants – {NOMCLIENT}"' in unescape(response.content.decode())
    assert "Il nous manque vos pièces." in page
    assert "pas de version en allemand" in page
    assert re.search(r'<option value="fr" selected>', response.content.decode())


def test_the_preview_shows_the_dutch_mail_with_its_fields_filled(
    browser: Browser, dutch_client: Client
) -> None:
    response = browser.post(reverse("mailing:preview"), compose_data(dutch_client), headers=HTMX)

    assert response.status_code == 200
    page = text_of(response)
    assert "Ontbrekende documenten – Bakkerij Peeters BV" in page
    assert "Beste Jan Peeters," in page
    assert "dossier C0042" in page
    assert "jan@peeters.be" in page
    assert "anne@fidu.be" in page  # From
    assert "secretariat@fidu.be" in page  # Reply-To
    assert "{NOMCLIENT}" not in page
    html = response.content.decode()
    # The HTML part is shown in a sandboxed frame of its own, with its own policy.
    frame = re.search(r'<iframe[^>]*sandbox=""[^>]*src="([^"]+)"', html)
    assert frame is not None
    shown = browser.get(frame.group(1))
    assert "Bakkerij Peeters BV" in shown.content.decode()
    assert "sandbox" in shown["Content-Security-Policy"]
    assert OutboundMessage.objects.count() == 0


def test_sending_queues_one_message_to_the_clients_address_and_archives_it(
    browser: Browser, anne: Collaborator, dutch_client: Client, reminder: MailTemplate
) -> None:
    data = compose_data(dutch_client, template=str(reminder.pk))

    response = browser.post(f"{COMPOSE}?client={dutch_client.pk}", data, follow=True)

    message = OutboundMessage.objects.get()
    assert message.status == OutboundMessage.Status.QUEUED
    assert message.to == ["jan@peeters.be"]
    assert message.client == dutch_client
    assert message.sender == anne
    assert message.language == "nl"
    assert message.archived is True
    assert message.subject == "Ontbrekende documenten – Bakkerij Peeters BV"
    assert "Message mis en file d'attente" in text_of(response)
    mails_tab = browser.get(reverse("clients:mails", args=[dutch_client.pk]), headers=HTMX)
    assert "Ontbrekende documenten – Bakkerij Peeters BV" in text_of(mails_tab)
    assert reverse("mailing:message_detail", args=[message.pk]) in mails_tab.content.decode()


def test_the_general_address_is_used_when_the_client_has_one(browser: Browser) -> None:
    client = make_client("C0050", emails=("facturen@peeters.be",), contact_name="Jan Peeters")
    ClientEmail.objects.filter(client=client).update(purpose=ClientEmail.Purpose.INVOICES)
    ClientEmail.objects.create(client=client, address="jan@peeters.be", position=1)

    page = text_of(browser.get(COMPOSE, {"client": client.pk}))
    assert "jan@peeters.be" in page
    assert "facturen@peeters.be" not in page

    browser.post(f"{COMPOSE}?client={client.pk}", compose_data(client))
    assert OutboundMessage.objects.get().to == ["jan@peeters.be"]


def test_the_same_form_sent_twice_queues_one_message(
    browser: Browser, dutch_client: Client
) -> None:
    data = compose_data(dutch_client)
    browser.post(f"{COMPOSE}?client={dutch_client.pk}", data)
    response = browser.post(f"{COMPOSE}?client={dutch_client.pk}", data, follow=True)

    assert OutboundMessage.objects.count() == 1
    assert "déjà en file d'attente" in text_of(response)


def test_without_the_archive_box_the_message_is_not_in_the_client_file(
    browser: Browser, dutch_client: Client
) -> None:
    data = compose_data(dutch_client)
    del data["archive"]

    browser.post(f"{COMPOSE}?client={dutch_client.pk}", data)

    assert OutboundMessage.objects.get().archived is False
    mails_tab = browser.get(reverse("clients:mails", args=[dutch_client.pk]), headers=HTMX)
    assert "Ontbrekende documenten" not in text_of(mails_tab)


def test_an_unknown_field_is_refused_on_the_page_with_the_nearest_one(
    browser: Browser, dutch_client: Client
) -> None:
    data = compose_data(dutch_client, body="Beste {CONTACT},\n\nDossier {NOMCLIEN}.")

    response = browser.post(f"{COMPOSE}?client={dutch_client.pk}", data)

    assert response.status_code == 200
    page = text_of(response)
    assert "{NOMCLIEN}" in page
    assert "{NOMCLIENT}" in page
    assert "Dossier {NOMCLIEN}." in page  # what was typed is kept
    assert OutboundMessage.objects.count() == 0
    preview = browser.post(reverse("mailing:preview"), data, headers=HTMX)
    assert "{NOMCLIEN}" in text_of(preview) and "{NOMCLIENT}" in text_of(preview)


def test_a_client_without_address_gets_a_clear_error_and_no_send_button(
    browser: Browser,
) -> None:
    silent = make_client("C0099", name="Sans Adresse", language="fr")

    page = browser.get(COMPOSE, {"client": silent.pk})
    assert "aucune adresse e-mail" in text_of(page)
    assert 'name="send"' not in page.content.decode()

    response = browser.post(f"{COMPOSE}?client={silent.pk}", compose_data(silent))
    assert response.status_code == 200
    assert "adresse" in text_of(response)
    assert OutboundMessage.objects.count() == 0


def test_without_a_sending_profile_the_page_points_to_ma_fiche(
    dutch_client: Client,
) -> None:
    newcomer = make_collaborator("nouveau@fidu.be")
    browser = Browser()
    browser.force_login(newcomer)

    page = browser.get(COMPOSE, {"client": dutch_client.pk})
    assert reverse("mailing:my_profile") in page.content.decode()

    response = browser.post(f"{COMPOSE}?client={dutch_client.pk}", compose_data(dutch_client))
    assert response.status_code == 200
    assert "paramétrage d'envoi" in text_of(response)
    assert reverse("mailing:my_profile") in response.content.decode()
    assert "Ontbrekende documenten – {NOMCLIENT}" in unescape(response.content.decode())
    assert OutboundMessage.objects.count() == 0


@pytest.mark.parametrize("query", [{"client": "abc"}, {"client": "999999"}, {"client": "1 OR 1=1"}])
def test_an_unknown_client_is_a_404(browser: Browser, query: dict[str, str]) -> None:
    assert browser.get(COMPOSE, query).status_code == 404
    assert browser.post(reverse("mailing:preview"), query, headers=HTMX).status_code == 404


def test_without_a_client_the_window_writes_to_a_selection(browser: Browser) -> None:
    response = browser.get(COMPOSE)

    assert response.status_code == 200
    page = text_of(response)
    assert "À une sélection de clients" in page
    assert "Envoi au client sélectionné" not in page


def test_loading_an_unknown_or_foreign_template_is_a_404(
    browser: Browser, dutch_client: Client
) -> None:
    other = make_collaborator("luc@fidu.be")
    private = MailTemplate.objects.create(name="Privé", owner=other)
    url = reverse("mailing:template_load")

    for template in ("x", "999999", str(private.pk)):
        response = browser.get(
            url, {"template": template, "client": str(dutch_client.pk)}, headers=HTMX
        )
        assert response.status_code in (404, 200)
        assert "Privé" not in text_of(response)
    assert browser.get(url, {"template": private.pk, "client": dutch_client.pk}).status_code == 404


def test_the_compose_pages_need_a_login(dutch_client: Client) -> None:
    response = Browser().get(COMPOSE, {"client": dutch_client.pk})

    assert response.status_code == 302
    assert reverse("login") in response["Location"]
