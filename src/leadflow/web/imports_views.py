"""The import wizard (upload → mapping → preview and dry run → background run with live progress →
error report → undo) and the inbound-email log. Views only call capture's import and email services."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_POST

from leadflow.access.models import Role, User
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
from leadflow.capture.models import EmailOutcome, Import, ImportMapping, ImportStatus, InboundEmail
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
        import_start(imp=imp, actor=_user(request))
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
    """Inbound emails by outcome; the rejected log by default."""
    outcome = request.GET.get("outcome", EmailOutcome.REJECTED)
    if outcome not in EmailOutcome.values:
        outcome = EmailOutcome.REJECTED
    records = InboundEmail.objects.filter(outcome=outcome).select_related("lead", "route").defer("raw")[:200]
    return render(
        request,
        "web/imports/inbound_emails.html",
        {"records": records, "outcome": outcome, "outcomes": EmailOutcome.choices},
    )


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
]
