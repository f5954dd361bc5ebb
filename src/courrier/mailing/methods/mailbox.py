"""What the two connected-mailbox methods (Gmail, Microsoft 365) share: the mailbox is
connected by the firm's OAuth application rather than typed in, so the profile is ready once
the application is registered and the mailbox connected."""

from __future__ import annotations

from courrier.mailing.methods.base import mailbox_connected, oauth_configured
from courrier.mailing.models import SendingProfile
from courrier.texts import Text
from courrier.texts import sentence as _


def mailbox_unready(
    profile: SendingProfile, where: Text, *, provider: str, label: Text
) -> Text | None:
    """Why a connected-mailbox profile cannot send, or None."""
    if mailbox_connected(profile, provider):
        return None
    if not oauth_configured(provider):
        # Read by collaborators too: in plain words (the profile page tells an
        # administrator which settings to fill in).
        return _(
            "L'envoi par %(label)s n'est pas encore activé pour le cabinet : c'est à "
            "l'administrateur du cabinet de l'activer."
        ) % {"label": label}
    return _("La boîte %(label)s n'est pas connectée : cliquez « Connecter » dans %(where)s.") % {
        "label": label,
        "where": where,
    }
