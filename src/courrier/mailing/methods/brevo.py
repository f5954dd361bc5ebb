"""Brevo: its API with an API key (through anymail), deliveries reported to a webhook that
proves itself with basic-auth credentials."""

from __future__ import annotations

from courrier.mailing.methods.api import (
    api_key_unready,
    api_route,
    basic_auth_hint,
    verified_sender_advice,
)
from courrier.mailing.methods.base import API_KEY, WEBHOOK, SendingMethod, Webhook
from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.anymail import BrevoTransport
from courrier.mailing.webhooks import anymail

METHOD = SendingMethod(
    code=SendingProfile.Method.BREVO.value,
    label=SendingProfile.Method.BREVO.label,
    transport=BrevoTransport,
    groups=(API_KEY, WEBHOOK),
    fields=API_KEY.fields + WEBHOOK.fields,
    required=("api_key",),
    unready=api_key_unready,
    route=api_route,
    advice=verified_sender_advice,
    webhook=Webhook(read=anymail.reader(anymail.brevo_view), hint=basic_auth_hint),
)
