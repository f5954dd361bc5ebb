"""The undelivered page, and sending a bounced mail again to the client's current address."""

from __future__ import annotations

import email
import email.policy
import re
from html import unescape
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import services
from courrier.mailing.models import DeliveryStatus, OutboundMessage, SendingProfile
from courrier.mailing.selectors import client_messages
from courrier.mailing.services import Draft, message_bytes
from courrier.mailing.services.resend import message_resend, readdressed
from tests.fakes.smtp import FakeSMTPServer

UNDELIVERED = reverse("mailing:undelivered")
Status = OutboundMessage.Status


def text_of(response: Any) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def login(user: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


def parse(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


@pytest.fixture
def anne(db: None) -> Collaborator:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    anne = Collaborator.objects.create_user(
        "anne@fidu.be", "pw-anne-1234", first_name="Anne", last_name="Martin"
    )
    SendingProfile.objects.create(
        collaborator=anne,
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
        from_name="Anne Martin",
        from_address="anne@fidu.be",
    )
    return anne


@pytest.fixture
def luc(db: None) -> Collaborator:
    return Collaborator.objects.create_user("luc@fidu.be", "pw-luc-1234", first_name="Luc")


@pytest.fixture
def boss(db: None) -> Collaborator:
    return Collaborator.objects.create_user(
        "chef@fidu.be", "pw-chef-1234", first_name="Claire", role=Collaborator.Role.ADMIN
    )


@pytest.fixture
def client_file(db: None) -> Client:
    client = Client.objects.create(number="C0042", name="Boulangerie Dupont", legal_form="SRL")
    ClientEmail.objects.create(client=client, address="ancienne@dupont.be")
    return client


def sent(
    sender: Collaborator, client: Client, subject: str = "Votre bilan 2026"
) -> OutboundMessage:
    message = services.message_compose(
        sender=sender,
        client=client,
        draft=Draft(subject=subject, body="Bonjour {NOMCLIENT},\n\nVoici votre bilan."),
    )
    OutboundMessage.objects.filter(pk=message.pk).update(status=Status.SENT, sent_at=timezone.now())
    message.refresh_from_db()
    return message


def bounce(message: OutboundMessage, detail: str = "550 5.1.1 Mailbox does not exist") -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(
        delivery_status=DeliveryStatus.BOUNCED, delivery_detail=detail, delivery_at=timezone.now()
    )
    message.refresh_from_db()


def new_address(client: Client) -> None:
    client.emails.all().delete()
    ClientEmail.objects.create(client=client, address="nouvelle@dupont.be")


# --- The page ---------------------------------------------------------------------------


def test_the_page_lists_bounces_drops_complaints_and_failures_with_their_reason(
    anne: Collaborator, client_file: Client
) -> None:
    bounced = sent(anne, client_file, "Rejeté")
    bounce(bounced)
    dropped = sent(anne, client_file, "Abandonné")
    OutboundMessage.objects.filter(pk=dropped.pk).update(
        delivery_status=DeliveryStatus.DROPPED, delivery_detail="Bounced Address"
    )
    failed = sent(anne, client_file, "Échoué")
    OutboundMessage.objects.filter(pk=failed.pk).update(
        status=Status.FAILED, last_error="Le serveur refuse le destinataire."
    )
    delivered = sent(anne, client_file, "Bien arrivé")
    OutboundMessage.objects.filter(pk=delivered.pk).update(delivery_status=DeliveryStatus.DELIVERED)

    response = login(anne).get(UNDELIVERED)

    assert response.status_code == 200
    page = text_of(response)
    for subject in ("Rejeté", "Abandonné", "Échoué"):
        assert subject in page
    assert "Bien arrivé" not in page
    assert "550 5.1.1 Mailbox does not exist" in page
    assert "Le serveur refuse le destinataire." in page
    assert "Boulangerie Dupont" in page
    assert "rejeté (bounce)" in page


def test_filters_by_reason_and_by_client(anne: Collaborator, client_file: Client) -> None:
    bounced = sent(anne, client_file, "Bilan annuel")
    bounce(bounced)
    other = Client.objects.create(number="C0099", name="Garage Lambert")
    ClientEmail.objects.create(client=other, address="info@lambert.be")
    failed = sent(anne, other, "Rappel TVA")
    OutboundMessage.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    browser = login(anne)

    only_bounces = text_of(browser.get(UNDELIVERED, {"kind": "bounced"}))
    assert "Bilan annuel" in only_bounces and "Rappel TVA" not in only_bounces
    only_failures = text_of(browser.get(UNDELIVERED, {"kind": "failed"}))
    assert "Rappel TVA" in only_failures and "Bilan annuel" not in only_failures
    lambert = text_of(browser.get(UNDELIVERED, {"q": "lambert"}))
    assert "Rappel TVA" in lambert and "Bilan annuel" not in lambert
    assert browser.get(UNDELIVERED, {"kind": "nonsense", "page": "x"}).status_code == 200


def test_a_collaborator_sees_their_own_an_admin_everyones(
    anne: Collaborator, luc: Collaborator, boss: Collaborator, client_file: Client
) -> None:
    bounce(sent(anne, client_file))

    assert "Votre bilan 2026" not in text_of(login(luc).get(UNDELIVERED))
    assert "Votre bilan 2026" in text_of(login(boss).get(UNDELIVERED))


# --- Resend ----------------------------------------------------------------------------


def test_resend_queues_a_copy_to_the_clients_new_address(
    anne: Collaborator, client_file: Client, smtp_server: FakeSMTPServer
) -> None:
    original = sent(anne, client_file)
    bounce(original)
    new_address(client_file)

    response = login(anne).post(reverse("mailing:message_resend", args=[original.pk]), follow=True)

    assert "Le message est renvoyé à nouvelle@dupont.be" in text_of(response)
    copy = OutboundMessage.objects.exclude(pk=original.pk).get()
    assert copy.status == Status.QUEUED
    assert copy.to == ["nouvelle@dupont.be"]
    assert copy.envelope_recipients == ["nouvelle@dupont.be"]
    assert copy.purpose == f"resend:{original.pk}"
    assert copy.sender == anne and copy.client == client_file and copy.archived
    assert copy.message_id != original.message_id

    # What the client receives: the same mail, to the new address, pointing at the first one.
    SendingProfile.objects.filter(pk=copy.profile_id).update(
        smtp_host=smtp_server.host, smtp_port=smtp_server.port
    )
    services.messages_deliver(profile_id=copy.profile_id)
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["nouvelle@dupont.be"]
    mail = received.message
    first = parse(message_bytes(original))
    assert mail["To"] == "nouvelle@dupont.be"
    assert mail["Message-ID"] == copy.message_id
    assert mail["References"] == original.message_id
    assert mail["X-Courrier-Resend-Of"] == original.message_id
    assert mail["Subject"] == first["Subject"] == "Votre bilan 2026"
    assert mail["From"] == first["From"]
    text, first_text = mail.get_body(("plain",)), first.get_body(("plain",))
    assert text is not None and first_text is not None
    assert text.get_content() == first_text.get_content()  # type: ignore[attr-defined]
    assert "ancienne@dupont.be" not in received.data.decode()

    # The client file lists both; the page says the first one was resent.
    assert list(client_messages(client=client_file, user=anne)) == [copy, original]
    assert "Renvoyé" in text_of(login(anne).get(UNDELIVERED))
    mails_tab = text_of(login(anne).get(reverse("clients:mails", args=[client_file.pk])))
    assert "rejeté (bounce)" in mails_tab and "renvoi" in mails_tab


def test_resending_twice_queues_one_copy(anne: Collaborator, client_file: Client) -> None:
    original = sent(anne, client_file)
    bounce(original)

    first = message_resend(message=original, by=anne)
    second = message_resend(message=original, by=anne)

    assert first == second
    assert OutboundMessage.objects.count() == 2


def test_a_spam_complaint_is_listed_but_not_resent(anne: Collaborator, client_file: Client) -> None:
    original = sent(anne, client_file)
    OutboundMessage.objects.filter(pk=original.pk).update(delivery_status=DeliveryStatus.COMPLAINED)

    page = text_of(login(anne).get(UNDELIVERED))
    assert "signalé comme spam" in page and "indésirable" in page

    response = login(anne).post(reverse("mailing:message_resend", args=[original.pk]), follow=True)
    assert "indésirable" in text_of(response)
    assert OutboundMessage.objects.count() == 1


def test_a_delivered_message_is_not_resent_and_others_may_not_resend(
    anne: Collaborator, luc: Collaborator, client_file: Client
) -> None:
    original = sent(anne, client_file)
    url = reverse("mailing:message_resend", args=[original.pk])

    response = login(anne).post(url, follow=True)
    assert "rien à renvoyer" in text_of(response)

    bounce(original)
    assert login(luc).post(url).status_code == 403
    assert login(luc).get(url).status_code == 405
    assert login(anne).post(reverse("mailing:message_resend", args=[999999])).status_code == 404
    assert OutboundMessage.objects.count() == 1


def test_a_client_without_address_is_told_not_a_500(
    anne: Collaborator, client_file: Client
) -> None:
    original = sent(anne, client_file)
    bounce(original)
    client_file.emails.all().delete()

    response = login(anne).post(reverse("mailing:message_resend", args=[original.pk]), follow=True)

    assert response.status_code == 200
    assert "n'a plus d'adresse e-mail" in text_of(response)
    assert OutboundMessage.objects.count() == 1


def test_a_copy_waits_while_the_profile_is_to_be_fixed(
    anne: Collaborator, client_file: Client
) -> None:
    original = sent(anne, client_file)
    bounce(original)
    SendingProfile.objects.filter(pk=original.profile_id).update(
        state=SendingProfile.State.BROKEN, state_reason="Mot de passe refusé."
    )

    response = login(anne).post(reverse("mailing:message_resend", args=[original.pk]), follow=True)

    copy = OutboundMessage.objects.exclude(pk=original.pk).get()
    assert copy.status == Status.HELD
    assert "attend que le paramétrage d'envoi soit corrigé" in text_of(response)


def test_the_message_page_offers_the_resend_and_links_both_ways(
    anne: Collaborator, client_file: Client
) -> None:
    original = sent(anne, client_file)
    bounce(original)
    browser = login(anne)
    detail = reverse("mailing:message_detail", args=[original.pk])

    page = browser.get(detail)
    assert reverse("mailing:message_resend", args=[original.pk]) in page.content.decode()
    assert "550 5.1.1 Mailbox does not exist" in text_of(page)

    copy = message_resend(message=original, by=anne)
    page = browser.get(detail)
    assert reverse("mailing:message_resend", args=[original.pk]) not in page.content.decode()
    assert reverse("mailing:message_detail", args=[copy.pk]) in page.content.decode()
    copy_page = browser.get(reverse("mailing:message_detail", args=[copy.pk]))
    assert detail in copy_page.content.decode()


def test_readdressed_keeps_every_other_header_and_the_body() -> None:
    raw = (
        b"From: Anne <anne@fidu.be>\r\n"
        b"To: Old <old@client.be>,\r\n very-old@client.be\r\n"
        b"Subject: =?utf-8?q?Votre_bilan?=\r\n"
        b"Message-ID: <1@fidu.be>\r\n"
        b"Date: Mon, 02 Nov 2026 10:00:00 +0100\r\n"
        b"X-Courrier-Message: 1\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"Bonjour,\r\nTo: not a header\r\n"
    )

    out = readdressed(
        raw, to=["new@client.be"], message_id="<2@fidu.be>", original_id="<1@fidu.be>", row_id=2
    )

    head, body = out.split(b"\r\n\r\n", 1)
    assert body == b"Bonjour,\r\nTo: not a header\r\n"
    assert b"old@client.be" not in head
    assert b"From: Anne <anne@fidu.be>\r\n" in head
    assert b"Subject: =?utf-8?q?Votre_bilan?=\r\n" in head
    parsed = parse(out)
    assert parsed["To"] == "new@client.be"
    assert parsed["Message-ID"] == "<2@fidu.be>"
    assert parsed["References"] == "<1@fidu.be>"
    assert parsed["X-Courrier-Message"] == "2"
    assert len(parsed.get_all("Message-ID") or []) == 1
