"""The lead and what is kept on it."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.timezone import now


class Stage(models.TextChoices):
    SUBSCRIBER = "subscriber", "Subscriber"
    LEAD = "lead", "Lead"
    MQL = "mql", "MQL"
    SQL = "sql", "SQL"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    RECYCLED = "recycled", "Recycled"
    DISQUALIFIED = "disqualified", "Disqualified"


# The funnel order; recycled and disqualified stand outside it (moving there is a step back).
FUNNEL = [Stage.SUBSCRIBER, Stage.LEAD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER]


class Status(models.TextChoices):
    NEW = "new", "New"
    ATTEMPTING = "attempting", "Attempting contact"
    CONNECTED = "connected", "Connected"
    NURTURING = "nurturing", "Nurturing"
    UNQUALIFIED = "unqualified", "Unqualified"
    CONVERTED = "converted", "Converted"


class Channel(models.TextChoices):
    API = "api", "API"
    FORM = "form", "Web form"
    WEBHOOK = "webhook", "Webhook"
    EMAIL = "email", "Email"
    IMPORT = "import", "Import"
    MANUAL = "manual", "Manual entry"
    ADS = "ads", "Paid ads"
    OTHER = "other", "Other"


class Source(models.Model):
    """Where leads come from (a form, a webhook, an import list…), with what it costs."""

    name = models.CharField(max_length=100, unique=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.OTHER)
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    """A marketing campaign, matched to touches by its utm_campaign value."""

    name = models.CharField(max_length=200)
    utm_campaign = models.CharField(max_length=200, unique=True)
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL)
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    CHOICE = "choice", "Choice"
    BOOLEAN = "boolean", "Yes/no"


class CustomField(models.Model):
    """A typed field that admins add to every lead; values live in Lead.custom."""

    key = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=100)
    field_type = models.CharField(max_length=10, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.label


class Lead(models.Model):
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.CharField(max_length=254, blank=True)
    email_normalized = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=50, blank=True)
    phone_e164 = models.CharField(max_length=20, blank=True, db_index=True)
    company = models.CharField(max_length=200, blank=True)
    company_domain = models.CharField(max_length=253, blank=True, db_index=True)
    job_title = models.CharField(max_length=200, blank=True)
    website = models.CharField(max_length=300, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    region = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=100, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    company_size = models.CharField(max_length=100, blank=True)
    annual_revenue = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    budget = models.CharField(max_length=100, blank=True)
    purchase_timeframe = models.CharField(max_length=100, blank=True)
    product_interest = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=20, blank=True)
    timezone = models.CharField(max_length=64, blank=True)

    custom = models.JSONField(default=dict, blank=True, help_text="Validated custom field values.")
    extra = models.JSONField(default=dict, blank=True, help_text="Unknown incoming fields, kept as sent.")

    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.LEAD)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    score = models.IntegerField(default=0)
    fit_score = models.IntegerField(default=0)
    engagement_score = models.IntegerField(default=0)
    grade = models.CharField(max_length=1, blank=True)
    is_test = models.BooleanField(default=False)
    conversion_probability = models.FloatField(
        null=True, blank=True, help_text="Calibrated probability of converting, from the predictive model."
    )
    conversion_factors = models.JSONField(
        default=list, blank=True, help_text="The prediction's top factors: feature, value, weight (log-odds)."
    )
    predicted_at = models.DateTimeField(null=True, blank=True)
    prediction_model = models.CharField(max_length=40, blank=True, help_text="Model version that predicted.")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    team = models.ForeignKey(
        "access.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    first_touch = models.ForeignKey(
        "Touch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_touch = models.ForeignKey(
        "Touch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="lead_created_keyset"),
            models.Index(fields=["owner", "stage"], name="lead_owner_stage"),
            models.Index(fields=["team", "owner"], name="lead_team_owner"),
            models.Index(fields=["stage", "status"], name="lead_stage_status"),
            models.Index(fields=["source", "created_at"], name="lead_source_created"),
            models.Index(fields=["-score", "-id"], name="lead_score_keyset"),
            models.Index(Lower("last_name"), Lower("first_name"), "id", name="lead_name_keyset"),
            models.Index(Lower("company"), "id", name="lead_company_keyset"),
            models.Index(fields=["owner", "id"], name="lead_owner_keyset"),
            models.Index(fields=["stage", "-created_at", "-id"], name="lead_stage_created_keyset"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.phone or self.company or f"Lead {self.pk}"


class IdentityKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    EXTERNAL_ID = "external_id", "External id"


class LeadIdentity(models.Model):
    """A key that identifies one lead; a new submission carrying it updates that lead.

    Identities stay with the surviving lead when leads merge, so every old key keeps matching.
    """

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    value = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="unique_identity")]

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


class Touch(models.Model):
    """One attributed arrival of a lead: where it came from and through which campaign."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="touches")
    submission_id = models.BigIntegerField(
        null=True, blank=True, help_text="capture.Submission that brought it"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.OTHER)
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    referrer = models.CharField(max_length=1000, blank=True)
    landing_page = models.CharField(max_length=1000, blank=True)
    gclid = models.CharField(max_length=300, blank=True)
    fbclid = models.CharField(max_length=300, blank=True)
    msclkid = models.CharField(max_length=300, blank=True)
    occurred_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.channel} touch of lead {self.lead_id}"


class ActivityKind(models.TextChoices):
    NOTE = "note", "Note"
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    FORM_SUBMISSION = "form_submission", "Form submission"
    CAPTURE = "capture", "Captured"
    PAGE_VIEW = "page_view", "Page view"
    EVENT = "event", "Behaviour event"
    FIELD_CHANGE = "field_change", "Field change"
    STAGE_CHANGE = "stage_change", "Stage change"
    STATUS_CHANGE = "status_change", "Status change"
    SCORE_CHANGE = "score_change", "Score change"
    ASSIGNMENT = "assignment", "Assignment"
    SLA = "sla", "Response SLA"
    CONSENT = "consent", "Consent"
    IMPORT = "import", "Import"
    MERGE = "merge", "Merge"
    TASK = "task", "Task"


# Activities a rep logs that count as responding to the lead.
RESPONSE_KINDS = {ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING}


class Activity(models.Model):
    """One entry of a lead's append-only timeline."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=30, choices=ActivityKind.choices)
    occurred_at = models.DateTimeField(default=now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    summary = models.CharField(max_length=300, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    submission_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["lead", "-occurred_at", "-id"], name="activity_timeline"),
            models.Index(fields=["lead", "kind", "-occurred_at"], name="activity_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.summary}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("Activities are append-only.")
        super().save(*args, **kwargs)


class StageTransition(models.Model):
    """A change of stage or working status: from, to, who, when, why."""

    class Field(models.TextChoices):
        STAGE = "stage", "Stage"
        STATUS = "status", "Status"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions")
    field = models.CharField(max_length=10, choices=Field.choices, default=Field.STAGE)
    from_value = models.CharField(max_length=20, blank=True)
    to_value = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["lead", "occurred_at"], name="transition_lead")]

    def __str__(self) -> str:
        return f"{self.field} {self.from_value} → {self.to_value}"


class ConsentChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class ConsentState(models.TextChoices):
    GRANTED = "granted", "Opted in"
    PENDING = "pending", "Awaiting confirmation"
    DENIED = "denied", "Opted out"


class Consent(models.Model):
    """A lead's current consent on one channel, with its proof."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=10, choices=ConsentChannel.choices)
    state = models.CharField(max_length=10, choices=ConsentState.choices)
    method = models.CharField(max_length=50, help_text="How it was given: form checkbox, API, import…")
    text_shown = models.TextField(blank=True, help_text="The exact wording the lead agreed to.")
    submission_id = models.BigIntegerField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead", "channel"], name="one_consent_per_channel")]

    def __str__(self) -> str:
        return f"{self.channel} {self.state}"


class Task(models.Model):
    """A follow-up for a person to do on a lead, such as the first contact."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    title = models.CharField(max_length=200)
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["assignee", "done_at", "due_at"], name="task_inbox")]

    def __str__(self) -> str:
        return self.title
