"""The whole compose window: its options, attachments, templates, a selection of clients, the
preview step by step, the pre-send check, the batch and its progress page, and bad input.

What is checked is what a user would check: the rows stored, the bytes of the message that
left (or will leave), the text of the pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from courrier.clients.models import Client, ClientEmail, ClientSelection
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import services
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    SendingProfile,
    Upload,
)
from courrier.mailing.services import message_bytes
from tests.fakes.smtp import FakeSMTPServer

COMPOSE = reverse("mailing:compose")
PREVIEW = reverse("mailing:preview")
PRESEND = reverse("mailing:presend")
UPLOAD = reverse("mailing:upload")
SAVE_TEMPLATE = reverse("mailing:template_save_from_compose")
HTMX = {"HX-Request": "true"}
BRUSSELS = ZoneInfo("Europe/Brussels")


def text_of(response: Any) -> str:
    """The page as a user reads it: tags dropped, entities decoded, spaces collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def parsed(message: OutboundMessage) -> EmailMessage:
    mail = BytesParser(policy=policy.default).parsebytes(message_bytes(message))
    assert isinstance(mail, EmailMessage)
    return mail


def new_client(
    number: str,
    name: str,
    language: str,
    emails: tuple[str, ...] = (),
    **extra: Any,
) -> Client:
    client = Client.objects.create(
        number=number,
        name=name,
        language=language,
        legal_form=extra.pop("legal_form", "SRL"),
        **extra,
    )
    for position, address in enumerate(emails):
        ClientEmail.objects.create(client=client, address=address, position=position)
    return client


@pytest.fixture
def firm(db: None) -> Firm:
    firm, _created = Firm.objects.update_or_create(
        pk=1, defaults={"name": "Fiduciaire Martin", "default_language": "fr"}
    )
    return firm


@pytest.fixture
def anne(firm: Firm) -> Collaborator:
    anne = Collaborator.objects.create_user(
        "anne@fidu.be", "pw-anne-1234", first_name="Anne", last_name="Martin"
    )
    SendingProfile.objects.create(
        collaborator=anne,
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Anne Martin",
        from_address="anne@fidu.be",
    )
    return anne


@pytest.fixture
def browser(anne: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(anne)
    return browser


@pytest.fixture
def peeters(db: None) -> Client:
    return new_client(
        "C0042",
        "Bakkerij Peeters",
        "nl",
        ("jan@peeters.be",),
        legal_form="BV",
        contact_name="Jan Peeters",
    )


@pytest.fixture
def clients(db: None) -> dict[str, Client]:
    """A small firm: two Dutch, one French, one German client, and one Dutch without address."""
    return {
        "peeters": new_client(
            "C0101",
            "Bakkerij Peeters",
            "nl",
            ("jan@peeters.be",),
            legal_form="BV",
            contact_name="Jan Peeters",
        ),
        "wouters": new_client(
            "C0102",
            "Brouwerij Wouters",
            "nl",
            ("info@wouters.be", "an@wouters.be"),
            legal_form="BV",
            contact_name="An Wouters",
        ),
        "dupont": new_client(
            "C0103", "Boulangerie Dupont", "fr", ("marie@dupont.be",), contact_name="Marie Dupont"
        ),
        "schmitz": new_client(
            "C0104",
            "Bäckerei Schmitz",
            "de",
            ("karl@schmitz.de",),
            legal_form="GmbH",
            contact_name="Karl Schmitz",
        ),
        "maes": new_client("C0105", "Jan Maes", "nl", (), kind=Client.Kind.PERSON),
    }


@pytest.fixture
def reminder(db: None) -> MailTemplate:
    template = MailTemplate.objects.create(name="Rappel documents")
    for language, subject, body in (
        (
            "fr",
            "Documents manquants – {NOMCLIENT}",
            "Bonjour {CONTACT},\n\nIl nous manque vos pièces.",
        ),
        (
            "nl",
            "Ontbrekende documenten – {NOMCLIENT}",
            "Beste {CONTACT},\n\nWij missen uw stukken.",
        ),
    ):
        MailTemplateVersion.objects.create(
            template=template, language=language, subject=subject, body=body
        )
    return template


def one_client_data(client: Client, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "recipients": "client",
        "client": str(client.pk),
        "language": client.language,
        "subject": "Uw dossier {NUMCLIENT}",
        "body": "Beste {CONTACT},\n\nHierbij uw **overzicht**.",
        "archive": "on",
        "idempotency_key": "key-one-client",
    }
    data.update(extra)
    return data


def selection_data(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "recipients": "selection",
        "sel-language": "nl",
        "language": "nl",
        "subject": "Nieuws voor {NOMCLIENT}",
        "body": "Beste {CONTACT},\n\nUw dossier {NUMCLIENT} is bijgewerkt.",
        "archive": "on",
        "idempotency_key": "key-selection",
    }
    data.update(extra)
    return data


def upload(
    browser: Browser, name: str, content: bytes, content_type: str = "application/pdf"
) -> Upload:
    response = browser.post(
        UPLOAD, {"files": SimpleUploadedFile(name, content, content_type)}, headers=HTMX
    )
    assert response.status_code == 200, response.content
    return Upload.objects.filter(name=name).latest("pk")


# --- one client: the options reach the message that leaves -----------------------------------


def test_every_option_of_the_window_is_in_the_stored_message(
    browser: Browser, anne: Collaborator, firm: Firm, peeters: Client
) -> None:
    firm.fixed_bcc = "archief@fidu.be"
    firm.save()
    data = one_client_data(
        peeters,
        cc="boekhouding@peeters.be; Jan.Peeters@Gmail.com",
        bcc="stagiair@fidu.be",
        reply_to="secretariaat@fidu.be",
        copy_to_sender="on",
        read_receipt="on",
    )

    response = browser.post(f"{COMPOSE}?client={peeters.pk}", data)

    assert response.status_code == 302
    message = OutboundMessage.objects.get()
    assert message.cc == ["boekhouding@peeters.be", "Jan.Peeters@gmail.com"]
    assert set(message.bcc) >= {"stagiair@fidu.be", "anne@fidu.be"}
    assert message.read_receipt is True
    envelope = set(message.envelope_recipients)
    assert {"jan@peeters.be", "boekhouding@peeters.be", "stagiair@fidu.be"} <= envelope
    assert {"anne@fidu.be", "archief@fidu.be"} <= envelope
    mail = parsed(message)
    assert str(mail["To"]) == "jan@peeters.be"
    assert "boekhouding@peeters.be" in str(mail["Cc"])
    assert str(mail["Reply-To"]) == "secretariaat@fidu.be"
    assert str(mail["Disposition-Notification-To"]) == "anne@fidu.be"
    assert mail["Bcc"] is None
    raw = message_bytes(message)
    assert b"stagiair@fidu.be" not in raw and b"archief@fidu.be" not in raw
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Beste Jan Peeters," in text.get_content()
    assert "<strong>overzicht</strong>" in html.get_content()


def test_the_copies_reach_the_smtp_server_but_no_bcc_header(
    firm: Firm, smtp_server: FakeSMTPServer, make_client: Callable[..., Client]
) -> None:
    anne = Collaborator.objects.create_user("anne2@fidu.be", "pw-anne-1234")
    profile = SendingProfile.objects.create(
        collaborator=anne,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=smtp_server.security,
        from_address="anne2@fidu.be",
    )
    client = make_client(emails=["info@dupuis.test"])
    browser = Browser()
    browser.force_login(anne)
    data = one_client_data(
        client,
        language="fr",
        subject="Votre dossier",
        body="Bonjour",
        cc="comptable@dupuis.test",
        bcc="cachee@fidu.test",
        copy_to_sender="on",
    )
    browser.post(f"{COMPOSE}?client={client.pk}", data)

    services.messages_deliver(profile_id=profile.pk)

    received = smtp_server.wait_for(1)[0]
    assert set(received.rcpt_tos) == {
        "info@dupuis.test",
        "comptable@dupuis.test",
        "cachee@fidu.test",
        "anne2@fidu.be",
    }
    assert received.message["Bcc"] is None
    assert "comptable@dupuis.test" in str(received.message["Cc"])


def test_files_joined_in_the_window_leave_with_the_mail(browser: Browser, peeters: Client) -> None:
    pdf = b"%PDF-1.4 balans 2026\n" + b"x" * 3000
    first = upload(browser, "balans-2026.pdf", pdf)
    second = upload(browser, "notities.txt", b"Notities", "text/plain")
    assert first.size == len(pdf)

    # The list shows each file with its size, the total and the method's limit.
    listing = browser.post(UPLOAD, {"uploads": [first.pk, second.pk]}, headers=HTMX)
    page = text_of(listing)
    assert "balans-2026.pdf" in page and "notities.txt" in page
    assert "Limite de votre méthode d'envoi (SMTP)" in page

    # Taking one away leaves the other.
    after = browser.post(
        UPLOAD, {"uploads": [first.pk, second.pk], "remove": second.pk}, headers=HTMX
    )
    assert "notities.txt" not in text_of(after)
    assert f'name="uploads" value="{first.pk}"' in after.content.decode()

    browser.post(f"{COMPOSE}?client={peeters.pk}", one_client_data(peeters, uploads=[first.pk]))

    mail = parsed(OutboundMessage.objects.get())
    attachments = list(mail.iter_attachments())
    assert [part.get_filename() for part in attachments] == ["balans-2026.pdf"]
    assert attachments[0].get_payload(decode=True) == pdf


def test_files_sent_with_the_form_without_the_script_are_kept_on_an_error(
    browser: Browser, peeters: Client
) -> None:
    data = one_client_data(peeters, cc="pas-une-adresse")
    data["files"] = SimpleUploadedFile("bijlage.pdf", b"%PDF-1.4 bijlage", "application/pdf")
    data["send"] = "1"

    response = browser.post(f"{COMPOSE}?client={peeters.pk}", data)

    assert response.status_code == 200
    stored = Upload.objects.get(name="bijlage.pdf")
    html = response.content.decode()
    assert f'name="uploads" value="{stored.pk}"' in html
    assert "« pas-une-adresse » n'est pas une adresse e-mail valide" in text_of(response)
    assert OutboundMessage.objects.count() == 0


def test_someone_elses_upload_cannot_be_attached(
    browser: Browser, peeters: Client, make_collaborator: Callable[..., Collaborator]
) -> None:
    other = make_collaborator()
    foreign = Upload.objects.create(owner=other, name="privé.pdf", size=10, file="uploads/x.pdf")

    response = browser.post(
        f"{COMPOSE}?client={peeters.pk}", one_client_data(peeters, uploads=[foreign.pk], send="1")
    )

    assert response.status_code == 200
    assert "Un fichier joint n'est plus disponible" in text_of(response)
    assert "privé.pdf" not in text_of(response)
    assert OutboundMessage.objects.count() == 0


def test_an_empty_or_too_large_file_is_refused_with_a_message(
    browser: Browser, settings: Any
) -> None:
    empty = browser.post(
        UPLOAD, {"files": SimpleUploadedFile("leeg.pdf", b"", "application/pdf")}, headers=HTMX
    )
    assert empty.status_code == 200
    assert Upload.objects.count() == 0
    assert "leeg.pdf" in text_of(empty)

    settings.COURRIER = {**settings.COURRIER, "MAX_MESSAGE_BYTES": 1000}
    big = browser.post(
        UPLOAD,
        {"files": SimpleUploadedFile("groot.pdf", b"x" * 5000, "application/pdf")},
        headers=HTMX,
    )
    assert big.status_code == 200
    assert Upload.objects.filter(name="groot.pdf").count() == 0
    assert "groot.pdf" in text_of(big)


def test_without_archive_the_mail_is_in_the_outbox_but_not_in_the_client_file(
    browser: Browser, peeters: Client
) -> None:
    data = one_client_data(peeters)
    del data["archive"]

    response = browser.post(f"{COMPOSE}?client={peeters.pk}", data, follow=True)

    message = OutboundMessage.objects.get()
    assert message.archived is False
    assert "n'est pas archivé dans la fiche du client" in text_of(response)
    mails_tab = browser.get(reverse("clients:mails", args=[peeters.pk]), headers=HTMX)
    assert "Uw dossier C0042" not in text_of(mails_tab)
    outbox = browser.get(reverse("mailing:outbox"))
    assert "Uw dossier C0042" in text_of(outbox)


def test_the_window_explains_what_unchecking_the_archive_keeps(
    browser: Browser, peeters: Client
) -> None:
    page = text_of(browser.get(COMPOSE, {"client": peeters.pk}))

    assert "Archiver les messages envoyés dans les fiches client" in page
    assert "la boîte de sortie garde la trace de l'envoi" in page
    assert "Envoi au client sélectionné" in page and "À une sélection de clients" in page
    assert "Demander un accusé de réception" in page and "M'envoyer une copie" in page
    assert "Europe/Brussels" in page
    assert "Anne Martin <anne@fidu.be>" in page


def test_the_firms_fixed_bcc_is_shown_in_the_window(
    browser: Browser, firm: Firm, peeters: Client
) -> None:
    firm.fixed_bcc = "archief@fidu.be"
    firm.save()

    page = text_of(browser.get(COMPOSE, {"client": peeters.pk}))

    assert "archief@fidu.be" in page


def test_a_scheduled_send_is_stored_in_brussels_time(browser: Browser, peeters: Client) -> None:
    day = (timezone.now() + timedelta(days=3)).astimezone(BRUSSELS).date()
    data = one_client_data(peeters, scheduled_date=day.isoformat(), scheduled_time="07:30")

    response = browser.post(f"{COMPOSE}?client={peeters.pk}", data, follow=True)

    message = OutboundMessage.objects.get()
    assert message.scheduled_at == datetime(day.year, day.month, day.day, 7, 30, tzinfo=BRUSSELS)
    assert f"{day:%d/%m/%Y} à 07:30 (heure de Bruxelles)" in text_of(response)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"scheduled_date": "2026-13-45", "scheduled_time": "10:00"}, "date valide"),
        ({"scheduled_date": "demain", "scheduled_time": "10:00"}, "date valide"),
        ({"scheduled_time": "25:99"}, "heure valide"),
        ({"scheduled_time": "10:00"}, "Indiquez aussi la date"),
        ({"scheduled_date": "2031-01-01"}, "Indiquez aussi l'heure"),
        ({"scheduled_date": "2020-01-01", "scheduled_time": "10:00"}, "Ce moment est passé"),
        ({"scheduled_date": "2999-01-01", "scheduled_time": "10:00"}, "au plus un an"),
        ({"cc": "jan@peeters.be, x@"}, "« x@ » n'est pas une adresse e-mail valide"),
        ({"bcc": "a@b.be\r\nBcc: evil@x.be"}, "n'est pas une adresse e-mail valide"),
        ({"reply_to": "répondre"}, "« répondre » n'est pas une adresse e-mail valide"),
        ({"subject": "Uw dossier {NUMCLIEN}"}, "{NUMCLIENT}"),
        ({"subject": "Uw dossier\r\nBcc: evil@x.be"}, "retour à la ligne"),
        ({"subject": ""}, "Ce champ est obligatoire"),
        ({"language": "xx"}, "Sélectionnez un choix valide"),
        ({"template": "999999"}, "Ce modèle n'est pas proposé pour ce mail"),
        ({"uploads": ["abc", "999999"]}, "Un fichier joint n'est plus disponible"),
    ],
)
def test_bad_input_is_told_on_the_form_and_kept(
    browser: Browser, peeters: Client, extra: dict[str, Any], expected: str
) -> None:
    data = one_client_data(peeters, send="1", **extra)

    response = browser.post(f"{COMPOSE}?client={peeters.pk}", data)

    assert response.status_code == 200
    page = text_of(response)
    assert expected in page
    assert "Hierbij uw **overzicht**." in page  # what was typed is still there
    assert OutboundMessage.objects.count() == 0


def test_garbage_posted_to_every_endpoint_never_breaks(browser: Browser, peeters: Client) -> None:
    garbage: dict[str, Any] = {
        "recipients": "\x00",
        "client": str(peeters.pk),
        "language": "zz",
        "subject": "\x00" * 3,
        "body": "{" * 50,
        "cc": "@" * 300,
        "scheduled_date": "0000-00-00",
        "scheduled_time": "x",
        "uploads": ["-1", "1e9", "９"],
        "template": "'; drop",
        "sel-language": "klingon",
        "sel-tags": ["a", "-3"],
        "remove": "x",
        "remove_upload": "x",
        "save_name": "",
        "save_over": "x",
        "i": "-5",
    }
    for url in (f"{COMPOSE}?client={peeters.pk}", PREVIEW, PRESEND, UPLOAD, SAVE_TEMPLATE):
        for headers in ({}, HTMX):
            response = browser.post(url, {**garbage, "send": "1", "check": "1"}, headers=headers)
            assert response.status_code in (200, 302), (url, response.status_code)
    for query in ({"selection": "abc"}, {"selection": "99999"}, {"sel-tags": "x", "i": "z"}):
        assert browser.get(COMPOSE, query).status_code in (200, 404)
    assert OutboundMessage.objects.count() == 0


def test_one_client_with_a_blocker_is_not_sent_and_says_why(browser: Browser) -> None:
    silent = new_client("C0999", "Sans Adresse", "fr")

    response = browser.post(
        f"{COMPOSE}?client={silent.pk}", one_client_data(silent, language="fr", send="1")
    )

    assert response.status_code == 200
    assert "adresse" in text_of(response)
    assert OutboundMessage.objects.count() == 0


def test_the_pre_send_check_of_one_client_blocks_an_empty_field(
    browser: Browser, peeters: Client
) -> None:
    data = one_client_data(peeters, body="Beste {CONTACT}, uw btw-nummer: {NUMTVA}.")

    response = browser.post(PRESEND, data, headers=HTMX)
    sent = browser.post(f"{COMPOSE}?client={peeters.pk}", {**data, "send": "1"})

    page = text_of(response)
    assert "0 prêt, 1 bloqué" in page
    assert "Le champ {NUMTVA} (Numéro de TVA) est vide" in page
    assert 'name="send"' not in response.content.decode()
    assert sent.status_code == 200 and "Le champ {NUMTVA} (Numéro de TVA) est vide" in text_of(sent)
    assert OutboundMessage.objects.count() == 0


# --- templates from the window ------------------------------------------------------------


def test_save_a_template_from_the_window_then_load_it(
    browser: Browser, anne: Collaborator, peeters: Client
) -> None:
    data = one_client_data(peeters, save_name="Mijn overzicht")

    response = browser.post(SAVE_TEMPLATE, data, headers=HTMX)

    assert response.status_code == 200
    template = MailTemplate.objects.get(name="Mijn overzicht")
    assert template.owner == anne and not template.shared
    version = template.versions.get()
    assert (version.language, version.subject) == ("nl", "Uw dossier {NUMCLIENT}")
    assert "Le modèle « Mijn overzicht » est créé" in text_of(response)
    assert 'hx-swap-oob="true"' in response.content.decode()  # the template list follows

    # Its French version, written in the same window later, joins the same template.
    french = one_client_data(
        peeters, language="fr", subject="Votre dossier", body="Bonjour", save_over=template.pk
    )
    browser.post(SAVE_TEMPLATE, french, headers=HTMX)
    assert sorted(template.versions.values_list("language", flat=True)) == ["fr", "nl"]

    loaded = browser.get(
        reverse("mailing:template_load"),
        {"template": str(template.pk), "client": str(peeters.pk)},
        headers=HTMX,
    )
    assert 'value="Uw dossier {NUMCLIENT}"' in unescape(loaded.content.decode())


def test_a_collaborator_cannot_overwrite_a_firm_template(
    browser: Browser, peeters: Client, reminder: MailTemplate
) -> None:
    data = one_client_data(peeters, save_over=reminder.pk)

    response = browser.post(SAVE_TEMPLATE, data, headers=HTMX)

    assert "Sélectionnez un choix valide" in text_of(response)
    assert reminder.versions.get(language="nl").subject == "Ontbrekende documenten – {NOMCLIENT}"


def test_saving_a_template_checks_its_fields_and_its_name(
    browser: Browser, anne: Collaborator, peeters: Client
) -> None:
    MailTemplate.objects.create(name="Mijn overzicht", owner=anne)

    unknown = browser.post(
        SAVE_TEMPLATE, one_client_data(peeters, save_name="Nieuw", body="{NOMCLIEN}"), headers=HTMX
    )
    assert "{NOMCLIENT}" in text_of(unknown)
    same_name = browser.post(
        SAVE_TEMPLATE, one_client_data(peeters, save_name="mijn OVERZICHT"), headers=HTMX
    )
    assert "Vous avez déjà un modèle « mijn OVERZICHT »" in text_of(same_name)
    nameless = browser.post(SAVE_TEMPLATE, one_client_data(peeters), headers=HTMX)
    assert "Donnez un nom au modèle" in text_of(nameless)
    assert MailTemplate.objects.count() == 1


def test_loading_a_template_for_a_selection_says_each_client_gets_its_language(
    browser: Browser, reminder: MailTemplate, peeters: Client
) -> None:
    response = browser.get(
        reverse("mailing:template_load"),
        {"template": str(reminder.pk), "recipients": "selection", "client": str(peeters.pk)},
        headers=HTMX,
    )

    page = text_of(response)
    assert 'value="Documents manquants – {NOMCLIENT}"' in unescape(response.content.decode())
    assert "chacun recevra la version de ce modèle dans sa langue" in page
    assert "(versions : français, néerlandais)" in page
    assert "Pas de version en allemand, anglais" in page  # the missing versions are named


# --- a selection of clients -------------------------------------------------------------


def test_the_selection_window_shows_the_builder_and_the_clients_without_address(
    browser: Browser, clients: dict[str, Client]
) -> None:
    response = browser.get(COMPOSE, {"sel-language": "nl"})

    page = text_of(response)
    assert "3 destinataires : 2 avec une adresse e-mail" in page
    assert "1 sans adresse e-mail" in page
    assert "Jan Maes" in page
    assert 'name="sel-language"' in response.content.decode()


def test_a_saved_selection_opens_the_window_on_its_clients(
    browser: Browser, anne: Collaborator, clients: dict[str, Client]
) -> None:
    saved = ClientSelection.objects.create(
        name="Nederlandstalig", owner=anne, filters={"language": "nl"}
    )

    response = browser.get(COMPOSE, {"selection": saved.pk})

    assert response.status_code == 200
    assert "3 destinataires" in text_of(response)
    assert browser.get(COMPOSE, {"selection": saved.pk + 100}).status_code == 404


def test_the_preview_steps_through_the_recipients_each_in_its_language(
    browser: Browser, clients: dict[str, Client], reminder: MailTemplate
) -> None:
    data = selection_data(**{"sel-language": "", "sel-all": "1", "template": str(reminder.pk)})

    responses = [browser.post(f"{PREVIEW}?i={i}", data, headers=HTMX) for i in (0, 1, 2, 3, 999)]

    # By name as people read it: Bäckerei Schmitz, Bakkerij Peeters, Boulangerie Dupont,
    # Brouwerij Wouters; Jan Maes has no address and is not a recipient.
    pages = [text_of(response) for response in responses]
    positions = [re.search(r"(\d+) / (\d+)", page).group(0) for page in pages]  # type: ignore[union-attr]
    assert positions == ["1 / 4", "2 / 4", "3 / 4", "4 / 4", "4 / 4"]
    assert "Bäckerei Schmitz" in pages[0] and "pas de version en allemand" in pages[0]
    assert "Ontbrekende documenten – Bakkerij Peeters BV" in pages[1]
    assert "Beste Jan Peeters," in pages[1]
    assert "Documents manquants – Boulangerie Dupont SRL" in pages[2]
    assert "Bonjour Marie Dupont," in pages[2]
    everything = " ".join(pages)
    assert "Ontbrekende documenten – Bakkerij Peeters BV" in everything
    assert "Documents manquants – Boulangerie Dupont SRL" in everything
    assert "pas de version en allemand" in everything
    assert "Jan Maes" not in everything  # no address: not a recipient


def test_the_pre_send_check_of_a_selection_lists_blockers_and_warnings(
    browser: Browser, clients: dict[str, Client], reminder: MailTemplate
) -> None:
    data = selection_data(**{"sel-language": "", "sel-all": "1", "template": str(reminder.pk)})

    response = browser.post(PRESEND, data, headers=HTMX)

    page = text_of(response)
    assert "3 prêts, 2 bloqués" in page
    row = re.search(
        r"Bäckerei Schmitz.*?bloqué(.*?)</tr>", unescape(response.content.decode()), re.S
    )
    assert row is not None
    assert "allemand" in row.group(1)
    maes = re.search(r"Jan Maes.*?bloqué(.*?)</tr>", unescape(response.content.decode()), re.S)
    assert maes is not None and "adresse" in maes.group(1)
    assert "Envoyer aux 3 clients prêts" in page


def test_sending_to_a_selection_creates_a_batch_that_queues_one_mail_per_client(
    browser: Browser, anne: Collaborator, clients: dict[str, Client]
) -> None:
    data = selection_data(cc="kopie@fidu.be", read_receipt="on", send="1")

    response = browser.post(COMPOSE, data)

    batch = MailBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("mailing:batch_progress", args=[batch.pk])
    assert batch.sender == anne
    progress = browser.get(response["Location"])
    assert "Préparation des mails" in text_of(progress)
    assert 'hx-trigger="every 2s"' in progress.content.decode()

    services.batch_compose(batch_id=batch.pk)

    messages = list(OutboundMessage.objects.filter(batch=batch).order_by("client__number"))
    assert [m.client for m in messages] == [clients["peeters"], clients["wouters"]]
    peeters_mail, wouters_mail = (parsed(m) for m in messages)
    assert str(peeters_mail["Subject"]).strip() == "Nieuws voor Bakkerij Peeters BV"
    assert str(wouters_mail["To"]) == "info@wouters.be, an@wouters.be"
    assert "Beste An Wouters," in wouters_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Peeters" not in message_bytes(messages[1]).decode(errors="replace")
    for message, mail in zip(messages, (peeters_mail, wouters_mail), strict=True):
        assert message.read_receipt and message.cc == ["kopie@fidu.be"]
        assert str(mail["Disposition-Notification-To"]) == "anne@fidu.be"
        assert message.language == "nl"

    made = browser.get(reverse("mailing:batch_progress", args=[batch.pk]), headers=HTMX)
    page = text_of(made)
    assert "3 / 3 préparés" in page
    # Made is not sent: the two mails wait for the worker, and the page keeps asking.
    assert "Envoi en cours" in page and "En file d'attente 2" in page
    assert 'hx-trigger="every 2s"' in made.content.decode()
    assert f"{reverse('mailing:outbox')}?batch={batch.pk}" in made.content.decode()
    assert "Clients bloqués (rien ne leur est envoyé)" in page and "Jan Maes" in page
    assert 'value="1"' in made.content.decode()  # only the blocked client is settled

    outbox = browser.get(reverse("mailing:outbox"), {"batch": batch.pk})
    assert "Nieuws voor Bakkerij Peeters BV" in text_of(outbox)
    assert "Nieuws voor Brouwerij Wouters BV" in text_of(outbox)


def test_a_selection_sent_twice_creates_one_batch(
    browser: Browser, clients: dict[str, Client]
) -> None:
    data = selection_data(send="1")

    first = browser.post(COMPOSE, data)
    second = browser.post(COMPOSE, data, follow=True)

    assert MailBatch.objects.count() == 1
    assert first["Location"] == second.redirect_chain[-1][0]
    assert "déjà lancé" in text_of(second)


def test_a_selection_without_any_reachable_client_is_not_sent(
    browser: Browser, clients: dict[str, Client]
) -> None:
    data = selection_data(**{"sel-language": "nl", "sel-has_email": "0", "send": "1"})

    response = browser.post(COMPOSE, data)

    assert response.status_code == 200
    assert "Aucun client de la sélection n'a d'adresse e-mail" in text_of(response)
    assert MailBatch.objects.count() == 0


def test_the_batch_pages_belong_to_their_sender(
    browser: Browser, clients: dict[str, Client], make_collaborator: Callable[..., Collaborator]
) -> None:
    browser.post(COMPOSE, selection_data(send="1"))
    batch = MailBatch.objects.get()
    other = Browser()
    other.force_login(make_collaborator())

    assert other.get(reverse("mailing:batch_progress", args=[batch.pk])).status_code == 404
    assert other.get(reverse("mailing:outbox"), {"batch": batch.pk}).status_code == 404
    assert browser.get(reverse("mailing:outbox"), {"batch": "x"}).status_code == 404
    assert browser.get(reverse("mailing:batch_progress", args=[999999])).status_code == 404


def test_files_too_large_for_the_method_block_the_mail_before_anything_is_queued(
    browser: Browser, peeters: Client, settings: Any
) -> None:
    joined = upload(browser, "scan.pdf", b"%PDF-1.4 " + b"s" * 60_000)
    settings.COURRIER = {**settings.COURRIER, "MAX_MESSAGE_BYTES": 70_000}
    data = one_client_data(peeters, uploads=[joined.pk])

    window = browser.get(COMPOSE, {"client": peeters.pk})
    check = browser.post(PRESEND, data, headers=HTMX)
    sent = browser.post(f"{COMPOSE}?client={peeters.pk}", {**data, "send": "1"})

    assert "Limite de votre méthode d'envoi (SMTP)" in text_of(window)
    assert "0 prêt, 1 bloqué" in text_of(check)
    assert "la méthode d'envoi SMTP accepte au plus" in text_of(check)
    assert sent.status_code == 200
    assert "la méthode d'envoi SMTP accepte au plus" in text_of(sent)
    assert f'name="uploads" value="{joined.pk}"' in sent.content.decode()
    assert OutboundMessage.objects.count() == 0


def test_the_preview_shows_the_headers_copies_and_files_that_will_leave(
    browser: Browser, firm: Firm, peeters: Client
) -> None:
    firm.fixed_bcc = "archief@fidu.be"
    firm.save()
    joined = upload(browser, "balans.pdf", b"%PDF-1.4 balans")
    data = one_client_data(
        peeters,
        cc="boekhouding@peeters.be",
        bcc="stagiair@fidu.be",
        reply_to="secretariaat@fidu.be",
        read_receipt="on",
        copy_to_sender="on",
        uploads=[joined.pk],
    )

    response = browser.post(PREVIEW, data, headers=HTMX)

    page = text_of(response)
    assert "Cc boekhouding@peeters.be" in page
    # Each header is named in the reader's language, not by its technical name.
    assert "Adresse de réponse secretariaat@fidu.be" in page
    assert "Accusé de réception demandé à anne@fidu.be" in page
    assert "Langue nl" in page
    for technical in ("Reply-To", "Disposition-Notification-To", "Content-Language", "Subject"):
        assert technical not in page
    assert "balans.pdf" in page
    for blind in ("stagiair@fidu.be", "anne@fidu.be", "archief@fidu.be"):
        assert blind in page  # listed apart, as blind copies
    assert "jamais dans les en-têtes" in page
    assert OutboundMessage.objects.count() == 0


def test_send_renders_the_mail_once_and_stores_what_the_check_rendered(
    browser: Browser, peeters: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Envoyer" to one client goes once through the pipeline: the pre-send check renders
    the mail, and that rendering is what is stored and what arrives."""
    from courrier.mailing.services import checks, compose

    drafts: list[str] = []
    real = checks.mail_draft

    def counted(*args: Any, **kwargs: Any) -> Any:
        drafts.append(kwargs["subject"])
        return real(*args, **kwargs)

    monkeypatch.setattr(checks, "mail_draft", counted)
    monkeypatch.setattr(compose, "mail_draft", counted)

    response = browser.post(f"{COMPOSE}?client={peeters.pk}", one_client_data(peeters))

    assert response.status_code == 302
    assert drafts == ["Uw dossier {NUMCLIENT}"]
    message = OutboundMessage.objects.get()
    assert message.subject == "Uw dossier C0042" and message.archived is True
    assert "Hierbij uw" in parsed(message).get_body(("plain",)).get_content()  # type: ignore[union-attr]
