"""The outbox: compose, deliver, recover, cancel, retry. The only code that writes messages.

A message is committed (bytes built once, Message-ID fixed) before any attempt to send it.
A delivery run claims messages with a conditional UPDATE and a token of its own; every later
write of the run is conditional on that token, so two runs never send the same message and a
run that lost its claim changes nothing. A message whose fate is unknown becomes
"uncertain" and is never resent automatically.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime, make_msgid
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.clients.models import Client, ClientEmail
from courrier.crypto import SecretUnreadable
from courrier.firm.models import Collaborator, Firm
from courrier.languages import MailLanguage
from courrier.mailing.exceptions import (
    ConfigurationError,
    DeliveryUncertain,
    MailingError,
    PermanentError,
    ProfileMissing,
    ProfileRejected,
    TransientError,
)
from courrier.mailing.fields import client_values
from courrier.mailing.models import (
    DeliveryAttempt,
    MailTemplate,
    OutboundMessage,
    ProfileTest,
    SendingProfile,
)
from courrier.mailing.rendering import Rendered, render
from courrier.mailing.transports import transport_for
from courrier.validators import validate_header_text

logger = logging.getLogger("courrier.mailing")

Status = OutboundMessage.Status
Outcome = DeliveryAttempt.Outcome

CLIENT_CONTEXT = "client"
MAX_SUBJECT_LENGTH = 998  # RFC 5322 line limit, and the column's size
# Waiting messages: ready now, or to be retried at their time.
WAITING = (Status.QUEUED, Status.RETRY)


# -- the sending profile ---------------------------------------------------------------------


def profile_for_sender(*, sender: Collaborator) -> SendingProfile:
    """The collaborator's own sending profile. Raises ProfileMissing, or ConfigurationError when
    its password cannot be decrypted with the installation's keys."""
    try:
        profile = SendingProfile.objects.filter(collaborator=sender).first()
    except SecretUnreadable as exc:
        raise ConfigurationError(
            _(
                "Le mot de passe enregistré dans votre paramétrage d'envoi ne peut plus être lu "
                "(la clé de chiffrement de l'installation a changé) : saisissez-le à nouveau "
                "dans « Ma fiche »."
            )
        ) from exc
    if profile is None:
        raise ProfileMissing()
    return profile


def _profile_problem(profile: SendingProfile) -> ConfigurationError | None:
    """Why this profile cannot send now, or None when it can."""
    if profile.state == SendingProfile.State.BROKEN:
        reason = profile.state_reason or _("le serveur l'a refusé.")
        return ProfileRejected(
            _(
                "Votre paramétrage d'envoi est à corriger avant d'envoyer : %(reason)s "
                "Corrigez-le dans « Ma fiche » ; les messages en attente repartiront ensuite."
            )
            % {"reason": reason}
        )
    if profile.method == SendingProfile.Method.SMTP and not profile.smtp_host.strip():
        return ConfigurationError(
            _("Votre paramétrage d'envoi n'indique pas de serveur SMTP : complétez « Ma fiche ».")
        )
    return None


# -- preview and compose ----------------------------------------------------------------------


@dataclass
class Preview:
    rendered: Rendered
    to: list[str]
    from_header: str
    reply_to: str
    headers: dict[str, str]
    language: str
    language_fallback: bool
    warnings: list[str]
    attachments: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class _Draft:
    """Everything compose needs before it stores anything; also what the preview shows."""

    profile: SendingProfile
    preview: Preview


def _display_name(name: str) -> str:
    name = " ".join(name.split())
    if any(char in name for char in '()<>@,;:\\".[]'):
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return name


def _draft(
    *, sender: Collaborator, client: Client, subject: str, body: str, language: str | None
) -> _Draft:
    profile = profile_for_sender(sender=sender)
    language = language or client.language
    if language not in MailLanguage.values:
        raise ValidationError(
            _("Langue de message inconnue : « %(language)s »."),
            code="language",
            params={"language": language},
        )
    values = client_values(client=client, sender=sender, language=language)
    rendered = render(
        subject=subject,
        body=body,
        values=values,
        context=CLIENT_CONTEXT,
        language=language,
        signature=sender.signature,
    )
    if len(rendered.subject) > MAX_SUBJECT_LENGTH:
        raise ValidationError(_("Le sujet est trop long."), code="subject_length")
    name = profile.from_name.strip() or str(sender)
    validate_header_text(name)
    from_header = f"{_display_name(name)} <{profile.from_address}>" if name else ""
    from_header = from_header or profile.from_address
    to = client.addresses(ClientEmail.Purpose.GENERAL) or client.addresses()

    warnings: list[str] = []
    if not to:
        warnings.append(
            _("Ce client n'a pas d'adresse e-mail : ajoutez-en une dans sa fiche avant d'envoyer.")
        )
    for code in rendered.empty_fields:
        warnings.append(
            _("Le champ {%(code)s} est vide pour ce client.") % {"code": code},
        )
    language_fallback = language != client.language
    if language_fallback:
        warnings.append(
            _("Ce client lit le %(client_language)s ; ce message part en %(language)s.")
            % {
                "client_language": MailLanguage(client.language).label,
                "language": MailLanguage(language).label,
            }
        )
    problem = _profile_problem(profile)
    if problem is not None:
        warnings.append(problem.user_message)

    headers = {"From": from_header, "To": ", ".join(to), "Subject": rendered.subject}
    if profile.reply_to:
        headers["Reply-To"] = profile.reply_to
    headers["Content-Language"] = language
    return _Draft(
        profile=profile,
        preview=Preview(
            rendered=rendered,
            to=to,
            from_header=from_header,
            reply_to=profile.reply_to,
            headers=headers,
            language=language,
            language_fallback=language_fallback,
            warnings=warnings,
        ),
    )


def message_preview(
    *, sender: Collaborator, client: Client, subject: str, body: str, language: str | None = None
) -> Preview:
    """Exactly what message_compose would send, nothing stored. Raises ValidationError for
    unknown fields or a line break in the subject, ProfileMissing without a profile; a client
    without address, empty fields or a profile to fix are warnings here."""
    return _draft(
        sender=sender, client=client, subject=subject, body=body, language=language
    ).preview


def _mime_bytes(*, preview: Preview, message_id: str, row_id: int) -> bytes:
    rendered = preview.rendered
    mail = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=preview.from_header,
        to=preview.to,
        reply_to=[preview.reply_to] if preview.reply_to else None,
        headers={
            # The firm's local time, with its offset (Django's default says "-0000": unknown).
            "Date": format_datetime(timezone.localtime()),
            "Message-ID": message_id,
            "Content-Language": preview.language,
            "X-Courrier-Message": str(row_id),
        },
    )
    mail.attach_alternative(rendered.html, "text/html")
    # CRLF everywhere: strict servers refuse bare LF, and the bytes are sent as they are.
    return mail.message().as_bytes(linesep="\r\n")


def _message_id(from_address: str) -> str:
    domain = from_address.rpartition("@")[2]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = "courrier.invalid"
    return make_msgid(domain=domain or "courrier.invalid")


def message_compose(
    *,
    sender: Collaborator,
    client: Client,
    subject: str,
    body: str,
    language: str | None = None,
    template: MailTemplate | None = None,
    archive: bool = True,
    purpose: str = "client",
    idempotency_key: str | None = None,
) -> OutboundMessage:
    """Validate, render, build the message once and store it as queued; delivery is enqueued
    when the transaction commits. A known `idempotency_key` returns its message unchanged."""
    if idempotency_key:
        existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    draft = _draft(sender=sender, client=client, subject=subject, body=body, language=language)
    profile, preview = draft.profile, draft.preview
    problem = _profile_problem(profile)
    if problem is not None:
        raise problem
    if not preview.to:
        raise ValidationError(
            _("Le client %(client)s n'a pas d'adresse e-mail : ajoutez-en une dans sa fiche."),
            code="no_address",
            params={"client": client.display_name},
        )
    recipients = list(preview.to)
    fixed_bcc = Firm.load().fixed_bcc
    if fixed_bcc and fixed_bcc not in recipients:
        # A blind copy: in the envelope only, never in a header.
        recipients.append(fixed_bcc)
    message_id = _message_id(profile.from_address)
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(
                profile=profile,
                sender=sender,
                client=client,
                purpose=purpose,
                template=template,
                idempotency_key=idempotency_key or None,
                archived=archive,
                language=preview.language,
                message_id=message_id,
                subject=preview.rendered.subject,
                from_address=profile.from_address,
                to=preview.to,
                envelope_recipients=recipients,
                raw=b"",
                status=Status.QUEUED,
            )
            raw = _mime_bytes(preview=preview, message_id=message_id, row_id=message.pk)
            if len(raw) > settings.COURRIER["MAX_MESSAGE_BYTES"]:
                raise ValidationError(_("Le message est trop volumineux."), code="size")
            message.raw = raw
            message.size = len(raw)
            message.save(update_fields=["raw", "size"])
            transaction.on_commit(partial(_enqueue_delivery, profile.pk), robust=True)
    except IntegrityError:
        # Another request stored the same key a moment ago: that message is the answer.
        if idempotency_key:
            existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing
        raise
    logger.info(
        "message %s queued for profile %s (%d bytes, %d recipients)",
        message.pk,
        profile.pk,
        message.size,
        len(recipients),
    )
    return message


def delivery_enqueue(*, profile_id: int, run_after: datetime | None = None) -> None:
    """Enqueue a delivery run for the profile (now, or not before `run_after`)."""
    # Imported here: the task module imports this one.
    from courrier.mailing.tasks import deliver_profile

    task = deliver_profile.using(run_after=run_after) if run_after else deliver_profile
    task.enqueue(profile_id)


def _enqueue_delivery(profile_id: int, *, run_after: datetime | None = None) -> None:
    delivery_enqueue(profile_id=profile_id, run_after=run_after)


# -- delivery ---------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    profile_id: int
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    held: int = 0
    uncertain: int = 0
    # The run took a full batch: more messages may be waiting.
    more: bool = False
    next_attempt_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["next_attempt_at"] = self.next_attempt_at.isoformat() if self.next_attempt_at else None
        return data


def _ready(now: datetime) -> Q:
    return Q(status=Status.QUEUED) | Q(status=Status.RETRY, next_attempt_at__lte=now)


def _lease() -> timedelta:
    return timedelta(seconds=settings.COURRIER["SENDING_LEASE_SECONDS"])


def _claim(*, profile_id: int, limit: int, token: str) -> list[OutboundMessage]:
    now = timezone.now()
    with transaction.atomic():
        candidates = (
            OutboundMessage.objects.filter(profile_id=profile_id)
            .filter(_ready(now))
            .order_by("created_at", "id")
        )
        if connection.features.has_select_for_update_skip_locked:
            # PostgreSQL: workers skip each other's rows instead of queueing behind them.
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        # The guard: only rows still waiting change, and the token says which run owns them.
        OutboundMessage.objects.filter(pk__in=ids).filter(_ready(now)).update(
            status=Status.SENDING,
            claimed_by=token,
            lease_expires_at=now + _lease(),
            next_attempt_at=None,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    return list(
        OutboundMessage.objects.filter(claimed_by=token, status=Status.SENDING).order_by(
            "created_at", "id"
        )
    )


class _Run:
    """One delivery run over one profile's claimed messages."""

    def __init__(self, profile: SendingProfile, token: str, report: DeliveryReport) -> None:
        self.profile = profile
        self.token = token
        self.report = report

    def owned(self, *pks: int, statuses: Iterable[str] = (Status.SENDING,)) -> QuerySet[Any]:
        return OutboundMessage.objects.filter(
            pk__in=pks, claimed_by=self.token, status__in=list(statuses)
        )

    def renew(self, pks: list[int]) -> None:
        now = timezone.now()
        self.owned(*pks).update(lease_expires_at=now + _lease(), updated_at=now)

    def begin(self, message: OutboundMessage) -> DeliveryAttempt | None:
        """Record the attempt before a byte leaves; None when the claim was lost."""
        now = timezone.now()
        with transaction.atomic():
            if not self.owned(message.pk).update(lease_expires_at=now + _lease(), updated_at=now):
                return None
            # Until the answer is known the attempt's outcome is, truthfully, uncertain; the
            # sweeper relies on it after a crash.
            return DeliveryAttempt.objects.create(
                message=message, started_at=now, outcome=Outcome.UNCERTAIN
            )

    def settle(
        self,
        message: OutboundMessage,
        attempt: DeliveryAttempt | None,
        *,
        outcome: str,
        detail: str,
        statuses: Iterable[str] = (Status.SENDING,),
        **fields: Any,
    ) -> bool:
        now = timezone.now()
        with transaction.atomic():
            changed = self.owned(message.pk, statuses=statuses).update(
                lease_expires_at=None, updated_at=now, **fields
            )
            if attempt is not None:
                attempt.outcome = outcome
                attempt.detail = detail
                attempt.finished_at = now
                attempt.save(update_fields=["outcome", "detail", "finished_at"])
        return bool(changed)

    def sent(self, message: OutboundMessage, attempt: DeliveryAttempt, answer: str) -> None:
        first_line, _sep, notes = answer.partition("\n")
        # The server's answer is the truth even if the sweeper gave up on the message meanwhile.
        self.settle(
            message,
            attempt,
            outcome=Outcome.SENT,
            detail=answer,
            statuses=(Status.SENDING, Status.UNCERTAIN),
            status=Status.SENT,
            sent_at=timezone.now(),
            provider_message_id=first_line[:255],
            last_error=notes,
        )
        self.report.sent += 1
        logger.info("message %s sent: %s", message.pk, first_line)

    def failed(
        self, message: OutboundMessage, attempt: DeliveryAttempt | None, error: MailingError
    ) -> None:
        outcome = Outcome.PERMANENT if isinstance(error, PermanentError) else Outcome.TRANSIENT
        self.settle(
            message,
            attempt,
            outcome=outcome,
            detail=error.explanation,
            status=Status.FAILED,
            last_error=error.explanation,
        )
        self.report.failed += 1
        logger.warning("message %s failed: %s", message.pk, error.explanation)

    def transient(
        self, message: OutboundMessage, attempt: DeliveryAttempt | None, error: MailingError
    ) -> None:
        limit = settings.COURRIER["MAX_ATTEMPTS"]
        if message.attempts >= limit:
            given_up = PermanentError(
                _("Abandonné après %(count)d essais. Dernière erreur : %(error)s")
                % {"count": message.attempts, "error": error.user_message},
                detail=error.detail,
                code=error.code,
            )
            self.failed(message, attempt, given_up)
            return
        when = timezone.now() + timedelta(seconds=retry_delay(message.attempts))
        self.settle(
            message,
            attempt,
            outcome=Outcome.TRANSIENT,
            detail=error.explanation,
            status=Status.RETRY,
            next_attempt_at=when,
            last_error=error.explanation,
        )
        self.report.retry += 1
        if self.report.next_attempt_at is None or when < self.report.next_attempt_at:
            self.report.next_attempt_at = when
        logger.info("message %s will be tried again at %s: %s", message.pk, when, error)

    def uncertain(
        self, message: OutboundMessage, attempt: DeliveryAttempt | None, explanation: str
    ) -> None:
        self.settle(
            message,
            attempt,
            outcome=Outcome.UNCERTAIN,
            detail=explanation,
            status=Status.UNCERTAIN,
            last_error=explanation,
        )
        self.report.uncertain += 1
        logger.warning("message %s uncertain: %s", message.pk, explanation)

    def hold(
        self,
        message: OutboundMessage | None,
        attempt: DeliveryAttempt | None,
        error: MailingError,
        *,
        untried: list[OutboundMessage],
    ) -> None:
        """The profile is refused: it is marked broken and every waiting message is held."""
        reason = error.explanation
        now = timezone.now()
        with transaction.atomic():
            SendingProfile.objects.filter(pk=self.profile.pk).update(
                state=SendingProfile.State.BROKEN, state_reason=reason
            )
            if message is not None and self.settle(
                message,
                attempt,
                outcome=Outcome.PROFILE,
                detail=reason,
                status=Status.HELD,
                last_error=reason,
            ):
                self.report.held += 1
            if untried:
                # Never tried in this run: the claim does not count as an attempt.
                self.report.held += self.owned(*[m.pk for m in untried]).update(
                    status=Status.HELD,
                    lease_expires_at=None,
                    attempts=F("attempts") - 1,
                    last_error=reason,
                    updated_at=now,
                )
            self.report.held += _hold_waiting(self.profile.pk, reason)
        logger.warning(
            "profile %s refused by its server, messages held: %s", self.profile.pk, reason
        )

    def release(self, untried: list[OutboundMessage]) -> None:
        """Give back messages this run claimed but never tried."""
        if untried:
            self.owned(*[m.pk for m in untried]).update(
                status=Status.QUEUED,
                lease_expires_at=None,
                attempts=F("attempts") - 1,
                updated_at=timezone.now(),
            )


def _hold_waiting(profile_id: int, reason: str) -> int:
    return OutboundMessage.objects.filter(profile_id=profile_id, status__in=WAITING).update(
        status=Status.HELD, next_attempt_at=None, last_error=reason, updated_at=timezone.now()
    )


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` tries: doubling from RETRY_BASE_SECONDS,
    capped, with jitter so that a server's recovery is not met by every message at once."""
    base = float(settings.COURRIER["RETRY_BASE_SECONDS"])
    cap = float(settings.COURRIER.get("RETRY_MAX_SECONDS", 3600.0))
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def messages_deliver(*, profile_id: int, limit: int | None = None) -> DeliveryReport:
    """Claim up to `limit` ready messages of the profile and send them over one connection.

    Each outcome is recorded on the message and in its attempt log. A follow-up delivery is
    enqueued for the retries and when the batch was full.
    """
    report = DeliveryReport(profile_id=profile_id)
    batch = int(limit or settings.COURRIER["DELIVERY_BATCH"])
    # A wrong encryption key raises SecretUnreadable here: loudly, with nothing claimed.
    profile = SendingProfile.objects.filter(pk=profile_id).first()
    if profile is None:
        return report
    if profile.state == SendingProfile.State.BROKEN:
        report.held = _hold_waiting(profile.pk, profile.state_reason)
        return report

    token = uuid.uuid4().hex
    claimed = _claim(profile_id=profile.pk, limit=batch, token=token)
    report.claimed = len(claimed)
    report.more = len(claimed) >= batch
    if claimed:
        _send(_Run(profile, token, report), claimed)
    if report.more:
        _enqueue_delivery(profile.pk)
    if report.retry and report.next_attempt_at is not None:
        _enqueue_delivery(profile.pk, run_after=report.next_attempt_at)
    return report


def _send(run: _Run, claimed: list[OutboundMessage]) -> None:
    pending = list(claimed)
    lease_seconds = _lease().total_seconds()
    renewed_at = timezone.now()
    try:
        transport = transport_for(run.profile)
    except ConfigurationError as exc:
        run.hold(None, None, exc, untried=pending)
        return
    try:
        while pending:
            message = pending[0]
            if (timezone.now() - renewed_at).total_seconds() > lease_seconds / 4:
                # A slow server must not let the lease of the messages still waiting expire.
                run.renew([m.pk for m in pending])
                renewed_at = timezone.now()
            if not transport.is_open:
                try:
                    transport.open()
                except ConfigurationError as exc:
                    run.hold(None, None, exc, untried=pending)
                    pending.clear()
                    break
                except MailingError as exc:
                    # Nothing goes through now: every claimed message gets the same answer
                    # instead of waiting for its own timeout.
                    for waiting in pending:
                        run.transient(waiting, _attempt_now(waiting, exc), exc)
                    pending.clear()
                    break
            attempt = run.begin(message)
            if attempt is None:
                pending.pop(0)
                continue
            try:
                answer = transport.send(message)
            except ConfigurationError as exc:
                pending.pop(0)
                run.hold(message, attempt, exc, untried=pending)
                pending.clear()
                break
            except TransientError as exc:
                run.transient(message, attempt, exc)
            except PermanentError as exc:
                run.failed(message, attempt, exc)
            except DeliveryUncertain as exc:
                run.uncertain(message, attempt, exc.explanation)
            except MailingError as exc:
                run.failed(message, attempt, exc)
            except Exception as exc:
                # A fault of ours, not an answer from the server: it may or may not have left.
                pending.pop(0)
                run.uncertain(
                    message,
                    attempt,
                    _("Erreur interne pendant l'envoi : %(error)s") % {"error": repr(exc)},
                )
                raise
            else:
                run.sent(message, attempt, answer)
            pending.pop(0)
    finally:
        transport.close()
        run.release(pending)
        if pending:
            _enqueue_delivery(run.profile.pk)


def _attempt_now(message: OutboundMessage, error: MailingError) -> DeliveryAttempt:
    now = timezone.now()
    return DeliveryAttempt.objects.create(
        message=message, started_at=now, outcome=Outcome.TRANSIENT, detail=error.explanation
    )


# -- the sweeper ------------------------------------------------------------------------------


def messages_recover(*, now: datetime | None = None) -> int:
    """Settle messages left in "sending" past their lease (a worker stopped mid-run).

    One that had been handed to the transport becomes "uncertain", with an explanation: it may
    have left, so it is never resent automatically. One that the run had claimed but not yet
    tried goes back to the queue. Returns the number of messages settled.
    """
    now = now or timezone.now()
    expired = Q(status=Status.SENDING) & (
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    )
    explanation = _(
        "L'envoi a été interrompu (arrêt du programme d'envoi ?) avant la réponse du serveur : "
        "le message est peut-être parti. Il ne sera pas renvoyé automatiquement ; vérifiez "
        "auprès du destinataire, puis renvoyez-le ou annulez-le."
    )
    settled = 0
    requeued: set[int] = set()
    rows = OutboundMessage.objects.filter(expired).values_list("pk", "claimed_by", "profile_id")
    for pk, token, profile_id in rows:
        with transaction.atomic():
            open_attempts = DeliveryAttempt.objects.filter(message_id=pk, finished_at__isnull=True)
            mine = OutboundMessage.objects.filter(expired, pk=pk, claimed_by=token)
            if open_attempts.exists():
                changed = mine.update(
                    status=Status.UNCERTAIN,
                    lease_expires_at=None,
                    last_error=explanation,
                    updated_at=now,
                )
                if changed:
                    open_attempts.update(finished_at=now, detail=explanation)
                    logger.warning("message %s uncertain: its delivery run stopped", pk)
            else:
                changed = mine.update(
                    status=Status.QUEUED,
                    lease_expires_at=None,
                    attempts=F("attempts") - 1,
                    updated_at=now,
                )
                if changed:
                    requeued.add(profile_id)
                    logger.info("message %s requeued: claimed by a stopped run, never tried", pk)
            settled += changed
    for profile_id in sorted(requeued):
        transaction.on_commit(partial(_enqueue_delivery, profile_id), robust=True)
    return settled


def profiles_waiting(*, now: datetime | None = None) -> list[int]:
    """Profiles with a message ready to go (for the cron command that re-kicks delivery)."""
    now = now or timezone.now()
    return sorted(
        set(OutboundMessage.objects.filter(_ready(now)).values_list("profile_id", flat=True))
    )


# -- what a person decides ------------------------------------------------------------------


def message_cancel(*, message: OutboundMessage, by: Collaborator) -> None:
    """Cancel a message that has not left: queued, retry, held or uncertain."""
    allowed = (Status.QUEUED, Status.RETRY, Status.HELD, Status.UNCERTAIN)
    changed = OutboundMessage.objects.filter(pk=message.pk, status__in=allowed).update(
        status=Status.CANCELLED, next_attempt_at=None, updated_at=timezone.now()
    )
    message.refresh_from_db()
    if not changed:
        raise ValidationError(
            _("Ce message ne peut pas être annulé : il est « %(status)s »."),
            code="cancel_not_allowed",
            params={"status": message.get_status_display()},
        )
    logger.info("message %s cancelled by collaborator %s", message.pk, by.pk)


def message_retry(*, message: OutboundMessage, by: Collaborator) -> None:
    """Send again a failed or uncertain message (a person decided), with the same bytes and
    Message-ID. It waits as held while its profile is to be fixed."""
    allowed = (Status.FAILED, Status.UNCERTAIN)
    profile_ok = (
        SendingProfile.objects.filter(pk=message.profile_id, state=SendingProfile.State.OK)
        .only("pk")
        .exists()
    )
    with transaction.atomic():
        changed = OutboundMessage.objects.filter(pk=message.pk, status__in=allowed).update(
            status=Status.QUEUED if profile_ok else Status.HELD,
            attempts=0,
            next_attempt_at=None,
            updated_at=timezone.now(),
        )
        if changed and profile_ok:
            transaction.on_commit(partial(_enqueue_delivery, message.profile_id), robust=True)
    message.refresh_from_db()
    if not changed:
        raise ValidationError(
            _("Ce message ne peut pas être renvoyé : il est « %(status)s »."),
            code="retry_not_allowed",
            params={"status": message.get_status_display()},
        )
    logger.info("message %s put back in the queue by collaborator %s", message.pk, by.pk)


def profile_updated(*, profile: SendingProfile) -> int:
    """After the profile was saved: back in service, its held messages queued again and
    delivery enqueued. Returns the number of messages that resume."""
    with transaction.atomic():
        SendingProfile.objects.filter(pk=profile.pk).update(
            state=SendingProfile.State.OK, state_reason=""
        )
        profile.state, profile.state_reason = SendingProfile.State.OK, ""
        resumed = OutboundMessage.objects.filter(profile_id=profile.pk, status=Status.HELD).update(
            status=Status.QUEUED, next_attempt_at=None, updated_at=timezone.now()
        )
        if resumed:
            transaction.on_commit(partial(_enqueue_delivery, profile.pk), robust=True)
    if resumed:
        logger.info("profile %s updated: %d held messages queued again", profile.pk, resumed)
    return resumed


def profile_verify(
    *, profile: SendingProfile, requested_by: Collaborator, recipient: str
) -> ProfileTest:
    """Send a test mail now, outside the outbox, and log it as a ProfileTest.

    Server and configuration errors do not raise: the ProfileTest says what went wrong and
    what the server answered. An invalid recipient address raises ValidationError.
    """
    validate_email(recipient)
    name = profile.from_name.strip() or profile.owner_label
    mail = EmailMultiAlternatives(
        subject=_("Courrier : message de test"),
        body=_(
            "Ce message confirme que le paramétrage d'envoi de %(owner)s fonctionne : il est "
            "passé par le serveur %(host)s.\n"
        )
        % {"owner": profile.owner_label, "host": profile.smtp_host},
        from_email=f"{_display_name(name)} <{profile.from_address}>",
        to=[recipient],
        reply_to=[profile.reply_to] if profile.reply_to else None,
        headers={"Message-ID": _message_id(profile.from_address)},
    )
    raw = mail.message().as_bytes(linesep="\r\n")
    test_message = OutboundMessage(
        raw=raw, envelope_recipients=[recipient], from_address=profile.from_address
    )
    try:
        with transport_for(profile) as transport:
            answer = transport.send(test_message)
    except MailingError as exc:
        success, detail = False, exc.explanation
    else:
        success = True
        detail = _("Le serveur a accepté le message de test. Réponse du serveur : %(answer)s") % {
            "answer": answer
        }
    test = ProfileTest.objects.create(
        profile=profile,
        requested_by=requested_by,
        recipient=recipient,
        success=success,
        detail=detail,
    )
    logger.info(
        "profile %s test to %s via %s:%s (%s): %s",
        profile.pk,
        recipient,
        profile.smtp_host,
        profile.smtp_port,
        "ok" if success else "failed",
        detail.replace("\n", " "),
    )
    return test
