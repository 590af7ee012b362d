"""Routing in the Django admin (the screens under /routing/ are the everyday way to edit it)."""

from django.contrib import admin

from leadflow.routing.models import (
    OutOfOffice,
    RepSchedule,
    RoundRobinState,
    RoutingRule,
    RoutingSettings,
    TeamHoliday,
    TeamRouting,
)


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin[RoutingRule]):
    list_display = ("position", "name", "target", "target_team", "target_user", "is_active")
    list_filter = ("is_active", "target")
    readonly_fields = ("condition", "target", "target_user", "target_team")  # validated in /routing/

    def has_add_permission(self, request: object) -> bool:
        return False  # rules are validated when saved: create them in /routing/ or the API


@admin.register(TeamRouting)
class TeamRoutingAdmin(admin.ModelAdmin[TeamRouting]):
    list_display = ("team", "method", "daily_cap", "open_cap", "fallback", "fallback_team")


admin.site.register(RoutingSettings)
admin.site.register(RoundRobinState)
admin.site.register(TeamHoliday)
admin.site.register(RepSchedule)
admin.site.register(OutOfOffice)
