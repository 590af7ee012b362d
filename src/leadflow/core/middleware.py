"""Request guards that apply before any view runs."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class BodySizeLimitMiddleware:
    """Answers 413 for a declared body above LEADFLOW_MAX_BODY_BYTES, before anything reads it.

    Bodies without a Content-Length (chunked) are capped by DATA_UPLOAD_MAX_MEMORY_SIZE when read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.limit = settings.LEADFLOW_MAX_BODY_BYTES
        self.large_limit = settings.LEADFLOW_MAX_IMPORT_BYTES
        self.large_paths = settings.LEADFLOW_LARGE_BODY_PATHS

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = self.large_limit if request.path.startswith(self.large_paths) else self.limit
        if length > limit and not request.path.startswith("/admin/"):
            return payload_too_large(limit)
        return self.get_response(request)


def payload_too_large(limit: int) -> JsonResponse:
    return JsonResponse(
        {"detail": f"Request body too large: the limit is {limit} bytes."},
        status=413,
    )
