"""What every mail of one send shares, read once: the profile, the firm, the options, the files.

`send_setup` (and `compose_setup`, which lets an invoice's billing company choose the profile)
gives a `SendSetup`; a batch asks once per billing company and passes it to every mail of its
run. The attachments the sender joined are checked here (owner, fingerprint), and the
size limit of the profile's method is computed (`message_size_limit`, `encoded_size`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.mailing.contexts import AttachedFile, MailContext
from courrier.mailing.exceptions import ConfigurationError
from courrier.mailing.models import (
    SendingProfile,
    Upload,
)
from courrier.mailing.services.options import ComposeOptions
from courrier.mailing.services.profiles import profile_error, profile_for
from courrier.mailing.transports import TRANSPORTS


def profile_for_sender(*, sender: Collaborator) -> SendingProfile:
    """The collaborator's own sending profile. Raises ProfileMissing, or ConfigurationError when
    its password cannot be decrypted with the installation's keys."""
    return profile_for(sender=sender)


def message_size_limit(profile: SendingProfile | None) -> int:
    """The largest message, encoded as it leaves, that the profile's method accepts; never more
    than the installation's COURRIER["MAX_MESSAGE_BYTES"]."""
    default = int(settings.COURRIER["MAX_MESSAGE_BYTES"])
    transport = TRANSPORTS.get(profile.method) if profile is not None else None
    return min(int(getattr(transport, "max_message_bytes", default) or default), default)


def encoded_size(size: int) -> int:
    """Bytes a file of `size` bytes takes in a mail: base64, lines of 76 characters + CRLF."""
    encoded = 4 * math.ceil(size / 3)
    return encoded + 2 * math.ceil(encoded / 76)


class Attachment(AttachedFile):
    """An upload joined to a mail; its bytes read once, checked against their fingerprint."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.upload_pk = upload.pk
        self.name = upload.name
        self.content_type = upload.content_type or "application/octet-stream"
        self.size = int(upload.size)
        self._content: bytes | None = None

    @property
    def content(self) -> bytes:
        if self._content is None:
            try:
                with self.upload.file.open("rb") as handle:
                    content = handle.read()
            except (OSError, ValueError):
                raise ValidationError(
                    _("Le fichier joint « %(name)s » est introuvable : joignez-le à nouveau."),
                    code="upload_missing",
                    params={"name": self.name},
                ) from None
            if self.upload.sha256 and hashlib.sha256(content).hexdigest() != self.upload.sha256:
                raise ValidationError(
                    _(
                        "Le fichier joint « %(name)s » a été altéré depuis son envoi : joignez-le "
                        "à nouveau."
                    ),
                    code="upload_altered",
                    params={"name": self.name},
                )
            self._content = content
        return self._content


def attachments_of(uploads: Sequence[Upload], *, sender: Collaborator) -> list[Attachment]:
    attachments: list[Attachment] = []
    seen: set[int] = set()
    for upload in uploads:
        if upload.pk in seen:
            continue
        seen.add(upload.pk)
        if upload.owner_id != sender.pk:
            # Never someone else's file, whatever id a form posts.
            raise ValidationError(
                _(
                    "Le fichier joint n°%(pk)s n'est pas l'un des vôtres : il ne peut pas être "
                    "joint."
                ),
                code="upload_owner",
                params={"pk": upload.pk},
            )
        attachments.append(Attachment(upload))
    return attachments


@dataclass
class SendSetup:
    """What every mail of one send shares, read once: the profile, the firm, the options, the
    files. A selection of 500 clients costs these queries once, not 500 times."""

    sender: Collaborator
    profile: SendingProfile | None
    problem: ConfigurationError | None
    billing_company: BillingCompany | None
    firm: Firm
    options: ComposeOptions
    attachments: list[Attachment]
    size_limit: int
    method: str

    @property
    def from_address(self) -> str:
        return self.profile.from_address if self.profile is not None else self.sender.email


def send_setup(
    *,
    sender: Collaborator,
    billing_company: BillingCompany | None,
    options: ComposeOptions,
    uploads: Sequence[Upload],
    profile: SendingProfile | None = None,
) -> SendSetup:
    """What every mail of one send shares: the profile (`profile_for`, unless given), whether
    it can send, the firm, the options, the sender's checked files. A batch reads it once per
    billing company for a whole run (`rounds._Run.setup_for`)."""
    profile = profile or profile_for(sender=sender, billing_company=billing_company)
    return SendSetup(
        sender=sender,
        profile=profile,
        problem=profile_error(profile),
        billing_company=billing_company,
        firm=Firm.load(),
        options=options,
        attachments=attachments_of(uploads, sender=sender),
        size_limit=message_size_limit(profile),
        method=str(profile.get_method_display()),
    )


def files_of(setup: SendSetup, context: MailContext | None) -> list[AttachedFile]:
    """The files of one mail: those the sender joined, then those its context adds."""
    return [*setup.attachments, *(context.attachments if context is not None else ())]


def compose_setup(
    *,
    sender: Collaborator,
    billing_company: BillingCompany | None,
    context: MailContext | None,
    uploads: Sequence[Upload],
    options: ComposeOptions,
) -> SendSetup:
    """The setup of a mail to compose: a context about an invoice sends through its billing
    company's profile, whatever the caller passed."""
    if context is not None and context.billing_company is not None:
        billing_company = context.billing_company
    return send_setup(
        sender=sender, billing_company=billing_company, options=options, uploads=uploads
    )
