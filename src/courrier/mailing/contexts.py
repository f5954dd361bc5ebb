"""What a mail is about beyond its client: an invoice, a VAT return, a document, ...

A screen that writes about one of its objects hands the compose services a `MailContext`: the
context's name (the key of its merge-field catalogue in `fields.CONTEXT_FIELDS`), the object's
client, the context's own field values for a language, the files to attach automatically and
which of the client's addresses to write to. Each app that owns such objects registers, when
it is ready, a resolver from object ids to contexts; the compose window and the batch task find
the objects through it, so that `mailing` never imports the apps that use it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.mime.base import MIMEBase
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from courrier.clients.models import Client
    from courrier.firm.models import BillingCompany, Collaborator
    from courrier.mailing.models import MailBatch, MailTemplate
    from courrier.mailing.services.store import PreparedMessage
    from courrier.texts import Text

# The context of a mail to a client about no object in particular (the compose window's to one
# client or a selection; `MailTemplate.Context.CLIENT`), and the purpose such a mail is stored
# with: every other context is registered by the app that owns its objects.
CLIENT_CONTEXT = "client"
PURPOSE_CLIENT = "client"
# The second mail of a secure link, the one that gives its code (`courrier.mailing.links`).
PURPOSE_LINK_CODE = "link-code"

# Types that RFC 2046 forbids to encode in base64: sent as plain files.
_OPAQUE_MAINTYPES = frozenset({"message", "multipart"})
_BASE64_LINE = 76  # characters, as base64.encodebytes writes them (57 bytes each)


def base64_lines(data: bytes) -> str:
    """What `email.encoders.encode_base64` writes (`base64.encodebytes`: lines of 76
    characters, each ended by a newline), in one C call instead of one per 57 bytes: ~0.7 ms
    less for an invoice's PDF."""
    encoded = base64.b64encode(data).decode("ascii")
    return "".join(
        encoded[start : start + _BASE64_LINE] + "\n"
        for start in range(0, len(encoded), _BASE64_LINE)
    )


class AttachedFile:
    """A file joined to a mail: its name, type, size, bytes (read once) and MIME part."""

    name: str
    content_type: str
    size: int
    # Set on files the sender chose in the window (uploads); None for files a context adds.
    upload_pk: int | None = None

    @property
    def content(self) -> bytes:
        raise NotImplementedError

    def mime_part(self) -> MIMEBase:
        maintype, _slash, subtype = self.content_type.partition("/")
        if maintype in _OPAQUE_MAINTYPES or not subtype:
            maintype, subtype = "application", "octet-stream"
        part = MIMEBase(maintype, subtype)
        # Base64 for every file, text included: the bytes arrive exactly as stored.
        part.set_payload(base64_lines(self.content))
        part["Content-Transfer-Encoding"] = "base64"
        filename: str | tuple[str, str, str] = self.name
        if not self.name.isascii():
            filename = ("utf-8", "", self.name)  # RFC 2231
        part.add_header("Content-Disposition", "attachment", filename=filename)
        return part


class StoredFile(AttachedFile):
    """A file kept by the app (an invoice's PDF, a client document), read when the mail is
    built and checked against its fingerprint when it has one."""

    def __init__(
        self,
        *,
        name: str,
        content_type: str,
        size: int,
        read: Callable[[], bytes],
        sha256: str = "",
    ) -> None:
        self.name = name
        self.content_type = content_type or "application/octet-stream"
        self.size = int(size)
        self._read = read
        self.sha256 = sha256
        self._content: bytes | None = None

    @property
    def content(self) -> bytes:
        if self._content is None:
            try:
                content = self._read()
            except (OSError, ValueError):
                raise ValidationError(
                    _("Le fichier « %(name)s » est introuvable sur le serveur."),
                    code="file_missing",
                    params={"name": self.name},
                ) from None
            if self.sha256 and hashlib.sha256(content).hexdigest() != self.sha256:
                raise ValidationError(
                    _("Le fichier « %(name)s » a été altéré depuis qu'il a été enregistré."),
                    code="file_altered",
                    params={"name": self.name},
                )
            self._content = content
        return self._content


class Addresses:
    """Which of the client's addresses a context writes to."""

    MAIL = "mail"  # Client.mail_addresses(): the general ones, else every address
    INVOICES = "invoices"  # Client.invoice_addresses(): those for invoices, else the general


@dataclass
class MailContext:
    """One object a mail is about, as the compose services need it."""

    name: str
    client: Client
    # The context's own fields for a language (the client's are added by compose).
    values: Callable[[str], dict[str, str]]
    object_id: int | None = None
    # Shown in the window, the preview and the pre-send check: "Facture 2026/0042".
    label: StrOrPromise = ""
    # What objects sent together share, in the interface's language ("3e trimestre 2026" for
    # VAT returns, "exercice 2026" for ISOC): the title of their batch's page names it.
    group: StrOrPromise = ""
    attachments: Sequence[AttachedFile] = field(default_factory=tuple)
    addresses: str = Addresses.MAIL
    # Set for invoices: the billing company's profile sends (profiles.profile_for).
    billing_company: BillingCompany | None = None
    # The language the mail should be in when the object has one (an invoice's); else the
    # client's.
    language: str = ""
    # The context of the templates written for this object, when not `name`: a credit note's
    # mail is an invoice mail, its templates are of the context "credit_note". The compose
    # window offers those.
    template_context: str = ""
    # What the object refuses in any text written about it, whoever wrote it (a credit note:
    # a request for payment): (subject, body) -> the reasons, none when it may go.
    # `drafts.mail_draft` makes them blockers: the preview, the pre-send check and every
    # path that stores a mail say them and store nothing.
    refuses: Callable[[str, str], Sequence[Text]] | None = None
    # The object itself, as its app loaded it for a batch (billing: the invoice and the PDF
    # made for it in this round); mailing never reads it, it hands it back to the app's hooks.
    about: Any = None

    @property
    def templates(self) -> str:
        """The context of the templates offered for this object."""
        return self.template_context or self.name

    def recipient_addresses(self) -> list[str]:
        if self.addresses == Addresses.INVOICES:
            return self.client.invoice_addresses()
        return self.client.mail_addresses()


def templates_context(name: str, objects: Sequence[MailContext]) -> str:
    """The context of the templates a window writing about `objects` (of context `name`)
    offers: the objects' own when they share one (credit notes: "credit_note"), else `name`
    (a mix of invoices and credit notes: the invoice templates, which each credit note's
    `refuses` still judges)."""
    kinds = {item.templates for item in objects}
    if len(kinds) == 1:
        return kinds.pop()
    return name


# A resolver: (ids, the collaborator asking) -> the contexts of the objects they may write
# about, in the order of the ids; ids they may not see or that do not exist are left out.
Resolver = Callable[[Sequence[int], "Collaborator | None"], list[MailContext]]

_RESOLVERS: dict[str, Resolver] = {}


@dataclass(frozen=True)
class SentOnce:
    """The objects of a context that reach their client once (invoices and credit notes):
    whatever sends an object's mail — a batch, the compose window, a send on issue — stores it
    under `mail_key`, with this `purpose`, and a path that finds that key sends nothing. Only a
    re-send asked for on purpose goes again, under `resend_key`, with `resend_purpose`."""

    purpose: str
    resend_purpose: str


_SENT_ONCE: dict[str, SentOnce] = {}


def _nothing(objects: Sequence[MailContext]) -> None:
    return None


def _none_taken(objects: Sequence[MailContext]) -> set[int]:
    return set()


def _as_is(context: MailContext) -> MailContext:
    return context


def _nothing_left(before: datetime) -> int:
    return 0


@dataclass(frozen=True)
class BatchHooks:
    """What a context's objects need from the batch engine (`services/rounds.py`) besides
    their mails, for an app whose objects carry work of their own (billing: an invoice's PDF,
    made once, recorded on the invoice, attached).

    A batch goes by rounds. `load` gives the contexts of a round's object ids (one query for
    all, the resolver's rules), ready to be mailed: it runs outside any transaction, so it may
    do slow work there (make the PDFs not made yet, in memory). `template` is the template of
    an object's mail when the batch's own does not apply (an invoice: its company's invoice
    or credit-note template); it raises a ValidationError saying why the object cannot be
    mailed (a draft). Before the round's transaction, `write` writes what `load` made (the
    files); in it, before the messages, `record` records it on the objects' rows and returns
    the ids of those another run changed meanwhile, whose mails are then made again alone
    from what is stored; `drop` removes what `write` wrote for contexts whose mails were not
    stored. For a mail made alone (a round redone, a mail stored by link), `settle` runs in
    that mail's transaction and gives the context as stored (the PDF recorded, or the one
    another run recorded).

    `route` sends an object another way than by mail when it should (an invoice to a client
    on Peppol: its e-invoice through the company's access point): it returns the document
    prepared as an outbox row (`services.document_prepare`, under its own key and purpose),
    or None for a mail; it raises a ValidationError or a MailingError saying why the object
    cannot go that way. It runs with no transaction open, after `load`.

    `sweep` removes what `write` wrote, before `before`, for rounds that never committed (a
    worker killed between the two): the files no stored row names. It returns how many."""

    load: Callable[[Sequence[int], Collaborator | None], list[MailContext]] | None = None
    template: Callable[[MailContext], MailTemplate | None] | None = None
    write: Callable[[Sequence[MailContext]], None] = _nothing
    record: Callable[[Sequence[MailContext]], set[int]] = _none_taken
    drop: Callable[[Sequence[MailContext]], None] = _nothing
    settle: Callable[[MailContext], MailContext] = _as_is
    route: Callable[[MailContext, MailBatch], PreparedMessage | None] | None = None
    sweep: Callable[[datetime], int] = _nothing_left


_BATCH_HOOKS: dict[str, BatchHooks] = {}


# Told, once the transaction commits, of the objects whose documents (the Peppol channel) the
# network reports delivered: (object ids) -> None.
Delivered = Callable[[Sequence[int]], None]
_DELIVERED: dict[str, Delivered] = {}


def register(
    name: str,
    resolver: Resolver,
    *,
    once: SentOnce | None = None,
    batch: BatchHooks | None = None,
    delivered: Delivered | None = None,
) -> None:
    """Make a context's objects reachable by name (call it from AppConfig.ready); `once`: each
    object is mailed once (see SentOnce); `batch`: what its objects need from a batch (see
    BatchHooks); `delivered`: told of the objects whose documents were delivered (billing: the
    courtesy copy by e-mail that follows an e-invoice)."""
    _RESOLVERS[name] = resolver
    if delivered is not None:
        _DELIVERED[name] = delivered
    else:
        _DELIVERED.pop(name, None)
    if once is not None:
        _SENT_ONCE[name] = once
    else:
        _SENT_ONCE.pop(name, None)
    if batch is not None:
        _BATCH_HOOKS[name] = batch
    else:
        _BATCH_HOOKS.pop(name, None)


def delivered_hook(name: str) -> Delivered | None:
    """Who is told of the objects of context `name` whose documents were delivered."""
    return _DELIVERED.get(name)


def batch_hooks_registered() -> list[BatchHooks]:
    """The batch hooks of every context that registered some."""
    return list(_BATCH_HOOKS.values())


def batch_hooks(name: str) -> BatchHooks:
    """What a context's objects need from a batch (nothing beyond their mails by default)."""
    return _BATCH_HOOKS.get(name) or BatchHooks()


def sent_once(name: str) -> SentOnce | None:
    """How the mails of a context's objects are sent once, or None: each mail goes as asked."""
    return _SENT_ONCE.get(name)


# The one key scheme of the mails about an object, for every path that sends them (billing's
# batch, "@" and send on issue; the compose window and its batches). The outbox's unique index
# on the key is what makes "once" hold between two paths running at the same moment.


def mail_key(name: str, object_id: int) -> str:
    """The idempotency key of the first mail about an object: "invoice:42:email"."""
    return f"{name}:{object_id}:email"


def resend_key(name: str, object_id: int, number: int | str) -> str:
    """The idempotency key of the `number`-th re-send of an object's mail, asked for on
    purpose: "invoice:42:resend:1" ("" gives the prefix every re-send's key starts with)."""
    return f"{name}:{object_id}:resend:{number}"


def registered() -> list[str]:
    return list(_RESOLVERS)


def resolve(
    name: str, ids: Sequence[int], *, user: Collaborator | None = None
) -> list[MailContext]:
    """The contexts of objects `ids` of context `name`, in order; raises LookupError for a
    context nobody registered."""
    try:
        resolver = _RESOLVERS[name]
    except KeyError:
        raise LookupError(f"No mail context named {name!r}.") from None
    return resolver(list(ids), user)
