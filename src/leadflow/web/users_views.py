"""User management for admins: list, create, edit, deactivate. People are never deleted."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_POST

from leadflow.access.models import Role, User
from leadflow.access.selectors import user_list_for_admin
from leadflow.access.services import (
    UserChangeError,
    timezone_names,
    user_add,
    user_set_active,
    user_update,
)
from leadflow.web.users_forms import UserCreateForm, UserProfileForm, password_link_send

View = Callable[..., HttpResponse]
STATUSES = {"active": True, "inactive": False}


def admin_required(view: View) -> View:
    """Signed-in admins only; everyone else gets a 404, as if the page did not exist."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (isinstance(user, User) and (user.role == Role.ADMIN or user.is_superuser)):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


def _acting(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@admin_required
def user_list(request: HttpRequest) -> HttpResponse:
    """Everyone, filterable by name, role and status."""
    q, role, status = (request.GET.get(name, "").strip() for name in ("q", "role", "status"))
    return render(
        request,
        "web/users/list.html",
        {
            "people": user_list_for_admin(
                viewer=_acting(request), q=q, role=role, active=STATUSES.get(status)
            ),
            "filters": {"q": q, "role": role, "status": status},
            "roles": Role.choices,
            "filtered": bool(q or role or status),
        },
    )


@admin_required
def user_create_page(request: HttpRequest) -> HttpResponse:
    """A new person, with a password set here or chosen by them from an emailed link."""
    form = UserCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            person = user_add(
                username=data["username"],
                password=data["password1"] or None,
                role=data["role"],
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                timezone=data["timezone"],
                teams=list(data["teams"]),
                accepts_leads=data["accepts_leads"],
            )
        except IntegrityError:  # the same username, created a moment ago
            form.add_error("username", "Someone already has this username.")
        else:
            name = person.get_full_name() or person.username
            if data["password1"]:
                messages.success(request, f"Created {name}.")
            else:
                password_link_send(user=person, request=request, welcome=True)
                messages.success(
                    request, f"Created {name}; a link to choose a password was emailed to {person.email}."
                )
            return redirect("web:user_list")
    return render(
        request, "web/users/form.html", {"form": form, "person": None, "timezones": sorted(timezone_names())}
    )


@admin_required
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    """Profile, role, teams and whether the person takes new leads."""
    person = get_object_or_404(User.objects.prefetch_related("teams"), pk=user_id)
    editing_self = person.pk == request.user.pk
    form = UserProfileForm(
        request.POST if request.method == "POST" else None,
        initial={
            "first_name": person.first_name,
            "last_name": person.last_name,
            "email": person.email,
            "role": person.role,
            "timezone": person.timezone,
            "teams": list(person.teams.all()),
            "accepts_leads": person.accepts_leads,
        },
    )
    if editing_self and person.role == Role.ADMIN:
        form.fields["role"].disabled = True
        form.fields["role"].help_text = "You cannot remove your own admin role; another admin can."
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user_update(user=person, actor=_acting(request), teams=list(data.pop("teams")), **data)
        except UserChangeError as err:
            form.add_error(None, str(err))
        else:
            messages.success(request, f"Saved {person.get_full_name() or person.username}.")
            return redirect("web:user_list")
    return render(
        request,
        "web/users/form.html",
        {"form": form, "person": person, "editing_self": editing_self, "timezones": sorted(timezone_names())},
    )


@require_POST
@admin_required
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    """Deactivates (active=0) or reactivates (active=1) a person."""
    person = get_object_or_404(User, pk=user_id)
    is_active = request.POST.get("active") == "1"
    try:
        user_set_active(user=person, is_active=is_active, actor=_acting(request))
    except UserChangeError as err:
        messages.error(request, str(err))
    else:
        name = person.get_full_name() or person.username
        messages.success(
            request,
            f"{name} can sign in again."
            if is_active
            else f"Deactivated {name}; their leads keep their history.",
        )
    return redirect("web:user_edit", user_id=person.pk)


@require_POST
@admin_required
def user_password_link(request: HttpRequest, user_id: int) -> HttpResponse:
    """Emails the person a link to choose a new password."""
    person = get_object_or_404(User, pk=user_id)
    if not person.is_active or not person.email:
        messages.error(request, "Only an active person with an email address can be sent a password link.")
    else:
        password_link_send(user=person, request=request, welcome=False)
        messages.success(request, f"A link to choose a new password was emailed to {person.email}.")
    return redirect("web:user_edit", user_id=person.pk)


urlpatterns: list[URLPattern] = [
    path("users/", user_list, name="user_list"),
    path("users/new/", user_create_page, name="user_create"),
    path("users/<int:user_id>/", user_edit, name="user_edit"),
    path("users/<int:user_id>/active/", user_active, name="user_active"),
    path("users/<int:user_id>/password-link/", user_password_link, name="user_password_link"),
]
