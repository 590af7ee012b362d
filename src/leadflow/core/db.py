"""Set-based writes the ORM does slowly, and the statements every capture runs."""

import functools
import json
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, models, router
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models.base import ModelState

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
    if connection.vendor == "postgresql" and len(objs) >= COPY_FROM_ROWS:
        return _update_by_copy(connection, objs, columns)
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), UPDATE_CHUNK):
            chunk = objs[start : start + UPDATE_CHUNK]
            params: list[Any] = []
            for obj in chunk:
                params.append(obj.pk)
                params.extend(_db_values(obj, columns, connection, add=False))
            cursor.execute(_update_sql(model, tuple(columns), len(chunk), alias), params)
            updated += cursor.rowcount
    return updated


@functools.lru_cache(maxsize=512)
def _update_sql(
    model: type[models.Model], columns: tuple[models.Field[Any, Any], ...], rows: int, alias: str
) -> str:
    connection = connections[alias]
    pk = model._meta.pk
    assert pk is not None
    postgres = connection.vendor == "postgresql"
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)

    def value_ref(index: int, field: models.Field[Any, Any]) -> str:
        ref = f"v.column{index}"
        return f"CAST({ref} AS {field.db_type(connection)})" if postgres else ref

    assignments = ", ".join(
        f"{quote(field.column)} = {value_ref(i + 2, field)}" for i, field in enumerate(columns)
    )
    row = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
    return (
        f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * rows)}) AS v "
        f"WHERE {table}.{quote(pk.column)} = {value_ref(1, pk)}"
    )


# From this many rows on, PostgreSQL writes go through COPY (psycopg adapts the values in C, and
# the statement is not rebuilt and re-parsed with thousands of parameters).
COPY_FROM_ROWS = 50


def _copy_rows(cursor: Any, table: str, columns: Sequence[str], rows: Any) -> None:
    """COPY rows in; errors surface as Django's (IntegrityError …), as from cursor.execute."""
    with (
        cursor.db.wrap_database_errors,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


M = TypeVar("M", bound=models.Model)
# Fields whose Python value the database driver takes as it is: Django's per-value conversion is skipped.
_PLAIN_FIELDS: tuple[type[models.Field[Any, Any]], ...] = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.FloatField,
    models.BooleanField,
    models.ForeignKey,
)
# psycopg takes aware datetimes as they are (Django's PostgreSQL adapter returns them unchanged).
_PLAIN_ON_POSTGRESQL = (models.DateTimeField,)


def _db_values(
    obj: models.Model, fields: Sequence[models.Field[Any, Any]], connection: Any, add: bool
) -> list[Any]:
    read, conversions = _value_plan(tuple(fields), connection.vendor, add)
    values = list(read(obj))
    for index, convert in conversions:
        values[index] = convert(obj, connection)
    return values


Converter = Callable[[models.Model, Any], Any]


@functools.cache
def _value_plan(
    fields: tuple[models.Field[Any, Any], ...], vendor: str, add: bool
) -> tuple[Callable[[models.Model], tuple[Any, ...]], list[tuple[int, Converter]]]:
    """How a row's values become the database's: all are read at once, then the fields that need it are
    converted: JSON to text (both databases take a JSON column's value as text), the rest by Django."""
    conversions: list[tuple[int, Converter]] = []
    for index, field in enumerate(fields):
        auto = add and (getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))
        if isinstance(field, _PLAIN_FIELDS) or (
            vendor == "postgresql" and isinstance(field, _PLAIN_ON_POSTGRESQL) and not auto
        ):
            continue
        if isinstance(field, models.JSONField) and field.encoder is None:
            conversions.append((index, functools.partial(_json_text, field.attname)))
        else:
            conversions.append((index, functools.partial(_converted, field, add)))
    names = [field.attname for field in fields]
    read = operator.attrgetter(*names) if len(names) > 1 else lambda obj: (getattr(obj, names[0]),)
    return read, conversions


def _json_text(attname: str, obj: models.Model, connection: Any) -> str | None:
    value = getattr(obj, attname)
    return None if value is None else json_text(value)


# Integer keys become strings as with json.dumps; datetimes and dataclasses are refused as json.dumps does.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_text(value: Any) -> str:
    """``json.dumps(value)``, 5–10× faster (orjson), for what bulk writes store: the same JSON once parsed.
    What orjson refuses (integers beyond 64 bits …) goes to json.dumps, which accepts or refuses it."""
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def _converted(field: models.Field[Any, Any], add: bool, obj: models.Model, connection: Any) -> Any:
    value = field.pre_save(obj, add=add) if add else getattr(obj, field.attname)
    return field.get_db_prep_save(value, connection)


@functools.cache
def _blank(
    model: type[models.Model],
) -> tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...], frozenset[str]]:
    """A new row's defaults: constants, the callables (dict, now …) called per row, and all columns."""
    constants: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for field in model._meta.concrete_fields:
        if field.has_default() and callable(field.default):
            factories.append((field.attname, field.default))
        else:
            constants[field.attname] = field.get_default()
    return constants, tuple(factories), frozenset(f.attname for f in model._meta.concrete_fields)


def new_instance(model: type[M], /, **values: Any) -> M:
    """A new unsaved row, equal to ``model(**values)`` but up to 15× faster to build (the intake flow
    builds several per lead). ``values`` are given by column attribute (``lead_id``, not ``lead``)."""
    constants, factories, columns = _blank(model)
    if not values.keys() <= columns:
        unknown = sorted(set(values) - columns)
        raise TypeError(f"{model.__name__} has no columns {unknown} (give foreign keys as <name>_id)")
    obj = model.__new__(model)
    attributes = obj.__dict__
    attributes.update(constants)
    for attname, factory in factories:
        if attname not in values:
            attributes[attname] = factory()
    attributes.update(values)
    obj._state = ModelState()
    return obj


def bulk_insert(objs: Sequence[M], *, auto_now: bool = True) -> list[M]:
    """Inserts many new rows of one model, like bulk_create without its per-statement query building. Rows
    without an auto-incremented key get one; rows whose keys were taken with ``ids_reserve``, or that carry
    their own (a UUID), are written with them. ``auto_now=False`` keeps the times the rows carry instead of
    stamping auto_now fields (the intake flow's time is a new lead's version).

    A small batch is one ``INSERT … VALUES`` (a prepared statement on PostgreSQL: captures insert one row
    at a time). On PostgreSQL a large batch takes its ids from the table's sequence in one query and is
    written with COPY.
    """
    if not objs:
        return []
    model = type(objs[0])
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    pk = meta.pk
    assert pk is not None
    keyed = sum(obj.pk is not None for obj in objs)
    auto = isinstance(pk, models.AutoField | models.BigAutoField)
    if 0 < keyed < len(objs) or (not auto and keyed < len(objs)):
        return model._default_manager.bulk_create(objs)
    for obj in objs:  # a related object saved after it was assigned gives its key now, as in bulk_create
        obj._prepare_related_fields_for_save(operation_name="bulk_insert")  # type: ignore[attr-defined]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    if connection.vendor != "postgresql" or len(objs) < COPY_FROM_ROWS:
        return _insert_values(connection, objs, table, keyed=bool(keyed), auto_now=auto_now)
    if not keyed:
        for obj, new_id in zip(objs, ids_reserve(model, len(objs)), strict=True):
            setattr(obj, pk.attname, new_id)
    fields = [f for f in meta.concrete_fields if f.column]
    with connection.cursor() as cursor:
        rows = (_db_values(obj, fields, connection, add=auto_now) for obj in objs)
        _copy_rows(cursor, table, [quote(f.column) for f in fields], rows)
    for obj in objs:
        _saved(obj, obj.pk, connection.alias)
    return list(objs)


def ids_reserve(model: type[models.Model], count: int) -> list[int]:
    """``count`` new primary keys of ``model``'s table, taken now as an insert would take them, for rows
    written later in the transaction (with ``bulk_insert``): a new lead gets its id before the flow's steps
    and is written once, at the end. Foreign keys to it are deferred to the commit on both databases."""
    if count <= 0:
        return []
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    pk = meta.pk
    assert pk is not None
    with hot_cursor(connection.alias) as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, pk.column, count],
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite (AUTOINCREMENT): the table's row in sqlite_sequence is what the next insert reads.
        cursor.execute(
            "UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s RETURNING seq", [count, meta.db_table]
        )
        row = cursor.fetchone()
        if row is None:  # nothing was ever inserted
            cursor.execute(
                f"SELECT COALESCE(MAX({connection.ops.quote_name(pk.column)}), 0) FROM {meta.db_table}"
            )
            row = (cursor.fetchone()[0] + count,)
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [meta.db_table, row[0]])
        return list(range(row[0] - count + 1, row[0] + 1))


# Rows per INSERT … VALUES statement (SQLite allows 32,766 parameters; no lead table has 100 columns).
INSERT_CHUNK = 300


def _insert_values(connection: Any, objs: Sequence[M], table: str, *, keyed: bool, auto_now: bool) -> list[M]:
    meta = objs[0]._meta
    pk = meta.pk
    assert pk is not None
    fields = [f for f in meta.concrete_fields if f.column and (keyed or f is not pk)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    returning = "" if keyed else f" RETURNING {quote(pk.column)}"
    with hot_cursor(connection.alias) as cursor:
        for start in range(0, len(objs), INSERT_CHUNK):
            chunk = objs[start : start + INSERT_CHUNK]
            params = [value for obj in chunk for value in _db_values(obj, fields, connection, add=auto_now)]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(chunk))}{returning}", params
            )
            # Both databases return the rows of a multi-row VALUES in its order.
            ids = [obj.pk for obj in chunk] if keyed else [new_id for (new_id,) in cursor.fetchall()]
            for obj, new_id in zip(chunk, ids, strict=True):
                _saved(obj, new_id, connection.alias)
    return list(objs)


def _saved(obj: models.Model, pk: Any, alias: str) -> None:
    setattr(obj, obj._meta.pk.attname, pk)
    obj._state.adding = False
    obj._state.db = alias


def _update_by_copy(
    connection: Any, objs: Sequence[models.Model], columns: list[models.Field[Any, Any]]
) -> int:
    """PostgreSQL: the new values are COPied into a temporary table, then one UPDATE … FROM it."""
    meta = objs[0]._meta
    pk = meta.pk
    assert pk is not None
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    temp = quote(f"_update_{meta.db_table}")
    definitions = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in [pk, *columns])
    definitions = definitions.replace(" bigserial", " bigint").replace(" serial", " integer")
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(f"CREATE TEMPORARY TABLE {temp} ({definitions})")
        rows = ([obj.pk, *_db_values(obj, columns, connection, add=False)] for obj in objs)
        _copy_rows(cursor, temp, [quote(f.column) for f in [pk, *columns]], rows)
        key = quote(pk.column)
        cursor.execute(f"UPDATE {table} SET {assignments} FROM {temp} AS v WHERE {table}.{key} = v.{key}")
        updated = cursor.rowcount
        cursor.execute(f"DROP TABLE {temp}")
    return int(updated)


@contextmanager
def hot_cursor(alias: str = DEFAULT_DB_ALIAS) -> Iterator[CursorWrapper]:
    """A cursor for the few statements run on every capture, with constant SQL text.

    On PostgreSQL it binds parameters on the server and prepares each statement once per connection,
    so PostgreSQL stops parsing and planning it (Django binds on the client: every execution is parsed
    and planned). Query logging and execute wrappers apply as to any Django cursor. Write lists
    as ``= ANY(%s)`` there; see ``in_values``.
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    if connection.connection.prepare_threshold is None:
        # Django turns preparation off; a threshold no count reaches keeps it to statements asked for.
        connection.connection.prepare_threshold = 2**31
    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    with connection.wrap_database_errors, _PreparedCursor(connection.connection) as raw:
        yield wrapper(raw, connection)


class _PreparedCursor(psycopg.Cursor[Any]):
    """Server-side binding, and every statement prepared."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True, binary=binary)


def rows_for_update(
    model: type[M], ids: Sequence[Any], *, related: str | None = None, alias: str = DEFAULT_DB_ALIAS
) -> dict[Any, M]:
    """``model``'s rows with these ids by id, locked for the transaction (``FOR UPDATE OF`` the table on
    PostgreSQL; SQLite's write transaction already holds the database), with the ``related`` foreign key's
    row loaded too: what ``select_for_update(of=("self",)).select_related(related).in_bulk(ids)`` returns,
    from one prepared statement instead of a query compiled per call."""
    pk = model._meta.pk
    assert pk is not None
    rows = _rows_read(model, pk.name, ids, related=related, lock=True, alias=alias)
    return {obj.pk: obj for obj in rows}


def rows_matching(
    model: type[M],
    field: str,
    values: Sequence[Any],
    *,
    related: str | None = None,
    alias: str = DEFAULT_DB_ALIAS,
) -> list[M]:
    """``model``'s rows whose ``field`` has one of ``values``, with the ``related`` row loaded: what
    ``filter(field__in=values).select_related(related)`` returns, from one prepared statement (the reads
    every API request makes, such as its key)."""
    return _rows_read(model, field, values, related=related, lock=False, alias=alias)


def _rows_read(
    model: type[M], field: str, values: Sequence[Any], *, related: str | None, lock: bool, alias: str
) -> list[M]:
    if not values:
        return []
    connection = connections[alias]
    sql, plans = _rows_plan(model, field, related, lock, alias)
    test, params = in_values(values, alias)
    with hot_cursor(alias) as cursor:
        cursor.execute(sql.format(test=test), params)
        rows = cursor.fetchall()
    found: list[M] = []
    for row in rows:
        objs: list[models.Model | None] = []
        for row_model, start, count, pk_index, converted in plans:
            values_ = list(row[start : start + count])
            if values_[pk_index] is None:  # no related row
                objs.append(None)
                continue
            for index, col, converters in converted:
                for convert in converters:
                    values_[index] = convert(values_[index], col, connection)
            objs.append(row_model.from_db(alias, (), values_))  # every column: the names are not needed
        obj = objs[0]
        assert isinstance(obj, model)
        if related is not None:
            model._meta.get_field(related).set_cached_value(obj, objs[1])  # type: ignore[union-attr]
        found.append(obj)
    return found


# Per model in a row: the model, where its columns start, how many, its key's index, the converted columns.
_RowsPlan = tuple[type[models.Model], int, int, int, list[tuple[int, Any, list[Any]]]]


@functools.cache
def _rows_plan(
    model: type[models.Model], field: str, related: str | None, lock: bool, alias: str
) -> tuple[str, list[_RowsPlan]]:
    """The SELECT (with ``{test}`` for the value list) and, per model in the row, its columns' place and the
    converters Django's compiler would apply to them (JSON text, SQLite's dates, decimals …)."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    pairs: list[tuple[type[models.Model], str]] = [(model, "t")]
    join = ""
    if related is not None:
        foreign_key = model._meta.get_field(related)
        assert isinstance(foreign_key, models.ForeignKey)
        target = foreign_key.related_model
        assert isinstance(target, type) and target._meta.pk is not None
        pairs.append((target, "r"))
        join = (
            f" LEFT JOIN {quote(target._meta.db_table)} r"
            f" ON r.{quote(target._meta.pk.column)} = t.{quote(foreign_key.column)}"
        )
    columns: list[str] = []
    plans: list[_RowsPlan] = []
    for row_model, table_alias in pairs:
        fields = [f for f in row_model._meta.concrete_fields if f.column]
        converted = []
        for index, concrete in enumerate(fields):
            col = concrete.get_col(row_model._meta.db_table)
            converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if converters:
                converted.append((index, col, converters))
        pk_index = fields.index(row_model._meta.pk)
        plans.append((row_model, len(columns), len(fields), pk_index, converted))
        columns.extend(f"{table_alias}.{quote(f.column)}" for f in fields)
    column = model._meta.get_field(field)
    assert isinstance(column, models.Field)
    locking = " FOR UPDATE OF t" if lock and connection.vendor == "postgresql" else ""
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(model._meta.db_table)} t{join}"
        f" WHERE t.{quote(column.column)} {{test}}{locking}"
    )
    return sql, plans


def json_read(value: Any) -> Any:
    """A JSON column's value as a raw cursor returns it: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def in_values(values: Sequence[Any], alias: str = DEFAULT_DB_ALIAS) -> tuple[str, list[Any]]:
    """``column <this>`` tests membership in ``values``: one array parameter on PostgreSQL (the SQL text
    stays the same whatever the count), a list of placeholders elsewhere."""
    if connections[alias].vendor == "postgresql":
        return "= ANY(%s)", [list(values)]
    return f"IN ({', '.join(['%s'] * len(values))})", list(values)


class PlannerStatistics:
    """Keeps PostgreSQL's planner statistics of the tables a bulk run reads current while the run grows them.

    An import can double the lead tables long before autovacuum's ANALYZE comes round (and never where
    autovacuum is off). The planner then still takes them for small, and answers the flow's lookups
    (identities, blocking keys, idempotency keys) by scanning whole tables instead of using their indexes:
    each batch gets slower as the tables grow. Each time the run has written as many rows as the first table
    held at the last refresh (and at least MIN_ROWS), ``rows_written`` runs ANALYZE on the tables. SQLite
    needs none: without statistics its planner prefers the indexes.
    """

    MIN_ROWS = 5_000

    def __init__(self, models_: Sequence[type[models.Model]], alias: str = DEFAULT_DB_ALIAS) -> None:
        self.connection = connections[alias]
        self.tables = [m._meta.db_table for m in models_]
        self.enabled = self.connection.vendor == "postgresql"
        self.pending = 0
        self.size = self._size() if self.enabled else 0
        self.refreshes = 0

    def _size(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass",
                [self.tables[0]],
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def rows_written(self, count: int) -> None:
        if not self.enabled:
            return
        self.pending += count
        if self.pending < max(self.MIN_ROWS, self.size):
            return
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(quote(table) for table in self.tables)}")
        self.size, self.pending = self._size(), 0
        self.refreshes += 1
