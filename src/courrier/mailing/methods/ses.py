"""Amazon SES: its API with an access key pair in a region (through anymail), deliveries
reported by Amazon SNS to a webhook that proves itself with basic-auth credentials."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _lazy

from courrier.mailing.methods.api import api_route, basic_auth_hint, verified_sender_advice
from courrier.mailing.methods.base import WEBHOOK, FieldGroup, SendingMethod, Webhook, stored
from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.anymail import SESTransport
from courrier.mailing.webhooks import anymail
from courrier.texts import Text
from courrier.texts import sentence as _

KEYS = FieldGroup(
    "ses",
    _lazy("Amazon SES"),
    ("aws_access_key_id", "aws_secret_access_key", "clear_aws_secret_access_key", "aws_region"),
)


def unready(profile: SendingProfile, where: Text) -> Text | None:
    if profile.aws_access_key_id.strip() and stored(profile, "aws_secret_access_key"):
        return None
    return _("Les clés d'accès Amazon SES manquent : complétez %(where)s.") % {"where": where}


METHOD = SendingMethod(
    code=SendingProfile.Method.SES.value,
    label=SendingProfile.Method.SES.label,
    transport=SESTransport,
    groups=(KEYS, WEBHOOK),
    fields=KEYS.fields + WEBHOOK.fields,
    required=("aws_access_key_id", "aws_region", "aws_secret_access_key"),
    unready=unready,
    route=api_route,
    advice=verified_sender_advice,
    webhook=Webhook(read=anymail.reader(anymail.ses_view), hint=basic_auth_hint),
)
