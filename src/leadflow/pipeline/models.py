"""Accounts: the companies leads belong to, each with an owner."""

from django.conf import settings
from django.db import models
from django.utils.timezone import now


class Account(models.Model):
    """A company; a new lead from its domain or with its name is linked to it and goes to its owner."""

    name = models.CharField(max_length=200)
    name_key = models.CharField(
        max_length=200, blank=True, db_index=True, help_text="The name without legal suffixes, case, accents."
    )
    domain = models.CharField(max_length=253, blank=True, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain"], condition=~models.Q(domain=""), name="unique_account_domain"
            )
        ]

    def __str__(self) -> str:
        return self.name


class AccountLead(models.Model):
    """A lead's link to its account, and why it was made."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="lead_links")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="account_links")
    matched_by = models.CharField(max_length=100, help_text="domain acme.io, company name acme, manual…")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead"], name="one_account_per_lead")]

    def __str__(self) -> str:
        return f"lead {self.lead_id} → {self.account}"
