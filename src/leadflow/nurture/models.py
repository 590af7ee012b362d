"""Nurture: segments and lists, message templates, campaigns with their enrollments, the send ledger and
suppressions."""

from django.db import models
from django.utils.timezone import now

from leadflow.leads.models import Lead


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", "Dynamic segment"
    STATIC = "static", "Static list"


class Segment(models.Model):
    """A dynamic segment (a condition kept up to date lead by lead) or a static list (added by hand)."""

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=SegmentKind.choices, default=SegmentKind.DYNAMIC)
    condition = models.JSONField(null=True, blank=True, help_text="core.conditions JSON; dynamic only.")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="segment_memberships")
    added_by = models.CharField(max_length=20, default="rule", help_text="rule, manual, bulk or campaign")
    joined_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "lead"], name="one_membership")]
        indexes = [models.Index(fields=["lead"], name="membership_lead")]

    def __str__(self) -> str:
        return f"lead {self.lead_id} in segment {self.segment_id}"


class MessageChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Template(models.Model):
    """A message with {{ lead.first_name | "there" }} placeholders; email has a subject, HTML and text."""

    name = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=10, choices=MessageChannel.choices, default=MessageChannel.EMAIL)
    subject = models.CharField(max_length=300, blank=True)
    html = models.TextField(blank=True)
    text = models.TextField(help_text="The plain-text part (the SMS body for SMS).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class NurtureCampaign(models.Model):
    """A sequence of steps that enrolled leads walk through; entered by a trigger, left at an exit goal."""

    name = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    trigger = models.JSONField(default=dict, help_text='e.g. {"type": "segment_joined", "segment_id": 1}')
    exit_goals = models.JSONField(default=list, help_text="converted, replied, unsubscribed, became_sql")
    steps = models.JSONField(default=list)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"


class Enrollment(models.Model):
    """One lead in one campaign: the step it is at and when it is due to move on."""

    campaign = models.ForeignKey(NurtureCampaign, on_delete=models.CASCADE, related_name="enrollments")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrollments")
    state = models.CharField(max_length=10, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE)
    step = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True, help_text="When the current step runs; null = idle.")
    step_started_at = models.DateTimeField(default=now)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A worker's lease on it.")
    attempts = models.PositiveIntegerField(default=0, help_text="Failed attempts at the current step.")
    last_error = models.CharField(max_length=500, blank=True)
    exit_reason = models.CharField(max_length=30, blank=True)
    reason = models.CharField(max_length=300, blank=True, help_text="Why the lead was enrolled.")
    enrolled_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)
    history = models.JSONField(default=list, help_text="One line per step run: step, outcome, why.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "lead"], name="one_enrollment")]
        indexes = [
            models.Index(fields=["state", "due_at"], name="enrollment_due"),
            models.Index(fields=["lead", "state"], name="enrollment_lead"),
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id} in campaign {self.campaign_id} at step {self.step + 1}"


class DeliveryStatus(models.TextChoices):
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed, retrying"
    SKIPPED = "skipped", "Skipped"
    BOUNCED = "bounced", "Bounced"


class Delivery(models.Model):
    """The send ledger: one row per enrollment and step (its unique key), so a step is sent at most once."""

    key = models.CharField(max_length=60, unique=True, help_text="<enrollment id>:<step index>")
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="deliveries")
    campaign = models.ForeignKey(NurtureCampaign, on_delete=models.CASCADE, related_name="deliveries")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="deliveries")
    step = models.PositiveIntegerField()
    channel = models.CharField(max_length=10, choices=MessageChannel.choices)
    address = models.CharField(max_length=254)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.SENDING)
    message_id = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["lead", "sent_at"], name="delivery_lead_sent"),
            models.Index(fields=["campaign", "step", "status"], name="delivery_stats"),
            models.Index(fields=["message_id"], name="delivery_message_id"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.key} {self.status}"


class SuppressionReason(models.TextChoices):
    BOUNCE = "bounce", "Hard bounce"
    COMPLAINT = "complaint", "Complaint"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribed"


class Suppression(models.Model):
    """An address never sent to again on its channel."""

    channel = models.CharField(max_length=10, choices=MessageChannel.choices)
    address = models.CharField(max_length=254)
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="one_suppression")]

    def __str__(self) -> str:
        return f"{self.channel} {self.address} ({self.reason})"


class WatchdogChain(models.Model):
    """Singleton (pk=1): the id of the running watchdog task chain; a newer chain supersedes an older one."""

    chain = models.CharField(max_length=40)
    started_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.chain
