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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from courrier.texts import Text
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from courrier.mailing.models import SendingProfile

Level = Literal["warning", "info"]

# SMTP relays of Belgian (and neighbouring) access providers, for their own subscribers only.
ISP_RELAYS = frozenset(
    {
        "relay.skynet.be",
        "smtp.skynet.be",
        "relay.proximus.be",
        "smtp.proximus.be",
        "mail.proximus.be",
        "relay.belgacom.net",
        "smtp.belgacom.net",
        "smtp.telenet.be",
        "out.telenet.be",
        "uit.telenet.be",
        "smtp.voo.be",
        "relay.voo.be",
        "smtp.scarlet.be",
        "relay.scarlet.be",
        "smtp.edpnet.be",
        "relay.edpnet.be",
        "smtp.orange.be",
        "smtp.mobistar.be",
        "smtp.base.be",
        "smtp.pandora.be",
        "smtp.tvcablenet.be",
        "smtp.brutele.be",
        "smtp.orange.fr",
        "smtp.free.fr",
        "smtp.sfr.fr",
        "smtp.ziggo.nl",
        "smtp.kpnmail.nl",
    }
)

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

# SMTP servers whose owner rewrites or refuses a From that is not the account's.
GOOGLE_SMTP_HOSTS = ("smtp.gmail.com", "smtp.googlemail.com", "smtp-relay.gmail.com")
MICROSOFT_SMTP_HOSTS = ("smtp.office365.com", "smtp-mail.outlook.com", "smtp.outlook.com")


@dataclass(frozen=True)
class Advice:
    level: Level
    message: Text


def _domain(address: str) -> str:
    return address.strip().rpartition("@")[2].lower().rstrip(".")


def _is_address(text: str) -> bool:
    local, at, domain = text.strip().partition("@")
    return bool(local and at and "." in domain)


def _host(profile: SendingProfile) -> str:
    return profile.smtp_host.strip().lower().rstrip(".")


def is_isp_relay(host: str) -> bool:
    return host.strip().lower().rstrip(".") in ISP_RELAYS


def is_free_mail(address: str) -> bool:
    return _domain(address) in FREE_MAIL_DOMAINS


def _smtp_advice(profile: SendingProfile) -> list[Advice]:
    advice: list[Advice] = []
    host = _host(profile)
    Auth = profile.SMTPAuth
    if is_isp_relay(host):
        advice.append(
            Advice(
                "warning",
                _(
                    "Le serveur %(host)s est le relais d'un fournisseur d'accès à Internet : il "
                    "n'accepte que les envois faits depuis une connexion de ce fournisseur, limite "
                    "les volumes et n'est pas autorisé à envoyer pour le domaine du cabinet. Les "
                    "mails risquent d'arriver en spam ou d'être refusés, et l'envoi s'arrêtera en "
                    "cas de télétravail ou de changement de fournisseur. Préférez le serveur de "
                    "votre boîte mail professionnelle (Microsoft 365, Google Workspace, "
                    "hébergeur) ou un service d'envoi."
                )
                % {"host": host},
            )
        )
    if host in GOOGLE_SMTP_HOSTS and profile.smtp_auth == Auth.PASSWORD:
        advice.append(
            Advice(
                "info",
                _(
                    "Gmail n'accepte par SMTP qu'un « mot de passe d'application » (validation en "
                    "deux étapes activée sur le compte), et Google peut le retirer. La méthode "
                    "« Gmail (OAuth2) » est plus sûre : un bouton suffit pour connecter la boîte."
                ),
            )
        )
    if host in MICROSOFT_SMTP_HOSTS and profile.smtp_auth == Auth.PASSWORD:
        advice.append(
            Advice(
                "warning",
                _(
                    "Microsoft supprime l'envoi SMTP avec mot de passe pour Microsoft 365 : "
                    "choisissez la méthode « Microsoft 365 (OAuth2) » avant que ce paramétrage "
                    "cesse de fonctionner."
                ),
            )
        )
    if profile.smtp_port == 25 and not is_isp_relay(host):
        advice.append(
            Advice(
                "info",
                _(
                    "Le port 25 est souvent bloqué par les fournisseurs d'accès : le port 587 avec "
                    "STARTTLS (ou 465 avec SSL/TLS) est plus fiable."
                ),
            )
        )
    if profile.smtp_security == profile.Security.NONE and profile.smtp_username.strip():
        advice.append(
            Advice(
                "warning",
                _(
                    "L'identifiant et le mot de passe passeraient en clair : choisissez la "
                    "sécurité STARTTLS ou SSL/TLS."
                ),
            )
        )
    account = profile.smtp_username.strip()
    if profile.smtp_auth == Auth.XOAUTH2 and profile.oauth_account:
        account = profile.oauth_account
    if _is_address(account) and _domain(account) != _domain(profile.from_address):
        values = {"sender": profile.from_address, "account": account}
        if host in GOOGLE_SMTP_HOSTS:
            message = _(
                "L'expéditeur %(sender)s n'est pas dans le domaine du compte %(account)s : "
                "Gmail le remplacera par %(account)s, sauf s'il est déclaré et vérifié comme "
                "adresse « Envoyer des e-mails en tant que » de ce compte."
            )
        elif host in MICROSOFT_SMTP_HOSTS:
            message = _(
                "L'expéditeur %(sender)s n'est pas dans le domaine du compte %(account)s : "
                "Microsoft 365 refusera l'envoi, sauf si ce compte a le droit « Envoyer en tant "
                "que » sur cette adresse."
            )
        else:
            message = _(
                "L'expéditeur %(sender)s n'est pas dans le domaine du compte %(account)s : "
                "beaucoup de serveurs refusent ou réécrivent un expéditeur qui n'est pas celui "
                "du compte. Vérifiez-le avec le bouton « Tester »."
            )
        advice.append(Advice("warning", message % values))
    return advice


def _oauth_advice(profile: SendingProfile) -> list[Advice]:
    Method = profile.Method
    account = profile.oauth_account.strip()
    if profile.method == Method.MICROSOFT and profile.microsoft_mailbox.strip():
        account = profile.microsoft_mailbox.strip()
    if not account or account.lower() == profile.from_address.strip().lower():
        return []
    values = {"sender": profile.from_address, "account": account}
    if profile.method == Method.GMAIL:
        message = _(
            "L'expéditeur %(sender)s n'est pas le compte connecté %(account)s : Gmail le "
            "remplacera par %(account)s, sauf s'il est déclaré et vérifié comme adresse "
            "« Envoyer des e-mails en tant que » de ce compte."
        )
    else:
        message = _(
            "L'expéditeur %(sender)s n'est pas la boîte %(account)s : Microsoft 365 refusera "
            "l'envoi, sauf si ce compte a le droit « Envoyer en tant que » sur %(sender)s."
        )
    return [Advice("warning", message % values)]


def _provider_advice(profile: SendingProfile) -> list[Advice]:
    Method = profile.Method
    domain = _domain(profile.from_address)
    if profile.method == Method.MAILGUN:
        sending_domain = profile.mailgun_domain.strip().lower().rstrip(".")
        if (
            sending_domain
            and domain
            and domain != sending_domain
            and not domain.endswith("." + sending_domain)
        ):
            return [
                Advice(
                    "warning",
                    _(
                        "L'expéditeur %(sender)s n'est pas dans le domaine Mailgun "
                        "%(domain)s : les destinataires verront « envoyé via Mailgun » ou le "
                        "refuseront (DMARC). Utilisez une adresse de %(domain)s ou vérifiez "
                        "%(sender_domain)s dans Mailgun."
                    )
                    % {
                        "sender": profile.from_address,
                        "domain": sending_domain,
                        "sender_domain": domain,
                    },
                )
            ]
        return []
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


def profile_advice(profile: SendingProfile) -> list[Advice]:
    """What may go wrong with this profile although it can be saved; warnings first.

    Reads only plain fields (never a secret), so it works on a profile loaded for a page."""
    Method = profile.Method
    advice: list[Advice] = []
    if profile.method == Method.SMTP:
        advice += _smtp_advice(profile)
    elif profile.method in (Method.GMAIL, Method.MICROSOFT):
        advice += _oauth_advice(profile)
    else:
        advice += _provider_advice(profile)
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
                % {"sender": profile.from_address, "domain": _domain(profile.from_address)},
            )
        )
    advice.sort(key=lambda item: item.level != "warning")
    return advice


def failure_hint(profile: SendingProfile) -> Text | None:
    """A sentence added under a failed connection test, when the settings explain it."""
    if profile.method != profile.Method.SMTP or profile.smtp_auth != profile.SMTPAuth.PASSWORD:
        return None
    host = _host(profile)
    if host in GOOGLE_SMTP_HOSTS:
        return _(
            "Avec Gmail, le mot de passe doit être un « mot de passe d'application » (validation "
            "en deux étapes activée), ou choisissez la méthode « Gmail (OAuth2) »."
        )
    if host in MICROSOFT_SMTP_HOSTS:
        return _(
            "Microsoft 365 refuse de plus en plus l'envoi SMTP avec mot de passe : choisissez la "
            "méthode « Microsoft 365 (OAuth2) »."
        )
    if is_isp_relay(host):
        return _(
            "Ce relais de fournisseur d'accès n'accepte que les envois faits depuis une connexion "
            "de ce fournisseur."
        )
    return None
