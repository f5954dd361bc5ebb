"""The compose window about objects of a context (?context=<name>&objects=<ids>): their
fields, their templates, their files joined automatically, the preview and the pre-send check
per object, one mail or a batch of one mail per object, and the files sent as secure links.

A small context of the tests' own ("dossier") stands for invoices, VAT returns and documents:
registered for each test and taken away after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse

from courrier.amounts import format_amount
from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.mailing import contexts, services
from courrier.mailing.contexts import MailContext, StoredFile
from courrier.mailing.fields import CLIENT_FIELDS, CONTEXT_FIELDS, Field
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    SecureLink,
    SendingProfile,
)
from courrier.mailing.services import message_bytes
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.factories import make_company

COMPOSE = reverse("mailing:compose")
PREVIEW = reverse("mailing:preview")
PRESEND = reverse("mailing:presend")
TEMPLATE_LOAD = reverse("mailing:template_load")
HTMX = {"HX-Request": "true"}
NAME = "dossier"

_WORDS = {"fr": "Dossier", "nl": "Dossier", "de": "Akte", "en": "File"}


@dataclass
class Dossier:
    pk: int
    client: Client
    number: str
    amount: str
    content: bytes
    language: str = ""
    hidden: bool = False  # a dossier the collaborator may not see
    company: BillingCompany | None = None  # like an invoice: its company's profile sends


def text_of(response: Any) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def parsed(raw: bytes) -> EmailMessage:
    mail = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(mail, EmailMessage)
    return mail


def plain(mail: EmailMessage) -> str:
    """The text part, its narrow and non-breaking spaces read as spaces."""
    body = mail.get_body(("plain",))
    assert body is not None
    return spaced(str(body.get_content()))  # type: ignore[attr-defined]


def spaced(text: str) -> str:
    return text.replace("\u202f", " ").replace("\xa0", " ")


def _context_of(dossier: Dossier) -> MailContext:
    def values(language: str) -> dict[str, str]:
        from decimal import Decimal

        return {
            "NUMDOSSIER": f"{_WORDS[language]} {dossier.number}",
            "MONTANTDOSSIER": format_amount(Decimal(dossier.amount)),
        }

    name = f"dossier-{dossier.number}.pdf"
    return MailContext(
        name=NAME,
        client=dossier.client,
        values=values,
        object_id=dossier.pk,
        label=f"Dossier {dossier.number}",
        attachments=(
            StoredFile(
                name=name,
                content_type="application/pdf",
                size=len(dossier.content),
                read=lambda: dossier.content,
            ),
        ),
        language=dossier.language,
        billing_company=dossier.company,
    )


@pytest.fixture
def dossiers() -> Iterator[dict[int, Dossier]]:
    """The registry of the test context: fill the dict, the resolver reads it."""
    table: dict[int, Dossier] = {}

    def resolve(ids: Any, user: Collaborator | None) -> list[MailContext]:
        return [_context_of(table[pk]) for pk in ids if pk in table and not table[pk].hidden]

    CONTEXT_FIELDS[NAME] = [
        *CLIENT_FIELDS,
        Field("NUMDOSSIER", "Numéro du dossier", "Dossier", "Dossier 2026-7"),
        Field("MONTANTDOSSIER", "Montant du dossier", "Dossier", "1 234,50 €"),
    ]
    contexts.register(NAME, resolve)
    yield table
    CONTEXT_FIELDS.pop(NAME, None)
    contexts._RESOLVERS.pop(NAME, None)


@pytest.fixture
def firm(db: None) -> Firm:
    firm, _created = Firm.objects.update_or_create(
        pk=1, defaults={"name": "Fiduciaire Martin", "default_language": "fr"}
    )
    return firm


@pytest.fixture
def anne(firm: Firm, smtp_server: FakeSMTPServer) -> Collaborator:
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


@pytest.fixture
def files(dossiers: dict[int, Dossier], make_client: Callable[..., Client]) -> dict[int, Dossier]:
    dupuis = make_client(name="Boulangerie Dupuis", language="fr", emails=["info@dupuis.be"])
    peeters = make_client(
        name="Bakkerij Peeters", legal_form="BV", language="nl", emails=["jan@peeters.be"]
    )
    dossiers[11] = Dossier(11, dupuis, "2026-11", "1234.5", b"%PDF-1.7 dupuis onze\n")
    dossiers[12] = Dossier(12, dupuis, "2026-12", "99", b"%PDF-1.7 dupuis douze\n")
    dossiers[21] = Dossier(21, peeters, "2026-21", "42.1", b"%PDF-1.7 peeters\n")
    return dossiers


def window_url(*ids: int, **extra: str) -> str:
    query = f"?context={NAME}&objects={','.join(str(pk) for pk in ids)}"
    for key, value in extra.items():
        query += f"&{key}={value}"
    return COMPOSE + query


def window_data(*ids: int, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "context": NAME,
        "objects": ",".join(str(pk) for pk in ids),
        "language": "fr",
        "subject": "Votre {NUMDOSSIER}",
        "body": "Bonjour {NOMCLIENT},\n\nLe montant du {NUMDOSSIER} est de {MONTANTDOSSIER}.",
        "archive": "on",
        "idempotency_key": "k-" + "-".join(str(pk) for pk in ids),
    }
    data.update(extra)
    return data


# -- the window -------------------------------------------------------------------------------


def test_the_window_shows_the_objects_their_fields_and_their_files(
    browser: Browser, files: dict[int, Dossier]
) -> None:
    response = browser.get(window_url(11, 21))

    assert response.status_code == 200
    page = text_of(response)
    assert "Dossier 2026-11" in page and "Dossier 2026-21" in page
    assert "Boulangerie Dupuis" in page and "Bakkerij Peeters" in page
    html = response.content.decode()
    assert 'value="NUMDOSSIER"' in html and 'value="MONTANTDOSSIER"' in html
    assert 'value="NOMCLIENT"' in html  # the client's fields too
    assert "dossier-2026-11.pdf" in page and "dossier-2026-21.pdf" in page
    assert "joint automatiquement" in page
    assert "Envoyer les pièces jointes par lien sécurisé" in page
    # The files of the objects cannot be taken away.
    assert 'name="remove_upload"' not in html


def test_unknown_contexts_and_objects_are_a_404(
    browser: Browser, files: dict[int, Dossier]
) -> None:
    files[12].hidden = True
    assert browser.get(COMPOSE + "?context=nothing&objects=1").status_code == 404
    assert browser.get(COMPOSE + f"?context={NAME}&objects=abc").status_code == 404
    assert browser.get(COMPOSE + f"?context={NAME}&objects=").status_code == 404
    assert browser.get(COMPOSE + f"?context={NAME}&objects=999").status_code == 404
    assert browser.get(window_url(12)).status_code == 404  # not the user's to see
    # Mixed: only the visible ones are written about.
    page = text_of(browser.get(window_url(12, 21)))
    assert "Dossier 2026-21" in page and "Dossier 2026-12" not in page


def test_the_window_lists_the_templates_of_the_context_and_loads_one(
    browser: Browser, files: dict[int, Dossier]
) -> None:
    ours = MailTemplate.objects.create(name="Rappel dossier", context=NAME)
    MailTemplateVersion.objects.create(
        template=ours, language="nl", subject="Uw {NUMDOSSIER}", body="Beste, {MONTANTDOSSIER}"
    )
    MailTemplate.objects.create(name="Vœux de fin d'année", context="client")

    html = browser.get(window_url(21)).content.decode()

    assert "Rappel dossier" in html and "Vœux de fin d" not in html
    loaded = browser.get(
        TEMPLATE_LOAD,
        {"template": ours.pk, "context": NAME, "objects": "21", "client": files[21].client.pk},
        headers=HTMX,
    )
    assert loaded.status_code == 200
    assert "Uw {NUMDOSSIER}" in unescape(loaded.content.decode())


def test_the_preview_steps_through_every_object_each_mail_in_one_language(
    browser: Browser, files: dict[int, Dossier]
) -> None:
    data = window_data(11, 21)

    first = text_of(browser.post(PREVIEW + "?i=0", data, headers=HTMX))
    second = text_of(browser.post(PREVIEW + "?i=1", data, headers=HTMX))
    allowed = text_of(
        browser.post(PREVIEW + "?i=1", {**data, "other_language": "on"}, headers=HTMX)
    )

    assert "Dossier 2026-11" in first and "1 / 2" in first
    assert "Le montant du Dossier 2026-11 est de 1.234,50 €" in spaced(first)
    assert "dossier-2026-11.pdf" in first
    assert "Dossier 2026-21" in second and "2 / 2" in second
    # A French text is not sent to a Dutch client, nor mixed with Dutch data: it is blocked,
    # or, when allowed, it goes wholly in French.
    assert "Ce message ne peut pas partir tel quel" in second
    assert "Langue de ce client : néerlandais ; le texte est en français." in second
    assert "Ce message ne peut pas partir tel quel" not in allowed
    assert "Le montant du Dossier 2026-21 est de 42,10 €" in spaced(allowed)
    assert "€ 42,10" not in spaced(allowed)


# -- one object ------------------------------------------------------------------------------


def test_one_object_is_sent_with_its_file_and_recorded_against_it(
    browser: Browser, files: dict[int, Dossier], smtp_server: FakeSMTPServer
) -> None:
    response = browser.post(COMPOSE, window_data(11, send="1", next="/fiscal/tva/?page=2"))

    assert response.status_code == 302
    assert response["Location"] == "/fiscal/tva/?page=2"
    message = OutboundMessage.objects.get()
    assert (message.context, message.object_id, message.client) == (NAME, 11, files[11].client)
    mail = parsed(message_bytes(message))
    assert str(mail["Subject"]) == "Votre Dossier 2026-11"
    [attached] = list(mail.iter_attachments())
    assert attached.get_filename() == "dossier-2026-11.pdf"
    assert attached.get_content() == files[11].content

    services.messages_deliver(profile_id=message.profile_id)
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["info@dupuis.be"]
    assert files[11].content in b"".join(
        part.get_payload(decode=True) or b""
        for part in parsed(received.data).iter_attachments()  # type: ignore[misc]
    )


def test_after_sending_an_unsafe_next_falls_back_to_the_client_file(
    browser: Browser, files: dict[int, Dossier]
) -> None:
    response = browser.post(
        COMPOSE, window_data(21, language="nl", send="1", next="https://evil.example/")
    )

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("clients:detail", args=[files[21].client.pk]))


def test_a_field_of_another_context_is_refused_on_the_form(
    browser: Browser, files: dict[int, Dossier]
) -> None:
    response = browser.post(COMPOSE, window_data(11, body="{NUMFACTURE}", send="1"))

    assert response.status_code == 200
    assert "NUMFACTURE" in text_of(response)
    assert OutboundMessage.objects.count() == 0


# -- several objects ---------------------------------------------------------------------------


def test_several_objects_are_checked_then_sent_as_a_batch_one_mail_each(
    browser: Browser, anne: Collaborator, files: dict[int, Dossier]
) -> None:
    # The Dutch client's mail goes wholly in French, as the window allows.
    data = window_data(11, 12, 21, other_language="on")

    check = browser.post(PRESEND, data, headers=HTMX)
    page = text_of(check)
    assert "3 prêts" in page
    assert "Dossier 2026-11" in page and "Dossier 2026-12" in page and "Dossier 2026-21" in page
    assert "Envoyer les 3 mails prêts" in page

    response = browser.post(COMPOSE, {**data, "send": "1", "next": "/fiscal/tva/"})
    batch = MailBatch.objects.get()
    assert response["Location"] == reverse("mailing:batch_progress", args=[batch.pk])
    assert batch.context == NAME and batch.object_ids == [11, 12, 21]
    dupuis, peeters = files[11].client.pk, files[21].client.pk
    assert batch.client_ids == [dupuis, dupuis, peeters] and batch.total == 3

    services.batch_compose(batch_id=batch.pk)
    services.batch_compose(batch_id=batch.pk)  # a second run queues nothing twice

    messages = list(OutboundMessage.objects.filter(batch=batch).order_by("object_id"))
    assert [(m.object_id, m.client_id) for m in messages] == [
        (11, dupuis),
        (12, dupuis),
        (21, peeters),
    ]
    assert {m.idempotency_key for m in messages} == {
        f"batch:{batch.pk}:{NAME}:{pk}" for pk in (11, 12, 21)
    }
    mails = [parsed(message_bytes(m)) for m in messages]
    assert "1.234,50 €" in plain(mails[0])
    assert "99,00 €" in plain(mails[1])
    assert "2026-11" not in message_bytes(messages[1]).decode(errors="replace")
    assert messages[2].language == "fr" and "42,10 €" in plain(mails[2])
    assert [a.get_content() for a in mails[2].iter_attachments()] == [files[21].content]

    progress = browser.get(reverse("mailing:batch_progress", args=[batch.pk]))
    assert "3 / 3 préparés" in text_of(progress)
    assert progress.content.decode().count('data-outcome="queued"') == 3
    assert 'href="/fiscal/tva/"' in progress.content.decode()


def test_a_batch_lists_its_blocked_objects_by_label(
    browser: Browser, files: dict[int, Dossier], make_client: Callable[..., Client]
) -> None:
    nobody = make_client(name="Sans Adresse", emails=[])
    files[31] = Dossier(31, nobody, "2026-31", "10", b"x")

    browser.post(COMPOSE, window_data(11, 31, send="1"))
    batch = MailBatch.objects.get()
    services.batch_compose(batch_id=batch.pk)

    batch.refresh_from_db()
    assert list(batch.blocked) == ["31"] and batch.queued == 1
    page = text_of(browser.get(reverse("mailing:batch_progress", args=[batch.pk])))
    assert "Dossier 2026-31" in page and "Sans Adresse" in page
    assert "Éléments bloqués" in page


# -- files by secure link --------------------------------------------------------------------


def test_files_over_the_limit_are_offered_as_a_link_in_the_check(
    browser: Browser, files: dict[int, Dossier], settings: Any
) -> None:
    settings.COURRIER = {**settings.COURRIER, "MAX_MESSAGE_BYTES": 20_000}
    files[11].content = b"%PDF" + b"a" * 30_000

    check = browser.post(PRESEND, window_data(11), headers=HTMX)
    page = text_of(check)
    assert "bloqué" in page and "Cochez « Envoyer les pièces jointes par lien sécurisé »" in page
    assert 'name="send_by_link"' in check.content.decode()

    again = text_of(browser.post(PRESEND, window_data(11, send_by_link="on"), headers=HTMX))
    assert "1 prêt" in again and "0 bloqué" in again


def test_files_sent_by_link_leave_the_mail_which_gives_the_link_instead(
    browser: Browser, files: dict[int, Dossier], smtp_server: FakeSMTPServer
) -> None:
    response = browser.post(COMPOSE, window_data(11, send_by_link="on", send="1"), follow=True)

    message = OutboundMessage.objects.get()
    [link] = SecureLink.objects.all()
    assert link.message == message and link.client == files[11].client
    assert link.name == "dossier-2026-11.pdf"
    with link.file.open("rb") as handle:
        assert handle.read() == files[11].content
    # The code is shown once to the collaborator.
    page = text_of(response)
    assert "Code d'accès aux pièces jointes" in page
    services.messages_deliver(profile_id=message.profile_id)
    [received] = smtp_server.wait_for(1)
    mail = parsed(received.data)
    assert list(mail.iter_attachments()) == []
    assert files[11].content not in received.data
    text = plain(mail)
    assert f"/l/{link.token}/" in text
    assert "dossier-2026-11.pdf" in text and "code" in text


def test_a_batch_by_link_sends_each_client_its_code_in_a_second_mail(
    browser: Browser, files: dict[int, Dossier]
) -> None:
    browser.post(COMPOSE, window_data(11, 21, other_language="on", send_by_link="on", send="1"))
    batch = MailBatch.objects.get()

    services.batch_compose(batch_id=batch.pk)

    assert batch.options["send_by_link"] is True
    mails = OutboundMessage.objects.filter(batch=batch).order_by("object_id")
    assert [m.object_id for m in mails] == [11, 21]
    for message in mails:
        assert list(parsed(message_bytes(message)).iter_attachments()) == []
        assert message.secure_links.count() == 1
    codes = OutboundMessage.objects.filter(purpose="link-code").order_by("client__name")
    assert [m.client for m in codes] == [files[21].client, files[11].client]
    # The code follows in the language of the mail it opens.
    assert codes[0].language == "fr"


# -- templates of every context --------------------------------------------------------------


def test_the_template_form_offers_the_contexts_with_fields_and_lists_them(
    browser: Browser, files: dict[int, Dossier]
) -> None:
    page = browser.get(reverse("mailing:template_create") + "?context=client")
    html = page.content.decode()
    for name in CONTEXT_FIELDS:
        if name in MailTemplate.Context.values:
            assert f'value="{name}"' in html

    listing = browser.get(reverse("mailing:templates"))
    assert 'data-context="client"' in listing.content.decode()
    assert "{NOMCLIENT}" in text_of(listing)

    fields_page = browser.get(reverse("mailing:template_fields"), {"context": NAME}, headers=HTMX)
    assert "NUMDOSSIER" in fields_page.content.decode()
    assert browser.get(reverse("mailing:template_fields"), {"context": "zz"}).status_code == 404


def test_a_sensitive_document_opens_the_window_with_the_link_option_ticked(
    browser: Browser, anne: Collaborator, make_client: Callable[..., Client]
) -> None:
    from datetime import date

    from django.core.files.uploadedfile import SimpleUploadedFile

    from courrier.documents.models import Document
    from courrier.documents.services import document_store

    client = make_client(name="Jean Dubois", legal_form="", emails=["jean@dubois.be"])
    ipp = document_store(
        client=client,
        file=SimpleUploadedFile("ipp-2025.pdf", b"%PDF-1.7 revenus\n", "application/pdf"),
        kind=Document.Kind.IPP_RETURN,
        title="Déclaration IPP 2025",
        date=date(2026, 6, 30),
        by=anne,
    )
    url = f"{COMPOSE}?context=document&objects={ipp.pk}"

    html = browser.get(url).content.decode()

    assert re.search(r'<input[^>]*name="send_by_link"[^>]*checked', html)
    assert "ipp-2025.pdf" in text_of(browser.get(url))


def test_the_preview_of_a_mail_by_link_shows_the_links_text_and_no_file(
    browser: Browser, files: dict[int, Dossier]
) -> None:
    page = text_of(browser.post(PREVIEW, window_data(11, send_by_link="on"), headers=HTMX))

    assert "Le document « dossier-2026-11.pdf » est disponible" in page
    assert "Pièces jointes aucune" in page
    assert SecureLink.objects.count() == 0  # made when the mail is stored, not before


def test_the_code_can_go_in_a_second_mail_instead_of_being_shown(
    browser: Browser, files: dict[int, Dossier]
) -> None:
    response = browser.post(
        COMPOSE,
        window_data(21, language="nl", send_by_link="on", send_code="on", send="1"),
        follow=True,
    )

    page = text_of(response)
    assert "Code d'accès aux pièces jointes" not in page
    assert "second mail" in page
    code_mail = OutboundMessage.objects.get(purpose="link-code")
    assert code_mail.client == files[21].client and code_mail.language == "nl"
    assert "toegangscode" in plain(parsed(message_bytes(code_mail)))


def test_mails_about_a_companys_objects_leave_through_its_profile(
    browser: Browser, files: dict[int, Dossier], smtp_server: FakeSMTPServer
) -> None:
    company = make_company("BOEK", name="Boekhouding Demo")
    files[21].company = company
    files[21].language = "en"  # the object's own language before the client's

    window = text_of(browser.get(window_url(21)))
    assert "sa société facturante" in window and "aucun paramétrage d'envoi" in window
    refused = browser.post(COMPOSE, window_data(11, 21, send="1"))
    assert refused.status_code == 200 and MailBatch.objects.count() == 0

    SendingProfile.objects.create(
        billing_company=company,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=smtp_server.security,
        from_name="Boekhouding Demo",
        from_address="facturen@boekhouding.be",
    )
    check = browser.post(PRESEND, window_data(21, 11), headers=HTMX).content.decode()
    row = re.search(r'data-object="21">(.*?)</tr>', check, re.S)
    # The object's own language (English), not its client's (Dutch), is the one it reads.
    assert row is not None and "Langue de ce client : anglais" in row.group(1)
    preview = text_of(browser.post(PREVIEW + "?i=1", window_data(11, 21), headers=HTMX))
    assert "Boekhouding Demo <facturen@boekhouding.be>" in preview
    english = window_data(11, 21, language="en", subject="Your {NUMDOSSIER}")
    preview = text_of(browser.post(PREVIEW + "?i=1", english, headers=HTMX))
    assert "Your File 2026-21" in preview  # in English, the object's language

    browser.post(COMPOSE, window_data(11, 21, other_language="on", send="1"))
    services.batch_compose(batch_id=MailBatch.objects.get().pk)
    sent = {m.object_id: m for m in OutboundMessage.objects.all()}
    assert sent[21].from_address == "facturen@boekhouding.be" and sent[21].language == "fr"
    assert sent[11].from_address == "anne@fidu.be"


def test_a_file_joined_to_a_mail_to_one_client_can_go_by_link_too(
    browser: Browser, anne: Collaborator, files: dict[int, Dossier]
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = files[21].client
    stored = services.upload_store(
        owner=anne, file=SimpleUploadedFile("balans.pdf", b"%PDF balans", "application/pdf")
    )

    browser.post(
        f"{COMPOSE}?client={client.pk}",
        {
            "recipients": "client",
            "client": client.pk,
            "language": "nl",
            "subject": "Balans",
            "body": "Beste {NOMCLIENT}",
            "archive": "on",
            "uploads": [stored.pk],
            "send_by_link": "on",
            "send": "1",
            "idempotency_key": "one-client-link",
        },
    )

    message = OutboundMessage.objects.get(purpose="client")
    assert list(parsed(message_bytes(message)).iter_attachments()) == []
    [link] = message.secure_links.all()
    assert link.name == "balans.pdf" and link.client == client
    assert "balans.pdf" in plain(parsed(message_bytes(message)))
