"""What can go wrong when mail is composed or delivered, in three families.

Configuration errors are never retried (a person must fix a setting), transient errors are
retried with back-off, permanent errors end one message. Each carries what to tell the user
as a `Text` (`text`: a French msgid and its parameters, see `courrier.texts`), put into words
in the reader's language only when it is shown (`str(exc)` and `user_message` render it in the
active language), and, apart from it, the server's own answer (`detail`), kept as the server
wrote it and shown under the sentence (`explanation`, a Text too: what delivery stores).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_noop, pgettext_lazy

from courrier.texts import Lines, Text, said

SERVER_ANSWER = pgettext_lazy("server answer", "Réponse du serveur : %(answer)s")
TECHNICAL_DETAIL = pgettext_lazy("server answer", "Détail technique : %(answer)s")
# Made once: delivery builds an explanation for every message that fails.
_ANSWER_LINES = {True: said(SERVER_ANSWER), False: said(TECHNICAL_DETAIL)}


class MailingError(Exception):
    """Base of every mailing error. `str(exc)` is the user's sentence in the active language.

    `message` is the French msgid of the sentence (marked with `gettext_noop`) or a Text;
    `params` fill its placeholders (plain values, or Texts translated in turn)."""

    default_message = gettext_noop("L'envoi du message a échoué.")

    def __init__(
        self,
        message: str | Text | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        detail: str = "",
        code: int | None = None,
    ) -> None:
        self.text: Text = said(message if message is not None else self.default_message, params)
        # The server's answer or the low-level error, never a secret.
        self.detail = detail
        # The SMTP reply code when there was one.
        self.code = code
        super().__init__(self.text)

    @property
    def user_message(self) -> str:
        """The sentence in the active language."""
        return self.text.render()

    def __str__(self) -> str:
        return self.user_message

    @property
    def explanation(self) -> Text:
        """The sentence, then the server's answer (or the technical detail) on its own line."""
        if not self.detail:
            return self.text
        line = _ANSWER_LINES[self.code is not None]
        return Lines(self.text, said(line, {"answer": self.detail}))


class ConfigurationError(MailingError):
    """A setting is wrong or missing; retrying cannot help."""

    default_message = gettext_noop("Le paramétrage d'envoi est incomplet ou incorrect.")


class ProfileMissing(ConfigurationError):
    """The sender has no sending profile."""

    default_message = gettext_noop(
        "Vous n'avez pas encore de paramétrage d'envoi : complétez l'onglet e-mail de « Ma fiche »."
    )


class ProfileRejected(ConfigurationError):
    """The server refused the profile itself (credentials, TLS, sender address).

    Every waiting message of the profile is held until the profile is fixed.
    """

    default_message = gettext_noop("Le serveur a refusé le paramétrage d'envoi.")


class NeedsReconnect(ProfileRejected):
    """The mailbox's OAuth consent was revoked or expired: its owner must connect it again."""

    default_message = gettext_noop(
        "L'accès à la boîte mail a été retiré ou a expiré : reconnectez-la dans le paramétrage "
        "d'envoi. Les messages en attente repartiront ensuite."
    )


class TransientError(MailingError):
    """A temporary failure: the message is tried again later.

    `retry_after` (seconds) is the provider's own wish (HTTP 429 / 503 Retry-After): the next
    try is not made before it.
    """

    default_message = gettext_noop("Le serveur n'a pas pu prendre le message pour le moment.")

    def __init__(
        self,
        message: str | Text | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        detail: str = "",
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, params, detail=detail, code=code)
        self.retry_after = retry_after


class PermanentError(MailingError):
    """This message cannot be delivered as it is (recipient refused, content refused)."""

    default_message = gettext_noop("Le serveur a refusé définitivement le message.")


class DeliveryUncertain(MailingError):
    """The connection broke after the message was handed over but before the server answered.

    The message may have left: it is never resent automatically.
    """

    default_message = gettext_noop(
        "La connexion a été interrompue pendant la transmission du message, avant la réponse "
        "du serveur : il est peut-être parti. Vérifiez auprès du destinataire avant de le renvoyer."
    )
