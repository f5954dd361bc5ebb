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
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from courrier.mailing.models import SendingProfile
    from tests.fakes.smtp import FakeSMTPServer, TestCA


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


# -- a small scripted HTTP(S) server for the providers' fakes ----------------------------------


@dataclass
class HTTPRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class HTTPResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> HTTPResponse:
        return cls(
            status,
            json.dumps(data).encode("utf-8"),
            {"Content-Type": "application/json", **(headers or {})},
        )


@dataclass
class _Script:
    status: int | None  # None: garbage instead of an HTTP answer
    retry_after: int | None
    delay: float
    remaining: int


class FakeHTTPService:
    """A threaded HTTP server on 127.0.0.1 (HTTPS with `tls=`) that subclasses teach a provider.

    Subclasses implement `handle(request) -> HTTPResponse` and may override `scripted(request)`
    (which requests the scripted failures apply to: by default every POST) and
    `error_response(status, retry_after)` (the provider's own error body).

        service.fail_next(429, retry_after=30)   # the next send answers 429 + Retry-After: 30
        service.garbage_next()                   # bytes that are not HTTP, then a hang-up
        service.delay_next(2.0)                  # answer late (the client's timeout)
        service.requests                         # every request, in arrival order
    """

    def __init__(self, *, tls: TestCA | None = None) -> None:
        self.requests: list[HTTPRequest] = []
        self.lock = threading.Lock()
        self._scripts: list[_Script] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                service._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = tls.server_context()
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    # -- life -------------------------------------------------------------------------------

    def start(self) -> FakeHTTPService:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------------------------

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        with self.lock:
            self._scripts.append(_Script(status, retry_after, 0.0, times))

    def garbage_next(self, *, times: int = 1) -> None:
        with self.lock:
            self._scripts.append(_Script(None, None, 0.0, times))

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        with self.lock:
            self._scripts.append(_Script(0, None, seconds, times))

    def scripted(self, request: HTTPRequest) -> bool:
        return request.method == "POST"

    def error_response(self, status: int, retry_after: int | None) -> HTTPResponse:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return HTTPResponse.json(status, {"error": f"scripted failure {status}"}, headers)

    def handle(self, request: HTTPRequest) -> HTTPResponse:
        raise NotImplementedError

    # -- serving (in the server's threads) ------------------------------------------------------

    def _take(self, request: HTTPRequest) -> _Script | None:
        if not self.scripted(request):
            return None
        with self.lock:
            for script in self._scripts:
                if script.remaining > 0:
                    script.remaining -= 1
                    return script
        return None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        request = HTTPRequest(
            method=handler.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=body,
        )
        with self.lock:
            self.requests.append(request)
        script = self._take(request)
        response: HTTPResponse | None = None
        if script is not None:
            if script.status is None:
                handler.close_connection = True
                handler.wfile.write(b"\x00\xffthis is not HTTP\r\n\r\n")
                handler.wfile.flush()
                return
            if script.delay:
                time.sleep(script.delay)
            if script.status:
                response = self.error_response(script.status, script.retry_after)
        if response is None:
            try:
                response = self.handle(request)
            except Exception as exc:  # a bug in a fake must show, not hang the client
                response = HTTPResponse(500, f"fake error: {exc!r}".encode())
        handler.send_response(response.status)
        for name, value in response.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(response.body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(response.body)


__all__ = [
    "FakeHTTPService",
    "HTTPRequest",
    "HTTPResponse",
    "Harness",
    "HarnessFactory",
    "ReceivedMail",
    "SMTPHarness",
    "parse_mail",
    "smtp_harness",
]
