"""Public endpoints of the form and webhook channels, and the admin endpoints of their logs.

Forms (no auth; CORS limited to each form's allowed origins): GET /forms/{key} gives the form to
render, POST /forms/{key}/submissions takes a post (JSON or form-encoded).
Webhooks (authenticated by each source's key, secret or signature): /hooks/google/{key},
/hooks/meta/{key} (GET = Meta's verification handshake), /hooks/generic/{key}.
"""

import json
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from leadflow.access.api import AUTH, principal
from leadflow.access.models import ApiScope
from leadflow.capture.channel_models import (
    MetaLeadSync,
    RejectedDelivery,
    SyncStatus,
    WebForm,
    WebhookEndpoint,
    WebhookKind,
)
from leadflow.capture.web_forms import VISITOR_COOKIE, client_ip, form_render, form_submit
from leadflow.capture.webhooks import (
    WebhookAnswer,
    delivery_reject,
    generic_receive,
    google_lead_receive,
    meta_receive,
    meta_sync_replay,
    meta_verify,
)

public = Router(tags=["forms and webhooks"], auth=None)
router = Router(tags=["forms and webhooks"], auth=AUTH)


def _client_ip(request: HttpRequest) -> str | None:
    return client_ip(
        remote_addr=request.META.get("REMOTE_ADDR"), forwarded_for=request.headers.get("X-Forwarded-For", "")
    )


def _form(key: str) -> WebForm:
    form = WebForm.objects.select_related("source").filter(key=key, source__is_active=True).first()
    if form is None:
        raise HttpError(404, "No such form.")
    return form


def _cors(response: HttpResponse, form: WebForm, origin: str) -> HttpResponse:
    if origin and origin.rstrip("/") in form.origins:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response


def _origin_refused(form: WebForm, origin: str) -> HttpResponse | None:
    """A cross-origin call from a site the form does not allow answers 403 (without CORS headers)."""
    if origin and origin.rstrip("/") not in form.origins:
        return JsonResponse({"detail": f"{origin} may not embed this form."}, status=403)
    return None


@public.api_operation(["OPTIONS"], "/forms/{key}", include_in_schema=False)
def form_preflight(request: HttpRequest, key: str) -> HttpResponse:
    form = _form(key)
    origin = request.headers.get("Origin", "")
    return _origin_refused(form, origin) or _cors(HttpResponse(status=204), form, origin)


@public.api_operation(["OPTIONS"], "/forms/{key}/submissions", include_in_schema=False)
def submission_preflight(request: HttpRequest, key: str) -> HttpResponse:
    return form_preflight(request, key)


@public.get("/forms/{key}", summary="A form to render (embed snippet)")
def form_definition(request: HttpRequest, key: str, visitor: str = "") -> HttpResponse:
    """The fields to show, with the spam-guard token; a recognised visitor isn't asked again."""
    form = _form(key)
    origin = request.headers.get("Origin", "")
    if refused := _origin_refused(form, origin):
        return refused
    rendered = form_render(form=form, visitor=visitor or request.COOKIES.get(VISITOR_COOKIE, ""))
    return _cors(JsonResponse(rendered.as_json()), form, origin)


@public.post("/forms/{key}/submissions", summary="Submit a form")
def form_post(request: HttpRequest, key: str) -> HttpResponse:
    """201 with the thank-you message or redirect URL; 422 with per-field messages; 400 for spam
    (kept in the form's spam log)."""
    form = _form(key)
    origin = request.headers.get("Origin", "")
    if refused := _origin_refused(form, origin):
        return refused
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _cors(
                JsonResponse({"detail": "Send a JSON object of form fields."}, status=400), form, origin
            )
        data = {str(k): "" if v is None else str(v) for k, v in body.items()}
    else:
        data = {k: request.POST.get(k, "") for k in request.POST}
    outcome = form_submit(
        form=form,
        data=data,
        ip=_client_ip(request),
        origin=origin,
        visitor=data.pop("lf_visitor", "") or request.COOKIES.get(VISITOR_COOKIE, ""),
    )
    if outcome.status == "spam":
        response = JsonResponse({"status": "spam", "detail": outcome.errors["form"]}, status=400)
    elif not outcome.accepted:
        detail = [
            {"loc": ["body", name], "msg": str(msg), "type": "value_error"}
            for name, msg in outcome.errors.items()
        ]
        response = JsonResponse({"status": "invalid", "detail": detail}, status=422)
    else:
        response = JsonResponse(
            {
                "status": "accepted",
                "thank_you": form.thank_you,
                "redirect_url": form.redirect_url,
                "visitor": outcome.visitor,
            },
            status=201,
        )
    return _cors(response, form, origin)


def _endpoint(key: str, kind: str, request: HttpRequest) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_related("source").filter(key=key, kind=kind).first()
    if endpoint is None or not endpoint.source.is_active:
        delivery_reject(
            endpoint=endpoint,
            status=404,
            reason=f"No active {kind} webhook with this URL.",
            body=request.body,
            remote_addr=_client_ip(request),
        )
        raise HttpError(404, "No such webhook.")
    return endpoint


def _answer(answer: WebhookAnswer) -> JsonResponse:
    return JsonResponse(answer.body, status=answer.status)


@public.post("/hooks/google/{key}", summary="Google Ads lead form webhook")
def google_hook(request: HttpRequest, key: str) -> JsonResponse:
    """Google's lead form JSON. 200 when the lead is kept (new, duplicate lead_id or quarantined);
    401/403 when google_key is missing/wrong; 400 when the body is not a lead (Google counts any
    answer but 200 as a failed delivery)."""
    endpoint = _endpoint(key, WebhookKind.GOOGLE_ADS, request)
    return _answer(google_lead_receive(endpoint=endpoint, raw=request.body, remote_addr=_client_ip(request)))


@public.get("/hooks/meta/{key}", summary="Meta webhook verification handshake")
def meta_handshake(request: HttpRequest, key: str) -> HttpResponse:
    endpoint = _endpoint(key, WebhookKind.META, request)
    status, text = meta_verify(
        endpoint=endpoint,
        mode=request.GET.get("hub.mode", ""),
        token=request.GET.get("hub.verify_token", ""),
        challenge=request.GET.get("hub.challenge", ""),
    )
    return HttpResponse(text, status=status, content_type="text/plain")


@public.post("/hooks/meta/{key}", summary="Meta Lead Ads webhook")
def meta_hook(request: HttpRequest, key: str) -> JsonResponse:
    """A leadgen notification signed with X-Hub-Signature-256; each lead is fetched by a task."""
    endpoint = _endpoint(key, WebhookKind.META, request)
    signature = request.headers.get("X-Hub-Signature-256", "")
    return _answer(
        meta_receive(
            endpoint=endpoint, raw=request.body, signature=signature, remote_addr=_client_ip(request)
        )
    )


@public.post("/hooks/generic/{key}", summary="Generic JSON webhook (Zapier, Make, Typeform…)")
def generic_hook(request: HttpRequest, key: str) -> JsonResponse:
    """Authenticated by `X-Leadflow-Secret: <secret>` (or a Bearer), or `X-Signature-256: sha256=<hex
    HMAC-SHA256 of the body>`; mapped with the source's dot paths."""
    endpoint = _endpoint(key, WebhookKind.GENERIC, request)
    return _answer(
        generic_receive(
            endpoint=endpoint, raw=request.body, headers=request.headers, remote_addr=_client_ip(request)
        )
    )


class MetaSyncOut(Schema):
    id: int
    source: str
    leadgen_id: str
    status: str
    attempts: int
    last_error: str
    submission_id: int | None
    updated_at: datetime


class RejectionOut(Schema):
    id: int
    source: str | None
    status_code: int
    reason: str
    body: str
    received_at: datetime


def _sync_out(sync: MetaLeadSync) -> dict[str, Any]:
    return {
        "id": sync.pk,
        "source": sync.endpoint.source.name,
        "leadgen_id": sync.leadgen_id,
        "status": sync.status,
        "attempts": sync.attempts,
        "last_error": sync.last_error,
        "submission_id": sync.submission_id,
        "updated_at": sync.updated_at,
    }


@router.get("/meta-syncs", response=list[MetaSyncOut], summary="Meta lead syncs (the failed ones by default)")
def list_meta_syncs(request: HttpRequest, status: SyncStatus = SyncStatus.FAILED) -> list[dict[str, Any]]:
    principal(request).require(ApiScope.ADMIN)
    syncs = (
        MetaLeadSync.objects.filter(status=status).select_related("endpoint__source").order_by("-updated_at")
    )
    return [_sync_out(sync) for sync in syncs[:200]]


@router.post("/meta-syncs/{sync_id}/replay", response={202: MetaSyncOut}, summary="Replay a failed Meta sync")
def replay_meta_sync(request: HttpRequest, sync_id: int) -> Status[dict[str, Any]]:
    caller = principal(request)
    caller.require(ApiScope.ADMIN)
    sync = MetaLeadSync.objects.select_related("endpoint__source").filter(pk=sync_id).first()
    if sync is None:
        raise HttpError(404, "No such sync.")
    try:
        meta_sync_replay(sync=sync, actor=caller.user)
    except ValueError as err:
        raise HttpError(409, str(err)) from None
    sync.status = SyncStatus.PENDING
    return Status(202, _sync_out(sync))


@router.get("/webhook-rejections", response=list[RejectionOut], summary="Refused webhook calls")
def list_rejections(request: HttpRequest) -> list[dict[str, Any]]:
    principal(request).require(ApiScope.ADMIN)
    rows = RejectedDelivery.objects.select_related("endpoint__source").order_by("-received_at")[:200]
    return [
        {
            "id": r.pk,
            "source": r.endpoint.source.name if r.endpoint else None,
            "status_code": r.status_code,
            "reason": r.reason,
            "body": r.body,
            "received_at": r.received_at,
        }
        for r in rows
    ]
