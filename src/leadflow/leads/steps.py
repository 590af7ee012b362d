"""What a domain step of the intake flow reports back for one lead."""

from dataclasses import dataclass, field
from typing import Any

from leadflow.leads.models import Activity, StageTransition


@dataclass
class StepOutcome:
    """A step's result for one lead: a one-line reason, details, and the rows to add with it.

    Steps change the lead in memory (the flow saves its fields once, at the end) and return the
    timeline entries and stage transitions that explain the change, unsaved.
    """

    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    activities: list[Activity] = field(default_factory=list)
    transitions: list[StageTransition] = field(default_factory=list)
