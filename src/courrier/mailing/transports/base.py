"""The one small contract every transport keeps, shaped like Django's mail backends.

A transport is built from one `SendingProfile` row, opened once, hands over any number of
stored messages, then closed::

    with transport_for(profile) as transport:
        answer = transport.send(message)

`send` hands over `message.raw` as it is (the caller has read the bytes: a transport does no
query for them), to `message.envelope_recipients`, and returns the server's or provider's
answer (a reply line or an id), or, when Courrier has a remark to add (recipients refused while
the others were taken), `Lines` of that answer and the remark.
Failures are raised as the exceptions of `courrier.mailing.exceptions`, never as a library's
own exceptions.

`max_message_bytes` is the largest message the method accepts, counted as it leaves (base64
attachments included), in decimal megabytes as providers count; compose and the pre-send check
refuse a larger one before anything is queued. The figures, from each provider's documentation:
SMTP 25 MB (the usual relay limit; the server's own SIZE still decides at sending), Gmail
25 MB, Microsoft 365 35 MB (Exchange Online's default send limit; an administrator may raise
it to 150 MB, Graph's upload-session maximum), SendGrid 30 MB, Brevo 20 MB, Postmark 10 MB,
Mailgun 25 MB, Amazon SES 40 MB (SESv2). COURRIER["MAX_MESSAGE_BYTES"] caps them all.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from courrier.mailing.models import OutboundMessage, SendingProfile
    from courrier.texts import Text


class Transport:
    max_message_bytes: ClassVar[int] = 10_000_000  # a new method: the smallest common limit

    def __init__(self, profile: SendingProfile) -> None:
        self.profile = profile

    @property
    def is_open(self) -> bool:
        """Whether a connection is established (a transport may reopen one after a break)."""
        raise NotImplementedError

    def open(self) -> None:
        """Connect and authenticate. Raises a `MailingError`."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection; never raises."""
        raise NotImplementedError

    def send(self, message: OutboundMessage) -> str | Text:
        """Hand over the stored bytes of one message; return the server's answer."""
        raise NotImplementedError

    def __enter__(self) -> Transport:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
