"""SMTP: the firm's own mail server (with a password or a connected mailbox, XOAUTH2), and an
optional copy of every mail in the mailbox's Sent folder over IMAP.

Its advice knows the servers that let a firm down: the relays of Internet access providers
(they accept mail only from their own subscribers' connections, cap volumes and are not in the
SPF record of the firm's domain), and Gmail's and Microsoft 365's servers, which rewrite or
refuse a From that is not the account's and are phasing out passwords.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _lazy

from courrier.mailing.methods.base import (
    Advice,
    FieldGroup,
    SendingMethod,
    domain_of,
    is_address,
    mailbox_connected,
)
from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.smtp import SMTPTransport
from courrier.texts import Text
from courrier.texts import sentence as _

SERVER = FieldGroup(
    "smtp",
    _lazy("Serveur SMTP"),
    (
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "smtp_auth",
        "smtp_username",
        "password",
        "clear_password",
    ),
)
SENT_COPY = FieldGroup(
    "imap",
    _lazy("Copie dans « Éléments envoyés » (IMAP)"),
    (
        "imap_enabled",
        "imap_host",
        "imap_port",
        "imap_security",
        "imap_username",
        "imap_password",
        "clear_imap_password",
        "imap_sent_folder",
    ),
)

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

# SMTP servers whose owner rewrites or refuses a From that is not the account's.
GOOGLE_SMTP_HOSTS = ("smtp.gmail.com", "smtp.googlemail.com", "smtp-relay.gmail.com")
MICROSOFT_SMTP_HOSTS = ("smtp.office365.com", "smtp-mail.outlook.com", "smtp.outlook.com")


def is_isp_relay(host: str) -> bool:
    return host.strip().lower().rstrip(".") in ISP_RELAYS


def _host(profile: SendingProfile) -> str:
    return profile.smtp_host.strip().lower().rstrip(".")


def unready(profile: SendingProfile, where: Text) -> Text | None:
    if not profile.smtp_host.strip():
        return _("Le paramétrage d'envoi n'indique pas de serveur SMTP : complétez %(where)s.") % {
            "where": where
        }
    if profile.smtp_auth == SendingProfile.SMTPAuth.XOAUTH2 and not mailbox_connected(
        profile, profile.oauth_provider or None
    ):
        return _(
            "L'authentification OAuth2 (XOAUTH2) est choisie mais aucune boîte n'est "
            "connectée : utilisez « Connecter la boîte » dans %(where)s."
        ) % {"where": where}
    return None


def route(profile: SendingProfile) -> Text:
    return _("le serveur SMTP %(host)s:%(port)s") % {
        "host": profile.smtp_host,
        "port": profile.smtp_port,
    }


def advice(profile: SendingProfile) -> list[Advice]:
    found: list[Advice] = []
    host = _host(profile)
    Auth = profile.SMTPAuth
    if is_isp_relay(host):
        found.append(
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
        found.append(
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
        found.append(
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
        found.append(
            Advice(
                "info",
                _(
                    "Le port 25 est souvent bloqué par les fournisseurs d'accès : le port 587 avec "
                    "STARTTLS (ou 465 avec SSL/TLS) est plus fiable."
                ),
            )
        )
    if profile.smtp_security == profile.Security.NONE and profile.smtp_username.strip():
        found.append(
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
    if is_address(account) and domain_of(account) != domain_of(profile.from_address):
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
        found.append(Advice("warning", message % values))
    return found


def failure_hint(profile: SendingProfile) -> Text | None:
    """A sentence added under a failed connection test, when the settings explain it."""
    if profile.smtp_auth != profile.SMTPAuth.PASSWORD:
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


METHOD = SendingMethod(
    code=SendingProfile.Method.SMTP.value,
    label=SendingProfile.Method.SMTP.label,
    transport=SMTPTransport,
    groups=(SERVER, SENT_COPY),
    fields=SERVER.fields + SENT_COPY.fields,
    required=("smtp_host", "smtp_port"),
    unready=unready,
    route=route,
    advice=advice,
    failure_hint=failure_hint,
)
