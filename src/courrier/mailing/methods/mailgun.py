"""Mailgun: its API with an API key and a sending domain (EU region optional), deliveries
reported to a webhook signed with the account's signing key."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _lazy

from courrier.mailing.methods.api import api_key_unready, api_route
from courrier.mailing.methods.base import (
    API_KEY,
    WEBHOOK,
    Advice,
    FieldGroup,
    SendingMethod,
    Webhook,
    domain_of,
)
from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.anymail import MailgunTransport
from courrier.mailing.webhooks import anymail
from courrier.texts import Text
from courrier.texts import sentence as _

ACCOUNT = FieldGroup("mailgun", _lazy("Mailgun"), ("mailgun_domain", "mailgun_eu"))


def unready(profile: SendingProfile, where: Text) -> Text | None:
    missing = api_key_unready(profile, where)
    if missing is None and not profile.mailgun_domain.strip():
        return _("Le domaine d'envoi Mailgun manque : complétez %(where)s.") % {"where": where}
    return missing


def advice(profile: SendingProfile) -> list[Advice]:
    """Mail from outside the sending domain is marked "via Mailgun", or refused (DMARC)."""
    domain = domain_of(profile.from_address)
    sending_domain = profile.mailgun_domain.strip().lower().rstrip(".")
    if (
        not sending_domain
        or not domain
        or domain == sending_domain
        or domain.endswith("." + sending_domain)
    ):
        return []
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


def webhook_hint(profile: SendingProfile) -> str:
    return gettext(
        "Dans Mailgun (Sending › Webhooks), indiquez cette adresse pour les événements "
        "Delivered, Permanent Failure, Temporary Failure, Spam Complaints (et Opens), puis "
        "copiez la « HTTP webhook signing key » dans le champ secret du webhook."
    )


METHOD = SendingMethod(
    code=SendingProfile.Method.MAILGUN.value,
    label=SendingProfile.Method.MAILGUN.label,
    transport=MailgunTransport,
    groups=(API_KEY, ACCOUNT, WEBHOOK),
    fields=API_KEY.fields + ACCOUNT.fields + WEBHOOK.fields,
    required=("api_key", "mailgun_domain"),
    unready=unready,
    route=api_route,
    advice=advice,
    region_field="mailgun_eu",
    webhook=Webhook(read=anymail.reader(anymail.mailgun_view, signed=True), hint=webhook_hint),
)
