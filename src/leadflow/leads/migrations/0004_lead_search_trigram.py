"""Trigram indexes for the lead list's free-text search (PostgreSQL only).

The search matches words anywhere in first name, last name, company and email (`icontains`, which
Django writes as `UPPER(col::text) LIKE UPPER(%word%)` on PostgreSQL). A B-tree cannot serve a
leading wildcard; pg_trgm GIN indexes on the same expressions can. SQLite has no such index type and
scans, which is fine at the sizes SQLite installations hold.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

INDEXES = {
    "lead_first_name_trgm": "upper((first_name)::text) gin_trgm_ops",
    "lead_last_name_trgm": "upper((last_name)::text) gin_trgm_ops",
    "lead_company_trgm": "upper((company)::text) gin_trgm_ops",
    "lead_email_trgm": "email_normalized gin_trgm_ops",
}


def create(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON leads_lead USING gin ({expression})")


def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("leads", "0003_lead_list_keysets")]

    operations = [migrations.RunPython(create, drop)]
