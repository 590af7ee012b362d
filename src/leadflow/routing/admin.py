"""Routing in the Django admin (the screens under /routing/ are the everyday way to edit it)."""

from django.contrib import admin

from leadflow.routing.models import (
    Notification,
    OutOfOffice,
    RepSchedule,
    ResponseClock,
    RoundRobinState,
    RoutingRule,
    RoutingSettings,
    TeamHoliday,
    TeamRouting,
    WebhookDelivery,
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
    list_display = ("team", "method", "daily_cap", "open_cap", "fallback", "sla_minutes", "breach_action")


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record kept by the services: browse it here, never edit it."""

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(ResponseClock)
class ResponseClockAdmin(ReadOnlyAdmin):
    list_display = ("lead", "owner", "team", "started_at", "due_at", "reminded_at", "outcome", "reason")
    list_filter = ("outcome", "team")
    raw_id_fields = ("lead",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("recipient", "kind", "title", "created_at", "read_at", "emailed_at", "email_error")
    list_filter = ("kind",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("endpoint", "event", "status", "attempts", "response_status", "last_error", "created_at")
    list_filter = ("status", "event")


admin.site.register(RoutingSettings)
admin.site.register(RoundRobinState)
admin.site.register(TeamHoliday)
admin.site.register(RepSchedule)
admin.site.register(OutOfOffice)
