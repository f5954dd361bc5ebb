"""Gmail: the stored bytes sent through the Gmail API with the mailbox's OAuth2 token.

`users.messages.send` takes the message itself (base64url in JSON, or as a media upload for
large ones) and delivers it to the addresses of its To, Cc and Bcc headers — not to an
envelope. The stored message has no Bcc header (the firm's fixed blind copy lives in the
envelope only), so the envelope recipients missing from the headers are added as a Bcc header
to the uploaded copy; Gmail removes that header from what recipients receive. Gmail files the
message in the mailbox's Sent folder itself.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import re
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings

from courrier.mailing.addresses import envelope_for_api, with_left_out
from courrier.mailing.exceptions import (
    DeliveryUncertain,
    NeedsReconnect,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.oauth import google
from courrier.mailing.transports.base import Transport
from courrier.texts import Text
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from courrier.mailing.models import OutboundMessage, SendingProfile

logger = logging.getLogger("courrier.mailing")

SEND_PATH = "/gmail/v1/users/me/messages/send"
UPLOAD_PATH = "/upload/gmail/v1/users/me/messages/send"
# Above this, the message goes as a media upload (no base64 inflation, up to Gmail's 35 MB).
JSON_LIMIT = 4 * 1024 * 1024
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded", "quotaExceeded"}
_RETRY_AT = re.compile(r"Retry after (\d{4}-\d\d-\d\dT[\d:.]+Z)", re.IGNORECASE)
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def with_blind_copies(raw: bytes, envelope: list[str]) -> bytes:
    """The message with a Bcc header for the envelope recipients its headers do not name."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    named = {
        address.lower()
        for _name, address in email.utils.getaddresses(
            [str(value) for field in ("to", "cc", "bcc") for value in headers.get_all(field, [])]
        )
        if address
    }
    missing = [address for address in envelope if address.lower() not in named]
    if not missing:
        return raw
    # Headers may come in any order: a first line is as valid as a last one.
    return b"Bcc: " + ", ".join(missing).encode("ascii", "strict") + b"\r\n" + raw


class GmailTransport(Transport):
    """Sends stored messages through the Gmail API of the profile's connected account."""

    max_message_bytes = 25_000_000

    def __init__(self, profile: SendingProfile, *, timeout: float | None = None) -> None:
        super().__init__(profile)
        self.timeout = float(
            timeout if timeout is not None else settings.COURRIER.get("HTTP_TIMEOUT", 30.0)
        )
        self._http: requests.Session | None = None
        self._token = ""

    @property
    def is_open(self) -> bool:
        return self._http is not None

    def open(self) -> None:
        if self._http is not None:
            return
        # A revoked consent shows here, before any message is tried.
        self._token = google.access_token(self.profile)
        self._http = requests.Session()
        self._http.headers["User-Agent"] = "Courrier"

    def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.close()

    def send(self, message: OutboundMessage) -> str | Text:
        self.open()
        recipients, left_out = envelope_for_api(message.envelope_recipients)
        try:
            raw = with_blind_copies(bytes(message.raw), recipients)
        except UnicodeEncodeError as exc:
            raise PermanentError(
                _("Une adresse de destinataire contient des caractères non admis."),
                detail=str(exc),
            ) from exc
        response = self._post(raw)
        if response.status_code == 401:
            # The token may have been revoked early or expired on the way: renew it once.
            self._token = google.access_token(self.profile, refused=self._token)
            response = self._post(raw)
            if response.status_code == 401:
                raise NeedsReconnect(
                    _(
                        "Gmail refuse l'accès de Courrier : reconnectez votre Gmail dans le "
                        "paramétrage d'envoi. Les messages en attente partiront ensuite."
                    ),
                    detail=_answer(response),
                )
        return with_left_out(self._result(response), left_out)

    # -- HTTP -------------------------------------------------------------------------------

    def _post(self, raw: bytes) -> requests.Response:
        assert self._http is not None
        base = str(settings.OAUTH["GMAIL_API_URL"]).rstrip("/")
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            if len(raw) > JSON_LIMIT:
                return self._http.post(
                    f"{base}{UPLOAD_PATH}",
                    params={"uploadType": "media"},
                    data=raw,
                    headers={**headers, "Content-Type": "message/rfc822"},
                    timeout=self.timeout,
                )
            body = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
            return self._http.post(
                f"{base}{SEND_PATH}", json=body, headers=headers, timeout=self.timeout
            )
        except (requests.ConnectTimeout, requests.exceptions.SSLError) as exc:
            raise TransientError(
                _("Gmail ne répond pas : nouvel essai plus tard."), detail=type(exc).__name__
            ) from exc
        except requests.ConnectionError as exc:
            if _before_sending(exc):
                raise TransientError(
                    _("Impossible de joindre Gmail : nouvel essai plus tard."),
                    detail=str(exc)[:300],
                ) from exc
            raise DeliveryUncertain(detail=str(exc)[:300]) from exc
        except requests.Timeout as exc:
            # The request left; Gmail may have sent the message without our hearing back.
            raise DeliveryUncertain(detail=type(exc).__name__) from exc
        except requests.RequestException as exc:
            raise TransientError(
                _("Impossible de joindre Gmail : nouvel essai plus tard."), detail=str(exc)[:300]
            ) from exc

    def _result(self, response: requests.Response) -> str:
        status = response.status_code
        data = _json(response)
        detail = _answer(response)
        if data is None:
            # Gmail itself always answers JSON: a page of another kind comes from something in
            # between (proxy, load balancer) and the message did not reach Gmail.
            raise TransientError(
                _(
                    "Gmail a renvoyé une réponse illisible (HTTP %(status)s) : nouvel essai "
                    "plus tard."
                )
                % {"status": status},
                detail=detail,
            )
        if status == 200:
            message_id = data.get("id") if isinstance(data, dict) else None
            if not message_id:
                # Gmail accepted it but did not say under which id: it has most likely left.
                raise DeliveryUncertain(
                    _(
                        "Gmail a accepté le message sans en donner l'identifiant : il est sans "
                        "doute parti. Vérifiez dans « Messages envoyés » avant de le renvoyer."
                    ),
                    detail=detail,
                )
            return f"{message_id}\n{status} Gmail"
        error = _error(data)
        if status == 429 or (status == 403 and error["reasons"] & RATE_REASONS):
            raise TransientError(
                _("Gmail limite le nombre d'envois : nouvel essai plus tard."),
                detail=detail,
                retry_after=_retry_after(response, error),
            )
        if status >= 500:
            raise TransientError(
                _("Gmail est momentanément indisponible : nouvel essai plus tard."),
                detail=detail,
                retry_after=_retry_after(response, error),
            )
        message = error["message"].lower()
        if "mail service not enabled" in message or "failedprecondition" in error["reasons_lower"]:
            raise ProfileRejected(
                _(
                    "Ce compte Google n'a pas Gmail activé (ou l'administrateur de son domaine "
                    "le désactive) : activez Gmail pour ce compte, ou connectez un autre compte."
                ),
                detail=detail,
            )
        if status == 403:
            if error["reasons"] & {"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}:
                raise NeedsReconnect(
                    _(
                        "L'autorisation d'envoyer des e-mails manque à la connexion Gmail : "
                        "reconnectez votre Gmail et cochez « Envoyer des e-mails en votre nom »."
                    ),
                    detail=detail,
                )
            raise ProfileRejected(
                _(
                    "Gmail refuse l'envoi pour ce compte (politique de son domaine ou adresse "
                    "d'expéditeur non autorisée) : vérifiez le compte connecté et l'adresse "
                    "d'expéditeur."
                ),
                detail=detail,
            )
        if status == 400:
            if "recipient" in message or "to header" in message or "address" in message:
                raise PermanentError(
                    _("Gmail refuse un destinataire du message : vérifiez ses adresses."),
                    detail=detail,
                )
            if "too large" in message or "size" in message:
                raise PermanentError(_("Le message est trop volumineux pour Gmail."), detail=detail)
            raise PermanentError(_("Gmail a refusé le message."), detail=detail)
        if status == 413:
            raise PermanentError(_("Le message est trop volumineux pour Gmail."), detail=detail)
        raise PermanentError(
            _("Gmail a refusé le message (HTTP %(status)s).") % {"status": status},
            detail=detail,
        )


def _before_sending(exc: requests.ConnectionError) -> bool:
    """Whether the connection failed before the request could be sent (refused, unknown host)."""
    text = repr(exc.args[0]) if exc.args else repr(exc)
    return any(
        marker in text
        for marker in ("NewConnectionError", "NameResolutionError", "Connection refused")
    )


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error(data: Any) -> dict[str, Any]:
    """Google's error envelope: {"error": {"message", "errors": [{"reason"}], "details"}}."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        error = {}
    reasons: set[str] = set()
    for item in error.get("errors") or []:
        if isinstance(item, dict) and item.get("reason"):
            reasons.add(str(item["reason"]))
    details = [item for item in error.get("details") or [] if isinstance(item, dict)]
    for item in details:
        if item.get("reason"):
            reasons.add(str(item["reason"]))
    if isinstance(error.get("status"), str):
        reasons.add(error["status"])
    return {
        "message": str(error.get("message") or ""),
        "reasons": reasons,
        "reasons_lower": {reason.lower() for reason in reasons},
        "details": details,
    }


def _answer(response: requests.Response) -> str:
    """What Gmail said, short, for the log and under the user's sentence."""
    data = _json(response)
    if data is None:
        text = " ".join(response.text.split())[:300]
        return f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}"
    error = _error(data)
    if error["message"]:
        reasons = ", ".join(sorted(error["reasons"]))
        return f"HTTP {response.status_code}: {error['message']}" + (
            f" ({reasons})" if reasons else ""
        )
    return f"HTTP {response.status_code}: {json.dumps(data)[:300]}"


def _retry_after(response: requests.Response, error: dict[str, Any]) -> float | None:
    """Seconds Google asks us to wait: the Retry-After header, a RetryInfo detail, or the
    "Retry after <time>" of its message."""
    header = response.headers.get("Retry-After", "").strip()
    if header:
        if header.isdigit():
            return float(header)
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    for detail in error["details"]:
        if str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    match = _RETRY_AT.search(error["message"])
    if match:
        try:
            when = datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
        except ValueError:
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


__all__ = ["GmailTransport", "with_blind_copies"]
