"""OAuth2 mailboxes: the providers a profile can be connected to, chosen by a plain dict.

Each provider module offers `authorization_url`, `complete`, `access_token` and `disconnect`
(see `google` for the contract). Transports ask `access_token(profile)` for a bearer token;
the views run the web flow for whichever provider the profile uses.
"""

from __future__ import annotations

import logging
from types import ModuleType

from courrier.mailing.exceptions import ConfigurationError, NeedsReconnect
from courrier.mailing.models import SendingProfile
from courrier.mailing.oauth import google, microsoft
from courrier.texts import sentence as _

logger = logging.getLogger("courrier.mailing")

PROVIDERS: dict[str, ModuleType] = {
    "google": google,
    "microsoft": microsoft,
}

# Which provider an SMTP (XOAUTH2) server belongs to, by the end of its host name.
_SMTP_HOSTS = {
    "gmail.com": "google",
    "googlemail.com": "google",
    "office365.com": "microsoft",
    "outlook.com": "microsoft",
}


def provider_for(profile: SendingProfile) -> str | None:
    """The OAuth provider that the profile's method connects to, or None (password, API key)."""
    method = profile.method
    if method == SendingProfile.Method.GMAIL:
        return "google"
    if method == SendingProfile.Method.MICROSOFT:
        return "microsoft"
    if (
        method == SendingProfile.Method.SMTP
        and profile.smtp_auth == SendingProfile.SMTPAuth.XOAUTH2
    ):
        if profile.oauth_provider:
            return profile.oauth_provider
        host = profile.smtp_host.strip().lower()
        for suffix, provider in _SMTP_HOSTS.items():
            if host == suffix or host.endswith("." + suffix):
                return provider
    return None


def provider_module(name: str) -> ModuleType:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ConfigurationError(
            _("La connexion « %(provider)s » n'est pas disponible.") % {"provider": name}
        ) from None


def access_token(profile: SendingProfile) -> str:
    """A valid bearer token for the profile's mailbox (refreshed and saved when needed).

    Raises NeedsReconnect when the profile is not connected or its consent is gone."""
    if not profile.oauth_provider:
        raise NeedsReconnect(
            _(
                "Cette boîte mail n'est pas encore connectée : utilisez le bouton de connexion "
                "du paramétrage d'envoi. Les messages en attente partiront ensuite."
            )
        )
    module = provider_module(profile.oauth_provider)
    token: str = module.access_token(profile)
    return token


def profile_disconnect(*, profile: SendingProfile) -> None:
    """Withdraw the mailbox's consent and forget its tokens. The profile stays, to be
    reconnected; until then it cannot send and its waiting messages are held."""
    if profile.oauth_provider:
        provider_module(profile.oauth_provider).disconnect(profile)
    reason = _("Boîte mail déconnectée : reconnectez-la pour envoyer.")
    SendingProfile.objects.filter(pk=profile.pk).update(
        state=SendingProfile.State.RECONNECT, state_reason=reason
    )
    profile.state, profile.state_reason = SendingProfile.State.RECONNECT, reason
    logger.info("profile %s disconnected by its owner", profile.pk)


__all__ = ["PROVIDERS", "access_token", "profile_disconnect", "provider_for", "provider_module"]
