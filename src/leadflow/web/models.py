"""What the web UI keeps for its users."""

from django.conf import settings
from django.db import models


class SavedView(models.Model):
    """A named set of lead-list filters and sort, personal or shared with everyone.

    Applying a view only fills in the filters: what anyone sees is still decided by lead_visible.
    """

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    shared = models.BooleanField(default=False, help_text="Listed for everyone under Shared views.")
    querystring = models.CharField(max_length=2000, blank=True, help_text="Filters and sort, URL-encoded.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_saved_view_name")]
        indexes = [models.Index(fields=["shared", "name"], name="saved_view_shared")]

    def __str__(self) -> str:
        return self.name
