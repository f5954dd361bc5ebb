"""A small SendGrid on 127.0.0.1: v3 Mail Send, with its checks and its error bodies.

    with FakeSendGrid(api_key="SG.key") as sendgrid:
        sendgrid.base_url                       # for settings.PROVIDER_URLS["SENDGRID"]
        sendgrid.mails                          # ReceivedMail, rebuilt from the JSON it accepted
        sendgrid.payloads                       # the JSON bodies it accepted
        sendgrid.verified_senders = {"anne@fidu.test"}   # others get SendGrid's 403
        sendgrid.fail_next(429, retry_after=30) # and garbage_next(), delay_next() (FakeHTTPService)

What SendGrid keeps of a message: the Message-ID given in `headers` (it only makes one up when
none is given), the other custom headers, text then HTML content, attachments.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.test import override_settings

from tests.fakes.contract import FakeHTTPService, HTTPRequest, HTTPResponse, ReceivedMail

if TYPE_CHECKING:
    from courrier.mailing.models import SendingProfile
    from tests.fakes.smtp import TestCA

SEND_PATH = "/v3/mail/send"
BAD_KEY = "The provided authorization grant is invalid, expired, or revoked"
UNVERIFIED = (
    "The from address does not match a verified Sender Identity. Mail cannot be sent until this "
    "error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/"
    "sender-identity/ to see the Sender Identity requirements"
)


def _errors(status: int, *messages: tuple[str, str | None]) -> HTTPResponse:
    return HTTPResponse.json(
        status,
        {"errors": [{"message": text, "field": name, "help": None} for text, name in messages]},
    )


def _address(entry: dict[str, str]) -> Address:
    return Address(display_name=entry.get("name", ""), addr_spec=entry["email"])


class FakeSendGrid(FakeHTTPService):
    def __init__(self, *, api_key: str = "SG.fake-key.0123456789", tls: TestCA | None = None):
        super().__init__(tls=tls)
        self.api_key = api_key
        self.verified_senders: set[str] | None = None
        self.payloads: list[dict[str, Any]] = []
        self.mails: list[ReceivedMail] = []
        self.message_ids: list[str] = []

    def error_response(self, status: int, retry_after: int | None) -> HTTPResponse:
        response = _errors(status, (f"scripted failure {status}", None))
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def handle(self, request: HTTPRequest) -> HTTPResponse:
        if request.method != "POST" or request.path != SEND_PATH:
            return _errors(404, ("Not found", None))
        if request.header("Authorization") != f"Bearer {self.api_key}":
            return _errors(401, (BAD_KEY, None))
        try:
            payload = request.json()
        except ValueError:
            return _errors(400, ("Bad Request", None))
        problems = self._problems(payload)
        if problems:
            return _errors(400, *problems)
        sender = str(payload["from"]["email"]).lower()
        if self.verified_senders is not None and sender not in self.verified_senders:
            return _errors(403, (UNVERIFIED, "from"))
        message_id = secrets.token_urlsafe(16)
        with self.lock:
            self.payloads.append(payload)
            self.mails.append(self._mail(payload))
            self.message_ids.append(message_id)
        return HTTPResponse(202, b"", {"X-Message-Id": message_id})

    def _problems(self, payload: Any) -> list[tuple[str, str | None]]:
        problems: list[tuple[str, str | None]] = []
        if not isinstance(payload, dict):
            return [("Bad Request", None)]
        personalizations = payload.get("personalizations")
        if not personalizations:
            problems.append(("The personalizations field is required.", "personalizations"))
        for index, block in enumerate(personalizations or []):
            if not block.get("to"):
                problems.append(
                    ("The to array is required for all personalization objects.", f"{index}.to")
                )
            seen = [
                entry["email"].lower()
                for kind in ("to", "cc", "bcc")
                for entry in block.get(kind, [])
            ]
            if len(seen) != len(set(seen)):
                problems.append(
                    (
                        "Each email address in the personalization block should be unique "
                        "between to, cc, and bcc.",
                        f"personalizations.{index}",
                    )
                )
        if not payload.get("from", {}).get("email"):
            problems.append(("The from object must be provided for every email send.", "from"))
        if not payload.get("subject"):
            problems.append(("The subject is required.", "subject"))
        content = payload.get("content") or []
        if not content or not all(item.get("value") for item in content):
            problems.append(("Content value must be a string at least one character.", "content"))
        elif content[0].get("type") != "text/plain" and any(
            item.get("type") == "text/plain" for item in content
        ):
            problems.append(("If present, text/plain content must be first.", "content"))
        return problems

    def _mail(self, payload: dict[str, Any]) -> ReceivedMail:
        block = payload["personalizations"][0]
        message = EmailMessage(policy=default_policy)
        message["From"] = _address(payload["from"])
        message["To"] = [_address(entry) for entry in block["to"]]
        if block.get("cc"):
            message["Cc"] = [_address(entry) for entry in block["cc"]]
        if payload.get("reply_to"):
            message["Reply-To"] = _address(payload["reply_to"])
        message["Subject"] = payload["subject"]
        headers = dict(payload.get("headers") or {})
        headers.setdefault("Message-ID", make_msgid(domain="sendgrid.fake"))
        for name, value in headers.items():
            message[name] = value
        parts = {item["type"]: item["value"] for item in payload["content"]}
        if "text/plain" in parts:
            message.set_content(parts["text/plain"])
            if "text/html" in parts:
                message.add_alternative(parts["text/html"], subtype="html")
        else:
            message.set_content(parts["text/html"], subtype="html")
        for item in payload.get("attachments", []):
            maintype, _slash, subtype = item.get("type", "application/octet-stream").partition("/")
            message.add_attachment(
                base64.b64decode(item["content"]),
                maintype=maintype,
                subtype=subtype,
                filename=item.get("filename"),
                disposition=item.get("disposition", "attachment"),
            )
        recipients = [
            entry["email"] for kind in ("to", "cc", "bcc") for entry in block.get(kind, [])
        ]
        return ReceivedMail.from_bytes(recipients, message.as_bytes())


# -- the contract suite's harness ---------------------------------------------------------------


class SendGridHarness:
    name = "sendgrid"
    keeps_message_id = True
    honours_retry_after = True

    def __init__(self, server: FakeSendGrid, profile: SendingProfile) -> None:
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
        self.server.api_key = "SG.another-key.9876543210"


@contextmanager
def sendgrid_settings(server: FakeSendGrid) -> Iterator[None]:
    urls = {**settings.PROVIDER_URLS, "SENDGRID": server.base_url, "SENDGRID_EU": server.base_url}
    with override_settings(PROVIDER_URLS=urls):
        yield


@contextmanager
def harness(make_profile: Callable[..., SendingProfile]) -> Iterator[SendGridHarness]:
    with FakeSendGrid() as server, sendgrid_settings(server):
        profile = make_profile(
            method="sendgrid",
            api_key=server.api_key,
            from_name="Anne Dupont",
            from_address="anne@fidu.test",
        )
        yield SendGridHarness(server, profile)
