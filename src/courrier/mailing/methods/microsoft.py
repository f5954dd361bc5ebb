"""Microsoft 365: Microsoft Graph on behalf of a mailbox connected with the firm's Entra
application; a billing company may send as a shared mailbox the account has rights on."""

from __future__ import annotations

from courrier.mailing.methods.base import MAILBOX, Advice, SendingMethod
from courrier.mailing.methods.mailbox import mailbox_unready
from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.microsoft import MicrosoftGraphTransport
from courrier.texts import Text
from courrier.texts import sentence as _


def unready(profile: SendingProfile, where: Text) -> Text | None:
    return mailbox_unready(profile, where, provider="microsoft", label=_("Microsoft 365"))


def route(profile: SendingProfile) -> Text:
    mailbox = profile.microsoft_mailbox or profile.oauth_account or "—"
    return _("Microsoft Graph (boîte %(mailbox)s)") % {"mailbox": mailbox}


def advice(profile: SendingProfile) -> list[Advice]:
    account = profile.microsoft_mailbox.strip() or profile.oauth_account.strip()
    if not account or account.lower() == profile.from_address.strip().lower():
        return []
    message = _(
        "L'expéditeur %(sender)s n'est pas la boîte %(account)s : Microsoft 365 refusera "
        "l'envoi, sauf si ce compte a le droit « Envoyer en tant que » sur %(sender)s."
    )
    return [Advice("warning", message % {"sender": profile.from_address, "account": account})]


METHOD = SendingMethod(
    code=SendingProfile.Method.MICROSOFT.value,
    label=SendingProfile.Method.MICROSOFT.label,
    transport=MicrosoftGraphTransport,
    groups=(MAILBOX,),
    fields=MAILBOX.fields,
    unready=unready,
    route=route,
    advice=advice,
    oauth_provider="microsoft",
    oauth_label="Microsoft 365",
)
