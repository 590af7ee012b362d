"""Channels that feed the intake flow: web forms (with A/B variants and a spam log) and webhooks
(Google Ads lead forms, Meta Lead Ads, generic JSON), with their rejected deliveries and failed syncs."""

import secrets

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from leadflow.leads.models import Source


def new_key() -> str:
    return secrets.token_urlsafe(12)


def new_secret() -> str:
    return secrets.token_urlsafe(24)


class WebForm(models.Model):
    """A form built in the UI: its fields map to lead fields; it has a hosted page and an embed snippet.

    `fields` is a list of {"name", "label", "type", "required", "maps_to"} where maps_to is a standard
    lead field or "custom.<key>".
    """

    source = models.OneToOneField(Source, on_delete=models.CASCADE, related_name="web_form")
    key = models.CharField(max_length=40, unique=True, default=new_key)
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True)
    fields = models.JSONField(default=list, blank=True)
    submit_label = models.CharField(max_length=60, default="Send")
    consent_text = models.TextField(
        blank=True, help_text="When set, a consent checkbox with this exact text is shown and kept as proof."
    )
    thank_you = models.TextField(default="Thank you! We'll be in touch.")
    redirect_url = models.URLField(blank=True, help_text="Instead of the thank-you message.")
    allowed_origins = models.TextField(
        blank=True, help_text="Sites that may embed the form, one origin a line (https://www.example.com)."
    )
    min_fill_seconds = models.PositiveIntegerField(default=3)
    rate_limit_per_hour = models.PositiveIntegerField(default=20, help_text="Posts per IP address per hour.")
    progressive = models.BooleanField(
        default=True, help_text="Don't ask a recognised visitor again for what is already known."
    )
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.title

    @property
    def origins(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()]


class FormVariant(models.Model):
    """An A/B variant of a form: its own headline, button and (optionally) a subset of the fields."""

    form = models.ForeignKey(WebForm, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=60)
    weight = models.PositiveIntegerField(default=50, help_text="Share of traffic, relative to the others.")
    title = models.CharField(max_length=200, blank=True)
    submit_label = models.CharField(max_length=60, blank=True)
    field_names = models.JSONField(default=list, blank=True, help_text="Fields shown; empty = all.")
    views = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class FormPost(models.Model):
    """One post of a form: either a submission to the intake flow or spam (kept here, never dropped)."""

    form = models.ForeignKey(WebForm, on_delete=models.CASCADE, related_name="posts")
    variant = models.ForeignKey(FormVariant, null=True, blank=True, on_delete=models.SET_NULL)
    ip = models.GenericIPAddressField(null=True, blank=True)
    submission = models.ForeignKey(
        "capture.Submission", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    spam_reason = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="The posted fields (kept for spam).")
    origin = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(fields=["form", "ip", "received_at"], name="formpost_rate"),
            models.Index(fields=["form", "spam_reason", "-received_at"], name="formpost_spam"),
        ]

    def __str__(self) -> str:
        return f"Post {self.pk} of form {self.form_id}"


class WebhookKind(models.TextChoices):
    GOOGLE_ADS = "google_ads", "Google Ads lead form"
    META = "meta", "Meta Lead Ads"
    GENERIC = "generic", "Generic JSON (Zapier, Make, Typeform…)"


class WebhookEndpoint(models.Model):
    """A source's webhook: its URL key, credentials and (generic) field mapping."""

    source = models.OneToOneField(Source, on_delete=models.CASCADE, related_name="webhook")
    kind = models.CharField(max_length=20, choices=WebhookKind.choices)
    key = models.CharField(max_length=40, unique=True, default=new_key, help_text="Part of the URL.")
    secret = models.CharField(
        max_length=200,
        default=new_secret,
        help_text="Google: the google_key. Meta: the app secret. Generic: the shared secret / HMAC key.",
    )
    verify_token = models.CharField(max_length=200, blank=True, help_text="Meta: the verify token.")
    access_token = models.TextField(blank=True, help_text="Meta: the page access token for the Graph API.")
    graph_base_url = models.URLField(blank=True, help_text="Meta: Graph API base URL; empty = the default.")
    mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text='Generic: lead field → dot path, e.g. {"email": "data.contact.email"}.',
    )
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} webhook of {self.source}"


class RejectedDelivery(models.Model):
    """A webhook call that was refused (wrong key or signature, unreadable body): logged, with the answer."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="rejections"
    )
    status_code = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "-received_at"], name="rejected_endpoint")]

    def __str__(self) -> str:
        return f"{self.status_code} {self.reason}"


class SyncStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    FAILED = "failed", "Failed"
    DONE = "done", "Done"


class MetaLeadSync(models.Model):
    """A Meta lead announced by the webhook, whose field data is fetched from the Graph API."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="meta_syncs")
    leadgen_id = models.CharField(max_length=100)
    notice = models.JSONField(default=dict, blank=True, help_text="The webhook's change value.")
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    submission = models.ForeignKey(
        "capture.Submission", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "leadgen_id"], name="one_sync_per_meta_lead")
        ]
        indexes = [models.Index(fields=["status", "-updated_at"], name="metasync_status")]

    def __str__(self) -> str:
        return f"Meta lead {self.leadgen_id} ({self.status})"
