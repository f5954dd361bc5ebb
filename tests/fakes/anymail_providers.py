"""Small Postmark and Brevo APIs on 127.0.0.1, for the transports built on anymail.

    with FakePostmark(token="pm-token") as postmark:   # POST /email, X-Postmark-Server-Token
        postmark.base_url + "/"                        # settings.PROVIDER_URLS["POSTMARK"]
        postmark.mails, postmark.payloads              # what it accepted
        postmark.sender_signatures = {"anne@fidu.test"}   # others get ErrorCode 400 (422)
    with FakeBrevo(api_key="xkeysib-...") as brevo:    # POST /v3/smtp/email, api-key header
    with FakeSES(access_key_id="AKIA...") as ses:      # SESv2 SendEmail (raw MIME), via boto3

Both accept the scripted failures of FakeHTTPService (fail_next, garbage_next, delay_next).

What they keep of a message: Postmark keeps the Message-ID given in its Headers; Brevo too
(it only makes one up when none is given). Both rebuild the mail from their JSON, so what
"arrives" is what the provider was told, not our stored bytes. SES receives the stored MIME
itself (anymail only re-encodes 8-bit parts as quoted-printable).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import getaddresses, make_msgid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.test import override_settings

from tests.fakes.contract import (
    FakeHTTPService,
    HarnessFactory,
    HTTPRequest,
    HTTPResponse,
    ReceivedMail,
)

if TYPE_CHECKING:
    from courrier.mailing.models import SendingProfile
    from tests.fakes.smtp import TestCA


def _build(
    *,
    sender: str,
    to: list[str],
    cc: list[str],
    reply_to: str,
    subject: str,
    headers: dict[str, str],
    text: str | None,
    html: str | None,
    attachments: list[tuple[str, str, bytes]],
    default_domain: str,
) -> EmailMessage:
    message = EmailMessage(policy=default_policy)
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    headers = dict(headers)
    if not any(name.lower() == "message-id" for name in headers):
        headers["Message-ID"] = make_msgid(domain=default_domain)
    for name, value in headers.items():
        message[name] = value
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html or "", subtype="html")
    for name, content_type, content in attachments:
        maintype, _slash, subtype = content_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return message


def _split(addresses: str) -> list[str]:
    return [address for _name, address in getaddresses([addresses or ""]) if address]


# -- Postmark ---------------------------------------------------------------------------------


class FakePostmark(FakeHTTPService):
    def __init__(
        self,
        *,
        token: str = "pm-server-token-0001",  # noqa: S107 - a fake's own token
        tls: TestCA | None = None,
    ) -> None:
        super().__init__(tls=tls)
        self.token = token
        self.sender_signatures: set[str] | None = None
        self.payloads: list[dict[str, Any]] = []
        self.mails: list[ReceivedMail] = []
        self.message_ids: list[str] = []

    def error_response(self, status: int, retry_after: int | None) -> HTTPResponse:
        code = 300 if 400 <= status < 500 else 0
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return HTTPResponse.json(
            status, {"ErrorCode": code, "Message": f"Scripted failure {status}"}, headers
        )

    def handle(self, request: HTTPRequest) -> HTTPResponse:
        if request.method != "POST" or request.path != "/email":
            return HTTPResponse.json(404, {"ErrorCode": 404, "Message": "Not found"})
        if request.header("X-Postmark-Server-Token") != self.token:
            return HTTPResponse.json(
                401,
                {
                    "ErrorCode": 10,
                    "Message": "The Server Token you provided in the X-Postmark-Server-Token "
                    "request header was invalid. Please verify that you are using a valid "
                    "token.",
                },
            )
        try:
            data = request.json()
            sender = str(data["From"])
            to = _split(data["To"])
        except (ValueError, KeyError, TypeError):
            return HTTPResponse.json(422, {"ErrorCode": 300, "Message": "Invalid email request"})
        if not data.get("TextBody") and not data.get("HtmlBody"):
            return HTTPResponse.json(
                422, {"ErrorCode": 300, "Message": "Provide either email TextBody or HtmlBody."}
            )
        address = Address(addr_spec=_split(sender)[0]).addr_spec.lower()
        if self.sender_signatures is not None and address not in self.sender_signatures:
            return HTTPResponse.json(
                422,
                {
                    "ErrorCode": 400,
                    "Message": f"The 'From' address you supplied ({address}) is not a Sender "
                    "Signature on your account. Please add and confirm this address in order "
                    "to be able to use it in the 'From' field of your messages.",
                },
            )
        headers = {item["Name"]: item["Value"] for item in data.get("Headers", [])}
        cc, bcc = _split(data.get("Cc", "")), _split(data.get("Bcc", ""))
        message = _build(
            sender=sender,
            to=[data["To"]],
            cc=[data["Cc"]] if cc else [],
            reply_to=data.get("ReplyTo", ""),
            subject=data.get("Subject", ""),
            headers=headers,
            text=data.get("TextBody"),
            html=data.get("HtmlBody"),
            attachments=[
                (item["Name"], item["ContentType"], base64.b64decode(item["Content"]))
                for item in data.get("Attachments", [])
            ],
            default_domain="mtasv.net",
        )
        message_id = str(uuid.uuid4())
        with self.lock:
            self.payloads.append(data)
            self.mails.append(ReceivedMail.from_bytes(to + cc + bcc, message.as_bytes()))
            self.message_ids.append(message_id)
        return HTTPResponse.json(
            200,
            {
                "To": data["To"],
                "SubmittedAt": datetime.now(UTC).isoformat(),
                "MessageID": message_id,
                "ErrorCode": 0,
                "Message": "OK",
            },
        )


# -- Brevo ------------------------------------------------------------------------------------


class FakeBrevo(FakeHTTPService):
    def __init__(
        self, *, api_key: str = "xkeysib-fake-0123456789", tls: TestCA | None = None
    ) -> None:
        super().__init__(tls=tls)
        self.api_key = api_key
        self.payloads: list[dict[str, Any]] = []
        self.mails: list[ReceivedMail] = []
        self.message_ids: list[str] = []

    def error_response(self, status: int, retry_after: int | None) -> HTTPResponse:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        code = "too_many_requests" if status == 429 else "invalid_parameter"
        return HTTPResponse.json(
            status, {"code": code, "message": f"Scripted failure {status}"}, headers
        )

    def handle(self, request: HTTPRequest) -> HTTPResponse:
        if request.method != "POST" or request.path != "/v3/smtp/email":
            return HTTPResponse.json(404, {"code": "not_found", "message": "Not found"})
        if request.header("api-key") != self.api_key:
            return HTTPResponse.json(401, {"code": "unauthorized", "message": "Key not found"})
        try:
            data = request.json()
            sender = Address(data["sender"].get("name", ""), addr_spec=data["sender"]["email"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return HTTPResponse.json(
                400, {"code": "missing_parameter", "message": "sender is missing"}
            )
        if not data.get("to"):
            return HTTPResponse.json(400, {"code": "missing_parameter", "message": "to is missing"})

        def addresses(kind: str) -> list[Address]:
            return [Address(e.get("name", ""), addr_spec=e["email"]) for e in data.get(kind, [])]

        to, cc, bcc = addresses("to"), addresses("cc"), addresses("bcc")
        reply = data.get("replyTo")
        message = _build(
            sender=str(sender),
            to=[str(a) for a in to],
            cc=[str(a) for a in cc],
            reply_to=str(Address(reply.get("name", ""), addr_spec=reply["email"])) if reply else "",
            subject=data.get("subject", ""),
            headers=dict(data.get("headers", {})),
            text=data.get("textContent"),
            html=data.get("htmlContent"),
            attachments=[
                (
                    item["name"],
                    mimetypes.guess_type(item["name"])[0] or "application/octet-stream",
                    base64.b64decode(item["content"]),
                )
                for item in data.get("attachment", [])
            ],
            default_domain="smtp-relay.mailin.fr",
        )
        message_id = f"<{uuid.uuid4().hex}@smtp-relay.mailin.fr>"
        with self.lock:
            self.payloads.append(data)
            self.mails.append(
                ReceivedMail.from_bytes([a.addr_spec for a in to + cc + bcc], message.as_bytes())
            )
            self.message_ids.append(message_id)
        return HTTPResponse.json(201, {"messageId": message_id})

    def metadata(self, index: int = -1) -> dict[str, Any]:
        """The metadata anymail sent (Brevo's X-Mailin-custom header)."""
        return dict(json.loads(self.payloads[index]["headers"]["X-Mailin-custom"]))


# -- Amazon SES (API v2, as boto3 speaks it) ------------------------------------------------------


class FakeSES(FakeHTTPService):
    """SESv2 SendEmail: POST /v2/email/outbound-emails, signed with the profile's AWS keys.

    Only the access key id in the signature is checked (not the SigV4 signature itself). The
    raw MIME arrives as it was stored, Message-ID included.
    """

    def __init__(self, *, access_key_id: str = "AKIAFAKE0000EXAMPLE", tls: TestCA | None = None):
        super().__init__(tls=tls)
        self.access_key_id = access_key_id
        self.verified_identities: set[str] | None = None
        self.payloads: list[dict[str, Any]] = []
        self.mails: list[ReceivedMail] = []
        self.message_ids: list[str] = []

    @staticmethod
    def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None):
        return HTTPResponse.json(
            status, {"message": message}, {"x-amzn-ErrorType": kind, **(headers or {})}
        )

    def error_response(self, status: int, retry_after: int | None) -> HTTPResponse:
        kind = {
            400: "BadRequestException",
            429: "TooManyRequestsException",
        }.get(status, "InternalFailure" if status >= 500 else "BadRequestException")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return self._error(status, kind, f"Scripted failure {status}", headers)

    def handle(self, request: HTTPRequest) -> HTTPResponse:
        if request.method != "POST" or request.path != "/v2/email/outbound-emails":
            return self._error(404, "NotFoundException", "Not found")
        if f"Credential={self.access_key_id}/" not in request.header("Authorization"):
            return self._error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        try:
            data = request.json()
            raw = base64.b64decode(data["Content"]["Raw"]["Data"])
        except (ValueError, KeyError, TypeError):
            return self._error(400, "BadRequestException", "Content.Raw.Data is required")
        mail = ReceivedMail.from_bytes([], raw)
        sender = mail.message["From"].addresses[0].addr_spec.lower()
        if self.verified_identities is not None and sender not in self.verified_identities:
            return self._error(
                400,
                "MessageRejected",
                f"Email address is not verified. The following identities failed the check "
                f"in region EU-WEST-1: {sender}",
            )
        destination = data.get("Destination", {})
        mail.recipients = [
            address
            for kind in ("ToAddresses", "CcAddresses", "BccAddresses")
            for address in destination.get(kind, [])
        ]
        message_id = f"0102{uuid.uuid4().hex}-000000"
        with self.lock:
            self.payloads.append(data)
            self.mails.append(mail)
            self.message_ids.append(message_id)
        return HTTPResponse.json(200, {"MessageId": message_id})


# -- harnesses for the contract suite --------------------------------------------------------


class _Harness:
    keeps_message_id = True
    honours_retry_after = True

    def __init__(self, name: str, server: Any, profile: SendingProfile) -> None:
        self.name = name
        self.server = server
        self._profile = profile

    @property
    def profile(self) -> SendingProfile:
        return self._profile

    def received(self) -> list[ReceivedMail]:
        return list(self.server.mails)

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        self.server.fail_next(status, retry_after=retry_after, times=times)

    def revoke(self) -> None:
        if isinstance(self.server, FakePostmark):
            self.server.token = "pm-another-token"
        elif isinstance(self.server, FakeSES):
            self.server.access_key_id = "AKIAANOTHER0EXAMPLE"
        else:
            self.server.api_key = "xkeysib-another-key"


@contextmanager
def provider_settings(**urls: str) -> Iterator[None]:
    with override_settings(PROVIDER_URLS={**settings.PROVIDER_URLS, **urls}):
        yield


@contextmanager
def postmark_harness(make_profile: Callable[..., SendingProfile]) -> Iterator[_Harness]:
    with FakePostmark() as server, provider_settings(POSTMARK=server.base_url + "/"):
        profile = make_profile(
            method="postmark",
            api_key=server.token,
            from_name="Anne Dupont",
            from_address="anne@fidu.test",
        )
        yield _Harness("postmark", server, profile)


@contextmanager
def brevo_harness(make_profile: Callable[..., SendingProfile]) -> Iterator[_Harness]:
    with FakeBrevo() as server, provider_settings(BREVO=server.base_url + "/v3/"):
        profile = make_profile(
            method="brevo",
            api_key=server.api_key,
            from_name="Anne Dupont",
            from_address="anne@fidu.test",
        )
        yield _Harness("brevo", server, profile)


@contextmanager
def ses_harness(make_profile: Callable[..., SendingProfile]) -> Iterator[_Harness]:
    with FakeSES() as server, provider_settings(SES_ENDPOINT=server.base_url):
        profile = make_profile(
            method="ses",
            aws_access_key_id=server.access_key_id,
            aws_secret_access_key="fake-secret-access-key",
            aws_region="eu-west-1",
            from_name="Anne Dupont",
            from_address="anne@fidu.test",
        )
        yield _Harness("ses", server, profile)


HARNESSES: dict[str, HarnessFactory] = {
    "postmark": postmark_harness,
    "brevo": brevo_harness,
    "ses": ses_harness,
}
