"""A message's bytes, read and written explicitly.

The bytes live in `MessageContent`, apart from the message's row (see the model). Nothing
reads or writes them behind an attribute: the outbox store writes them with the rows
(`contents_store`), a delivery run reads those of its claimed messages in one query
(`contents_load`), and a page or a re-send reads one message's (`message_bytes`). Once read or
written, they are on the message (`OutboundMessage.raw`) for the transports.

On PostgreSQL with psycopg 3 the bytes travel in binary form through a cursor that binds on
the server, on Django's connection (so in the caller's transaction): Django's cursors bind on
the client, writing a bytea into the SQL text as hex and reading it back as hex text, twice its
size, in a statement of several MB for a round of invoice mails.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

from courrier.mailing.models import MessageContent, OutboundMessage


def message_bytes(message: OutboundMessage) -> bytes:
    """The bytes of one message: those already on it, else read from its MessageContent (one
    query) and kept on it. A message stored without bytes has none (b"")."""
    if not message.raw_loaded:
        contents_load([message])
    return message.raw


def contents_load(messages: Iterable[OutboundMessage]) -> None:
    """Read the bytes of these messages in one query (a delivery run's claimed batch, a page's
    list) and keep each on its message; those already on theirs are not read again."""
    waiting = {message.pk: message for message in messages if not message.raw_loaded}
    if not waiting:
        return
    found = _contents_binary(list(waiting))
    if found is None:
        found = list(
            MessageContent.objects.filter(message_id__in=list(waiting)).values_list(
                "message_id", "raw"
            )
        )
    for pk, raw in found:
        waiting.pop(pk).raw_load(bytes(raw))
    for message in waiting.values():
        message.raw_load(b"")


def contents_store(contents: Sequence[tuple[OutboundMessage, bytes]]) -> None:
    """Write the bytes of new messages (stored rows, each with its bytes) in the caller's
    transaction, and keep each on its message. One bulk INSERT, or on PostgreSQL with psycopg 3
    one server-bound binary parameter per message."""
    if not contents:
        return
    rows = [(message.pk, bytes(raw)) for message, raw in contents]
    psycopg, raw_connection = _psycopg_connection()
    if psycopg is None:
        MessageContent.objects.bulk_create(
            [MessageContent(message_id=pk, raw=raw) for pk, raw in rows]
        )
    else:
        table = connection.ops.quote_name(MessageContent._meta.db_table)
        with psycopg.Cursor(raw_connection) as cursor:
            cursor.executemany(
                f"INSERT INTO {table} (message_id, raw) VALUES (%s, %b)",  # noqa: S608
                rows,
            )
    for (message, _raw), (_pk, raw) in zip(contents, rows, strict=True):
        message.raw_load(raw)


def _psycopg_connection() -> tuple[Any, Any]:
    """(the psycopg module, Django's psycopg 3 connection) on PostgreSQL with psycopg 3, to
    open a cursor that binds on the server on the same connection (so in the same
    transaction); (None, None) elsewhere."""
    if connection.vendor != "postgresql":
        return None, None
    try:
        import psycopg
    except ImportError:  # psycopg2
        return None, None
    connection.ensure_connection()
    raw_connection = connection.connection
    if not isinstance(raw_connection, psycopg.Connection):
        return None, None
    return psycopg, raw_connection


def _contents_binary(pks: list[int]) -> list[tuple[int, bytes]] | None:
    """On PostgreSQL with psycopg 3, the bytes fetched in binary format: in text a bytea
    travels as hex, to be decoded again (0.2 ms of CPU per 50 KB message). None elsewhere (the
    caller uses the ORM)."""
    psycopg, raw_connection = _psycopg_connection()
    if psycopg is None:
        return None
    table = connection.ops.quote_name(MessageContent._meta.db_table)
    with psycopg.Cursor(raw_connection) as cursor:
        cursor.execute(
            f"SELECT message_id, raw FROM {table} WHERE message_id = ANY(%s)",  # noqa: S608
            [pks],
            binary=True,
        )
        return [(int(pk), bytes(raw)) for pk, raw in cursor.fetchall()]
