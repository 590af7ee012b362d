"""REST API v1: every app's router under /api/v1, with OpenAPI and offline docs."""

import logging
import uuid
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema

from leadflow.capture.api import LeadCaptureIn
from leadflow.capture.api import router as capture_router
from leadflow.capture.api_channels import public as channels_public_router
from leadflow.capture.api_channels import router as channels_router
from leadflow.capture.files_api import router as capture_files_router
from leadflow.hygiene.api import router as hygiene_router
from leadflow.leads.api import router as leads_router
from leadflow.nurture.api import router as nurture_router
from leadflow.routing.api import router as routing_router
from leadflow.scoring.api import router as scoring_router
from leadflow.tracking.api import router as tracking_router

logger = logging.getLogger("leadflow.api")

# Schemas documented for endpoints that read their body themselves (to keep even invalid input).
DOCUMENTED_BODIES: list[type[Schema]] = [LeadCaptureIn]


class LeadflowAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in DOCUMENTED_BODIES:
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        return schema


api = LeadflowAPI(
    title="leadflow API",
    version="1",
    description=(
        "Capture, read and work leads. Authenticate with `Authorization: Bearer <key>` "
        "(create one with `leadflow apikey create`); the web UI uses its session."
    ),
    urls_namespace="api-v1",
)
api.add_router("", capture_router)
api.add_router("", capture_files_router)
api.add_router("", leads_router)
api.add_router("", tracking_router)
api.add_router("", scoring_router)
api.add_router("", routing_router)
api.add_router("", channels_public_router)
api.add_router("", channels_router)
api.add_router("", nurture_router)
api.add_router("", hygiene_router)


@api.get("/ping", auth=None, tags=["health"], summary="Liveness check")
def ping(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


@api.exception_handler(RequestDataTooBig)
def too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(request, {"detail": "Request body too large."}, status=413)


@api.exception_handler(Exception)
def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Any unexpected failure answers a plain 500 with a reference; the trace goes to the log only."""
    error_id = uuid.uuid4().hex[:12]
    logger.exception("Unhandled API error %s on %s %s", error_id, request.method, request.path)
    return api.create_response(
        request, {"detail": "Internal error; nothing was lost. Reference: " + error_id}, status=500
    )
