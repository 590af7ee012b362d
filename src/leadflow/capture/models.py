"""Submissions: every payload any source sent, kept before anything else happens to it."""

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from leadflow.leads.models import Channel, Lead, Source


class SubmissionStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    QUARANTINED = "quarantined", "Quarantined"


class Outcome(models.TextChoices):
    CREATED = "created", "Created a lead"
    UPDATED = "updated", "Updated a lead"


class Submission(models.Model):
    """One payload from one source, persisted raw before it is processed.

    A payload that fails validation stays here, quarantined with its reasons, until it is
    fixed and replayed. `trace` holds each intake step's outcome and duration.
    """

    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.API)
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    payload = models.JSONField(null=True, blank=True)
    raw_body = models.TextField(blank=True, help_text="The body as received, when it was not a JSON object.")
    original_payload = models.JSONField(
        null=True, blank=True, help_text="The payload as first received, when a corrected one was replayed."
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    status = models.CharField(
        max_length=20, choices=SubmissionStatus.choices, default=SubmissionStatus.RECEIVED
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    errors = models.JSONField(default=dict, blank=True)
    trace = models.JSONField(default=list, blank=True)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=now)
    processed_at = models.DateTimeField(null=True, blank=True)
    import_run = models.ForeignKey(
        "capture.Import", null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    import_row = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "-received_at"], name="submission_status"),
            models.Index(fields=["source", "-received_at"], name="submission_source"),
        ]

    def __str__(self) -> str:
        return f"Submission {self.pk} ({self.status})"


class RecoveryChain(models.Model):
    """Singleton (pk=1): the token of the running recovery task chain; a newer chain supersedes an older
    one (every worker start begins a new chain)."""

    chain = models.CharField(max_length=40)
    started_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.chain


from leadflow.capture.channel_models import (  # noqa: E402, F401  (forms and webhooks)
    FormPost,
    FormVariant,
    MetaLeadSync,
    RejectedDelivery,
    WebForm,
    WebhookEndpoint,
)
from leadflow.capture.intake_models import (  # noqa: E402  (the file channels' models, kept apart)
    EmailOutcome,
    Import,
    ImportMapping,
    ImportStatus,
    InboundEmail,
    InboundRoute,
)

__all__ = [
    "EmailOutcome",
    "Import",
    "ImportMapping",
    "ImportStatus",
    "InboundEmail",
    "InboundRoute",
    "Outcome",
    "Submission",
    "SubmissionStatus",
]
