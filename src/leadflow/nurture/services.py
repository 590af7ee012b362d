"""Follow-up step of the intake flow.

The default: a newly assigned lead gets a first-contact task for its owner, due within
LEADFLOW_FIRST_CONTACT_HOURS.
"""

from datetime import timedelta

from django.conf import settings

from leadflow.leads.models import Lead, Task
from leadflow.leads.steps import StepOutcome


def leads_schedule_follow_ups(*, leads: list[Lead], newly_assigned: set[int]) -> dict[int, StepOutcome]:
    outcomes: dict[int, StepOutcome] = {}
    tasks = []
    window = timedelta(hours=settings.LEADFLOW_FIRST_CONTACT_HOURS)
    for lead in leads:
        if lead.pk in newly_assigned and lead.owner_id is not None and lead.assigned_at is not None:
            due_at = lead.assigned_at + window
            tasks.append(Task(lead=lead, assignee_id=lead.owner_id, title="First contact", due_at=due_at))
            outcomes[lead.pk] = StepOutcome(
                summary=f"First-contact task for {lead.owner}, due {due_at:%Y-%m-%d %H:%M} UTC.",
                detail={"task": "First contact", "due_at": due_at.isoformat()},
            )
        else:
            outcomes[lead.pk] = StepOutcome(summary="No follow-up: the lead was not newly assigned.")
    Task.objects.bulk_create(tasks)
    return outcomes
