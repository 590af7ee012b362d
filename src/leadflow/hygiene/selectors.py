"""Hygiene reads: the review queue, one pair side by side, merge journals, a lead's quality flags."""

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import QuerySet

from leadflow.access.models import User
from leadflow.hygiene.models import CandidateStatus, DuplicateCandidate, EmailDomainCheck, MergeJournal
from leadflow.hygiene.normalize import domain_of_email
from leadflow.hygiene.quality import QualityFlags, quality_flags
from leadflow.hygiene.services import merge_proposal
from leadflow.leads.models import Lead
from leadflow.leads.selectors import lead_visible
from leadflow.pipeline.models import AccountLead


def candidate_queue(
    *, viewer: User | None, status: str = CandidateStatus.OPEN
) -> QuerySet[DuplicateCandidate]:
    """Pairs with this status whose two leads exist and are visible to ``viewer``, most probable first."""
    visible = lead_visible(viewer=viewer).values("id")
    return DuplicateCandidate.objects.filter(
        status=status, left_id__in=visible, right_id__in=visible
    ).order_by("-probability", "id")


def candidate_get(*, candidate_id: int, viewer: User | None) -> DuplicateCandidate | None:
    """The pair, whatever its status, if both its leads exist and are visible to ``viewer``."""
    visible = lead_visible(viewer=viewer).values("id")
    return DuplicateCandidate.objects.filter(
        pk=candidate_id, left_id__in=visible, right_id__in=visible
    ).first()


def candidate_leads(*, candidates: list[DuplicateCandidate]) -> dict[int, Lead]:
    ids = {c.left_id for c in candidates} | {c.right_id for c in candidates}
    return Lead.objects.select_related("owner", "source").in_bulk(ids)


@dataclass
class CompareRow:
    """One field of a side-by-side compare: both values, the proposed side, and the match evidence."""

    field: str
    left: Any
    right: Any
    proposed: str  # "survivor" or "merged"
    why: str
    level: str = ""
    weight: float | None = None


def pair_compare(*, candidate: DuplicateCandidate, survivor: Lead, merged: Lead) -> list[CompareRow]:
    """Every merge field with its proposed surviving side; compared fields carry why they matched."""
    evidence = {e["field"]: e for e in candidate.evidence}
    rows = []
    for name, choice in merge_proposal(survivor=survivor, merged=merged).items():
        found = evidence.get(name, {})
        rows.append(
            CompareRow(
                field=name,
                left=getattr(survivor, name),
                right=getattr(merged, name),
                proposed=choice["side"],
                why=f"{choice['why']} ({choice['policy'].replace('_', ' ')})",
                level=found.get("level", ""),
                weight=found.get("weight"),
            )
        )
    return rows


def merge_journal_list(*, viewer: User | None) -> QuerySet[MergeJournal]:
    """Merges whose surviving lead ``viewer`` can see, newest first."""
    return (
        MergeJournal.objects.filter(survivor__in=lead_visible(viewer=viewer))
        .select_related("actor", "survivor")
        .order_by("-created_at", "-id")
    )


def merge_journal_get(*, journal_id: int, viewer: User | None) -> MergeJournal | None:
    return merge_journal_list(viewer=viewer).filter(pk=journal_id).first()


def lead_quality(*, lead: Lead) -> QualityFlags:
    check = (
        EmailDomainCheck.objects.filter(domain=domain_of_email(lead.email_normalized)).first()
        if lead.email_normalized
        else None
    )
    return quality_flags(
        {
            "email_normalized": lead.email_normalized,
            "email_deliverable": check.deliverable if check else None,
            "email_dns_detail": check.detail if check else "",
            "phone_e164": lead.phone_e164,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "company": lead.company,
        }
    )


@dataclass
class LeadHygiene:
    """What the lead page shows about data quality, account, possible duplicates and merges."""

    quality: QualityFlags
    account_name: str
    account_matched_by: str
    duplicates: list[tuple[DuplicateCandidate, Lead]]
    merges: list[MergeJournal]


def lead_hygiene(*, lead: Lead, viewer: User | None) -> LeadHygiene:
    link = AccountLead.objects.filter(lead=lead).select_related("account").first()
    open_pairs = list(
        candidate_queue(viewer=viewer).filter(models.Q(left_id=lead.pk) | models.Q(right_id=lead.pk))[:10]
    )
    others = candidate_leads(candidates=open_pairs)
    return LeadHygiene(
        quality=lead_quality(lead=lead),
        account_name=link.account.name if link else "",
        account_matched_by=link.matched_by if link else "",
        duplicates=[(c, others[c.right_id if c.left_id == lead.pk else c.left_id]) for c in open_pairs],
        merges=list(
            MergeJournal.objects.filter(survivor=lead, undone_at__isnull=True).order_by("-created_at")[:10]
        ),
    )
