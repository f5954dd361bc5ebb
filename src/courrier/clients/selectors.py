"""Reads for the client screens: the searchable list and one client file."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Lower

from courrier.clients.models import Client, ClientEmail

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


def client_search(*, query: str = "") -> QuerySet[Client]:
    """Clients matching every word of `query` in their name, number, legal form, contact or one
    of their e-mail addresses; case- and accent-insensitive. An empty query lists everyone.
    Sorted by name, ignoring case and accents."""
    # Alphabetical as people read it: "Bäckerei" sorts with "Backerei", before "Brouwerij".
    clients = (
        Client.objects.select_related("billing_company", "responsible")
        .prefetch_related("emails")
        .order_by(Fold(F("name")), "number", "pk")
    )
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
        .prefetch_related("emails")
        .filter(pk=pk)
        .first()
    )
