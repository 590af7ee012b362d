"""Template context for every page: the navigation, by role."""

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from leadflow.access.models import Role, User
from leadflow.routing.selectors import notifications_unread_count


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    current: bool


# (label, url name, roles that see it; None = everyone)
NAVIGATION: list[tuple[str, str, set[str] | None]] = [
    ("Inbox", "web:home", None),
    ("Leads", "web:lead_list", None),
    ("Duplicates", "web:duplicate_queue", None),
    ("Dashboard", "web:dashboard", {Role.MANAGER, Role.MARKETING, Role.ADMIN}),
    ("Scoring", "web:scoring_rules", {Role.MARKETING, Role.ADMIN}),
    ("Routing", "web:routing_rules", {Role.MANAGER, Role.ADMIN}),
    ("Sources", "web:source_list", {Role.MARKETING, Role.ADMIN}),
    ("Nurture", "web:nurture", {Role.MARKETING, Role.ADMIN}),
    ("Imports", "web:import_list", {Role.MANAGER, Role.MARKETING, Role.ADMIN}),
    ("Users", "web:user_list", {Role.ADMIN}),
    ("Settings", "admin:index", {Role.ADMIN}),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if not isinstance(user, User):
        return {"nav_items": []}
    items = []
    for label, name, roles in NAVIGATION:
        if roles is not None and user.role not in roles and not user.is_superuser:
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        current = request.path == url if url == "/" else request.path.startswith(url)
        items.append(NavItem(label=label, url=url, current=current))
    # Counted only when a template shows it (base.html's bell), so partial HTMX responses cost no query.
    unread = SimpleLazyObject(lambda: notifications_unread_count(user=user))
    return {"nav_items": items, "unread_notifications": unread}
