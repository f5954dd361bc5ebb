"""The pages a client of the firm meets under /l/, read as that client reads them.

The code form works from a browser that holds no cookie of the firm and posts with
"Origin: null" (what Chromium does under `Referrer-Policy: no-referrer`), while the firm's own
pages keep refusing a forged post. Every answer under /l/ (the form, a refusal, an unknown
address, a method a browser never uses, a missing file, a server error) is a page of the
client's: in the language of the mail that carried the link, the firm's name, and nothing of
the firm's application.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from auditlog.context import disable_auditlog
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client as WebClient
from django.utils import timezone

from courrier.clients.models import Client
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import links
from courrier.mailing.links import MAX_FAILED_ATTEMPTS, link_create
from courrier.mailing.models import SecureLink, SendingProfile
from courrier.mailing.services import Draft, upload_store
from courrier.mailing.services.by_link import message_compose_by_link
from tests.fakes.smtp import FakeSMTPServer


@pytest.fixture(autouse=True)
def _no_audit_of_past_schemas() -> Iterator[None]:
    """Rows written while the tables are those of an older migration: the audit log, which
    reads the models of today, stays out of it."""
    with disable_auditlog():
        yield


PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
NAME = "Avertissement-extrait de rôle 2026.pdf"
FIRM = "Fiduciaire Martin"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_URL = "https://courrier.fidu.test"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def firm(db: None) -> Firm:
    firm, _created = Firm.objects.update_or_create(
        pk=1, defaults={"name": FIRM, "phone": "+32 2 765 43 20"}
    )
    return firm


@pytest.fixture
def weber(make_client: Callable[..., Client], firm: Firm) -> Client:
    return make_client(name="Weber", language="de", emails=["info@weber.test"])


def make_link(client: Client, language: str | None = None) -> tuple[SecureLink, str]:
    return link_create(
        client=client,
        name=NAME,
        content_type="application/pdf",
        content=PDF,
        created_by=None,
        language=language,
    )


def text(response: Any) -> str:
    html = response.content.decode()
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def assert_clients_page(response: Any, language: str) -> None:
    """A page of the client's: its language, the firm's name, no cookie set, and no menu nor
    any way into the firm's application."""
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    assert FIRM in html
    assert "topbar-nav" not in html and "<nav" not in html
    assert "<a " not in html  # not even to the firm's home page
    assert "accueil" not in html.lower() and "Se déconnecter" not in html
    assert "Traceback" not in html
    assert not response.cookies
    assert "no-store" in response["Cache-Control"]


# -- CSRF: the link form works without cookies, the firm's pages stay protected --------------


def test_the_code_form_opens_from_a_browser_with_no_cookie_and_origin_null(weber: Client) -> None:
    link, code = make_link(weber)
    # A fresh browser of the client: no session, no CSRF cookie, and Django checking CSRF as
    # it does for real browsers.
    web = WebClient(enforce_csrf_checks=True)

    form = web.get(f"/l/{link.token}/", HTTP_ACCEPT_LANGUAGE="nl-BE")
    assert form.status_code == 200
    assert_clients_page(form, "de")
    assert "csrfmiddlewaretoken" not in form.content.decode()
    served = web.post(f"/l/{link.token}/", {"code": code}, HTTP_ORIGIN="null")

    assert served.status_code == 200
    assert served.content == PDF
    assert served["Content-Type"] == "application/pdf"
    # The real name, accents included (RFC 6266), which Chromium uses to save the file.
    assert served["Content-Disposition"] == (
        "attachment; filename*=utf-8''Avertissement-extrait%20de%20r%C3%B4le%202026.pdf"
    )
    assert not served.cookies and not web.cookies
    assert list(link.openings.values_list("outcome", flat=True)) == ["opened"]


def test_the_firms_own_pages_still_refuse_a_forged_post(
    weber: Client, make_collaborator: Callable[..., Collaborator]
) -> None:
    link, _code = make_link(weber)
    web = WebClient(enforce_csrf_checks=True)
    # An administrator may revoke any link (a collaborator, the links they made).
    web.force_login(make_collaborator(role=Collaborator.Role.ADMIN))
    web.get(f"/documents/client/{weber.pk}/")  # a page of the firm: sets the CSRF cookie
    token = web.cookies["csrftoken"].value
    revoke = f"/documents/liens/{link.pk}/revoquer/"

    for origin in ("null", "https://attacker.example", "http://127.0.0.1:9999"):
        forged = web.post(revoke, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN=origin)
        assert forged.status_code == 403, origin
        assert "Page expirée" in text(forged)
    without_token = web.post(revoke, HTTP_ORIGIN="http://testserver")
    assert without_token.status_code == 403
    link.refresh_from_db()
    assert link.revoked_at is None

    # The same request from the firm's own page goes through.
    genuine = web.post(revoke, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="http://testserver")
    assert genuine.status_code in (200, 302)
    link.refresh_from_db()
    assert link.revoked_at is not None


# -- the language of the mail -----------------------------------------------------------------


def test_the_page_speaks_the_mails_language_not_the_clients_nor_the_browsers(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    make_client: Callable[..., Client],
    firm: Firm,
) -> None:
    profile = make_profile(server=smtp_server)
    sender = profile.collaborator
    assert sender is not None
    sender.language = "fr"
    sender.save(update_fields=["language"])
    client = make_client(name="Dupuis", language="fr", emails=["info@dupuis.test"])
    upload = upload_store(
        owner=sender, file=SimpleUploadedFile(NAME, PDF, content_type="application/pdf")
    )
    # The collaborator writes this mail in German (the window's language), whatever the file.
    message, _code = message_compose_by_link(
        sender=sender,
        client=client,
        draft=Draft(
            subject="Ihr Steuerbescheid", body="Guten Tag,", language="de", uploads=[upload]
        ),
    )
    link = SecureLink.objects.get(message=message)
    assert link.language == "de" == message.language
    # Later the client's language field changes; the mail they received is still German.
    Client.objects.filter(pk=client.pk).update(language="en")

    web = WebClient()
    web.force_login(sender)  # even a collaborator's browser, in French, Dutch asked
    page = web.get(f"/l/{link.token}/", HTTP_ACCEPT_LANGUAGE="nl-BE,nl;q=0.9")

    assert page.status_code == 200
    assert_clients_page(page, "de")
    shown = text(page)
    assert "Gesichertes Dokument" in shown and "Zugangscode" in shown
    assert f"Das Dokument „{NAME}“" in shown
    assert "Code d'accès" not in shown and "Toegangscode" not in shown
    wrong = web.post(f"/l/{link.token}/", {"code": "AAAAA-AAAAA"})
    assert "Dieser Code ist nicht richtig. Sie haben noch 4 Versuche." in text(wrong)


@pytest.mark.django_db(transaction=True)
def test_existing_links_take_their_messages_language_else_their_clients(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    make_client: Callable[..., Client],
) -> None:
    profile = make_profile(server=smtp_server)
    sender = profile.collaborator
    assert sender is not None
    dupuis = make_client(name="Dupuis", language="fr", emails=["info@dupuis.test"])
    upload = upload_store(owner=sender, file=SimpleUploadedFile(NAME, PDF, "application/pdf"))
    message, _code = message_compose_by_link(
        sender=sender,
        client=dupuis,
        draft=Draft(subject="Dokument", body="Guten Tag,", language="de", uploads=[upload]),
    )
    mailed = SecureLink.objects.get(message=message)
    peeters = make_client(name="Peeters", language="nl", emails=["info@peeters.test"])
    alone, _code = make_link(peeters)

    executor = MigrationExecutor(connection)
    executor.migrate([("mailing", "0008_message_content")])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    languages = dict(SecureLink.objects.values_list("pk", "language"))
    assert languages == {mailed.pk: "de", alone.pk: "nl"}


# -- every page under /l/ is the client's -----------------------------------------------------


def test_expired_revoked_and_locked_links_explain_in_the_mails_language(
    make_client: Callable[..., Client], firm: Firm
) -> None:
    client = make_client(name="Dupuis", language="fr")
    web = WebClient()

    expired, _code = make_link(client, "nl")
    SecureLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    page = web.get(f"/l/{expired.token}/")
    assert page.status_code == 410
    assert_clients_page(page, "nl")
    assert "Document niet beschikbaar" in text(page)
    assert "Deze link is verlopen op" in text(page)

    revoked, _code = make_link(client, "de")
    links.link_revoke(link=revoked)
    page = web.get(f"/l/{revoked.token}/")
    assert page.status_code == 410
    assert_clients_page(page, "de")
    assert "Dieser Link wurde von Ihrem Treuhandbüro deaktiviert" in text(page)

    locked, code = make_link(client, "en")
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        web.post(f"/l/{locked.token}/", {"code": "ZZZZZ-ZZZZZ"})
    last = web.post(f"/l/{locked.token}/", {"code": "ZZZZZ-ZZZZZ"})
    assert "This link is locked after too many wrong codes" in text(last)
    page = web.post(f"/l/{locked.token}/", {"code": code})
    assert page.status_code == 403
    assert_clients_page(page, "en")
    assert PDF not in page.content


def test_the_last_attempt_is_announced(make_client: Callable[..., Client], firm: Firm) -> None:
    link, _code = make_link(make_client(language="fr"))
    web = WebClient()
    for _ in range(MAX_FAILED_ATTEMPTS - 2):
        web.post(f"/l/{link.token}/", {"code": "ZZZZZ-ZZZZZ"})
    last = web.post(f"/l/{link.token}/", {"code": "ZZZZZ-ZZZZZ"})
    assert "Il vous reste un dernier essai : après, le lien sera bloqué." in text(last)


@pytest.mark.parametrize("path", ["/l/", "/l/" + "x" * 43 + "/", "/l/abc/def/"])
def test_an_address_under_l_that_is_no_link_says_so_in_every_language(
    firm: Firm, path: str
) -> None:
    page = WebClient().get(path)
    assert page.status_code == 404
    assert_clients_page(page, "fr")
    shown = text(page)
    assert "Ce lien n'existe pas." in shown
    assert "Deze link bestaat niet." in shown
    assert "Dieser Link existiert nicht." in shown
    assert "This link does not exist." in shown
    assert "Page introuvable" not in shown


def test_a_method_no_browser_uses_is_answered_in_the_links_language(weber: Client) -> None:
    link, _code = make_link(weber)
    web = WebClient()
    for method in (web.put, web.delete, web.patch):
        page = method(f"/l/{link.token}/")
        assert page.status_code == 405
        assert page["Allow"] == "GET, HEAD, POST"
        assert_clients_page(page, "de")
        assert "Diese Adresse öffnen Sie in einem Webbrowser" in text(page)
    assert web.head(f"/l/{link.token}/").status_code == 200
    assert link.openings.count() == 0


def test_a_missing_file_is_explained(weber: Client) -> None:
    link, code = make_link(weber)
    link.file.delete(save=False)
    page = WebClient().post(f"/l/{link.token}/", {"code": code})
    assert page.status_code == 410
    assert_clients_page(page, "de")
    assert "Die Datei ist auf dem Server nicht mehr verfügbar." in text(page)


def test_a_server_error_is_the_clients_page_too(
    weber: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, _code = make_link(weber)

    def broken(**kwargs: Any) -> SecureLink:
        raise RuntimeError("the storage is gone")

    monkeypatch.setattr(links, "link_visit", broken)
    web = WebClient(raise_request_exception=False)
    page = web.get(f"/l/{link.token}/")
    assert page.status_code == 500
    assert_clients_page(page, "de")
    assert "Unerwarteter Fehler" in text(page)
    assert "the storage is gone" not in page.content.decode()
    # The reference the client can quote is the one the log holds the traceback under.
    assert "Fehlerreferenz, für Ihr Steuerbüro:" in text(page)
    assert f"<code data-request-id>{page['X-Request-ID']}</code>" in page.content.decode()

    # Elsewhere, the firm's own error page stays.
    monkeypatch.setattr(Firm, "load", broken)
    elsewhere = web.get("/connexion/")
    assert elsewhere.status_code == 500
    assert "Une erreur inattendue s'est produite" in text(elsewhere)
