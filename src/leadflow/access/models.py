"""People, teams and API keys."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MARKETING = "marketing", "Marketing"
    MANAGER = "manager", "Sales manager"
    REP = "rep", "Sales rep"


class User(AbstractUser):
    """A person who works leads. The rep profile (role, timezone, availability) lives here."""

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.REP)
    timezone = models.CharField(max_length=64, default="UTC")
    accepts_leads = models.BooleanField(
        default=True, help_text="Active for routing: inactive reps are skipped when leads are assigned."
    )

    @property
    def sees_all_leads(self) -> bool:
        return self.is_superuser or self.role in {Role.ADMIN, Role.MARKETING}


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    manager = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_teams"
    )
    members: "models.ManyToManyField[User, Membership]" = models.ManyToManyField(
        User, through="Membership", related_name="teams"
    )
    is_default = models.BooleanField(default=False, help_text="Receives leads no rule sends elsewhere.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_team"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    weight = models.PositiveSmallIntegerField(default=1)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class ApiScope(models.TextChoices):
    CAPTURE = "capture", "Capture leads"
    READ = "read", "Read leads"
    WRITE = "write", "Change leads"
    ADMIN = "admin", "Administer"


class ApiKey(models.Model):
    """A bearer key for the REST API. Only its SHA-256 is stored; the key is shown once."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    user = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text="When set, the key sees only what this user sees.",
    )
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="created_api_keys"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def allows(self, scope: str) -> bool:
        return ApiScope.ADMIN in self.scopes or scope in self.scopes
