"""What the access points' HTTP APIs share: one requests session, the timeout, and how an HTTP
answer or a network failure becomes one of `courrier.mailing.exceptions`.

The rule for a failure depends on whether the call hands a document over (`sending`): a
connection refused or a timeout while connecting never reached the access point, so it is
retried (`TransientError`); but a connection broken, or a read timeout, once the request went
out whole may have left the document there, so a send is then `DeliveryUncertain` (never resent
automatically) while a read (status, look-up, test) is simply tried again later.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from django.conf import settings

from courrier.mailing.exceptions import (
    DeliveryUncertain,
    PermanentError,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.transports.sendgrid import retry_after_seconds
from courrier.texts import sentence as _

DEFAULT_TIMEOUT = 30.0
# Connecting is quick or it fails: a long wait there only delays the retry.
CONNECT_TIMEOUT = 10.0


def default_timeout() -> float:
    value: Any = settings.COURRIER.get("HTTP_TIMEOUT", DEFAULT_TIMEOUT)
    return float(value)


def reason_of(response: requests.Response) -> str:
    """The access point's own reason, as it wrote it: the messages of its JSON error body
    (Billit's `Description`s, Recommand's `errors` per field), else the start of its text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    found: list[str] = []

    def collect(value: Any, field: str = "") -> None:
        if isinstance(value, str) and value.strip():
            found.append(f"{field} : {value.strip()}" if field else value.strip())
        elif isinstance(value, list):
            for item in value:
                collect(item, field)
        elif isinstance(value, dict):
            for key in ("Description", "description", "Message", "message", "detail", "title"):
                if key in value:
                    collect(value[key], field)
                    return
            for key, item in value.items():
                if key not in ("success", "Code", "code", "status"):
                    collect(item, key)

    if isinstance(data, dict):
        for key in ("errors", "Errors", "error", "message", "Message", "detail", "title"):
            if key in data:
                collect(data[key])
                break
    elif isinstance(data, list):
        collect(data)
    text = " ; ".join(dict.fromkeys(found))
    return text[:500] or " ".join(response.text.split())[:300]


class Client:
    """One session with one access point's API, its address and credentials set once."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeout = default_timeout() if timeout is None else float(timeout)
        self._given_session = session
        self.session = session or requests.Session()
        self.session.headers.update(headers or {})
        self.session.headers.setdefault("Accept", "application/json")
        if auth is not None:
            self.session.auth = auth

    def close(self) -> None:
        if self._given_session is None:
            self.session.close()  # requests' close only empties its pools: it does not raise

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        sending: bool = False,
        account_in_path: bool = False,
    ) -> Any:
        """The JSON of a 2xx answer (None when empty), or the error its status means.
        `account_in_path`: the path names the profile's account, so a 404 means a wrong
        account id (the profile is refused), not a missing document."""
        data = None
        request_headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            request_headers["Content-Type"] = "application/json"
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                data=data,
                headers=request_headers,
                timeout=(min(CONNECT_TIMEOUT, self.timeout), self.timeout),
                allow_redirects=False,
            )
        except (requests.ConnectTimeout, requests.exceptions.SSLError) as exc:
            raise self._unreachable(exc) from exc
        except requests.ReadTimeout as exc:
            if sending:
                raise DeliveryUncertain(
                    detail=f"{self.provider}: {exc.__class__.__name__}"
                ) from exc
            raise self._unreachable(exc) from exc
        except requests.ConnectionError as exc:
            if sending and not _refused(exc):
                raise DeliveryUncertain(
                    detail=f"{self.provider}: {exc.__class__.__name__}: {exc}"[:300]
                ) from exc
            raise self._unreachable(exc) from exc
        except requests.RequestException as exc:
            raise self._unreachable(exc) from exc
        if response.status_code == 404 and account_in_path:
            raise ProfileRejected(
                _(
                    "Le point d'accès Peppol %(provider)s ne connaît pas le compte enregistré : "
                    "vérifiez l'identifiant de la société dans les paramètres Peppol."
                )
                % {"provider": self.provider},
                detail=f"HTTP 404 {reason_of(response)}".strip(),
                code=404,
            )
        return self.answer(response)

    def _unreachable(self, exc: Exception) -> TransientError:
        return TransientError(
            _("Le point d'accès Peppol %(provider)s est injoignable : nouvel essai plus tard.")
            % {"provider": self.provider},
            detail=f"{exc.__class__.__name__}: {exc}"[:300],
        )

    def answer(self, response: requests.Response) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            if not response.content.strip():
                return None
            try:
                return response.json()
            except ValueError:
                return response.text.strip()
        reason = reason_of(response)
        detail = f"HTTP {status} {reason}".strip()
        if status in (401, 403):
            raise ProfileRejected(
                _(
                    "Le point d'accès Peppol %(provider)s refuse les identifiants enregistrés "
                    "(clé d'API, secret ou identifiant du compte) : vérifiez-les dans les "
                    "paramètres Peppol de la société. Les documents en attente repartiront "
                    "ensuite."
                )
                % {"provider": self.provider},
                detail=detail,
                code=status,
            )
        if status == 429:
            raise TransientError(
                _(
                    "Le point d'accès Peppol %(provider)s limite le nombre de demandes pour le "
                    "moment : nouvel essai plus tard."
                )
                % {"provider": self.provider},
                detail=detail,
                code=status,
                retry_after=retry_after_seconds(response.headers),
            )
        if status >= 500:
            raise TransientError(
                _(
                    "Le point d'accès Peppol %(provider)s est momentanément indisponible : "
                    "nouvel essai plus tard."
                )
                % {"provider": self.provider},
                detail=detail,
                code=status,
            )
        if 300 <= status < 400:
            raise ProfileRejected(
                _(
                    "L'adresse de l'API %(provider)s renvoie ailleurs : vérifiez l'adresse "
                    "enregistrée (vide : celle de production)."
                )
                % {"provider": self.provider},
                detail=detail,
                code=status,
            )
        raise PermanentError(
            _("Le point d'accès Peppol %(provider)s refuse le document : %(reason)s")
            % {"provider": self.provider, "reason": reason or f"HTTP {status}"},
            detail=f"HTTP {status}",
            code=status,
        )


def _refused(exc: requests.ConnectionError) -> bool:
    """Whether the connection never opened (refused, no route, name unknown): nothing left."""
    text = repr(exc.args[0] if exc.args else exc)
    return any(
        marker in text
        for marker in (
            "NewConnectionError",
            "NameResolutionError",
            "ConnectionRefused",
            "Failed to establish a new connection",
        )
    )
