"""Preview and compose: render a mail for one client and store it, built once, as queued.

The profile that sends follows the rule of `profiles.profile_for`: the billing company's when
one is given, else the sender's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from io import BytesIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.languages import MailLanguage
from courrier.mailing.exceptions import ConfigurationError
from courrier.mailing.fields import client_values
from courrier.mailing.models import MailTemplate, OutboundMessage, SendingProfile
from courrier.mailing.rendering import Rendered, render
from courrier.mailing.services.delivery import enqueue_on_commit
from courrier.mailing.services.profiles import profile_for, profile_problem
from courrier.validators import validate_header_text

SMTP_POLICY = SMTP.clone(max_line_length=78)

logger = logging.getLogger("courrier.mailing")

Status = OutboundMessage.Status

CLIENT_CONTEXT = "client"
MAX_SUBJECT_LENGTH = 998  # RFC 5322 line limit, and the column's size


# -- the sending profile ---------------------------------------------------------------------


def profile_for_sender(*, sender: Collaborator) -> SendingProfile:
    """The collaborator's own sending profile. Raises ProfileMissing, or ConfigurationError when
    its password cannot be decrypted with the installation's keys."""
    return profile_for(sender=sender)


def _profile_problem(profile: SendingProfile) -> ConfigurationError | None:
    """Why this profile cannot send now, or None when it can."""
    return profile_problem(profile)


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


def display_name(name: str) -> str:
    """A display name ready for a From header: quoted when it holds special characters."""
    name = " ".join(name.split())
    if any(char in name for char in '()<>@,;:\\".[]'):
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return name


def _draft(
    *,
    sender: Collaborator,
    client: Client,
    subject: str,
    body: str,
    language: str | None,
    billing_company: BillingCompany | None = None,
) -> _Draft:
    profile = profile_for(sender=sender, billing_company=billing_company)
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
    name = profile.from_name.strip() or str(billing_company or sender)
    validate_header_text(name)
    from_header = f"{display_name(name)} <{profile.from_address}>" if name else ""
    from_header = from_header or profile.from_address
    to = client.mail_addresses()

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
    *,
    sender: Collaborator,
    client: Client,
    subject: str,
    body: str,
    language: str | None = None,
    billing_company: BillingCompany | None = None,
) -> Preview:
    """Exactly what message_compose would send, nothing stored. Raises ValidationError for
    unknown fields or a line break in the subject, ProfileMissing without the profile that
    sends (the billing company's when one is given); a client without address, empty fields
    or a profile to fix are warnings here."""
    return _draft(
        sender=sender,
        client=client,
        subject=subject,
        body=body,
        language=language,
        billing_company=billing_company,
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
    # The SMTP policy writes CRLF everywhere (strict servers refuse bare LF, and these bytes are
    # sent as they are) and folds encoded headers cleanly, where Django's own serialiser
    # starts a long non-ASCII subject on an empty line that some filters frown upon.
    buffer = BytesIO()
    BytesGenerator(buffer, policy=SMTP_POLICY).flatten(mail.message())
    return buffer.getvalue()


def message_id_for(from_address: str) -> str:
    """A new Message-ID in the sender's domain, so that replies and bounces point home."""
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
    billing_company: BillingCompany | None = None,
) -> OutboundMessage:
    """Validate, render, build the message once and store it as queued; delivery is enqueued
    when the transaction commits. A known `idempotency_key` returns its message unchanged.

    `billing_company` given (a mail about an invoice): that company's profile sends, and its
    absence is an error before anything is stored; otherwise the sender's profile sends."""
    if idempotency_key:
        existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    draft = _draft(
        sender=sender,
        client=client,
        subject=subject,
        body=body,
        language=language,
        billing_company=billing_company,
    )
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
    message_id = message_id_for(profile.from_address)
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
            enqueue_on_commit(profile.pk)
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
