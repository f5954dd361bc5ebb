"""Writing a mail's bytes: the MIME message, its headers folded, its Message-ID.

`mime_bytes` turns a rendered `drafts.Preview` and its files into the bytes that leave, CRLF
everywhere (the SMTP policy), written by a faster generator that gives the same bytes as the
standard one. Nothing here reads or writes the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from email.generator import BytesGenerator
from email.message import Message
from email.policy import SMTP
from email.utils import format_datetime
from io import BytesIO
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.mailing.addresses import AddressError, domain_ascii, header_address_ascii
from courrier.mailing.contexts import AttachedFile

if TYPE_CHECKING:
    from courrier.mailing.services.drafts import Preview


SMTP_POLICY = SMTP.clone(max_line_length=78)


class _Generator(BytesGenerator):
    """The standard generator, for the same bytes sooner:

    - a part's body is written in one piece instead of line by line (a PDF's base64 is a
      thousand lines);
    - a multipart's boundary is checked against its parts with a plain search instead of a
      regular expression compiled for it;
    - the message keeps its own policy while it is written. The standard generator lends the
      message its policy (SMTP here) for the time of writing, so that every lookup of a header
      it makes (content type, boundary, charset, encoding: about fifteen per invoice mail)
      parses the header into an object, ~1.5 ms per mail; with the message's own policy
      (Django builds its parts with compat32) the same lookups return the same text. Headers
      are still written, folded and ended by the generator's policy."""

    def flatten(self, msg: Message, unixfrom: bool = False, linesep: str | None = None) -> None:
        assert not unixfrom, "mails are written without a From_ line"
        policy = self.policy if self.policy is not None else msg.policy
        if linesep is not None:
            policy = policy.clone(linesep=linesep)
        if self.maxheaderlen is not None:  # type: ignore[attr-defined]
            policy = policy.clone(max_line_length=self.maxheaderlen)  # type: ignore[attr-defined]
        self._NL = policy.linesep
        self._encoded_NL = self._encode(self._NL)  # type: ignore[attr-defined]
        self._EMPTY = ""
        self._encoded_EMPTY = self._encode(self._EMPTY)  # type: ignore[attr-defined]
        previous = self.policy
        try:
            self.policy = policy
            self._write(msg)  # type: ignore[attr-defined]
        finally:
            self.policy = previous

    def _write_lines(self, lines: str) -> None:
        # Every line break (CRLF, CR, LF) as the policy's, as the standard generator splits
        # them (email.generator.NLCRE); str.replace is ~10 times faster than the split.
        if lines:
            lf = lines.replace("\r\n", "\n").replace("\r", "\n")
            self.write(lf.replace("\n", self._NL) if self._NL != "\n" else lf)

    @classmethod
    def _make_boundary(cls, text: bytes | None = None) -> str:  # type: ignore[override]
        """A boundary found nowhere in the parts (the standard generator compiles a regular
        expression per multipart to check a random one, ~1 ms per mail): 128 random bits,
        and a plain search, stricter than the standard's line by line one."""
        while True:
            boundary = f"==============={uuid.uuid4().hex}=="
            if text is None or f"--{boundary}".encode("ascii") not in text:
                return boundary


def display_name(name: str) -> str:
    """A display name ready for a From header: quoted when it holds special characters."""
    name = " ".join(name.split())
    if any(char in name for char in '()<>@,;:\\".[]'):
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return name


def mime_bytes(
    *, preview: Preview, message_id: str, row_id: int | str, attachments: Sequence[AttachedFile]
) -> bytes:
    rendered = preview.rendered
    headers = {
        # The firm's local time, with its offset (Django's default says "-0000": unknown).
        "Date": format_datetime(timezone.localtime()),
        "Message-ID": message_id,
        "Content-Language": preview.language,
        "X-Courrier-Message": str(row_id),
    }
    # Domains with accents in their ASCII form (IDNA 2008), as the envelope writes them:
    # Django's own conversion is IDNA 2003, which names another domain for some (faß.de).
    try:
        if preview.read_receipt:
            headers["Disposition-Notification-To"] = header_address_ascii(
                preview.headers["Disposition-Notification-To"]
            )
        from_header = header_address_ascii(preview.from_header)
        to = [header_address_ascii(address) for address in preview.to]
        cc = [header_address_ascii(address) for address in preview.cc]
        reply_to = header_address_ascii(preview.reply_to) if preview.reply_to else ""
    except AddressError:
        raise ValidationError(
            _("Une adresse du message a un nom de domaine invalide : envoi refusé."),
            code="address_domain",
        ) from None
    mail = EmailMultiAlternatives(
        subject="",  # set below
        body=rendered.text,
        from_email=from_header,
        to=to,
        # Blind copies are never given to the message: they live in the envelope only.
        cc=cc or None,
        reply_to=[reply_to] if reply_to else None,
        headers=headers,
    )
    mail.attach_alternative(rendered.html, "text/html")
    for attachment in attachments:
        mail.attach(attachment.mime_part())
    # The SMTP policy writes CRLF everywhere (strict servers refuse bare LF, and these bytes are
    # sent as they are) and folds encoded headers cleanly, where Django's own serialiser
    # starts a long non-ASCII subject on an empty line that some filters frown upon.
    buffer = BytesIO()
    try:
        message = mail.message()
        message.replace_header("Subject", _folded("Subject", rendered.subject))
        _Generator(buffer, policy=SMTP_POLICY).flatten(message)
    except BadHeaderError:
        # A last line of defence: every value was checked before, none may break a header.
        raise ValidationError(
            _("Un en-tête du message contiendrait un retour à la ligne : envoi refusé."),
            code="header_injection",
        ) from None
    return buffer.getvalue()


def _folded(name: str, value: str) -> str:
    """A header's value encoded (RFC 2047, only the words that need it) and folded by the SMTP
    policy, ready to be written as it is. For the subject, instead of Django's encoding, which
    the policy then decoded and folded again: 0.4 ms less per mail, and ASCII words stay
    readable in the source."""
    if "\r" in value or "\n" in value:
        raise BadHeaderError(f"Header values can't contain newlines ({name})")
    folded = SMTP_POLICY.header_factory(name, value).fold(policy=SMTP_POLICY)
    return str(folded)[len(name) + 2 : -len(SMTP_POLICY.linesep)]


def message_id_for(from_address: str) -> str:
    """A new Message-ID in the sender's domain, so that replies and bounces point home."""
    domain = from_address.rpartition("@")[2]
    try:
        domain = domain_ascii(domain)
    except AddressError:
        domain = "courrier.invalid"
    # 122 random bits from the system (email.utils.make_msgid draws from the `random` module,
    # whose state a library or a test may seed: two mails would then share an id).
    return f"<{uuid.uuid4().hex}@{domain or 'courrier.invalid'}>"


# The X-Courrier-Message header of a message built before its row exists holds this until
