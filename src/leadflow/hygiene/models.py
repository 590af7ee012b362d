"""Duplicate detection and merging: blocking keys, suspected duplicate pairs, the merge journal."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.timezone import now


class MatchKey(models.Model):
    """One blocking key of a lead (rule number, then the key): what the in-flow check looks up."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="match_keys")
    key = models.CharField(max_length=300)

    class Meta:
        indexes = [models.Index(fields=["key"], name="match_key")]

    def __str__(self) -> str:
        return self.key


class CandidateStatus(models.TextChoices):
    OPEN = "open", "To review"
    MERGED = "merged", "Merged"
    DISMISSED = "dismissed", "Not duplicates"


class DuplicateCandidate(models.Model):
    """A suspected duplicate pair (left_id < right_id), its probability and why, and its decision.

    Lead ids are plain integers so the row outlives a merge (the merged lead is removed) and its undo.
    """

    left_id = models.BigIntegerField()
    right_id = models.BigIntegerField(db_index=True)
    probability = models.FloatField()
    evidence = models.JSONField(default=list, help_text="Per field: level, weight (log2 m/u), both values.")
    status = models.CharField(max_length=10, choices=CandidateStatus.choices, default=CandidateStatus.OPEN)
    found_by = models.CharField(max_length=20, help_text="capture, scan or import")
    created_at = models.DateTimeField(default=now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["left_id", "right_id"], name="unique_candidate_pair")]
        indexes = [models.Index(fields=["status", "-probability"], name="candidate_queue")]

    def __str__(self) -> str:
        return f"{self.left_id} ~ {self.right_id} ({self.probability:.3f})"


class MergeJournal(models.Model):
    """One merge with everything needed to undo it: before-images, moved rows, removed rows."""

    survivor = models.ForeignKey("leads.Lead", null=True, on_delete=models.SET_NULL, related_name="+")
    survivor_id_value = models.BigIntegerField(help_text="The survivor's id, kept if it is deleted later.")
    merged_id = models.BigIntegerField(db_index=True, help_text="The lead merged into the survivor.")
    merged_image = models.JSONField(
        encoder=DjangoJSONEncoder, help_text="The merged lead's row before the merge."
    )
    survivor_before = models.JSONField(
        encoder=DjangoJSONEncoder, help_text="The survivor's changed fields before the merge."
    )
    choices = models.JSONField(default=dict, help_text="Per field: the surviving value's side and why.")
    moved = models.JSONField(default=dict, help_text="model label → field → ids moved to the survivor.")
    restore_rows = models.JSONField(
        default=list,
        encoder=DjangoJSONEncoder,
        help_text="Rows removed or changed as conflicts, as they were.",
    )
    candidate = models.ForeignKey(DuplicateCandidate, null=True, blank=True, on_delete=models.SET_NULL)
    automatic = models.BooleanField(default=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"merge of {self.merged_id} into {self.survivor_id_value}"


class EmailDomainCheck(models.Model):
    """The DNS deliverability check of one email domain (LEADFLOW_EMAIL_DNS_CHECK), shared by its leads."""

    domain = models.CharField(max_length=253, unique=True)
    deliverable = models.BooleanField(null=True, help_text="None: DNS did not answer (unknown).")
    detail = models.CharField(max_length=300)
    checked_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.domain}: {self.detail}"
