"""A mail about a document says how the document reaches the client: joined to the mail, or
by the secure link that ends it. Read in the mails as they arrived, in the preview and in the
pre-send check, with the demo's document template, in French and in Dutch."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as WebClient
from django.urls import reverse

from courrier.clients.models import Client
from courrier.documents.contexts import document_contexts
from courrier.documents.demo import TEMPLATE_NAME, seed_documents
from courrier.documents.models import Document
from courrier.documents.services import document_store
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.models import MailTemplate, SendingProfile
from courrier.mailing.services import Draft, message_compose, messages_deliver, presend_check
from courrier.mailing.services.by_link import message_compose_by_link
from tests.fakes.smtp import FakeSMTPServer

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 20 + b"\n%%EOF\n"
TITLE = "Avertissement-extrait de rôle 2026"

# The sentence of the demo template, then how the document goes, per language.
SENTENCE = {
    "fr": "Nous vous transmettons votre avertissement-extrait de rôle "
    "« Avertissement-extrait de rôle 2026 » du 12 mars 2026",
    "nl": "Wij bezorgen u uw aanslagbiljet „Avertissement-extrait de rôle 2026” van 12 maart 2026",
}
ATTACHED = {"fr": " en pièce jointe.", "nl": " als bijlage."}
LINKED = {"fr": " par le lien sécurisé ci-dessous.", "nl": " via de beveiligde link hieronder."}
# What a mail by link must not say, and the reverse.
ATTACHED_WORDS = {"fr": ("ci-joint", "pièce jointe"), "nl": ("bijlage",)}
LINKED_WORDS = {"fr": ("lien sécurisé",), "nl": ("beveiligde link",)}


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_URL = "https://courrier.fidu.test"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def template(db: None) -> MailTemplate:
    # The demo template names the firm ({CABINET}): an empty name would stop the mail.
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Demo"})
    seed_documents(collaborators={}, companies={}, clients=[])
    return MailTemplate.objects.get(name=TEMPLATE_NAME, context="document")


@pytest.fixture
def profile(smtp_server: FakeSMTPServer, make_profile: Callable[..., SendingProfile]) -> Any:
    return make_profile(server=smtp_server, from_address="anne@fidu.test")


def assessment(client: Client, by: Collaborator) -> Document:
    return document_store(
        client=client,
        file=SimpleUploadedFile("AER-2026.pdf", PDF, content_type="application/pdf"),
        kind=Document.Kind.TAX_ASSESSMENT,
        title=TITLE,
        date=date(2026, 3, 12),
        by=by,
    )


def plain(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    text = str(body.get_content())  # type: ignore[attr-defined]
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def page_text(response: Any) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    text = unescape(re.sub(r"<[^>]+>", " ", html)).replace("\u202f", " ").replace("\xa0", " ")
    return " ".join(text.split())


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_the_mail_says_attached_or_by_link_as_the_document_goes(
    language: str,
    template: MailTemplate,
    profile: SendingProfile,
    smtp_server: FakeSMTPServer,
    make_client: Callable[..., Client],
) -> None:
    sender = profile.collaborator
    assert sender is not None
    client = make_client(name="Dupuis", language=language, emails=["info@dupuis.test"])
    document = assessment(client, sender)
    version = template.version(language)
    assert version is not None
    [context] = document_contexts([document.pk], sender)
    mail = Draft(subject=version.subject, body=version.body, template=template)

    message_compose(sender=sender, client=client, context=context, draft=mail)
    [context] = document_contexts([document.pk], sender)
    message_compose_by_link(
        sender=sender, client=client, context=context, send_code=True, draft=mail
    )
    messages_deliver(profile_id=profile.pk)

    received = [item.message for item in smtp_server.wait_for(3)]
    [joined] = [item for item in received if list(item.iter_attachments())]
    [linked] = [item for item in received if "/l/" in plain(item)]
    joined_text, linked_text = plain(joined), plain(linked)

    assert SENTENCE[language] + ATTACHED[language] in joined_text
    assert not any(word in joined_text for word in LINKED_WORDS[language])
    assert SENTENCE[language] + LINKED[language] in linked_text
    assert not any(word in linked_text.lower() for word in ATTACHED_WORDS[language])
    assert list(linked.iter_attachments()) == []
    # "below" holds: the link comes after the sentence that announces it.
    assert linked_text.index(LINKED[language].strip()) < linked_text.index("/l/")


def test_the_preview_and_the_check_say_it_before_it_goes(
    template: MailTemplate,
    profile: SendingProfile,
    make_client: Callable[..., Client],
) -> None:
    sender = profile.collaborator
    assert sender is not None
    client = make_client(name="Peeters", language="nl", emails=["info@peeters.test"])
    document = assessment(client, sender)
    version = template.version("nl")
    assert version is not None
    web = WebClient()
    web.force_login(sender)
    data = {
        "context": "document",
        "objects": str(document.pk),
        "language": "nl",
        "subject": version.subject,
        "body": version.body,
        "archive": "on",
    }

    joined = page_text(web.post(reverse("mailing:preview"), data, headers={"HX-Request": "true"}))
    linked = page_text(
        web.post(
            reverse("mailing:preview"),
            {**data, "send_by_link": "on"},
            headers={"HX-Request": "true"},
        )
    )

    assert SENTENCE["nl"] + ATTACHED["nl"] in joined
    assert SENTENCE["nl"] + LINKED["nl"] in linked
    for send_by_link, ending in ((False, ATTACHED["nl"]), (True, LINKED["nl"])):
        [check] = presend_check(
            sender=sender,
            draft=Draft(subject=version.subject, body=version.body, template=template),
            batch=True,
            contexts=document_contexts([document.pk], sender),
            send_by_link=send_by_link,
        )
        assert check.blockers == [] and check.preview is not None
        assert SENTENCE["nl"] + ending in " ".join(check.preview.rendered.text.split())
        assert not [warning for warning in check.warnings if "MODEENVOI" in warning]
