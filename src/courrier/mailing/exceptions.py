"""What can go wrong when mail is composed or delivered, in three families.

Configuration errors are never retried (a person must fix a setting), transient errors are
retried with back-off, permanent errors end one message. Each carries a sentence for the
user in their language (`user_message`, also `str(exc)`) and, apart from it, the server's
own answer (`detail`), which is kept for the log and shown under the sentence.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext


class MailingError(Exception):
    """Base of every mailing error. `str(exc)` is the user's sentence."""

    default_message = _("L'envoi du message a échoué.")

    def __init__(
        self, user_message: str | None = None, *, detail: str = "", code: int | None = None
    ) -> None:
        self.user_message = str(user_message if user_message is not None else self.default_message)
        # The server's answer or the low-level error, never a secret.
        self.detail = detail
        # The SMTP reply code when there was one.
        self.code = code
        super().__init__(self.user_message)

    def __str__(self) -> str:
        return self.user_message

    @property
    def explanation(self) -> str:
        """The sentence, then the server's answer (or the technical detail) on its own line."""
        if not self.detail:
            return self.user_message
        if self.code is not None:
            line = pgettext("server answer", "Réponse du serveur : %(answer)s")
        else:
            line = pgettext("server answer", "Détail technique : %(answer)s")
        return f"{self.user_message}\n{line % {'answer': self.detail}}"


class ConfigurationError(MailingError):
    """A setting is wrong or missing; retrying cannot help."""

    default_message = _("Le paramétrage d'envoi est incomplet ou incorrect.")


class ProfileMissing(ConfigurationError):
    """The sender has no sending profile."""

    default_message = _(
        "Vous n'avez pas encore de paramétrage d'envoi : complétez l'onglet e-mail de « Ma fiche »."
    )


class ProfileRejected(ConfigurationError):
    """The server refused the profile itself (credentials, TLS, sender address).

    Every waiting message of the profile is held until the profile is fixed.
    """

    default_message = _("Le serveur a refusé le paramétrage d'envoi.")


class NeedsReconnect(ProfileRejected):
    """The mailbox's OAuth consent was revoked or expired: its owner must connect it again."""

    default_message = _(
        "L'accès à la boîte mail a été retiré ou a expiré : reconnectez-la dans le paramétrage "
        "d'envoi. Les messages en attente repartiront ensuite."
    )


class TransientError(MailingError):
    """A temporary failure: the message is tried again later.

    `retry_after` (seconds) is the provider's own wish (HTTP 429 / 503 Retry-After): the next
    try is not made before it.
    """

    default_message = _("Le serveur n'a pas pu prendre le message pour le moment.")

    def __init__(
        self,
        user_message: str | None = None,
        *,
        detail: str = "",
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(user_message, detail=detail, code=code)
        self.retry_after = retry_after


class PermanentError(MailingError):
    """This message cannot be delivered as it is (recipient refused, content refused)."""

    default_message = _("Le serveur a refusé définitivement le message.")


class DeliveryUncertain(MailingError):
    """The connection broke after the message was handed over but before the server answered.

    The message may have left: it is never resent automatically.
    """

    default_message = _(
        "La connexion a été interrompue pendant la transmission du message, avant la réponse "
        "du serveur : il est peut-être parti. Vérifiez auprès du destinataire avant de le renvoyer."
    )
