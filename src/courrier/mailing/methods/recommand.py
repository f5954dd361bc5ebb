"""Recommand as a billing company's Peppol access point: its API key and secret and the
company's id there, the UBL sent by `/api/v1/{companyId}/send`
(`courrier.peppol.access_points.recommand`), its webhooks read as "look again"."""

from __future__ import annotations

from django.utils.translation import gettext

from courrier.mailing.methods import peppol
from courrier.mailing.methods.base import SendingMethod, Webhook
from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.peppol import PeppolTransport
from courrier.mailing.webhooks import recommand
from courrier.texts import Text


def unready(profile: SendingProfile, where: Text) -> Text | None:
    return peppol.unready(profile, where, secret=True)


def webhook_hint(profile: SendingProfile) -> str:
    return gettext(
        "Dans le tableau de bord de Recommand (ou par son API), créez un webhook vers cette "
        "adresse pour la société. Recommand ne signe pas ses webhooks : Courrier relit chaque "
        "document signalé auprès de Recommand, aucun secret n'est à saisir."
    )


METHOD = SendingMethod(
    code=SendingProfile.Method.RECOMMAND.value,
    label=SendingProfile.Method.RECOMMAND.label,
    transport=PeppolTransport,
    groups=(peppol.ACCESS_POINT,),
    fields=peppol.ACCESS_POINT.fields,
    required=("api_key", "api_secret", "peppol_account"),
    unready=unready,
    route=peppol.route,
    webhook=Webhook(read=recommand.events_from, hint=webhook_hint),
    channel="peppol",
)
