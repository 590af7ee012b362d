"""REST endpoints of scoring: rules (admin scope), the policy, rescore progress, a lead's score, MQL review.

Invalid rules and policies get 422 with one message per field; condition problems name their path
(e.g. body.condition.all[0].field).
"""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from leadflow.access.api import AUTH, principal
from leadflow.access.models import ApiScope
from leadflow.core.api import unprocessable
from leadflow.leads.api import visible_lead
from leadflow.leads.schemas import LeadOut, lead_out
from leadflow.scoring.models import RescoreRun, ScoringPolicy, ScoringRule
from leadflow.scoring.selectors import lead_score_explanation, policy_get, rule_list
from leadflow.scoring.services import (
    ScoringError,
    mql_accept,
    mql_reject,
    policy_sentences,
    policy_update,
    rule_create,
    rule_delete,
    rule_update,
)

router = Router(tags=["scoring"], auth=AUTH)


class RuleIn(Schema):
    name: str = Field(..., max_length=100)
    kind: str = Field(..., description="fit (lead fields) or engagement (activities)")
    condition: Any = Field(
        ..., description="A condition set, e.g. {'field': 'job_title', 'op': 'contains', …}"
    )
    points: int
    cap: int | None = None
    repeatable: bool = False
    decay: str = "none"
    decay_days: int | None = None
    active: bool = True
    order: int = Field(0, ge=0)


class RulePatch(Schema):
    name: str | None = Field(None, max_length=100)
    kind: str | None = None
    condition: Any = None
    points: int | None = None
    cap: int | None = None
    repeatable: bool | None = None
    decay: str | None = None
    decay_days: int | None = None
    active: bool | None = None
    order: int | None = Field(None, ge=0)


class RuleOut(Schema):
    id: int
    name: str
    kind: str
    condition: Any
    points: int
    cap: int | None
    repeatable: bool
    decay: str
    decay_days: int | None
    active: bool
    order: int
    updated_at: datetime


class PolicyIn(Schema):
    grade_a: int | None = None
    grade_b: int | None = None
    grade_c: int | None = None
    qualification_enabled: bool | None = None
    mql_score: int | None = None
    mql_requires_email: bool | None = None
    sql_condition: Any = None
    pql_events: list[str] | None = None
    pql_threshold: int | None = None


class PolicyOut(Schema):
    grade_a: int
    grade_b: int
    grade_c: int
    qualification_enabled: bool
    mql_score: int
    mql_requires_email: bool
    sql_condition: Any
    pql_events: list[str]
    pql_threshold: int
    definition: list[str]


class RescoreOut(Schema):
    id: int
    reason: str
    status: str
    total: int
    done: int
    percent: int
    error: str
    created_at: datetime
    finished_at: datetime | None


class FitOut(Schema):
    rule: str
    points: int
    condition: str


class AwardOut(Schema):
    rule: str
    points: int
    worth: float
    awarded_at: datetime
    expires_at: datetime | None
    activity_id: int | None


class ScoreOut(Schema):
    score: int
    fit_score: int
    engagement_score: int
    grade: str
    stage: str
    fit: list[FitOut]
    engagement: list[AwardOut]


class ReviewIn(Schema):
    reason: str = Field("", max_length=400)


def _policy_out(policy: ScoringPolicy) -> dict[str, Any]:
    return {
        **{name: getattr(policy, name) for name in PolicyOut.model_fields if name != "definition"},
        "definition": policy_sentences(policy),
    }


def _rescore_out(run: RescoreRun) -> dict[str, Any]:
    return {name: getattr(run, name) for name in RescoreOut.model_fields}


@router.get("/scoring/rules", response=list[RuleOut], summary="List scoring rules")
def list_rules(request: HttpRequest) -> list[ScoringRule]:
    principal(request).require(ApiScope.READ)
    return list(rule_list())


@router.post("/scoring/rules", response={201: RuleOut}, summary="Create a scoring rule")
def create_rule(request: HttpRequest, body: RuleIn) -> Status[ScoringRule]:
    caller = principal(request)
    caller.require(ApiScope.ADMIN)
    try:
        rule = rule_create(values=body.dict(), actor=caller.user)
    except ScoringError as err:
        raise unprocessable(err.errors) from None
    return Status(201, rule)


@router.get("/scoring/rules/{rule_id}", response=RuleOut, summary="Get a scoring rule")
def get_rule(request: HttpRequest, rule_id: int) -> ScoringRule:
    principal(request).require(ApiScope.READ)
    return get_object_or_404(ScoringRule, pk=rule_id)


@router.patch("/scoring/rules/{rule_id}", response=RuleOut, summary="Change a scoring rule")
def patch_rule(request: HttpRequest, rule_id: int, body: RulePatch) -> ScoringRule:
    caller = principal(request)
    caller.require(ApiScope.ADMIN)
    rule = get_object_or_404(ScoringRule, pk=rule_id)
    try:
        return rule_update(rule=rule, changes=body.dict(exclude_unset=True), actor=caller.user)
    except ScoringError as err:
        raise unprocessable(err.errors) from None


@router.delete("/scoring/rules/{rule_id}", response={204: None}, summary="Delete a scoring rule")
def delete_rule(request: HttpRequest, rule_id: int) -> Status[None]:
    caller = principal(request)
    caller.require(ApiScope.ADMIN)
    rule_delete(rule=get_object_or_404(ScoringRule, pk=rule_id), actor=caller.user)
    return Status(204, None)


@router.get("/scoring/policy", response=PolicyOut, summary="The qualification definition")
def get_policy(request: HttpRequest) -> dict[str, Any]:
    principal(request).require(ApiScope.READ)
    return _policy_out(policy_get())


@router.patch("/scoring/policy", response=PolicyOut, summary="Change grades and qualification")
def patch_policy(request: HttpRequest, body: PolicyIn) -> dict[str, Any]:
    caller = principal(request)
    caller.require(ApiScope.ADMIN)
    try:
        return _policy_out(policy_update(changes=body.dict(exclude_unset=True), actor=caller.user))
    except ScoringError as err:
        raise unprocessable(err.errors) from None


@router.get("/scoring/rescores/{run_id}", response=RescoreOut, summary="Progress of a rescore")
def get_rescore(request: HttpRequest, run_id: int) -> dict[str, Any]:
    principal(request).require(ApiScope.READ)
    return _rescore_out(get_object_or_404(RescoreRun, pk=run_id))


@router.get("/scoring/leads/{lead_id}", response=ScoreOut, summary="A lead's score and why")
def get_lead_score(request: HttpRequest, lead_id: int) -> dict[str, Any]:
    lead = visible_lead(request, lead_id, ApiScope.READ)
    explanation = lead_score_explanation(lead=lead, now=timezone.now())
    return {
        "score": lead.score,
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
        "grade": lead.grade,
        "stage": lead.stage,
        "fit": [vars(line) for line in explanation.fit],
        "engagement": [vars(line) for line in explanation.ledger],
    }


@router.post("/scoring/leads/{lead_id}/accept", response=LeadOut, summary="Accept an MQL (it becomes an SQL)")
def accept_lead(request: HttpRequest, lead_id: int, body: ReviewIn) -> dict[str, Any]:
    lead = visible_lead(request, lead_id, ApiScope.WRITE)
    try:
        mql_accept(lead=lead, actor=principal(request).user, reason=body.reason)
    except ScoringError as err:
        raise unprocessable(err.errors) from None
    return lead_out(lead)


@router.post("/scoring/leads/{lead_id}/reject", response=LeadOut, summary="Reject an MQL (it is recycled)")
def reject_lead(request: HttpRequest, lead_id: int, body: ReviewIn) -> dict[str, Any]:
    lead = visible_lead(request, lead_id, ApiScope.WRITE)
    try:
        mql_reject(lead=lead, actor=principal(request).user, reason=body.reason)
    except ScoringError as err:
        raise unprocessable(err.errors) from None
    return lead_out(lead)
