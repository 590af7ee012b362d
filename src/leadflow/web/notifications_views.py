"""Everyone's notifications: the list behind the bell, newest first, and marking them read."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_POST

from leadflow.access.models import User
from leadflow.routing.notifications import notifications_mark_read
from leadflow.routing.selectors import notifications_for

PAGE_SIZE = 50


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    page = Paginator(notifications_for(user=user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "web/notifications/list.html", {"page": page})


@require_POST
@login_required
def notifications_read(request: HttpRequest) -> HttpResponse:
    """Marks one notification (?id=…) or all of them read, then shows the list or the lead."""
    user = request.user
    assert isinstance(user, User)
    raw = request.POST.get("id")
    ids = [int(raw)] if raw and raw.isdigit() else None
    notifications_mark_read(user=user, notification_ids=ids)
    lead_id = request.POST.get("lead")
    if lead_id and lead_id.isdigit():
        return redirect("web:lead_detail", int(lead_id))
    return redirect("web:notifications")


urlpatterns: list[URLPattern] = [
    path("notifications/", notification_list, name="notifications"),
    path("notifications/read/", notifications_read, name="notifications_read"),
]
