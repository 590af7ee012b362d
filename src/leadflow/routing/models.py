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


class TeamRouting(models.Model):
    """How a team distributes its leads; teams without a row use strict round robin and no caps."""

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
