"""REST endpoints of hygiene: the duplicate review queue, merge (of a queued pair or any two leads), undo."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from leadflow.access.api import AUTH, principal
from leadflow.access.models import ApiScope
from leadflow.core.api import unprocessable
from leadflow.hygiene.models import CandidateStatus, DuplicateCandidate, MergeJournal
from leadflow.hygiene.selectors import candidate_get, candidate_queue, merge_journal_get, merge_journal_list
from leadflow.hygiene.services import MERGE_FIELDS, MergeError, candidate_dismiss, lead_merge, merge_undo
from leadflow.leads.selectors import lead_get

router = Router(tags=["duplicates"], auth=AUTH)


class EvidenceOut(Schema):
    field: str
    level: str
    weight: float
    left: Any = None
    right: Any = None


class CandidateOut(Schema):
    id: int
    left_id: int
    right_id: int
    probability: float
    status: str
    found_by: str
    evidence: list[EvidenceOut]
    created_at: datetime


class MergeIn(Schema):
    survivor_id: int | None = Field(None, description="Which lead survives (default: the older one).")
    choices: dict[str, str] = Field(
        default_factory=dict, description='Per field, the side whose value survives: "survivor" or "merged".'
    )


class LeadMergeIn(MergeIn):
    other_id: int = Field(..., description="The lead to merge with this one.")


class JournalOut(Schema):
    id: int
    survivor_id: int = Field(..., alias="survivor_id_value")
    merged_id: int
    automatic: bool
    choices: dict[str, Any]
    moved: dict[str, dict[str, list[int]]]
    created_at: datetime
    undone_at: datetime | None


def _check_choices(choices: dict[str, str]) -> None:
    errors = {
        f"choices.{name}": 'Choose "survivor" or "merged".'
        for name, side in choices.items()
        if side not in ("survivor", "merged")
    }
    errors |= {f"choices.{name}": "Not a field that merges." for name in choices if name not in MERGE_FIELDS}
    if errors:
        raise unprocessable(errors)


@router.get(
    "/duplicates", response=list[CandidateOut], summary="Suspected duplicate pairs, most probable first"
)
def duplicates_list(
    request: HttpRequest, status: CandidateStatus = CandidateStatus.OPEN, limit: int = 100
) -> Any:
    who = principal(request)
    who.require(ApiScope.READ)
    return list(candidate_queue(viewer=who.viewer, status=status)[: max(1, min(limit, 1000))])


def _merge(
    request: HttpRequest, left_id: int, right_id: int, body: MergeIn, candidate: DuplicateCandidate | None
) -> Status:
    who = principal(request)
    who.require(ApiScope.WRITE)
    _check_choices(body.choices)
    leads = {pk: lead_get(lead_id=pk, viewer=who.viewer) for pk in (left_id, right_id)}
    if any(lead is None for lead in leads.values()):
        raise HttpError(404, "Lead not found.")
    survivor_id = body.survivor_id or min(leads, key=lambda pk: (leads[pk].created_at, pk))  # type: ignore[union-attr]
    if survivor_id not in leads:
        raise unprocessable({"survivor_id": "Must be one of the two leads."})
    merged_id = right_id if survivor_id == left_id else left_id
    try:
        journal = lead_merge(
            survivor=leads[survivor_id],  # type: ignore[arg-type]
            merged=leads[merged_id],  # type: ignore[arg-type]
            actor=who.user,
            choices=body.choices,
            candidate=candidate,
        )
    except MergeError as err:
        raise unprocessable({"other_id": str(err)}) from None
    return Status(201, journal)


@router.post("/duplicates/{candidate_id}/merge", response={201: JournalOut}, summary="Merge a queued pair")
def duplicate_merge(request: HttpRequest, candidate_id: int, body: MergeIn) -> Status:
    candidate = candidate_get(candidate_id=candidate_id, viewer=principal(request).viewer)
    if candidate is None:
        raise HttpError(404, "Pair not found.")
    if candidate.status != CandidateStatus.OPEN:
        raise unprocessable({"status": f"This pair is already {candidate.get_status_display().lower()}."})
    return _merge(request, candidate.left_id, candidate.right_id, body, candidate)


@router.post(
    "/duplicates/{candidate_id}/dismiss", response=CandidateOut, summary="Mark a pair as not duplicates"
)
def duplicate_dismiss(request: HttpRequest, candidate_id: int) -> DuplicateCandidate:
    who = principal(request)
    who.require(ApiScope.WRITE)
    candidate = candidate_get(candidate_id=candidate_id, viewer=who.viewer)
    if candidate is None:
        raise HttpError(404, "Pair not found.")
    return candidate_dismiss(candidate=candidate, actor=who.user)


@router.post("/leads/{lead_id}/merge", response={201: JournalOut}, summary="Merge another lead into this one")
def lead_merge_endpoint(request: HttpRequest, lead_id: int, body: LeadMergeIn) -> Status:
    if body.survivor_id is None:
        body.survivor_id = lead_id
    return _merge(request, lead_id, body.other_id, body, None)


@router.get("/merges", response=list[JournalOut], summary="Merges, newest first")
def merges_list(request: HttpRequest, limit: int = 100) -> Any:
    who = principal(request)
    who.require(ApiScope.READ)
    return list(merge_journal_list(viewer=who.viewer)[: max(1, min(limit, 1000))])


@router.post("/merges/{journal_id}/undo", response=JournalOut, summary="Undo a merge")
def merge_undo_endpoint(request: HttpRequest, journal_id: int) -> MergeJournal:
    who = principal(request)
    who.require(ApiScope.WRITE)
    journal = merge_journal_get(journal_id=journal_id, viewer=who.viewer)
    if journal is None:
        raise HttpError(404, "Merge not found.")
    try:
        merge_undo(journal=journal, actor=who.user)
    except MergeError as err:
        raise unprocessable({"journal": str(err)}) from None
    journal.refresh_from_db()
    return journal
