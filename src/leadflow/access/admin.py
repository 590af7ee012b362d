"""Configuration screens for people, teams and API keys."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from leadflow.access.models import ApiKey, Membership, Team, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(User)
class LeadflowUserAdmin(UserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "accepts_leads", "is_active")
    list_filter = ("role", "accepts_leads", "is_active")
    fieldsets = (*UserAdmin.fieldsets, ("Lead work", {"fields": ("role", "timezone", "accepts_leads")}))  # type: ignore[misc]
    inlines = [MembershipInline]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "manager", "is_default")
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are issued with `leadflow apikey create` (the secret is shown once); here they are only viewed."""

    list_display = ("name", "prefix", "scopes", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at", "created_by")

    def has_add_permission(self, request: object) -> bool:
        return False
