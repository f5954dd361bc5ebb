"""The compose window's options, checked where a person would: in what the SMTP server received.

Cc is a header and a recipient; Bcc, "send me a copy" and the firm's fixed Bcc are recipients
and nowhere in the bytes; a read receipt asks the sender's address; the reply address can be
changed for one mail; files arrive byte for byte with their accented names; a scheduled mail
waits for its time.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courrier.clients.models import Client, ClientEmail
from courrier.firm.models import Collaborator, Firm
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services import (
    Draft,
    compose_options,
    message_bytes,
    message_compose,
    message_preview,
    messages_deliver,
    presend_check,
    upload_store,
)
from courrier.mailing.transports.smtp import SMTPTransport
from courrier.texts import render_all
from tests.compose_call import grouped
from tests.fakes.smtp import FakeSMTPServer, Received

SUBJECT = "Votre dossier {NUMCLIENT}"
BODY = "Bonjour {NOMCLIENT},\n\nVoici **le point** sur votre dossier."
BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def profile(smtp_server: FakeSMTPServer, make_profile: Callable[..., SendingProfile]) -> Any:
    return make_profile(
        server=smtp_server,
        from_name="Anne Dupont",
        from_address="anne@fidu.test",
        reply_to="secretariat@fidu.test",
    )


@pytest.fixture
def sender(profile: SendingProfile) -> Collaborator:
    assert profile.collaborator is not None
    return profile.collaborator


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client(
        name="Dupuis",
        language="fr",
        emails=["info@dupuis.test", ("factures@dupuis.test", ClientEmail.Purpose.INVOICES)],
    )


@pytest.fixture
def send(
    sender: Collaborator,
    client: Client,
    profile: SendingProfile,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> Iterator[Callable[..., Received]]:
    """Compose with options, deliver, and return what the server received."""

    def send(**options: Any) -> Received:
        arguments: dict[str, Any] = {
            "sender": sender,
            "client": client,
            "subject": SUBJECT,
            "body": BODY,
        }
        arguments.update(options)
        with django_capture_on_commit_callbacks(execute=True):
            message_compose(**grouped(arguments))
        before = len(smtp_server.messages)
        report = messages_deliver(profile_id=profile.pk)
        assert report.sent == 1, report
        return smtp_server.wait_for(before + 1)[-1]

    yield send


def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


# -- copies ----------------------------------------------------------------------------------


def test_cc_is_a_visible_header_and_a_recipient(
    send: Callable[..., Received], sender: Collaborator
) -> None:
    received = send(cc=["comptable@dupuis.test", "Gerant@Dupuis.TEST"])

    assert received.message["Cc"] == "comptable@dupuis.test, Gerant@dupuis.test"
    assert received.rcpt_tos == ["info@dupuis.test", "comptable@dupuis.test", "Gerant@dupuis.test"]
    message = OutboundMessage.objects.get()
    assert message.cc == ["comptable@dupuis.test", "Gerant@dupuis.test"]


def test_bcc_is_in_the_envelope_only(send: Callable[..., Received]) -> None:
    received = send(bcc=["archives@cabinet.test"])

    assert received.rcpt_tos == ["info@dupuis.test", "archives@cabinet.test"]
    assert b"archives@cabinet.test" not in received.data
    assert received.message["Bcc"] is None
    message = OutboundMessage.objects.get()
    assert message.bcc == ["archives@cabinet.test"]
    assert b"archives@cabinet.test" not in message_bytes(message)


def test_send_me_a_copy_is_a_blind_copy_to_the_sender(
    send: Callable[..., Received], sender: Collaborator
) -> None:
    received = send(copy_to_sender=True)

    assert received.rcpt_tos == ["info@dupuis.test", sender.email]
    assert sender.email.encode() not in received.data
    assert OutboundMessage.objects.get().bcc == [sender.email]


def test_every_address_goes_once_whatever_the_options_repeat(
    send: Callable[..., Received], sender: Collaborator
) -> None:
    firm = Firm.load()
    firm.fixed_bcc = "archives@cabinet.test"
    firm.save()

    received = send(
        cc=["INFO@dupuis.test", "comptable@dupuis.test", "comptable@DUPUIS.test"],
        bcc=["comptable@dupuis.test", "archives@cabinet.test", sender.email],
        copy_to_sender=True,
    )

    assert received.rcpt_tos == [
        "info@dupuis.test",
        "comptable@dupuis.test",
        "archives@cabinet.test",
        sender.email,
    ]
    assert received.message["Cc"] == "comptable@dupuis.test"
    assert b"archives@cabinet.test" not in received.data


# -- read receipt and reply address ------------------------------------------------------------


def test_a_read_receipt_is_asked_to_the_sending_address(send: Callable[..., Received]) -> None:
    received = send(read_receipt=True)

    assert received.message["Disposition-Notification-To"] == "anne@fidu.test"
    assert received.message["Return-Receipt-To"] is None
    assert OutboundMessage.objects.get().read_receipt is True


def test_without_a_read_receipt_nothing_is_asked(send: Callable[..., Received]) -> None:
    received = send()

    assert received.message["Disposition-Notification-To"] is None
    assert received.message["Reply-To"] == "secretariat@fidu.test"


def test_the_reply_address_can_be_changed_for_one_mail(send: Callable[..., Received]) -> None:
    received = send(reply_to="dossiers@fidu.test")

    assert received.message["Reply-To"] == "dossiers@fidu.test"
    assert received.message.get_all("Reply-To") == ["dossiers@fidu.test"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"cc": ["pas une adresse"]},
            "Cc : « pas une adresse » n'est pas une adresse e-mail valide.",
        ),
        (
            {"bcc": ["x@y.test", "@y.test"]},
            "Cci : « @y.test » n'est pas une adresse e-mail valide.",
        ),
        (
            {"cc": ["a@dupuis.test\r\nBcc: espion@evil.test"]},
            "Cc : « a@dupuis.test\\r\\nBcc: espion@evil.test » contient un retour à la ligne.",
        ),
        (
            {"reply_to": "reponse@fidu.test\nX-Evil: 1"},
            "Adresse de réponse : « reponse@fidu.test\\nX-Evil: 1 » contient un retour à la ligne.",
        ),
        (
            {"reply_to": "réponse"},
            "Adresse de réponse : « réponse » n'est pas une adresse e-mail valide.",
        ),
    ],
)
def test_a_bad_address_is_named_and_nothing_is_stored(
    sender: Collaborator, client: Client, options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        message_compose(
            **grouped(
                {"sender": sender, "client": client, "subject": SUBJECT, "body": BODY, **options}
            )
        )

    assert caught.value.messages == [expected]
    assert not OutboundMessage.objects.exists()


def test_the_preview_shows_what_compose_sends(
    send: Callable[..., Received], sender: Collaborator, client: Client
) -> None:
    firm = Firm.load()
    firm.fixed_bcc = "archives@cabinet.test"
    firm.save()
    options: dict[str, Any] = {
        "cc": ["comptable@dupuis.test"],
        "bcc": ["secret@cabinet.test"],
        "copy_to_sender": True,
        "read_receipt": True,
        "reply_to": "dossiers@fidu.test",
    }

    preview = message_preview(
        **grouped({"sender": sender, "client": client, "subject": SUBJECT, "body": BODY, **options})
    )
    received = send(**options)

    assert preview.headers["Cc"] == received.message["Cc"]
    assert preview.headers["Reply-To"] == received.message["Reply-To"]
    assert preview.headers["Disposition-Notification-To"] == "anne@fidu.test"
    assert "Bcc" not in preview.headers
    assert preview.bcc == ["secret@cabinet.test", sender.email, "archives@cabinet.test"]
    assert preview.envelope == received.rcpt_tos
    assert preview.rendered.html == received.part("text/html").replace("\r\n", "\n")
    assert preview.rendered.text == received.part("text/plain").replace("\r\n", "\n")


# -- attachments -----------------------------------------------------------------------------

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 300 + b"\n%%EOF\n"
# A text file whose line endings and bytes must not be touched on the way.
TEXT = "Ligne 1\r\nligne 2\nligne 3 été\r\n\x00fin".encode()


def uploaded(name: str, content: bytes, content_type: str = "") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def test_files_arrive_byte_for_byte_with_their_accented_names(
    send: Callable[..., Received], sender: Collaborator
) -> None:
    names = [
        "Déclaration TVA — 2e trimestre 2026 (version définitive) — Société Éléphant & Fils.pdf",
        "relevé été.txt",
    ]
    pdf = upload_store(owner=sender, file=uploaded(names[0], PDF, "application/pdf"))
    text = upload_store(owner=sender, file=uploaded(names[1], TEXT))

    received = send(uploads=[pdf, text])

    arrived = list(received.message.iter_attachments())
    assert [part.get_filename() for part in arrived] == names
    assert [part.get_content_type() for part in arrived] == ["application/pdf", "text/plain"]
    contents = [part.get_payload(decode=True) for part in arrived]
    assert [hashlib.sha256(c).hexdigest() for c in contents if isinstance(c, bytes)] == [
        hashlib.sha256(PDF).hexdigest(),
        hashlib.sha256(TEXT).hexdigest(),
    ]
    # Folded long names never leave a raw line break in a header.
    assert all(
        line[:1] in (b" ", b"\t") or re.match(rb"^[A-Za-z-]+:( |$)", line)
        for line in header_lines(received.data)
    )


def test_someone_elses_file_cannot_be_attached(
    sender: Collaborator,
    client: Client,
    make_collaborator: Callable[..., Collaborator],
) -> None:
    other = make_collaborator()
    theirs = upload_store(owner=other, file=uploaded("salaires.pdf", PDF))

    with pytest.raises(ValidationError) as caught:
        message_compose(
            sender=sender, client=client, draft=Draft(subject=SUBJECT, body=BODY, uploads=[theirs])
        )
    checks = presend_check(
        sender=sender,
        draft=Draft(subject=SUBJECT, body=BODY, uploads=[theirs]),
        clients=[client],
        options={},
        batch=False,
    )

    expected = (
        f"Le fichier joint n°{theirs.pk} n'est pas l'un des vôtres : il ne peut pas être joint."
    )
    assert caught.value.messages == [expected]
    assert render_all(checks[0].blockers) == [expected]
    assert not OutboundMessage.objects.exists()


def test_a_file_changed_on_disk_is_not_sent(
    sender: Collaborator, client: Client, media: Path
) -> None:
    upload = upload_store(owner=sender, file=uploaded("bilan.pdf", PDF))
    Path(upload.file.path).write_bytes(PDF.replace(b"%%EOF", b"%%EOX"))

    with pytest.raises(ValidationError) as caught:
        message_compose(
            sender=sender, client=client, draft=Draft(subject=SUBJECT, body=BODY, uploads=[upload])
        )

    assert "a été altéré" in caught.value.messages[0]
    assert not OutboundMessage.objects.exists()


def test_a_message_too_large_for_the_method_is_refused_naming_the_limit(
    sender: Collaborator, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SMTPTransport, "max_message_bytes", 60_000)
    upload = upload_store(owner=sender, file=uploaded("bilan.pdf", PDF))  # 77 KB

    with pytest.raises(ValidationError) as caught:
        message_compose(
            sender=sender, client=client, draft=Draft(subject=SUBJECT, body=BODY, uploads=[upload])
        )
    [check] = presend_check(
        sender=sender,
        draft=Draft(subject=SUBJECT, body=BODY, uploads=[upload]),
        clients=[client],
        options={},
        batch=False,
    )
    preview = message_preview(
        sender=sender, client=client, draft=Draft(subject=SUBJECT, body=BODY, uploads=[upload])
    )

    message = caught.value.messages[0]
    assert message.startswith("Le message pèserait ")
    assert message.endswith(
        "une fois encodé (pièces jointes comprises) : la méthode d'envoi SMTP accepte au plus "
        "60 Ko par message."
    )
    assert not OutboundMessage.objects.exists()
    assert any("accepte au plus 60 Ko" in blocker for blocker in check.blockers)
    assert any("accepte au plus 60 Ko" in warning for warning in preview.warnings)
    assert preview.attachments == [("bilan.pdf", len(PDF))]


# -- scheduled send --------------------------------------------------------------------------


def delivery_runs() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path__endswith="tasks.deliver_profile"))


def test_a_scheduled_mail_waits_for_its_time(
    sender: Collaborator,
    client: Client,
    profile: SendingProfile,
    smtp_server: FakeSMTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        message = message_compose(
            sender=sender,
            client=client,
            draft=Draft(subject=SUBJECT, body=BODY),
            options=compose_options(scheduled_at=when),
        )

    # The delivery run is enqueued for that moment, not before.
    assert [run.run_after for run in delivery_runs()] == [when]
    report = messages_deliver(profile_id=profile.pk)
    assert report.claimed == 0
    assert smtp_server.messages == []
    message.refresh_from_db()
    assert (message.status, message.scheduled_at) == (OutboundMessage.Status.QUEUED, when)

    # The time comes.
    OutboundMessage.objects.filter(pk=message.pk).update(
        scheduled_at=timezone.now() - timedelta(seconds=1)
    )
    report = messages_deliver(profile_id=profile.pk)

    assert report.sent == 1
    assert smtp_server.wait_for(1)[0].rcpt_tos == ["info@dupuis.test"]


def test_a_clock_that_jumps_forward_then_back_sends_a_scheduled_mail_once(
    sender: Collaborator,
    client: Client,
    profile: SendingProfile,
    smtp_server: FakeSMTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine's clock jumps three hours ahead (a wrong NTP answer), then is set right: the
    mail scheduled in two hours leaves at the jump, as it would at its time, and once only; the
    clock back does not make it due, nor queue it, again."""
    real_now = timezone.now
    when = (real_now() + timedelta(hours=2)).replace(microsecond=0)
    message = message_compose(
        sender=sender,
        client=client,
        draft=Draft(subject=SUBJECT, body=BODY),
        options=compose_options(scheduled_at=when),
    )
    assert messages_deliver(profile_id=profile.pk).claimed == 0

    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(hours=3))
    assert messages_deliver(profile_id=profile.pk).sent == 1
    smtp_server.wait_for(1)

    monkeypatch.setattr(timezone, "now", real_now)
    assert messages_deliver(profile_id=profile.pk).claimed == 0
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.SENT
    assert len(smtp_server.messages) == 1


def test_a_scheduled_time_typed_without_offset_is_brussels_time(
    sender: Collaborator, client: Client
) -> None:
    naive = (timezone.localtime() + timedelta(days=2)).replace(
        hour=9, minute=30, second=0, microsecond=0, tzinfo=None
    )

    message = message_compose(
        sender=sender,
        client=client,
        draft=Draft(subject=SUBJECT, body=BODY),
        options=compose_options(scheduled_at=naive),
    )

    assert message.scheduled_at == naive.replace(tzinfo=BRUSSELS)


def test_a_scheduled_time_in_the_past_is_refused(sender: Collaborator, client: Client) -> None:
    past = datetime(2020, 1, 1, 8, 0, tzinfo=BRUSSELS)

    with pytest.raises(ValidationError) as caught:
        message_compose(
            sender=sender,
            client=client,
            draft=Draft(subject=SUBJECT, body=BODY),
            options=compose_options(scheduled_at=past),
        )
    [check] = presend_check(
        sender=sender,
        draft=Draft(subject=SUBJECT, body=BODY),
        clients=[client],
        options={"scheduled_at": past.isoformat()},
        batch=False,
    )

    expected = (
        "L'envoi programmé (01/01/2020 08:00) est dans le passé : choisissez un moment à venir, "
        "ou envoyez sans programmer."
    )
    assert caught.value.messages == [expected]
    assert render_all(check.blockers) == [expected]
    assert not OutboundMessage.objects.exists()


# -- no header can be broken -------------------------------------------------------------------

_numbers = itertools.count(1)
injections = st.sampled_from(
    [
        "a@b.test\r\nBcc: espion@evil.test",
        "a@b.test\nX-Evil: 1",
        "\r\n",
        "x\rTo: y@evil.test",
        "\u2028Bcc: z@evil.test",
        "\x85",
        "ok@dupuis.test",
        "Ok@Dupuis.Test",
    ]
)
# Mostly valid addresses, so that most examples build a message; the others must be refused.
addresses = st.lists(
    st.one_of(st.emails(), st.emails(), st.emails(), injections, st.text(max_size=20)),
    max_size=3,
)
risky_text = st.one_of(injections, st.text(max_size=40))
# Text as typed in the subject box (the box has one line; a line break there is refused).
typed_subject = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Zl", "Zp", "Cs")), max_size=40
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    cc=addresses,
    bcc=addresses,
    reply_to=st.one_of(st.none(), st.emails(), risky_text),
    subject=st.one_of(typed_subject, typed_subject, typed_subject, risky_text),
    name=risky_text,
    contact=risky_text,
    street=risky_text,
)
def test_no_header_of_any_built_message_holds_a_line_break(
    sender: Collaborator,
    cc: list[str],
    bcc: list[str],
    reply_to: str | None,
    subject: str,
    name: str,
    contact: str,
    street: str,
) -> None:
    client = Client.objects.create(
        number=f"H{next(_numbers):06d}",
        name=name[:200] or "Client",
        contact_name=contact[:200],
        street=street[:200],
    )
    ClientEmail.objects.create(client=client, address="info@dupuis.test")
    try:
        message = message_compose(
            sender=sender,
            client=client,
            draft=Draft(
                subject=subject + " {NOMCLIENT} {CONTACT} {ADRESSECOMPLETE}",
                body="{NOMCLIENT}\n{ADRESSECOMPLETE}",
            ),
            options=compose_options(cc=cc, bcc=bcc, reply_to=reply_to, read_receipt=True),
        )
    except ValidationError as exc:
        assert exc.messages
        return
    raw = message_bytes(message)
    # Every header line is a "Name: value" line or the folded continuation of one.
    for line in header_lines(raw):
        assert line[:1] in (b" ", b"\t") or re.match(rb"^[A-Za-z][A-Za-z0-9-]*:( |$)", line), line
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    names = {key.lower() for key in parsed}
    assert names <= {
        "content-type",
        "mime-version",
        "subject",
        "from",
        "to",
        "cc",
        "reply-to",
        "date",
        "message-id",
        "content-language",
        "x-courrier-message",
        "disposition-notification-to",
    }
    for key, value in parsed.items():
        assert "\r" not in str(value) and "\n" not in str(value), (key, value)
    envelope = set(message.envelope_recipients)
    assert "espion@evil.test" not in envelope and "z@evil.test" not in envelope
    assert envelope >= {"info@dupuis.test"}
