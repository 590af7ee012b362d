"""Scoring rules, the points ledger, the qualification policy and background rescores."""

from django.conf import settings
from django.db import models
from django.utils.timezone import now


class RuleKind(models.TextChoices):
    FIT = "fit", "Fit (lead fields)"
    ENGAGEMENT = "engagement", "Engagement (activities)"


class Decay(models.TextChoices):
    NONE = "none", "No decay"
    WINDOW = "window", "Points expire after N days"
    HALF_LIFE = "half_life", "Points halve every N days"


class ScoringRule(models.Model):
    """A rule as data: when its condition holds, a lead gets its points."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    condition = models.JSONField(help_text="A core.conditions condition set, validated when saved.")
    points = models.IntegerField(help_text="Negative values lower the score.")
    cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Engagement: most points (by magnitude) this rule gives one lead."
    )
    repeatable = models.BooleanField(
        default=False, help_text="Engagement: award points for every matching activity, not just the first."
    )
    decay = models.CharField(max_length=20, choices=Decay.choices, default=Decay.NONE)
    decay_days = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:+d})"


class ScorePoints(models.Model):
    """The ledger: points an engagement rule gave a lead for an activity, and when they stop counting."""

    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="score_points", db_index=False
    )  # indexed first in score_points_lead_rule
    rule = models.ForeignKey(ScoringRule, on_delete=models.CASCADE, related_name="awards")
    points = models.IntegerField()
    awarded_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField(null=True, blank=True)
    activity_id = models.BigIntegerField(null=True, blank=True, help_text="leads.Activity that earned them")

    class Meta:
        indexes = [models.Index(fields=["lead", "rule"], name="score_points_lead_rule")]

    def __str__(self) -> str:
        return f"{self.points:+d} for lead {self.lead_id} by rule {self.rule_id}"


class ScoringPolicy(models.Model):
    """The one row of scoring and qualification settings (see scoring.selectors.policy_get).

    Automatic qualification is off until someone enables it, so nothing moves stages by surprise.
    """

    grade_a = models.IntegerField(default=60, help_text="Fit score from which a lead is graded A.")
    grade_b = models.IntegerField(default=40)
    grade_c = models.IntegerField(default=20)
    qualification_enabled = models.BooleanField(default=False)
    mql_score = models.IntegerField(default=50, help_text="Total score from which a lead becomes an MQL.")
    mql_requires_email = models.BooleanField(default=True, help_text="MQL also needs a valid email.")
    sql_condition = models.JSONField(
        null=True, blank=True, help_text="BANT criteria over lead fields; when met, the lead becomes an SQL."
    )
    pql_events = models.JSONField(
        default=list, blank=True, help_text="Event names that count as product usage."
    )
    pql_threshold = models.PositiveIntegerField(
        default=0, help_text="Product-usage events for a PQL; 0 = off."
    )
    decay_chain = models.CharField(max_length=40, blank=True, help_text="The running periodic decay task.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "Scoring policy"


class RescoreStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RescoreRun(models.Model):
    """A background recomputation of every lead's scores, with its progress."""

    reason = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=RescoreStatus.choices, default=RescoreStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0, help_text="Leads whose scores changed.")
    scope = models.JSONField(
        null=True, blank=True, help_text="Fit conditions whose leads may change; empty: none; null: all."
    )
    error = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Rescore {self.pk}: {self.status}"

    @property
    def percent(self) -> int:
        return (
            100
            if self.status == RescoreStatus.DONE
            else int(100 * self.done / self.total)
            if self.total
            else 0
        )
