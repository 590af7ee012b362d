"""`leadflow worker`: runs background tasks with the configured backend (database or RQ)."""

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string
from django_tasks_db.management.commands.db_worker import valid_interval, valid_max_tasks


class Command(BaseCommand):
    help = (
        "Run the background task worker: django-tasks-db's db_worker by default, "
        "django-rq's rqworker when LEADFLOW_TASK_BACKEND=rq."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--queue-name",
            help="Queues, comma-separated (default: the configured ones; '*' for all with the db backend).",
        )
        parser.add_argument(
            "--interval",
            type=valid_interval,
            default=1.0,
            help="Seconds to wait between polls when idle (database backend; default: %(default)s).",
        )
        parser.add_argument("--batch", action="store_true", help="Run the outstanding tasks, then exit.")
        parser.add_argument("--max-tasks", type=valid_max_tasks, help="Exit after running this many tasks.")

    def handle(
        self,
        *args: Any,
        queue_name: str | None,
        interval: float,
        batch: bool,
        max_tasks: int | None,
        verbosity: int,
        **options: Any,
    ) -> None:
        queues = queue_name.split(",") if queue_name else settings.TASKS["default"].get("QUEUES", ["default"])
        if settings.TASK_BACKEND != "immediate":
            for startup in settings.LEADFLOW_WORKER_STARTUP:
                import_string(startup)()
        if settings.TASK_BACKEND == "rq":
            call_command(
                "rqworker",
                *queues,
                job_class="django_tasks_rq.Job",
                burst=batch,
                with_scheduler=True,  # deferred tasks (run_after) wait in RQ's scheduled registry until then
                max_jobs=max_tasks,
                verbosity=verbosity,
                stdout=self.stdout,
                stderr=self.stderr,
            )
        elif settings.TASK_BACKEND == "immediate":
            raise CommandError(
                "LEADFLOW_TASK_BACKEND=immediate runs tasks as they are enqueued; no worker is needed."
            )
        else:
            call_command(
                "db_worker",
                queue_name=",".join(queues),
                interval=interval,
                batch=batch,
                max_tasks=max_tasks,
                reload=False,
                verbosity=verbosity,
                stdout=self.stdout,
                stderr=self.stderr,
            )
