"""What the sending services reached over their HTTP API share (SendGrid, Brevo, Mailgun,
Postmark, Amazon SES): an API key, the route sentence, the advice to verify the sender's domain
at the provider, and the webhook secret written as HTTP basic-auth credentials."""

from __future__ import annotations

from django.utils.translation import gettext

from courrier.mailing.methods.base import FREE_MAIL_DOMAINS, Advice, domain_of, stored
from courrier.mailing.models import SendingProfile
from courrier.texts import Text
from courrier.texts import sentence as _


def api_key_unready(profile: SendingProfile, where: Text) -> Text | None:
    """The provider's API key is missing, or None."""
    if stored(profile, "api_key"):
        return None
    return _("La clé d'API %(provider)s manque : complétez %(where)s.") % {
        "provider": profile.get_method_display(),
        "where": where,
    }


def api_route(profile: SendingProfile) -> Text:
    return _("l'API %(provider)s") % {"provider": profile.get_method_display()}


def verified_sender_advice(profile: SendingProfile) -> list[Advice]:
    """A provider sends only for an address or domain verified in the account."""
    domain = domain_of(profile.from_address)
    if not domain or domain in FREE_MAIL_DOMAINS:
        # A free-mail domain cannot be verified at a provider: the sender itself is the problem.
        return []
    return [
        Advice(
            "info",
            _(
                "%(provider)s n'envoie que pour une adresse ou un domaine vérifiés dans votre "
                "compte : vérifiez le domaine %(domain)s (SPF et DKIM) chez %(provider)s, sinon "
                "les envois de %(sender)s seront refusés ou classés en spam."
            )
            % {
                "provider": profile.get_method_display(),
                "domain": domain,
                "sender": profile.from_address,
            },
        )
    ]


def basic_auth_hint(profile: SendingProfile) -> str:
    """What to configure at a provider whose webhook proves itself with basic-auth credentials
    (Brevo, Postmark, Amazon SES)."""
    return gettext(
        "Choisissez un identifiant et un mot de passe et saisissez-les dans le champ secret "
        "du webhook sous la forme identifiant:motdepasse. Chez %(provider)s, indiquez "
        "l'adresse avec ces identifiants : https://identifiant:motdepasse@<adresse publique "
        "de Courrier><chemin ci-dessus>."
    ) % {"provider": profile.get_method_display()}
