"""Microsoft 365: the stored message sent through Microsoft Graph.

Graph takes a whole MIME message, base64 encoded, on `sendMail` (`/me`, or `/users/{address}`
for a shared mailbox) and files it in Sent Items itself. Graph delivers to the addresses in the
headers, so a blind copy known only to the envelope (the firm's fixed Bcc) is added as a Bcc
header to what is uploaded; Exchange removes it from what the recipients get.

One Graph request carries about 4 MB at most, MIME drafts included. A larger message is read
back into its parts: a draft is created from them as JSON (with our Message-ID), each large
attachment is uploaded in chunks through an upload session, then the draft is sent. Graph
answers 202 with no id: the first line of the answer is our Message-ID.
"""

from __future__ import annotations

import base64
import logging
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils import timezone
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from courrier.mailing.addresses import envelope_for_api, with_left_out
from courrier.mailing.exceptions import (
    DeliveryUncertain,
    MailingError,
    NeedsReconnect,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.oauth import microsoft as oauth
from courrier.mailing.transports.base import Transport
from courrier.texts import Text
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from courrier.mailing.models import OutboundMessage, SendingProfile

logger = logging.getLogger("courrier.mailing")

# Graph refuses a request body above about 4 MB (base64 makes the MIME 4/3 larger).
MAX_REQUEST_BYTES = 4 * 1024 * 1024
# Upload-session chunks: a multiple of 320 KiB, under the 4 MB of one request.
UPLOAD_CHUNK_BYTES = 12 * 320 * 1024
# Room for the JSON around an attachment posted in one request.
JSON_OVERHEAD = 16 * 1024
DEFAULT_TIMEOUT = 30.0

SEND_AS_MARKERS = ("errorsendasdenied", "send as", "send on behalf", "on behalf of")
RECIPIENT_MARKERS = ("errorinvalidrecipients", "recipient", "invalid address")


def base64_size(size: int) -> int:
    return (size + 2) // 3 * 4


def with_envelope_bcc(raw: bytes, envelope: list[str]) -> bytes:
    """The stored bytes with a Bcc header naming the envelope recipients no header names."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    named = {
        address.addr_spec.lower()
        for name in ("To", "Cc", "Bcc")
        for header in headers.get_all(name) or []
        for address in getattr(header, "addresses", ())
    }
    missing = [address for address in envelope if address.lower() not in named]
    if not missing:
        return raw
    line = policy.SMTP.fold_binary("Bcc", ", ".join(missing))
    return line + raw


def _addresses(message: EmailMessage, name: str) -> list[dict[str, Any]]:
    found: list[Address] = []
    for header in message.get_all(name) or []:
        found.extend(getattr(header, "addresses", ()))
    return [
        {"emailAddress": {"address": address.addr_spec, "name": address.display_name or ""}}
        for address in found
        if address.addr_spec
    ]


class _File:
    def __init__(self, part: EmailMessage, number: int) -> None:
        payload = part.get_payload(decode=True)
        self.content = payload if isinstance(payload, bytes) else b""
        self.name = part.get_filename() or f"piece-jointe-{number}"
        self.content_type = part.get_content_type()
        self.content_id = str(part["Content-ID"] or "").strip().strip("<>")
        disposition = part.get_content_disposition()
        self.inline = disposition == "inline" or (bool(self.content_id) and disposition is None)

    def describe(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "name": self.name,
            "contentType": self.content_type,
            "isInline": self.inline,
        }
        if self.content_id:
            item["contentId"] = self.content_id
        return item


def draft_from_mime(mime: bytes) -> tuple[dict[str, Any], list[_File]]:
    """A Graph message (JSON) and its files, read back from the stored bytes."""
    parsed = BytesParser(policy=policy.default).parsebytes(mime)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(preferencelist=("html", "plain"))
    text_alternative = parsed.get_body(preferencelist=("plain",))
    # The body and its plain-text alternative are the message; every other leaf is a file.
    bodies = {id(part) for part in (body, text_alternative) if part is not None}
    files: list[_File] = []
    for part in parsed.walk():
        if part.is_multipart() or id(part) in bodies:
            continue
        assert isinstance(part, EmailMessage)
        files.append(_File(part, len(files) + 1))
    content = body.get_content() if body is not None else ""
    draft: dict[str, Any] = {
        "subject": str(parsed["Subject"] or ""),
        "body": {
            "contentType": "HTML"
            if body is not None and body.get_content_subtype() == "html"
            else "Text",
            "content": content if isinstance(content, str) else "",
        },
        "toRecipients": _addresses(parsed, "To"),
        "ccRecipients": _addresses(parsed, "Cc"),
        "bccRecipients": _addresses(parsed, "Bcc"),
        "replyTo": _addresses(parsed, "Reply-To"),
    }
    senders = _addresses(parsed, "From")
    if senders:
        draft["from"] = senders[0]
    if parsed["Message-ID"]:
        draft["internetMessageId"] = str(parsed["Message-ID"]).strip()
    # Graph only takes custom headers ("X-...") on a message it builds.
    custom = [
        {"name": name, "value": str(value)}
        for name, value in parsed.items()
        if name.lower().startswith("x-")
    ]
    if custom:
        draft["internetMessageHeaders"] = custom
    return draft, files


def _retry_after(response: requests.Response) -> float | None:
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def _graph_error(response: requests.Response) -> tuple[str | None, str]:
    """Graph's error code and message, or (None, the start of the body) when it is not
    Graph's JSON."""
    try:
        data = response.json()
        error = data["error"]
        return str(error.get("code") or ""), str(error.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, " ".join(response.text[:200].split())


class MicrosoftGraphTransport(Transport):
    """Sends stored messages through Graph with the profile's Microsoft 365 connection."""

    max_message_bytes = 35_000_000

    def __init__(self, profile: SendingProfile, *, timeout: float | None = None) -> None:
        super().__init__(profile)
        self.timeout = float(
            timeout
            if timeout is not None
            else settings.COURRIER.get("HTTP_TIMEOUT", DEFAULT_TIMEOUT)
        )
        self._session: requests.Session | None = None
        self._token = ""

    # -- connection -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._session is not None and bool(self._token)

    def open(self) -> None:
        if self.is_open:
            return
        self._token = oauth.access_token(self.profile)
        self._session = oauth.http_session(timeout=self.timeout)

    def close(self) -> None:
        session, self._session = self._session, None
        self._token = ""
        if session is not None:
            session.close()

    # -- sending ----------------------------------------------------------------------------

    @property
    def _mailbox_url(self) -> str:
        graph = settings.OAUTH["GRAPH_URL"].rstrip("/") + "/v1.0"
        mailbox = self.profile.microsoft_mailbox.strip()
        return f"{graph}/users/{quote(mailbox, safe='@')}" if mailbox else f"{graph}/me"

    def send(self, message: OutboundMessage) -> str | Text:
        self.open()
        raw = bytes(message.raw)
        # The headers carry the domains' ASCII form: so does the Bcc added for the envelope.
        envelope, left_out = envelope_for_api(message.envelope_recipients)
        mime = with_envelope_bcc(raw, envelope)
        message_id = message.message_id or str(
            BytesHeaderParser(policy=policy.default).parsebytes(raw)["Message-ID"] or ""
        )
        if base64_size(len(mime)) <= MAX_REQUEST_BYTES:
            response = self._call(
                "POST",
                self._mailbox_url + "/sendMail",
                final=True,
                data=base64.b64encode(mime),
                headers={"Content-Type": "text/plain"},
            )
        else:
            response = self._send_large(mime)
        answer = f"{response.status_code} {response.reason or 'Accepted'} (Microsoft Graph)"
        return with_left_out(f"{message_id.strip()}\n{answer}" if message_id else answer, left_out)

    def _send_large(self, mime: bytes) -> requests.Response:
        draft, files = draft_from_mime(mime)
        created = self._call("POST", self._mailbox_url + "/messages", json=draft)
        try:
            draft_id = str(created.json()["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientError(
                _("Réponse inattendue de Microsoft 365 à la création du brouillon."),
                detail=" ".join(created.text[:200].split()),
            ) from exc
        message_url = f"{self._mailbox_url}/messages/{quote(draft_id, safe='')}"
        try:
            for file in files:
                self._attach(message_url, file)
            return self._call("POST", message_url + "/send", final=True)
        except DeliveryUncertain:
            raise
        except MailingError:
            self._discard(message_url)
            raise

    def _attach(self, message_url: str, file: _File) -> None:
        if base64_size(len(file.content)) + JSON_OVERHEAD <= MAX_REQUEST_BYTES:
            self._call(
                "POST",
                message_url + "/attachments",
                json={
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    **file.describe(),
                    "contentBytes": base64.b64encode(file.content).decode("ascii"),
                },
            )
            return
        item = {"attachmentType": "file", "size": len(file.content), **file.describe()}
        created = self._call(
            "POST",
            message_url + "/attachments/createUploadSession",
            json={"AttachmentItem": item},
        )
        try:
            upload_url = str(created.json()["uploadUrl"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientError(
                _("Réponse inattendue de Microsoft 365 à l'envoi d'une pièce jointe."),
                detail=" ".join(created.text[:200].split()),
            ) from exc
        total = len(file.content)
        for start in range(0, total, UPLOAD_CHUNK_BYTES):
            chunk = file.content[start : start + UPLOAD_CHUNK_BYTES]
            self._call(
                "PUT",
                upload_url,
                # The upload address carries its own authorisation; a bearer token is refused.
                bearer=False,
                data=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{total}",
                },
            )

    def _discard(self, message_url: str) -> None:
        """Delete a draft that will not be sent, so it does not linger in Drafts."""
        assert self._session is not None
        try:
            self._session.delete(message_url, headers=self._authorization())
        except requests.RequestException as exc:
            logger.info("profile %s: draft not deleted: %s", self.profile.pk, type(exc).__name__)

    def _authorization(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _call(
        self,
        method: str,
        url: str,
        *,
        final: bool = False,
        bearer: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One Graph request; a 401 gets one fresh token and one more try."""
        assert self._session is not None
        for attempt in range(2):
            sent_headers = {**(self._authorization() if bearer else {}), **(headers or {})}
            try:
                response = self._session.request(method, url, headers=sent_headers, **kwargs)
            except requests.RequestException as exc:
                raise self._network_error(exc, final=final) from exc
            if response.status_code == 401 and bearer and attempt == 0:
                self._token = oauth.access_token(self.profile, refused=self._token)
                continue
            break
        if 200 <= response.status_code < 300:
            return response
        raise self._error(response)

    # -- what an answer means ---------------------------------------------------------------

    def _network_error(self, exc: requests.RequestException, *, final: bool) -> MailingError:
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        if final and _maybe_sent(exc):
            # The request may have reached Graph whole: the message may have left.
            return DeliveryUncertain(detail=detail)
        return TransientError(
            _("Microsoft 365 (Graph) est injoignable pour le moment."), detail=detail
        )

    def _error(self, response: requests.Response) -> MailingError:
        status = response.status_code
        code, text = _graph_error(response)
        detail = f"{status} {code or ''}: {text}".replace("  ", " ").strip(" :")
        lowered = f"{code or ''} {text}".lower()
        if status == 401:
            return NeedsReconnect(
                _(
                    "Microsoft 365 refuse l'accès de Courrier à la boîte : reconnectez-la dans le "
                    "paramétrage d'envoi. Les messages en attente partiront ensuite."
                ),
                detail=detail,
            )
        if status == 429 or status >= 500:
            return TransientError(
                _("Microsoft 365 ne peut pas prendre le message pour le moment."),
                detail=detail,
                retry_after=_retry_after(response),
            )
        if status == 403:
            if any(marker in lowered for marker in SEND_AS_MARKERS):
                return ProfileRejected(
                    _(
                        "Le compte Microsoft 365 connecté (%(account)s) n'est pas autorisé à "
                        "envoyer au nom de %(address)s : corrigez l'adresse d'expéditeur, ou "
                        "faites donner à ce compte le droit « Envoyer en tant que » sur cette "
                        "adresse."
                    )
                    % {
                        "account": self.profile.oauth_account or "?",
                        "address": self.profile.from_address,
                    },
                    detail=detail,
                )
            return ProfileRejected(
                _(
                    "Microsoft 365 refuse l'envoi depuis cette boîte : le compte connecté n'en a "
                    "pas le droit (autorisations Mail.Send, ou boîte partagée non accessible)."
                ),
                detail=detail,
            )
        if status == 404 and self.profile.microsoft_mailbox:
            return ProfileRejected(
                _(
                    "La boîte partagée %(mailbox)s est introuvable chez Microsoft 365, ou le "
                    "compte connecté n'y a pas accès."
                )
                % {"mailbox": self.profile.microsoft_mailbox},
                detail=detail,
            )
        if status == 413:
            return PermanentError(
                _("Le message est trop volumineux pour Microsoft 365."), detail=detail
            )
        if code is None:
            return TransientError(_("Réponse inattendue de Microsoft 365."), detail=detail)
        if status == 400 and any(marker in lowered for marker in RECIPIENT_MARKERS):
            return PermanentError(
                _("Microsoft 365 refuse un destinataire du message."), detail=detail
            )
        if 400 <= status < 500:
            return PermanentError(_("Microsoft 365 a refusé le message."), detail=detail)
        return TransientError(_("Réponse inattendue de Microsoft 365."), detail=detail)


def _maybe_sent(exc: requests.RequestException) -> bool:
    """Whether the request may have reached the server before the connection failed."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.ReadTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    # Refused, unknown host, no route: not a byte left.
    return not isinstance(reason, NewConnectionError | ConnectTimeoutError)
