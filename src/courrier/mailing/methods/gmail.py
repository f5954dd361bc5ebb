"""Gmail: the Gmail API of a mailbox connected with the firm's Google OAuth application."""

from __future__ import annotations

from courrier.mailing.methods.base import MAILBOX, Advice, SendingMethod
from courrier.mailing.methods.mailbox import mailbox_unready
from courrier.mailing.models import SendingProfile
from courrier.mailing.transports.gmail import GmailTransport
from courrier.texts import Text
from courrier.texts import sentence as _


def unready(profile: SendingProfile, where: Text) -> Text | None:
    return mailbox_unready(profile, where, provider="google", label=_("Gmail"))


def route(profile: SendingProfile) -> Text:
    return _("l'API Gmail (compte %(account)s)") % {"account": profile.oauth_account or "—"}


def advice(profile: SendingProfile) -> list[Advice]:
    account = profile.oauth_account.strip()
    if not account or account.lower() == profile.from_address.strip().lower():
        return []
    message = _(
        "L'expéditeur %(sender)s n'est pas le compte connecté %(account)s : Gmail le "
        "remplacera par %(account)s, sauf s'il est déclaré et vérifié comme adresse "
        "« Envoyer des e-mails en tant que » de ce compte."
    )
    return [Advice("warning", message % {"sender": profile.from_address, "account": account})]


METHOD = SendingMethod(
    code=SendingProfile.Method.GMAIL.value,
    label=SendingProfile.Method.GMAIL.label,
    transport=GmailTransport,
    # The section shows the connection; the shared mailbox field is Microsoft's only.
    groups=(MAILBOX,),
    fields=(),
    unready=unready,
    route=route,
    advice=advice,
    oauth_provider="google",
    oauth_label="Gmail",
)
