"""Routing state and settings: rules, per-team distribution, per-rep availability."""

from django.conf import settings
from django.db import models


class RoundRobinState(models.Model):
    """Whose turn it is in a team; locked while a lead is assigned so no turn is taken twice."""

    team = models.OneToOneField("access.Team", on_delete=models.CASCADE, related_name="round_robin")
    last_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    credits = models.JSONField(default=dict, blank=True, help_text="Weighted round robin: credit per rep id.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Round robin of {self.team}"


class RoutingSettings(models.Model):
    """Organisation-wide routing switches (one row)."""

    account_matching = models.BooleanField(
        default=False,
        help_text="Before rules: a lead goes to the owner of an existing lead on the same company domain.",
    )

    def __str__(self) -> str:
        return "Routing settings"


class Target(models.TextChoices):
    USER = "user", "A person"
    TEAM = "team", "A team"
    POOL = "pool", "The unassigned pool"


class RoutingRule(models.Model):
    """An ordered rule: the first active rule whose condition holds decides where a lead goes."""

    position = models.PositiveIntegerField(default=0, db_index=True)
    name = models.CharField(max_length=100)
    condition = models.JSONField(help_text="A condition set over lead fields (see core.conditions).")
    target = models.CharField(max_length=10, choices=Target.choices, default=Target.TEAM)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    target_team = models.ForeignKey(
        "access.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class Method(models.TextChoices):
    ROUND_ROBIN = "round_robin", "Strict round robin"
    WEIGHTED = "weighted", "Weighted round robin"
    LOAD = "load", "Fewest open, uncontacted leads"


class Fallback(models.TextChoices):
    POOL = "pool", "The team's unassigned pool"
    MANAGER = "manager", "The team manager"
    TEAM = "team", "Another team"


class BreachAction(models.TextChoices):
    REASSIGN = "reassign", "Reassign to the next available rep"
    ESCALATE = "escalate", "Escalate to the team manager"
    RECORD = "record", "Only record the breach"


class TeamRouting(models.Model):
    """How a team distributes its leads and how fast it must answer them.

    Teams without a row use strict round robin, no caps and no response SLA.
    """

    team = models.OneToOneField("access.Team", on_delete=models.CASCADE, related_name="routing")
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.ROUND_ROBIN)
    daily_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most new leads per rep per day."
    )
    open_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most open, uncontacted leads a rep may hold."
    )
    fallback = models.CharField(max_length=10, choices=Fallback.choices, default=Fallback.POOL)
    fallback_team = models.ForeignKey(
        "access.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sla_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="First-response SLA in the owner's working minutes; empty: none."
    )
    sla_reminder_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Remind the owner this many working minutes before the deadline."
    )
    breach_action = models.CharField(
        max_length=10, choices=BreachAction.choices, default=BreachAction.REASSIGN
    )
    max_reassignments = models.PositiveIntegerField(
        default=2, help_text="Reassignments on breach per lead; after that the breach is escalated."
    )

    def __str__(self) -> str:
        return f"Routing of {self.team}"


class TeamHoliday(models.Model):
    team = models.ForeignKey("access.Team", on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["team", "date"], name="unique_team_holiday")]

    def __str__(self) -> str:
        return f"{self.team}: {self.date}"


class RepSchedule(models.Model):
    """A rep's weekly working hours in their own timezone; reps without one are always available."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedule")
    hours = models.JSONField(
        default=dict, help_text='{"mon": [["09:00", "17:00"]], …} in the rep\'s timezone.'
    )

    def __str__(self) -> str:
        return f"Schedule of {self.user}"


class OutOfOffice(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="out_of_office")
    starts_on = models.DateField()
    ends_on = models.DateField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_on"]

    def __str__(self) -> str:
        return f"{self.user} away {self.starts_on}–{self.ends_on}"


class ClockOutcome(models.TextChoices):
    OPEN = "open", "Waiting for a response"
    MET = "met", "Answered in time"
    BREACHED = "breached", "Breached"
    ENDED = "ended", "Ended by a reassignment"


class ResponseClock(models.Model):
    """One assignment of a lead that nobody has answered yet: who must respond, from when, by when.

    The response itself is the lead's first_response_at (set by the leads services when a person logs a
    call, email or meeting or changes the status); it belongs to this clock when it falls between
    started_at and ended_at. The SLA tasks close the clock as met or breached.
    """

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="response_clocks")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        "access.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    sla_minutes = models.PositiveIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the team has no SLA.")
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When the lead left this owner.")
    outcome = models.CharField(max_length=10, choices=ClockOutcome.choices, default=ClockOutcome.OPEN)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["started_at"], name="clock_started"),
            models.Index(fields=["lead", "outcome"], name="clock_lead_outcome"),
            models.Index(fields=["owner", "started_at"], name="clock_owner_started"),
        ]

    def __str__(self) -> str:
        return f"Response clock of lead {self.lead_id} ({self.outcome})"


class NotificationKind(models.TextChoices):
    ASSIGNMENT = "assignment", "New lead"
    REMINDER = "reminder", "Response reminder"
    BREACH = "breach", "SLA breached"
    ESCALATION = "escalation", "Escalation"
    OTHER = "other", "Other"


class Notification(models.Model):
    """A message for one person, shown in the app and, when they have an address, mailed to them."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=NotificationKind.choices, default=NotificationKind.OTHER)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    lead = models.ForeignKey("leads.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox")]

    def __str__(self) -> str:
        return self.title


class WebhookEndpoint(models.Model):
    """An outbound webhook for notifications: a team's own, or the global one (no team)."""

    team = models.OneToOneField(
        "access.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="webhook"
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64, help_text="Signs every body with HMAC-SHA256.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event sent to one endpoint, with its attempts."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"
