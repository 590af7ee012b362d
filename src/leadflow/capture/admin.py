"""The submissions log, with the quarantine one filter away."""

from django.contrib import admin

from leadflow.capture.models import ImportMapping, InboundEmail, InboundRoute, Submission


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("id", "channel", "source", "status", "outcome", "lead", "received_at")
    list_filter = ("status", "channel", "source")
    readonly_fields = [f.name for f in Submission._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


from leadflow.capture import channel_admin  # noqa: E402, F401  (forms and webhooks)


@admin.register(InboundRoute)
class InboundRouteAdmin(admin.ModelAdmin):
    """Inbound addresses: one per source, optionally read from an IMAP mailbox by the worker."""

    list_display = ("address", "source", "imap_host", "imap_user", "is_active", "last_polled_at")
    list_filter = ("is_active", "source")
    readonly_fields = ("last_polled_at",)


@admin.register(ImportMapping)
class ImportMappingAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "created_at")


@admin.register(InboundEmail)
class InboundEmailAdmin(admin.ModelAdmin):
    list_display = ("id", "received_at", "sender", "subject", "outcome", "lead", "route")
    list_filter = ("outcome", "route")
    readonly_fields = [f.name for f in InboundEmail._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
