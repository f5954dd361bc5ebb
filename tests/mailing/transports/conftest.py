"""What the provider transport tests share: a stored message built like compose builds it, with
an attachment, and the delivery service to send it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from email.generator import BytesGenerator
from email.policy import SMTP
from email.utils import make_msgid
from io import BytesIO
from typing import Any

import pytest
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from courrier.mailing.models import OutboundMessage, SendingProfile
from courrier.mailing.services.contents import contents_store

PDF = b"%PDF-1.4\n% fake invoice\n" + bytes(range(256)) * 4


@pytest.fixture
def make_message() -> Callable[..., OutboundMessage]:
    """A queued message of `profile`, stored as compose stores one, with a PDF attached."""

    def make(
        profile: SendingProfile,
        *,
        to: list[str] | None = None,
        bcc: list[str] | None = None,
        subject: str = "Facture 2026/001 — Dupuis",
        attachment: bool = True,
    ) -> OutboundMessage:
        to = to or ["info@dupuis.test"]
        message = OutboundMessage.objects.create(
            profile=profile,
            sender=profile.collaborator,
            language="fr",
            message_id=make_msgid(domain="fidu.test"),
            subject=subject,
            from_address=profile.from_address,
            to=to,
            envelope_recipients=to + (bcc or []),
        )
        mail = EmailMultiAlternatives(
            subject=subject,
            body="Bonjour,\n\nVeuillez trouver votre facture.\n",
            from_email=f"Anne Dupont <{profile.from_address}>",
            to=to,
            reply_to=["secretariat@fidu.test"],
            headers={
                "Message-ID": message.message_id,
                "Content-Language": "fr",
                "X-Courrier-Message": str(message.pk),
            },
        )
        mail.attach_alternative(
            "<p>Bonjour,</p><p>Veuillez trouver votre facture.</p>", "text/html"
        )
        if attachment:
            mail.attach("facture-2026-001.pdf", PDF, "application/pdf")
        buffer = BytesIO()
        BytesGenerator(buffer, policy=SMTP).flatten(mail.message())
        contents_store([(message, buffer.getvalue())])
        message.size = len(message.raw)
        message.save(update_fields=["size"])
        return message

    return make


def time_passes(*messages: OutboundMessage) -> None:
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.fixture
def short_http_timeout(settings: Any) -> None:
    settings.COURRIER = {**settings.COURRIER, "HTTP_TIMEOUT": 0.5}
