"""Pages of the web UI."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from leadflow.analytics.selectors import overview


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html", {"overview": overview()})


def healthz(request: HttpRequest) -> JsonResponse:
    """A trivial endpoint: the yardstick the capture benchmark is measured against."""
    return JsonResponse({"status": "ok"})
