"""Models of the file channels: imports (with reusable column mappings) and inbound email."""

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from leadflow.leads.models import Lead, Source


class ImportMapping(models.Model):
    """A saved column mapping ({header: target}), offered again for files with the same headers."""

    name = models.CharField(max_length=100, unique=True)
    columns = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    UNDONE = "undone", "Undone"


class Import(models.Model):
    """One uploaded file and its run through the intake flow.

    The file is kept in the data directory (`path`); each row becomes a Submission pointing back here
    with its row number, so bad rows stay quarantined and the run can be undone.
    """

    file_name = models.CharField(max_length=255)
    path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField(default=0)
    file_format = models.CharField(max_length=10)
    encoding = models.CharField(max_length=40, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    headers = models.JSONField(default=list)
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL)
    mapping = models.JSONField(default=dict)
    alert_owners = models.BooleanField(
        default=False,
        help_text="Notify the owners of the assigned leads and start their response clocks (off: the leads "
        "are assigned quietly, as old contacts should be).",
    )
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    summary = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.file_name})"

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status in (ImportStatus.DONE, ImportStatus.UNDONE) else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


class InboundRoute(models.Model):
    """An inbound address for one source, and optionally the IMAP mailbox its messages are read from."""

    address = models.CharField(max_length=254, unique=True, help_text="e.g. leads+fair@example.com")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="inbound_routes")
    imap_host = models.CharField(max_length=200, blank=True)
    imap_port = models.PositiveIntegerField(default=993)
    imap_ssl = models.BooleanField(default=True)
    imap_user = models.CharField(max_length=200, blank=True)
    imap_password = models.CharField(max_length=200, blank=True)
    imap_folder = models.CharField(max_length=200, default="INBOX")
    is_active = models.BooleanField(default=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, help_text="Why the last poll failed, if so.")
    poll_chain = models.CharField(max_length=32, blank=True, help_text="The current polling chain's token.")

    class Meta:
        ordering = ["address"]

    def __str__(self) -> str:
        return self.address


class EmailOutcome(models.TextChoices):
    LEAD = "lead", "Captured as a lead"
    ACTIVITY = "activity", "Added to a lead's timeline"
    REJECTED = "rejected", "Rejected"


class InboundEmail(models.Model):
    """Every inbound message and what became of it: a lead, an activity, or the rejected log."""

    route = models.ForeignKey(InboundRoute, null=True, blank=True, on_delete=models.SET_NULL)
    message_id = models.CharField(max_length=500, blank=True, db_index=True)
    sender = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    raw = models.BinaryField(help_text="The message exactly as received.")
    outcome = models.CharField(max_length=10, choices=EmailOutcome.choices)
    reason = models.TextField(blank=True)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL)
    submission = models.ForeignKey("capture.Submission", null=True, blank=True, on_delete=models.SET_NULL)
    origin = models.CharField(max_length=300, blank=True, help_text="imap:<route>, a file path, or api")
    received_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["outcome", "-received_at"], name="inbound_email_outcome")]

    def __str__(self) -> str:
        return f"{self.sender or '?'}: {self.subject[:40]}"
