"""Transports: one module per sending method, chosen by a plain dict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from courrier.mailing.exceptions import ConfigurationError
from courrier.mailing.transports.anymail import TRANSPORTS as ANYMAIL_TRANSPORTS
from courrier.mailing.transports.base import Transport
from courrier.mailing.transports.gmail import GmailTransport
from courrier.mailing.transports.microsoft import MicrosoftGraphTransport
from courrier.mailing.transports.peppol import PeppolTransport
from courrier.mailing.transports.sendgrid import SendGridTransport
from courrier.mailing.transports.smtp import SMTPTransport
from courrier.texts import sentence as _

if TYPE_CHECKING:
    from courrier.mailing.models import SendingProfile

TRANSPORTS: dict[str, type[Transport]] = {
    "smtp": SMTPTransport,
    "gmail": GmailTransport,
    "microsoft": MicrosoftGraphTransport,
    "sendgrid": SendGridTransport,
    **ANYMAIL_TRANSPORTS,  # brevo, mailgun, postmark, ses
    # Peppol access points: one transport, the access point's API chosen by the method.
    "billit": PeppolTransport,
    "recommand": PeppolTransport,
}


def transport_for(profile: SendingProfile, **options: Any) -> Transport:
    """The transport of the profile's method; `options` go to its constructor."""
    try:
        transport_class = TRANSPORTS[profile.method]
    except KeyError:
        raise ConfigurationError(
            _("La méthode d'envoi « %(method)s » n'est pas disponible.")
            % {"method": profile.method}
        ) from None
    return transport_class(profile, **options)


__all__ = ["TRANSPORTS", "SMTPTransport", "Transport", "transport_for"]
