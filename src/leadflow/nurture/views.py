"""Public endpoints reached from messages: open pixel, click redirect, preferences and one-click
unsubscribe (RFC 8058), double opt-in confirmation. Each is addressed by a signed token."""

import base64

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from leadflow.leads.models import Consent, ConsentChannel, ConsentState, Lead
from leadflow.nurture.services import (
    SIGNER_SALT,
    delivery_clicked,
    delivery_opened,
    lead_subscribe,
    lead_unsubscribe,
    token_read,
)

app_name = "nurture"
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _lead(token: str) -> tuple[Lead, int | None]:
    try:
        lead_id, delivery_id = token_read(token)
    except (signing.BadSignature, ValueError, TypeError):
        raise Http404 from None
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None:
        raise Http404
    return lead, delivery_id


@require_GET
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    lead, delivery_id = _lead(token)
    delivery_opened(lead_id=lead.pk, delivery_id=delivery_id)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def click(request: HttpRequest, token: str) -> HttpResponse:
    lead, delivery_id = _lead(token)
    try:
        url = str(signing.loads(request.GET.get("u", ""), salt=SIGNER_SALT))
    except signing.BadSignature:
        raise Http404 from None
    if not url.startswith(("http://", "https://")):
        raise Http404
    delivery_clicked(lead_id=lead.pk, delivery_id=delivery_id, url=url)
    return HttpResponseRedirect(url)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the preference page. POST "List-Unsubscribe=One-Click": unsubscribe from email at once (RFC 8058).
    POST from the page: set each channel as chosen."""
    lead, delivery_id = _lead(token)
    if request.method == "POST":
        if request.POST.get("List-Unsubscribe") == "One-Click":
            lead_unsubscribe(
                lead=lead,
                channel=ConsentChannel.EMAIL,
                method="one-click unsubscribe",
                delivery_id=delivery_id,
            )
            return HttpResponse("Unsubscribed.", content_type="text/plain")
        for channel in ConsentChannel.values:
            wanted = request.POST.get(channel) == "on"
            current = (
                Consent.objects.filter(lead=lead, channel=channel).values_list("state", flat=True).first()
            )
            if wanted and current != ConsentState.GRANTED:
                lead_subscribe(
                    lead=lead, channel=channel, method="preference page", text_shown=f"Send me {channel}"
                )
            elif not wanted and current != ConsentState.DENIED:
                lead_unsubscribe(
                    lead=lead, channel=channel, method="preference page", delivery_id=delivery_id
                )
        saved = True
    else:
        saved = False
    states = dict(Consent.objects.filter(lead=lead).values_list("channel", "state"))
    channels = [
        {"key": key, "label": label, "granted": states.get(key) == ConsentState.GRANTED}
        for key, label in ConsentChannel.choices
    ]
    return render(request, "nurture/preferences.html", {"channels": channels, "saved": saved, "token": token})


@require_GET
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Double opt-in: the link in the confirmation email grants email consent."""
    lead, _ = _lead(token)
    lead_subscribe(
        lead=lead, channel=ConsentChannel.EMAIL, method="double opt-in", text_shown="Confirmed by email link"
    )
    return render(request, "nurture/preferences.html", {"confirmed": True, "channels": [], "token": token})


urlpatterns: list[URLPattern] = [
    path("o/<str:token>.gif", open_pixel, name="open"),
    path("c/<str:token>", click, name="click"),
    path("p/<str:token>", preferences, name="preferences"),
    path("confirm/<str:token>", confirm, name="confirm"),
]
