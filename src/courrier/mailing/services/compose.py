"""Preview, pre-send check and compose: render a mail for one client and store it, built once.

One code path renders every mail: `mail_draft` (the client's fields, the template, the options,
the attachments) -> a `Preview`. `message_preview` shows it, `presend_check` judges it for
each recipient of a selection, `message_compose` (and the batch task) builds its bytes once
and stores it as queued. What a person previews is therefore what leaves.

The profile that sends follows the rule of `profiles.profile_for`: the billing company's when
one is given, else the sender's.
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.generator import BytesGenerator
from email.message import Message
from email.policy import SMTP
from email.utils import format_datetime
from io import BytesIO
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from courrier.clients.models import Client
from courrier.firm.models import BillingCompany, Collaborator, Firm
from courrier.languages import MailLanguage
from courrier.mailing import richtext
from courrier.mailing.contexts import AttachedFile, MailContext
from courrier.mailing.exceptions import ConfigurationError
from courrier.mailing.fields import client_values, mail_values
from courrier.mailing.models import (
    MailBatch,
    MailTemplate,
    OutboundMessage,
    SendingProfile,
    Upload,
    contents_store,
)
from courrier.mailing.rendering import Rendered, body_html, markup_html, render
from courrier.mailing.services.delivery import enqueue_on_commit
from courrier.mailing.services.holes import holes
from courrier.mailing.services.profiles import profile_error, profile_for
from courrier.mailing.signatures import Signature, mail_signature, sign_off_start
from courrier.mailing.transports import TRANSPORTS
from courrier.sql import per_row
from courrier.texts import Sentence, Size, Text, text_error
from courrier.validators import validate_header_text

SMTP_POLICY = SMTP.clone(max_line_length=78)


class _Generator(BytesGenerator):
    """The standard generator, for the same bytes sooner:

    - a part's body is written in one piece instead of line by line (a PDF's base64 is a
      thousand lines);
    - a multipart's boundary is checked against its parts with a plain search instead of a
      regular expression compiled for it;
    - the message keeps its own policy while it is written. The standard generator lends the
      message its policy (SMTP here) for the time of writing, so that every lookup of a header
      it makes (content type, boundary, charset, encoding: about fifteen per invoice mail)
      parses the header into an object, ~1.5 ms per mail; with the message's own policy
      (Django builds its parts with compat32) the same lookups return the same text. Headers
      are still written, folded and ended by the generator's policy."""

    def flatten(self, msg: Message, unixfrom: bool = False, linesep: str | None = None) -> None:
        assert not unixfrom, "mails are written without a From_ line"
        policy = self.policy if self.policy is not None else msg.policy
        if linesep is not None:
            policy = policy.clone(linesep=linesep)
        if self.maxheaderlen is not None:  # type: ignore[attr-defined]
            policy = policy.clone(max_line_length=self.maxheaderlen)  # type: ignore[attr-defined]
        self._NL = policy.linesep
        self._encoded_NL = self._encode(self._NL)  # type: ignore[attr-defined]
        self._EMPTY = ""
        self._encoded_EMPTY = self._encode(self._EMPTY)  # type: ignore[attr-defined]
        previous = self.policy
        try:
            self.policy = policy
            self._write(msg)  # type: ignore[attr-defined]
        finally:
            self.policy = previous

    def _write_lines(self, lines: str) -> None:
        # Every line break (CRLF, CR, LF) as the policy's, as the standard generator splits
        # them (email.generator.NLCRE); str.replace is ~10 times faster than the split.
        if lines:
            lf = lines.replace("\r\n", "\n").replace("\r", "\n")
            self.write(lf.replace("\n", self._NL) if self._NL != "\n" else lf)

    @classmethod
    def _make_boundary(cls, text: bytes | None = None) -> str:  # type: ignore[override]
        """A boundary found nowhere in the parts (the standard generator compiles a regular
        expression per multipart to check a random one, ~1 ms per mail): 128 random bits,
        and a plain search, stricter than the standard's line by line one."""
        while True:
            boundary = f"==============={uuid.uuid4().hex}=="
            if text is None or f"--{boundary}".encode("ascii") not in text:
                return boundary


logger = logging.getLogger("courrier.mailing")

Status = OutboundMessage.Status

CLIENT_CONTEXT = "client"
MAX_SUBJECT_LENGTH = 998  # RFC 5322 line limit, and the column's size
MAX_COPIES = 50  # addresses in Cc or Bcc of one mail
SCHEDULE_HORIZON = timedelta(days=366)
# Headers, boundaries and part headers of a message around its texts and files, generously.
_ENVELOPE_BYTES = 4096
_PART_BYTES = 512


# -- the sending profile ---------------------------------------------------------------------


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


# -- the options of a mail -------------------------------------------------------------------


@dataclass(frozen=True)
class ComposeOptions:
    """What the compose window adds to every mail it sends, checked."""

    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    copy_to_sender: bool = False
    read_receipt: bool = False
    reply_to: str = ""
    scheduled_at: datetime | None = None
    archive: bool = True
    language: str = ""  # the language the window's text is written in
    # A client whose language has no version may get the mail, wholly in the window's
    # language; without it such a client is blocked (see batch.check_recipient).
    other_language: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The options as stored with a batch (JSON)."""
        return {
            "cc": list(self.cc),
            "bcc": list(self.bcc),
            "copy_to_sender": self.copy_to_sender,
            "read_receipt": self.read_receipt,
            "reply_to": self.reply_to or None,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "archive": self.archive,
            "language": self.language,
            "other_language": self.other_language,
        }


def _shown(address: str) -> str:
    """An address as an error message may quote it: control characters made visible."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in address)[:80]


def _address(value: str, *, label: str) -> str:
    address = value.strip()
    try:
        validate_header_text(address)
        validate_email(address)
    except ValidationError:
        raise ValidationError(
            _("%(label)s : « %(address)s » n'est pas une adresse e-mail valide."),
            code="address",
            params={"label": label, "address": _shown(value.strip())},
        ) from None
    # The domain is case-insensitive; the local part is the receiving server's business.
    local, _at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def clean_addresses(values: Iterable[str] | str | None, *, label: str) -> list[str]:
    """Addresses for a copy header: each checked (no line break, a valid address), split on
    commas and semicolons, duplicates dropped. Raises ValidationError naming the bad one."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    found: dict[str, str] = {}
    for value in values:
        if any(char in str(value) for char in "\r\n"):
            raise ValidationError(
                _("%(label)s : « %(address)s » contient un retour à la ligne."),
                code="address",
                params={"label": label, "address": _shown(str(value))},
            )
        for item in str(value).replace(";", ",").split(","):
            if item.strip():
                address = _address(item, label=label)
                found.setdefault(address.lower(), address)
    if len(found) > MAX_COPIES:
        raise ValidationError(
            _("%(label)s : pas plus de %(count)d adresses."),
            code="too_many",
            params={"label": label, "count": MAX_COPIES},
        )
    return list(found.values())


def _scheduled(value: datetime | str | None, *, require_future: bool) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                _("La date d'envoi programmé « %(value)s » est illisible."),
                code="scheduled_invalid",
                params={"value": str(value)[:40]},
            ) from None
    if timezone.is_naive(value):
        # A date typed without offset is the firm's time (Brussels).
        value = timezone.make_aware(value)
    now = timezone.now()
    if require_future and value <= now:
        raise ValidationError(
            _(
                "L'envoi programmé (%(when)s) est dans le passé : choisissez un moment à venir, "
                "ou envoyez sans programmer."
            ),
            code="scheduled_past",
            params={"when": f"{timezone.localtime(value):%d/%m/%Y %H:%M}"},
        )
    if value > now + SCHEDULE_HORIZON:
        raise ValidationError(
            _("Un envoi se programme au plus un an à l'avance."), code="scheduled_far"
        )
    return value


def compose_options(
    *,
    cc: Iterable[str] | str | None = (),
    bcc: Iterable[str] | str | None = (),
    copy_to_sender: bool = False,
    read_receipt: bool = False,
    reply_to: str | None = None,
    scheduled_at: datetime | str | None = None,
    archive: bool = True,
    language: str = "",
    other_language: bool = False,
    require_future: bool = True,
) -> ComposeOptions:
    """The options checked: every address valid and without line break (an error names it),
    duplicates dropped, the scheduled moment aware, within a year and (`require_future`) to
    come. All errors are raised together."""
    errors: list[ValidationError] = []
    cleaned: dict[str, Any] = {}
    for name, values, label in (("cc", cc, _("Cc")), ("bcc", bcc, _("Cci"))):
        try:
            cleaned[name] = tuple(clean_addresses(values, label=label))
        except ValidationError as exc:
            errors.append(exc)
    reply = ""
    if reply_to and str(reply_to).strip():
        try:
            if any(char in str(reply_to) for char in "\r\n"):
                raise ValidationError(
                    _("%(label)s : « %(address)s » contient un retour à la ligne."),
                    code="address",
                    params={"label": _("Adresse de réponse"), "address": _shown(str(reply_to))},
                )
            reply = _address(str(reply_to), label=_("Adresse de réponse"))
        except ValidationError as exc:
            errors.append(exc)
    try:
        when = _scheduled(scheduled_at, require_future=require_future)
    except ValidationError as exc:
        errors.append(exc)
    if language and language not in MailLanguage.values:
        errors.append(
            ValidationError(
                _("Langue de message inconnue : « %(language)s »."),
                code="language",
                params={"language": str(language)[:10]},
            )
        )
    if errors:
        raise ValidationError(errors)
    return ComposeOptions(
        cc=cleaned["cc"],
        bcc=cleaned["bcc"],
        copy_to_sender=bool(copy_to_sender),
        read_receipt=bool(read_receipt),
        reply_to=reply,
        scheduled_at=when,
        archive=bool(archive),
        language=language or "",
        other_language=bool(other_language),
    )


def options_from(
    options: ComposeOptions | Mapping[str, Any] | None, *, require_future: bool = True
) -> ComposeOptions:
    """Options given as a dict (the window's, or a batch's JSON) checked into ComposeOptions."""
    if isinstance(options, ComposeOptions):
        if require_future and options.scheduled_at and options.scheduled_at <= timezone.now():
            _scheduled(options.scheduled_at, require_future=True)  # raises the clear error
        return options
    data = dict(options or {})
    archive = data.get("archive")
    return compose_options(
        cc=data.get("cc") or (),
        bcc=data.get("bcc") or (),
        copy_to_sender=bool(data.get("copy_to_sender")),
        read_receipt=bool(data.get("read_receipt")),
        reply_to=data.get("reply_to") or None,
        scheduled_at=data.get("scheduled_at") or None,
        archive=True if archive is None else bool(archive),
        language=str(data.get("language") or ""),
        other_language=bool(data.get("other_language")),
        require_future=require_future,
    )


# -- attachments -----------------------------------------------------------------------------


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


# -- one rendering for preview, check and compose --------------------------------------------


@dataclass
class Preview:
    rendered: Rendered
    to: list[str]
    from_header: str
    reply_to: str
    headers: dict[str, str]
    language: str
    language_fallback: bool
    # Said to the person who composes, now; Texts where the pre-send check may store them.
    warnings: list[str | Text]
    attachments: list[tuple[str, int]] = field(default_factory=list)
    # What stops this mail whatever the window says: a field the text needs left empty, a
    # value to type still in the text, what its object refuses (a credit note asked to be
    # paid). Nothing is stored while there is one.
    blockers: list[Text] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    # Blind copies: typed, "send me a copy" and the firm's fixed Bcc; in the envelope only.
    bcc: list[str] = field(default_factory=list)
    envelope: list[str] = field(default_factory=list)
    read_receipt: bool = False
    scheduled_at: datetime | None = None
    # Estimated size of the message as it leaves, and the limit of the profile's method.
    size: int = 0
    size_limit: int = 0
    method: str = ""
    signature: Signature | None = None


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


# The setups of the current run of `send_setup_shared`, by sender, company and options.
_SHARED_SETUPS: ContextVar[dict[tuple[Any, ...], SendSetup] | None] = ContextVar(
    "shared_send_setups", default=None
)


@contextmanager
def send_setup_shared() -> Iterator[None]:
    """Within this block (a batch task composing one mail per invoice), `send_setup` reads the
    profile, its state and the firm once per sender, billing company and options instead of
    once per mail. A run of a batch thus sends with the profile as it was when it started
    composing; delivery checks the profile again before anything leaves. Usable as a
    decorator."""
    token = _SHARED_SETUPS.set({})
    try:
        yield
    finally:
        _SHARED_SETUPS.reset(token)


def send_setup(
    *,
    sender: Collaborator,
    billing_company: BillingCompany | None,
    options: ComposeOptions,
    uploads: Sequence[Upload],
    profile: SendingProfile | None = None,
) -> SendSetup:
    shared = _SHARED_SETUPS.get()
    if shared is None or uploads or profile is not None:
        return _send_setup(
            sender=sender,
            billing_company=billing_company,
            options=options,
            uploads=uploads,
            profile=profile,
        )
    key = (sender.pk, billing_company.pk if billing_company is not None else None, options)
    setup = shared.get(key)
    if setup is None:
        setup = shared[key] = _send_setup(
            sender=sender, billing_company=billing_company, options=options, uploads=()
        )
    return setup


def _send_setup(
    *,
    sender: Collaborator,
    billing_company: BillingCompany | None,
    options: ComposeOptions,
    uploads: Sequence[Upload],
    profile: SendingProfile | None = None,
) -> SendSetup:
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


def display_name(name: str) -> str:
    """A display name ready for a From header: quoted when it holds special characters."""
    name = " ".join(name.split())
    if any(char in name for char in '()<>@,;:\\".[]'):
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return name


def _unique(addresses: Iterable[str], *, without: Iterable[str] = ()) -> list[str]:
    seen = {address.lower() for address in without}
    result: list[str] = []
    for address in addresses:
        if address and address.lower() not in seen:
            seen.add(address.lower())
            result.append(address)
    return result


def _client_addresses(client: Client, context: MailContext | None = None) -> list[str]:
    """The client's addresses (those the context writes to), each checked: stored data never
    reaches a header unchecked."""
    addresses = context.recipient_addresses() if context is not None else client.mail_addresses()
    return _unique(_address(address, label=_("Adresse du client")) for address in addresses)


def files_of(setup: SendSetup, context: MailContext | None) -> list[AttachedFile]:
    """The files of one mail: those the sender joined, then those its context adds."""
    return [*setup.attachments, *(context.attachments if context is not None else ())]


def mail_draft(
    setup: SendSetup,
    *,
    client: Client,
    subject: str,
    body: str,
    language: str | None,
    context: MailContext | None = None,
    links_text: str = "",
    linked: int = 0,
) -> Preview:
    """The mail to `client`, rendered, with its headers and envelope; nothing stored.

    With a `context` (an invoice, a VAT return, ...), its fields are filled in next to the
    client's, its files are attached after the sender's and its addresses are used.
    `links_text`, the paragraph that gives the files sent by secure link, follows the body's
    text and precedes its sign-off (`signatures.sign_off_start`) and the signature;
    `linked` says how many files go that way, which {MODEENVOI} tells the client.
    The signature is the one `signatures.mail_signature` chooses.

    Raises ValidationError (unknown field, line break in the subject, a bad stored address).
    A field the text uses but that is empty here, or a value still to type (`prompts`), is a
    blocker of the preview, and so is what the context refuses in the text
    (`MailContext.refuses`); the callers judge the rest (no address, size, profile)."""
    sender, options = setup.sender, setup.options
    language = language or (context.language if context is not None else "") or client.language
    if language not in MailLanguage.values:
        raise ValidationError(
            _("Langue de message inconnue : « %(language)s »."),
            code="language",
            params={"language": language},
        )
    values = client_values(client=client, sender=sender, language=language, firm=setup.firm)
    if context is not None:
        values.update(context.values(language))
    attachments = files_of(setup, context)
    values.update(mail_values(attached=len(attachments), linked=linked, language=language))
    # Judged on the body as written: the links' paragraph is the mail's, not its sign-off.
    signature = mail_signature(
        sender=sender, billing_company=setup.billing_company, language=language, body=body
    )
    # What the object refuses (a credit note: any request for payment), judged on the text as
    # written, before the links' paragraph that is ours.
    refused = list(context.refuses(subject, body)) if context and context.refuses else []
    if links_text:
        # The links' text is plain (its addresses become links): its paragraphs go after the
        # body's text, before its sign-off ("Bien à vous," and who writes), then the signature.
        blocks = richtext.blocks_of(body_html(body))
        at = sign_off_start(blocks)
        parts = (
            richtext.to_html(blocks[:at]),
            markup_html(links_text.strip()),
            richtext.to_html(blocks[at:]),
        )
        body = "\n".join(part for part in parts if part)
    context_name = context.name if context is not None else CLIENT_CONTEXT
    rendered = render(
        subject=subject,
        body=body,
        values=values,
        context=context_name,
        language=language,
        signature=signature.text,
    )
    if len(rendered.subject) > MAX_SUBJECT_LENGTH:
        raise ValidationError(_("Le sujet est trop long."), code="subject_length")
    profile = setup.profile
    name = (profile.from_name.strip() if profile is not None else "") or str(
        setup.billing_company or sender
    )
    validate_header_text(name)
    from_address = setup.from_address
    from_header = f"{display_name(name)} <{from_address}>" if name else from_address

    to = _client_addresses(client, context)
    cc = _unique(options.cc, without=to)
    typed_bcc = list(options.bcc)
    if options.copy_to_sender and sender.email:
        typed_bcc.append(sender.email)
    fixed_bcc = [setup.firm.fixed_bcc] if setup.firm.fixed_bcc else []
    bcc = _unique([*typed_bcc, *fixed_bcc], without=to + cc)
    reply_to = options.reply_to or (profile.reply_to if profile is not None else "")

    headers = {"From": from_header, "To": ", ".join(to)}
    if cc:
        headers["Cc"] = ", ".join(cc)
    if reply_to:
        headers["Reply-To"] = reply_to
    headers["Subject"] = rendered.subject
    if options.read_receipt:
        headers["Disposition-Notification-To"] = from_address
    headers["Content-Language"] = language

    warnings: list[str | Text] = []
    if unsigned := signature.warning():
        warnings.append(unsigned)
    blockers = [*refused, *holes(subject=subject, body=body, values=values, context=context_name)]
    size = (
        _ENVELOPE_BYTES
        + math.ceil(len(rendered.text.encode()) * 1.1)
        + math.ceil(len(rendered.html.encode()) * 1.1)
        + sum(encoded_size(item.size) + _PART_BYTES for item in attachments)
    )
    return Preview(
        rendered=rendered,
        to=to,
        from_header=from_header,
        reply_to=reply_to,
        headers=headers,
        language=language,
        language_fallback=language != client.language,
        warnings=warnings,
        blockers=blockers,
        attachments=[(item.name, item.size) for item in attachments],
        cc=cc,
        bcc=bcc,
        envelope=_unique([*to, *cc, *bcc]),
        read_receipt=options.read_receipt,
        scheduled_at=options.scheduled_at,
        size=size,
        size_limit=setup.size_limit,
        method=setup.method,
        signature=signature,
    )


def too_large(size: int, setup: SendSetup) -> Text:
    return Sentence(
        gettext_noop(
            "Le message pèserait %(size)s une fois encodé (pièces jointes comprises) : la "
            "méthode d'envoi %(method)s accepte au plus %(limit)s par message."
        ),
        {
            "size": Size(size),
            "method": setup.method or "-",
            "limit": Size(setup.size_limit, limit=True),
        },
    )


def no_address(client: Client) -> Text:
    return Sentence(
        gettext_noop(
            "Le client %(client)s n'a pas d'adresse e-mail : ajoutez-en une dans sa fiche avant "
            "d'envoyer."
        ),
        {"client": client.display_name},
    )


def language_warning(client: Client, language: str) -> Text:
    return Sentence(
        gettext_noop(
            "Langue de ce client : %(client_language)s ; ce message part en %(language)s."
        ),
        {
            "client_language": MailLanguage(client.language).label,
            "language": MailLanguage(language).label,
        },
    )


def message_preview(
    *,
    sender: Collaborator,
    client: Client,
    subject: str,
    body: str,
    language: str | None = None,
    billing_company: BillingCompany | None = None,
    cc: Iterable[str] | str | None = (),
    bcc: Iterable[str] | str | None = (),
    copy_to_sender: bool = False,
    read_receipt: bool = False,
    reply_to: str | None = None,
    scheduled_at: datetime | None = None,
    uploads: Sequence[Upload] = (),
    batch: MailBatch | None = None,
    context: MailContext | None = None,
) -> Preview:
    """Exactly what message_compose would send, nothing stored. Raises ValidationError for
    unknown fields, a line break in the subject or a bad option (address, past scheduled
    time, someone else's file), ProfileMissing without the profile that sends; a client
    without address, a message too large for the method or a profile to fix are warnings
    here; an empty field or a value still to type is in `blockers`. `batch` is accepted like
    compose's and changes nothing to the mail."""
    options = compose_options(
        cc=cc,
        bcc=bcc,
        copy_to_sender=copy_to_sender,
        read_receipt=read_receipt,
        reply_to=reply_to,
        scheduled_at=scheduled_at,
    )
    if context is not None and context.billing_company is not None:
        billing_company = context.billing_company
    setup = send_setup(
        sender=sender, billing_company=billing_company, options=options, uploads=uploads
    )
    preview = mail_draft(
        setup, client=client, subject=subject, body=body, language=language, context=context
    )
    if not preview.to:
        preview.warnings.insert(0, no_address(client))
    if preview.language_fallback:
        preview.warnings.append(language_warning(client, preview.language))
    if preview.size > preview.size_limit:
        preview.warnings.append(too_large(preview.size, setup))
    if setup.problem is not None:
        preview.warnings.append(setup.problem.user_message)
    return preview


# -- compose ---------------------------------------------------------------------------------


def _mime_bytes(
    *, preview: Preview, message_id: str, row_id: int | str, attachments: Sequence[AttachedFile]
) -> bytes:
    rendered = preview.rendered
    headers = {
        # The firm's local time, with its offset (Django's default says "-0000": unknown).
        "Date": format_datetime(timezone.localtime()),
        "Message-ID": message_id,
        "Content-Language": preview.language,
        "X-Courrier-Message": str(row_id),
    }
    if preview.read_receipt:
        headers["Disposition-Notification-To"] = preview.headers["Disposition-Notification-To"]
    mail = EmailMultiAlternatives(
        subject="",  # set below
        body=rendered.text,
        from_email=preview.from_header,
        to=preview.to,
        # Blind copies are never given to the message: they live in the envelope only.
        cc=preview.cc or None,
        reply_to=[preview.reply_to] if preview.reply_to else None,
        headers=headers,
    )
    mail.attach_alternative(rendered.html, "text/html")
    for attachment in attachments:
        mail.attach(attachment.mime_part())
    # The SMTP policy writes CRLF everywhere (strict servers refuse bare LF, and these bytes are
    # sent as they are) and folds encoded headers cleanly, where Django's own serialiser
    # starts a long non-ASCII subject on an empty line that some filters frown upon.
    buffer = BytesIO()
    try:
        message = mail.message()
        message.replace_header("Subject", _folded("Subject", rendered.subject))
        _Generator(buffer, policy=SMTP_POLICY).flatten(message)
    except BadHeaderError:
        # A last line of defence: every value was checked before, none may break a header.
        raise ValidationError(
            _("Un en-tête du message contiendrait un retour à la ligne : envoi refusé."),
            code="header_injection",
        ) from None
    return buffer.getvalue()


def _folded(name: str, value: str) -> str:
    """A header's value encoded (RFC 2047, only the words that need it) and folded by the SMTP
    policy, ready to be written as it is. For the subject, instead of Django's encoding, which
    the policy then decoded and folded again: 0.4 ms less per mail, and ASCII words stay
    readable in the source."""
    if "\r" in value or "\n" in value:
        raise BadHeaderError(f"Header values can't contain newlines ({name})")
    folded = SMTP_POLICY.header_factory(name, value).fold(policy=SMTP_POLICY)
    return str(folded)[len(name) + 2 : -len(SMTP_POLICY.linesep)]


def message_id_for(from_address: str) -> str:
    """A new Message-ID in the sender's domain, so that replies and bounces point home."""
    domain = from_address.rpartition("@")[2]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = "courrier.invalid"
    # 122 random bits from the system (email.utils.make_msgid draws from the `random` module,
    # whose state a library or a test may seed: two mails would then share an id).
    return f"<{uuid.uuid4().hex}@{domain or 'courrier.invalid'}>"


# The X-Courrier-Message header of a message built before its row exists holds this until
# the row's id replaces it (`PreparedMessage.bytes_for`). Random per process: no text of a
# mail can hold it, and it is only looked for in the headers.
_ROW_MARKER = f"row-{uuid.uuid4().hex}".encode("ascii")
_ID_DIGITS = 19  # the longest id the marker can stand for (a 64-bit integer)


@dataclass
class PreparedMessage:
    """A mail rendered and built, not stored yet: its row (unsaved) and its bytes, whose
    X-Courrier-Message header waits for the row's id."""

    message: OutboundMessage
    raw: bytes

    def bytes_for(self, row_id: int) -> bytes:
        head, separator, body = self.raw.partition(b"\r\n\r\n")
        head = head.replace(_ROW_MARKER, str(row_id).encode("ascii"), 1)
        return head + separator + body


def message_prepare(
    setup: SendSetup,
    *,
    client: Client,
    preview: Preview,
    template: MailTemplate | None,
    purpose: str,
    idempotency_key: str | None,
    batch: MailBatch | None = None,
    context: MailContext | None = None,
) -> PreparedMessage:
    """The row and the bytes of a rendered mail, nothing stored: the MIME message is built
    here, outside any transaction (on SQLite, outside the write lock). Raises what would stop
    it from being stored: no profile or one to fix, a field left empty or a value left to type
    (`Preview.blockers`), no address, a message over the method's limit."""
    profile = setup.profile
    if profile is None:  # profile_for raised before any caller gets here
        raise ConfigurationError()
    if setup.problem is not None:
        raise setup.problem
    if preview.blockers:
        # The pre-send check said so already; no path stores a mail with a hole.
        raise ValidationError([text_error(text, code="hole") for text in preview.blockers])
    if not preview.to:
        raise ValidationError(
            _("Le client %(client)s n'a pas d'adresse e-mail : ajoutez-en une dans sa fiche."),
            code="no_address",
            params={"client": client.display_name},
        )
    options = setup.options
    message_id = message_id_for(profile.from_address)
    raw = _mime_bytes(
        preview=preview,
        message_id=message_id,
        row_id=_ROW_MARKER.decode("ascii"),
        attachments=files_of(setup, context),
    )
    size = len(raw) - len(_ROW_MARKER) + _ID_DIGITS
    if size > setup.size_limit:
        raise text_error(too_large(size, setup), code="size")
    message = OutboundMessage(
        profile=profile,
        sender=setup.sender,
        client=client,
        purpose=purpose,
        context=context.name if context is not None else CLIENT_CONTEXT,
        object_id=context.object_id if context is not None else None,
        template=template,
        idempotency_key=idempotency_key or None,
        archived=options.archive,
        language=preview.language,
        message_id=message_id,
        subject=preview.rendered.subject,
        from_address=profile.from_address,
        to=preview.to,
        cc=preview.cc,
        bcc=_unique(
            [*options.bcc, *([setup.sender.email] if options.copy_to_sender else [])],
            without=preview.to + preview.cc,
        ),
        envelope_recipients=preview.envelope,
        read_receipt=options.read_receipt,
        scheduled_at=options.scheduled_at,
        batch=batch,
        status=Status.QUEUED,
    )
    return PreparedMessage(message=message, raw=raw)


def messages_store(
    prepared: Sequence[PreparedMessage], *, enqueue: bool = True
) -> list[OutboundMessage]:
    """Store prepared mails as queued, in the caller's transaction (all or none): their rows
    in one INSERT, their bytes (each with its row's id) in another, their sizes in one UPDATE,
    whatever their number. Delivery is enqueued when the transaction commits (`enqueue`), once
    per profile and scheduled time. A known idempotency key raises IntegrityError."""
    if not prepared:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError("messages_store needs a transaction")
    messages = OutboundMessage.objects.bulk_create([item.message for item in prepared])
    contents: list[tuple[int, bytes]] = []
    sizes: dict[int, int] = {}
    for item, message in zip(prepared, messages, strict=True):
        raw = item.bytes_for(message.pk)
        contents.append((message.pk, raw))
        message.raw_stored(raw)
        message.size = sizes[message.pk] = len(raw)
    contents_store(contents)
    for message in messages:
        logger.info(
            "message %s queued for profile %s (%d bytes, %d recipients)",
            message.pk,
            message.profile_id,
            message.size,
            len(message.envelope_recipients),
        )
    OutboundMessage.objects.filter(pk__in=list(sizes)).update(
        size=per_row(sizes, "size", model=OutboundMessage)
    )
    if enqueue:
        for profile_id, run_after in dict.fromkeys(
            (message.profile_id, message.scheduled_at) for message in messages
        ):
            enqueue_on_commit(profile_id, run_after=run_after)
    return messages


def store_message(
    setup: SendSetup,
    *,
    client: Client,
    preview: Preview,
    template: MailTemplate | None,
    purpose: str,
    idempotency_key: str | None,
    batch: MailBatch | None = None,
    enqueue: bool = True,
    context: MailContext | None = None,
) -> OutboundMessage:
    """Build the bytes of a rendered mail once and store it as queued, in one transaction;
    delivery is enqueued when it commits (`enqueue`), not before its scheduled time."""
    prepared = message_prepare(
        setup,
        client=client,
        preview=preview,
        template=template,
        purpose=purpose,
        idempotency_key=idempotency_key,
        batch=batch,
        context=context,
    )
    with transaction.atomic():
        (message,) = messages_store([prepared], enqueue=enqueue)
    return message


def message_store_once(prepared: PreparedMessage) -> OutboundMessage:
    """Store one prepared mail in its own transaction. Should its idempotency key have been
    stored meanwhile (another request, another run), its unique index refuses this one and
    the message already stored is the answer."""
    try:
        with transaction.atomic():
            (message,) = messages_store([prepared])
    except IntegrityError:
        existing = message_for_key(prepared.message.idempotency_key)
        if existing is not None:
            return existing
        raise
    return message


def message_for_key(idempotency_key: str | None) -> OutboundMessage | None:
    """The message already stored under `idempotency_key`, if any."""
    if not idempotency_key:
        return None
    return OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()


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
    cc: Iterable[str] | str | None = (),
    bcc: Iterable[str] | str | None = (),
    copy_to_sender: bool = False,
    read_receipt: bool = False,
    reply_to: str | None = None,
    scheduled_at: datetime | None = None,
    uploads: Sequence[Upload] = (),
    batch: MailBatch | None = None,
    context: MailContext | None = None,
) -> OutboundMessage:
    """Validate, render, build the message once and store it as queued; delivery is enqueued
    when the transaction commits (at `scheduled_at` when given). A known `idempotency_key`
    returns its message unchanged (should another request store it meanwhile, its unique
    index refuses the second message, and the first is the answer).

    Cc is a visible header; Bcc, "send me a copy" and the firm's fixed Bcc are in the envelope
    only. `billing_company` given (a mail about an invoice): that company's profile sends, and
    its absence is an error before anything is stored; otherwise the sender's profile sends.
    A `context` adds its fields, files and addresses (and, for an invoice, its billing
    company) and is recorded on the message with its object's id."""
    existing = message_for_key(idempotency_key)
    if existing is not None:
        return existing
    setup = compose_setup(
        sender=sender,
        billing_company=billing_company,
        context=context,
        uploads=uploads,
        options=compose_options(
            cc=cc,
            bcc=bcc,
            copy_to_sender=copy_to_sender,
            read_receipt=read_receipt,
            reply_to=reply_to,
            scheduled_at=scheduled_at,
            archive=archive,
        ),
    )
    preview = mail_draft(
        setup, client=client, subject=subject, body=body, language=language, context=context
    )
    return message_store_once(
        message_prepare(
            setup,
            client=client,
            preview=preview,
            template=template,
            purpose=purpose,
            idempotency_key=idempotency_key,
            batch=batch,
            context=context,
        )
    )
