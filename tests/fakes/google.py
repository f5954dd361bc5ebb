"""A small Google on 127.0.0.1 over HTTPS (test CA): consent, token endpoint, revoke, Gmail send.

    with FakeGoogle(test_ca) as google, google.configured():   # settings.OAUTH points here,
        ...                                                     # requests trusts the test CA

    google.account = "anne@fidu.test"     # who gives consent on the (automatic) consent screen
    google.deny = True                    # the person clicks "Cancel"
    google.untick_send = True             # granular consent: the sending scope is unticked
    google.rotate = True                  # each refresh returns a new refresh token, the old dies
    google.grant(account=...)             # tokens as after a consent: (refresh, access, expires)
    google.revoke_all()                   # the person removes the app in their Google account
    google.expire_access_tokens()         # current access tokens stop working (grants stay)
    google.fail_next(429, retry_after=30) # Gmail send answers like Google, `times` times
    google.fail_next_raw(502, b"<html>", content_type="text/html")
    google.fail_token(503)                # the token endpoint fails
    google.sent                           # list[SentMail]: what Gmail delivered

The consent endpoint (the auth URI) answers at once with a redirect to the redirect_uri with
`code` and `state`, so a test follows the flow with Django's test client. The token endpoint
checks the client, the redirect URI and PKCE (S256 of the code_verifier against the
code_challenge), and issues a refresh token only for access_type=offline. Like Google it grants
`openid https://www.googleapis.com/auth/userinfo.email` for `openid email`, and the id_token
names the account. Gmail send checks the bearer token and its scope, delivers to the To, Cc and
Bcc headers of the uploaded message and removes its Bcc header.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.server
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from tests.fakes.contract import ReceivedMail
from tests.fakes.smtp import HOST, TestCA

if TYPE_CHECKING:
    from courrier.mailing.models import SendingProfile

CLIENT_ID = "courrier-test.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-secret-de-test"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
FULL_MAIL = "https://mail.google.com/"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"


@dataclass
class Grant:
    account: str
    scopes: list[str]
    revoked: bool = False


@dataclass
class AccessToken:
    grant: Grant
    expires_at: float
    valid: bool = True


@dataclass
class SentMail:
    uploaded: bytes  # what Courrier sent to the API (with the Bcc header it may add)
    delivered: bytes  # what recipients get: Bcc header removed
    recipients: list[str]  # To, Cc and Bcc of the uploaded message
    account: str
    id: str
    upload: str  # "json" or "media"

    @property
    def received(self) -> ReceivedMail:
        return ReceivedMail.from_bytes(self.recipients, self.delivered)


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _google_error(status: int, message: str, reason: str, state: str) -> bytes:
    return json.dumps(
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": state,
            }
        }
    ).encode()


def _without_bcc(raw: bytes) -> bytes:
    """The message without its Bcc header (and its folded continuation lines)."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith(b"bcc:")
        if not skipping:
            kept.append(line)
    return b"\r\n".join(kept) + separator + body


class FakeGoogle:
    def __init__(self, ca: TestCA, *, rotate: bool = False) -> None:
        self.ca = ca
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.account = "anne@fidu.test"
        self.deny = False
        self.untick_send = False
        self.rotate = rotate
        self.expires_in = 3600
        # Scopes Google adds to what was asked (earlier grants, incremental authorisation).
        self.extra_scopes: list[str] = []
        self.auth_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.revoke_requests: list[str] = []
        self.sent: list[SentMail] = []
        self.send_requests = 0
        self._codes: dict[str, dict[str, Any]] = {}
        self._refresh: dict[str, Grant] = {}
        self._access: dict[str, AccessToken] = {}
        self._send_failures: list[_Answer] = []
        self._token_failures: list[_Answer] = []
        self.token_delay = 0.0
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life -------------------------------------------------------------------------------

    def start(self) -> FakeGoogle:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = http.server.ThreadingHTTPServer((HOST, 0), handler)
        server.daemon_threads = True
        server.socket = self.ca.server_context().wrap_socket(server.socket, server_side=True)
        self._server = server
        # A short poll: stopping the server waits for it.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"https://{HOST}:{self._server.server_address[1]}"

    @property
    def auth_uri(self) -> str:
        return f"{self.base_url}/o/oauth2/auth"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    @property
    def revoke_uri(self) -> str:
        return f"{self.base_url}/revoke"

    def oauth_settings(self) -> dict[str, str]:
        return {
            **settings.OAUTH,
            "GOOGLE_CLIENT_ID": self.client_id,
            "GOOGLE_CLIENT_SECRET": self.client_secret,
            "GOOGLE_AUTH_URI": self.auth_uri,
            "GOOGLE_TOKEN_URI": self.token_uri,
            "GOOGLE_REVOKE_URI": self.revoke_uri,
            "GMAIL_API_URL": self.base_url,
        }

    @contextmanager
    def configured(self) -> Iterator[FakeGoogle]:
        """settings.OAUTH points at this fake, and HTTPS clients trust the test CA.

        REQUESTS_CA_BUNDLE (set on these machines) would win over any `verify=` a session
        sets, so it is pointed at the test CA for the duration."""
        saved = {name: os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        os.environ["REQUESTS_CA_BUNDLE"] = str(self.ca.ca_path)
        os.environ.pop("CURL_CA_BUNDLE", None)
        try:
            with override_settings(OAUTH=self.oauth_settings()):
                yield self
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    # -- what a test arranges ---------------------------------------------------------------

    def grant(
        self, *, account: str | None = None, scopes: list[str] | None = None
    ) -> tuple[str, str, int]:
        """Tokens as after a consent: (refresh token, access token, expires_in)."""
        grant = Grant(
            account=account or self.account,
            scopes=scopes or [GMAIL_SEND, "openid", USERINFO_EMAIL],
        )
        with self._lock:
            refresh = self._new_refresh(grant)
            access = self._new_access(grant)
        return refresh, access, self.expires_in

    def revoke_all(self) -> None:
        with self._lock:
            for grant in self._refresh.values():
                grant.revoked = True
            for token in self._access.values():
                token.valid = False

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self._access.values():
                token.valid = False

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        """Gmail send answers `status` as Google words it, `times` times."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if status == 429:
            body = _google_error(
                429, "User-rate limit exceeded.", "rateLimitExceeded", "RESOURCE_EXHAUSTED"
            )
        elif status == 401:
            body = _google_error(
                401,
                "Request had invalid authentication credentials.",
                "authError",
                "UNAUTHENTICATED",
            )
        elif status == 403:
            body = _google_error(
                403, "Delegation denied for this account.", "forbidden", "PERMISSION_DENIED"
            )
        elif status == 400:
            body = _google_error(400, "Invalid To header", "invalidArgument", "INVALID_ARGUMENT")
        elif status >= 500:
            body = _google_error(status, "Backend Error", "backendError", "INTERNAL")
        else:
            body = _google_error(status, "Request refused", "failed", "FAILED_PRECONDITION")
        self._queue(self._send_failures, _Answer(status, body, headers), times)

    def fail_next_raw(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/html",
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        self._queue(
            self._send_failures,
            _Answer(status, body, {"Content-Type": content_type, **(headers or {})}),
            times,
        )

    def fail_token(
        self,
        status: int,
        body: bytes | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The token endpoint answers `status` (an HTML error page unless `body` is given)."""
        headers = {"Content-Type": "application/json" if body and body[:1] == b"{" else "text/html"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        answer = _Answer(
            status, body if body is not None else b"<html><body>Server Error</body></html>", headers
        )
        self._queue(self._token_failures, answer, times)

    def _queue(self, queue: list[_Answer], answer: _Answer, times: int) -> None:
        with self._lock:
            queue.extend([answer] * times)

    def refresh_token_valid(self, token: str) -> bool:
        with self._lock:
            grant = self._refresh.get(token)
            return grant is not None and not grant.revoked

    def refreshes(self) -> int:
        return sum(1 for r in self.token_requests if r.get("grant_type") == "refresh_token")

    # -- the endpoints ----------------------------------------------------------------------

    def _new_refresh(self, grant: Grant) -> str:
        token = "1//rt-" + secrets.token_urlsafe(24)
        self._refresh[token] = grant
        return token

    def _new_access(self, grant: Grant) -> str:
        token = "ya29.at-" + secrets.token_urlsafe(24)
        self._access[token] = AccessToken(grant=grant, expires_at=time.time() + self.expires_in)
        return token

    def _id_token(self, account: str) -> str:
        now = int(time.time())
        header = {"alg": "RS256", "kid": "fake", "typ": "JWT"}
        claims = {
            "iss": "https://accounts.google.com",
            "aud": self.client_id,
            "azp": self.client_id,
            "sub": str(abs(hash(account)))[:18],
            "email": account,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
        }
        return ".".join(
            [
                _b64(json.dumps(header).encode()),
                _b64(json.dumps(claims).encode()),
                _b64(b"not-signed-by-the-fake"),
            ]
        )

    def consent(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.auth_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        problems = []
        if query.get("client_id") != self.client_id:
            problems.append("invalid_client")
        if query.get("response_type") != "code":
            problems.append("unsupported_response_type")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            problems.append("invalid_request: PKCE S256 expected")
        if not redirect_uri:
            problems.append("redirect_uri_mismatch")
        if problems:
            return 400, {"Content-Type": "text/plain"}, "; ".join(problems).encode()
        back: dict[str, str] = {"state": query.get("state", "")}
        if self.deny:
            back["error"] = "access_denied"
        else:
            asked = query.get("scope", "").split()
            granted = [USERINFO_EMAIL if scope == "email" else scope for scope in asked]
            if self.untick_send:
                granted = [s for s in granted if s not in (GMAIL_SEND, FULL_MAIL)]
            granted += [s for s in self.extra_scopes if s not in granted]
            code = "4/code-" + secrets.token_urlsafe(16)
            with self._lock:
                self._codes[code] = {
                    "redirect_uri": redirect_uri,
                    "challenge": query.get("code_challenge", ""),
                    "scopes": granted,
                    "account": self.account,
                    "offline": query.get("access_type") == "offline",
                }
            back["code"] = code
            back["scope"] = " ".join(granted)
        separator = "&" if "?" in redirect_uri else "?"
        return 302, {"Location": f"{redirect_uri}{separator}{urlencode(back)}"}, b""

    def token(self, form: dict[str, str], authorization: str) -> _Answer:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _sep, client_secret = (unquote(part) for part in decoded.partition(":"))
        self.token_requests.append({k: v for k, v in form.items() if k == "grant_type"})
        if self.token_delay:
            time.sleep(self.token_delay)
        with self._lock:
            if self._token_failures:
                return self._token_failures.pop(0)
        if client_id != self.client_id or client_secret != self.client_secret:
            return _json_answer(
                401, {"error": "invalid_client", "error_description": "Unauthorized"}
            )
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        return _json_answer(400, {"error": "unsupported_grant_type"})

    def _code_grant(self, form: dict[str, str]) -> _Answer:
        with self._lock:
            entry = self._codes.pop(form.get("code", ""), None)
        if entry is None:
            return _json_answer(400, {"error": "invalid_grant", "error_description": "Bad Request"})
        if form.get("redirect_uri") != entry["redirect_uri"]:
            return _json_answer(400, {"error": "redirect_uri_mismatch"})
        verifier = form.get("code_verifier", "")
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        if not verifier or challenge != entry["challenge"]:
            return _json_answer(
                400, {"error": "invalid_grant", "error_description": "Invalid code verifier."}
            )
        grant = Grant(account=entry["account"], scopes=list(entry["scopes"]))
        with self._lock:
            access = self._new_access(grant)
            refresh = self._new_refresh(grant) if entry["offline"] else None
        answer: dict[str, Any] = {
            "access_token": access,
            "expires_in": self.expires_in,
            "scope": " ".join(grant.scopes),
            "token_type": "Bearer",
        }
        if refresh:
            answer["refresh_token"] = refresh
        if "openid" in grant.scopes:
            answer["id_token"] = self._id_token(grant.account)
        return _json_answer(200, answer)

    def _refresh_grant(self, form: dict[str, str]) -> _Answer:
        with self._lock:
            old = form.get("refresh_token", "")
            grant = self._refresh.get(old)
            if grant is None or grant.revoked:
                return _json_answer(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    },
                )
            answer: dict[str, Any] = {
                "access_token": self._new_access(grant),
                "expires_in": self.expires_in,
                "scope": " ".join(grant.scopes),
                "token_type": "Bearer",
            }
            if self.rotate:
                # The old refresh token dies with the rotation: losing the new one is fatal.
                del self._refresh[old]
                answer["refresh_token"] = self._new_refresh(grant)
        return _json_answer(200, answer)

    def revoke(self, token: str) -> _Answer:
        self.revoke_requests.append(token)
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None and token in self._access:
                grant = self._access[token].grant
            if grant is None or grant.revoked:
                return _json_answer(400, {"error": "invalid_token", "error_description": "Bad"})
            grant.revoked = True
            for access in self._access.values():
                if access.grant is grant:
                    access.valid = False
        return _json_answer(200, {})

    def gmail_send(self, path: str, query: dict[str, str], headers: Any, body: bytes) -> _Answer:
        self.send_requests += 1
        bearer = str(headers.get("Authorization", ""))
        with self._lock:
            token = self._access.get(bearer[7:]) if bearer.startswith("Bearer ") else None
            usable = (
                token is not None
                and token.valid
                and not token.grant.revoked
                and token.expires_at > time.time()
            )
            failure = self._send_failures.pop(0) if usable and self._send_failures else None
        if not usable or token is None:
            return _Answer(
                401,
                _google_error(
                    401,
                    "Request had invalid authentication credentials.",
                    "authError",
                    "UNAUTHENTICATED",
                ),
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        if not {GMAIL_SEND, FULL_MAIL} & set(token.grant.scopes):
            return _Answer(
                403,
                _google_error(
                    403,
                    "Request had insufficient authentication scopes.",
                    "insufficientPermissions",
                    "PERMISSION_DENIED",
                ),
            )
        if failure is not None:
            return failure
        if path.startswith("/upload/"):
            if query.get("uploadType") != "media":
                return _json_answer(400, {"error": {"code": 400, "message": "uploadType"}})
            raw, upload = body, "media"
        else:
            try:
                encoded = json.loads(body)["raw"]
                raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (ValueError, KeyError, TypeError):
                return _Answer(
                    400,
                    _google_error(
                        400,
                        "'raw' RFC822 payload message string or uploading "
                        "message via /upload/* URL required",
                        "invalidArgument",
                        "INVALID_ARGUMENT",
                    ),
                )
            upload = "json"
        parsed = BytesHeaderParser(policy=compat32).parsebytes(raw)
        recipients = [
            address
            for _name, address in email.utils.getaddresses(
                [str(v) for name in ("to", "cc", "bcc") for v in parsed.get_all(name, [])]
            )
            if address
        ]
        if not recipients:
            return _Answer(
                400,
                _google_error(
                    400, "Recipient address required", "invalidArgument", "INVALID_ARGUMENT"
                ),
            )
        message_id = secrets.token_hex(8)
        with self._lock:
            self.sent.append(
                SentMail(
                    uploaded=raw,
                    delivered=_without_bcc(raw),
                    recipients=recipients,
                    account=token.grant.account,
                    id=message_id,
                    upload=upload,
                )
            )
        return _json_answer(200, {"id": message_id, "threadId": message_id, "labelIds": ["SENT"]})


def _json_answer(status: int, data: dict[str, Any]) -> _Answer:
    return _Answer(status, json.dumps(data).encode(), {"Content-Type": "application/json"})


class _Handler(http.server.BaseHTTPRequestHandler):
    fake: FakeGoogle
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows what matters

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json; charset=UTF-8", **headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/o/oauth2/auth":
            status, headers, body = self.fake.consent(query)
            self._reply(status, body, headers)
            return
        self._reply(404, b'{"error": "not found"}', {})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self._body()
        if url.path == "/token":
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            answer = self.fake.token(form, self.headers.get("Authorization", ""))
        elif url.path == "/revoke":
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            answer = self.fake.revoke(form.get("token") or query.get("token", ""))
        elif re.fullmatch(r"(/upload)?/gmail/v1/users/me/messages/send", url.path):
            answer = self.fake.gmail_send(url.path, query, self.headers, body)
        else:
            answer = _Answer(404, b'{"error": "not found"}')
        self._reply(answer.status, answer.body, answer.headers)


# -- the contract suite's harness -------------------------------------------------------------


class GmailHarness:
    """The Gmail transport against FakeGoogle, with a profile connected to anne@fidu.test."""

    name = "gmail"
    keeps_message_id = True
    honours_retry_after = True

    def __init__(self, fake: FakeGoogle, profile: SendingProfile) -> None:
        self.fake = fake
        self._profile = profile

    @property
    def profile(self) -> SendingProfile:
        return self._profile

    def received(self) -> list[ReceivedMail]:
        return [sent.received for sent in self.fake.sent]

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        self.fake.fail_next(status, retry_after=retry_after, times=times)

    def revoke(self) -> None:
        self.fake.revoke_all()


def connected_profile(
    fake: FakeGoogle, make_profile: Callable[..., SendingProfile], **fields: Any
) -> SendingProfile:
    """A Gmail profile as after a consent given to `fake` (tokens stored, encrypted)."""
    account = fields.pop("account", "anne@fidu.test")
    refresh, access, expires_in = fake.grant(account=account)
    now = timezone.now()
    values: dict[str, Any] = {
        "method": "gmail",
        "smtp_host": "",
        "from_name": "Anne Dupont",
        "from_address": account,
        "oauth_provider": "google",
        "oauth_account": account,
        "oauth_refresh_token": refresh,
        "oauth_access_token": access,
        "oauth_expires_at": now + timedelta(seconds=expires_in),
        "oauth_scopes": f"{GMAIL_SEND} openid {USERINFO_EMAIL}",
        "oauth_connected_at": now,
    }
    values.update(fields)
    return make_profile(**values)


@contextmanager
def harness(make_profile: Callable[..., SendingProfile]) -> Iterator[GmailHarness]:
    with tempfile.TemporaryDirectory(prefix="fake-google-") as directory:
        ca = TestCA(Path(directory))
        with FakeGoogle(ca) as fake, fake.configured():
            yield GmailHarness(fake, connected_profile(fake, make_profile))


__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "FULL_MAIL",
    "GMAIL_SEND",
    "USERINFO_EMAIL",
    "FakeGoogle",
    "GmailHarness",
    "SentMail",
    "connected_profile",
    "harness",
]
