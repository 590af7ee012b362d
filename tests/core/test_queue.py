"""core.queue: tasks exist if, and only if, their transaction commits."""

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from leadflow.core.queue import enqueue_after_commit, enqueue_all
from leadflow.hygiene.tasks import email_domains_check
from leadflow.routing.tasks import sla_check, sla_remind


class Boom(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_with_the_database_backend_a_task_commits_or_rolls_back_with_its_data() -> None:
    with pytest.raises(Boom), transaction.atomic():
        enqueue_after_commit(lambda: email_domains_check.enqueue(["rolled-back.example"]))
        assert DBTaskResult.objects.count() == 1  # written inside the transaction, not after it
        raise Boom
    assert not DBTaskResult.objects.exists()

    with transaction.atomic():
        enqueue_after_commit(lambda: email_domains_check.enqueue(["kept.example"]))
    assert [row.args_kwargs["args"] for row in DBTaskResult.objects.all()] == [[["kept.example"]]]


@pytest.mark.django_db
def test_other_backends_get_their_tasks_on_commit(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    ran: list[str] = []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enqueue_after_commit(lambda: ran.append("enqueued"))
        assert ran == []
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_enqueue_all_writes_one_row_per_call_with_its_time() -> None:
    later = timezone.now() + dt.timedelta(minutes=5)
    enqueue_all(
        [(sla_remind.using(run_after=later), [7]), (sla_check, [7]), (email_domains_check, [["a.example"]])]
    )
    rows = {row.task_path.rsplit(".", 1)[1]: row for row in DBTaskResult.objects.all()}
    assert sorted(rows) == ["email_domains_check", "sla_check", "sla_remind"]
    assert rows["sla_remind"].task.run_after == later
    assert rows["sla_check"].task.run_after is None  # runs at once
    assert rows["sla_check"].args_kwargs == {"args": [7], "kwargs": {}}
    assert {row.status for row in rows.values()} == {"READY"}
    assert DBTaskResult.objects.ready().count() == 2  # the reminder waits for its time
    assert len({row.pk for row in rows.values()}) == 3 and all(row.enqueued_at for row in rows.values())
    result = email_domains_check.get_result(str(rows["email_domains_check"].pk))
    assert result.status.name == "READY" and result.args == [["a.example"]]
