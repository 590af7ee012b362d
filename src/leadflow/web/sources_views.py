"""Sources screens: every source with its counts and failures, and one source's submissions, spam,
failed syncs, refused webhook calls and configuration (keys, secrets, mapping, cost)."""

import json
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from leadflow.capture.channel_models import MetaLeadSync, WebhookEndpoint, WebhookKind
from leadflow.capture.channel_selectors import (
    source_failed_syncs,
    source_overview,
    source_rejections,
    source_spam,
    source_submissions,
)
from leadflow.capture.models import Submission, SubmissionStatus
from leadflow.capture.services import submission_replay
from leadflow.capture.sources import source_update
from leadflow.capture.webhooks import (
    WebhookConfigError,
    meta_sync_replay,
    webhook_endpoint_create,
    webhook_endpoint_update,
)
from leadflow.leads.models import Source
from leadflow.web.forms_views import _user, marketing_staff


@marketing_staff
def source_list(request: HttpRequest) -> HttpResponse:
    return render(request, "web/sources/list.html", {"rows": source_overview(), "kinds": WebhookKind.choices})


@marketing_staff
@require_POST
def webhook_create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()
    kind = request.POST.get("kind", "")
    if not name or kind not in WebhookKind.values or Source.objects.filter(name__iexact=name).exists():
        messages.error(request, "Give the webhook a new, unique source name and a kind.")
        return redirect("web:source_list")
    endpoint = webhook_endpoint_create(name=name, kind=kind, actor=_user(request))
    messages.success(request, f"Webhook source “{name}” created; copy its URL and secret below.")
    return redirect("web:source_detail", source_id=endpoint.source.pk)


def _hook_url(request: HttpRequest, endpoint: WebhookEndpoint) -> str:
    kind = {"google_ads": "google", "meta": "meta", "generic": "generic"}[endpoint.kind]
    return request.build_absolute_uri(f"/api/v1/hooks/{kind}/{endpoint.key}")


@marketing_staff
def source_detail(request: HttpRequest, source_id: int) -> HttpResponse:
    """One source: configuration, recent submissions, quarantined ones, spam, failed syncs, refusals."""
    source = get_object_or_404(Source, pk=source_id)
    endpoint = WebhookEndpoint.objects.filter(source=source).first()
    errors: dict[str, str] = {}
    if request.method == "POST" and endpoint is not None:
        try:
            mapping = json.loads(request.POST.get("mapping") or "{}")
        except ValueError:
            errors["mapping"] = 'The mapping must be JSON, e.g. {"email": "data.email"}.'
        if not errors:
            try:
                webhook_endpoint_update(
                    endpoint=endpoint,
                    secret=request.POST.get("secret", ""),
                    verify_token=request.POST.get("verify_token", ""),
                    access_token=request.POST.get("access_token", ""),
                    graph_base_url=request.POST.get("graph_base_url", ""),
                    mapping=mapping if endpoint.kind == WebhookKind.GENERIC else None,
                    actor=_user(request),
                )
            except WebhookConfigError as err:
                errors = err.errors
            else:
                messages.success(request, "Webhook settings saved.")
                return redirect("web:source_detail", source_id=source.pk)
    form = getattr(source, "web_form", None) if hasattr(source, "web_form") else None
    context = {
        "source": source,
        "endpoint": endpoint,
        "web_form": form,
        "hook_url": _hook_url(request, endpoint) if endpoint else "",
        "mapping_json": json.dumps(endpoint.mapping, indent=2) if endpoint else "",
        "errors": errors,
        "submissions": source_submissions(source=source),
        "quarantined": source_submissions(source=source, status=SubmissionStatus.QUARANTINED),
        "spam": source_spam(source=source),
        "failed_syncs": source_failed_syncs(source=source),
        "rejections": source_rejections(source=source),
    }
    return render(request, "web/sources/detail.html", context)


@marketing_staff
@require_POST
def source_settings(request: HttpRequest, source_id: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=source_id)
    try:
        cost = Decimal(request.POST.get("cost", "0").strip() or "0")
        source_update(
            source=source, cost=cost, is_active=bool(request.POST.get("is_active")), actor=_user(request)
        )
    except (InvalidOperation, ValueError):
        messages.error(request, "The cost must be a number of at least 0.")
    else:
        messages.success(request, "Source saved.")
    return redirect("web:source_detail", source_id=source.pk)


@marketing_staff
@require_POST
def meta_sync_replay_view(request: HttpRequest, source_id: int, sync_id: int) -> HttpResponse:
    sync = get_object_or_404(MetaLeadSync, pk=sync_id, endpoint__source_id=source_id)
    try:
        meta_sync_replay(sync=sync, actor=_user(request))
    except ValueError as err:
        messages.error(request, str(err))
    else:
        messages.success(request, f"Meta lead {sync.leadgen_id} queued again.")
    return redirect(reverse("web:source_detail", kwargs={"source_id": source_id}) + "#failed-syncs")


@marketing_staff
@require_POST
def submission_replay_view(request: HttpRequest, source_id: int, submission_id: int) -> HttpResponse:
    """Runs a quarantined submission again as it is (after, say, the custom field it needed was added)."""
    submission = get_object_or_404(Submission, pk=submission_id, source_id=source_id)
    try:
        result = submission_replay(submission=submission, actor=_user(request))
    except ValueError as err:
        messages.error(request, str(err))
    else:
        if result.quarantined:
            problems = "; ".join(f"{k}: {v}" for k, v in result.submission.errors.items())
            messages.error(request, f"Submission {submission.pk} is still quarantined: {problems}")
        else:
            messages.success(
                request, f"Submission {submission.pk} went through: {result.submission.outcome}."
            )
    return redirect(reverse("web:source_detail", kwargs={"source_id": source_id}) + "#quarantined")


urlpatterns: list[URLPattern] = [
    path("sources/", source_list, name="source_list"),
    path("sources/webhooks/new/", webhook_create, name="webhook_create"),
    path("sources/<int:source_id>/", source_detail, name="source_detail"),
    path("sources/<int:source_id>/settings/", source_settings, name="source_settings"),
    path(
        "sources/<int:source_id>/submissions/<int:submission_id>/replay/",
        submission_replay_view,
        name="submission_replay",
    ),
    path(
        "sources/<int:source_id>/meta-syncs/<int:sync_id>/replay/",
        meta_sync_replay_view,
        name="meta_sync_replay",
    ),
]
