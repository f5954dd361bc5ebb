"""SendGrid: its v3 API with an API key (EU data residency optional), deliveries reported by
its signed Event Webhook."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _lazy

from courrier.mailing.methods.api import api_key_unready, api_route, verified_sender_advice
from courrier.mailing.methods.base import API_KEY, WEBHOOK, FieldGroup, SendingMethod, Webhook
from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.sendgrid import SendGridTransport
from courrier.mailing.webhooks import sendgrid

ACCOUNT = FieldGroup("sendgrid", _lazy("SendGrid"), ("sendgrid_eu",))


def webhook_hint(profile: SendingProfile) -> str:
    return gettext(
        "Dans SendGrid (Settings › Mail Settings › Event Webhook), indiquez cette adresse, "
        "cochez les événements Delivered, Deferred, Bounced, Dropped, Spam Reports (et Opened "
        "si le cabinet suit les ouvertures), activez « Signed Event Webhook Requests » puis "
        "copiez la « Verification Key » dans le champ secret du webhook."
    )


METHOD = SendingMethod(
    code=SendingProfile.Method.SENDGRID.value,
    label=SendingProfile.Method.SENDGRID.label,
    transport=SendGridTransport,
    groups=(API_KEY, ACCOUNT, WEBHOOK),
    fields=API_KEY.fields + ACCOUNT.fields + WEBHOOK.fields,
    required=("api_key",),
    unready=api_key_unready,
    route=api_route,
    advice=verified_sender_advice,
    region_field="sendgrid_eu",
    webhook=Webhook(read=sendgrid.events_from, hint=webhook_hint),
)
