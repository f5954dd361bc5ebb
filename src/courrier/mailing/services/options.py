"""The options of a mail and their rules: copies, reply address, scheduled time, language.

`compose_options` checks what the compose window (or a caller) gives into a frozen
`ComposeOptions`; `options_from` does the same for a batch's stored JSON. The limits
(`MAX_COPIES`, `SCHEDULE_HORIZON`, `MAX_SUBJECT_LENGTH`) live here, for the services and the
compose form alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.languages import MailLanguage
from courrier.validators import validate_deliverable_email, validate_header_text

MAX_SUBJECT_LENGTH = 998  # RFC 5322 line limit, and the column's size
MAX_COPIES = 50  # addresses in Cc or Bcc of one mail
SCHEDULE_HORIZON = timedelta(days=366)


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
    # The firm's fixed Bcc (an archive mailbox the firm reads): off for a mail that is its
    # client's alone, a secure link's code (`links.link_code_mail`). Never from the window.
    firm_bcc: bool = True

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


def clean_address(value: str, *, label: str | None = None) -> str:
    """One address checked (no line break or control character, a valid address), its domain
    in lower case. Raises ValidationError quoting it, after `label` when the error is not
    shown under its field (the compose form's fields give none)."""
    address = value.strip()
    try:
        validate_header_text(address)
        validate_deliverable_email(address)
    except ValidationError as exc:
        if exc.code in ("email_local_part", "email_domain"):
            # Says what is wrong with the address, and quotes it.
            if label is None:
                raise
            raise ValidationError(
                _("%(label)s : %(error)s"),
                code=exc.code,
                params={"label": label, "error": exc.messages[0]},
            ) from None
        if label is None:
            raise ValidationError(
                _("« %(address)s » n'est pas une adresse e-mail valide."),
                code="address",
                params={"address": _shown(address)},
            ) from None
        raise ValidationError(
            _("%(label)s : « %(address)s » n'est pas une adresse e-mail valide."),
            code="address",
            params={"label": label, "address": _shown(value.strip())},
        ) from None
    # The domain is case-insensitive; the local part is the receiving server's business.
    local, _at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def copies_check(count: int, *, label: str | None = None) -> None:
    """Raises ValidationError when one copy header would hold more than MAX_COPIES addresses."""
    if count <= MAX_COPIES:
        return
    if label is None:
        raise ValidationError(
            _("Pas plus de %(count)d adresses en copie."),
            code="too_many",
            params={"count": MAX_COPIES},
        )
    raise ValidationError(
        _("%(label)s : pas plus de %(count)d adresses."),
        code="too_many",
        params={"label": label, "count": MAX_COPIES},
    )


def horizon_check(value: datetime, *, now: datetime) -> None:
    """Raises ValidationError when a scheduled moment lies beyond SCHEDULE_HORIZON."""
    if value > now + SCHEDULE_HORIZON:
        raise ValidationError(
            _("Un envoi se programme au plus un an à l'avance."), code="scheduled_far"
        )


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
                address = clean_address(item, label=label)
                found.setdefault(address.lower(), address)
    copies_check(len(found), label=label)
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
    horizon_check(value, now=now)
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
            reply = clean_address(str(reply_to), label=_("Adresse de réponse"))
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
