"""A small Microsoft 365 on 127.0.0.1, over HTTPS with the test CA (msal refuses http://):
Entra ID's sign-in and token endpoints, and the part of Graph that sends mail.

    with FakeMicrosoft(tls=ca) as microsoft, microsoft_settings(microsoft):
        microsoft.user = "anne@fidu.test"              # who signs in at the authorize page
        microsoft.add_user("marc@fidu.test")
        microsoft.shared_mailboxes["factures@fidu.test"] = {"anne@fidu.test"}
        microsoft.send_as["anne@fidu.test"] = {"anne.dupont@fidu.test"}
        query = microsoft.consent(auth_url)            # the browser: the callback's code, state
        microsoft.sent                                 # SentMail, in order (MIME or draft)
        microsoft.fail_next(429, retry_after=30)       # the next send (sendMail or a draft's send)
        microsoft.answer_next(502, b"<html>...")       # the next send: a page, not Graph's JSON
        microsoft.fail_token_next(500)                 # the next token request
        microsoft.revoke()                             # the user's refresh and access tokens die
        microsoft.access_token_lifetime = 60           # under msal's 5 minutes: refreshed each use

What it checks like Entra ID and Graph do: the client secret, PKCE (S256) and the redirect URI
of an authorisation code, used once; one resource per token; the scopes a token carries for
each Graph call; the From address the account may use (ErrorSendAsDenied); recipients; about
4 MB per request; upload sessions (no bearer token, contiguous ranges, 320 KiB multiples).

Stricter than Entra on one point, on purpose: a refresh token works once (each refresh hands a
new one), so a client that does not save the rotated token is caught at the next refresh.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest
import requests
from django.conf import settings
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.http import QueryDict
from django.test import override_settings

from tests.fakes.contract import (
    FakeHTTPService,
    HTTPRequest,
    HTTPResponse,
    ReceivedMail,
    parse_mail,
)
from tests.fakes.smtp import TestCA

if TYPE_CHECKING:
    from courrier.mailing.models import SendingProfile

CLIENT_ID = "0c0ffee0-0000-4000-8000-00000000c0de"
CLIENT_SECRET = "fake-microsoft-client-secret"
TENANT = "organizations"
TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
REDIRECT_URI = "https://courrier.test/courrier/oauth/microsoft/callback/"
GRAPH_RESOURCE = "https://graph.microsoft.com/"
IDENTITY_SCOPES = {"openid", "profile", "offline_access", "email"}
MAX_REQUEST_BYTES = 4 * 1024 * 1024
CHUNK_MULTIPLE = 320 * 1024
MAX_ATTACHMENT_BYTES = 150 * 1024 * 1024

_GRAPH = re.compile(
    r"^/v1\.0/(?P<mailbox>me|users/[^/]+)"
    r"(?:/(?P<what>sendMail|messages)"
    r"(?:/(?P<id>[^/]+)(?:/(?P<action>send|attachments|attachments/createUploadSession))?)?)?$"
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _graph_error(status: int, code: str, message: str, **headers: str) -> HTTPResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": secrets.token_hex(8), "date": "2026-01-01T00:00:00"},
        }
    }
    return HTTPResponse.json(status, body, headers)


def _token_error(status: int, error: str, description: str) -> HTTPResponse:
    return HTTPResponse.json(
        status,
        {
            "error": error,
            "error_description": f"{description}\r\nTrace ID: {secrets.token_hex(8)}\r\n"
            "Correlation ID: 00000000-0000-0000-0000-000000000000",
            "error_codes": [int(code) for code in re.findall(r"^AADSTS(\d+)", description)],
        },
    )


SCRIPTED_ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "ErrorInvalidRecipients",
        "At least one recipient is not valid., Recipient 'x@invalid.test' is not resolved.",
    ),
    401: ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    403: (
        "ErrorSendAsDenied",
        "The user account which was used to submit this request does not have the right to "
        "send mail on behalf of the specified sending account., Cannot submit message.",
    ),
    404: ("ErrorItemNotFound", "The specified object was not found in the store."),
    413: ("ErrorRequestEntityTooLarge", "The request is too large."),
    429: ("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
    500: ("ErrorInternalServerError", "An internal server error occurred. The operation failed."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "The service is currently unavailable."),
    504: ("GatewayTimeout", "Gateway timeout."),
}


@dataclass
class User:
    address: str
    oid: str = field(default_factory=lambda: secrets.token_hex(16))
    display_name: str = ""
    # The sign-in name, when it is not the mail address.
    upn: str = ""


@dataclass
class _Grant:
    user: str
    scopes: set[str]  # the resource scopes consented


@dataclass
class _Code:
    grant: _Grant
    client_id: str
    redirect_uri: str
    requested: list[str]
    nonce: str
    challenge: str
    used: bool = False


@dataclass
class _Access:
    user: str
    resource: str
    scopes: set[str]
    expires: float


@dataclass
class _Draft:
    id: str
    mailbox: str  # "me" or the shared mailbox's address
    account: str
    json: dict[str, Any]
    attachments: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)


@dataclass
class _Upload:
    draft: _Draft
    item: dict[str, Any]
    received: bytearray = field(default_factory=bytearray)


@dataclass
class SentMail:
    """One message Graph accepted to send: as MIME, or as a draft with its attachments."""

    account: str  # the signed-in account
    mailbox: str  # "me", or the shared mailbox it was sent from
    recipients: list[str]
    message: EmailMessage  # what the recipients get (Bcc removed)
    mime: bytes | None = None  # the MIME uploaded to sendMail, exactly
    draft: dict[str, Any] | None = None  # the JSON of a draft that was sent
    attachments: dict[str, bytes] = field(default_factory=dict)  # draft attachments by name


def _resource(scope: str) -> tuple[str, str]:
    """(resource, short scope) of a requested scope; Graph's may be written without resource."""
    if "/" in scope:
        resource, _sep, short = scope.rpartition("/")
        return resource + "/", short
    return GRAPH_RESOURCE, scope


def _addresses(header: Any) -> list[Address]:
    return list(getattr(header, "addresses", ()) if header is not None else ())


def _text_of(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"(?i)<br\s*/?>|</p>", "\n", markup)))


class FakeMicrosoft(FakeHTTPService):
    def __init__(self, *, tls: TestCA, user: str = "anne@fidu.test") -> None:
        super().__init__(tls=tls)
        self.ca = tls
        self.users: dict[str, User] = {}
        self.user = self.add_user(user, display_name="Anne Dupont").address
        self.send_as: dict[str, set[str]] = {}
        self.shared_mailboxes: dict[str, set[str]] = {}
        self.unknown_recipients: set[str] = set()
        self.access_token_lifetime = 3600
        self.max_request_bytes = MAX_REQUEST_BYTES
        self.deny_next_consent = False
        self.codes: dict[str, _Code] = {}
        self.refresh_tokens: dict[str, _Grant] = {}
        self.spent_refresh_tokens: set[str] = set()
        self.access_tokens: dict[str, _Access] = {}
        self.token_grants: list[str] = []  # grant types, in order
        self.drafts: dict[str, _Draft] = {}
        self.uploads: dict[str, _Upload] = {}
        self.upload_ranges: list[tuple[int, int, int]] = []
        self.sent: list[SentMail] = []
        self._token_scripts: list[tuple[int, str, int]] = []
        self._raw_answers: list[HTTPResponse] = []

    # -- configuration ---------------------------------------------------------------------

    def add_user(self, address: str, *, display_name: str = "", upn: str = "") -> User:
        user = User(address=address, display_name=display_name or address, upn=upn)
        self.users[address.lower()] = user
        return user

    def oauth_settings(self) -> dict[str, str]:
        return {
            "MICROSOFT_CLIENT_ID": CLIENT_ID,
            "MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
            "MICROSOFT_TENANT": TENANT,
            "MICROSOFT_AUTHORITY_HOST": self.base_url,
            "GRAPH_URL": self.base_url,
            "CA_BUNDLE": str(self.ca.ca_path),
        }

    # -- scripting -------------------------------------------------------------------------

    def scripted(self, request: HTTPRequest) -> bool:
        match = _GRAPH.match(request.path)
        return (
            request.method == "POST"
            and match is not None
            and (match["what"] == "sendMail" or match["action"] == "send")
        )

    def error_response(self, status: int, retry_after: int | None) -> HTTPResponse:
        code, message = SCRIPTED_ERRORS.get(status, ("UnknownError", f"Scripted {status}."))
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return _graph_error(status, code, message, **headers)

    def answer_next(self, status: int, body: bytes, content_type: str = "text/html") -> None:
        """The next send gets this answer instead of Graph's (a proxy's page, garbage)."""
        with self.lock:
            self._raw_answers.append(HTTPResponse(status, body, {"Content-Type": content_type}))

    def fail_token_next(self, status: int, *, error: str = "", times: int = 1) -> None:
        """The next token requests answer `status` (with an OAuth `error`, else a bare body)."""
        with self.lock:
            self._token_scripts.append((status, error, times))

    def revoke(self, user: str | None = None) -> None:
        """An administrator revoked the user's sessions: refresh and access tokens die."""
        address = (user or self.user).lower()
        with self.lock:
            for token, grant in list(self.refresh_tokens.items()):
                if grant.user == address:
                    del self.refresh_tokens[token]
                    self.spent_refresh_tokens.add(token)
            for token, access in list(self.access_tokens.items()):
                if access.user == address:
                    del self.access_tokens[token]

    # -- the browser -----------------------------------------------------------------------

    def consent_redirect(self, auth_url: str) -> str:
        """Open the authorize page as the signed-in user; the address it redirects back to."""
        response = requests.get(
            auth_url, allow_redirects=False, verify=str(self.ca.ca_path), timeout=10
        )
        assert response.status_code == 302, response.text
        return str(response.headers["Location"])

    def consent(self, auth_url: str) -> dict[str, str]:
        """The query of the callback the authorize page redirects back to."""
        query = parse_qs(urlsplit(self.consent_redirect(auth_url)).query)
        return {key: values[-1] for key, values in query.items()}

    # -- serving ---------------------------------------------------------------------------

    def handle(self, request: HTTPRequest) -> HTTPResponse:
        if self.scripted(request) and self._raw_answers:
            with self.lock:
                return self._raw_answers.pop(0)
        path = request.path
        prefix = f"/{TENANT}"
        if path == f"{prefix}/v2.0/.well-known/openid-configuration":
            return self._openid_configuration()
        if path == f"{prefix}/oauth2/v2.0/authorize" and request.method == "GET":
            return self._authorize(request)
        if path == f"{prefix}/oauth2/v2.0/token" and request.method == "POST":
            return self._token(request)
        if path.startswith("/upload/") and request.method == "PUT":
            return self._upload(request, path.removeprefix("/upload/"))
        if path.startswith("/v1.0/"):
            return self._graph(request)
        return HTTPResponse(404, b"not found")

    def _openid_configuration(self) -> HTTPResponse:
        base = f"{self.base_url}/{TENANT}"
        return HTTPResponse.json(
            200,
            {
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "issuer": f"{self.base_url}/{{tenantid}}/v2.0",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            },
        )

    def _authorize(self, request: HTTPRequest) -> HTTPResponse:
        query = {key: values[-1] for key, values in request.query.items()}
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or not redirect_uri:
            return HTTPResponse(400, b"AADSTS700016: Application not found in the directory.")
        state = query.get("state", "")
        if self.deny_next_consent:
            self.deny_next_consent = False
            back = {
                "error": "access_denied",
                "error_description": "AADSTS65004: User declined to consent to access the app.",
                "state": state,
            }
            return HTTPResponse(302, headers={"Location": f"{redirect_uri}?{urlencode(back)}"})
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return HTTPResponse(400, b"AADSTS900144: response_type code with PKCE S256 expected")
        requested = query.get("scope", "").split()
        resource_scopes = {s for s in requested if s not in IDENTITY_SCOPES}
        code = "fake-code-" + secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = _Code(
                grant=_Grant(user=self.user.lower(), scopes=resource_scopes),
                client_id=CLIENT_ID,
                redirect_uri=redirect_uri,
                requested=requested,
                nonce=query.get("nonce", ""),
                challenge=query.get("code_challenge", ""),
            )
        back = {"code": code, "state": state, "session_state": secrets.token_hex(8)}
        return HTTPResponse(302, headers={"Location": f"{redirect_uri}?{urlencode(back)}"})

    def _client_authenticated(self, request: HTTPRequest, form: dict[str, str]) -> bool:
        header = request.header("Authorization")
        if header.startswith("Basic "):
            decoded = base64.b64decode(header[6:]).decode()
            client_id, _sep, secret = decoded.partition(":")
            return (unquote(client_id), unquote(secret)) == (CLIENT_ID, CLIENT_SECRET)
        return (form.get("client_id"), form.get("client_secret")) == (CLIENT_ID, CLIENT_SECRET)

    def _token(self, request: HTTPRequest) -> HTTPResponse:
        with self.lock:
            for index, (status, error, times) in enumerate(self._token_scripts):
                if times > 0:
                    self._token_scripts[index] = (status, error, times - 1)
                    if error:
                        return _token_error(status, error, f"AADSTS90000: scripted {error}.")
                    return HTTPResponse(status, b"<html>Service Unavailable</html>")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if not self._client_authenticated(request, form):
            return _token_error(
                401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )
        grant_type = form.get("grant_type", "")
        with self.lock:
            self.token_grants.append(grant_type)
            if grant_type == "authorization_code":
                return self._redeem_code(form)
            if grant_type == "refresh_token":
                return self._refresh(form)
        return _token_error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant.")

    def _redeem_code(self, form: dict[str, str]) -> HTTPResponse:
        code = self.codes.get(form.get("code", ""))
        if code is None:
            return _token_error(400, "invalid_grant", "AADSTS70000: The code is not valid.")
        if code.used:
            return _token_error(
                400, "invalid_grant", "AADSTS54005: OAuth2 Authorization code was already redeemed."
            )
        code.used = True
        if form.get("redirect_uri") != code.redirect_uri:
            return _token_error(
                400, "invalid_grant", "AADSTS50148: The redirect_uri does not match the request."
            )
        verifier = form.get("code_verifier", "")
        if _b64url(hashlib.sha256(verifier.encode()).digest()) != code.challenge:
            return _token_error(
                400,
                "invalid_grant",
                "AADSTS501481: The Code_Verifier does not match the code_challenge supplied.",
            )
        return self._issue(code.grant, form.get("scope", "").split(), nonce=code.nonce)

    def _refresh(self, form: dict[str, str]) -> HTTPResponse:
        token = form.get("refresh_token", "")
        grant = self.refresh_tokens.pop(token, None)
        if grant is None:
            reason = (
                "AADSTS50173: The provided grant has expired due to it being revoked."
                if token in self.spent_refresh_tokens
                else "AADSTS9002313: Invalid request. Request is malformed or invalid."
            )
            return _token_error(400, "invalid_grant", reason)
        self.spent_refresh_tokens.add(token)
        requested = form.get("scope", "").split()
        wanted = {_resource(s) for s in requested if s not in IDENTITY_SCOPES}
        if not wanted <= {_resource(s) for s in grant.scopes}:
            # The refresh token stays usable for what was consented.
            self.refresh_tokens[token] = grant
            self.spent_refresh_tokens.discard(token)
            return _token_error(
                400,
                "invalid_grant",
                "AADSTS65001: The user or administrator has not consented to use the application.",
            )
        return self._issue(grant, requested)

    def _issue(self, grant: _Grant, requested: list[str], *, nonce: str = "") -> HTTPResponse:
        wanted = [s for s in requested if s not in IDENTITY_SCOPES] or sorted(grant.scopes)
        resources = {_resource(s)[0] for s in wanted}
        if len(resources) != 1:
            return _token_error(
                400, "invalid_request", "AADSTS28000: Provide value for one resource only."
            )
        [resource] = resources
        shorts = {_resource(s)[1] for s in wanted}
        user = self.users[grant.user]
        now = int(time.time())
        access = "fake-at-" + secrets.token_urlsafe(24)
        refresh = "fake-rt-" + secrets.token_urlsafe(24)
        self.access_tokens[access] = _Access(
            user=grant.user,
            resource=resource,
            scopes=shorts,
            expires=now + self.access_token_lifetime,
        )
        self.refresh_tokens[refresh] = grant
        claims = {
            "aud": CLIENT_ID,
            "iss": f"{self.base_url}/{TENANT_ID}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": user.display_name,
            "oid": user.oid,
            "preferred_username": user.upn or user.address,
            "sub": _b64url(user.oid.encode()),
            "tid": TENANT_ID,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        header = {"typ": "JWT", "alg": "none"}
        id_token = ".".join(
            [_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()), ""]
        )
        # Entra names Graph's scopes without their resource, the others in full.
        named = (short if resource == GRAPH_RESOURCE else resource + short for short in shorts)
        shown = " ".join([*sorted(named), "openid", "profile", "email"])
        return HTTPResponse.json(
            200,
            {
                "token_type": "Bearer",
                "scope": shown,
                "expires_in": self.access_token_lifetime,
                "ext_expires_in": self.access_token_lifetime,
                "access_token": access,
                "refresh_token": refresh,
                "id_token": id_token,
                "client_info": _b64url(json.dumps({"uid": user.oid, "utid": TENANT_ID}).encode()),
            },
        )

    # -- access tokens (also for the XOAUTH2 test servers) ----------------------------------

    def token_user(self, token: str, *, resource: str, scope: str) -> str | None:
        """The user a valid access token of that resource and scope belongs to, or None."""
        with self.lock:
            access = self.access_tokens.get(token)
        if access is None or access.expires < time.time():
            return None
        if access.resource != resource or scope not in access.scopes:
            return None
        return access.user

    # -- Graph -----------------------------------------------------------------------------

    def _graph(self, request: HTTPRequest) -> HTTPResponse:
        if len(request.body) > self.max_request_bytes:
            return _graph_error(413, "ErrorRequestEntityTooLarge", "The request is too large.")
        header = request.header("Authorization")
        with self.lock:
            access = self.access_tokens.get(header.removeprefix("Bearer ").strip())
        if (
            not header.startswith("Bearer ")
            or access is None
            or access.expires < time.time()
            or access.resource != GRAPH_RESOURCE
        ):
            return _graph_error(
                401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
            )
        match = _GRAPH.match(request.path)
        if match is None:
            return _graph_error(400, "BadRequest", "Resource not found for the segment.")
        account = access.user
        mailbox = match["mailbox"]
        if mailbox == "me" and match["what"] is None and request.method == "GET":
            if "User.Read" not in access.scopes:
                return _graph_error(403, "Authorization_RequestDenied", "Insufficient privileges.")
            user = self.users[account]
            return HTTPResponse.json(
                200,
                {
                    "mail": user.address,
                    "userPrincipalName": user.upn or user.address,
                    "displayName": user.display_name,
                },
            )
        if mailbox == "me":
            if "Mail.Send" not in access.scopes:
                return _graph_error(403, "ErrorAccessDenied", "Access is denied.")
            owner = account
        else:
            owner = unquote(mailbox.removeprefix("users/")).lower()
            if owner == account:
                if "Mail.Send" not in access.scopes:
                    return _graph_error(403, "ErrorAccessDenied", "Access is denied.")
            elif owner not in self.shared_mailboxes:
                return _graph_error(
                    404, "ErrorInvalidUser", f"The requested user '{owner}' is invalid."
                )
            elif "Mail.Send.Shared" not in access.scopes or account not in {
                a.lower() for a in self.shared_mailboxes[owner]
            }:
                return _graph_error(
                    403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                )
        where = "me" if mailbox == "me" else owner
        what, draft_id, action = match["what"], match["id"], match["action"]
        with self.lock:
            if what == "sendMail" and request.method == "POST":
                return self._send_mime(request, account, owner, where)
            if what == "messages" and draft_id is None and request.method == "POST":
                return self._create_draft(request, account, where)
            draft = self.drafts.get(draft_id or "")
            if draft is None or draft.mailbox != where:
                return _graph_error(404, "ErrorItemNotFound", "The specified object was not found.")
            if action is None and request.method == "DELETE":
                del self.drafts[draft.id]
                return HTTPResponse(204)
            if action == "attachments" and request.method == "POST":
                return self._attach(request, draft)
            if action == "attachments/createUploadSession" and request.method == "POST":
                return self._upload_session(request, draft)
            if action == "send" and request.method == "POST":
                return self._send_draft(draft, owner)
        return _graph_error(405, "ErrorInvalidRequest", "Method not allowed.")

    def _may_send_as(self, account: str, owner: str, sender: str) -> bool:
        sender = sender.lower()
        allowed = {owner.lower(), *(a.lower() for a in self.send_as.get(account, set()))}
        return sender in allowed

    def _refused_recipient(self, addresses: list[str]) -> HTTPResponse | None:
        for address in addresses:
            if "@" not in address or address.lower() in self.unknown_recipients:
                return _graph_error(
                    400,
                    "ErrorInvalidRecipients",
                    f"At least one recipient is not valid., Recipient '{address}' is not "
                    "resolved. All recipients must be resolved before a message can be submitted.",
                )
        if not addresses:
            return _graph_error(
                400, "ErrorInvalidRecipients", "At least one recipient is not valid."
            )
        return None

    def _send_mime(
        self, request: HTTPRequest, account: str, owner: str, where: str
    ) -> HTTPResponse:
        if not request.header("Content-Type").startswith("text/plain"):
            return _graph_error(400, "ErrorInvalidRequest", "Invalid JSON in the request body.")
        try:
            mime = base64.b64decode(request.body, validate=True)
        except ValueError:
            return _graph_error(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            )
        message = BytesParser(policy=policy.default).parsebytes(mime)
        assert isinstance(message, EmailMessage)
        senders = _addresses(message["From"])
        if not senders or not self._may_send_as(account, owner, senders[0].addr_spec):
            return self.error_response(403, None)
        recipients = [
            a.addr_spec for name in ("To", "Cc", "Bcc") for a in _addresses(message[name])
        ]
        refused = self._refused_recipient(recipients)
        if refused is not None:
            return refused
        del message["Bcc"]
        self.sent.append(SentMail(account, where, recipients, message, mime=mime))
        return HTTPResponse(202)

    def _create_draft(self, request: HTTPRequest, account: str, where: str) -> HTTPResponse:
        try:
            data = request.json()
        except ValueError:
            return _graph_error(400, "ErrorInvalidRequest", "Invalid JSON in the request body.")
        headers = data.get("internetMessageHeaders") or []
        if any(not str(h.get("name", "")).lower().startswith("x-") for h in headers):
            return _graph_error(
                400,
                "InvalidInternetMessageHeader",
                "The internet message header name should start with 'x-' or 'X-'.",
            )
        draft = _Draft(
            id="AAMkfake" + secrets.token_hex(12), mailbox=where, account=account, json=data
        )
        self.drafts[draft.id] = draft
        return HTTPResponse.json(201, {"id": draft.id, "isDraft": True, **data})

    def _attach(self, request: HTTPRequest, draft: _Draft) -> HTTPResponse:
        data = request.json()
        if data.get("@odata.type") != "#microsoft.graph.fileAttachment":
            return _graph_error(400, "ErrorInvalidRequest", "fileAttachment expected.")
        content = base64.b64decode(data.pop("contentBytes"), validate=True)
        draft.attachments.append((data, content))
        return HTTPResponse.json(201, {"id": secrets.token_hex(8), **data, "size": len(content)})

    def _upload_session(self, request: HTTPRequest, draft: _Draft) -> HTTPResponse:
        item = request.json().get("AttachmentItem") or {}
        if item.get("attachmentType") != "file" or not item.get("name"):
            return _graph_error(400, "ErrorInvalidRequest", "AttachmentItem is not valid.")
        if not 0 < int(item.get("size", 0)) <= MAX_ATTACHMENT_BYTES:
            return _graph_error(400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize", "Size.")
        session = secrets.token_urlsafe(12)
        self.uploads[session] = _Upload(draft=draft, item=item)
        return HTTPResponse.json(
            201,
            {
                "uploadUrl": f"{self.base_url}/upload/{session}?authtoken={secrets.token_hex(8)}",
                "expirationDateTime": "2030-01-01T00:00:00Z",
                "nextExpectedRanges": ["0-"],
            },
        )

    def _upload(self, request: HTTPRequest, session: str) -> HTTPResponse:
        if request.header("Authorization"):
            return _graph_error(
                401, "InvalidAuthenticationToken", "An upload URL takes no Authorization header."
            )
        with self.lock:
            upload = self.uploads.get(session)
            if upload is None:
                return _graph_error(404, "ErrorItemNotFound", "Upload session not found.")
            match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.header("Content-Range"))
            size = int(upload.item["size"])
            if match is None:
                return _graph_error(400, "InvalidRange", "Content-Range is missing or malformed.")
            start, end, total = (int(n) for n in match.groups())
            length = len(request.body)
            last = end + 1 == size
            if (
                total != size
                or start != len(upload.received)
                or end - start + 1 != length
                or length > MAX_REQUEST_BYTES
                or (not last and length % CHUNK_MULTIPLE)
            ):
                return _graph_error(416, "InvalidRange", f"Bad range {start}-{end}/{total}.")
            upload.received.extend(request.body)
            self.upload_ranges.append((start, end, total))
            if not last:
                return HTTPResponse.json(
                    200,
                    {
                        "expirationDateTime": "2030-01-01T00:00:00Z",
                        "nextExpectedRanges": [f"{end + 1}-"],
                    },
                )
            del self.uploads[session]
            upload.draft.attachments.append((dict(upload.item), bytes(upload.received)))
        return HTTPResponse(201, headers={"Location": f"{self.base_url}/attachments/{session}"})

    def _send_draft(self, draft: _Draft, owner: str) -> HTTPResponse:
        data = draft.json
        sender = (data.get("from") or {}).get("emailAddress", {}).get("address") or owner
        if not self._may_send_as(draft.account, owner, sender):
            return self.error_response(403, None)

        def addresses(key: str) -> list[Address]:
            return [
                Address(
                    display_name=entry["emailAddress"].get("name", ""),
                    addr_spec=entry["emailAddress"]["address"],
                )
                for entry in data.get(key) or []
            ]

        to, cc, bcc = (
            addresses("toRecipients"),
            addresses("ccRecipients"),
            addresses("bccRecipients"),
        )
        recipients = [a.addr_spec for a in to + cc + bcc]
        refused = self._refused_recipient(recipients)
        if refused is not None:
            return refused
        message = EmailMessage()
        named = (data.get("from") or {}).get("emailAddress", {})
        message["From"] = Address(display_name=named.get("name", ""), addr_spec=sender)
        if to:
            message["To"] = to
        if cc:
            message["Cc"] = cc
        reply_to = addresses("replyTo")
        if reply_to:
            message["Reply-To"] = reply_to
        message["Subject"] = data.get("subject", "")
        message["Message-ID"] = data.get("internetMessageId") or make_msgid(domain="fake.test")
        for header in data.get("internetMessageHeaders") or []:
            message[header["name"]] = header["value"]
        body = data.get("body") or {}
        content = str(body.get("content", ""))
        if str(body.get("contentType", "")).lower() == "html":
            message.set_content(_text_of(content))
            message.add_alternative(content, subtype="html")
        else:
            message.set_content(content)
        attachments: dict[str, bytes] = {}
        for item, content_bytes in draft.attachments:
            maintype, _sep, subtype = str(
                item.get("contentType") or "application/octet-stream"
            ).partition("/")
            message.add_attachment(
                content_bytes,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=item["name"],
                disposition="inline" if item.get("isInline") else "attachment",
                cid=f"<{item['contentId']}>" if item.get("contentId") else None,
            )
            attachments[item["name"]] = content_bytes
        del self.drafts[draft.id]
        self.sent.append(
            SentMail(
                draft.account,
                draft.mailbox,
                recipients,
                parse_mail(message.as_bytes()),
                draft=data,
                attachments=attachments,
            )
        )
        return HTTPResponse(202)


# -- settings and connection --------------------------------------------------------------------


@contextmanager
def microsoft_settings(fake: FakeMicrosoft) -> Iterator[None]:
    """Point Courrier at the fake, trusting only the test CA.

    REQUESTS_CA_BUNDLE (set on these machines) would win over a session's own `verify`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        patch.delenv("CURL_CA_BUNDLE", raising=False)
        with override_settings(OAUTH={**settings.OAUTH, **fake.oauth_settings()}):
            yield


def connect(
    fake: FakeMicrosoft, profile: SendingProfile, *, redirect_uri: str = REDIRECT_URI
) -> SendingProfile:
    """Connect the profile as its owner would: consent page, then the callback."""
    from courrier.mailing.oauth import microsoft

    session = SessionStore()
    url = microsoft.authorization_url(profile=profile, redirect_uri=redirect_uri, session=session)
    query = QueryDict(mutable=True)
    query.update(fake.consent(url))
    return microsoft.complete(redirect_uri=redirect_uri, session=session, query=query)


class MicrosoftHarness:
    """The Graph transport against the fake, with a connected profile.

    Graph keeps our Message-ID and honours nothing but the MIME we upload."""

    name = "microsoft"
    keeps_message_id = True
    honours_retry_after = True

    def __init__(self, fake: FakeMicrosoft, profile: SendingProfile) -> None:
        self.fake = fake
        self._profile = profile

    @property
    def profile(self) -> SendingProfile:
        return self._profile

    def received(self) -> list[ReceivedMail]:
        return [
            ReceivedMail(recipients=list(s.recipients), message=s.message) for s in self.fake.sent
        ]

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        self.fake.fail_next(status, retry_after=retry_after, times=times)

    def revoke(self) -> None:
        self.fake.revoke()


@contextmanager
def harness(make_profile: Callable[..., SendingProfile]) -> Iterator[MicrosoftHarness]:
    with tempfile.TemporaryDirectory(prefix="courrier-ms-ca-") as directory:
        ca = TestCA(Path(directory))
        with FakeMicrosoft(tls=ca) as fake, microsoft_settings(fake):
            profile = make_profile(
                method="microsoft", from_name="Anne Dupont", from_address=fake.user
            )
            yield MicrosoftHarness(fake, connect(fake, profile))
