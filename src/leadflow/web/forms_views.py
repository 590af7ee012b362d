"""Web forms: the builder (marketing and admins) and each form's public hosted page (works without JS)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import URLPattern, path, reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from leadflow.access.models import Role, User
from leadflow.capture.channel_models import WebForm
from leadflow.capture.mapping import FORM_FIELD_TYPES, HIDDEN_FIELDS
from leadflow.capture.web_forms import (
    HONEYPOT,
    RENDER_TOKEN,
    VISITOR_COOKIE,
    VISITOR_MAX_AGE,
    FormConfigError,
    client_ip,
    form_field_targets,
    form_render,
    form_spam_log,
    form_submit,
    form_variant_stats,
    web_form_create,
    web_form_update,
)

View = Callable[..., HttpResponse]
BLANK_FIELD_ROWS = 2


def marketing_staff(view: View) -> View:
    """Signed-in marketing people and admins only; everyone else gets a 404."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not isinstance(user, User) or not (user.is_superuser or user.role in (Role.ADMIN, Role.MARKETING)):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


@marketing_staff
def form_list(request: HttpRequest) -> HttpResponse:
    forms = WebForm.objects.select_related("source").order_by("title")
    return render(request, "web/forms/list.html", {"forms": forms})


@marketing_staff
@require_POST
def form_create(request: HttpRequest) -> HttpResponse:
    form = web_form_create(title=request.POST.get("title", ""), actor=_user(request))
    messages.success(request, f"Form “{form.title}” created with an email, name and company field.")
    return redirect("web:form_edit", form_id=form.pk)


def _user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _rows(post: Any, prefix: str) -> list[dict[str, str]]:
    """Indexed rows of the builder (prefix-0-name, prefix-0-label …), skipping deleted and blank ones."""
    indexes = sorted(
        {int(k.split("-")[1]) for k in post if k.startswith(f"{prefix}-") and k.split("-")[1].isdigit()}
    )
    rows = []
    for index in indexes:
        row = {
            k.split("-", 2)[2]: post.get(k, "").strip() for k in post if k.startswith(f"{prefix}-{index}-")
        }
        if row.get("delete") or not row.get("name"):
            continue
        rows.append(row)
    return rows


def _builder_values(post: Any) -> dict[str, Any]:
    fields = [
        {
            "name": row["name"],
            "label": row.get("label") or row["name"],
            "type": row.get("type", "text"),
            "required": bool(row.get("required")),
            "maps_to": row.get("maps_to", ""),
            "choices": [c.strip() for c in row.get("choices", "").split(",") if c.strip()],
        }
        for row in _rows(post, "field")
    ]
    variants = [
        {
            "id": int(row["id"]) if row.get("id", "").isdigit() else None,
            "name": row["name"],
            "weight": int(row["weight"]) if row.get("weight", "").isdigit() else 0,
            "title": row.get("title", ""),
            "submit_label": row.get("submit_label", ""),
            "field_names": [n.strip() for n in row.get("fields", "").split(",") if n.strip()],
        }
        for row in _rows(post, "variant")
    ]

    def number(name: str, default: int) -> int:
        value = post.get(name, "")
        return int(value) if value.isdigit() else default

    return {
        "title": post.get("title", "").strip() or "Web form",
        "intro": post.get("intro", "").strip(),
        "submit_label": post.get("submit_label", "").strip() or "Send",
        "consent_text": post.get("consent_text", "").strip(),
        "thank_you": post.get("thank_you", "").strip(),
        "redirect_url": post.get("redirect_url", "").strip(),
        "allowed_origins": post.get("allowed_origins", "").strip(),
        "min_fill_seconds": number("min_fill_seconds", 3),
        "rate_limit_per_hour": number("rate_limit_per_hour", 20),
        "progressive": bool(post.get("progressive")),
        "fields": fields,
        "variants": variants,
    }


@marketing_staff
def form_edit(request: HttpRequest, form_id: int) -> HttpResponse:
    """The builder: settings, fields, A/B variants; with the embed snippet and per-variant rates."""
    form = get_object_or_404(WebForm.objects.select_related("source"), pk=form_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            web_form_update(form=form, values=_builder_values(request.POST), actor=_user(request))
        except FormConfigError as err:
            errors = err.errors
        else:
            messages.success(request, "Form saved.")
            return redirect("web:form_edit", form_id=form.pk)
    hosted = request.build_absolute_uri(reverse("web:form_hosted", kwargs={"key": form.key}))
    script = request.build_absolute_uri(static("capture/leadflow-form.js"))
    context = {
        "form": form,
        "errors": errors,
        "field_rows": [*form.fields, *({} for _ in range(BLANK_FIELD_ROWS))],
        "variant_rows": [*form.variants.all(), None],
        "field_types": FORM_FIELD_TYPES,
        "targets": form_field_targets(),
        "hosted_url": hosted,
        "embed_snippet": f'<div id="leadflow-form"></div>\n<script src="{script}" data-form="{form.key}" '
        'data-target="#leadflow-form" async></script>',
        "takeover_snippet": (
            f'<script src="{script}" data-form="{form.key}" data-takeover="#your-form" async></script>'
        ),
        "variant_stats": form_variant_stats(form=form),
        "spam": form_spam_log(form=form)[:20],
        "hidden_fields": HIDDEN_FIELDS,
    }
    return render(request, "web/forms/edit.html", context)


def _hosted_context(
    request: HttpRequest, form: WebForm, rendered: Any, values: dict[str, str]
) -> dict[str, Any]:
    hidden = {name: values.get(name) or request.GET.get(name, "") for name in HIDDEN_FIELDS}
    hidden["referrer"] = hidden["referrer"] or request.headers.get("Referer", "")
    hidden["landing_page"] = hidden["landing_page"] or request.build_absolute_uri()
    return {
        "form": form,
        "rendered": rendered,
        "shown": [(f, values.get(f.name, "")) for f in rendered.fields],
        "hidden": hidden,
        "honeypot": HONEYPOT,
        "token_name": RENDER_TOKEN,
    }


@csrf_exempt  # a public form: the signed render token and the spam guard stand in for the CSRF token
@xframe_options_exempt
def form_hosted(request: HttpRequest, key: str) -> HttpResponse:
    """The form's own page; a plain HTML post, so it works with JavaScript disabled."""
    form = get_object_or_404(WebForm.objects.select_related("source"), key=key, source__is_active=True)
    visitor = request.COOKIES.get(VISITOR_COOKIE, "")
    if request.method != "POST":
        rendered = form_render(form=form, visitor=visitor)
        return render(request, "web/forms/hosted.html", _hosted_context(request, form, rendered, {}))
    data = {k: request.POST.get(k, "") for k in request.POST}
    ip = client_ip(
        remote_addr=request.META.get("REMOTE_ADDR"), forwarded_for=request.headers.get("X-Forwarded-For", "")
    )
    outcome = form_submit(form=form, data=data, ip=ip, visitor=visitor)
    if outcome.accepted:
        response = (
            redirect(form.redirect_url)
            if form.redirect_url
            else render(request, "web/forms/thanks.html", {"form": form})
        )
        response.set_cookie(
            VISITOR_COOKIE, outcome.visitor, max_age=VISITOR_MAX_AGE, samesite="Lax", httponly=True
        )
        return response
    rendered = form_render(form=form, visitor=visitor)
    context = _hosted_context(request, form, rendered, data) | {"errors": outcome.errors}
    return render(request, "web/forms/hosted.html", context, status=200)


urlpatterns: list[URLPattern] = [
    path("forms/", form_list, name="form_list"),
    path("forms/new/", form_create, name="form_create"),
    path("forms/<int:form_id>/", form_edit, name="form_edit"),
    path("f/<str:key>/", form_hosted, name="form_hosted"),
]
