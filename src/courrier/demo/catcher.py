"""The demo's SMTP catcher: accepts every mail on 127.0.0.1 and keeps it as an .eml file.

Each mail is stored byte for byte as ``<received>-<id>.eml`` in the mailbox directory, with a
``.json`` beside it for the envelope (the Bcc recipients are only there). Nothing is relayed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

MAILBOX_DIRNAME = "demo-mailbox"
# What the catcher writes; anything else in the directory is not a caught mail.
MAIL_NAME_RE = re.compile(r"^[0-9]{8}T[0-9]{6}\.[0-9]{6}-[0-9a-f]{12}\.eml$")


def mailbox_dir(data_dir: Path) -> Path:
    return data_dir / MAILBOX_DIRNAME


class MailboxHandler:
    """aiosmtpd handler that writes each accepted mail into `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        received = datetime.now(UTC)
        name = f"{received:%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:12]}.eml"
        envelope_info = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "peer": str(session.peer[0]) if session.peer else "",
            "received_at": received.isoformat(),
        }
        # The .json first, then the .eml by rename: a reader never sees half a mail.
        (self.directory / name).with_suffix(".json").write_text(json.dumps(envelope_info))
        partial = self.directory / f".{name}.part"
        partial.write_bytes(raw)
        os.replace(partial, self.directory / name)
        return "250 Message accepted for delivery"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (checked by binding it for a moment)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def catcher_start(*, directory: Path, port: int, host: str = "127.0.0.1") -> Controller:
    """Start the catcher in a background thread; `controller.stop()` ends it.

    Raises OSError when the port is taken.
    """
    # aiosmtpd only reports a bind failure after its start-up timeout: fail fast instead.
    if not port_is_free(port, host):
        raise OSError(errno.EADDRINUSE, f"{host}:{port} is already in use")
    controller = Controller(
        MailboxHandler(directory), hostname=host, port=port, server_hostname="courrier-demo"
    )
    controller.start()
    return controller


@dataclass
class CaughtMail:
    """A mail in the demo mailbox, as the mailbox page shows it."""

    name: str
    path: Path
    from_header: str
    to_header: str
    subject: str
    # Aware: templates show it in the firm's time zone (TIME_ZONE, Europe/Brussels).
    date: datetime | None
    envelope: dict[str, Any] = field(default_factory=dict)

    @property
    def envelope_recipients(self) -> list[str]:
        return [str(address) for address in self.envelope.get("rcpt_tos", [])]


def _parse(path: Path, *, headers_only: bool) -> EmailMessage:
    with path.open("rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle, headersonly=headers_only)
    assert isinstance(message, EmailMessage)
    return message


def _header(message: EmailMessage, name: str) -> str:
    # strip(): a header folded right after its name keeps a leading space when parsed.
    try:
        return str(message.get(name, "")).strip()
    except (ValueError, IndexError, TypeError):  # a malformed header is shown raw
        raw = message.get_all(name) or [""]
        return str(raw[0]).strip()


def _caught(path: Path, message: EmailMessage) -> CaughtMail:
    date: datetime | None
    try:
        date = parsedate_to_datetime(_header(message, "Date"))
    except (TypeError, ValueError):
        date = None
    if date is not None and date.tzinfo is None:
        # "-0000" (RFC 5322: UTC, the sender's own zone unknown), as Django writes it: Python
        # gives it no zone. It is UTC; the page shows every date in the firm's time zone.
        date = date.replace(tzinfo=UTC)
    envelope_path = path.with_suffix(".json")
    try:
        envelope = json.loads(envelope_path.read_text())
    except (OSError, ValueError):
        envelope = {}
    return CaughtMail(
        name=path.name,
        path=path,
        from_header=_header(message, "From"),
        to_header=_header(message, "To"),
        subject=_header(message, "Subject"),
        date=date,
        envelope=envelope if isinstance(envelope, dict) else {},
    )


def mailbox_list(directory: Path, *, limit: int = 200) -> list[CaughtMail]:
    """The newest `limit` mails of the mailbox, newest first."""
    if not directory.is_dir():
        return []
    names = sorted(
        (entry.name for entry in directory.iterdir() if MAIL_NAME_RE.match(entry.name)),
        reverse=True,
    )[:limit]
    return [
        _caught(directory / name, _parse(directory / name, headers_only=True)) for name in names
    ]


def mailbox_path(directory: Path, name: str) -> Path | None:
    """The path of the mail called `name`, or None for a name the catcher never wrote."""
    if not MAIL_NAME_RE.match(name):
        return None
    path = directory / name
    return path if path.is_file() else None


@dataclass
class MailContent:
    mail: CaughtMail
    headers: list[tuple[str, str]]
    text: str
    html: str
    attachments: list[tuple[str, str, int]]


def mailbox_read(path: Path) -> MailContent:
    """Headers, text part, HTML part and attachments (name, type, size) of a caught mail."""
    message = _parse(path, headers_only=False)
    headers = [(name, _header_value(value)) for name, value in message.items()]
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    attachments: list[tuple[str, str, int]] = []
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        attachments.append((part.get_filename() or "", part.get_content_type(), size))
    return MailContent(
        mail=_caught(path, message),
        headers=headers,
        text=_content(text_part),
        html=_content(html_part),
        attachments=attachments,
    )


def _header_value(value: Any) -> str:
    try:
        return str(value)
    except (ValueError, IndexError, TypeError):
        return repr(value)


def _content(part: Any) -> str:
    if part is None:
        return ""
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # unknown charset: show what can be read
        payload = part.get_payload(decode=True) or b""
        return bytes(payload).decode("utf-8", "replace")
