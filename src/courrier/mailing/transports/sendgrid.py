"""SendGrid: the v3 Mail Send API with the profile's API key, through a thin requests client.

anymail no longer supports SendGrid, and one endpoint does not need a library: the stored
message is read back into SendGrid's JSON (its Message-ID, Date and language headers kept), the
firm's blind copy goes in the personalization's bcc, and `custom_args` carry the message's id
so that the Event Webhook's reports find their message again.
"""

from __future__ import annotations

import base64
import json
import time
from email.headerregistry import Address
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings

from courrier.firm.models import Firm
from courrier.mailing.addresses import envelope_for_api, with_left_out
from courrier.mailing.exceptions import (
    DeliveryUncertain,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.transports.base import Transport
from courrier.mailing.transports.stored import StoredMail, stored_mail
from courrier.texts import Text
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from courrier.mailing.models import OutboundMessage, SendingProfile

SEND_PATH = "/v3/mail/send"
DEFAULT_TIMEOUT = 30.0
# The custom argument every event of the message carries back (see webhooks/sendgrid.py).
MESSAGE_ARG = "courrier_message"


def api_base(profile: SendingProfile) -> str:
    """SendGrid's API host for the profile: the EU one for EU-pinned accounts."""
    key = "SENDGRID_EU" if profile.api_region == profile.Region.EU else "SENDGRID"
    return str(settings.PROVIDER_URLS[key]).rstrip("/")


def _address(address: Address) -> dict[str, str]:
    entry = {"email": address.addr_spec}
    if address.display_name:
        entry["name"] = address.display_name
    return entry


def mail_payload(mail: StoredMail, *, message_pk: int | None, track_opens: bool) -> dict[str, Any]:
    """The Mail Send request body for one stored message."""
    personalization: dict[str, Any] = {"to": [_address(a) for a in mail.to]}
    if mail.cc:
        personalization["cc"] = [_address(a) for a in mail.cc]
    if mail.bcc:
        personalization["bcc"] = [{"email": address} for address in mail.bcc]
    if not mail.to:
        # SendGrid insists on a "to"; a mail to Bcc only goes to its first blind recipient.
        personalization["to"] = personalization.pop("bcc", [])[:1]
    content = []
    if mail.text is not None:
        content.append({"type": "text/plain", "value": mail.text})
    if mail.html is not None:
        content.append({"type": "text/html", "value": mail.html})
    payload: dict[str, Any] = {
        "personalizations": [personalization],
        "from": _address(mail.sender),
        "subject": mail.subject,
        "content": content,
        "headers": mail.headers,
        "tracking_settings": {
            # Explicit both ways: the account's own default must not decide.
            "open_tracking": {"enable": track_opens},
            "click_tracking": {"enable": False, "enable_text": False},
        },
    }
    if message_pk is not None:
        payload["custom_args"] = {MESSAGE_ARG: str(message_pk)}
    if mail.reply_to:
        payload["reply_to"] = _address(mail.reply_to[0])
        if len(mail.reply_to) > 1:
            del payload["reply_to"]
            payload["reply_to_list"] = [_address(a) for a in mail.reply_to]
    if mail.attachments:
        payload["attachments"] = [
            {
                "content": base64.b64encode(item.content).decode("ascii"),
                "filename": item.filename or "piece-jointe",
                "type": item.content_type,
                "disposition": "inline" if item.inline else "attachment",
                **({"content_id": item.content_id} if item.inline and item.content_id else {}),
            }
            for item in mail.attachments
        ]
    return payload


def retry_after_seconds(headers: Any, *, now: float | None = None) -> float | None:
    """The wait a 429 asks for: Retry-After (seconds or an HTTP date), else X-RateLimit-Reset
    (a Unix time). None when the answer does not say."""
    now = time.time() if now is None else now
    value = (headers.get("Retry-After") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError, IndexError):
                pass
    reset = (headers.get("X-RateLimit-Reset") or "").strip()
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def _errors(response: requests.Response) -> str:
    """SendGrid's own error sentences, or the start of whatever it answered."""
    try:
        data = response.json()
        messages = [
            str(error.get("message", "")).strip()
            for error in data.get("errors", [])
            if isinstance(error, dict)
        ]
    except (ValueError, AttributeError):
        messages = []
    text = " ; ".join(m for m in messages if m)
    return text or " ".join(response.text.split())[:300]


class SendGridTransport(Transport):
    """Sends stored messages through SendGrid's v3 API, one request per message."""

    max_message_bytes = 30_000_000

    def __init__(
        self,
        profile: SendingProfile,
        *,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(profile)
        self.timeout = float(
            timeout
            if timeout is not None
            else settings.COURRIER.get("HTTP_TIMEOUT", DEFAULT_TIMEOUT)
        )
        self._given_session = session
        self._session: requests.Session | None = None
        self._track_opens = False

    @property
    def is_open(self) -> bool:
        return self._session is not None

    def open(self) -> None:
        if self._session is not None:
            return
        if not self.profile.api_key.strip():
            raise ProfileRejected(
                _("Aucune clé d'API SendGrid n'est renseignée : complétez le paramétrage d'envoi.")
            )
        session = self._given_session or requests.Session()
        session.headers["Authorization"] = f"Bearer {self.profile.api_key.strip()}"
        session.headers["Content-Type"] = "application/json"
        self._session = session
        self._track_opens = Firm.load().track_opens

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and session is not self._given_session:
            session.close()

    def send(self, message: OutboundMessage) -> str | Text:
        self.open()
        assert self._session is not None
        _envelope, left_out = envelope_for_api(message.envelope_recipients)
        payload = mail_payload(
            stored_mail(message), message_pk=message.pk, track_opens=self._track_opens
        )
        url = api_base(self.profile) + SEND_PATH
        try:
            response = self._session.post(
                url, data=json.dumps(payload).encode("utf-8"), timeout=self.timeout
            )
        except requests.ReadTimeout as exc:
            # The request went out whole; SendGrid may have taken it.
            raise DeliveryUncertain(detail=f"SendGrid: {exc.__class__.__name__}") from exc
        except requests.RequestException as exc:
            raise TransientError(
                _("SendGrid n'a pas pu être joint ou a répondu de façon incompréhensible."),
                detail=f"{exc.__class__.__name__}: {exc}",
            ) from exc
        return with_left_out(self._answer(response), left_out)

    def _answer(self, response: requests.Response) -> str:
        status = response.status_code
        if 200 <= status < 300:
            message_id = (response.headers.get("X-Message-Id") or "").strip()
            return f"{message_id}\n{status} {response.reason}".strip()
        errors = _errors(response)
        detail = f"HTTP {status} {errors}".strip()
        if status == 401:
            raise ProfileRejected(
                _(
                    "SendGrid a refusé la clé d'API : elle est fausse, a été supprimée ou a "
                    "expiré. Créez une clé avec le droit « Mail Send » et enregistrez-la dans le "
                    "paramétrage d'envoi."
                ),
                detail=detail,
                code=status,
            )
        if status == 403:
            raise ProfileRejected(
                _(
                    "SendGrid refuse d'envoyer au nom de %(address)s : cette adresse n'est pas "
                    "une identité d'expéditeur vérifiée du compte, ou la clé d'API n'a pas le "
                    "droit « Mail Send ». Vérifiez l'expéditeur dans SendGrid (Sender "
                    "Authentication)."
                )
                % {"address": self.profile.from_address},
                detail=detail,
                code=status,
            )
        if status == 413:
            raise PermanentError(
                _("SendGrid refuse le message : il est trop volumineux (30 Mo au plus)."),
                detail=detail,
                code=status,
            )
        if status == 429:
            raise TransientError(
                _("SendGrid limite le nombre d'envois pour le moment : nouvel essai plus tard."),
                detail=detail,
                code=status,
                retry_after=retry_after_seconds(response.headers),
            )
        if status >= 500:
            raise TransientError(
                _("SendGrid est momentanément indisponible : nouvel essai plus tard."),
                detail=detail,
                code=status,
            )
        raise PermanentError(
            _("SendGrid refuse ce message : %(errors)s") % {"errors": errors or status},
            detail=f"HTTP {status}",
            code=status,
        )
