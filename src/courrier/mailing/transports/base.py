"""The one small contract every transport keeps, shaped like Django's mail backends.

A transport is built from one `SendingProfile` row, opened once, hands over any number of
stored messages, then closed::

    with transport_for(profile) as transport:
        answer = transport.send(message)

`send` hands over `message.raw` as it is, to `message.envelope_recipients`, and returns the
server's or provider's answer (a reply line or an id). Failures are raised as the
exceptions of `courrier.mailing.exceptions`, never as a library's own exceptions.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from courrier.mailing.models import OutboundMessage, SendingProfile


class Transport:
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

    def send(self, message: OutboundMessage) -> str:
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
