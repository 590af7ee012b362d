"""The submissions log, with the quarantine one filter away."""

from django.contrib import admin

from leadflow.capture.models import Submission


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("id", "channel", "source", "status", "outcome", "lead", "received_at")
    list_filter = ("status", "channel", "source")
    readonly_fields = [f.name for f in Submission._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


from leadflow.capture import channel_admin  # noqa: E402, F401  (forms and webhooks)
