"""The stored message read back into its pieces, for the HTTP providers whose API wants fields.

SMTP, Gmail and Graph take the stored bytes as they are. SendGrid, Brevo, Mailgun and Postmark
take JSON or a form: the stored message is parsed (never rendered again) and its pieces handed
over, so what they send says what the archived .eml says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from typing import TYPE_CHECKING

from courrier.mailing.addresses import envelope_ascii

if TYPE_CHECKING:
    from courrier.mailing.models import OutboundMessage

# Headers the providers set from their own fields (or refuse to be given).
STRUCTURAL_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "content-type",
        "content-transfer-encoding",
        "mime-version",
    }
)


@dataclass
class Attachment:
    filename: str
    content_type: str
    content: bytes
    inline: bool = False
    content_id: str = ""


@dataclass
class StoredMail:
    message: EmailMessage
    sender: Address
    to: list[Address]
    cc: list[Address]
    reply_to: list[Address]
    bcc: list[str]  # envelope recipients named in no header (the firm's fixed blind copy)
    subject: str
    text: str | None
    html: str | None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # the others: Message-ID, Date, ...

    @property
    def message_id(self) -> str:
        return self.headers.get("Message-ID", "")


def _addresses(message: EmailMessage, name: str) -> list[Address]:
    header = message[name]
    if header is None:
        return []
    return list(getattr(header, "addresses", ()))


def _text(part: EmailMessage | None) -> str | None:
    if part is None:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def stored_mail(message: OutboundMessage) -> StoredMail:
    """The stored bytes of `message`, parsed."""
    parsed = BytesParser(policy=policy.default).parsebytes(bytes(message.raw))
    assert isinstance(parsed, EmailMessage)
    senders = _addresses(parsed, "From")
    sender = senders[0] if senders else Address(addr_spec=message.from_address)
    to = _addresses(parsed, "To")
    cc = _addresses(parsed, "Cc")
    named = {address.addr_spec.lower() for address in to + cc}
    # Compared and given in ASCII, as the headers write them (jean@xn--exmple-cua.be).
    envelope, _left_out = envelope_ascii(message.envelope_recipients)
    bcc = [r for r in envelope if r.lower() not in named]

    attachments = []
    for part in parsed.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        attachments.append(
            Attachment(
                filename=part.get_filename() or "",
                content_type=part.get_content_type(),
                content=payload if isinstance(payload, bytes) else b"",
                inline=part.get_content_disposition() == "inline",
                content_id=(part["Content-ID"] or "").strip("<> "),
            )
        )
    headers = {
        name: str(value) for name, value in parsed.items() if name.lower() not in STRUCTURAL_HEADERS
    }
    return StoredMail(
        message=parsed,
        sender=sender,
        to=to,
        cc=cc,
        reply_to=_addresses(parsed, "Reply-To"),
        bcc=bcc,
        subject=str(parsed["Subject"] or ""),
        text=_text(parsed.get_body(preferencelist=("plain",))),  # type: ignore[arg-type]
        html=_text(parsed.get_body(preferencelist=("html",))),  # type: ignore[arg-type]
        attachments=attachments,
        headers=headers,
    )
