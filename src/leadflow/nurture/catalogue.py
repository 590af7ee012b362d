"""The fields segment and branch conditions may use (pure, no ORM).

Segments read lead fields (as fit rules do), scores, the source's name and behaviour counts over a time
window; branches add what the lead did since it was enrolled (opened, clicked, replied, visited).
"""

from collections.abc import Mapping

from leadflow.leads.fields import CustomFieldSpec
from leadflow.scoring.catalogue import CUSTOM_PREFIX, LEAD_FIELDS

SCORE_FIELDS = {"score": "number", "fit_score": "number", "grade": "choice", "source_name": "text"}
# Behaviour field → (activity kind, event name or "" for any, window in days).
BEHAVIOUR: dict[str, tuple[str, str, int]] = {
    "page_views_7d": ("page_view", "", 7),
    "page_views_30d": ("page_view", "", 30),
    "events_30d": ("event", "", 30),
    "emails_opened_30d": ("event", "email_opened", 30),
    "emails_clicked_30d": ("event", "email_clicked", 30),
    "emails_replied_30d": ("email", "email_replied", 30),
    "form_submissions_30d": ("form_submission", "", 30),
}
BRANCH_FIELDS = {"opened": "boolean", "clicked": "boolean", "replied": "boolean", "visited": "boolean"}


def segment_fields(specs: Mapping[str, CustomFieldSpec]) -> dict[str, str]:
    return {
        **LEAD_FIELDS,
        **SCORE_FIELDS,
        **dict.fromkeys(BEHAVIOUR, "number"),
        **{CUSTOM_PREFIX + key: spec.field_type for key, spec in specs.items()},
    }


def branch_fields(specs: Mapping[str, CustomFieldSpec]) -> dict[str, str]:
    return {**segment_fields(specs), **BRANCH_FIELDS}


def uses_custom(condition: object) -> bool:
    """Whether a condition reads a custom field (those are evaluated in Python, not SQL)."""
    return CUSTOM_PREFIX in str(condition)
