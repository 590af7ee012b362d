"""The import wizard (upload → mapping → preview and dry run → background run with live progress →
error report → undo) and the inbound-email log. Views only call capture's import and email services."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_POST

from leadflow.access.models import Role, User
from leadflow.capture.email_intake import InboundRouteError, inbound_route_poll_now, inbound_route_save
from leadflow.capture.import_files import ImportFileError
from leadflow.capture.import_mapping import mapping_targets
from leadflow.capture.imports import (
    ImportError_,
    import_create,
    import_dry_run,
    import_error_report,
    import_preview,
    import_set_mapping,
    import_start,
    import_undo,
)
from leadflow.capture.models import (
    EmailOutcome,
    Import,
    ImportMapping,
    ImportStatus,
    InboundEmail,
    InboundRoute,
)
from leadflow.leads.models import Source
from leadflow.leads.selectors import custom_field_specs

View = Callable[..., HttpResponse]
IMPORT_ROLES = {Role.ADMIN, Role.MARKETING, Role.MANAGER}


def importer_required(view: View) -> View:
    """Admins, marketing and managers; everyone else gets a 404."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (isinstance(user, User) and (user.role in IMPORT_ROLES or user.is_superuser)):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@importer_required
def import_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/imports/list.html",
        {
            "imports": Import.objects.select_related("source", "actor")[:100],
            "sources": Source.objects.values_list("name", flat=True),
        },
    )


@importer_required
@require_POST
def import_upload(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    source = request.POST.get("source", "").strip()
    if upload is None or not source:
        messages.error(request, "Choose a file and name the source of its leads.")
        return redirect("web:import_list")
    try:
        imp = import_create(
            stream=upload, file_name=upload.name or "upload", source_name=source, actor=_user(request)
        )
    except (ImportError_, ImportFileError) as err:
        messages.error(request, str(err))
        return redirect("web:import_list")
    return redirect("web:import_detail", import_id=imp.pk)


@importer_required
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    imp = get_object_or_404(Import.objects.select_related("source"), pk=import_id)
    context: dict[str, Any] = {
        "imp": imp,
        "editable": imp.status in (ImportStatus.UPLOADED, ImportStatus.FAILED),
    }
    if context["editable"]:
        targets = mapping_targets(custom_field_specs())
        context["columns"] = [(header, imp.mapping.get(header, "")) for header in imp.headers]
        context["targets"] = [(t, t.replace("_", " ") if t else "— ignore —") for t in targets]
        context["preview"] = import_preview(imp=imp)
        context["saved_mappings"] = ImportMapping.objects.all()
        if request.GET.get("dry_run"):
            context["dry_run"] = import_dry_run(imp=imp)
    return render(request, "web/imports/detail.html", context)


@importer_required
@require_POST
def import_mapping(request: HttpRequest, import_id: int) -> HttpResponse:
    imp = get_object_or_404(Import, pk=import_id)
    if saved := request.POST.get("use_saved"):
        mapping = get_object_or_404(ImportMapping, pk=saved).columns
    else:
        mapping = {header: request.POST.get(f"map-{index}", "") for index, header in enumerate(imp.headers)}
    try:
        import_set_mapping(
            imp=imp, mapping=mapping, save_as=request.POST.get("save_as", ""), actor=_user(request)
        )
    except ImportError_ as err:
        messages.error(request, str(err))
    else:
        messages.success(request, "Mapping saved. Check the preview, then run a dry run or start the import.")
    return redirect("web:import_detail", import_id=imp.pk)


@importer_required
@require_POST
def import_run(request: HttpRequest, import_id: int) -> HttpResponse:
    imp = get_object_or_404(Import, pk=import_id)
    try:
        import_start(imp=imp, actor=_user(request), alert_owners=request.POST.get("alert_owners") == "1")
    except ImportError_ as err:
        messages.error(request, str(err))
    return redirect("web:import_detail", import_id=imp.pk)


@importer_required
def import_progress(request: HttpRequest, import_id: int) -> HttpResponse:
    """The progress card alone, polled by HTMX every second while the import runs."""
    imp = get_object_or_404(Import.objects.select_related("source"), pk=import_id)
    return render(request, "web/imports/_progress.html", {"imp": imp})


@importer_required
def import_errors(request: HttpRequest, import_id: int) -> HttpResponse:
    imp = get_object_or_404(Import, pk=import_id)
    response = HttpResponse(import_error_report(imp=imp), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{imp.pk}-errors.csv"'
    return response


@importer_required
@require_POST
def import_undo_view(request: HttpRequest, import_id: int) -> HttpResponse:
    imp = get_object_or_404(Import, pk=import_id)
    try:
        result = import_undo(imp=imp, actor=_user(request))
    except ImportError_ as err:
        messages.error(request, str(err))
    else:
        messages.success(
            request,
            f"Import undone: {result.removed} new leads removed, {result.reverted} leads reverted, "
            f"{len(result.kept)} changed since and kept.",
        )
        for note in result.kept[:20]:
            messages.warning(request, note)
    return redirect("web:import_detail", import_id=imp.pk)


@importer_required
def inbound_email_list(request: HttpRequest) -> HttpResponse:
    """The inbound routes (addresses, mailboxes, last poll and its error) with a form to add one, and the
    inbound emails by outcome; the rejected log by default."""
    outcome = request.GET.get("outcome", EmailOutcome.REJECTED)
    if outcome not in EmailOutcome.values:
        outcome = EmailOutcome.REJECTED
    records = InboundEmail.objects.filter(outcome=outcome).select_related("lead", "route").defer("raw")[:200]
    return render(
        request,
        "web/imports/inbound_emails.html",
        {
            "records": records,
            "outcome": outcome,
            "outcomes": EmailOutcome.choices,
            "routes": InboundRoute.objects.select_related("source"),
            "sources": Source.objects.order_by("name").values_list("name", flat=True),
        },
    )


def _route_form(
    request: HttpRequest, route: InboundRoute | None, status: int = 200, errors: dict[str, str] | None = None
) -> HttpResponse:
    values: dict[str, Any]
    if request.method == "POST":
        values = dict(request.POST.dict())
    elif route is not None:
        values = {
            "address": route.address,
            "source": route.source.name,
            "imap_host": route.imap_host,
            "imap_port": route.imap_port,
            "imap_ssl": route.imap_ssl,
            "imap_user": route.imap_user,
            "imap_folder": route.imap_folder,
            "is_active": route.is_active,
        }
    else:
        values = {"imap_port": 993, "imap_ssl": True, "imap_folder": "INBOX", "is_active": True}
    context = {
        "route": route,
        "values": values,
        "errors": errors or {},
        "sources": Source.objects.order_by("name").values_list("name", flat=True),
        "poll_seconds": settings.LEADFLOW_IMAP_POLL_SECONDS,
    }
    return render(request, "web/imports/inbound_route.html", context, status=status)


@importer_required
def inbound_route_edit(request: HttpRequest, route_id: int | None = None) -> HttpResponse:
    """Add or edit an inbound route; bad values answer 422 with a message per field."""
    routes = InboundRoute.objects.select_related("source")
    route = get_object_or_404(routes, pk=route_id) if route_id else None
    if request.method != "POST":
        return _route_form(request, route)
    try:
        saved = inbound_route_save(route=route, values=request.POST.dict(), actor=_user(request))
    except InboundRouteError as err:
        return _route_form(request, route, status=422, errors=err.errors)
    messages.success(
        request,
        f"Inbound route {saved.address} saved"
        + (f"; the worker polls {saved.imap_host}." if saved.imap_host and saved.is_active else "."),
    )
    return redirect("web:inbound_email_list")


@importer_required
@require_POST
def inbound_route_poll(request: HttpRequest, route_id: int) -> HttpResponse:
    route = get_object_or_404(InboundRoute, pk=route_id)
    if not route.imap_host:
        messages.error(request, f"{route.address} has no IMAP mailbox to poll.")
    else:
        inbound_route_poll_now(route=route, actor=_user(request))
        messages.success(request, f"Polling {route.imap_host} for {route.address} now.")
    return redirect("web:inbound_email_list")


urlpatterns: list[URLPattern] = [
    path("imports/", import_list, name="import_list"),
    path("imports/upload", import_upload, name="import_upload"),
    path("imports/<int:import_id>/", import_detail, name="import_detail"),
    path("imports/<int:import_id>/mapping", import_mapping, name="import_mapping"),
    path("imports/<int:import_id>/run", import_run, name="import_run"),
    path("imports/<int:import_id>/progress", import_progress, name="import_progress"),
    path("imports/<int:import_id>/errors.csv", import_errors, name="import_errors"),
    path("imports/<int:import_id>/undo", import_undo_view, name="import_undo"),
    path("inbound-emails/", inbound_email_list, name="inbound_email_list"),
    path("inbound-routes/new", inbound_route_edit, name="inbound_route_create"),
    path("inbound-routes/<int:route_id>/", inbound_route_edit, name="inbound_route_edit"),
    path("inbound-routes/<int:route_id>/poll", inbound_route_poll, name="inbound_route_poll"),
]
