"""The Documents tab: upload with type, date and title, list, download, delete by the right
people, clear refusals; and the mail about a document, whose attachment is the stored bytes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as WebClient
from django.urls import reverse

from courrier.clients.models import Client
from courrier.documents.contexts import document_contexts
from courrier.documents.fields import document_values
from courrier.documents.models import Document
from courrier.documents.services import document_store
from courrier.firm.models import Collaborator
from courrier.mailing import contexts, links
from courrier.mailing.fields import fields_for
from courrier.mailing.models import LinkOpening, OutboundMessage, SecureLink, SendingProfile
from courrier.mailing.services import Draft, message_compose, messages_deliver
from courrier.mailing.services.by_link import message_compose_by_link
from tests.fakes.smtp import FakeSMTPServer

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 200 + b"\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_URL = "https://courrier.fidu.test"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def dupuis(make_client: Callable[..., Client]) -> Client:
    return make_client(name="Dupuis", language="fr", emails=["info@dupuis.test"])


def pdf_upload(name: str = "Déclaration IPP 2025.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def store(client: Client, by: Collaborator, **fields: Any) -> Document:
    values: dict[str, Any] = {
        "file": pdf_upload(),
        "kind": Document.Kind.IPP_RETURN,
        "title": "Déclaration IPP 2025",
        "date": date(2026, 6, 15),
    }
    values.update(fields)
    return document_store(client=client, by=by, **values)


def logged_in(user: Collaborator) -> WebClient:
    web = WebClient()
    web.force_login(user)
    return web


def text(response: Any) -> str:
    import html

    return html.unescape(response.content.decode())


# --- storing ------------------------------------------------------------------------------


def test_stored_with_fingerprint_and_sensitive_by_kind(
    dupuis: Client, collaborator: Collaborator
) -> None:
    ipp = store(dupuis, collaborator)
    assert ipp.sensitive is True
    assert ipp.size == len(PDF) and ipp.sha256 == hashlib.sha256(PDF).hexdigest()
    assert ipp.content_type == "application/pdf"  # from the extension, not the browser
    assert ipp.filename == "Déclaration IPP 2025.pdf"
    assert ipp.file.read() == PDF
    contract = store(dupuis, collaborator, kind=Document.Kind.CONTRACT, title="")
    assert contract.sensitive is False
    assert contract.title == "Déclaration IPP 2025"  # the file's name when no title
    forced = store(dupuis, collaborator, kind=Document.Kind.CONTRACT, sensitive=True)
    assert forced.sensitive is True


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("outil.exe", b"MZ...", "n'est pas d'un type accepté"),
        ("vide.pdf", b"", "est vide"),
        ("faux.pdf", b"<html>pas un pdf</html>", "n'est pas un PDF"),
        ("note.txt", b"MZ\x90\x00" + b"\x00" * 100, "programme"),
    ],
)
def test_refused_files_say_why(
    dupuis: Client, collaborator: Collaborator, name: str, content: bytes, message: str
) -> None:
    web = logged_in(collaborator)
    response = web.post(
        f"/documents/client/{dupuis.pk}/",
        {
            "file": pdf_upload(name, content),
            "kind": "other",
            "title": "x",
            "date": "2026-06-15",
            "sensitive": "auto",
        },
    )
    assert response.status_code == 400
    assert message in text(response)
    assert not Document.objects.exists()


def test_too_large_refused(dupuis: Client, collaborator: Collaborator, settings: Any) -> None:
    settings.COURRIER = {**settings.COURRIER, "MAX_DOCUMENT_BYTES": 1000}
    web = logged_in(collaborator)
    response = web.post(
        f"/documents/client/{dupuis.pk}/",
        {
            "file": pdf_upload(),
            "kind": "other",
            "title": "",
            "date": "2026-06-15",
            "sensitive": "auto",
        },
    )
    assert response.status_code == 400
    assert "un document ne peut dépasser" in text(response)


# --- the tab ------------------------------------------------------------------------------


def test_upload_list_and_download_in_the_tab(dupuis: Client, collaborator: Collaborator) -> None:
    web = logged_in(collaborator)
    response = web.post(
        f"/documents/client/{dupuis.pk}/",
        {
            "file": pdf_upload("AER 2025.pdf"),
            "kind": "tax_assessment",
            "title": "Avertissement-extrait de rôle 2025",
            "date": "2026-06-15",
            "sensitive": "auto",
        },
        follow=True,
    )
    assert response.status_code == 200
    page = text(response)
    assert "Le document « Avertissement-extrait de rôle 2025 » a été ajouté." in page
    document = Document.objects.get()
    assert f'id="document-{document.pk}"' in page
    assert "avertissement-extrait de rôle" in page and "sensible" in page
    assert f"?context=document&amp;objects={document.pk}&amp;next=" in response.content.decode()
    # The tab is reachable from the client file.
    assert f'href="/documents/client/{dupuis.pk}/"' in text(web.get(f"/clients/{dupuis.pk}/"))
    download = web.get(f"/documents/{document.pk}/fichier/")
    assert download.content == PDF
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    inline = web.get(f"/documents/{document.pk}/fichier/?inline=1")
    assert inline["Content-Disposition"].startswith("inline;")


def test_tab_needs_a_login(dupuis: Client) -> None:
    response = WebClient().get(f"/documents/client/{dupuis.pk}/")
    assert response.status_code == 302 and "/connexion/" in response["Location"]
    assert WebClient().get("/documents/client/999999/").status_code == 302


def test_unknown_client_or_document_is_a_404(collaborator: Collaborator) -> None:
    web = logged_in(collaborator)
    assert web.get("/documents/client/999999/").status_code == 404
    assert web.get("/documents/999999/fichier/").status_code == 404


def test_only_admins_and_the_uploader_delete(
    dupuis: Client,
    make_collaborator: Callable[..., Collaborator],
    django_capture_on_commit_callbacks: Any,
) -> None:
    uploader = make_collaborator()
    other = make_collaborator()
    admin = make_collaborator(role="admin")
    first = store(dupuis, uploader)
    second = store(dupuis, uploader)
    stored_path = Path(first.file.path)
    assert "Supprimer" not in text(logged_in(other).get(f"/documents/client/{dupuis.pk}/"))
    assert logged_in(other).post(f"/documents/{first.pk}/supprimer/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert logged_in(uploader).post(f"/documents/{first.pk}/supprimer/").status_code == 302
    assert logged_in(admin).post(f"/documents/{second.pk}/supprimer/").status_code == 302
    assert not Document.objects.exists()
    assert not stored_path.exists()


# --- fields and context -------------------------------------------------------------------


def test_fields_in_french_and_dutch(dupuis: Client, collaborator: Collaborator) -> None:
    document = store(dupuis, collaborator, kind=Document.Kind.TAX_ASSESSMENT, title="AER 2025")
    fr = document_values(document, "fr")
    nl = document_values(document, "nl")
    assert fr["TYPEDOCUMENT"] == "avertissement-extrait de rôle"
    assert nl["TYPEDOCUMENT"] == "aanslagbiljet"
    assert fr["DATEDOC"] == "15/06/2026" and nl["DATEDOC"] == "15/06/2026"
    assert fr["DATEDOCLONGUE"] == "15 juin 2026" and nl["DATEDOCLONGUE"] == "15 juni 2026"
    assert fr["TITREDOC"] == "AER 2025" and fr["NOMFICHIER"] == "Déclaration IPP 2025.pdf"
    # Sizes in decimal units, as everywhere else (the limits, the compose window).
    big = store(dupuis, collaborator, file=pdf_upload(content=b"%PDF-1.7\n" + b"0" * 1_572_855))
    assert document_values(big, "fr")["TAILLEDOC"] == "1,6 Mo"
    assert document_values(big, "de")["TAILLEDOC"] == "1,6 MB"
    assert document_values(big, "en")["TAILLEDOC"] == "1.6 MB"
    codes = [field.code for field in fields_for("document")]
    assert {"NOMCLIENT", "TITREDOC", "TYPEDOCUMENT", "DATEDOC", "NOMFICHIER"} <= set(codes)
    assert "TYPEDOC" not in codes  # the invoice's


def test_resolver_keeps_order_and_leaves_out_unknown_ids(
    dupuis: Client, collaborator: Collaborator
) -> None:
    first = store(dupuis, collaborator, kind=Document.Kind.CONTRACT, title="Contrat")
    second = store(dupuis, collaborator, title="IPP")
    found = contexts.resolve("document", [second.pk, 999999, first.pk], user=collaborator)
    assert [context.object_id for context in found] == [second.pk, first.pk]
    assert str(found[0].label) == "Document « IPP »"
    # Read by the compose window to offer the secure link first.
    assert vars(found[0])["sensitive"] is True and vars(found[1])["sensitive"] is False
    assert vars(found[0].attachments[0])["sensitive"] is True
    assert found[0].attachments[0].content == PDF


def attachment_of(received: EmailMessage) -> tuple[str | None, bytes]:
    parts = [part for part in received.iter_attachments()]
    assert len(parts) == 1
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return parts[0].get_filename(), payload


def test_mail_about_a_document_carries_exactly_its_bytes(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    make_client: Callable[..., Client],
) -> None:
    profile = make_profile(server=smtp_server)
    sender = profile.collaborator
    assert sender is not None
    client = make_client(name="Janssens", language="nl", emails=["info@janssens.test"])
    document = store(client, sender, kind=Document.Kind.ANNUAL_ACCOUNTS, title="Jaarrekening 2025")
    [context] = document_contexts([document.pk], sender)
    message = message_compose(
        sender=sender,
        client=client,
        context=context,
        draft=Draft(
            subject="{TYPEDOCUMENT}: {TITREDOC}",
            body="Goedendag,\n\nIn bijlage {NOMFICHIER} van {DATEDOC}.",
        ),
    )
    assert (message.context, message.object_id) == ("document", document.pk)
    messages_deliver(profile_id=profile.pk)
    received = smtp_server.wait_for(1)[0]
    assert received.message["Subject"] == "jaarrekening: Jaarrekening 2025"
    assert "In bijlage Déclaration IPP 2025.pdf van 15/06/2026." in received.part("text/plain")
    name, payload = attachment_of(received.message)
    assert name == "Déclaration IPP 2025.pdf"
    assert payload == PDF == Path(document.file.path).read_bytes()
    # The tab then says when it went.
    page = text(logged_in(sender).get(f"/documents/client/{client.pk}/"))
    assert "envoyé le" in page
    assert reverse("mailing:message_detail", args=[message.pk]) in page


def test_sensitive_document_by_link_serves_the_same_bytes(
    smtp_server: FakeSMTPServer,
    make_profile: Callable[..., SendingProfile],
    dupuis: Client,
) -> None:
    profile = make_profile(server=smtp_server)
    sender = profile.collaborator
    assert sender is not None
    document = store(dupuis, sender)
    [context] = document_contexts([document.pk], sender)
    message, code = message_compose_by_link(
        sender=sender,
        client=dupuis,
        context=context,
        draft=Draft(subject="{TITREDOC}", body="Bonjour,"),
    )
    messages_deliver(profile_id=profile.pk)
    received = smtp_server.wait_for(1)[0]
    assert list(received.message.iter_attachments()) == []
    body = received.part("text/plain")
    match = re.search(r"https://courrier\.fidu\.test/l/([A-Za-z0-9]+)/", body)
    assert match is not None
    link = SecureLink.objects.get(token=match.group(1))
    assert link.message_id == message.pk and link.client_id == dupuis.pk
    served = WebClient().post(f"/l/{link.token}/", {"code": code})
    assert served.status_code == 200 and served.content == PDF
    assert LinkOpening.objects.get(link=link).outcome == "opened"
    # The links list of the tab shows it with its opening, and revoking stops it.
    web = logged_in(sender)
    page = text(web.get(f"/documents/client/{dupuis.pk}/"))
    assert f'id="link-{link.pk}"' in page and "1 tentative" in page
    web.post(f"/documents/liens/{link.pk}/revoquer/")
    with pytest.raises(links.LinkRevoked):
        links.link_open(token=link.token, code=code)
    assert OutboundMessage.objects.filter(client=dupuis).count() == 1


def test_links_purge_command(dupuis: Client, collaborator: Collaborator) -> None:
    import io
    from datetime import timedelta

    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.utils import timezone, translation

    def revoked_two_days_ago(count: int) -> None:
        for _n in range(count):
            link, _code = links.link_create(
                client=dupuis,
                name="a.pdf",
                content_type="application/pdf",
                content=PDF,
                created_by=None,
            )
            links.link_revoke(link=link)
            SecureLink.objects.filter(pk=link.pk).update(
                revoked_at=timezone.now() - timedelta(days=2)
            )

    def purge(*args: str) -> str:
        out = io.StringIO()
        call_command("links_purge", *args, stdout=out)
        return out.getvalue()

    revoked_two_days_ago(1)
    assert purge("--days=1") == "1 fichier de lien sécurisé supprimé.\n"
    assert purge("--days=1") == "0 fichier de lien sécurisé supprimé.\n"
    revoked_two_days_ago(2)
    assert purge("--days=1") == "2 fichiers de lien sécurisé supprimés.\n"
    with translation.override("nl"):
        assert purge("--days=1") == "0 bestanden van beveiligde links verwijderd.\n"
        with pytest.raises(CommandError, match="positief aantal dagen"):
            call_command("links_purge", "--days=-1")
    with pytest.raises(CommandError, match="positif ou nul"):
        call_command("links_purge", "--days=-1")
