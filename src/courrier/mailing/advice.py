"""Warnings about a sending profile that works today but is likely to let the firm down.

Shown on the settings pages (Ma fiche, a billing company's page) next to the form; nothing here
blocks a save. Three families, each a short documented list rather than a clever guess:

* Internet-provider relays. Belgian access providers run SMTP relays for their subscribers
  (relay.skynet.be, smtp.proximus.be, smtp.telenet.be, smtp.voo.be, ...). They accept mail only
  from a connection of that provider (by IP address, usually without a login), so they stop
  working on another network (a laptop at home, a new office line, a change of provider); they
  cap volumes and are not named in the SPF record of the firm's domain, so mail sent "from"
  the firm's own address through them is often classed as spam or refused (DMARC).
* Free-mail and provider addresses as the sender of a billing company. An invoice that comes
  from a gmail.com or skynet.be address looks like phishing to the client's filters and to the
  client; those domains publish strict DMARC policies, so only their own servers may send for
  them. The firm's own domain, with SPF and DKIM, is the reliable sender.
* A From address that is not the account's. Gmail replaces it with the connected account unless
  it is a verified "Send mail as" alias; Microsoft 365 refuses it (SendAsDenied) unless the
  account has "Send As" rights on it; the API providers (SendGrid, Brevo, Mailgun, Postmark,
  Amazon SES) refuse or rewrite a sender whose address or domain is not verified in the account.

Each method's own advice (and the hint under a failed connection test) is declared in its
module under `mailing.methods`, with the lists it reads (`methods.smtp.ISP_RELAYS`,
`methods.base.FREE_MAIL_DOMAINS`); this module asks the declaration and adds the rule that does
not depend on the method: a billing company does not send from a free mailbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from courrier.mailing import methods
from courrier.mailing.methods.base import (
    FREE_MAIL_DOMAINS,
    Advice,
    Level,
    domain_of,
    is_free_mail,
)
from courrier.mailing.methods.smtp import (
    GOOGLE_SMTP_HOSTS,
    ISP_RELAYS,
    MICROSOFT_SMTP_HOSTS,
    is_isp_relay,
)
from courrier.texts import Text
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from courrier.mailing.models import SendingProfile


def profile_advice(profile: SendingProfile) -> list[Advice]:
    """What may go wrong with this profile although it can be saved; warnings first.

    Reads only plain fields (never a secret), so it works on a profile loaded for a page."""
    method = methods.get(profile.method)
    advice: list[Advice] = list(method.advice(profile)) if method is not None else []
    if profile.billing_company_id is not None and is_free_mail(profile.from_address):
        advice.append(
            Advice(
                "warning",
                _(
                    "Les factures partiraient de l'adresse %(sender)s, une boîte gratuite ou "
                    "d'un fournisseur d'accès : les clients et leurs filtres s'en méfient, et "
                    "%(domain)s n'autorise que ses propres serveurs à envoyer pour lui. Utilisez "
                    "une adresse du domaine du cabinet (par exemple facturation@votre-cabinet.be)."
                )
                % {"sender": profile.from_address, "domain": domain_of(profile.from_address)},
            )
        )
    advice.sort(key=lambda item: item.level != "warning")
    return advice


def failure_hint(profile: SendingProfile) -> Text | None:
    """A sentence added under a failed connection test, when the settings explain it."""
    method = methods.get(profile.method)
    return method.failure_hint(profile) if method is not None else None


__all__ = [
    "FREE_MAIL_DOMAINS",
    "GOOGLE_SMTP_HOSTS",
    "ISP_RELAYS",
    "MICROSOFT_SMTP_HOSTS",
    "Advice",
    "Level",
    "failure_hint",
    "is_free_mail",
    "is_isp_relay",
    "profile_advice",
]
