"""What the Peppol access points' methods share (Billit, Recommand): their section of the
Peppol settings page, what they need before a document can leave, and their route sentence.

Their profiles belong to a billing company's Peppol settings (`peppol_company`), never to a
mail profile: their declarations say `channel="peppol"`, and the mail profile form offers only
the methods of the `email` channel.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _lazy

from courrier.mailing.methods.base import FieldGroup, stored
from courrier.mailing.models import SendingProfile
from courrier.texts import Text
from courrier.texts import sentence as _

ACCESS_POINT = FieldGroup(
    "peppol",
    _lazy("Point d'accès Peppol"),
    (
        "api_key",
        "clear_api_key",
        "api_secret",
        "clear_api_secret",
        "peppol_account",
        "api_base_url",
    ),
)


def unready(profile: SendingProfile, where: Text, *, secret: bool) -> Text | None:
    """The credentials the access point needs, or None when they are all there."""
    if (
        not stored(profile, "api_key")
        or (secret and not stored(profile, "api_secret"))
        or not profile.peppol_account.strip()
    ):
        return _(
            "Les identifiants du point d'accès Peppol %(provider)s sont incomplets : "
            "complétez %(where)s."
        ) % {"provider": profile.get_method_display(), "where": where}
    return None


def route(profile: SendingProfile) -> Text:
    return _("le point d'accès Peppol %(provider)s") % {"provider": profile.get_method_display()}
