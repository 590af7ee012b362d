"""Configuration screens for sources, campaigns and custom fields."""

from django.contrib import admin

from leadflow.leads.models import Campaign, CustomField, Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "channel", "cost", "is_active")
    list_filter = ("channel", "is_active")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "utm_campaign", "source", "cost", "starts_on", "ends_on")


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    list_display = ("key", "label", "field_type")
