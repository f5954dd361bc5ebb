"""Google: the OAuth2 web flow that connects a Gmail mailbox, and its access tokens.

The flow is google-auth-oauthlib's `Flow` with PKCE: the code verifier and the state wait in
the user's session between the redirect to Google and the callback. We ask for offline access
with a forced consent screen so that Google always returns a refresh token, and for
`openid email` besides the sending scope so that the token answer's id_token names the
account. Google answers with more scopes than asked (`openid email` becomes
`openid .../userinfo.email`, and earlier grants may be added): that is accepted, as long as the
sending scope is among them — with granular consent a person can untick it.

Tokens are stored encrypted on the profile. An access token is refreshed a few minutes before
it expires, under a row lock, so two workers never refresh at once and never store an older
token over a newer one; a rotated refresh token is saved every time.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from google.auth import exceptions as google_exceptions
from google.auth import jwt
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2 import OAuth2Error

from courrier.mailing.exceptions import (
    ConfigurationError,
    NeedsReconnect,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.models import SendingProfile
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase
    from django.http import QueryDict

logger = logging.getLogger("courrier.mailing")

PROVIDER = "google"
# Sending through the Gmail API: the narrowest scope that can send, and not a restricted one.
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
# SMTP with XOAUTH2 against smtp.gmail.com needs the full (restricted) mail scope.
FULL_MAIL = "https://mail.google.com/"
IDENTITY = ["openid", "email"]

# A token this close to its expiry is refreshed first: a send must not start with a token
# that dies on the way.
EXPIRY_MARGIN = timedelta(minutes=5)
TIMEOUT = 20.0
# A refresh holds the profile's row lock: it must not wait long.
REFRESH_TIMEOUT = 10.0
# How long a started connection may wait for its callback.
PENDING_SECONDS = 15 * 60
SESSION_KEY = "oauth_pending_google"

OAUTH_FIELDS = [
    "oauth_provider",
    "oauth_account",
    "oauth_refresh_token",
    "oauth_access_token",
    "oauth_expires_at",
    "oauth_scopes",
    "oauth_connected_at",
]


def sending_scope(profile: SendingProfile) -> str:
    """The scope this profile needs to send: the Gmail API's, or full mail access for SMTP."""
    return FULL_MAIL if profile.method == SendingProfile.Method.SMTP else GMAIL_SEND


def _config() -> dict[str, str]:
    oauth = settings.OAUTH
    if not oauth.get("GOOGLE_CLIENT_ID") or not oauth.get("GOOGLE_CLIENT_SECRET"):
        raise ConfigurationError(
            _(
                "L'envoi par Gmail n'est pas encore activé pour le cabinet : demandez à "
                "l'administrateur du cabinet de l'activer."
            )
        )
    return {
        "client_id": oauth["GOOGLE_CLIENT_ID"],
        "client_secret": oauth["GOOGLE_CLIENT_SECRET"],
        "auth_uri": oauth["GOOGLE_AUTH_URI"],
        "token_uri": oauth["GOOGLE_TOKEN_URI"],
    }


def _flow(
    *, scopes: list[str], redirect_uri: str, state: str | None = None, verifier: str | None = None
) -> Flow:
    config = _config()
    client_config = {"web": {**config, "redirect_uris": [redirect_uri]}}
    return Flow.from_client_config(
        client_config,
        scopes=scopes,
        redirect_uri=redirect_uri,
        state=state,
        code_verifier=verifier,
        autogenerate_code_verifier=verifier is None,
    )


# -- connecting -------------------------------------------------------------------------------


def authorization_url(*, profile: SendingProfile, redirect_uri: str, session: SessionBase) -> str:
    """Where to send the browser to give consent. The state, the PKCE verifier and the profile
    wait in the session for `complete`."""
    scopes = [sending_scope(profile), *IDENTITY]
    flow = _flow(scopes=scopes, redirect_uri=redirect_uri)
    hint = profile.oauth_account or profile.from_address
    url, state = flow.authorization_url(
        access_type="offline",
        # Without a fresh consent Google returns no refresh token to an app it already knows.
        prompt="consent",
        login_hint=hint,
    )
    pending = _pending(session)
    pending[state] = {
        "provider": PROVIDER,
        "profile": profile.pk,
        "verifier": flow.code_verifier,
        "scopes": scopes,
        "at": time.time(),
    }
    # A few tabs may be connecting at once; older attempts are dropped.
    for old in sorted(pending, key=lambda key: pending[key]["at"])[:-5]:
        del pending[old]
    session[SESSION_KEY] = pending
    return str(url)


def _pending(session: SessionBase) -> dict[str, dict[str, Any]]:
    now = time.time()
    stored = session.get(SESSION_KEY) or {}
    return {
        state: entry
        for state, entry in stored.items()
        if isinstance(entry, dict) and now - float(entry.get("at", 0)) < PENDING_SECONDS
    }


def _take_pending(session: SessionBase, state: str) -> dict[str, Any] | None:
    """The connection this state belongs to, once: a replayed callback finds nothing."""
    pending = _pending(session)
    found = None
    for key in list(pending):
        if state and hmac.compare_digest(key.encode(), state.encode()):
            found = pending.pop(key)
    session[SESSION_KEY] = pending
    if found is None or found.get("provider") != PROVIDER:
        return None
    return found


def complete(*, redirect_uri: str, session: SessionBase, query: QueryDict) -> SendingProfile:
    """Finish the connection Google redirected back to: check the state, trade the code for
    tokens (with the PKCE verifier) and store them on the profile. A forged, replayed or
    refused callback raises ConfigurationError and changes nothing."""
    entry = _take_pending(session, query.get("state", ""))
    if entry is None:
        raise ConfigurationError(
            _(
                "Cette réponse de Google ne correspond à aucune connexion en cours (lien expiré, "
                "déjà utilisé ou falsifié). Rien n'a été modifié : recommencez la connexion "
                "depuis le paramétrage d'envoi."
            )
        )
    error = query.get("error", "")
    if error:
        if error == "access_denied":
            raise ConfigurationError(
                _(
                    "La connexion à Gmail a été annulée : l'accès n'a pas été autorisé. "
                    "Rien n'a été modifié."
                )
            )
        raise ConfigurationError(
            _("Google a refusé la connexion (%(error)s). Rien n'a été modifié.") % {"error": error}
        )
    code = query.get("code", "")
    if not code:
        raise ConfigurationError(
            _("La réponse de Google ne contient pas de code d'autorisation. Recommencez.")
        )
    profile = SendingProfile.objects.filter(pk=entry["profile"]).first()
    if profile is None:
        raise ConfigurationError(_("Ce paramétrage d'envoi n'existe plus."))

    token = _fetch_token(
        scopes=list(entry["scopes"]),
        redirect_uri=redirect_uri,
        state=query.get("state", ""),
        verifier=str(entry["verifier"]),
        code=code,
    )
    needed = sending_scope(profile)
    granted = _scope_list(token.get("scope"))
    if granted and needed not in granted:
        raise ConfigurationError(
            _(
                "Google n'a pas donné l'autorisation d'envoyer des e-mails : à l'écran de "
                "consentement, cochez « Envoyer des e-mails en votre nom », puis recommencez."
            )
        )
    refresh_token = token.get("refresh_token") or ""
    if not refresh_token:
        raise ConfigurationError(
            _(
                "Google n'a pas fourni de jeton durable (refresh token). Recommencez la "
                "connexion ; si cela se reproduit, retirez l'accès de Courrier dans votre "
                "compte Google (Sécurité, applications tierces) puis reconnectez."
            )
        )
    account = _account(str(token.get("id_token") or ""))
    now = timezone.now()
    values = {
        "oauth_provider": PROVIDER,
        "oauth_account": account,
        "oauth_refresh_token": refresh_token,
        "oauth_access_token": str(token.get("access_token") or ""),
        "oauth_expires_at": _expiry(token, now),
        "oauth_scopes": " ".join(granted or [needed]),
        "oauth_connected_at": now,
    }
    # The update waits for a refresh holding the row's lock, so a worker's refresh with the
    # previous grant never lands over these tokens (it re-reads them under the lock instead).
    SendingProfile.objects.filter(pk=profile.pk).update(
        state=SendingProfile.State.OK, state_reason="", **values
    )
    for name, value in values.items():
        setattr(profile, name, value)
    profile.state, profile.state_reason = SendingProfile.State.OK, ""
    logger.info("profile %s connected to Google account %s", profile.pk, account)
    return profile


def _fetch_token(
    *, scopes: list[str], redirect_uri: str, state: str, verifier: str, code: str
) -> dict[str, Any]:
    flow = _flow(scopes=scopes, redirect_uri=redirect_uri, state=state, verifier=verifier)
    session = flow.oauth2session
    session.register_compliance_hook("access_token_response", _check_token_response)
    try:
        return dict(flow.fetch_token(code=code, timeout=TIMEOUT))
    except Warning as changed:
        # oauthlib's way to say "the scopes differ from those asked": Google adds scopes as a
        # rule, and the missing ones are checked by the caller.
        token = getattr(changed, "token", None)
        if not isinstance(token, dict):
            raise
        return dict(token)
    except requests.RequestException as exc:
        raise TransientError(
            _("Google n'a pas répondu pendant la connexion : réessayez dans un instant."),
            detail=type(exc).__name__,
        ) from exc
    except OAuth2Error as exc:
        if exc.error in ("invalid_client", "unauthorized_client"):
            raise ConfigurationError(
                _(
                    "Google refuse l'application de cette installation (identifiant ou secret "
                    "OAuth incorrect) : prévenez l'administrateur."
                ),
                detail=exc.error,
            ) from exc
        raise ConfigurationError(
            _(
                "Google a refusé le code d'autorisation (expiré ou déjà utilisé). Rien n'a été "
                "modifié : recommencez la connexion."
            ),
            detail=f"{exc.error}: {exc.description or ''}".strip(" :"),
        ) from exc


def _check_token_response(response: requests.Response) -> requests.Response:
    """A server failure or an answer that is not JSON is temporary, not a refusal."""
    if response.status_code >= 500 or not _is_json(response):
        raise TransientError(
            _("Google n'a pas pu terminer la connexion pour le moment : réessayez."),
            detail=f"HTTP {response.status_code}: {response.text[:200]}",
        )
    return response


def _is_json(response: requests.Response) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


def _scope_list(scope: Any) -> list[str]:
    if isinstance(scope, str):
        return scope.split()
    if isinstance(scope, list | tuple):
        return [str(item) for item in scope]
    return []


def _expiry(token: dict[str, Any], now: datetime) -> datetime | None:
    try:
        return now + timedelta(seconds=int(token["expires_in"]))
    except (KeyError, TypeError, ValueError):
        return None


def _account(id_token: str) -> str:
    """The consenting account's address, from the id_token of the token answer.

    The id_token came straight from Google's token endpoint over TLS, so (OpenID Connect Core,
    3.1.3.7) its signature need not be checked; its audience must still be us.
    """
    try:
        claims = jwt.decode(id_token, verify=False) if id_token else {}
    except (ValueError, google_exceptions.GoogleAuthError):
        claims = {}
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    email = str(claims.get("email") or "")
    if settings.OAUTH["GOOGLE_CLIENT_ID"] not in audiences or not email:
        raise ConfigurationError(
            _("Google n'a pas indiqué l'adresse du compte connecté : recommencez la connexion.")
        )
    if claims.get("email_verified") is False:
        raise ConfigurationError(
            _("L'adresse de ce compte Google n'est pas vérifiée : vérifiez-la chez Google.")
        )
    return email


# -- using the connection ---------------------------------------------------------------------


def _usable(profile: SendingProfile, refused: str) -> bool:
    token = profile.oauth_access_token
    expires_at = profile.oauth_expires_at
    return bool(
        token
        and token != refused
        and expires_at is not None
        and expires_at > timezone.now() + EXPIRY_MARGIN
    )


def access_token(profile: SendingProfile, *, refused: str = "") -> str:
    """A valid access token for the profile, refreshed first when it expires soon (or when it
    is `refused`: the API just answered 401 to it). Rotated refresh tokens are saved.

    Raises NeedsReconnect when the consent was revoked or expired, TransientError when Google
    cannot be reached, ProfileRejected when the installation's OAuth app is refused.
    """
    if _usable(profile, refused):
        return profile.oauth_access_token
    with transaction.atomic():
        # One refresh at a time per profile: a second worker waits here, then finds the new
        # token instead of spending the refresh token (which a rotation may have replaced).
        row = SendingProfile.objects.select_for_update().only(*OAUTH_FIELDS).get(pk=profile.pk)
        if _usable(row, refused):
            _copy_tokens(row, profile)
            return row.oauth_access_token
        if not row.oauth_refresh_token or row.oauth_provider != PROVIDER:
            raise NeedsReconnect(
                _(
                    "Gmail n'est pas connecté à ce paramétrage d'envoi : cliquez sur "
                    "« Connecter mon Gmail ». Les messages en attente partiront ensuite."
                )
            )
        credentials = _refresh(row)
        expiry = credentials.expiry
        expires_at = expiry.replace(tzinfo=UTC) if expiry is not None else None
        row.oauth_access_token = str(credentials.token)
        row.oauth_expires_at = expires_at
        rotated = bool(
            credentials.refresh_token and credentials.refresh_token != row.oauth_refresh_token
        )
        if rotated:
            row.oauth_refresh_token = str(credentials.refresh_token)
        SendingProfile.objects.filter(pk=row.pk).update(
            oauth_access_token=row.oauth_access_token,
            oauth_expires_at=row.oauth_expires_at,
            oauth_refresh_token=row.oauth_refresh_token,
        )
    _copy_tokens(row, profile)
    logger.info(
        "profile %s: Google access token refreshed%s",
        profile.pk,
        " (refresh token rotated)" if rotated else "",
    )
    return row.oauth_access_token


def _copy_tokens(source: SendingProfile, target: SendingProfile) -> None:
    for name in OAUTH_FIELDS:
        setattr(target, name, getattr(source, name))


class _ServerTrouble(Exception):
    """The token endpoint answered a server error or asked us to slow down."""

    def __init__(self, status: int, body: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.retry_after = retry_after


class _RefreshRequest(GoogleRequest):
    """google-auth's transport with a short timeout and no retry loop of its own.

    The refresh runs under the profile's row lock (on SQLite, the whole database's write
    lock): google-auth's own retries (three tries, seconds apart, two-minute timeouts) would
    hold it far too long. The delivery's back-off retries instead."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = REFRESH_TIMEOUT
        response = super().__call__(*args, **kwargs)
        status = int(response.status)
        data = response.data
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        if status >= 500 or status in (408, 429) or not _json_object(text):
            # A server failure, or a page that is not Google's answer (a proxy's): temporary.
            wait = str(response.headers.get("Retry-After", "")).strip()
            raise _ServerTrouble(
                status, " ".join(text.split())[:200], float(wait) if wait.isdigit() else None
            )
        return response


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _refresh(profile: SendingProfile) -> Credentials:
    config = _config()
    credentials = Credentials(
        token=None,
        refresh_token=profile.oauth_refresh_token,
        token_uri=config["token_uri"],
        client_id=config["client_id"],
        client_secret=config["client_secret"],
    )
    http = requests.Session()
    try:
        credentials.refresh(_RefreshRequest(session=http))
    except _ServerTrouble as exc:
        raise TransientError(
            _("Google n'a pas pu renouveler l'accès à Gmail pour le moment : nouvel essai."),
            detail=str(exc),
            retry_after=exc.retry_after,
        ) from exc
    except google_exceptions.RefreshError as exc:
        raise _refresh_error(exc) from exc
    except google_exceptions.TransportError as exc:
        raise TransientError(
            _("Google ne répond pas pour renouveler l'accès à Gmail : nouvel essai plus tard."),
            detail=str(exc)[:300],
        ) from exc
    finally:
        http.close()
    if not credentials.token:
        raise TransientError(_("Google n'a pas renvoyé de jeton d'accès : nouvel essai plus tard."))
    return credentials


def _refresh_error(exc: google_exceptions.RefreshError) -> Exception:
    data = exc.args[1] if len(exc.args) > 1 else None
    error = data.get("error") if isinstance(data, dict) else None
    detail = str(exc.args[0] if exc.args else exc)[:300]
    if error == "invalid_grant":
        return NeedsReconnect(
            _(
                "L'accès de Courrier à Gmail a été retiré ou a expiré : reconnectez votre "
                "Gmail dans le paramétrage d'envoi (« Connecter mon Gmail »). Les messages en "
                "attente partiront ensuite."
            ),
            detail=detail,
        )
    if error in ("invalid_client", "unauthorized_client"):
        return ProfileRejected(
            _(
                "Google refuse l'application de cette installation (identifiant ou secret "
                "OAuth incorrect) : prévenez l'administrateur, puis reconnectez Gmail."
            ),
            detail=detail,
        )
    return TransientError(
        _("Google n'a pas pu renouveler l'accès à Gmail pour le moment : nouvel essai plus tard."),
        detail=detail,
    )


# -- disconnecting ----------------------------------------------------------------------------


def disconnect(profile: SendingProfile) -> None:
    """Revoke the consent at Google if it can be reached, and forget the tokens in any case."""
    token = profile.oauth_refresh_token or profile.oauth_access_token
    if token:
        try:
            response = requests.post(
                settings.OAUTH["GOOGLE_REVOKE_URI"],
                data={"token": token},
                timeout=10,
            )
            if response.status_code != 200:
                # Already revoked or expired: nothing left to withdraw.
                logger.info(
                    "profile %s: Google revoke answered %s", profile.pk, response.status_code
                )
        except requests.RequestException as exc:
            logger.warning("profile %s: Google revoke failed: %s", profile.pk, type(exc).__name__)
    values: dict[str, Any] = {
        "oauth_refresh_token": "",
        "oauth_access_token": "",
        "oauth_expires_at": None,
        "oauth_scopes": "",
        "oauth_connected_at": None,
    }
    SendingProfile.objects.filter(pk=profile.pk).update(**values)
    for name, value in values.items():
        setattr(profile, name, value)
    logger.info("profile %s disconnected from Google", profile.pk)
