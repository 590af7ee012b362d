"""The lead detail page: profile with inline edits, timeline, quick actions, score, attribution, intake trace.

Every view reaches the lead through leads.selectors.lead_get, so a lead out of the viewer's reach is a 404
on the page and on every action. HTMX requests get partials (with out-of-band updates of the sections an
action changes); without JavaScript every form posts and redirects back.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, push_url
from django_htmx.middleware import HtmxDetails

from leadflow.access.models import User
from leadflow.access.selectors import user_assignable
from leadflow.capture.selectors import (
    LeadAttribution,
    lead_attribution,
    lead_transition_log,
    submission_trace_for_lead,
)
from leadflow.capture.services import LeadValidationError, lead_update
from leadflow.leads.models import ActivityKind, ConsentChannel, Lead, Touch
from leadflow.leads.selectors import CursorError, Page, activity_timeline, custom_field_specs, lead_get
from leadflow.leads.services import (
    StageChangeError,
    activity_create,
    lead_stage_change,
    lead_status_change,
    note_add,
)
from leadflow.routing.services import lead_assign
from leadflow.web.lead_detail_forms import (
    ActionForm,
    AssignForm,
    CallForm,
    EditableField,
    NoteForm,
    StageForm,
    StatusForm,
    editable_field,
    editable_fields,
)

TIMELINE_PAGE_SIZE = 25
TEMPLATE_DIR = "web/lead_detail"
ATTRIBUTION_ROWS = [
    ("Channel", "get_channel_display"),
    ("Source", "source"),
    ("utm_source", "utm_source"),
    ("utm_medium", "utm_medium"),
    ("utm_campaign", "utm_campaign"),
    ("utm_term", "utm_term"),
    ("utm_content", "utm_content"),
    ("Referrer", "referrer"),
    ("Landing page", "landing_page"),
    ("gclid", "gclid"),
    ("fbclid", "fbclid"),
    ("msclkid", "msclkid"),
]


class LeadRequest(HttpRequest):
    """A signed-in request that passed the htmx middleware."""

    user: User
    htmx: HtmxDetails


@dataclass(frozen=True)
class QuickAction:
    name: str
    title: str
    button: str
    url: str
    form: ActionForm


@dataclass(frozen=True)
class Timeline:
    kind: str
    page: Page


class ActionRefused(Exception):
    """A quick action the service turned down; the message belongs to one form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _visible_lead(request: LeadRequest, lead_id: int) -> Lead:
    lead = lead_get(lead_id=lead_id, viewer=request.user)
    if lead is None:
        raise Http404("No such lead.")
    return lead


def _detail_url(lead: Lead, anchor: str = "") -> str:
    return reverse("web:lead_detail", args=[lead.pk]) + (f"#{anchor}" if anchor else "")


# ----------------------------------------------------------------------------------------------------
# Page sections
# ----------------------------------------------------------------------------------------------------


def _timeline(lead: Lead, kind: str, cursor: str | None = None) -> Timeline:
    """A page of the timeline; an unknown kind shows everything and a stale cursor starts over."""
    kind = kind if kind in ActivityKind.values else ""
    kinds = [kind] if kind else None
    try:
        page = activity_timeline(lead=lead, kinds=kinds, cursor=cursor, limit=TIMELINE_PAGE_SIZE)
    except CursorError:
        page = activity_timeline(lead=lead, kinds=kinds, limit=TIMELINE_PAGE_SIZE)
    return Timeline(kind=kind, page=page)


def _quick_actions(request: LeadRequest, lead: Lead, bound: ActionForm | None = None) -> list[QuickAction]:
    forms: list[tuple[str, str, ActionForm]] = [
        ("Log a call", "Log call", CallForm()),
        ("Add a note", "Add note", NoteForm()),
        ("Change stage", "Change stage", StageForm(initial={"stage": lead.stage})),
        ("Change status", "Change status", StatusForm(initial={"status": lead.status})),
        (
            "Reassign",
            "Reassign",
            AssignForm(initial={"owner": lead.owner_id}, assignable=user_assignable(viewer=request.user)),
        ),
    ]
    return [
        QuickAction(
            name=form.id_prefix,
            title=title,
            button=button,
            url=reverse(f"web:lead_{form.id_prefix}", args=[lead.pk]),
            form=bound if bound is not None and bound.id_prefix == form.id_prefix else form,
        )
        for title, button, form in forms
    ]


def _touch_value(touch: Touch | None, attribute: str) -> str:
    if touch is None:
        return ""
    value = getattr(touch, attribute)
    return str(value() if callable(value) else value or "")


def _attribution_rows(attribution: LeadAttribution) -> list[tuple[str, str, str]]:
    first, last = attribution.first_touch, attribution.last_touch
    return [(label, _touch_value(first, name), _touch_value(last, name)) for label, name in ATTRIBUTION_ROWS]


def _sections(lead: Lead) -> dict[str, Any]:
    """Sections an action may change, re-rendered after it (out of band for HTMX)."""
    intake = submission_trace_for_lead(lead=lead)
    return {
        "lead": lead,
        "intake": intake,
        "score_step": intake.latest_step("score"),
        "route_step": intake.latest_step("route"),
        "transitions": lead_transition_log(lead=lead),
        "kinds": ActivityKind.choices,
    }


def _page_context(
    request: LeadRequest, lead: Lead, *, bound: ActionForm | None = None, kind: str = "", cursor: str = ""
) -> dict[str, Any]:
    specs = custom_field_specs()
    attribution = lead_attribution(lead=lead)
    consents = {consent.channel: consent for consent in attribution.consents}
    return {
        **_sections(lead),
        "profile": [(field, field.display(lead)) for field in editable_fields(specs)],
        "extra": sorted(lead.extra.items()),
        "timeline": _timeline(lead, kind, cursor or None),
        "actions": _quick_actions(request, lead, bound),
        "attribution": attribution,
        "attribution_rows": _attribution_rows(attribution),
        "consents": [(label, consents.get(channel)) for channel, label in ConsentChannel.choices],
    }


# ----------------------------------------------------------------------------------------------------
# The page and its timeline
# ----------------------------------------------------------------------------------------------------


@login_required
@require_GET
def lead_detail(request: LeadRequest, lead_id: int) -> HttpResponse:
    lead = _visible_lead(request, lead_id)
    context = _page_context(
        request, lead, kind=request.GET.get("kind", ""), cursor=request.GET.get("cursor", "")
    )
    return render(request, f"{TEMPLATE_DIR}/detail.html", context)


@login_required
@require_GET
def lead_timeline(request: LeadRequest, lead_id: int) -> HttpResponse:
    """The timeline section for a kind filter, or the next page of entries when a cursor is given."""
    lead = _visible_lead(request, lead_id)
    kind, cursor = request.GET.get("kind", ""), request.GET.get("cursor", "")
    if not request.htmx:
        query = urlencode({k: v for k, v in (("kind", kind), ("cursor", cursor)) if v})
        return redirect(reverse("web:lead_detail", args=[lead.pk]) + (f"?{query}" if query else ""))
    timeline = _timeline(lead, kind, cursor or None)
    if cursor:
        return render(request, f"{TEMPLATE_DIR}/_timeline_entries.html", {"lead": lead, "timeline": timeline})
    response = render(
        request,
        f"{TEMPLATE_DIR}/_timeline.html",
        {"lead": lead, "timeline": timeline, "kinds": ActivityKind.choices},
    )
    detail_url = reverse("web:lead_detail", args=[lead.pk])
    return push_url(
        response, f"{detail_url}?{urlencode({'kind': timeline.kind})}" if timeline.kind else detail_url
    )


# ----------------------------------------------------------------------------------------------------
# Inline edits
# ----------------------------------------------------------------------------------------------------


def _editable(lead_id: int, field_key: str, request: LeadRequest) -> tuple[Lead, EditableField]:
    lead = _visible_lead(request, lead_id)
    field = editable_field(field_key, custom_field_specs())
    if field is None:
        raise Http404("No such field.")
    return lead, field


@login_required
@require_GET
def lead_field(request: LeadRequest, lead_id: int, field_key: str) -> HttpResponse:
    """A field's value with its Edit button (what Cancel swaps back in)."""
    lead, field = _editable(lead_id, field_key, request)
    if not request.htmx:
        return redirect(_detail_url(lead, f"field-{field.slug}"))
    context = {"lead": lead, "field": field, "display": field.display(lead), "refocus": True}
    return render(request, f"{TEMPLATE_DIR}/_field.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def lead_field_edit(request: LeadRequest, lead_id: int, field_key: str) -> HttpResponse:
    """GET: the one-field form. POST: saves it with capture.services.lead_update, as the API does."""
    lead, field = _editable(lead_id, field_key, request)
    form = field.form(lead, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            lead_update(lead=lead, changes=field.changes(form.cleaned_data["value"]), actor=request.user)
        except LeadValidationError as err:
            field.refuse(form, err.errors.get(field.key) or "; ".join(err.errors.values()))
        else:
            lead = _visible_lead(request, lead_id)
            if not request.htmx:
                messages.success(request, f"{field.label} saved.")
                return redirect(_detail_url(lead, f"field-{field.slug}"))
            context = {
                **_sections(lead),
                "field": field,
                "display": field.display(lead),
                "refocus": True,
                "timeline": _timeline(lead, ""),
                "oob": True,
            }
            return render(request, f"{TEMPLATE_DIR}/_field_saved.html", context)
    context = {"lead": lead, "field": field, "form": form}
    if request.htmx:
        return render(request, f"{TEMPLATE_DIR}/_field.html", context)
    return render(request, f"{TEMPLATE_DIR}/field_edit.html", context)


# ----------------------------------------------------------------------------------------------------
# Quick actions
# ----------------------------------------------------------------------------------------------------

ActionHandler = Callable[[LeadRequest, Lead, dict[str, Any]], str]


def _quick_action(
    request: LeadRequest,
    lead_id: int,
    make_form: Callable[[QueryDict], ActionForm],
    handler: ActionHandler,
) -> HttpResponse:
    """Validates the form, runs the service through `handler` and answers with the updated sections."""
    lead = _visible_lead(request, lead_id)
    form = make_form(request.POST)
    if form.is_valid():
        try:
            message = handler(request, lead, form.cleaned_data)
        except ActionRefused as err:
            form.add_error(err.field, err.message)
        else:
            return _action_done(request, lead_id, message)
    if request.htmx:
        context = {"lead": lead, "actions": _quick_actions(request, lead, form), "failed": True}
        return render(request, f"{TEMPLATE_DIR}/_actions.html", context)
    messages.error(request, "Not saved: please correct the errors below.")
    return render(request, f"{TEMPLATE_DIR}/detail.html", _page_context(request, lead, bound=form))


def _action_done(request: LeadRequest, lead_id: int, message: str) -> HttpResponse:
    lead = lead_get(lead_id=lead_id, viewer=request.user)
    if lead is None:  # handed to someone outside the viewer's reach
        messages.success(request, f"{message} The lead is no longer in your view.")
        if request.htmx:
            return HttpResponseClientRedirect(reverse("web:lead_list"))
        return redirect(reverse("web:lead_list"))
    if not request.htmx:
        messages.success(request, message)
        return redirect(_detail_url(lead))
    context = {
        **_sections(lead),
        "actions": _quick_actions(request, lead),
        "timeline": _timeline(lead, ""),
        "done": message,
        "oob": True,
    }
    return render(request, f"{TEMPLATE_DIR}/_action_done.html", context)


def _log_call(request: LeadRequest, lead: Lead, data: dict[str, Any]) -> str:
    activity_create(lead=lead, kind=ActivityKind.CALL, summary=data["summary"], actor=request.user)
    return "Call logged."


def _add_note(request: LeadRequest, lead: Lead, data: dict[str, Any]) -> str:
    try:
        note_add(lead=lead, body=data["body"], actor=request.user)
    except ValueError as err:
        raise ActionRefused("body", str(err)) from None
    return "Note added."


def _change_stage(request: LeadRequest, lead: Lead, data: dict[str, Any]) -> str:
    try:
        changed = lead_stage_change(lead=lead, stage=data["stage"], reason=data["reason"], actor=request.user)
    except StageChangeError as err:
        raise ActionRefused("reason", str(err)) from None
    return f"Stage is now {lead.get_stage_display()}." if changed else "The stage was already set."


def _change_status(request: LeadRequest, lead: Lead, data: dict[str, Any]) -> str:
    try:
        changed = lead_status_change(
            lead=lead, status=data["status"], reason=data["reason"], actor=request.user
        )
    except StageChangeError as err:
        raise ActionRefused("status", str(err)) from None
    return f"Status is now {lead.get_status_display()}." if changed else "The status was already set."


def _reassign(request: LeadRequest, lead: Lead, data: dict[str, Any]) -> str:
    owner: User | None = data["owner"]
    if owner == lead.owner:
        return "The lead already has this owner."
    try:
        lead_assign(lead=lead, owner=owner, actor=request.user, reason=data["reason"])
    except ValueError as err:
        raise ActionRefused("owner", str(err)) from None
    return (
        f"Assigned to {owner.get_full_name() or owner.username}." if owner else "Returned to the team pool."
    )


@login_required
@require_POST
def lead_call_log(request: LeadRequest, lead_id: int) -> HttpResponse:
    return _quick_action(request, lead_id, CallForm, _log_call)


@login_required
@require_POST
def lead_note_add(request: LeadRequest, lead_id: int) -> HttpResponse:
    return _quick_action(request, lead_id, NoteForm, _add_note)


@login_required
@require_POST
def lead_stage_change_view(request: LeadRequest, lead_id: int) -> HttpResponse:
    return _quick_action(request, lead_id, StageForm, _change_stage)


@login_required
@require_POST
def lead_status_change_view(request: LeadRequest, lead_id: int) -> HttpResponse:
    return _quick_action(request, lead_id, StatusForm, _change_status)


@login_required
@require_POST
def lead_reassign(request: LeadRequest, lead_id: int) -> HttpResponse:
    def make_form(data: QueryDict) -> ActionForm:
        return AssignForm(data, assignable=user_assignable(viewer=request.user))

    return _quick_action(request, lead_id, make_form, _reassign)


urlpatterns = [
    path("leads/<int:lead_id>/", lead_detail, name="lead_detail"),
    path("leads/<int:lead_id>/timeline/", lead_timeline, name="lead_timeline"),
    path("leads/<int:lead_id>/fields/<str:field_key>/", lead_field, name="lead_field"),
    path("leads/<int:lead_id>/fields/<str:field_key>/edit/", lead_field_edit, name="lead_field_edit"),
    path("leads/<int:lead_id>/calls/", lead_call_log, name="lead_call"),
    path("leads/<int:lead_id>/notes/", lead_note_add, name="lead_note"),
    path("leads/<int:lead_id>/stage/", lead_stage_change_view, name="lead_stage"),
    path("leads/<int:lead_id>/status/", lead_status_change_view, name="lead_status"),
    path("leads/<int:lead_id>/owner/", lead_reassign, name="lead_assign"),
]
