"""Billit as a billing company's Peppol access point: its API key and the company's PartyID,
the UBL sent by `/v1/peppol/sendxml` (`courrier.peppol.access_points.billit`), statuses
reported by its signed webhooks and polled otherwise."""

from __future__ import annotations

from django.utils.translation import gettext

from courrier.mailing.methods import peppol
from courrier.mailing.methods.base import SendingMethod, Webhook
from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.peppol import PeppolTransport
from courrier.mailing.webhooks import billit
from courrier.texts import Text


def unready(profile: SendingProfile, where: Text) -> Text | None:
    return peppol.unready(profile, where, secret=False)


def webhook_hint(profile: SendingProfile) -> str:
    return gettext(
        "Chez Billit, créez un webhook (POST v1/webhooks) de type Order, mise à jour (U), vers "
        "cette adresse, puis copiez le secret que Billit renvoie dans le champ secret du "
        "webhook. Sans webhook, Courrier interroge Billit régulièrement."
    )


METHOD = SendingMethod(
    code=SendingProfile.Method.BILLIT.value,
    label=SendingProfile.Method.BILLIT.label,
    transport=PeppolTransport,
    groups=(peppol.ACCESS_POINT,),
    fields=("api_key", "clear_api_key", "peppol_account", "api_base_url"),
    required=("api_key", "peppol_account"),
    unready=unready,
    route=peppol.route,
    webhook=Webhook(read=billit.events_from, hint=webhook_hint),
    channel="peppol",
)
