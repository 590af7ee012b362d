"""Configuration screens for what the web UI keeps."""

from django.contrib import admin

from leadflow.web.models import SavedView


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "shared", "querystring", "created_at")
    list_filter = ("shared",)
    search_fields = ("name", "owner__username")
    raw_id_fields = ("owner",)
