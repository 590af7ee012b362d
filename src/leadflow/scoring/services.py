"""Score and qualify steps of the intake flow.

The defaults: no scoring rules yet (score stays as it is) and no qualification rules
(stage stays as it is). The rule engine replaces them behind the same interface.
"""

from leadflow.leads.models import Lead
from leadflow.leads.steps import StepOutcome


def leads_score(*, leads: list[Lead]) -> dict[int, StepOutcome]:
    return {
        lead.pk: StepOutcome(
            summary=f"Score {lead.score}: no scoring rules are defined.", detail={"score": lead.score}
        )
        for lead in leads
    }


def leads_qualify(*, leads: list[Lead]) -> dict[int, StepOutcome]:
    return {
        lead.pk: StepOutcome(
            summary=f"Stage stays {lead.stage}: no qualification rules are defined.",
            detail={"stage": lead.stage},
        )
        for lead in leads
    }
