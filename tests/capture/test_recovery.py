"""Submissions a dead process left `received` are finished by the recovery sweep, once."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from leadflow.access.models import Team
from leadflow.capture.models import Import, RecoveryChain, Submission, SubmissionStatus
from leadflow.capture.services import SubmissionInProgress, _stuck_claim, lead_capture, submissions_recover
from leadflow.capture.tasks import recovery_start, submissions_recover_task
from leadflow.leads.models import Channel, Lead
from leadflow.routing.models import Notification

pytestmark = pytest.mark.django_db


def abandoned(payload: Any, *, age: timedelta = timedelta(minutes=5), **fields: Any) -> Submission:
    """A raw submission as a process leaves it when it dies right after the raw save."""
    fields.setdefault("channel", Channel.API)
    return Submission.objects.create(payload=payload, received_at=timezone.now() - age, **fields)


def test_an_abandoned_submission_is_run_through_the_flow(sales_team: Team) -> None:
    stuck = abandoned({"email": "Lost@Example.com", "first_name": "Lost"})

    assert submissions_recover() == [stuck.pk]

    stuck.refresh_from_db()
    assert stuck.status == SubmissionStatus.PROCESSED and stuck.outcome == "created"
    assert stuck.lead is not None and stuck.lead.email_normalized == "lost@example.com"
    assert stuck.lead.owner is not None
    steps = [note["step"] for note in stuck.trace]
    assert steps[0] == "recover" and steps[1:3] == ["normalize", "identify"] and "route" in steps
    assert "first attempt stopped" in stuck.trace[0]["summary"]
    assert stuck.attempts == 2  # the attempt that died, and this one
    assert Notification.objects.filter(lead=stuck.lead, recipient=stuck.lead.owner).exists()
    assert submissions_recover() == []


def test_recent_processed_and_quarantined_submissions_are_left_alone(sales_team: Team) -> None:
    in_flight = abandoned({"email": "busy@example.com"}, age=timedelta(seconds=5))
    done = lead_capture(payload={"email": "done@example.com"}).submission
    bad = lead_capture(payload={"email": "not an email"}).submission
    Submission.objects.filter(pk__in=[done.pk, bad.pk]).update(
        received_at=timezone.now() - timedelta(hours=1)
    )

    assert submissions_recover() == []

    in_flight.refresh_from_db()
    assert in_flight.status == SubmissionStatus.RECEIVED and in_flight.attempts == 0
    assert Lead.objects.count() == 1


def test_an_invalid_abandoned_submission_is_quarantined_with_its_reason(sales_team: Team) -> None:
    stuck = abandoned({"email": "nope"})

    assert submissions_recover() == [stuck.pk]

    stuck.refresh_from_db()
    assert stuck.status == SubmissionStatus.QUARANTINED and "email" in stuck.errors
    assert not Lead.objects.exists()


def test_an_import_row_is_finished_as_its_import_would_without_alerting_the_owner(sales_team: Team) -> None:
    run = Import.objects.create(file_name="contacts.csv", alert_owners=False)
    stuck = abandoned({"email": "row@example.com"}, channel=Channel.IMPORT, import_run=run, import_row=7)

    submissions_recover()

    stuck.refresh_from_db()
    assert stuck.status == SubmissionStatus.PROCESSED and stuck.lead is not None
    assert stuck.lead.owner is not None and not Notification.objects.exists()


def test_a_taken_submission_is_not_taken_again_by_a_second_recovery(sales_team: Team) -> None:
    stuck = abandoned({"email": "race@example.com"}, idempotency_key="key-race")
    cutoff = timezone.now() - timedelta(minutes=1)
    first, second = Submission.objects.get(pk=stuck.pk), Submission.objects.get(pk=stuck.pk)

    assert _stuck_claim(first, cutoff=cutoff)
    assert not _stuck_claim(second, cutoff=cutoff)  # loaded before the claim, yet refused
    assert submissions_recover() == []  # taken a moment ago: the first recovery is still at work
    with pytest.raises(SubmissionInProgress):  # and so is a client's retry told
        lead_capture(payload={"email": "race@example.com"}, idempotency_key="key-race")


def test_a_client_retry_with_the_key_finishes_an_abandoned_submission(sales_team: Team) -> None:
    stuck = abandoned({"email": "retry@example.com"}, idempotency_key="key-1")

    result = lead_capture(payload={"email": "retry@example.com"}, idempotency_key="key-1")

    assert result.replayed and result.submission.pk == stuck.pk and result.lead is not None
    assert submissions_recover() == []


def test_the_recovery_chain_reschedules_itself_until_superseded(sales_team: Team) -> None:
    recovery_start()
    chain = RecoveryChain.objects.get(pk=1).chain
    queued = DBTaskResult.objects.filter(task_path="leadflow.capture.tasks.submissions_recover_task")
    assert [row.args_kwargs["args"] for row in queued] == [[chain]]
    stuck = abandoned({"email": "chain@example.com"})

    submissions_recover_task.call(chain)

    stuck.refresh_from_db()
    assert stuck.status == SubmissionStatus.PROCESSED
    rows = list(queued.values_list("run_after", "args_kwargs"))
    assert len(rows) == 2 and all(args["args"] == [chain] for _, args in rows)
    assert timezone.now() + timedelta(seconds=30) < min(run_after for run_after, _ in rows)

    recovery_start()  # a worker started again: the old chain stops at its next run
    queued.delete()
    submissions_recover_task.call(chain)
    assert not queued.exists()
