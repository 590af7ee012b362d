"""Per-process cache of configuration, valid for as long as the configuration generation is unchanged.

The intake flow and the activity path read the same configuration for every lead: custom fields,
scoring rules, the qualification policy, routing rules, teams and reps. Reading it costs a dozen round
trips per lead; reading the generation token costs one. Database triggers (installed per table by
`generation_triggers`, from each app's migrations) replace the token on every write to a configuration
table, whoever writes (services, the admin, raw SQL, a COPY), so a cached value is never stale.

A token is random rather than a counter, so a rolled-back write (a test's transaction) cannot bring back
a token whose cache entry was filled while the write was visible.

    with config_snapshot():            # one token read for the whole block
        rules = config_cached("scoring.rules", load_rules)

Cached values are shared: callers must not mutate them.
"""

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connection
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from leadflow.core.models import ConfigGeneration

T = TypeVar("T")

TABLE = ConfigGeneration._meta.db_table
_values: dict[str, tuple[int, Any]] = {}
_local = threading.local()


def _read_token() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {TABLE} WHERE id = 1")
        row = cursor.fetchone()
    if row is None:  # the table was emptied (a test database flush): start a new generation
        token = random.getrandbits(62)
        ConfigGeneration.objects.get_or_create(pk=1, defaults={"token": token})
        return None
    return int(row[0])


def config_token() -> int | None:
    """The current generation (read once per config_snapshot block); None means "don't cache"."""
    snapshot = getattr(_local, "token", _UNSET)
    return _read_token() if snapshot is _UNSET else snapshot


@contextmanager
def config_snapshot() -> Iterator[None]:
    """Reads the generation once for a unit of work that does not change configuration itself."""
    outer = getattr(_local, "token", _UNSET)
    if outer is not _UNSET:
        yield
        return
    _local.token = _read_token()
    try:
        yield
    finally:
        del _local.token


def config_cached(key: str, load: Callable[[], T]) -> T:
    """`load()`'s value, computed once per configuration generation and process."""
    token = config_token()
    if token is not None:
        cached = _values.get(key)
        if cached is not None and cached[0] == token:
            return cached[1]
    value = load()
    if token is not None:
        _values[key] = (token, value)
    return value


class _Unset:
    pass


_UNSET: Any = _Unset()


def generation_triggers(schema_editor: BaseDatabaseSchemaEditor, *tables: str) -> None:
    """Installs the triggers that renew the generation token on any write to `tables` (migrations)."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION leadflow_config_renew() RETURNS trigger AS $$ BEGIN "
            f"UPDATE {TABLE} SET token = floor(random() * 4e18)::bigint WHERE id = 1; RETURN NULL; "
            "END $$ LANGUAGE plpgsql"
        )
        for table in tables:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_config_renew ON {table}")
            schema_editor.execute(
                f"CREATE TRIGGER {table}_config_renew AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION leadflow_config_renew()"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_config_renew_truncate AFTER TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION leadflow_config_renew()"
            )
    elif vendor == "sqlite":
        for table in tables:
            for event in ("INSERT", "UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_config_renew_{event.lower()} "
                    f"AFTER {event} ON {table} BEGIN UPDATE {TABLE} SET token = random() WHERE id = 1; END"
                )
    else:
        raise NotImplementedError(f"No configuration triggers for {vendor}")


def generation_triggers_drop(schema_editor: BaseDatabaseSchemaEditor, *tables: str) -> None:
    vendor = schema_editor.connection.vendor
    for table in tables:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_config_renew ON {table}")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_config_renew_truncate ON {table}")
        else:
            for event in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_config_renew_{event}")
