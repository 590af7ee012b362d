"""REST endpoints of the routing app: rules (admin), team distribution settings (admin), and the simulator."""

from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from leadflow.access.api import AUTH, principal
from leadflow.access.models import ApiScope, Team
from leadflow.core.api import unprocessable
from leadflow.routing.models import (
    BreachAction,
    Fallback,
    Method,
    Notification,
    RoutingRule,
    Target,
    TeamRouting,
    WebhookEndpoint,
)
from leadflow.routing.notifications import notifications_mark_read, webhook_endpoint_set
from leadflow.routing.selectors import (
    UnknownFieldsError,
    notifications_for,
    routing_rule_list,
    routing_simulate,
)
from leadflow.routing.services import (
    RoutingInputError,
    routing_rule_create,
    routing_rule_delete,
    routing_rule_move,
    routing_rule_update,
    team_routing_update,
)

router = Router(tags=["routing"], auth=AUTH)


class RuleIn(Schema):
    name: str = Field(..., max_length=100)
    condition: dict[str, Any] = Field(
        ...,
        description="A condition set over lead fields, e.g. "
        '{"field": "country", "op": "in", "value": ["DE", "AT"]}.',
    )
    target: Target = Target.TEAM
    target_user_id: int | None = None
    target_team_id: int | None = None
    is_active: bool = True


class RuleOut(Schema):
    id: int
    position: int
    name: str
    condition: dict[str, Any]
    target: str
    target_user_id: int | None
    target_team_id: int | None
    is_active: bool


class MoveIn(Schema):
    offset: int = Field(..., description="-1 moves the rule up one place, 1 down.")


class TeamRoutingIn(Schema):
    method: Method = Method.ROUND_ROBIN
    daily_cap: int | None = Field(None, ge=0)
    open_cap: int | None = Field(None, ge=0)
    fallback: Fallback = Fallback.POOL
    fallback_team_id: int | None = None
    sla_minutes: int | None = Field(
        None, ge=1, description="First-response SLA in the owner's working minutes; null: none."
    )
    sla_reminder_minutes: int | None = Field(
        None, ge=1, description="Remind the owner this many working minutes before the deadline."
    )
    breach_action: BreachAction = Field(
        BreachAction.REASSIGN, description="reassign (next rep), escalate (tell the manager) or record."
    )
    max_reassignments: int = Field(2, ge=0, description="Reassignments per lead before escalating.")


class TeamRoutingOut(TeamRoutingIn):
    team_id: int


class WebhookIn(Schema):
    url: str = Field(..., max_length=500, description="http(s) URL; empty removes the webhook.")


class WebhookOut(Schema):
    team_id: int | None
    url: str
    secret: str = Field(
        ..., description="Verify X-Leadflow-Signature: sha256=HMAC(secret, timestamp + '.' + body)."
    )
    is_active: bool


class NotificationOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    lead_id: int | None
    created_at: Any
    read_at: Any


class ReadIn(Schema):
    ids: list[int] | None = Field(None, description="Notifications to mark read; omitted: all of them.")


class SimulateIn(Schema):
    lead_id: int | None = Field(None, description="An existing lead you can see.")
    fields: dict[str, Any] | None = Field(
        None, description='Or typed-in lead fields, e.g. {"country": "DE"}.'
    )


class SkipOut(Schema):
    rep_id: int
    name: str
    reason: str


class DecisionOut(Schema):
    owner_id: int | None
    team_id: int | None
    rule_id: int | None
    rule: str
    rule_lines: list[str]
    method: str
    skipped: list[SkipOut]
    fallbacks: list[str]
    summary: str


def _admin(request: HttpRequest) -> None:
    principal(request).require(ApiScope.ADMIN)


def _rule_fields(body: RuleIn) -> dict[str, Any]:
    return body.dict()


@router.get("/routing/rules", response=list[RuleOut], summary="Routing rules in order")
def rules_list(request: HttpRequest) -> list[RoutingRule]:
    _admin(request)
    return list(routing_rule_list())


@router.post("/routing/rules", response={201: RuleOut}, summary="Add a rule at the end")
def rule_create(request: HttpRequest, body: RuleIn) -> Status:
    """422 with per-field messages for unknown fields, bad operators or values, and missing targets."""
    _admin(request)
    try:
        rule = routing_rule_create(**_rule_fields(body))
    except RoutingInputError as err:
        raise unprocessable(err.errors) from None
    return Status(201, rule)


@router.put("/routing/rules/{rule_id}", response=RuleOut, summary="Change a rule")
def rule_update(request: HttpRequest, rule_id: int, body: RuleIn) -> RoutingRule:
    _admin(request)
    rule = get_object_or_404(RoutingRule, pk=rule_id)
    try:
        return routing_rule_update(rule=rule, **_rule_fields(body))
    except RoutingInputError as err:
        raise unprocessable(err.errors) from None


@router.post("/routing/rules/{rule_id}/move", response=list[RuleOut], summary="Move a rule up or down")
def rule_move(request: HttpRequest, rule_id: int, body: MoveIn) -> list[RoutingRule]:
    _admin(request)
    routing_rule_move(rule=get_object_or_404(RoutingRule, pk=rule_id), offset=body.offset)
    return list(routing_rule_list())


@router.delete("/routing/rules/{rule_id}", response={204: None}, summary="Delete a rule")
def rule_delete(request: HttpRequest, rule_id: int) -> Status:
    _admin(request)
    routing_rule_delete(rule=get_object_or_404(RoutingRule, pk=rule_id))
    return Status(204, None)


@router.put("/routing/teams/{team_id}", response=TeamRoutingOut, summary="A team's distribution settings")
def team_settings_update(request: HttpRequest, team_id: int, body: TeamRoutingIn) -> TeamRouting:
    _admin(request)
    team = get_object_or_404(Team, pk=team_id)
    try:
        return team_routing_update(team=team, **body.dict())
    except RoutingInputError as err:
        raise unprocessable(err.errors) from None


@router.get("/routing/teams/{team_id}", response=TeamRoutingOut, summary="A team's distribution and SLA")
def team_settings_get(request: HttpRequest, team_id: int) -> TeamRouting:
    _admin(request)
    team = get_object_or_404(Team, pk=team_id)
    return TeamRouting.objects.filter(team=team).first() or TeamRouting(team=team)


def _webhook(team: Team | None, body: WebhookIn) -> WebhookEndpoint | Status:
    url = body.url.strip()
    if url and not url.startswith(("http://", "https://")):
        raise unprocessable({"url": "Give an http:// or https:// URL."})
    endpoint = webhook_endpoint_set(team=team, url=url)
    return endpoint if endpoint is not None else Status(204, None)


@router.put(
    "/routing/webhook", response={200: WebhookOut, 204: None}, summary="The global notification webhook"
)
def webhook_global(request: HttpRequest, body: WebhookIn) -> WebhookEndpoint | Status:
    """Every notification is posted here as signed JSON; an empty URL removes it (204)."""
    _admin(request)
    return _webhook(None, body)


@router.put(
    "/routing/teams/{team_id}/webhook", response={200: WebhookOut, 204: None}, summary="A team's webhook"
)
def webhook_team(request: HttpRequest, team_id: int, body: WebhookIn) -> WebhookEndpoint | Status:
    """The team's notifications (assignments, reminders, breaches) are posted here too."""
    _admin(request)
    return _webhook(get_object_or_404(Team, pk=team_id), body)


def _person(request: HttpRequest) -> Any:
    caller = principal(request)
    caller.require(ApiScope.READ)
    if caller.viewer is None:
        raise HttpError(403, "Notifications belong to a person: use a session or a key bound to a user.")
    return caller.viewer


@router.get("/notifications", response=list[NotificationOut], summary="Your notifications, newest first")
def notifications_list(request: HttpRequest, unread: bool = False, limit: int = 50) -> list[Notification]:
    found = notifications_for(user=_person(request))
    if unread:
        found = found.filter(read_at__isnull=True)
    return list(found[: max(1, min(limit, 200))])


@router.post("/notifications/read", response=dict[str, int], summary="Mark notifications read")
def notifications_read(request: HttpRequest, body: ReadIn) -> dict[str, int]:
    return {"marked": notifications_mark_read(user=_person(request), notification_ids=body.ids)}


@router.post("/routing/simulate", response=DecisionOut, summary="Who would get this lead, and why")
def simulate(request: HttpRequest, body: SimulateIn) -> dict[str, Any]:
    """A dry run: nothing is assigned. Give an existing lead's id (404 if you cannot see it) or fields."""
    caller = principal(request)
    caller.require(ApiScope.READ)
    if (body.lead_id is None) == (body.fields is None):
        raise unprocessable({"lead_id": "Give either lead_id or fields."})
    try:
        decision = routing_simulate(viewer=caller.viewer, lead_id=body.lead_id, values=body.fields)
    except UnknownFieldsError as err:
        raise unprocessable(err.errors) from None
    if decision is None:
        raise HttpError(404, "Lead not found.")
    return {**decision.as_dict(), "summary": decision.summary}
