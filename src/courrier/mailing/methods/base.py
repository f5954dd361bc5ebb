"""What a sending method declares, and the small rules its declarations share.

A `SendingMethod` says everything the rest of Courrier asks about one way of sending: the
form's sections and fields, what a save needs, why the profile cannot send yet (its readiness
rule), how its mail leaves in words (the route sentence), the advice the settings page shows,
its transport and, when the provider reports deliveries, its webhook. The form, the profile
services, the advice and the webhook endpoint read these declarations instead of asking
"which method is this?" each in its own `if` chain.

Nothing here imports the services, the forms or `advice.py`: they read the declarations, not
the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.utils.translation import gettext_lazy as _lazy

from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.base import Transport
from courrier.mailing.webhooks import Reader
from courrier.texts import Text

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Level = Literal["warning", "info"]


@dataclass(frozen=True)
class Advice:
    """One warning (or piece of information) about a profile that can be saved as it is."""

    level: Level
    message: Text


@dataclass(frozen=True)
class FieldGroup:
    """A section of the profile form: its title and the form fields it shows.

    Sections shared by several methods (the API key, the webhook, the connected mailbox) are one
    object, so the page shows them once; `last` keeps a section after every method's own."""

    key: str
    title: StrOrPromise
    fields: tuple[str, ...]
    last: bool = False


@dataclass(frozen=True)
class Webhook:
    """How a provider reports deliveries: the reader of its requests, and what to configure
    at the provider (a sentence in the reader's language)."""

    read: Reader
    hint: Callable[[SendingProfile], str]


def _no_advice(profile: SendingProfile) -> list[Advice]:
    return []


def _no_hint(profile: SendingProfile) -> Text | None:
    return None


@dataclass(frozen=True)
class SendingMethod:
    """One sending method, declared once (see the package's modules, one per method).

    `fields` are the form fields the method uses: only they are checked and saved, the others
    keep what is stored. `required` are those a save needs, in the order their errors show (a
    secret counts when it is stored or typed). `unready(profile, where)` says why the profile
    cannot send as configured, naming `where` it is corrected, or None. `route(profile)` says
    how its mail leaves. `oauth_provider` names the OAuth provider of a connected mailbox
    ("google", "microsoft"), `region_field` the form's box for the provider's EU region.
    `channel` says what the method carries: mail, or Peppol documents (a billing company's
    access point, set on its Peppol settings page, never offered for a mail profile)."""

    code: str
    label: StrOrPromise
    transport: type[Transport]
    groups: tuple[FieldGroup, ...]
    fields: tuple[str, ...]
    unready: Callable[[SendingProfile, Text], Text | None]
    route: Callable[[SendingProfile], Text]
    required: tuple[str, ...] = ()
    advice: Callable[[SendingProfile], list[Advice]] = _no_advice
    failure_hint: Callable[[SendingProfile], Text | None] = _no_hint
    oauth_provider: str = ""
    oauth_label: str = ""
    region_field: str = ""
    webhook: Webhook | None = None
    channel: Literal["email", "peppol"] = "email"


# -- rules the declarations share ------------------------------------------------------------


def stored(profile: SendingProfile, name: str) -> bool:
    """Whether a secret is stored, without decrypting it when the page annotated the row."""
    if name in profile.__dict__:  # loaded, or just typed into the form
        return bool(profile.__dict__[name])
    flag = getattr(profile, f"has_{name}", None)
    if flag is not None:
        return bool(flag)
    return bool(getattr(profile, name))


def oauth_configured(provider: str) -> bool:
    """Whether the firm registered its OAuth application with this provider (settings.OAUTH)."""
    config = getattr(settings, "OAUTH", None) or {}
    prefix = "GOOGLE" if provider == "google" else "MICROSOFT"
    return bool(config.get(f"{prefix}_CLIENT_ID") and config.get(f"{prefix}_CLIENT_SECRET"))


def mailbox_connected(profile: SendingProfile, provider: str | None) -> bool:
    """Whether the profile's mailbox is connected to `provider` and not disconnected since."""
    if provider is None or profile.oauth_provider != provider:
        return False
    return stored(profile, "oauth_refresh_token") or stored(profile, "oauth_token_cache")


def domain_of(address: str) -> str:
    return address.strip().rpartition("@")[2].lower().rstrip(".")


def is_address(text: str) -> bool:
    local, at, domain = text.strip().partition("@")
    return bool(local and at and "." in domain)


# Domains of free mailboxes and of access providers: fine for a person, wrong for invoices.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "hotmail.com",
        "hotmail.be",
        "hotmail.fr",
        "outlook.com",
        "outlook.be",
        "outlook.fr",
        "live.be",
        "live.com",
        "live.fr",
        "msn.com",
        "yahoo.com",
        "yahoo.fr",
        "yahoo.be",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "gmx.com",
        "gmx.net",
        "proton.me",
        "protonmail.com",
        "skynet.be",
        "proximus.be",
        "belgacom.net",
        "telenet.be",
        "pandora.be",
        "voo.be",
        "scarlet.be",
        "edpnet.be",
        "orange.be",
        "mobistar.be",
        "base.be",
        "tvcablenet.be",
        "brutele.be",
    }
)


def is_free_mail(address: str) -> bool:
    return domain_of(address) in FREE_MAIL_DOMAINS


# -- sections several methods show ------------------------------------------------------------

MAILBOX = FieldGroup("oauth", _lazy("Boîte connectée"), ("microsoft_mailbox",))
API_KEY = FieldGroup("api_key", _lazy("Clé d'API"), ("api_key", "clear_api_key"))
WEBHOOK = FieldGroup(
    "webhook",
    _lazy("Suivi de la remise (webhook)"),
    ("webhook_secret", "clear_webhook_secret"),
    last=True,
)
