"""Routing state."""

from django.conf import settings
from django.db import models


class RoundRobinState(models.Model):
    """Whose turn it is in a team; locked while a lead is assigned so no turn is taken twice."""

    team = models.OneToOneField("access.Team", on_delete=models.CASCADE, related_name="round_robin")
    last_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Round robin of {self.team}"
