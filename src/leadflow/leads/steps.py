"""What a domain step of the intake flow reports back for one lead."""

from dataclasses import dataclass, field
from typing import Any

from leadflow.leads.models import Activity


@dataclass
class StepOutcome:
    """A step's result for one lead: a one-line reason, details, and timeline entries to add.

    Steps change the lead in memory and list the fields they changed; the flow saves once.
    """

    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    changed_fields: set[str] = field(default_factory=set)
    activities: list[Activity] = field(default_factory=list)
