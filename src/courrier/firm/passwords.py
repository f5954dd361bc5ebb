"""Passwords of collaborators: the mail that lets one reset a forgotten password, and the
profile that sends it.

The reset mail goes to a collaborator, not to a client: it is sent through the firm's sending
profile, like a profile's test mail, and never stored in the outbox or the archive (the link
in it is as good as the password for a few days). The page that asks for it only enqueues a
task with the typed address (`firm.tasks`); the worker looks the address up, makes the link
and sends. The page thus takes as long for an unknown address as for a known one.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.utils import timezone

from courrier.firm.models import Collaborator
from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services.mime import display_name, message_id_for
from courrier.mailing.services.profiles import profile_blocker
from courrier.mailing.transports import transport_for

logger = logging.getLogger("courrier.firm")

# Peppol access points carry invoices, not mail.
_PEPPOL_METHODS = (SendingProfile.Method.BILLIT, SendingProfile.Method.RECOMMAND)


def password_mail_profile(*, collaborator: Collaborator) -> SendingProfile | None:
    """The profile that sends a collaborator's reset mail: the first billing company's that can
    send now (by code), else the collaborator's own; None when neither can."""
    company_profiles = (
        SendingProfile.objects.filter(billing_company__isnull=False)
        .exclude(method__in=_PEPPOL_METHODS)
        .order_by("billing_company__code", "pk")
    )
    own = SendingProfile.objects.filter(
        Q(collaborator=collaborator) & ~Q(method__in=_PEPPOL_METHODS)
    )
    for profile in [*company_profiles, *own]:
        if profile_blocker(profile) is None:
            return profile
    return None


def password_reset_claim(*, collaborator: Collaborator) -> bool:
    """Whether a reset mail may leave for this collaborator now, and if so, the time noted (one
    conditional UPDATE: of two workers asked at once, one sends). Anyone can type an address
    on the reset page: at most one mail per `PASSWORD_RESET_INTERVAL_SECONDS` per account, so
    that the page cannot be used to fill a colleague's mailbox."""
    now = timezone.now()
    interval = timedelta(seconds=settings.COURRIER["PASSWORD_RESET_INTERVAL_SECONDS"])
    due = Q(password_reset_sent_at__isnull=True) | Q(password_reset_sent_at__lte=now - interval)
    return bool(
        Collaborator.objects.filter(due, pk=collaborator.pk).update(password_reset_sent_at=now)
    )


def _claim_release(collaborator: Collaborator) -> None:
    """A mail that did not leave fills no mailbox: the next request may send at once."""
    Collaborator.objects.filter(pk=collaborator.pk).update(password_reset_sent_at=None)


def password_reset_mail_send(
    *, collaborator: Collaborator, subject: str, body: str, html: str | None = None
) -> bool:
    """Send the reset mail to the collaborator's address now. False (and a log line that names
    no link) when the last one left too recently, no profile can send it or its server
    refused: the page that asked says the same thing either way, so that it never tells
    whether an address is known."""
    if not password_reset_claim(collaborator=collaborator):
        logger.warning(
            "password reset for collaborator %s not sent: one left less than %s s ago",
            collaborator.pk,
            settings.COURRIER["PASSWORD_RESET_INTERVAL_SECONDS"],
        )
        return False
    profile = password_mail_profile(collaborator=collaborator)
    if profile is None:
        logger.warning(
            "password reset for collaborator %s not sent: no sending profile can send it",
            collaborator.pk,
        )
        _claim_release(collaborator)
        return False
    name = profile.from_name.strip() or profile.owner_label
    mail = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=body,
        from_email=f"{display_name(name)} <{profile.from_address}>",
        to=[collaborator.email],
        headers={"Message-ID": message_id_for(profile.from_address)},
    )
    if html:
        mail.attach_alternative(html, "text/html")
    # Never saved: the bytes are only handed to the transport.
    message = OutboundMessage(
        envelope_recipients=[collaborator.email], from_address=profile.from_address
    )
    message.raw_load(mail.message().as_bytes(linesep="\r\n"))
    try:
        with transport_for(profile) as transport:
            transport.send(message)
    except (MailingError, OSError) as exc:
        logger.warning(
            "password reset for collaborator %s not sent through profile %s: %s",
            collaborator.pk,
            profile.pk,
            exc.__class__.__name__,
        )
        _claim_release(collaborator)
        return False
    logger.info(
        "password reset mail for collaborator %s sent through profile %s",
        collaborator.pk,
        profile.pk,
    )
    return True


def password_reset_request(*, email: str, base_url: str) -> None:
    """Send the reset mail to the active collaborator with this address, if there is one; the
    link starts with `base_url` (the public address of the installation)."""
    from courrier.firm.forms import CollaboratorPasswordResetForm

    form = CollaboratorPasswordResetForm({"email": email})
    if not form.is_valid():
        return
    form.save(
        domain_override=urlsplit(base_url).netloc or "courrier",
        extra_email_context={"base_url": base_url},
    )
