"""The rep's inbox (the home page) and the lead list with its saved views, bulk actions and export."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url
from django_htmx.middleware import HtmxDetails

from leadflow.access.models import User
from leadflow.access.selectors import user_assignable
from leadflow.leads.models import Lead, Stage, Status, Task
from leadflow.leads.selectors import (
    CursorError,
    lead_hot,
    lead_inbox_new,
    lead_iter,
    lead_list,
    lead_pool,
    lead_visible,
    task_open_due,
)
from leadflow.leads.services import lead_stage_change, lead_status_change, note_add
from leadflow.routing.services import lead_assign
from leadflow.web.lead_list import (
    BULK_MAX_LEADS,
    LEADS_PER_PAGE,
    MORE_FILTERS,
    SORTABLE_COLUMNS,
    BulkAction,
    BulkOutcome,
    LeadFilterForm,
    ResponseClock,
    SavedViewError,
    bulk_apply,
    end_of_today,
    lead_csv_lines,
    lead_rows,
    person_label,
    response_clock,
    saved_view_delete,
    saved_view_save,
    saved_views_for,
    selected_ids,
    user_zone,
    view_querystring,
)

# Sorts that start from the largest value when a column is first clicked.
DESCENDING_FIRST = {"score", "created"}
# Per-lead errors listed after a bulk action; the rest are counted.
ERRORS_LISTED = 10


class SignedInRequest(HttpRequest):
    """A request of a signed-in user that passed the htmx middleware."""

    user: User
    htmx: HtmxDetails


def hot_score() -> int:
    """Leads from this score up are hot (setting LEADFLOW_HOT_SCORE)."""
    return settings.LEADFLOW_HOT_SCORE


def _assignable(viewer: User) -> list[User]:
    """The people `viewer` may hand leads to, with just what the owner menus show."""
    return list(user_assignable(viewer=viewer).only("first_name", "last_name", "username", "is_active"))


def _leads(count: int) -> str:
    return "1 lead" if count == 1 else f"{count} leads"


def _partial(request: SignedInRequest) -> bool:
    """True for an htmx request that swaps part of the page (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


# ---- inbox ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewLead:
    lead: Lead
    clock: ResponseClock
    assigned_at: datetime


@dataclass(frozen=True)
class FollowUp:
    task: Task
    overdue: bool


@login_required
@require_GET
def inbox_page(request: SignedInRequest) -> HttpResponse:
    """What needs the viewer now: new leads waiting for a first response, follow-ups, hot leads, the pool."""
    viewer = request.user
    zone = user_zone(viewer)
    now = timezone.now()
    new_leads = []
    for lead in lead_inbox_new(owner=viewer):
        assigned_at = lead.assigned_at or lead.created_at
        new_leads.append(
            NewLead(lead=lead, clock=response_clock(since=assigned_at, now=now), assigned_at=assigned_at)
        )
    context: dict[str, object] = {"new_leads": new_leads}
    template = "web/inbox/_new_leads.html"
    if not (_partial(request) and request.GET.get("block") == "new"):
        template = "web/inbox/home.html"
        tasks = task_open_due(assignee=viewer, due_before=end_of_today(zone=zone, now=now))
        context |= {
            "follow_ups": [FollowUp(task=task, overdue=task.due_at < now) for task in tasks],
            "hot_leads": lead_hot(viewer=viewer, min_score=hot_score()),
            "hot_score": hot_score(),
            "pool": lead_pool(viewer=viewer),
        }
    with timezone.override(zone):
        response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_POST
def lead_take(request: SignedInRequest, lead_id: int) -> HttpResponse:
    """Takes an unassigned lead the viewer can see; 404 for any other lead (or one taken meanwhile)."""
    viewer = request.user
    with transaction.atomic():
        lead = lead_visible(viewer=viewer).select_for_update().filter(pk=lead_id, owner__isnull=True).first()
        if lead is None:
            raise Http404("No such lead in your pool.")
        lead_assign(lead=lead, owner=viewer, actor=viewer, reason="Taken from the pool.")
    messages.success(request, f"{lead} is yours now.")
    return redirect("web:home")


# ---- lead list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    label: str
    css: str = ""
    url: str = ""
    aria_sort: str = ""


def _detail_url(lead_id: int) -> str:
    return reverse("web:lead_detail", kwargs={"lead_id": lead_id})


def _list_url(query: str, cursor: str | None = None) -> str:
    """The lead list's address for a view's query string, at the page `cursor` points to."""
    params = "&".join(part for part in (query, cursor and urlencode({"cursor": cursor})) if part)
    return reverse("web:lead_list") + (f"?{params}" if params else "")


def _columns(query: QueryDict, order: str) -> list[Column]:
    """The table's header: sortable columns link to their sort, the active one says its direction."""
    without_sort = query.copy()
    without_sort.pop("sort", None)
    sortable = dict(SORTABLE_COLUMNS)

    def sortable_column(key: str, css: str = "") -> Column:
        if order == key:
            target, aria_sort = f"-{key}", "ascending"
        elif order == f"-{key}":
            target, aria_sort = key, "descending"
        else:
            target, aria_sort = (f"-{key}" if key in DESCENDING_FIRST else key), ""
        params = without_sort.copy()
        params["sort"] = target
        return Column(sortable[key], css=css, url=_list_url(params.urlencode()), aria_sort=aria_sort)

    return [
        sortable_column("name"),
        sortable_column("company", "hide-sm"),
        sortable_column("stage"),
        Column("Status", "hide-sm"),
        sortable_column("score", "num"),
        sortable_column("owner"),
        Column("Team", "hide-sm"),
        Column("Source", "hide-sm"),
        sortable_column("created", "hide-sm"),
    ]


@login_required
@require_GET
def lead_list_page(request: SignedInRequest) -> HttpResponse:
    """The leads the viewer may see, filtered and sorted, a keyset page at a time."""
    viewer = request.user
    zone = user_zone(viewer)
    assignable = _assignable(viewer)
    form = LeadFilterForm(request.GET, assignable=assignable)
    form.is_valid()
    problems = form.problems()
    filters = form.lead_filters(zone=zone)
    cursor = request.GET.get("cursor") or None
    try:
        page = lead_list(
            viewer=viewer, filters=filters, cursor=cursor, limit=LEADS_PER_PAGE, order=form.order
        )
    except CursorError:
        problems.append("That page link is no longer valid, so here is the first page.")
        cursor = None
        page = lead_list(viewer=viewer, filters=filters, limit=LEADS_PER_PAGE, order=form.order)
    query = view_querystring(request.GET)
    context: dict[str, object] = {
        "page": page,
        "rows": lead_rows(page.items, detail_url=_detail_url),
        "problems": problems,
        "query": query,
        "order": form.order,
        "columns": _columns(QueryDict(query, mutable=True), form.order),
        "first_url": _list_url(query) if cursor else "",
        "next_url": _list_url(query, page.next_cursor) if page.next_cursor else "",
        "hot_score": hot_score(),
    }
    partial = _partial(request)
    if partial:
        template = "web/leads/_results.html"
    else:
        template = "web/leads/list.html"
        saved_views = list(saved_views_for(user=viewer))
        context |= {
            "form": form,
            "more_filters_open": any(request.GET.get(name) for name in MORE_FILTERS),
            "bulk": BulkAction(assignable=assignable),
            "my_views": [view for view in saved_views if view.owner_id == viewer.pk],
            "shared_views": [view for view in saved_views if view.owner_id != viewer.pk],
        }
    with timezone.override(zone):
        response = render(request, template, context)
    if partial:  # the address bar shows the tidy address, not every empty field of the filter form
        push_url(response, _list_url(query, cursor))
    patch_vary_headers(response, ["HX-Request"])
    return response


def _csv_response(leads: Iterable[Lead], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lead_csv_lines(leads), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _export_filename() -> str:
    return f"leads-{timezone.now():%Y%m%d-%H%M}.csv"


@login_required
@require_GET
def lead_export(request: SignedInRequest) -> HttpResponseBase:
    """Every lead the viewer may see that matches the list's filters, as CSV, streamed in keyset chunks."""
    viewer = request.user
    form = LeadFilterForm(request.GET, assignable=_assignable(viewer))
    if not form.is_valid():
        for problem in form.problems():
            messages.error(request, problem)
        messages.error(request, "Nothing was exported: fix the filters first.")
        return redirect(_list_url(view_querystring(request.GET)))
    leads = lead_iter(viewer=viewer, filters=form.lead_filters(zone=user_zone(viewer)), order=form.order)
    return _csv_response(leads, _export_filename())


def _report(request: SignedInRequest, outcome: BulkOutcome, done: Callable[[str], str]) -> None:
    """A success message saying what was `done` to how many leads, and an error per lead refused."""
    if outcome.changed:
        messages.success(request, done(_leads(len(outcome.changed))))
    for lead, error in outcome.errors[:ERRORS_LISTED]:
        messages.error(request, f"{lead}: {error}")
    if len(outcome.errors) > ERRORS_LISTED:
        messages.error(request, f"{_leads(len(outcome.errors) - ERRORS_LISTED)} more could not be changed.")


@login_required
@require_POST
def lead_bulk(request: SignedInRequest) -> HttpResponseBase:
    """Applies one action to the selected leads, each re-checked against what the viewer may see."""
    viewer = request.user
    back = _list_url(view_querystring(QueryDict(request.POST.get("query", ""))))
    form = BulkAction(request.POST, assignable=_assignable(viewer))
    ids, malformed = selected_ids(request.POST.getlist("ids"))
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            text = " ".join(str(error) for error in errors)
            messages.error(request, f"{label}: {text}" if label else text)
        return redirect(back)
    if not ids and not malformed:
        messages.warning(request, "Select at least one lead first.")
        return redirect(back)
    if len(ids) + malformed > BULK_MAX_LEADS:
        messages.error(request, f"Select at most {BULK_MAX_LEADS} leads at a time.")
        return redirect(back)
    leads = list(
        lead_visible(viewer=viewer)
        .filter(pk__in=ids)
        .select_related("owner", "team", "source")
        .order_by("id")
    )
    not_found = len(ids) - len(leads) + malformed
    if not_found:
        verb = "was" if not_found == 1 else "were"
        messages.warning(request, f"{_leads(not_found)} {verb} not changed: not found.")
    data = form.cleaned_data
    action = data["action"]
    if action == BulkAction.EXPORT:
        return _csv_response(leads, _export_filename())
    if action == BulkAction.ASSIGN:
        owner = form.new_owner
        outcome = bulk_apply(leads, lambda lead: lead_assign(lead=lead, owner=owner, actor=viewer))
        _report(request, outcome, lambda leads: f"Assigned {leads} to {person_label(owner)}.")
    elif action == BulkAction.STAGE:
        stage, reason = data["stage"], data["reason"]
        outcome = bulk_apply(
            leads, lambda lead: lead_stage_change(lead=lead, stage=stage, reason=reason, actor=viewer)
        )
        _report(request, outcome, lambda leads: f"Moved {leads} to {Stage(stage).label}.")
    elif action == BulkAction.STATUS:
        status = data["status"]
        outcome = bulk_apply(leads, lambda lead: lead_status_change(lead=lead, status=status, actor=viewer))
        _report(request, outcome, lambda leads: f"Set {leads} to {Status(status).label}.")
    else:
        body = data["note"]
        outcome = bulk_apply(leads, lambda lead: note_add(lead=lead, body=body, actor=viewer))
        _report(request, outcome, lambda leads: f"Added the note to {leads}.")
    return redirect(back)


# ---- saved views ---------------------------------------------------------------------------------


@login_required
@require_POST
def saved_view_create(request: SignedInRequest) -> HttpResponse:
    """Saves the current filters and sort under a name, for the viewer or for everyone."""
    viewer = request.user
    query = view_querystring(QueryDict(request.POST.get("query", "")))
    try:
        saved_view, created = saved_view_save(
            owner=viewer,
            name=request.POST.get("name", ""),
            querystring=query,
            shared="shared" in request.POST,
        )
    except SavedViewError as err:
        messages.error(request, str(err))
        return redirect(_list_url(query))
    messages.success(request, f"View “{saved_view}” {'saved' if created else 'updated'}.")
    return redirect(_list_url(saved_view.querystring))


@login_required
@require_POST
def saved_view_remove(request: SignedInRequest, view_id: int) -> HttpResponse:
    """Deletes one of the viewer's own views; anyone else's answers 404."""
    saved_view = saved_view_delete(saved_view_id=view_id, actor=request.user)
    if saved_view is None:
        raise Http404("No such view of yours.")
    messages.success(request, f"View “{saved_view}” deleted.")
    return redirect(_list_url(view_querystring(QueryDict(request.POST.get("query", "")))))


urlpatterns: list[URLPattern] = [
    path("", inbox_page, name="home"),
    path("inbox/pool/<int:lead_id>/take/", lead_take, name="lead_take"),
    path("leads/", lead_list_page, name="lead_list"),
    path("leads/bulk/", lead_bulk, name="lead_bulk"),
    path("leads/export.csv", lead_export, name="lead_export"),
    path("leads/views/", saved_view_create, name="saved_view_create"),
    path("leads/views/<int:view_id>/delete/", saved_view_remove, name="saved_view_delete"),
]
