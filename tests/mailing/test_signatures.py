"""Who signs a collaborator's mail, read where the client reads it: the bytes that reached the
SMTP server. The version in the mail's language, or none rather than another language's (said
in the preview and the pre-send check); a template that signs itself is not signed again."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Browser
from django.urls import reverse
from django.utils import translation

from courrier.clients.models import Client
from courrier.documents.contexts import document_contexts
from courrier.documents.models import Document
from courrier.documents.services import document_store
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import richtext
from courrier.mailing.models import MailTemplate, MailTemplateVersion, SendingProfile
from courrier.mailing.rendering import body_html
from courrier.mailing.services import Draft, message_compose, messages_deliver
from courrier.mailing.services.by_link import message_compose_by_link
from courrier.mailing.signatures import sign_off_start, signing_field
from tests.fakes.smtp import FakeSMTPServer, Received

PREVIEW = reverse("mailing:preview")
PRESEND = reverse("mailing:presend")
HTMX = {"HX-Request": "true"}

FRENCH = "Pieter Janssens\nComptable\nFiduciaire Demo\nTél. +32 3 555 20 32"
DUTCH = "Pieter Janssens\nAccountant\nFiduciaire Demo\nTel. +32 3 555 20 32"
GERMAN = "Pieter Janssens\nBuchhalter\nFiduciaire Demo\nTel. +32 3 555 20 32"


@pytest.fixture
def pieter(
    smtp_server: FakeSMTPServer,
    make_collaborator: Callable[..., Collaborator],
    make_profile: Callable[..., SendingProfile],
) -> Collaborator:
    pieter = make_collaborator(
        first_name="Pieter",
        last_name="Janssens",
        language="nl",
        signature_fr=FRENCH,
        signature_nl=DUTCH,
    )
    make_profile(server=smtp_server, collaborator=pieter)
    return pieter


@pytest.fixture
def kessler(make_client: Callable[..., Client]) -> Client:
    return make_client(
        name="Schreinerei Kessler", legal_form="PGmbH", language="de", emails=["info@kessler.test"]
    )


def send(sender: Collaborator, client: Client, body: str, smtp: FakeSMTPServer) -> Received:
    message = message_compose(
        sender=sender, client=client, draft=Draft(subject="Ihre Unterlagen", body=body)
    )
    messages_deliver(profile_id=message.profile_id)
    [received] = [m for m in smtp.messages if m.rcpt_tos == message.envelope_recipients]
    return received


def plain(received: Received) -> str:
    return received.part("text/plain").replace("\r\n", "\n")


@pytest.fixture(autouse=True)
def french_afterwards() -> Iterator[None]:
    """The pages asked here speak Dutch or English and leave that language active in this
    thread; the tests after these start in French again."""
    with translation.override("fr"):
        yield


def page_text(response: Any) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_a_german_client_gets_the_german_version_of_the_signature(
    pieter: Collaborator, kessler: Client, smtp_server: FakeSMTPServer
) -> None:
    pieter.signature_de = GERMAN
    pieter.save()

    received = send(pieter, kessler, "Guten Tag,\n\nanbei Ihre Unterlagen.", smtp_server)

    text = plain(received)
    assert text.endswith("anbei Ihre Unterlagen.\n\n-- \n" + GERMAN + "\n")
    assert "Comptable" not in text and "Accountant" not in text
    html = received.part("text/html")
    assert "Buchhalter" in html and "Comptable" not in html


def test_without_a_german_version_the_mail_goes_unsigned_never_in_another_language(
    pieter: Collaborator, kessler: Client, smtp_server: FakeSMTPServer
) -> None:
    received = send(pieter, kessler, "Guten Tag,\n\nanbei Ihre Unterlagen.", smtp_server)

    text = plain(received)
    assert text == "Guten Tag,\n\nanbei Ihre Unterlagen.\n"
    assert "-- " not in text
    html = received.part("text/html")
    assert 'class="signature"' not in html
    assert "Comptable" not in html and "Accountant" not in html and "Tél." not in html


def test_the_preview_says_which_signature_goes_and_warns_when_none_does(
    pieter: Collaborator, kessler: Client, make_client: Callable[..., Client]
) -> None:
    dupont = make_client(name="Boulangerie Dupont", language="fr", emails=["marie@dupont.test"])
    browser = Browser()
    browser.force_login(pieter)

    def preview(client: Client) -> str:
        data = {
            "recipients": "client",
            "client": str(client.pk),
            "language": client.language,
            "subject": "Dossier {NUMCLIENT}",
            "body": "Bonjour,\n\nVoici votre dossier.",
            "archive": "on",
        }
        return page_text(browser.post(PREVIEW, data, headers=HTMX))

    # Pieter reads his interface in Dutch.
    german = preview(kessler)
    assert "Handtekening geen: Pieter Janssens heeft geen handtekening in het Duits" in german
    assert (
        "Deze mail vertrekt zonder handtekening: Pieter Janssens heeft geen handtekening in het "
        "Duits (nooit een handtekening in een andere taal). Voeg ze toe in „Mijn fiche”."
    ) in german
    french = preview(dupont)
    assert "Handtekening Pieter Janssens, versie in het Frans" in french
    assert "zonder handtekening" not in french
    assert "-- Pieter Janssens Comptable" in french


def test_the_pre_send_check_of_a_selection_warns_for_the_clients_left_unsigned(
    pieter: Collaborator, kessler: Client, make_client: Callable[..., Client]
) -> None:
    make_client(name="Bakkerij Peeters", language="nl", emails=["jan@peeters.test"])
    pieter.language = "en"
    pieter.save()
    # Each client gets the version in its language: one text reaches no one in another.
    news = MailTemplate.objects.create(name="Nieuws")
    MailTemplateVersion.objects.create(
        template=news,
        language="nl",
        subject="Nieuws voor {NOMCLIENT}",
        body="Goedendag,\n\nUw dossier is bijgewerkt.",
    )
    MailTemplateVersion.objects.create(
        template=news,
        language="de",
        subject="Neues für {NOMCLIENT}",
        body="Guten Tag,\n\nIhre Akte ist aktualisiert.",
    )
    browser = Browser()
    browser.force_login(pieter)

    response = browser.post(
        PRESEND,
        {
            "recipients": "selection",
            "sel-language": "",
            "sel-all": "1",  # every active client, asked for as such
            "template": str(news.pk),
            "language": "nl",
            "subject": "Nieuws voor {NOMCLIENT}",
            "body": "Goedendag,\n\nUw dossier is bijgewerkt.",
            "archive": "on",
        },
        headers=HTMX,
    )

    html = unescape(response.content.decode())
    german = re.search(r"Schreinerei Kessler.*?</tr>", html, re.S)
    dutch = re.search(r"Bakkerij Peeters.*?</tr>", html, re.S)
    assert german is not None and dutch is not None
    assert "This mail goes without a signature: Pieter Janssens has no signature in German" in (
        german.group(0)
    )
    assert "without a signature" not in dutch.group(0)


@pytest.mark.parametrize(
    "closing",
    [
        "Mit freundlichen Grüßen\n{EXPEDITEUR}",
        "Mit freundlichen Grüßen\n{EXPEDITEUR}\n{CABINET}\n\n",
        "Ihr Team von {CABINET}  ",
    ],
)
def test_a_template_that_signs_itself_arrives_signed_once(
    pieter: Collaborator, kessler: Client, smtp_server: FakeSMTPServer, closing: str
) -> None:
    pieter.signature_de = GERMAN
    pieter.save()
    # {CABINET} has a value: a blank would stop the mail.
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Demo"})

    received = send(
        pieter, kessler, "Guten Tag,\n\nanbei Ihre Unterlagen.\n\n" + closing, smtp_server
    )

    text = plain(received)
    assert "-- " not in text and "Buchhalter" not in text
    assert 'class="signature"' not in received.part("text/html")


def test_a_field_inside_the_last_sentence_does_not_sign_it(
    pieter: Collaborator, kessler: Client, smtp_server: FakeSMTPServer
) -> None:
    pieter.signature_de = GERMAN
    pieter.save()

    received = send(pieter, kessler, "Bei Fragen: {EXPEDITEUR}, gerne.", smtp_server)

    assert plain(received).endswith("Bei Fragen: Pieter Janssens, gerne.\n\n-- \n" + GERMAN + "\n")


def test_a_self_signed_mail_whose_files_go_by_link_is_not_signed_under_its_links(
    pieter: Collaborator,
    kessler: Client,
    smtp_server: FakeSMTPServer,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_URL = "https://courrier.fidu.test"
    pieter.signature_de = GERMAN
    pieter.save()
    document = document_store(
        client=kessler,
        by=pieter,
        file=SimpleUploadedFile("Steuerbescheid.pdf", b"%PDF-1.7\n%%EOF\n"),
        kind=Document.Kind.TAX_ASSESSMENT,
        title="Steuerbescheid 2025",
        date=date(2026, 6, 15),
    )
    [context] = document_contexts([document.pk], pieter)

    message, _code = message_compose_by_link(
        sender=pieter,
        client=kessler,
        context=context,
        draft=Draft(
            subject="{TITREDOC}",
            body="Guten Tag,\n\nIhr Dokument.\n\nMit freundlichen Grüßen\n{EXPEDITEUR}",
        ),
    )
    messages_deliver(profile_id=message.profile_id)

    text = plain(smtp_server.wait_for(1)[0])
    assert "https://courrier.fidu.test/l/" in text
    assert "Mit freundlichen Grüßen\nPieter Janssens" in text
    assert "-- " not in text and "Buchhalter" not in text
    # The links come before the sign-off, not under the name that signs.
    assert text.index("https://courrier.fidu.test/l/") < text.index("Mit freundlichen Grüßen")


def test_the_paragraph_of_the_links_comes_before_the_sign_off_and_the_signature(
    pieter: Collaborator,
    make_client: Callable[..., Client],
    smtp_server: FakeSMTPServer,
    settings: Any,
    tmp_path: Path,
) -> None:
    """A mail whose file goes by link reads, in both parts: the body's text, the paragraph
    that gives the link, the sign-off ("Bien à vous,"), then the signature."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_URL = "https://courrier.fidu.test"
    dupont = make_client(name="Boulangerie Dupont", language="fr", emails=["marie@dupont.test"])
    document = document_store(
        client=dupont,
        by=pieter,
        file=SimpleUploadedFile("Avertissement-extrait.pdf", b"%PDF-1.7\n%%EOF\n"),
        kind=Document.Kind.TAX_ASSESSMENT,
        title="Avertissement-extrait de rôle 2025",
        date=date(2026, 6, 15),
    )
    [context] = document_contexts([document.pk], pieter)

    message, _code = message_compose_by_link(
        sender=pieter,
        client=dupont,
        context=context,
        draft=Draft(
            subject="{TITREDOC}",
            body="Bonjour,\n\nVoici votre avertissement-extrait de rôle.\n\nBien à vous,",
        ),
    )
    messages_deliver(profile_id=message.profile_id)
    [received] = smtp_server.wait_for(1)

    text = plain(received)
    order = [
        text.index("Voici votre avertissement-extrait de rôle."),
        text.index("https://courrier.fidu.test/l/"),
        text.index("Bien à vous,"),
        text.index("-- \nPieter Janssens\nComptable"),
    ]
    assert order == sorted(order), text
    assert text.endswith("Bien à vous,\n\n-- \n" + FRENCH + "\n")

    html = received.part("text/html")
    order = [
        html.index("Voici votre avertissement-extrait de rôle."),
        html.index('href="https://courrier.fidu.test/l/'),
        html.index("Bien à vous,"),
        html.index('<div class="signature"'),
    ]
    assert order == sorted(order), html


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("Bien à vous,\n{EXPEDITEUR}", "EXPEDITEUR"),
        ("Bien à vous,\n{EXPEDITEUR}\n{CABINET}\n \n", "CABINET"),
        ("L'équipe de {SOCIETEFACTURANTE}", "SOCIETEFACTURANTE"),
        ("Tél. {EXPEDITEUR_TEL}\t", "EXPEDITEUR_TEL"),
        ("Contactez {EXPEDITEUR}.", ""),
        ("{EXPEDITEUR}\n\nBien à vous,", ""),
        ("Votre dossier est suivi par {RESPONSABLE}", ""),
        # A field in any case is the field: it signs as {EXPEDITEUR} does.
        ("{expediteur}", "EXPEDITEUR"),
        ("Bien à vous,\n{ Expediteur }", "EXPEDITEUR"),
        ("{bonjour}", ""),
        ("", ""),
    ],
)
def test_the_rule_reads_the_last_non_empty_line(body: str, field: str) -> None:
    assert signing_field(body) == field


@pytest.mark.parametrize(
    ("body", "sign_off"),
    [
        ("Bonjour,\n\nVoici vos documents.\n\nBien à vous,", "Bien à vous,"),
        (
            "Guten Tag,\n\nIhr Dokument.\n\nMit freundlichen Grüßen\n{EXPEDITEUR}",
            "Mit freundlichen Grüßen\n{EXPEDITEUR}",
        ),
        (
            "Beste,\n\nUw factuur.\n\nMet vriendelijke groeten,\n\n{expediteur}\n{CABINET}",
            "Met vriendelijke groeten,\n\n{expediteur}\n{CABINET}",
        ),
        (
            "Dear Sir,\n\nYour invoice.\n\nKind regards,\nEmma Collins",
            "Kind regards,\nEmma Collins",
        ),
        ("Bonjour,\n\nVoici vos documents.\n\nAmitiés,\n\nSophie", "Amitiés,\n\nSophie"),
        ("Bonjour,\n\nVoici vos documents.\n\nL'équipe de {CABINET}", "L'équipe de {CABINET}"),
        # No sign-off: the links go at the end, before the signature.
        ("Bonjour,\n\nVoici vos documents.", ""),
        ("Madame, Monsieur,\n\nVoici vos documents.", ""),
        ("Bonjour,\n\n- les extraits\n- les factures", ""),
        # A formula that opens the mail is not its end.
        ("Bien à vous,\n\nVoici vos documents.", ""),
        ("", ""),
    ],
)
def test_the_sign_off_is_the_closing_formula_and_who_writes_at_the_end(
    body: str, sign_off: str
) -> None:
    blocks = richtext.blocks_of(body_html(body))
    assert richtext.text_of(blocks[sign_off_start(blocks) :]) == sign_off
