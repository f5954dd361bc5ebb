"""SQL the ORM writes slowly, shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Field, Model, Value
from django.db.models.expressions import RawSQL


def per_row(values: dict[int, Any], column: str, *, model: type[Model]) -> Value | RawSQL:
    """One value per row for an UPDATE of many rows: `CASE id WHEN 1 THEN x ... END`, written
    directly (Django's Case/When resolves a lookup for each row, ~0.2 ms per message sent), or
    the value itself when the rows share it. Rows not named keep their value."""
    field = model._meta.get_field(column)
    key = model._meta.pk
    assert isinstance(field, Field) and key is not None
    distinct = set(values.values())
    if len(distinct) == 1:
        return Value(distinct.pop(), output_field=field)
    quote = connection.ops.quote_name
    prepared = {pk: field.get_db_prep_value(value, connection) for pk, value in values.items()}
    sql = (
        f"CASE {quote(key.column)} "
        + " ".join("WHEN %s THEN %s" for _pk in prepared)
        + f" ELSE {quote(field.column)} END"
    )
    params = [item for pk, value in prepared.items() for item in (pk, value)]
    # Column names from our models; every value a parameter.
    return RawSQL(sql, params, output_field=field)  # noqa: S611
