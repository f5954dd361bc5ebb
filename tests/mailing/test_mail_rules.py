"""The rules a mail keeps whoever sends it, read from the other side: the bytes that reached
the SMTP server, the page the collaborator reads.

- A mail goes wholly in one language: a Dutch client and a template that exists only in French
  get a French mail from top to bottom (its salutation and dates too), when the window allows
  another language, and nothing otherwise; the same for one client and for a selection.
- A field written in small letters or with spaces is a field: it arrives filled in, or the
  page refuses it with the nearest code; never as typed.
- A value still to type ({?date:...}) blocks the mail.
- One size unit on the compose page and in the pre-send check, in the reader's language.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import services
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    Phrase,
    SendingProfile,
)
from tests.fakes.smtp import FakeSMTPServer

COMPOSE = reverse("mailing:compose")
PREVIEW = reverse("mailing:preview")
PRESEND = reverse("mailing:presend")
UPLOAD = reverse("mailing:upload")
LOAD = reverse("mailing:template_load")
SAVE_TEMPLATE = reverse("mailing:template_save_from_compose")
HTMX = {"HX-Request": "true"}
OPTION = "Autoriser une autre langue que celle du client"


def text_of(response: Any) -> str:
    """The page as a user reads it: tags dropped, entities decoded, spaces collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def arrived(server: FakeSMTPServer, count: int) -> list[EmailMessage]:
    """Deliver what is queued and read the mails as the server received them."""
    for profile_id in set(OutboundMessage.objects.values_list("profile_id", flat=True)):
        services.messages_deliver(profile_id=profile_id)
    mails = []
    for received in server.wait_for(count):
        mail = BytesParser(policy=policy.default).parsebytes(received.data)
        assert isinstance(mail, EmailMessage)
        mails.append(mail)
    assert len(mails) == count
    return mails


def read(mail: EmailMessage) -> str:
    """Everything the client reads: subject, text part and HTML part."""
    parts = [str(mail["Subject"])]
    for kind in ("plain", "html"):
        part = mail.get_body((kind,))
        assert isinstance(part, EmailMessage)
        parts.append(str(part.get_content()).replace("\r\n", "\n"))
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path / "media"
    yield


@pytest.fixture
def anne(db: None, smtp_server: FakeSMTPServer) -> Collaborator:
    Firm.objects.update_or_create(
        pk=1, defaults={"name": "Fiduciaire Martin", "default_language": "fr"}
    )
    anne = Collaborator.objects.create_user(
        "anne@fidu.be", "pw-anne-1234", first_name="Anne", last_name="Martin"
    )
    SendingProfile.objects.create(
        collaborator=anne,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=smtp_server.security,
        from_name="Anne Martin",
        from_address="anne@fidu.be",
    )
    return anne


@pytest.fixture
def browser(anne: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(anne)
    return browser


def new_client(number: str, name: str, language: str, address: str, **extra: Any) -> Client:
    client = Client.objects.create(number=number, name=name, language=language, **extra)
    ClientEmail.objects.create(client=client, address=address, position=0)
    return client


@pytest.fixture
def peeters(db: None) -> Client:
    """A Dutch client whose own salutation is Dutch."""
    return new_client(
        "C0018",
        "Bakkerij Peeters",
        "nl",
        "tom@peeters.be",
        legal_form="BV",
        contact_name="Tom Peeters",
        salutation="Beste heer Peeters",
    )


@pytest.fixture
def offer(db: None) -> MailTemplate:
    """A template written in French only."""
    template = MailTemplate.objects.create(name="Proposition")
    MailTemplateVersion.objects.create(
        template=template,
        language="fr",
        subject="Notre proposition pour {NOMCLIENT}",
        body="{FORMULE},\n\nNous vous proposons un rendez-vous ; nous sommes le {DATELONGUE}.",
    )
    return template


def test_one_dutch_client_gets_a_french_only_template_wholly_in_french_or_nothing(
    browser: Browser, peeters: Client, offer: MailTemplate, smtp_server: FakeSMTPServer
) -> None:
    window = browser.get(COMPOSE, {"client": peeters.pk})
    page = text_of(window)
    # The rule is stated where it applies, and the template list says which versions exist.
    assert OPTION in page and "Un mail part tout entier dans une seule langue" in page
    assert "Proposition (FR)" in page
    assert "La version en néerlandais du modèle remplace" not in page

    loaded = browser.get(LOAD, {"template": offer.pk, "client": peeters.pk}, headers=HTMX)
    notice = text_of(loaded)
    assert "Ce modèle n'a pas de version en néerlandais (versions : français)" in notice
    assert f"ne partira à ce client que si vous cochez « {OPTION} »" in notice
    version = offer.version("fr")
    assert version is not None
    data = {
        "recipients": "client",
        "client": str(peeters.pk),
        "template": str(offer.pk),
        "language": "fr",
        "subject": version.subject,
        "body": version.body,
        "archive": "on",
        "idempotency_key": "one-client",
        "send": "1",
    }

    refused = browser.post(f"{COMPOSE}?client={peeters.pk}", data)
    assert refused.status_code == 200
    assert "Langue de ce client : néerlandais ; le texte est en français." in text_of(refused)
    assert not OutboundMessage.objects.exists()

    allowed = browser.post(f"{COMPOSE}?client={peeters.pk}", {**data, "other_language": "on"})
    assert allowed.status_code == 302

    [mail] = arrived(smtp_server, 1)
    text = read(mail)
    assert mail["Content-Language"] == "fr"
    assert "Madame, Monsieur,\n\nNous vous proposons un rendez-vous" in text
    assert "Beste" not in text and "heer" not in text
    assert re.search(
        r"nous sommes le \d{1,2} (janvier|février|mars|avril|mai|juin|juillet|août|septembre|"
        r"octobre|novembre|décembre) \d{4}",
        text,
    )


def test_a_selection_applies_the_same_rule_to_its_dutch_client(
    browser: Browser,
    anne: Collaborator,
    peeters: Client,
    offer: MailTemplate,
    smtp_server: FakeSMTPServer,
) -> None:
    new_client("C0003", "Boulangerie Dupont", "fr", "marie@dupont.be", salutation="Chère Marie")
    version = offer.version("fr")
    assert version is not None
    data = {
        "recipients": "selection",
        "sel-has_email": "1",
        "template": str(offer.pk),
        "language": "fr",
        "subject": version.subject,
        "body": version.body,
        "archive": "on",
        "idempotency_key": "selection",
    }

    loaded = text_of(
        browser.get(LOAD, {"template": offer.pk, "recipients": "selection"}, headers=HTMX)
    )
    assert "(versions : français)" in loaded
    assert "Pas de version en néerlandais, allemand, anglais" in loaded
    check = text_of(browser.post(PRESEND, data, headers=HTMX))
    assert "1 prêt, 1 bloqué" in check
    assert "Le modèle « Proposition » n'a pas de version en néerlandais" in check
    allowed = {**data, "other_language": "on"}
    check = text_of(browser.post(PRESEND, allowed, headers=HTMX))
    assert "2 prêts, 0 bloqué" in check
    assert "ce mail part tout entier en français" in check

    browser.post(COMPOSE, {**allowed, "send": "1"})
    services.batch_compose(batch_id=MailBatch.objects.get().pk)

    mails = {str(mail["To"]): mail for mail in arrived(smtp_server, 2)}
    dutch, french = read(mails["tom@peeters.be"]), read(mails["marie@dupont.be"])
    assert mails["tom@peeters.be"]["Content-Language"] == "fr"
    assert "Madame, Monsieur,\n\nNous vous proposons un rendez-vous" in dutch
    assert "Beste" not in dutch
    assert "Chère Marie,\n\nNous vous proposons un rendez-vous" in french


@pytest.mark.parametrize("written", ["{nomclient}", "{NomClient}", "{ NOMCLIENT }"])
def test_a_field_in_small_letters_or_with_spaces_arrives_filled_in(
    browser: Browser, peeters: Client, smtp_server: FakeSMTPServer, written: str
) -> None:
    data = {
        "recipients": "client",
        "client": str(peeters.pk),
        "language": "nl",
        "subject": f"Dossier {written}",
        "body": f"{{Formule}},\n\nUw dossier {written} ({{ numclient }}).",
        "archive": "on",
        "idempotency_key": "fields-" + written,
        "send": "1",
    }

    response = browser.post(f"{COMPOSE}?client={peeters.pk}", data)

    assert response.status_code == 302
    [mail] = arrived(smtp_server, 1)
    text = read(mail)
    assert str(mail["Subject"]) == "Dossier Bakkerij Peeters BV"
    assert "Beste heer Peeters,\n\nUw dossier Bakkerij Peeters BV (C0018)." in text
    assert "{" not in text.split("<html", 1)[0]


def test_a_mistyped_field_in_small_letters_is_refused_everywhere_with_the_nearest_code(
    browser: Browser, peeters: Client
) -> None:
    refusal = "Champ inconnu {nomclien} : vouliez-vous dire {NOMCLIENT} ?"
    data = {
        "recipients": "client",
        "client": str(peeters.pk),
        "language": "nl",
        "subject": "Dossier",
        "body": "Beste {nomclien}, zie {voir annexe} en {bonjour}.",
        "archive": "on",
        "idempotency_key": "mistyped",
    }

    preview = browser.post(PREVIEW, data, headers=HTMX)
    sent = browser.post(f"{COMPOSE}?client={peeters.pk}", {**data, "send": "1"})
    saved = browser.post(SAVE_TEMPLATE, {**data, "save_name": "Mijn brief"}, headers=HTMX)
    phrase = browser.post(
        reverse("mailing:phrase_create"), {"name": "Groet", "text_nl": "Dag {nomclien}"}
    )

    for response in (preview, sent, saved, phrase):
        assert response.status_code == 200
        assert refusal in text_of(response)
        # Plain text in braces ({voir annexe}, {bonjour}) is no field: nothing else is refused.
        assert text_of(response).count("Champ inconnu") == text_of(response).count(refusal)
    assert not OutboundMessage.objects.exists()
    assert not MailTemplate.objects.exists() and not Phrase.objects.exists()


def test_a_template_saved_with_a_field_in_small_letters_fills_it_in(
    browser: Browser, peeters: Client, smtp_server: FakeSMTPServer
) -> None:
    response = browser.post(
        reverse("mailing:template_create"),
        {
            "name": "Overzicht",
            "context": "client",
            "subject_nl": "Overzicht {nomclient}",
            "body_nl": "{formule},\n\nHet overzicht van {NomClient}.",
        },
    )
    assert response.status_code == 302, text_of(response)
    template = MailTemplate.objects.get()
    batch = services.batch_create(
        sender=Collaborator.objects.get(),
        client_ids=[peeters.pk],
        subject="",
        body="",
        template=template,
        options={"language": "nl"},
    )
    services.batch_compose(batch_id=batch.pk)

    [mail] = arrived(smtp_server, 1)
    assert str(mail["Subject"]) == "Overzicht Bakkerij Peeters BV"
    assert "Beste heer Peeters,\n\nHet overzicht van Bakkerij Peeters BV." in read(mail)


def test_a_value_still_to_type_blocks_the_mail(browser: Browser, peeters: Client) -> None:
    data = {
        "recipients": "client",
        "client": str(peeters.pk),
        "language": "nl",
        "subject": "Ontbrekende documenten",
        "body": "Kunt u ons de documenten bezorgen vóór {?datum:uiterste datum}?",
        "archive": "on",
        "idempotency_key": "prompt",
    }

    check = text_of(browser.post(PRESEND, data, headers=HTMX))
    sent = browser.post(f"{COMPOSE}?client={peeters.pk}", {**data, "send": "1"})
    preview = text_of(browser.post(PREVIEW, data, headers=HTMX))

    blocker = "Une valeur à saisir est restée dans le texte : « uiterste datum »."
    assert "0 prêt, 1 bloqué" in check and blocker in check
    assert sent.status_code == 200 and blocker in text_of(sent)
    assert "Ce message ne peut pas partir tel quel" in preview and blocker in preview
    assert not OutboundMessage.objects.exists()


def test_sizes_read_in_one_unit_on_the_compose_page_and_in_the_check(
    browser: Browser, anne: Collaborator, peeters: Client, settings: Any
) -> None:
    settings.COURRIER = {**settings.COURRIER, "MAX_MESSAGE_BYTES": 1_800_000}
    page = browser.post(
        UPLOAD,
        {"files": SimpleUploadedFile("bilan.pdf", b"%PDF" + b"0" * 1_499_996, "application/pdf")},
        headers=HTMX,
    )
    attachments = text_of(page)
    upload_id = re.search(r'name="uploads" value="(\d+)"', page.content.decode())
    assert upload_id is not None
    data = {
        "recipients": "client",
        "client": str(peeters.pk),
        "language": "nl",
        "subject": "Balans",
        "body": "{FORMULE},\n\nIn bijlage.",
        "archive": "on",
        "idempotency_key": "sizes",
        "uploads": upload_id.group(1),
    }
    check = text_of(browser.post(PRESEND, data, headers=HTMX))

    # 1.5 MB joined, 2.1 MB once encoded in base64, against a limit of 1.8 MB: all in Mo.
    assert "1 fichier, 1,5 Mo (2,1 Mo une fois dans le mail)" in attachments
    assert ": 1,8 Mo par mail." in attachments
    assert "Le message pèserait 2,1 Mo" in check and "accepte au plus 1,8 Mo" in check
    for text in (attachments, check):
        assert "Mio" not in text and "Kio" not in text and "octets" not in text

    Collaborator.objects.filter(pk=anne.pk).update(language="en")
    english = text_of(browser.post(UPLOAD, {"uploads": upload_id.group(1)}, headers=HTMX))
    assert "1.5 MB" in english and "1.8 MB" in english and "Mo" not in english
