"""Brevo, Mailgun, Postmark and Amazon SES through django-anymail, with each profile's own keys.

anymail's backends are built directly from the profile row (never from global settings). The
stored message is handed over as it is where the API takes MIME (Amazon SES: SendEmail with
Content.Raw); for the JSON APIs it is read back into its pieces (subject, text, HTML,
attachments, Message-ID and the other headers) without being rendered again. The message's
id goes in anymail's `metadata`, which every provider sends back with its tracking events.
"""

from __future__ import annotations

import contextlib
import email
from typing import TYPE_CHECKING, Any, ClassVar

from anymail.backends.amazon_ses import EmailBackend as SESBackend
from anymail.backends.base import AnymailBaseBackend
from anymail.backends.brevo import EmailBackend as BrevoBackend
from anymail.backends.mailgun import EmailBackend as MailgunBackend
from anymail.backends.postmark import EmailBackend as PostmarkBackend
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailError,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage, AnymailMessageMixin
from django.conf import settings
from django.core.mail import EmailMessage

from courrier.firm.models import Firm
from courrier.mailing.addresses import envelope_for_api, with_left_out
from courrier.mailing.exceptions import (
    ConfigurationError,
    DeliveryUncertain,
    MailingError,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.transports.base import Transport
from courrier.mailing.transports.sendgrid import retry_after_seconds
from courrier.mailing.transports.stored import StoredMail, stored_mail
from courrier.texts import Text
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from courrier.mailing.models import OutboundMessage, SendingProfile

DEFAULT_TIMEOUT = 30.0
# The metadata key every tracking event carries back (see webhooks/anymail.py).
MESSAGE_KEY = "courrier_message"


class _StoredEmail(AnymailMessageMixin, EmailMessage):
    """A Django message whose MIME is the stored bytes, for the APIs that take MIME as it is.

    Its addresses are only there for anymail's envelope (Destination); the headers, the parts
    and the Message-ID are the stored ones.
    """

    def __init__(self, raw: bytes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._raw = raw

    def message(self) -> Any:
        return email.message_from_bytes(self._raw)


def django_message(mail: StoredMail) -> AnymailMessage:
    """The stored message's pieces as a Django message, for the JSON APIs."""
    result = AnymailMessage(
        subject=mail.subject,
        body=mail.text or "",
        from_email=str(mail.sender),
        to=[str(a) for a in mail.to],
        cc=[str(a) for a in mail.cc],
        bcc=mail.bcc,
        reply_to=[str(a) for a in mail.reply_to],
        headers=mail.headers,
    )
    if mail.html is not None:
        if mail.text is None:
            result.body, result.content_subtype = mail.html, "html"
        else:
            result.attach_alternative(mail.html, "text/html")
    for item in mail.attachments:
        result.attach(item.filename or None, item.content, item.content_type)
    return result


def _status(error: AnymailError) -> int | None:
    status = getattr(error, "status_code", None)
    if status is None:
        # boto3's errors (Amazon SES) keep the HTTP status in their parsed response.
        response = getattr(error, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if isinstance(status, int) else None


def _headers(error: AnymailError) -> Any:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None and isinstance(response, dict):
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        headers = {str(k).title(): v for k, v in (headers or {}).items()}
    return headers or {}


def _detail(error: AnymailError) -> str:
    # anymail's message quotes the provider's answer; keep it to one readable line.
    return " ".join(str(error).split())[:500]


class AnymailTransport(Transport):
    """Sends stored messages through one anymail backend built from the profile."""

    provider: ClassVar[str] = ""
    backend_class: ClassVar[type[AnymailBaseBackend]]
    # Whether the API takes the stored MIME as it is.
    sends_mime: ClassVar[bool] = False
    # Whether open tracking is chosen per message (elsewhere it is a setting of the account).
    per_message_tracking: ClassVar[bool] = False

    def __init__(self, profile: SendingProfile, *, timeout: float | None = None) -> None:
        super().__init__(profile)
        self.timeout = float(
            timeout
            if timeout is not None
            else settings.COURRIER.get("HTTP_TIMEOUT", DEFAULT_TIMEOUT)
        )
        self._backend: AnymailBaseBackend | None = None
        self._track_opens = False

    # -- what each provider says --------------------------------------------------------------

    def backend_options(self) -> dict[str, Any]:
        """The backend's keyword arguments, from the profile."""
        raise NotImplementedError

    def missing_setting(self) -> Text | None:
        """A sentence when a setting the provider needs is empty."""
        if not self.profile.api_key.strip():
            return _(
                "Aucune clé d'API %(provider)s n'est renseignée : complétez le paramétrage d'envoi."
            ) % {"provider": self.provider}
        return None

    # -- connection ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._backend is not None

    def open(self) -> None:
        if self._backend is not None:
            return
        problem = self.missing_setting()
        if problem:
            raise ProfileRejected(problem)
        try:
            backend = self.backend_class(fail_silently=False, **self.backend_options())
            backend.open()
        except AnymailConfigurationError as exc:
            raise ConfigurationError(
                _("Le paramétrage %(provider)s est incomplet ou incorrect.")
                % {"provider": self.provider},
                detail=_detail(exc),
            ) from exc
        except Exception as exc:
            raise TransientError(
                _("%(provider)s n'a pas pu être joint.") % {"provider": self.provider},
                detail=f"{exc.__class__.__name__}: {exc}",
            ) from exc
        self._backend = backend
        self._track_opens = Firm.load().track_opens

    def close(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            # Closing never raises: the messages' outcomes are already recorded.
            with contextlib.suppress(Exception):
                backend.close()

    # -- sending ------------------------------------------------------------------------------

    def outgoing(self, message: OutboundMessage) -> AnymailMessageMixin:
        mail = stored_mail(message)
        outgoing: AnymailMessageMixin
        if self.sends_mime:
            outgoing = _StoredEmail(
                bytes(message.raw),
                from_email=str(mail.sender),
                to=[str(a) for a in mail.to],
                cc=[str(a) for a in mail.cc],
                bcc=mail.bcc,
            )
        else:
            outgoing = django_message(mail)
        # anymail's own attributes: what the tracking webhooks send back, and the tracking.
        outgoing.metadata = {MESSAGE_KEY: str(message.pk)}
        if self.per_message_tracking:
            outgoing.track_opens = self._track_opens
            outgoing.track_clicks = False
        return outgoing

    def send(self, message: OutboundMessage) -> str | Text:
        self.open()
        assert self._backend is not None
        _envelope, left_out = envelope_for_api(message.envelope_recipients)
        outgoing = self.outgoing(message)
        try:
            self._backend.send_messages([outgoing])
        except AnymailError as exc:
            raise self.error(exc) from exc
        status = getattr(outgoing, "anymail_status", None)
        message_id = str(getattr(status, "message_id", "") or "")
        answer = getattr(status, "status", None) or set()
        return with_left_out(
            f"{message_id}\n{self.provider}: {', '.join(sorted(answer))}".strip(), left_out
        )

    def error(self, exc: AnymailError) -> MailingError:
        """anymail's exception as one of ours."""
        provider = {"provider": self.provider}
        detail = _detail(exc)
        if isinstance(exc, AnymailRecipientsRefused):
            return PermanentError(
                _("%(provider)s refuse tous les destinataires de ce message.") % provider,
                detail=detail,
            )
        if isinstance(exc, AnymailUnsupportedFeature):
            # A trait of this one message (an inline image for Brevo, ...), not of the profile.
            return PermanentError(
                _("%(provider)s ne permet pas d'envoyer ce message tel qu'il est composé.")
                % provider,
                detail=detail,
            )
        if isinstance(exc, AnymailConfigurationError):
            return ConfigurationError(
                _("Le paramétrage %(provider)s est incomplet ou incorrect.") % provider,
                detail=detail,
            )
        status = _status(exc)
        if status in (401, 403):
            return ProfileRejected(
                _(
                    "%(provider)s a refusé la clé d'API ou l'adresse d'expéditeur : vérifiez la "
                    "clé et que l'adresse (ou son domaine) est autorisée dans le compte."
                )
                % provider,
                detail=detail,
                code=status,
            )
        if status == 429:
            return TransientError(
                _("%(provider)s limite le nombre d'envois pour le moment : nouvel essai plus tard.")
                % provider,
                detail=detail,
                code=status,
                retry_after=retry_after_seconds(_headers(exc)),
            )
        if status is not None and 400 <= status < 500:
            return PermanentError(
                _("%(provider)s refuse ce message.") % provider, detail=detail, code=status
            )
        if status is None and isinstance(exc, AnymailRequestsAPIError):
            cause = exc.__cause__
            if cause is not None and cause.__class__.__name__ == "ReadTimeout":
                # The request went out whole; the provider may have taken it.
                return DeliveryUncertain(detail=detail)
        if isinstance(exc, AnymailAPIError) or status is not None:
            return TransientError(
                _(
                    "%(provider)s est momentanément indisponible ou a répondu de façon "
                    "incompréhensible : nouvel essai plus tard."
                )
                % provider,
                detail=detail,
                code=status,
            )
        return PermanentError(_("%(provider)s n'a pas pris ce message.") % provider, detail=detail)


class BrevoTransport(AnymailTransport):
    max_message_bytes = 20_000_000
    provider = "Brevo"
    backend_class = BrevoBackend

    def backend_options(self) -> dict[str, Any]:
        return {
            "api_key": self.profile.api_key.strip(),
            "api_url": settings.PROVIDER_URLS["BREVO"],
            "timeout": self.timeout,
        }


class PostmarkTransport(AnymailTransport):
    max_message_bytes = 10_000_000
    provider = "Postmark"
    backend_class = PostmarkBackend
    per_message_tracking = True

    def backend_options(self) -> dict[str, Any]:
        return {
            "server_token": self.profile.api_key.strip(),
            "api_url": settings.PROVIDER_URLS["POSTMARK"],
            "timeout": self.timeout,
        }

    def error(self, exc: AnymailError) -> MailingError:
        # Postmark answers 422 both for a bad message and for a sender it will not send for;
        # its ErrorCode tells which.
        try:
            code = int(exc.response.json().get("ErrorCode"))  # type: ignore[attr-defined]
        except (AttributeError, TypeError, ValueError):
            code = None
        if code in POSTMARK_PROFILE_ERRORS:
            return ProfileRejected(
                _(
                    "Postmark refuse d'envoyer pour ce compte : le jeton du serveur est faux, ou "
                    "l'adresse d'expéditeur %(address)s n'est pas une signature confirmée, ou le "
                    "compte ne peut pas envoyer pour le moment."
                )
                % {"address": self.profile.from_address},
                detail=_detail(exc),
                code=_status(exc),
            )
        return super().error(exc)


# Postmark's API error codes about the account or the sender, not the message.
POSTMARK_PROFILE_ERRORS = frozenset({10, 400, 401, 405, 412})


class MailgunTransport(AnymailTransport):
    max_message_bytes = 25_000_000
    provider = "Mailgun"
    backend_class = MailgunBackend
    per_message_tracking = True

    def missing_setting(self) -> Text | None:
        if not self.profile.mailgun_domain.strip():
            return _("Aucun domaine Mailgun n'est renseigné : complétez le paramétrage d'envoi.")
        return super().missing_setting()

    def backend_options(self) -> dict[str, Any]:
        eu = self.profile.api_region == self.profile.Region.EU
        return {
            "api_key": self.profile.api_key.strip(),
            "sender_domain": self.profile.mailgun_domain.strip(),
            "api_url": settings.PROVIDER_URLS["MAILGUN_EU" if eu else "MAILGUN"],
            "timeout": self.timeout,
        }


class SESTransport(AnymailTransport):
    max_message_bytes = 40_000_000
    provider = "Amazon SES"
    backend_class = SESBackend
    sends_mime = True

    def missing_setting(self) -> Text | None:
        profile = self.profile
        if not profile.aws_access_key_id.strip() or not profile.aws_secret_access_key.strip():
            return _(
                "L'identifiant ou la clé secrète AWS manque : complétez le paramétrage d'envoi."
            )
        return None

    def backend_options(self) -> dict[str, Any]:
        profile = self.profile
        client_params: dict[str, Any] = {
            "aws_access_key_id": profile.aws_access_key_id.strip(),
            "aws_secret_access_key": profile.aws_secret_access_key.strip(),
            "region_name": profile.aws_region.strip() or "eu-west-1",
            "config": {
                "connect_timeout": self.timeout,
                "read_timeout": self.timeout,
                # Retries are the outbox's business (with its own back-off).
                "retries": {"total_max_attempts": 1},
            },
        }
        endpoint = settings.PROVIDER_URLS.get("SES_ENDPOINT") or ""
        if endpoint:
            client_params["endpoint_url"] = endpoint
        return {"client_params": client_params}

    def error(self, exc: AnymailError) -> MailingError:
        response = getattr(exc, "response", None)
        error = response.get("Error", {}) if isinstance(response, dict) else {}
        code, text = str(error.get("Code", "")), str(error.get("Message", ""))
        if code in SES_PROFILE_ERRORS or (code == "MessageRejected" and "verified" in text):
            return ProfileRejected(
                _(
                    "Amazon SES refuse d'envoyer pour ce compte : l'adresse d'expéditeur ou son "
                    "domaine n'est pas vérifié, ou l'envoi est suspendu. Vérifiez l'identité dans "
                    "la console SES."
                ),
                detail=f"{code}: {text}",
                code=_status(exc),
            )
        if code in ("TooManyRequestsException", "Throttling", "LimitExceededException"):
            return TransientError(
                _("Amazon SES limite le nombre d'envois pour le moment : nouvel essai plus tard."),
                detail=f"{code}: {text}",
                code=_status(exc),
                retry_after=retry_after_seconds(_headers(exc)),
            )
        return super().error(exc)


SES_PROFILE_ERRORS = frozenset(
    {
        "AccountSuspendedException",
        "SendingPausedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "AccessDeniedException",
    }
)


TRANSPORTS: dict[str, type[AnymailTransport]] = {
    "brevo": BrevoTransport,
    "mailgun": MailgunTransport,
    "postmark": PostmarkTransport,
    "ses": SESTransport,
}
