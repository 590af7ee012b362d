"""Pages shared by the whole UI."""

from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """A trivial endpoint: the yardstick the capture benchmark is measured against."""
    return JsonResponse({"status": "ok"})
