"""A client's data, from the other side: the ZIP an administrator downloads holds the very
bytes that arrived; after erasure nothing of the client is reachable by any page, the record
of the erasure is, for administrators; the other client is untouched; collaborators can do
neither."""

from __future__ import annotations

import html
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.urls import reverse

from courrier.billing.models import Invoice
from courrier.billing.services.sending import invoices_unsent
from courrier.clients.models import Client, ClientEmail
from courrier.documents.models import Document
from courrier.firm.models import Collaborator
from courrier.mailing.models import MessageContent, OutboundMessage, SecureLink
from tests.fakes.smtp import FakeSMTPServer
from tests.privacy.conftest import ClientFile, logged_in


def _zip(response: Any) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_export_holds_the_bytes_that_arrived(
    make_file: Callable[[str, str], ClientFile],
    admin: Collaborator,
    smtp_server: FakeSMTPServer,
    media: Path,
) -> None:
    file = make_file("C0010", "Boulangerie Dupuis")
    other = make_file("C0011", "Garage Martin")
    browser = logged_in(admin)
    client_page = html.unescape(
        browser.get(reverse("clients:detail", args=[file.client.pk])).content.decode()
    )
    export_url = reverse("privacy:client_export", args=[file.client.pk])
    assert export_url in client_page

    response = browser.get(export_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = _zip(response)
    names = archive.namelist()
    emls = sorted(name for name in names if name.endswith(".eml"))
    assert len(emls) == 2  # the mail and the invoice's mail
    arrived = {received.data.replace(b"\r\n", b"\n") for received in smtp_server.messages}
    for name in emls:
        # What the SMTP server received is what was stored and exported.
        assert archive.read(name).replace(b"\r\n", b"\n") in arrived
    mail_eml = next(name for name in emls if name.endswith(f"-{file.mail.pk}.eml"))
    stored = MessageContent.objects.get(message_id=file.mail.pk).raw
    assert archive.read(mail_eml) == bytes(stored)
    document = next(name for name in names if name.startswith("documents/"))
    assert archive.read(document) == (media / file.document.file.name).read_bytes()
    number = f"invoices/{file.invoice.year}-{file.invoice.number:04d}.pdf"
    assert archive.read(number) == (media / file.invoice.pdf.name).read_bytes()
    manifest = json.loads(archive.read("manifest.json"))
    assert {row["path"] for row in manifest} == set(names) - {
        "manifest.json",
        "manifest.csv",
        "client.json",
    }
    assert "path,kind,date,title,status,size,sha256" in archive.read("manifest.csv").decode()
    record = json.loads(archive.read("client.json"))
    assert record["name"] == "Boulangerie Dupuis"
    assert record["emails"] == [{"address": "c0010@client.test", "purpose": "general"}]
    # Nothing of the other client.
    everything = b"".join(archive.read(name) for name in names)
    assert b"Garage Martin" not in everything
    assert str(other.mail.pk) not in {name.rsplit("-", 1)[-1][:-4] for name in emls}


def test_the_eml_equals_what_the_smtp_server_received(
    make_file: Callable[[str, str], ClientFile],
    admin: Collaborator,
    smtp_server: FakeSMTPServer,
) -> None:
    file = make_file("C0012", "Boulangerie Dupuis")
    received = [m for m in smtp_server.messages if b"Votre bilan C0012" in m.data]
    assert len(received) == 1
    archive = _zip(logged_in(admin).get(reverse("privacy:client_export", args=[file.client.pk])))
    eml = next(name for name in archive.namelist() if name.endswith(f"-{file.mail.pk}.eml"))
    assert archive.read(eml).replace(b"\r\n", b"\n") == received[0].data.replace(b"\r\n", b"\n")


def test_collaborators_can_neither_export_nor_erase(
    make_file: Callable[[str, str], ClientFile], colleague: Collaborator
) -> None:
    file = make_file("C0013", "Boulangerie Dupuis")
    browser = logged_in(colleague)
    page = browser.get(reverse("clients:detail", args=[file.client.pk])).content.decode()
    assert reverse("privacy:client_export", args=[file.client.pk]) not in page
    assert browser.get(reverse("privacy:client_export", args=[file.client.pk])).status_code == 403
    erase = reverse("privacy:client_erase", args=[file.client.pk])
    assert browser.get(erase).status_code == 403
    assert browser.post(erase, {"number": "C0013"}).status_code == 403
    assert Client.objects.get(pk=file.client.pk).name == "Boulangerie Dupuis"


def test_a_wrong_number_erases_nothing(
    make_file: Callable[[str, str], ClientFile], admin: Collaborator
) -> None:
    file = make_file("C0014", "Boulangerie Dupuis")
    response = logged_in(admin).post(
        reverse("privacy:client_erase", args=[file.client.pk]), {"number": "C9999"}
    )
    assert response.status_code == 200
    assert "Ce n'est pas le numéro de ce client" in html.unescape(response.content.decode())
    assert OutboundMessage.objects.filter(pk=file.mail.pk).exists()


def test_after_erasure_nothing_of_the_client_is_reachable(
    make_file: Callable[[str, str], ClientFile],
    admin: Collaborator,
    colleague: Collaborator,
    media: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    file = make_file("C0015", "Boulangerie Dupuis")
    other = make_file("C0016", "Garage Martin")
    document_path = media / file.document.file.name
    link_path = media / file.link.file.name
    invoice_pdf = media / file.invoice.pdf.name
    browser = logged_in(admin)
    erase = reverse("privacy:client_erase", args=[file.client.pk])
    page = html.unescape(browser.get(erase).content.decode())
    assert "Ce qui sera effacé" in page and "Ce qui est conservé, et pourquoi" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(erase, {"number": "C0015"})
    assert response.status_code == 302

    # The pages: the client file, its tabs, the mail, its .eml, the document, the link.
    for user in (admin, colleague):
        reader = logged_in(user)
        for url in (
            reverse("clients:detail", args=[file.client.pk]),
            reverse("clients:detail", args=[file.client.pk]) + "?tab=mails",
            reverse("clients:mails", args=[file.client.pk]),
            reverse("documents:client", args=[file.client.pk]),
            reverse("clients:list"),
            reverse("clients:list") + "?q=Dupuis",
            reverse("mailing:outbox"),
            reverse("mailing:undelivered"),
            # What is left of the invoice's mail: the proof that it was sent, nothing else.
            reverse("mailing:message_detail", args=[file.invoice_mail.pk]),
        ):
            text = html.unescape(reader.get(url).content.decode())
            assert "Boulangerie Dupuis" not in text, url
            assert "c0015@client.test" not in text, url
            assert "Votre bilan C0015" not in text, url
            assert "Comptes annuels C0015" not in text, url
        assert reader.get(reverse("mailing:message_detail", args=[file.mail.pk])).status_code == 404
        assert reader.get(reverse("mailing:message_eml", args=[file.mail.pk])).status_code == 404
    assert not Document.objects.filter(pk=file.document.pk).exists()
    assert not document_path.exists()
    assert not SecureLink.objects.filter(pk=file.link.pk).exists()
    assert not link_path.exists()
    assert not ClientEmail.objects.filter(client=file.client).exists()
    client = Client.objects.get(pk=file.client.pk)
    assert (client.name, client.street, client.city, client.active) == (
        "Client effacé",
        "",
        "",
        False,
    )

    # Kept: the issued invoice as issued, and the proof that it left (its mail, without content).
    invoice = Invoice.objects.get(pk=file.invoice.pk)
    assert invoice.status == Invoice.Status.ISSUED and invoice_pdf.exists()
    stub = OutboundMessage.objects.get(pk=file.invoice_mail.pk)
    assert (stub.client_id, stub.subject, stub.to, stub.status) == (None, "", [], "sent")
    assert not MessageContent.objects.filter(message_id=stub.pk).exists()
    assert invoice not in invoices_unsent(billing_company=invoice.billing_company)

    # The record, for administrators: on the client file and in the audit log.
    text = html.unescape(
        browser.get(reverse("clients:detail", args=[file.client.pk])).content.decode()
    )
    assert "Les données personnelles de ce client ont été effacées le" in text
    assert "par Alice Admin" in text
    audit = html.unescape(
        browser.get(reverse("firm:audit") + "?what=client_erased").content.decode()
    )
    assert "Données d'un client effacées" in audit
    assert "Alice Admin" in audit
    assert "Boulangerie" not in audit
    colleague_page = logged_in(colleague).get(reverse("clients:detail", args=[file.client.pk]))
    assert "ont été effacées" not in html.unescape(colleague_page.content.decode())

    # The other client is whole.
    assert Client.objects.get(pk=other.client.pk).name == "Garage Martin"
    assert OutboundMessage.objects.filter(pk=other.mail.pk).exists()
    assert MessageContent.objects.filter(message_id=other.mail.pk).exists()
    assert (media / other.document.file.name).exists()
    assert ClientEmail.objects.filter(client=other.client).count() == 1


def test_an_invoice_mail_that_had_not_left_is_cancelled_by_the_erasure(
    make_file: Callable[[str, str], ClientFile], admin: Collaborator
) -> None:
    from courrier.privacy.services import client_erase

    file = make_file("C0017", "Boulangerie Dupuis")
    OutboundMessage.objects.filter(pk=file.invoice_mail.pk).update(status="uncertain")
    client_erase(client=file.client, by=admin)
    stub = OutboundMessage.objects.get(pk=file.invoice_mail.pk)
    assert (stub.status, stub.to, stub.envelope_recipients) == ("cancelled", [], [])


def test_the_erasure_counts_in_words_one_and_many(
    make_file: Callable[[str, str], ClientFile], admin: Collaborator
) -> None:
    file = make_file("C0017", "Boulangerie Dupuis")
    browser = logged_in(admin)
    erase = reverse("privacy:client_erase", args=[file.client.pk])
    page = html.unescape(browser.post(erase, {"number": "C0017"}, follow=True).content.decode())
    # Two mails (the mail and the invoice's), one document, one address, one invoice kept.
    assert (
        "Les données du client C0017 ont été effacées : 2 mails, 1 document, 1 adresse e-mail. "
        "1 facture émise est conservée."
    ) in page
