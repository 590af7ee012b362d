"""Duplicate screens: the review queue, a pair side by side with why it matched and a per-field choice of
the surviving value, merge, dismiss, and the merge journal with undo.

Every lead is reached through lead_visible: a pair with a lead out of the viewer's reach is a 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadflow.access.models import User
from leadflow.hygiene.models import CandidateStatus
from leadflow.hygiene.selectors import (
    candidate_get,
    candidate_leads,
    candidate_queue,
    lead_hygiene,
    merge_journal_get,
    merge_journal_list,
    pair_compare,
)
from leadflow.hygiene.services import MergeError, candidate_dismiss, lead_merge, merge_undo
from leadflow.leads.selectors import lead_get

QUEUE_SIZE = 100


def _viewer(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
@require_GET
def duplicate_queue(request: HttpRequest) -> HttpResponse:
    candidates = list(candidate_queue(viewer=_viewer(request))[:QUEUE_SIZE])
    leads = candidate_leads(candidates=candidates)
    rows = [
        {
            "candidate": c,
            "left": leads[c.left_id],
            "right": leads[c.right_id],
            "reasons": [e for e in c.evidence if e["weight"] > 0],
        }
        for c in candidates
    ]
    return render(request, "web/hygiene/queue.html", {"rows": rows, "size": QUEUE_SIZE})


@login_required
@require_http_methods(["GET", "POST"])
def duplicate_compare(request: HttpRequest, candidate_id: int) -> HttpResponse:
    viewer = _viewer(request)
    candidate = candidate_get(candidate_id=candidate_id, viewer=viewer)
    if candidate is None:
        raise Http404
    leads = candidate_leads(candidates=[candidate])
    left, right = leads[candidate.left_id], leads[candidate.right_id]
    keep = request.POST.get("keep", request.GET.get("keep", "left"))
    survivor, merged = (right, left) if keep == "right" else (left, right)
    if request.method == "POST" and candidate.status == CandidateStatus.OPEN:
        if request.POST.get("action") == "dismiss":
            candidate_dismiss(candidate=candidate, actor=viewer)
            messages.success(request, "Marked as not duplicates.")
            return redirect("web:duplicate_queue")
        survivor_side = "right" if keep == "right" else "left"
        choices = {
            name[len("field_") :]: "survivor" if side == survivor_side else "merged"
            for name, side in request.POST.items()
            if name.startswith("field_") and side in ("left", "right")
        }
        try:
            journal = lead_merge(
                survivor=survivor, merged=merged, actor=viewer, choices=choices, candidate=candidate
            )
        except MergeError as err:
            messages.error(request, str(err))
        else:
            messages.success(request, f"Merged lead {journal.merged_id} into {survivor.display_name}.")
            return redirect("web:lead_detail", lead_id=survivor.pk)
    rows = pair_compare(candidate=candidate, survivor=survivor, merged=merged)
    for row in rows:  # the compare shows left/right; the proposal speaks of survivor/merged
        survivor_is_left = survivor is left
        row.left, row.right = (row.left, row.right) if survivor_is_left else (row.right, row.left)
        row.proposed = (
            ("left" if row.proposed == "survivor" else "right")
            if survivor_is_left
            else ("right" if row.proposed == "survivor" else "left")
        )
    context = {
        "candidate": candidate,
        "left": left,
        "right": right,
        "keep": "right" if survivor is right else "left",
        "rows": rows,
    }
    return render(request, "web/hygiene/compare.html", context)


@login_required
@require_GET
def lead_hygiene_section(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The lead page's data-quality card (flags, account, possible duplicates, merges with undo), loaded
    after the page so that it adds nothing to the page's own queries."""
    lead = lead_get(lead_id=lead_id, viewer=_viewer(request))
    if lead is None:
        raise Http404
    context = {"lead": lead, "hygiene": lead_hygiene(lead=lead, viewer=_viewer(request))}
    return render(request, "web/lead_detail/_hygiene.html", context)


@login_required
@require_GET
def merge_list(request: HttpRequest) -> HttpResponse:
    journals = list(merge_journal_list(viewer=_viewer(request))[:QUEUE_SIZE])
    return render(request, "web/hygiene/merges.html", {"journals": journals})


@login_required
@require_POST
def merge_undo_view(request: HttpRequest, journal_id: int) -> HttpResponse:
    journal = merge_journal_get(journal_id=journal_id, viewer=_viewer(request))
    if journal is None:
        raise Http404
    try:
        restored = merge_undo(journal=journal, actor=_viewer(request))
    except MergeError as err:
        messages.error(request, str(err))
        return redirect(reverse("web:merge_list"))
    messages.success(request, f"Merge undone: {restored.display_name} is a separate lead again.")
    return redirect("web:lead_detail", lead_id=restored.pk)


urlpatterns: list[URLPattern] = [
    path("duplicates/", duplicate_queue, name="duplicate_queue"),
    path("duplicates/<int:candidate_id>/", duplicate_compare, name="duplicate_compare"),
    path("duplicates/merges/", merge_list, name="merge_list"),
    path("duplicates/merges/<int:journal_id>/undo/", merge_undo_view, name="merge_undo"),
    path("leads/<int:lead_id>/hygiene/", lead_hygiene_section, name="lead_hygiene"),
]
