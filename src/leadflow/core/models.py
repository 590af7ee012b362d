"""The configuration generation: one row whose token changes whenever configuration changes."""

from django.db import models


class ConfigGeneration(models.Model):
    """Database triggers on every configuration table (rules, teams, users, custom fields …) give
    `token` a new random value on each write, so a process knows its cached copy is current by reading
    one row (core.config)."""

    token = models.BigIntegerField()

    def __str__(self) -> str:
        return f"Configuration generation {self.token}"
