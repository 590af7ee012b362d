"""Configuration tables of this app renew the configuration generation on every write (core.config)."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from leadflow.core.config import generation_triggers, generation_triggers_drop

TABLES = ("routing_routingsettings", "routing_routingrule", "routing_teamrouting", "routing_teamholiday", "routing_repschedule", "routing_outofoffice", "routing_webhookendpoint")


def install(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    generation_triggers(schema_editor, *TABLES)


def remove(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    generation_triggers_drop(schema_editor, *TABLES)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_config_generation"), ("routing", "0003_sla_notifications")]

    operations = [migrations.RunPython(install, remove)]
