"""Web forms: building them, rendering them (A/B variant, progressive profiling, spam tokens) and
taking their posts through the spam guard into lead_capture."""

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from leadflow.access.models import User
from leadflow.capture.channel_models import FormPost, FormVariant, WebForm
from leadflow.capture.mapping import (
    FORM_FIELD_TYPES,
    HIDDEN_FIELDS,
    FormField,
    form_fields,
    form_payload,
)
from leadflow.capture.models import Submission, SubmissionStatus
from leadflow.capture.services import lead_capture
from leadflow.leads.fields import STANDARD_FIELDS
from leadflow.leads.models import Channel, Lead, Source
from leadflow.leads.selectors import custom_field_specs

HONEYPOT = "lf_hp"
RENDER_TOKEN = "lf_t"
VISITOR_COOKIE = "lf_visitor"
RENDER_SALT = "leadflow.form.render"
VISITOR_SALT = "leadflow.form.visitor"
VISITOR_MAX_AGE = 365 * 24 * 3600
DEFAULT_FIELDS = [
    {"name": "email", "label": "Email", "type": "email", "required": True, "maps_to": "email"},
    {"name": "first_name", "label": "First name", "type": "text", "required": False, "maps_to": "first_name"},
    {"name": "last_name", "label": "Last name", "type": "text", "required": False, "maps_to": "last_name"},
    {"name": "company", "label": "Company", "type": "text", "required": False, "maps_to": "company"},
]


class FormConfigError(ValueError):
    """Form settings that cannot be saved, by field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def web_form_create(*, title: str, actor: User | None) -> WebForm:
    """A new form with its own source and a default email/name/company field set."""
    name = title.strip()[:90] or "Web form"
    if Source.objects.filter(name__iexact=name).exists():
        name = f"{name} ({timezone.now():%Y-%m-%d %H:%M:%S})"
    with transaction.atomic():
        source = Source.objects.create(name=name, channel=Channel.FORM)
        return WebForm.objects.create(source=source, title=title.strip() or "Web form", fields=DEFAULT_FIELDS)


def form_field_targets() -> list[str]:
    """What a form field can map to: standard lead fields and custom.<key>."""
    return [*STANDARD_FIELDS, *(f"custom.{key}" for key in custom_field_specs())]


def web_form_update(*, form: WebForm, values: Mapping[str, Any], actor: User | None) -> WebForm:
    """Saves the builder's settings; `fields` and `variants` are lists of dicts."""
    errors: dict[str, str] = {}
    targets = set(form_field_targets())
    rows = values.get("fields", form.fields)
    names: set[str] = set()
    for index, row in enumerate(rows):
        label = f"fields.{index}"
        if row.get("maps_to") not in targets:
            errors[label] = f"Field {row.get('name') or index + 1}: choose a lead field to map it to."
        elif row.get("type") not in FORM_FIELD_TYPES:
            errors[label] = f"Field {row.get('name')}: unknown type."
        elif not row.get("name") or row["name"] in names or row["name"] in {*HIDDEN_FIELDS, "consent"}:
            errors[label] = f"Field {row.get('name') or index + 1}: the name must be set and unique."
        names.add(row.get("name", ""))
    if not any(row.get("maps_to") in ("email", "phone") for row in rows):
        errors["fields"] = "The form needs an email or phone field to identify the lead."
    for line in str(values.get("allowed_origins", "")).splitlines():
        if line.strip() and not line.strip().startswith(("http://", "https://")):
            errors["allowed_origins"] = f"{line.strip()} is not an origin such as https://www.example.com."
    if errors:
        raise FormConfigError(errors)
    for name in (
        "title",
        "intro",
        "submit_label",
        "consent_text",
        "thank_you",
        "redirect_url",
        "allowed_origins",
        "min_fill_seconds",
        "rate_limit_per_hour",
        "progressive",
    ):
        if name in values:
            setattr(form, name, values[name])
    form.fields = [dict(row) for row in rows]
    with transaction.atomic():
        form.save()
        if "variants" in values:
            _variants_save(form, values["variants"])
    return form


def _variants_save(form: WebForm, rows: list[dict[str, Any]]) -> None:
    kept = []
    existing = {v.pk: v for v in form.variants.all()}
    for row in rows:
        variant = existing.get(row.get("id") or 0) or FormVariant(form=form)
        variant.name = row["name"][:60]
        variant.weight = max(0, int(row.get("weight") or 0))
        variant.title = row.get("title", "")[:200]
        variant.submit_label = row.get("submit_label", "")[:60]
        variant.field_names = [n for n in row.get("field_names", []) if n]
        variant.save()
        kept.append(variant.pk)
    form.variants.exclude(pk__in=kept).delete()


@dataclass
class FormRender:
    """What to show a visitor: the variant's headline and fields, minus what is known of them."""

    form: WebForm
    variant: FormVariant | None
    title: str
    submit_label: str
    fields: list[FormField]
    skipped: list[str]
    token: str

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.form.key,
            "title": self.title,
            "intro": self.form.intro,
            "submit_label": self.submit_label,
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "type": f.type,
                    "required": f.required,
                    "choices": list(f.choices),
                }
                for f in self.fields
            ],
            "hidden": list(HIDDEN_FIELDS),
            "consent_text": self.form.consent_text,
            "honeypot": HONEYPOT,
            "token_name": RENDER_TOKEN,
            "token": self.token,
            "variant": self.variant.name if self.variant else "",
        }


def visitor_lead(token: str) -> Lead | None:
    """The lead a visitor cookie/token names, if it is genuine."""
    if not token:
        return None
    try:
        lead_id = signing.loads(token, salt=VISITOR_SALT, max_age=VISITOR_MAX_AGE)
    except signing.BadSignature:
        return None
    return Lead.objects.filter(pk=lead_id).first() if isinstance(lead_id, int) else None


def visitor_token(lead_id: int) -> str:
    return signing.dumps(lead_id, salt=VISITOR_SALT)


def known_values(form: WebForm, lead: Lead | None) -> dict[str, str]:
    """What is already known of a recognised visitor, by mapped lead field."""
    if lead is None or not form.progressive:
        return {}
    known = {}
    for form_field in form_fields(form.fields):
        target = form_field.maps_to
        value = (
            lead.custom.get(target.removeprefix("custom."))
            if target.startswith("custom.")
            else getattr(lead, target, "")
        )
        if value not in (None, ""):
            known[target] = str(value)
    if lead.email:
        known["email"] = lead.email
    return known


def form_render(*, form: WebForm, visitor: str = "") -> FormRender:
    """Picks a variant by its traffic share, counts the view and drops fields known of the visitor."""
    variants = [v for v in form.variants.all() if v.weight > 0]
    variant = random.choices(variants, weights=[v.weight for v in variants])[0] if variants else None
    if variant is not None:
        FormVariant.objects.filter(pk=variant.pk).update(views=F("views") + 1)
    known = known_values(form, visitor_lead(visitor))
    fields = form_fields(form.fields)
    if variant is not None and variant.field_names:
        fields = [f for f in fields if f.name in variant.field_names or f.required]
    shown = [f for f in fields if f.maps_to not in known]
    token = signing.dumps(
        {"f": form.pk, "v": variant.pk if variant else None, "t": time.time()}, salt=RENDER_SALT
    )
    return FormRender(
        form=form,
        variant=variant,
        title=(variant.title if variant and variant.title else form.title),
        submit_label=(variant.submit_label if variant and variant.submit_label else form.submit_label),
        fields=shown,
        skipped=[f.name for f in fields if f.maps_to in known],
        token=token,
    )


@dataclass
class FormOutcome:
    """The result of a post: accepted (with its submission), invalid (errors to show) or spam."""

    status: str
    errors: dict[str, str] = field(default_factory=dict)
    submission: Submission | None = None
    visitor: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


def client_ip(*, remote_addr: str | None, forwarded_for: str = "") -> str | None:
    """The visitor's address for the rate limit: behind LEADFLOW_TRUSTED_PROXIES reverse proxies, the
    X-Forwarded-For entry the nearest trusted proxy saw; otherwise the socket's address."""
    proxies = settings.LEADFLOW_TRUSTED_PROXIES
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    if proxies and len(hops) >= proxies:
        return hops[-proxies]
    return remote_addr or None


def _spam_reason(form: WebForm, data: Mapping[str, str], ip: str | None) -> tuple[str, int | None]:
    variant_id = None
    if (data.get(HONEYPOT) or "").strip():
        return "The hidden honeypot field was filled in.", None
    try:
        token = signing.loads(data.get(RENDER_TOKEN) or "", salt=RENDER_SALT, max_age=24 * 3600)
    except signing.BadSignature:
        return "No valid form token (the form was not loaded from leadflow, or over a day ago).", None
    if not isinstance(token, dict) or token.get("f") != form.pk:
        return "The form token belongs to another form.", None
    variant_id = token.get("v")
    seconds = time.time() - float(token.get("t", 0))
    if seconds < form.min_fill_seconds:
        return f"Filled in {seconds:.1f} s, faster than the minimum of {form.min_fill_seconds} s.", variant_id
    if ip and form.rate_limit_per_hour:
        recent = FormPost.objects.filter(
            form=form, ip=ip, received_at__gte=timezone.now() - timedelta(hours=1)
        )
        if recent.count() >= form.rate_limit_per_hour:
            return (
                f"More than {form.rate_limit_per_hour} posts from this IP address within an hour.",
                variant_id,
            )
    return "", variant_id


def form_submit(
    *, form: WebForm, data: Mapping[str, str], ip: str | None, origin: str = "", visitor: str = ""
) -> FormOutcome:
    """Runs a post through the spam guard, then lead_capture. Spam is kept in the spam log."""
    kept = {k: str(v)[:2000] for k, v in data.items() if k not in (RENDER_TOKEN,)}
    reason, variant_id = _spam_reason(form, data, ip)
    variant_id = variant_id if FormVariant.objects.filter(pk=variant_id or 0, form=form).exists() else None
    if reason:
        FormPost.objects.create(
            form=form, variant_id=variant_id, ip=ip, spam_reason=reason, data=kept, origin=origin[:300]
        )
        return FormOutcome(status="spam", errors={"form": "Your submission could not be accepted."})
    known = known_values(form, visitor_lead(visitor))
    payload, errors = form_payload(
        form_fields(form.fields),
        data,
        known=known,
        consent_text=form.consent_text,
        method=f"web form checkbox ({form.title})"[:50],
    )
    if errors:
        return FormOutcome(status="invalid", errors=errors)
    result = lead_capture(payload=payload, channel=Channel.FORM, source=form.source)
    FormPost.objects.create(
        form=form, variant_id=variant_id, ip=ip, submission=result.submission, origin=origin[:300]
    )
    if result.quarantined:
        return FormOutcome(
            status="invalid", errors=dict(result.submission.errors), submission=result.submission
        )
    assert result.lead is not None
    return FormOutcome(status="accepted", submission=result.submission, visitor=visitor_token(result.lead.pk))


def form_variant_stats(*, form: WebForm) -> list[dict[str, Any]]:
    """Per variant: views, accepted submissions and the submission rate."""
    rows = []
    for variant in form.variants.annotate(
        accepted=Count("formpost", filter=Q(formpost__spam_reason="", formpost__submission__isnull=False))
    ):
        rate = variant.accepted / variant.views if variant.views else None
        rows.append(
            {"variant": variant, "views": variant.views, "submissions": variant.accepted, "rate": rate}
        )
    return rows


def form_spam_log(*, form: WebForm | None = None, source: Source | None = None) -> Any:
    posts = FormPost.objects.exclude(spam_reason="").select_related("form").order_by("-received_at")
    if form is not None:
        posts = posts.filter(form=form)
    if source is not None:
        posts = posts.filter(form__source=source)
    return posts


def quarantined_submissions(*, source: Source) -> Any:
    return Submission.objects.filter(source=source, status=SubmissionStatus.QUARANTINED).order_by(
        "-received_at"
    )
