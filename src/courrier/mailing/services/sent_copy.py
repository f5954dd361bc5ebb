"""A copy of each mail sent by SMTP in the sender's "Sent" folder: which messages, when, how often.

Gmail and Microsoft Graph file what they send themselves; an SMTP server does not, so a
profile may ask for a copy to be appended to its mailbox (`transports/imap.py` speaks IMAP).
The copy is a separate task, enqueued once the message is recorded as sent: its outcome never
changes the message's delivery status (the mail left); it is kept in `OutboundMessage.sent_copy`
and as a line of the message's attempt log.

A message is copied at most once. A run claims it as a delivery run claims its messages
(`leases`: the run's token and a lease on the row, with `sent_copy` set to "copying") and
writes its outcome only while it still holds it; a run that died leaves the claim to be taken
over once the lease has passed. Before appending, the run searches the folder for the
message's Message-ID, so a retry after a connection that broke during APPEND finds the copy
the server had already stored instead of adding a second one. A transient failure (refused
connection, time-out) is tried again by a new task, COURRIER["IMAP_MAX_ATTEMPTS"] tries in
all, `leases.backoff` apart.
"""

from __future__ import annotations

import logging
import ssl
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import default as default_policy

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from courrier.crypto import SecretUnreadable
from courrier.mailing.exceptions import (
    SERVER_ANSWER,
    ConfigurationError,
    MailingError,
    TransientError,
)
from courrier.mailing.models import (
    DeliveryAttempt,
    MessageContent,
    OutboundMessage,
    SendingProfile,
    SentCopy,
)
from courrier.mailing.services import leases
from courrier.mailing.transports.imap import IMAPSession
from courrier.texts import Lines, Text, Verbatim, said
from courrier.texts import sentence as _

logger = logging.getLogger("courrier.mailing")

# A run is copying the message: it lasts while the run holds its lease.
COPYING = SentCopy.COPYING


def _max_attempts() -> int:
    return int(settings.COURRIER["IMAP_MAX_ATTEMPTS"])


def _message_date(message: OutboundMessage, raw: bytes) -> datetime:
    """The Date header the recipient sees, so the copy sorts where the mail was written."""
    try:
        header = BytesHeaderParser(policy=default_policy).parsebytes(raw)["Date"]
        when = getattr(header, "datetime", None)
    except (ValueError, TypeError):
        when = None
    if isinstance(when, datetime) and when.tzinfo is not None:
        return when
    return message.sent_at or timezone.now()


def sent_copy_enqueue(
    *, message_pk: int, attempt: int = 1, run_after: datetime | None = None
) -> None:
    """Enqueue the copy task of a sent message. Never raises: the mail itself has left."""
    # Imported here: the task module imports the services.
    from courrier.mailing.tasks import copy_to_sent

    try:
        task = copy_to_sent.using(run_after=run_after) if run_after else copy_to_sent
        task.enqueue(message_pk, attempt)
    except Exception:
        logger.exception(
            "message %s: the copy to the Sent folder could not be enqueued", message_pk
        )


def _claim(message: OutboundMessage, token: str) -> bool:
    """Take the message's copy for the run `token`: not made yet, or left by a run whose
    lease has passed; only a sent message of an SMTP profile that asks for a copy."""
    now = timezone.now()
    free = Q(sent_copy="") | (Q(sent_copy=COPYING) & leases.lease_expired(now))
    rows = OutboundMessage.objects.filter(
        free, pk=message.pk, status=OutboundMessage.Status.SENT
    ).filter(profile__method=SendingProfile.Method.SMTP, profile__imap_enabled=True)
    return bool(leases.claim(rows, token=token, now=now, sent_copy=COPYING))


def _settle(
    message: OutboundMessage,
    token: str,
    *,
    state: str,
    outcome: str,
    detail: Text,
    started_at: datetime,
) -> None:
    """Write the copy's state (done, failed, or "" to be taken again) and its line in the
    attempt log, in one transaction, if the run `token` still holds the message."""
    now = timezone.now()
    with transaction.atomic():
        mine = leases.owned(token, message.pk).filter(sent_copy=COPYING)
        if leases.lease_end(mine, now=now, sent_copy=state):
            DeliveryAttempt.objects.create(
                message=message,
                started_at=started_at,
                finished_at=now,
                outcome=outcome,
                detail=detail,
            )
    message.sent_copy = state


def sent_copy_append(
    *, message: OutboundMessage, attempt: int = 1, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Append the stored bytes of a sent message to its sender's Sent folder, once.

    The outcome is kept in `message.sent_copy` (done / failed) and as a line of the
    message's attempt log; a transient failure is tried again later by a new task. The
    message's own status is never changed: the mail has left.
    """
    token = leases.run_token()
    if not _claim(message, token):
        logger.info("message %s: no copy to make, or another run makes it", message.pk)
        return
    started_at = timezone.now()
    prefix = _("Copie dans « Éléments envoyés » (IMAP) : %(outcome)s")
    try:
        try:
            profile = SendingProfile.objects.get(pk=message.profile_id)
        except SecretUnreadable as exc:
            raise ConfigurationError(
                _(
                    "Un mot de passe enregistré du paramétrage d'envoi ne peut pas être "
                    "déchiffré : saisissez-le à nouveau."
                )
            ) from exc
        raw = bytes(
            MessageContent.objects.filter(message_id=message.pk).values_list("raw", flat=True).get()
        )
        with IMAPSession(profile, ssl_context=ssl_context) as session:
            target = session.sent_folder()
            if session.contains(target.folder, message.message_id):
                note: Text = _(
                    "le message y était déjà (copie d'un essai précédent), rien n'est ajouté."
                )
            else:
                answer = session.append(target.folder, raw, _message_date(message, raw))
                note = _("déposée dans le dossier « %(folder)s », marquée comme lue.") % {
                    "folder": target.folder.name
                }
                if answer:
                    note = Lines(note, said(SERVER_ANSWER, {"answer": Verbatim(answer)}))
    except TransientError as exc:
        if attempt < _max_attempts():
            when = timezone.now() + timedelta(seconds=leases.backoff(attempt))
            _settle(
                message,
                token,
                state="",
                outcome=DeliveryAttempt.Outcome.TRANSIENT,
                detail=Lines(
                    prefix % {"outcome": exc.explanation},
                    _("Nouvel essai prévu le %(when)s.") % {"when": when},
                ),
                started_at=started_at,
            )
            sent_copy_enqueue(message_pk=message.pk, attempt=attempt + 1, run_after=when)
            logger.info("message %s: copy to Sent tried again at %s: %s", message.pk, when, exc)
            return
        reason = _("abandonné après %(count)d essais. Dernière erreur : %(error)s") % {
            "count": attempt,
            "error": exc.explanation,
        }
        _failed(
            message,
            token,
            started_at,
            prefix % {"outcome": reason},
            DeliveryAttempt.Outcome.TRANSIENT,
        )
        return
    except MailingError as exc:
        outcome = (
            DeliveryAttempt.Outcome.PROFILE
            if isinstance(exc, ConfigurationError)
            else DeliveryAttempt.Outcome.PERMANENT
        )
        _failed(message, token, started_at, prefix % {"outcome": exc.explanation}, outcome)
        return
    except BaseException:
        # A fault of ours: let another run take the copy over (it searches before appending).
        leases.lease_end(leases.owned(token, message.pk).filter(sent_copy=COPYING), sent_copy="")
        raise
    if target.fallback:
        note = Lines(
            note,
            _(
                "Le dossier « %(configured)s » n'existe pas : le dossier des messages envoyés du "
                "serveur, « %(folder)s », a été utilisé. Corrigez le nom du dossier dans le "
                "paramétrage d'envoi."
            )
            % {"configured": target.configured or "—", "folder": target.folder.name},
        )
    _settle(
        message,
        token,
        state=SentCopy.DONE,
        outcome=DeliveryAttempt.Outcome.SENT,
        detail=prefix % {"outcome": note},
        started_at=started_at,
    )
    logger.info("message %s: copy appended to %s", message.pk, target.folder.name)


def _failed(
    message: OutboundMessage, token: str, started_at: datetime, detail: Text, outcome: str
) -> None:
    _settle(
        message, token, state=SentCopy.FAILED, outcome=outcome, detail=detail, started_at=started_at
    )
    logger.warning("message %s: copy to Sent failed: %s", message.pk, detail)
