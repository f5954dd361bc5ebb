"""Microsoft 365: the OAuth2 connection of a mailbox through msal (auth-code flow with PKCE).

msal keeps what it knows of a connection (the account, access tokens, the refresh token) in a
token cache; that cache is the profile's `oauth_token_cache`, encrypted like any secret. Entra
ID hands out a new refresh token with each refresh: the cache is saved every time msal changed
it, otherwise the mailbox stops working once the last saved token expires (the well-known
"mail stops after 90 days").

A refresh runs under the profile row's lock, after a second look at the saved cache: two
workers never refresh at once, and the one that waited takes the token the other saved instead
of spending a refresh token that was just replaced. Reading a still-valid token takes no lock.

The scopes depend on how the profile sends: Graph (`Mail.Send`, `User.Read` for the account's
address, `Mail.Send.Shared` for a shared mailbox) or SMTP with XOAUTH2 (`SMTP.Send`, whose
tokens are for Exchange Online, not Graph). msal adds `openid profile offline_access` itself.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import TYPE_CHECKING, Any

import msal
import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from msal.exceptions import MsalServiceError

from courrier.crypto import SecretUnreadable
from courrier.mailing.exceptions import (
    ConfigurationError,
    MailingError,
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

PROVIDER = "microsoft"
# Graph's scopes by their short names: Entra answers with these, and msal finds a cached token
# only under the names the token response gave.
GRAPH = "https://graph.microsoft.com/"
MAIL_SEND = "Mail.Send"
MAIL_SEND_SHARED = "Mail.Send.Shared"
USER_READ = "User.Read"
SMTP_SEND = "https://outlook.office.com/SMTP.Send"

SESSION_KEY = "oauth_pending_microsoft"
# Connections started in other tabs that may still come back.
PENDING_KEPT = 5
TIMEOUT = 20.0
# msal takes an access token this close to its expiry for expired, and so do we.
EXPIRY_MARGIN = 5 * 60

# Errors of the token endpoint that only the mailbox's owner can cure, by connecting again.
RECONNECT_ERRORS = frozenset(
    {"invalid_grant", "interaction_required", "consent_required", "login_required"}
)
APPLICATION_ERRORS = frozenset({"invalid_client", "unauthorized_client"})
PASSING_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


def scopes_for(profile: SendingProfile) -> list[str]:
    """What the profile must be allowed to do at Microsoft."""
    if profile.method == SendingProfile.Method.SMTP:
        return [SMTP_SEND]
    scopes = [MAIL_SEND, USER_READ]
    if profile.microsoft_mailbox:
        scopes.append(MAIL_SEND_SHARED)
    return scopes


# -- HTTP -------------------------------------------------------------------------------------


class _Session(requests.Session):
    """A requests session with a timeout on every call: msal gives none, and a token endpoint
    that never answers must not hold a delivery run for ever."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


def http_session(*, timeout: float = TIMEOUT) -> requests.Session:
    """The session for Microsoft's endpoints (login and Graph).

    `OAUTH["CA_BUNDLE"]`, when set, is the only authority trusted (tests: their own CA).
    Otherwise requests' usual trust applies, including REQUESTS_CA_BUNDLE for a proxy that
    inspects TLS.
    """
    session = _Session(timeout)
    bundle = settings.OAUTH.get("CA_BUNDLE")
    if bundle:
        session.verify = str(bundle)
    return session


def _application(cache: msal.TokenCache | None = None) -> msal.ConfidentialClientApplication:
    oauth = settings.OAUTH
    client_id = oauth.get("MICROSOFT_CLIENT_ID", "")
    secret = oauth.get("MICROSOFT_CLIENT_SECRET", "")
    if not client_id or not secret:
        raise ConfigurationError(
            _(
                "L'envoi par Microsoft 365 n'est pas encore activé pour le cabinet : demandez à "
                "l'administrateur du cabinet de l'activer."
            )
        )
    authority = "{}/{}".format(
        oauth["MICROSOFT_AUTHORITY_HOST"].rstrip("/"),
        (oauth.get("MICROSOFT_TENANT") or "organizations").strip("/"),
    )
    try:
        return msal.ConfidentialClientApplication(
            client_id,
            client_credential=secret,
            authority=authority,
            token_cache=cache,
            http_client=http_session(),
            # One cloud, named by the settings: no discovery call to login.microsoftonline.com.
            instance_discovery=False,
        )
    except (requests.RequestException, MsalServiceError) as exc:
        raise _unreachable(exc) from exc
    except ValueError as exc:
        # msal says the same for an unknown tenant and for an unreadable answer.
        raise TransientError(
            _(
                "La configuration de Microsoft (l'annuaire du cabinet) n'a pas pu être lue : "
                "nouvel essai plus tard ; si cela persiste, prévenez l'administrateur du cabinet."
            ),
            detail=str(exc)[:300],
        ) from exc


def _unreachable(exc: Exception) -> TransientError:
    return TransientError(
        _("Microsoft ne répond pas pour le moment : nouvel essai plus tard."),
        detail=f"{type(exc).__name__}: {str(exc)[:300]}",
    )


# -- connecting -------------------------------------------------------------------------------


def authorization_url(*, profile: SendingProfile, redirect_uri: str, session: SessionBase) -> str:
    """Where to send the browser to give consent. msal's flow (state, nonce, PKCE verifier)
    waits in the session, with the profile, for `complete`."""
    app = _application()
    hint = profile.oauth_account or ("" if profile.microsoft_mailbox else profile.from_address)
    try:
        with warnings.catch_warnings():
            # msal prefers response_mode=form_post; the callback is a GET (query) for every
            # provider, and the code is useless without the PKCE verifier kept in the session.
            warnings.simplefilter("ignore", UserWarning)
            flow = app.initiate_auth_code_flow(
                scopes_for(profile),
                redirect_uri=redirect_uri,
                # Someone signed in to several accounts picks the right one.
                prompt="select_account",
                login_hint=hint or None,
            )
    except ValueError as exc:
        raise ConfigurationError(detail=str(exc)[:300]) from exc
    pending = _pending(session)
    pending[flow["state"]] = {"profile": profile.pk, "flow": flow}
    session[SESSION_KEY] = dict(list(pending.items())[-PENDING_KEPT:])
    return str(flow["auth_uri"])


def _pending(session: SessionBase) -> dict[str, dict[str, Any]]:
    stored = session.get(SESSION_KEY) or {}
    return {key: value for key, value in stored.items() if isinstance(value, dict)}


def complete(*, redirect_uri: str, session: SessionBase, query: QueryDict) -> SendingProfile:
    """Finish the connection Microsoft redirected back to: msal checks the state and the nonce,
    trades the code with the PKCE verifier; the new token cache replaces the old one.

    A forged, replayed or refused callback raises ConfigurationError and changes nothing.
    """
    pending = _pending(session)
    entry = pending.pop(query.get("state", ""), None)
    session[SESSION_KEY] = pending
    if entry is None:
        raise ConfigurationError(
            _(
                "Cette réponse de Microsoft ne correspond à aucune connexion en cours (lien "
                "expiré, déjà utilisé ou falsifié). Rien n'a été modifié : recommencez la "
                "connexion depuis le paramétrage d'envoi."
            )
        )
    error = query.get("error", "")
    if error:
        reason = " ".join((query.get("error_description") or "").splitlines()[:1])[:300]
        if error == "access_denied":
            raise ConfigurationError(
                _(
                    "La connexion à Microsoft 365 a été annulée : l'accès n'a pas été autorisé. "
                    "Rien n'a été modifié."
                ),
                detail=reason,
            )
        raise ConfigurationError(
            _("Microsoft a refusé la connexion (%(error)s). Rien n'a été modifié.")
            % {"error": error},
            detail=reason,
        )
    profile = SendingProfile.objects.filter(pk=entry["profile"]).first()
    if profile is None:
        raise ConfigurationError(_("Ce paramétrage d'envoi n'existe plus."))
    flow = entry["flow"]
    if flow.get("redirect_uri") != redirect_uri:
        raise ConfigurationError(
            _("L'adresse de retour a changé pendant la connexion : recommencez la connexion.")
        )

    cache = msal.SerializableTokenCache()
    app = _application(cache)
    try:
        result = app.acquire_token_by_auth_code_flow(flow, {key: query[key] for key in query})
    except (ValueError, RuntimeError) as exc:
        # msal's refusal of the answer itself: state or nonce not ours, no code.
        raise ConfigurationError(
            _(
                "La réponse de Microsoft n'a pas pu être vérifiée. Rien n'a été modifié : "
                "recommencez la connexion."
            ),
            detail=str(exc)[:300],
        ) from exc
    except (requests.RequestException, MsalServiceError) as exc:
        raise TransientError(
            _("Microsoft n'a pas répondu pendant la connexion : réessayez dans un instant."),
            detail=type(exc).__name__,
        ) from exc
    if "error" in result:
        detail = _description(result)
        if result["error"] in APPLICATION_ERRORS:
            raise ConfigurationError(
                _(
                    "Microsoft refuse l'application de cette installation (identifiant ou secret "
                    "client incorrect ou expiré) : prévenez l'administrateur."
                ),
                detail=detail,
            )
        raise ConfigurationError(
            _(
                "Microsoft a refusé le code d'autorisation (expiré ou déjà utilisé). Rien n'a été "
                "modifié : recommencez la connexion."
            ),
            detail=detail,
        )
    granted = str(result.get("scope") or "").split()
    missing = [scope for scope in scopes_for(profile) if not _granted(scope, granted)]
    if granted and missing:
        raise ConfigurationError(
            _(
                "Microsoft n'a pas accordé toutes les autorisations nécessaires (%(scopes)s) : "
                "acceptez-les à l'écran de consentement, ou demandez à l'administrateur Microsoft "
                "365 de les approuver, puis recommencez."
            )
            % {"scopes": ", ".join(scope.rsplit("/", 1)[-1] for scope in missing)}
        )
    account = _account(profile, result)
    now = timezone.now()
    values: dict[str, Any] = {
        "oauth_provider": PROVIDER,
        "oauth_account": account,
        "oauth_token_cache": cache.serialize(),
        "oauth_refresh_token": "",
        "oauth_access_token": "",
        "oauth_expires_at": None,
        "oauth_scopes": " ".join(granted or scopes_for(profile)),
        "oauth_connected_at": now,
    }
    SendingProfile.objects.filter(pk=profile.pk).update(
        state=SendingProfile.State.OK, state_reason="", **values
    )
    for name, value in values.items():
        setattr(profile, name, value)
    profile.state, profile.state_reason = SendingProfile.State.OK, ""
    logger.info("profile %s connected to Microsoft account %s", profile.pk, account)
    return profile


def _granted(scope: str, granted: list[str]) -> bool:
    return scope in granted or GRAPH + scope in granted


def _description(result: dict[str, Any]) -> str:
    """The first line of Entra's error description (the others are trace and correlation ids)."""
    description = str(result.get("error_description") or "").strip().splitlines()
    first = description[0] if description else ""
    return f"{result.get('error', '')}: {first}".strip(" :")[:300]


def _account(profile: SendingProfile, result: dict[str, Any]) -> str:
    """The connected account's mail address: Graph's /me says its primary SMTP address, which
    may differ from the sign-in name; SMTP tokens cannot read /me, the id_token names it."""
    claims = result.get("id_token_claims") or {}
    signed_in = str(claims.get("preferred_username") or claims.get("email") or "")
    if profile.method != SendingProfile.Method.SMTP:
        session = http_session()
        try:
            response = session.get(
                settings.OAUTH["GRAPH_URL"].rstrip("/") + "/v1.0/me",
                headers={"Authorization": f"Bearer {result['access_token']}"},
                params={"$select": "mail,userPrincipalName"},
            )
            if response.status_code == 200:
                me = response.json()
                signed_in = str(me.get("mail") or me.get("userPrincipalName") or signed_in)
        except (requests.RequestException, ValueError, AttributeError) as exc:
            logger.info("profile %s: Graph /me unavailable: %s", profile.pk, type(exc).__name__)
        finally:
            session.close()
    if "@" not in signed_in:
        raise ConfigurationError(
            _("Microsoft n'a pas indiqué l'adresse du compte connecté : recommencez la connexion.")
        )
    return signed_in


# -- using the connection ---------------------------------------------------------------------


def _stored_cache(profile: SendingProfile, *, lock: bool = False) -> str:
    rows = SendingProfile.objects.filter(pk=profile.pk)
    if lock:
        rows = rows.select_for_update()
    try:
        stored = rows.values_list("oauth_token_cache", flat=True).first()
    except SecretUnreadable as exc:
        raise NeedsReconnect(
            _(
                "La connexion à Microsoft 365 enregistrée ne peut plus être lue (la clé de "
                "chiffrement de l'installation a changé) : reconnectez la boîte. Les messages en "
                "attente partiront ensuite."
            )
        ) from exc
    if not stored:
        raise NeedsReconnect(
            _(
                "Microsoft 365 n'est pas connecté à ce paramétrage d'envoi : cliquez sur "
                "« Connecter Microsoft 365 ». Les messages en attente partiront ensuite."
            )
        )
    return stored


def _load(cache: msal.SerializableTokenCache, stored: str) -> dict[str, Any]:
    """Fill `cache` with a stored one; the account it holds."""
    try:
        cache.deserialize(stored)
    except ValueError as exc:
        raise NeedsReconnect(detail="token cache unreadable") from exc
    accounts = list(cache.search(msal.TokenCache.CredentialType.ACCOUNT))
    if not accounts:
        raise _token_error(None)
    return dict(accounts[0])


def _cached_token(
    cache: msal.SerializableTokenCache, account: dict[str, Any], scopes: list[str], refused: str
) -> str:
    """An access token of the cache still valid for a while, not the refused one; or ""."""
    now = time.time()
    for entry in cache.search(
        msal.TokenCache.CredentialType.ACCESS_TOKEN,
        target=scopes,
        query={"home_account_id": account.get("home_account_id")},
    ):
        if entry["secret"] != refused and int(entry["expires_on"]) - now > EXPIRY_MARGIN:
            return str(entry["secret"])
    return ""


def access_token(profile: SendingProfile, *, refused: str = "") -> str:
    """A valid access token for the profile (`refused`: one an API just answered 401 to, never
    handed out again). msal's cache answers when it can; otherwise the token is refreshed and
    the changed cache (with the rotated refresh token) is saved, under the row's lock: one
    refresh at a time per profile, and a worker that waited finds the new token instead of
    spending a refresh token that was just replaced.

    Raises NeedsReconnect when the consent was revoked or expired, TransientError when
    Microsoft cannot be reached, ProfileRejected when the installation's app is refused.
    """
    scopes = scopes_for(profile)
    cache = msal.SerializableTokenCache()
    account = _load(cache, _stored_cache(profile))
    token = _cached_token(cache, account, scopes, refused)
    if token:
        return token
    # Built outside the lock: msal reads Microsoft's configuration over the network first.
    app = _application(cache)
    with transaction.atomic():
        stored = _stored_cache(profile, lock=True)
        account = _load(cache, stored)
        token = _cached_token(cache, account, scopes, refused)
        if token:
            return token
        try:
            result = app.acquire_token_silent_with_error(scopes, account, force_refresh=True)
        except (requests.RequestException, MsalServiceError, ValueError) as exc:
            raise _unreachable(exc) from exc
        if cache.has_state_changed:
            serialized = cache.serialize()
            SendingProfile.objects.filter(pk=profile.pk).update(oauth_token_cache=serialized)
            profile.oauth_token_cache = serialized
    if result and result.get("access_token"):
        logger.info("profile %s: Microsoft access token refreshed", profile.pk)
        return str(result["access_token"])
    raise _token_error(result)


def _token_error(result: dict[str, Any] | None) -> MailingError:
    if not result:
        return NeedsReconnect(
            _(
                "La connexion à Microsoft 365 de ce paramétrage d'envoi est vide : reconnectez "
                "la boîte. Les messages en attente partiront ensuite."
            )
        )
    error = str(result.get("error") or "")
    detail = _description(result)
    if error in RECONNECT_ERRORS or not error:
        return NeedsReconnect(
            _(
                "L'accès de Courrier à Microsoft 365 a été retiré ou a expiré : reconnectez la "
                "boîte dans le paramétrage d'envoi (« Connecter Microsoft 365 »). Les messages "
                "en attente partiront ensuite."
            ),
            detail=detail,
        )
    if error in APPLICATION_ERRORS:
        return ProfileRejected(
            _(
                "Microsoft refuse l'application de cette installation (secret client incorrect "
                "ou expiré) : prévenez l'administrateur, puis reconnectez la boîte."
            ),
            detail=detail,
        )
    if error in PASSING_ERRORS:
        return TransientError(
            _("Microsoft n'a pas pu renouveler l'accès pour le moment : nouvel essai plus tard."),
            detail=detail,
        )
    return ProfileRejected(
        _("Microsoft a refusé de renouveler l'accès à la boîte : reconnectez-la."),
        detail=detail,
    )


# -- disconnecting ----------------------------------------------------------------------------


def disconnect(profile: SendingProfile) -> None:
    """Forget the tokens. Microsoft has no endpoint that revokes one application's refresh
    token (only an administrator can revoke all of a user's sessions, and the user can remove
    the app at https://myapplications.microsoft.com): forgetting them is what is possible here,
    and the README says where to withdraw the consent itself."""
    values: dict[str, Any] = {
        "oauth_token_cache": "",
        "oauth_refresh_token": "",
        "oauth_access_token": "",
        "oauth_expires_at": None,
        "oauth_scopes": "",
        "oauth_connected_at": None,
    }
    SendingProfile.objects.filter(pk=profile.pk).update(**values)
    for name, value in values.items():
        setattr(profile, name, value)
    logger.info("profile %s disconnected from Microsoft", profile.pk)
