"""Enqueuing background tasks so that they exist if, and only if, the data they name is committed."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks.base import Task
from django_tasks.utils import normalize_json
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max

from leadflow.core.db import bulk_insert, new_instance


def enqueue_after_commit(enqueue: Callable[[], object], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Runs ``enqueue`` (a callable that enqueues tasks) for the current transaction.

    With the database backend (the default) a task is a row in the same database, so it is written now,
    inside the transaction: it commits with the data or not at all (a transactional outbox), no task is
    lost between the commit and the enqueue, and no worker sees it before the commit. Other backends
    (RQ, immediate) get the tasks once the transaction commits. See docs/adr/0002.
    """
    backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    if isinstance(backend, DatabaseBackend) and connections[using].in_atomic_block:
        enqueue()
    else:
        transaction.on_commit(enqueue, using=using)


def enqueue_all(calls: Iterable[tuple[Task[Any, Any], Sequence[Any]]]) -> None:
    """Enqueues each (task, positional arguments); the database backend's in one INSERT, as the intake
    flow's notifications and SLA timers for a batch of leads."""
    stored: list[DBTaskResult] = []
    for task, args in calls:
        backend = task.get_backend()
        if not isinstance(backend, DatabaseBackend):
            task.enqueue(*args)
            continue
        backend.validate_task(task)
        stored.append(
            new_instance(
                DBTaskResult,
                args_kwargs=normalize_json({"args": list(args), "kwargs": {}}),
                priority=task.priority,
                task_path=task.module_path,
                queue_name=task.queue_name,
                run_after=task.run_after or get_date_max(),  # what its pre_save signal would store
                backend_name=backend.alias,
            )
        )
    bulk_insert(stored)
