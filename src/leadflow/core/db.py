"""Set-based writes the ORM does slowly."""

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router

# Rows per UPDATE statement; keeps the parameter count well under SQLite's and PostgreSQL's limits.
UPDATE_CHUNK = 500


def bulk_update_fast(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Saves `fields` of many rows with one UPDATE … FROM (VALUES …) per chunk.

    Django's bulk_update builds a CASE per field and row, which costs seconds per thousand rows;
    this costs milliseconds. Works on SQLite ≥ 3.33 and PostgreSQL.
    """
    if not objs:
        return 0
    model = type(objs[0])
    meta = model._meta
    alias = router.db_for_write(model)
    connection = connections[alias]
    columns: list[models.Field[Any, Any]] = []
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field), f"{name} is not a concrete field"
        columns.append(field)
    pk = meta.pk
    assert pk is not None
    postgres = connection.vendor == "postgresql"
    quote = connection.ops.quote_name
    table = quote(meta.db_table)

    def value_ref(index: int, field: models.Field[Any, Any]) -> str:
        ref = f"v.column{index}"
        return f"CAST({ref} AS {field.db_type(connection)})" if postgres else ref

    assignments = ", ".join(
        f"{quote(field.column)} = {value_ref(i + 2, field)}" for i, field in enumerate(columns)
    )
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), UPDATE_CHUNK):
            chunk = objs[start : start + UPDATE_CHUNK]
            row = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
            params: list[Any] = []
            for obj in chunk:
                params.append(obj.pk)
                for field in columns:
                    params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
            pk_ref = value_ref(1, pk)
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(chunk))}) AS v "
                f"WHERE {table}.{quote(pk.column)} = {pk_ref}",
                params,
            )
            updated += cursor.rowcount
    return updated
