"""Reads for the client screens: the searchable list, one client file, and selections of
clients (the filters of the selection builder, saved or not)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Lower
from django.http import QueryDict
from django.utils.translation import gettext as _

from courrier.clients.models import Client, ClientEmail, ClientSelection, InvoiceChannel, Tag
from courrier.firm.models import BillingCompany, Collaborator
from courrier.languages import MailLanguage

# Accented letters PostgreSQL's translate() folds, without the unaccent extension (which needs
# a superuser to install). Python folds the same way for SQLite and for the typed query.
_ACCENTED = "àáâãäåāăąçćčďèéêëēėęěìíîïīįłñńňòóôõöøōőŕřśšşťţùúûüūůűųýÿźżž"
_PLAIN = "aaaaaaaaacccdeeeeeeeeiiiiiilnnnooooooooorrsssttuuuuuuuuyyzzz"


def fold(text: str) -> str:
    """Lower case without accents: "Émile Léonard" -> "emile leonard"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return folded.replace("ł", "l").replace("ø", "o")


class Fold(Func):
    """SQL version of `fold()`: LOWER() everywhere, accents removed on SQLite and PostgreSQL."""

    function = "LOWER"
    output_field = TextField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Registered on the connection that runs the query: no settings, no signal to wire.
        connection.ensure_connection()
        connection.connection.create_function("courrier_fold", 1, _fold_or_none, deterministic=True)
        return super().as_sql(compiler, connection, function="courrier_fold", **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            template=f"translate(LOWER(%(expressions)s), '{_ACCENTED}', '{_PLAIN}')",
            **extra,
        )


def _fold_or_none(value: str | None) -> str | None:
    return None if value is None else fold(str(value))


def client_search(*, query: str = "", tags: Sequence[int] = ()) -> QuerySet[Client]:
    """Clients matching every word of `query` in their name, number, contact or one of their
    e-mail addresses; case- and accent-insensitive. With `tags`, only clients carrying at least
    one of them. An empty query lists everyone. Sorted by name, ignoring case and accents."""
    # Alphabetical as people read it: "Bäckerei" sorts with "Backerei", before "Brouwerij".
    clients = (
        Client.objects.select_related("billing_company", "responsible")
        .prefetch_related("emails", "tags")
        .order_by(Fold(F("name")), "number", "pk")
    )
    if tags:
        # A subquery rather than a join: a client with two of the tags is listed once.
        tagged = Client.tags.through.objects.filter(client_id=OuterRef("pk"), tag_id__in=tags)
        clients = clients.filter(Exists(tagged))
    # PostgreSQL refuses NUL in a string parameter; a typed or pasted query never means one.
    words = fold(query.replace("\x00", "")).split()[:8]
    if not words:
        return clients
    clients = clients.annotate(
        folded_name=Fold(F("name")),
        folded_contact=Fold(F("contact_name")),
        folded_number=Lower(F("number")),
    )
    for word in words:
        email_match = ClientEmail.objects.filter(client=OuterRef("pk"), address__icontains=word)
        clients = clients.filter(
            Q(folded_name__contains=word)
            | Q(folded_contact__contains=word)
            | Q(folded_number__contains=word)
            | Exists(email_match)
        )
    return clients


def client_get(*, pk: int) -> Client | None:
    """One client with what its file shows, or None."""
    return (
        Client.objects.select_related("billing_company", "responsible")
        .prefetch_related("emails", "tags")
        .filter(pk=pk)
        .first()
    )


# --- selections of clients ------------------------------------------------------------------

_TRUE = {"1", "true", "on", "yes", "oui"}
_FALSE = {"0", "false", "off", "no", "non"}
# Beyond this a "number" is garbage, and SQLite would overflow on it.
_MAX_ID_DIGITS = 18
_MAX_TAGS = 50
_MAX_QUERY = 20_000


def _id_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    text = str(value if value is not None else "").strip()
    # isdigit() alone accepts "²" and other Unicode digits that int() refuses.
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_ID_DIGITS:
        return None
    number = int(text)
    return number if number > 0 else None


def _flag_or_none(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _text(value: Any, limit: int) -> str:
    # PostgreSQL refuses NUL in a string parameter; a typed value never means one.
    return str(value if value is not None else "").replace("\x00", "").strip()[:limit]


def _channel(data: Mapping[str, Any]) -> str:
    """The invoice channel filter; a selection saved when the filter was "invoices by e-mail:
    yes / no" reads as e-mail / paper."""
    channel = _choice(data.get("invoice_channel"), InvoiceChannel.values)
    if channel or "invoices_by_email" not in data:
        return channel
    flag = _flag_or_none(data.get("invoices_by_email"))
    if flag is None:
        return ""
    return InvoiceChannel.EMAIL.value if flag else InvoiceChannel.PAPER.value


def _choice(value: Any, choices: Iterable[str]) -> str:
    text = _text(value, 20)
    return text if text in choices else ""


def _ids(values: Iterable[Any]) -> list[int]:
    ids = {number for number in map(_id_or_none, values) if number is not None}
    return sorted(ids)[:_MAX_TAGS]


@dataclass
class SelectionFilters:
    """The filters of a selection of clients. Every filter left empty matches everyone; the
    filters given all apply. `tags` matches clients carrying at least one of the tags.

    An id that names nothing (a tag deleted since a selection was saved) matches no client: a
    selection never widens because something it named has gone."""

    PREFIX: ClassVar[str] = "sel-"

    language: str = ""
    billing_company: int | None = None
    responsible: int | None = None
    kind: str = ""
    legal_form: str = ""
    invoice_channel: str = ""
    has_email: bool | None = None
    text: str = ""
    tags: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Same filters, same value: a loaded selection compares equal to what the form sends.
        self.tags = _ids(self.tags)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SelectionFilters:
        """Read `as_dict()` back (a saved selection). Never raises: what it cannot read is
        left out."""
        if not isinstance(data, Mapping):
            return cls()
        tags = data.get("tags")
        return cls(
            language=_choice(data.get("language"), MailLanguage.values),
            billing_company=_id_or_none(data.get("billing_company")),
            responsible=_id_or_none(data.get("responsible")),
            kind=_choice(data.get("kind"), Client.Kind.values),
            legal_form=_text(data.get("legal_form"), 40),
            invoice_channel=_channel(data),
            has_email=_flag_or_none(data.get("has_email")),
            text=_text(data.get("text"), 200),
            tags=_ids(tags if isinstance(tags, list | tuple) else []),
        )

    @classmethod
    def from_query(cls, query: QueryDict | str, *, prefix: str = PREFIX) -> SelectionFilters:
        """The filters of a query string or submitted form, names prefixed with `prefix`
        (`sel-language=nl&sel-tags=3&sel-tags=7`). Never raises: a value that is not one of
        the possible ones (a garbled id, an unknown language) is ignored."""
        if isinstance(query, str):
            # parse_qsl has no field limit (QueryDict raises TooManyFieldsSent beyond 1,000)
            # and replaces broken %-escapes; a real selection is a few hundred characters.
            parsed = QueryDict(mutable=True)
            for name, value in parse_qsl(query[:_MAX_QUERY], keep_blank_values=True):
                parsed.appendlist(name, value)
            query = parsed
        data: dict[str, Any] = {
            one.name: query.get(prefix + one.name) for one in fields(cls) if one.name != "tags"
        }
        data["tags"] = query.getlist(prefix + "tags")
        return cls.from_dict(data)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; what `ClientSelection.filters` stores."""
        return asdict(self)

    def as_query(self, *, prefix: str = PREFIX) -> str:
        """The filters as a query string that `from_query()` reads back; only the filters set."""
        query = QueryDict(mutable=True)
        for name, value in self.as_dict().items():
            if name == "tags":
                if value:
                    query.setlist(prefix + name, [str(tag) for tag in value])
            elif isinstance(value, bool):
                query[prefix + name] = "1" if value else "0"
            elif value not in (None, ""):
                query[prefix + name] = str(value)
        return query.urlencode()

    @property
    def is_empty(self) -> bool:
        return self == SelectionFilters()


def clients_matching(*, filters: SelectionFilters) -> QuerySet[Client]:
    """The active clients the filters select, sorted like the client list. Each carries
    `email_on_file` (True when the client has at least one e-mail address). Evaluated when
    used: a saved selection follows the clients' files as they change."""
    # The free text is the client list's search: same words, same accent folding.
    clients = (
        client_search(query=filters.text, tags=filters.tags)
        .filter(active=True)
        .annotate(email_on_file=_has_address())
    )
    if filters.language:
        clients = clients.filter(language=filters.language)
    if filters.billing_company is not None:
        clients = clients.filter(billing_company_id=filters.billing_company)
    if filters.responsible is not None:
        clients = clients.filter(responsible_id=filters.responsible)
    if filters.kind:
        clients = clients.filter(kind=filters.kind)
    if filters.legal_form:
        # "srl", "SRL" and "Srl" are one legal form; so are "société" and "Societe".
        clients = clients.annotate(folded_legal_form=Fold(F("legal_form"))).filter(
            folded_legal_form=fold(filters.legal_form)
        )
    if filters.invoice_channel:
        clients = clients.filter(invoice_channel=filters.invoice_channel)
    if filters.has_email is not None:
        clients = clients.filter(_has_address() if filters.has_email else ~_has_address())
    return clients


def _has_address() -> Exists:
    return Exists(ClientEmail.objects.filter(client=OuterRef("pk")))


@dataclass(frozen=True)
class SelectionPreview:
    """What a selection holds right now: the count, the clients who will receive a mail (the
    first ones) and, apart, the clients without any e-mail address."""

    total: int
    with_email: int
    clients: list[Client]
    without_email: list[Client]

    @property
    def without_email_count(self) -> int:
        return self.total - self.with_email

    @property
    def more(self) -> int:
        """Clients with an address beyond those listed."""
        return self.with_email - len(self.clients)

    @property
    def without_email_more(self) -> int:
        return self.without_email_count - len(self.without_email)


def selection_preview(*, filters: SelectionFilters, limit: int = 50) -> SelectionPreview:
    """Count and list the clients of a selection; at most `limit` clients in each list."""
    clients = clients_matching(filters=filters)
    with_email = clients.filter(_has_address())
    return SelectionPreview(
        total=clients.count(),
        with_email=with_email.count(),
        clients=list(with_email[:limit]),
        without_email=list(clients.filter(~_has_address())[:limit]),
    )


# Ids posted by the window's hand-made changes, as one comma-separated value each: a selection
# of 2,000 clients must not become 2,000 form fields (Django refuses more than 1,000).
_MAX_HAND_IDS = 10_000


def _id_list(values: Iterable[Any]) -> list[int]:
    """Ids from posted values, each a number or "12,34,56"; garbage is left out, order kept."""
    ids: list[int] = []
    seen: set[int] = set()
    for value in values:
        for item in str(value if value is not None else "").split(","):
            number = _id_or_none(item)
            if number is not None and number not in seen:
                seen.add(number)
                ids.append(number)
                if len(ids) >= _MAX_HAND_IDS:
                    return ids
    return ids


@dataclass
class SelectionAdjustments:
    """What a person changed by hand in the selection of the compose window: every active
    client asked for on purpose (`everyone`, when no filter is set), clients added one by one,
    and clients unticked in the computed list. The filters alone still make what is saved.

    Without any filter and without `everyone`, the filters select nobody: a window opened
    without a client starts with no recipient."""

    PREFIX: ClassVar[str] = "sel-"

    everyone: bool = False
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)

    @classmethod
    def from_query(cls, query: QueryDict, *, prefix: str = PREFIX) -> SelectionAdjustments:
        """Read the window's fields back. The listed rows (`listed`) whose box (`keep`) is not
        ticked are removed, ticked ones come back; a client added (`add-client`) is added and
        no longer removed. Never raises: what is not an id is ignored."""
        kept = set(_id_list(query.getlist(prefix + "keep")))
        listed = set(_id_list(query.getlist(prefix + "listed")))
        adding = _id_list(query.getlist(prefix + "add-client"))
        added = _id_list([*query.getlist(prefix + "add"), ",".join(map(str, adding))])
        unticked = set(_id_list(query.getlist(prefix + "remove"))) | (listed - kept)
        removed = [pk for pk in sorted(unticked) if pk not in kept and pk not in adding]
        return cls(
            everyone=_flag_or_none(query.get(prefix + "all")) is True,
            added=added,
            removed=removed,
        )

    def uses_filters(self, filters: SelectionFilters) -> bool:
        """Whether the filters choose anyone: some filter is set, or everyone was asked for."""
        return self.everyone or not filters.is_empty

    @property
    def added_param(self) -> str:
        return ",".join(map(str, self.added))

    @property
    def removed_param(self) -> str:
        return ",".join(map(str, self.removed))


def _adjusted(filters: SelectionFilters, adjustments: SelectionAdjustments) -> QuerySet[Client]:
    """Every client of the adjusted selection, unticked ones included, sorted like the client
    list, each with `email_on_file`."""
    chosen = Q(pk__in=adjustments.added)
    if adjustments.uses_filters(filters):
        chosen |= Q(pk__in=clients_matching(filters=filters).values("pk"))
    return client_search().filter(active=True).filter(chosen).annotate(email_on_file=_has_address())


def selection_recipients(
    *, filters: SelectionFilters, adjustments: SelectionAdjustments
) -> list[Client]:
    """The clients a mail to the selection goes to, as the window shows them: those the filters
    choose and those added by hand, less those unticked; active clients only, by name."""
    return list(_adjusted(filters, adjustments).exclude(pk__in=adjustments.removed))


@dataclass(frozen=True)
class SelectionRow:
    client: Client
    kept: bool  # ticked: the client receives the mail
    by_hand: bool  # added one by one, not chosen by the filters


@dataclass(frozen=True)
class AdjustedSelection:
    """The selection of the compose window as it is shown: the rows of the clients with an
    address (ticked or not, the first `limit`), the clients without one, and the counts."""

    recipients: int  # ticked clients, with or without an address
    with_email: int  # ticked clients with an address
    rows: list[SelectionRow]
    without_email: list[Client]
    more: int  # clients with an address beyond the rows shown
    uses_filters: bool
    kept_ids: frozenset[int] = frozenset()

    @property
    def without_email_count(self) -> int:
        return self.recipients - self.with_email

    @property
    def listed_param(self) -> str:
        return ",".join(str(row.client.pk) for row in self.rows)


def selection_adjusted(
    *, filters: SelectionFilters, adjustments: SelectionAdjustments, limit: int = 200
) -> AdjustedSelection:
    """The selection with the hand-made changes, for the compose window."""
    clients = list(_adjusted(filters, adjustments))
    removed = set(adjustments.removed)
    matched = (
        set(clients_matching(filters=filters).values_list("pk", flat=True))
        if adjustments.uses_filters(filters)
        else set()
    )
    reachable = {client.pk for client in clients if getattr(client, "email_on_file", False)}
    with_address = [client for client in clients if client.pk in reachable]
    kept = [client for client in clients if client.pk not in removed]
    return AdjustedSelection(
        recipients=len(kept),
        with_email=sum(1 for client in kept if client.pk in reachable),
        rows=[
            SelectionRow(client, client.pk not in removed, client.pk not in matched)
            for client in with_address[:limit]
        ],
        without_email=[client for client in kept if client.pk not in reachable][:limit],
        more=max(0, len(with_address) - limit),
        uses_filters=adjustments.uses_filters(filters),
        kept_ids=frozenset(client.pk for client in kept),
    )


def clients_to_add(*, query: str, limit: int = 10) -> list[Client]:
    """Active clients whose name, number, contact or address matches `query`, to add one by
    hand to a selection; nothing for an empty query."""
    if not query.strip():
        return []
    return list(
        client_search(query=query[:200])
        .filter(active=True)
        .annotate(email_on_file=_has_address())[:limit]
    )


def selections_for(*, user: Collaborator) -> QuerySet[ClientSelection]:
    """The selections a collaborator may use: their own and those shared with the firm."""
    return (
        ClientSelection.objects.filter(Q(owner=user) | Q(shared=True))
        .select_related("owner")
        .order_by(Lower("name"), "pk")
    )


def selection_get(*, pk: int, user: Collaborator) -> ClientSelection | None:
    """One selection the collaborator may use, or None (someone else's, not shared)."""
    return selections_for(user=user).filter(pk=pk).first()


def selection_named(*, owner: Collaborator, name: str) -> ClientSelection | None:
    """The owner's selection called `name`, whatever the case ("NÉERLANDOPHONES" is
    "néerlandophones"; SQLite's own LOWER() only knows ASCII)."""
    wanted = name.casefold()
    return next(
        (
            one
            for one in ClientSelection.objects.filter(owner=owner)
            if one.name.casefold() == wanted
        ),
        None,
    )


def tag_named(*, name: str) -> Tag | None:
    """The tag called `name`, whatever the case."""
    wanted = " ".join(name.split()).casefold()
    return next((tag for tag in Tag.objects.all() if tag.name.casefold() == wanted), None)


def selection_summaries(*, filters: Sequence[SelectionFilters]) -> list[list[str]]:
    """Each selection's filters in words ("Langue : néerlandais", ...), one list per selection;
    what a filter names and no longer exists is said so."""
    tag_ids = {tag for one in filters for tag in one.tags}
    company_ids = {one.billing_company for one in filters if one.billing_company is not None}
    people_ids = {one.responsible for one in filters if one.responsible is not None}
    tags = {tag.pk: tag.name for tag in Tag.objects.filter(pk__in=tag_ids)}
    companies = {
        company.pk: str(company) for company in BillingCompany.objects.filter(pk__in=company_ids)
    }
    people = {person.pk: str(person) for person in Collaborator.objects.filter(pk__in=people_ids)}
    gone = _("(supprimé)")
    kinds = dict(Client.Kind.choices)
    channels = dict(InvoiceChannel.choices)
    languages = dict(MailLanguage.choices)
    summaries: list[list[str]] = []
    for one in filters:
        parts: list[str] = []
        if one.language:
            parts.append(_("Langue : %s") % languages[one.language])
        if one.billing_company is not None:
            name = companies.get(one.billing_company, gone)
            parts.append(_("Société facturante : %s") % name)
        if one.responsible is not None:
            parts.append(_("Responsable : %s") % people.get(one.responsible, gone))
        if one.kind:
            parts.append(_("Type : %s") % kinds[one.kind])
        if one.legal_form:
            parts.append(_("Forme juridique : %s") % one.legal_form)
        if one.invoice_channel:
            parts.append(_("Envoi des factures : %s") % channels[one.invoice_channel])
        if one.has_email is not None:
            parts.append(
                _("Avec une adresse e-mail") if one.has_email else _("Sans adresse e-mail")
            )
        if one.text:
            parts.append(_("Texte : « %s »") % one.text)
        if one.tags:
            names = ", ".join(tags.get(tag, gone) for tag in one.tags)
            parts.append(_("Étiquettes (au moins une) : %s") % names)
        summaries.append(parts or [_("Tous les clients actifs")])
    return summaries


def selection_summary(*, filters: SelectionFilters) -> list[str]:
    return selection_summaries(filters=[filters])[0]
