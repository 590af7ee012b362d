"""Source settings edited on the sources screens: cost and whether the source takes submissions."""

from decimal import Decimal

from leadflow.access.models import User
from leadflow.leads.models import Source


def source_update(*, source: Source, cost: Decimal, is_active: bool, actor: User | None) -> Source:
    """Sets what a source costs (for cost per lead) and whether its forms and webhooks accept posts."""
    if cost < 0:
        raise ValueError("The cost cannot be negative.")
    source.cost = cost
    source.is_active = is_active
    source.save(update_fields=["cost", "is_active"])
    return source
