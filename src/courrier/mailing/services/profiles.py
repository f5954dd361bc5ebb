"""After a profile changed, and the connection test."""

from __future__ import annotations

import logging

from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.firm.models import Collaborator
from courrier.mailing.exceptions import MailingError
from courrier.mailing.models import OutboundMessage, ProfileTest, SendingProfile
from courrier.mailing.services.compose import display_name, message_id_for
from courrier.mailing.services.delivery import enqueue_on_commit
from courrier.mailing.transports import transport_for

logger = logging.getLogger("courrier.mailing")

Status = OutboundMessage.Status


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
            enqueue_on_commit(profile.pk)
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
        from_email=f"{display_name(name)} <{profile.from_address}>",
        to=[recipient],
        reply_to=[profile.reply_to] if profile.reply_to else None,
        headers={"Message-ID": message_id_for(profile.from_address)},
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
