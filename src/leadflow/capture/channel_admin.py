"""Admin views of the form and webhook channels (the sources screens are the everyday UI)."""

from django.contrib import admin

from leadflow.capture.channel_models import FormPost, MetaLeadSync, RejectedDelivery, WebForm, WebhookEndpoint


@admin.register(WebForm)
class WebFormAdmin(admin.ModelAdmin):
    list_display = ("title", "source", "key", "progressive", "created_at")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("source", "kind", "key", "created_at")
    list_filter = ("kind",)


@admin.register(FormPost)
class FormPostAdmin(admin.ModelAdmin):
    list_display = ("id", "form", "variant", "ip", "spam_reason", "submission", "received_at")
    list_filter = ("form",)
    readonly_fields = [f.name for f in FormPost._meta.fields]


@admin.register(MetaLeadSync)
class MetaLeadSyncAdmin(admin.ModelAdmin):
    list_display = ("leadgen_id", "endpoint", "status", "attempts", "updated_at")
    list_filter = ("status",)


@admin.register(RejectedDelivery)
class RejectedDeliveryAdmin(admin.ModelAdmin):
    list_display = ("received_at", "endpoint", "status_code", "reason", "remote_addr")
    readonly_fields = [f.name for f in RejectedDelivery._meta.fields]
