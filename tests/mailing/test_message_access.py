"""Who sees a message (`selectors.messages_visible`), seen from each side: the sender, a
colleague, an administrator, a staff account in the technical administration; and a secure
link's code, which reaches the client and no one in the firm."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Browser
from django.urls import reverse

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.mailing import services
from courrier.mailing.models import OutboundMessage, SecureLink, SendingProfile, Upload
from tests.fakes.smtp import FakeSMTPServer

pytestmark = pytest.mark.django_db

COMPOSE = reverse("mailing:compose")
UPLOAD = reverse("mailing:upload")
HTMX = {"HX-Request": "true"}
PDF = b"%PDF-1.4\n% bilan prive\n%%EOF\n"
CODE = re.compile(r"\b[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}\b")


def text_of(response: Any) -> str:
    html = response.content.decode()
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def login(user: Collaborator) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


@pytest.fixture
def anne(smtp_server: FakeSMTPServer) -> Collaborator:
    Firm.objects.update_or_create(pk=1, defaults={"name": "Fiduciaire Martin"})
    anne = Collaborator.objects.create_user(
        "anne@fidu.be", "pw-anne-1234", first_name="Anne", last_name="Martin"
    )
    SendingProfile.objects.create(
        collaborator=anne,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security=SendingProfile.Security.NONE,
        from_name="Anne Martin",
        from_address="anne@fidu.be",
    )
    return anne


@pytest.fixture
def bob() -> Collaborator:
    # A colleague with a staff account that may read the messages in the technical
    # administration: it follows the same rule as the pages.
    bob = Collaborator.objects.create_user(
        "bob@fidu.be", "pw-bob-1234", first_name="Bob", last_name="Leroy", is_staff=True
    )
    bob.user_permissions.add(Permission.objects.get(codename="view_outboundmessage"))
    return bob


@pytest.fixture
def luc() -> Collaborator:
    return Collaborator.objects.create_user(
        "luc@fidu.be", "pw-luc-1234", role=Collaborator.Role.ADMIN, first_name="Luc"
    )


@pytest.fixture
def dupuis() -> Client:
    client = Client.objects.create(number="C0042", name="Boulangerie Dupuis", language="fr")
    ClientEmail.objects.create(client=client, address="info@dupuis.be")
    return client


def compose(anne: Collaborator, client: Client, key: str, **extra: Any) -> OutboundMessage:
    browser = login(anne)
    response = browser.post(
        UPLOAD,
        {"files": SimpleUploadedFile(f"bilan-{key}.pdf", PDF, "application/pdf")},
        headers=HTMX,
    )
    assert response.status_code == 200
    upload = Upload.objects.latest("pk")
    data: dict[str, Any] = {
        "recipients": "client",
        "client": str(client.pk),
        "language": "fr",
        "subject": f"Votre bilan {key}",
        "body": "Bonjour,\n\nVoici votre bilan.",
        "idempotency_key": f"key-{key}",
        "uploads": [upload.pk],
        "send": "1",
        **extra,
    }
    response = browser.post(f"{COMPOSE}?client={client.pk}", data)
    assert response.status_code == 302, text_of(response)
    return OutboundMessage.objects.filter(subject=f"Votre bilan {key}").latest("pk")


def pages_of(message: OutboundMessage) -> list[str]:
    return [
        reverse("mailing:message_detail", args=[message.pk]),
        reverse("mailing:message_eml", args=[message.pk]),
        reverse("mailing:message_attachment", args=[message.pk, 0]),
    ]


def test_a_mail_not_archived_is_its_senders_and_the_administrators(
    anne: Collaborator, bob: Collaborator, luc: Collaborator, dupuis: Client
) -> None:
    private = compose(anne, dupuis, "prive")  # "Archiver" unticked
    shared = compose(anne, dupuis, "partage", archive="on")
    assert not private.archived and shared.archived

    for url in pages_of(private):
        assert login(anne).get(url).status_code == 200, url
        assert login(luc).get(url).status_code == 200, url
        refused = login(bob).get(url)
        # Not found, as if it did not exist: a 403 would say that it does.
        assert refused.status_code == 404, url
        assert b"bilan prive" not in refused.content
    for action in ("message_cancel", "message_retry", "message_resend"):
        url = reverse(f"mailing:{action}", args=[private.pk])
        assert login(bob).post(url).status_code == 404, action
    private.refresh_from_db()
    assert private.status == OutboundMessage.Status.QUEUED

    # The archived one is the client file's: every colleague opens it.
    for url in pages_of(shared):
        assert login(bob).get(url).status_code == 200, url
    mails_tab = text_of(login(bob).get(reverse("clients:mails", args=[dupuis.pk])))
    assert "Votre bilan partage" in mails_tab and "Votre bilan prive" not in mails_tab
    outbox = text_of(login(bob).get(reverse("mailing:outbox")))
    assert "Votre bilan" not in outbox

    # The technical administration: the same rule for a staff account.
    changelist = text_of(login(bob).get(reverse("admin:mailing_outboundmessage_changelist")))
    assert "Votre bilan partage" in changelist and "Votre bilan prive" not in changelist
    change = login(bob).get(reverse("admin:mailing_outboundmessage_change", args=[private.pk]))
    assert change.status_code == 302 and "Votre bilan prive" not in text_of(change)


def _arrived(server: FakeSMTPServer, subject: str) -> EmailMessage:
    for received in server.messages:
        mail = BytesParser(policy=policy.default).parsebytes(received.data)
        assert isinstance(mail, EmailMessage)
        if mail["Subject"] == subject:
            return mail
    raise AssertionError(f"no mail {subject!r} arrived")


def test_the_code_reaches_the_client_and_no_one_in_the_firm_reads_it(
    anne: Collaborator,
    bob: Collaborator,
    luc: Collaborator,
    dupuis: Client,
    smtp_server: FakeSMTPServer,
) -> None:
    Firm.objects.filter(pk=1).update(fixed_bcc="archives@fidu.be")  # a mailbox the firm reads
    first = compose(anne, dupuis, "lien", archive="on", send_by_link="on", send_code="on")
    code_mail = OutboundMessage.objects.get(purpose="link-code")
    services.messages_deliver(profile_id=anne.sending_profile.pk)

    # The client has it, in clear, in the second mail that arrived; the firm's archive
    # mailbox has the first mail, not this one.
    envelopes = {r.message["Subject"]: r.rcpt_tos for r in smtp_server.messages}
    assert envelopes[first.subject] == ["info@dupuis.be", "archives@fidu.be"]
    assert envelopes[code_mail.subject] == ["info@dupuis.be"]
    arrived = _arrived(smtp_server, code_mail.subject)
    body = arrived.get_body(("plain",))
    assert body is not None
    code = CODE.search(str(body.get_content()))  # type: ignore[attr-defined]
    assert code is not None
    code_text = code.group(0)
    link = SecureLink.objects.get(message=first)
    opened = Browser().post(f"/l/{link.token}/", {"code": code_text})
    assert opened.status_code == 200 and opened.content == PDF

    # The colleague: not the mail, not in the client file, nowhere else.
    for url in pages_of(code_mail)[:2]:
        assert login(bob).get(url).status_code == 404
    seen_by_bob = [
        login(bob).get(reverse("clients:mails", args=[dupuis.pk])),
        login(bob).get(reverse("documents:client", args=[dupuis.pk])),
        login(bob).get(reverse("mailing:message_detail", args=[first.pk])),
        login(bob).get(reverse("mailing:message_eml", args=[first.pk])),
        login(bob).get(reverse("admin:mailing_outboundmessage_changelist")),
        login(bob).get(reverse("mailing:outbox")),
    ]
    for response in seen_by_bob:
        assert code_text.encode() not in response.content
    assert code_mail.subject not in text_of(seen_by_bob[0])

    # Its sender and an administrator open the mail, its code dotted out there and in its .eml.
    for reader in (anne, luc):
        page = login(reader).get(reverse("mailing:message_detail", args=[code_mail.pk]))
        assert page.status_code == 200
        assert code_text not in text_of(page) and "•••••-•••••" in text_of(page)
        eml = login(reader).get(reverse("mailing:message_eml", args=[code_mail.pk]))
        assert eml.status_code == 200 and code_text.encode() not in eml.content
        shown = BytesParser(policy=policy.default).parsebytes(eml.content)
        assert isinstance(shown, EmailMessage)
        shown_body = shown.get_body(("plain",))
        assert shown_body is not None
        assert "•••••-•••••" in str(shown_body.get_content())  # type: ignore[attr-defined]
        assert shown["Subject"] == code_mail.subject

    # Refused by the client's server, then re-sent by anne: the copy is hers alone too, its
    # code dotted out, and it leaves without the firm's Bcc.
    OutboundMessage.objects.filter(pk=code_mail.pk).update(status=OutboundMessage.Status.FAILED)
    resend = login(anne).post(reverse("mailing:message_resend", args=[code_mail.pk]))
    assert resend.status_code == 302
    copy = OutboundMessage.objects.get(purpose=f"resend:{code_mail.pk}")
    assert not copy.archived
    services.messages_deliver(profile_id=anne.sending_profile.pk)
    assert smtp_server.messages[-1].rcpt_tos == ["info@dupuis.be"]
    assert code_text.encode() in smtp_server.messages[-1].data
    assert login(bob).get(reverse("mailing:message_detail", args=[copy.pk])).status_code == 404
    page = login(anne).get(reverse("mailing:message_detail", args=[copy.pk]))
    assert page.status_code == 200 and code_text not in text_of(page)


def test_a_link_is_revoked_by_its_maker_or_an_administrator(
    anne: Collaborator, bob: Collaborator, luc: Collaborator, dupuis: Client
) -> None:
    compose(anne, dupuis, "lien", archive="on", send_by_link="on", send_code="on")
    link = SecureLink.objects.get()
    revoke = reverse("documents:link_revoke", args=[link.pk])
    tab = reverse("documents:client", args=[dupuis.pk])

    assert revoke not in login(bob).get(tab).content.decode()
    refused = login(bob).post(revoke)
    assert refused.status_code == 403
    assert "Seuls le collaborateur qui a créé ce lien" in text_of(refused)
    link.refresh_from_db()
    assert link.revoked_at is None

    assert revoke in login(anne).get(tab).content.decode()
    assert revoke in login(luc).get(tab).content.decode()
    assert login(luc).post(revoke).status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None
