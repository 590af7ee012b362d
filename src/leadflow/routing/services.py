"""Route step of the intake flow.

The default: leads without an owner go round robin to the active members of the default team;
with no default team or nobody available they wait in the unassigned pool.
"""

from django.db import transaction
from django.utils import timezone

from leadflow.access.models import Team, User
from leadflow.leads.models import Activity, ActivityKind, Lead, Task
from leadflow.leads.services import activity_create
from leadflow.leads.steps import StepOutcome
from leadflow.routing.models import RoundRobinState


def round_robin_next(*, member_ids: list[int], last_user_id: int | None) -> int:
    """The member after `last_user_id` in id order, wrapping around."""
    ordered = sorted(member_ids)
    for member_id in ordered:
        if last_user_id is None or member_id > last_user_id:
            return member_id
    return ordered[0]


def leads_route(*, leads: list[Lead]) -> dict[int, StepOutcome]:
    """Assigns leads that have no owner, in order, taking turns fairly under concurrency."""
    outcomes: dict[int, StepOutcome] = {}
    waiting = []
    for lead in leads:
        if lead.owner_id is not None:
            outcomes[lead.pk] = StepOutcome(
                summary=f"Kept its owner {lead.owner}.",
                detail={"owner_id": lead.owner_id, "rule": "existing owner"},
            )
        else:
            waiting.append(lead)
    if not waiting:
        return outcomes
    state = _default_team_turn()
    if state is None:
        for lead in waiting:
            outcomes[lead.pk] = StepOutcome(
                summary="Left in the unassigned pool: no default team is set.",
                detail={"rule": "no default team"},
            )
        return outcomes
    team = state.team
    members = {
        user.pk: user
        for user in User.objects.filter(memberships__team=team, is_active=True, accepts_leads=True).only(
            "username", "first_name", "last_name"
        )
    }
    now = timezone.now()
    last_user_id = state.last_user_id
    for lead in waiting:
        if not members:
            lead.team = team
            outcomes[lead.pk] = StepOutcome(
                summary=f"Left in {team}'s unassigned pool: no active member takes leads.",
                detail={"team_id": team.pk, "rule": "default team, nobody available"},
            )
            continue
        last_user_id = round_robin_next(member_ids=list(members), last_user_id=last_user_id)
        owner = members[last_user_id]
        lead.owner, lead.team, lead.assigned_at = owner, team, now
        reason = f"Assigned to {owner} by round robin in the default team {team}."
        outcomes[lead.pk] = StepOutcome(
            summary=reason,
            detail={"owner_id": owner.pk, "team_id": team.pk, "rule": "default team round robin"},
            activities=[
                Activity(
                    lead=lead,
                    kind=ActivityKind.ASSIGNMENT,
                    summary=reason,
                    payload={"owner_id": owner.pk, "team_id": team.pk, "method": "round_robin"},
                    occurred_at=now,
                )
            ],
        )
    if last_user_id != state.last_user_id:
        RoundRobinState.objects.filter(pk=state.pk).update(last_user_id=last_user_id, updated_at=now)
    return outcomes


def _default_team_turn() -> RoundRobinState | None:
    """The default team's round-robin state, locked for this transaction (created on first use)."""
    turns = (
        RoundRobinState.objects.select_for_update(of=("self",))
        .select_related("team")
        .only("last_user_id", "team__name", "team__is_default")
    )
    state = turns.filter(team__is_default=True).first()
    if state is None:
        team = Team.objects.filter(is_default=True).first()
        if team is None:
            return None
        RoundRobinState.objects.get_or_create(team=team)
        state = turns.get(team=team)
    return state


@transaction.atomic
def lead_assign(*, lead: Lead, owner: User | None, actor: User | None, reason: str = "") -> Lead:
    """Gives a lead to a person, or back to its team's unassigned pool, saying who did it and why.

    The response clock restarts, and the previous owner's open tasks on the lead move with it.
    """
    if owner is not None and not owner.is_active:
        raise ValueError(f"{owner} is not active and cannot own leads.")
    previous = lead.owner
    if previous == owner:
        return lead
    now = timezone.now()
    lead.owner = owner
    lead.assigned_at = now if owner is not None else None
    if owner is not None and (
        lead.team_id is None or not owner.memberships.filter(team_id=lead.team_id).exists()
    ):
        lead.team = owner.teams.first() or lead.team
    lead.updated_at = now
    lead.save(update_fields=["owner", "assigned_at", "team", "updated_at"])
    Task.objects.filter(lead=lead, assignee=previous, done_at__isnull=True).update(assignee=owner)
    who = f" by {actor}" if actor is not None else ""
    target = str(owner) if owner is not None else "the unassigned pool"
    summary = f"Reassigned from {previous or 'nobody'} to {target}{who}" + (f": {reason}" if reason else ".")
    activity_create(
        lead=lead,
        kind=ActivityKind.ASSIGNMENT,
        summary=summary,
        payload={
            "from_owner_id": previous.pk if previous else None,
            "owner_id": owner.pk if owner else None,
            "team_id": lead.team_id,
            "method": "manual",
            "reason": reason,
        },
        actor=actor,
        occurred_at=now,
    )
    return lead
