"""A client opens a secure link, in a real browser, as the client would.

A collaborator mails a tax assessment from the client file's Documents tab with the compose
window (the document is sensitive: it goes by link, the code in a second mail). The two mails
arrive at the SMTP server; the test reads their bytes, takes the link from the first and the
code from the second, and opens the link in a browser of its own (another context: no session,
no cookie of the firm, a Dutch browser), types a wrong code, then the right one, and saves the
document: its bytes and its name are the document's. The page speaks the mail's language
(German), not the client's language field (changed since), nor the browser's, nor the
collaborator's (French). Expired, revoked and locked links each show their page, in French,
Dutch and German.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from courrier.clients.models import Client as ClientRecord
from courrier.documents.contexts import document_contexts
from courrier.documents.demo import seed_documents
from courrier.documents.models import Document
from courrier.documents.services import document_store
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.links import MAX_FAILED_ATTEMPTS, link_revoke
from courrier.mailing.models import LinkOpening, SecureLink, SendingProfile
from courrier.mailing.services import Draft, messages_deliver
from courrier.mailing.services.by_link import message_compose_by_link
from tests.clients.factories import make_client
from tests.csp import Violations
from tests.fakes.smtp import FakeSMTPServer
from tests.firm.test_browser import CHROMIUM, TIMEOUT_MS, context  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (apt-get install -y chromium)",
    ),
]

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
NAME = "Avertissement-extrait de rôle 2026.pdf"
TITLE = "Avertissement-extrait de rôle 2026"
FIRM = "Fiduciaire Demo"
LINK = re.compile(r"http://[^\s/]+/l/[A-Za-z0-9]+/")
CODE = re.compile(r"^([A-Z2-9]{5}-[A-Z2-9]{5})$", re.M)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path, live_server: Any) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    # Links in mails are built on the public address: here, the test's server.
    settings.PUBLIC_URL = live_server.url
    Firm.objects.update_or_create(pk=1, defaults={"name": FIRM, "phone": "+32 2 123 45 67"})
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def profile(smtp_server: FakeSMTPServer) -> SendingProfile:
    sender = Collaborator.objects.get()  # the one the browser context is logged in as
    return SendingProfile.objects.create(
        collaborator=sender,
        method=SendingProfile.Method.SMTP,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Anne Martin",
        from_address=sender.email,
    )


@pytest.fixture
def clients_browser(context: BrowserContext) -> Any:  # noqa: F811
    """A browser of the client's own: a new context of the same Chromium, Dutch, with no
    cookie at all (the firm's session lives in the collaborator's context)."""
    browser = context.browser
    assert browser is not None
    own = browser.new_context(locale="nl-BE", accept_downloads=True)
    own.set_default_timeout(TIMEOUT_MS)
    # The client's pages work under the Content-Security-Policy: the browser refuses nothing.
    violations = Violations().watch(own)
    yield own
    own.close()
    assert violations.seen == []


def plain(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    text = str(body.get_content())  # type: ignore[attr-defined]
    return text.replace("\r\n", "\n").replace("\u202f", " ").replace("\xa0", " ")


def one_line(text: str) -> str:
    return " ".join(text.split())


def assert_clients_page(page: Page, language: str) -> None:
    """The firm's name, nothing of its application, the mail's language."""
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_text(FIRM).first).to_be_visible()
    expect(page.locator("nav, .topbar")).to_have_count(0)
    expect(page.locator("a")).to_have_count(0)


def settled(page: Page) -> None:
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def test_a_client_opens_the_link_and_saves_the_document(
    context: BrowserContext,  # noqa: F811
    clients_browser: BrowserContext,
    profile: SendingProfile,
    smtp_server: FakeSMTPServer,
    tmp_path: Path,
) -> None:
    seed_documents(collaborators={}, companies={}, clients=[])  # the demo's document template
    client = make_client("C0042", name="Weber", legal_form="", language="de")
    client.emails.create(address="info@weber.be", position=0)
    sender = Collaborator.objects.get()
    document = document_store(
        client=client,
        file=SimpleUploadedFile(NAME, PDF, content_type="application/pdf"),
        kind=Document.Kind.TAX_ASSESSMENT,
        title=TITLE,
        date=date(2026, 3, 12),
        by=sender,
    )

    # The collaborator, in French, mails it from the Documents tab.
    page = context.new_page()
    page.goto(f"/clients/{client.pk}/")
    page.get_by_role("tab", name="Documents").click()
    settled(page)
    page.locator(f"#document-{document.pk}").get_by_role("link", name="Envoyer un email").click()
    expect(page.locator("#id_send_by_link")).to_be_checked()  # sensitive: by link
    # The list of templates says in which languages each exists.
    page.select_option("select[name=template]", label="Envoi d'un document (FR, NL, DE, EN)")
    expect(page.locator("[name=subject]")).to_have_value("{TITREDOC}")
    page.check("#id_send_code")
    page.get_by_role("button", name="Prévisualiser").click()
    expect(page.locator("#preview")).to_contain_text("über den unten stehenden gesicherten Link")
    page.get_by_role("button", name="Envoyer", exact=True).click()
    page.wait_for_url(re.compile(rf"/documents/client/{client.pk}/"))
    expect(page.get_by_text("Le code d'accès part dans un second mail au client.")).to_be_visible()

    # Later, the client's language field changes; the mail they hold is German.
    ClientRecord.objects.filter(pk=client.pk).update(language="fr")
    messages_deliver(profile_id=profile.pk)
    first, second = (item.message for item in smtp_server.wait_for(2))

    # The first mail, as the client reads it: German, the document announced by link, no file.
    assert first["Subject"] == TITLE
    assert first["To"] == "info@weber.be"
    assert list(first.iter_attachments()) == []
    text = plain(first)
    assert one_line(text).startswith("Sehr geehrte Damen und Herren,")
    assert (
        f"wir übermitteln Ihnen Ihr Dokument „{TITLE}“ (Steuerbescheid) vom 12. März 2026 "
        "über den unten stehenden gesicherten Link."
    ) in one_line(text)
    assert "anbei" not in text.lower() and "Anhang" not in text
    assert f"Das Dokument „{NAME}“ steht bis zum" in one_line(text)
    assert "Zum Öffnen erhalten Sie einen Zugangscode auf anderem Weg." in text
    assert "{" not in text
    [url] = LINK.findall(text)
    html = first.get_body(("html",))
    assert html is not None and f'href="{url}"' in str(html.get_content())  # type: ignore[attr-defined]

    # The second mail gives the code, names the document and the first mail, not the link.
    assert second["Subject"] == "Ihr Zugangscode"
    assert second["To"] == "info@weber.be"
    code_text = plain(second)
    [code] = CODE.findall(code_text)
    assert f"für das Dokument „{NAME}“, das wir Ihnen in unserer E-Mail „{TITLE}“" in one_line(
        code_text
    )
    assert url not in second.as_string() and "/l/" not in second.as_string()

    # The client clicks the link, in a browser that never saw the firm's application.
    visitor = clients_browser.new_page()
    visitor.goto(url)
    assert_clients_page(visitor, "de")
    expect(visitor.get_by_role("heading", name="Gesichertes Dokument")).to_be_visible()
    expect(visitor.get_by_text(f"Das Dokument „{NAME}“")).to_be_visible()
    expect(visitor.get_by_text("Code d'accès")).to_have_count(0)

    # A wrong code first: the page says so, in German, and counts.
    visitor.get_by_label("Zugangscode").fill("AAAAA-AAAAA")
    with visitor.expect_request(lambda request: request.method == "POST") as posted:
        visitor.get_by_role("button", name="Dokument herunterladen").click()
    # What Chromium sends from a page without referrer: the post a CSRF check refuses.
    assert posted.value.all_headers().get("origin") == "null"
    expect(visitor.get_by_role("alert")).to_have_text(
        "Dieser Code ist nicht richtig. Sie haben noch 4 Versuche."
    )
    assert_clients_page(visitor, "de")

    # The code of the second mail opens it: the browser saves the document under its name.
    visitor.get_by_label("Zugangscode").fill(code)
    with visitor.expect_download() as downloading:
        visitor.get_by_role("button", name="Dokument herunterladen").click()
    download = downloading.value
    assert download.suggested_filename == NAME
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes() == PDF == Path(document.file.path).read_bytes()
    assert clients_browser.cookies() == []
    link = SecureLink.objects.get(token=url.rstrip("/").rsplit("/", 1)[1])
    assert (link.language, link.client_id) == ("de", client.pk)
    assert list(link.openings.order_by("id").values_list("outcome", flat=True)) == [
        LinkOpening.Outcome.WRONG_CODE,
        LinkOpening.Outcome.OPENED,
    ]


# What each page says, per language of the mail.
EXPIRED = {
    "fr": "Ce lien a expiré le",
    "nl": "Deze link is verlopen op",
    "de": "Dieser Link ist am",
}
REVOKED = {
    "fr": "Ce lien a été désactivé par votre fiduciaire.",
    "nl": "Deze link werd door uw boekhoudkantoor uitgeschakeld.",
    "de": "Dieser Link wurde von Ihrem Treuhandbüro deaktiviert.",
}
LOCKED = {
    "fr": "Ce lien est bloqué après trop de codes erronés.",
    "nl": "Deze link is geblokkeerd na te veel foute codes.",
    "de": "Dieser Link ist nach zu vielen falschen Codes gesperrt.",
}
UNAVAILABLE = {
    "fr": "Document indisponible",
    "nl": "Document niet beschikbaar",
    "de": "Dokument nicht verfügbar",
}
SUBMIT = {
    "fr": "Télécharger le document",
    "nl": "Document downloaden",
    "de": "Dokument herunterladen",
}


def mailed_link(sender: Collaborator, client: ClientRecord, language: str) -> SecureLink:
    """A link made the way the window makes it: a document mailed by link in `language`."""
    document = document_store(
        client=client,
        file=SimpleUploadedFile(NAME, PDF, content_type="application/pdf"),
        kind=Document.Kind.TAX_ASSESSMENT,
        title=f"{TITLE} {language}",
        date=date(2026, 3, 12),
        by=sender,
    )
    [about] = document_contexts([document.pk], sender)
    message, _code = message_compose_by_link(
        sender=sender,
        client=client,
        context=about,
        draft=Draft(subject="{TITREDOC}", body="{FORMULE},", language=language),
    )
    return SecureLink.objects.get(message=message)


@pytest.mark.parametrize("language", ["fr", "nl", "de"])
def test_expired_revoked_and_locked_links_each_say_so(
    language: str,
    clients_browser: BrowserContext,
    profile: SendingProfile,
    live_server: Any,
) -> None:
    sender = Collaborator.objects.get()
    # The client's language field says English: the pages follow the mails.
    client = make_client("C0043", name="Jansen", language="en")
    client.emails.create(address="info@jansen.be", position=0)
    visitor = clients_browser.new_page()

    expired = mailed_link(sender, client, language)
    SecureLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    visitor.goto(f"{live_server.url}/l/{expired.token}/")
    assert_clients_page(visitor, language)
    expect(visitor.get_by_role("heading", name=UNAVAILABLE[language])).to_be_visible()
    expect(visitor.get_by_role("alert")).to_contain_text(EXPIRED[language])

    revoked = mailed_link(sender, client, language)
    link_revoke(link=revoked)
    visitor.goto(f"{live_server.url}/l/{revoked.token}/")
    assert_clients_page(visitor, language)
    expect(visitor.get_by_role("alert")).to_contain_text(REVOKED[language])

    # Locked by the client's own wrong codes, typed in the page.
    locked = mailed_link(sender, client, language)
    visitor.goto(f"{live_server.url}/l/{locked.token}/")
    for _ in range(MAX_FAILED_ATTEMPTS):
        visitor.locator("#link-code").fill("ZZZZZ-ZZZZZ")
        with visitor.expect_navigation():
            visitor.get_by_role("button", name=SUBMIT[language]).click()
    expect(visitor.get_by_role("alert")).to_contain_text(LOCKED[language])
    visitor.goto(f"{live_server.url}/l/{locked.token}/")  # and when coming back later
    assert_clients_page(visitor, language)
    expect(visitor.get_by_role("alert")).to_contain_text(LOCKED[language])
    expect(visitor.locator("#link-code")).to_have_count(0)

    # An address that is no link says so in every language, with nothing of the firm's.
    visitor.goto(f"{live_server.url}/l/{'x' * 43}/")
    expect(visitor.get_by_text("Ce lien n'existe pas.", exact=False)).to_be_visible()
    expect(visitor.get_by_text("Dieser Link existiert nicht.", exact=False)).to_be_visible()
    expect(visitor.locator("nav, .topbar, a")).to_have_count(0)
