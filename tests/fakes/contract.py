"""What every transport's fake offers the shared contract suite (tests/mailing/transports/).

Each fake module (tests/fakes/<name>.py) exposes::

    @contextmanager
    def harness(make_profile) -> Iterator[Harness]: ...

`make_profile` is the fixture of tests/conftest.py (keyword fields of a SendingProfile,
`server=` for an SMTP fake). The harness starts its fake, saves a profile pointed at it, and
stops everything on exit.

`fail_next(status, retry_after=..., times=...)` speaks HTTP: 429 and 5xx are temporary
failures, 400 (and other 4xx but 401/403/429) a refusal of this message. Fakes that speak
another protocol translate (SMTP: 421/429/5xx -> "421", 400/413/550 -> "550").

Optional attributes, read with `getattr(harness, name, default)` by the suite:

    name: str                     how the suite's ids show it (default: the profile's method)
    keeps_message_id: bool        the provider keeps our Message-ID header (default True);
                                  those that rewrite it are documented in their fake
    honours_retry_after: bool     the protocol can say "retry after N seconds" (default True;
                                  SMTP cannot)
"""

from __future__ import annotations

import email.message
import email.policy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from courrier.mailing.models import SendingProfile
    from tests.fakes.smtp import FakeSMTPServer


@dataclass
class ReceivedMail:
    """One message as the fake provider received it."""

    recipients: list[str]  # every address it was delivered to (envelope: To, Cc and Bcc)
    message: email.message.EmailMessage  # parsed with email.policy.default

    @classmethod
    def from_bytes(cls, recipients: list[str], data: bytes) -> ReceivedMail:
        return cls(recipients=list(recipients), message=parse_mail(data))

    def part(self, content_type: str) -> str:
        """The decoded text of the first part of that type (text/plain, text/html)."""
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                content = part.get_content()
                assert isinstance(content, str)
                return content
        raise AssertionError(f"no {content_type} part")


def parse_mail(data: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


@runtime_checkable
class Harness(Protocol):
    """A fake provider with a profile that uses it."""

    @property
    def profile(self) -> SendingProfile: ...

    def received(self) -> list[ReceivedMail]:
        """What arrived so far, in arrival order."""
        ...

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        """Answer `status` to the next `times` sends (HTTP meaning; see the module docstring)."""
        ...

    def revoke(self) -> None:
        """The profile's credentials stop working (OAuth: its refresh token is revoked)."""
        ...


HarnessFactory = Callable[[Callable[..., "SendingProfile"]], Any]


# -- SMTP -------------------------------------------------------------------------------------

SMTP_LOGIN = ("anne@fidu.test", "Mot-de-passe-SMTP-1")


class SMTPHarness:
    """The SMTP transport against aiosmtpd on 127.0.0.1, with a login.

    SMTP cannot ask for a delay: a 429 with Retry-After becomes a plain 421. The server keeps
    our Message-ID as it is.
    """

    name = "smtp"
    keeps_message_id = True
    honours_retry_after = False

    def __init__(self, server: FakeSMTPServer, profile: SendingProfile) -> None:
        self.server = server
        self._profile = profile

    @property
    def profile(self) -> SendingProfile:
        return self._profile

    def received(self) -> list[ReceivedMail]:
        return [ReceivedMail.from_bytes(item.rcpt_tos, item.data) for item in self.server.messages]

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        if status in (421, 429) or (status >= 500 and status not in (550, 552, 554)):
            reply = "421 4.3.2 Service temporarily unavailable, try again later"
        else:
            reply = "550 5.7.1 Message refused by policy"
        self.server.fail_next(times, reply, at="data")

    def revoke(self) -> None:
        # The server now expects another password: the stored one is refused with 535.
        assert self.server.auth is not None
        self.server.auth = (self.server.auth[0], "Un-autre-mot-de-passe-2")


@contextmanager
def smtp_harness(make_profile: Callable[..., SendingProfile]) -> Iterator[SMTPHarness]:
    from tests.fakes.smtp import FakeSMTPServer

    with FakeSMTPServer(auth=SMTP_LOGIN) as server:
        profile = make_profile(
            server=server, from_name="Anne Dupont", from_address="anne@fidu.test"
        )
        yield SMTPHarness(server, profile)


__all__ = [
    "Harness",
    "HarnessFactory",
    "ReceivedMail",
    "SMTPHarness",
    "parse_mail",
    "smtp_harness",
]
