"""Nurture: the intake flow's follow_ups step, segments and lists, templates, campaigns and sending.

Capture and tracking call `leads_changed` and `activity_received` explicitly (no signals); both enqueue
a task that refreshes the lead's segment memberships (incrementally, one lead at a time), starts the
campaigns whose trigger fired and wakes enrollments waiting on behaviour. Enrollments are run by
`enrollments_run` in batches: each step of each enrollment commits on its own, and a send is written to
the ledger (Delivery, unique per enrollment and step) before it goes out, so a retried or resumed run
never sends a step twice and never skips one.
"""

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, as_completed
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone

from leadflow.access.models import User
from leadflow.core.conditions import ConditionError, compile_condition, validate
from leadflow.core.conditions_sql import to_q
from leadflow.core.config import config_cached
from leadflow.core.db import bulk_insert, new_instance
from leadflow.core.queue import enqueue_after_commit
from leadflow.leads.models import (
    FUNNEL,
    Activity,
    ActivityKind,
    Consent,
    ConsentChannel,
    ConsentState,
    Lead,
    Stage,
    Task,
)
from leadflow.leads.selectors import custom_field_specs
from leadflow.leads.services import activity_create, consent_record, lead_stage_change, lead_status_change
from leadflow.leads.steps import StepOutcome
from leadflow.nurture import plan
from leadflow.nurture.catalogue import BEHAVIOUR, branch_fields, segment_fields, uses_custom
from leadflow.nurture.channels import Email, EmailPool, EmailSender, SendError, sms_provider
from leadflow.nurture.models import (
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    Membership,
    MessageChannel,
    NurtureCampaign,
    Segment,
    SegmentKind,
    Suppression,
    SuppressionReason,
    Template,
)
from leadflow.nurture.render import render, template_problems, track_links
from leadflow.nurture.selectors import delivery_replied_to
from leadflow.routing.notifications import notification_send
from leadflow.routing.services import leads_route
from leadflow.scoring.catalogue import lead_record
from leadflow.scoring.services import activity_score

logger = logging.getLogger("leadflow.nurture")
SIGNER_SALT = "leadflow.nurture"
MAX_BACKOFF = dt.timedelta(hours=1)


class NurtureError(ValueError):
    """Input that cannot be saved, with one message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# ----------------------------------------------------------------------------------------------------
# The intake flow's follow_ups step
# ----------------------------------------------------------------------------------------------------


def leads_schedule_follow_ups(
    *, leads: list[Lead], newly_assigned: set[int], channel: str = ""
) -> dict[int, StepOutcome]:
    """A first-contact task for each newly assigned lead; segments and campaign triggers after commit."""
    outcomes: dict[int, StepOutcome] = {}
    tasks = []
    window = dt.timedelta(hours=settings.LEADFLOW_FIRST_CONTACT_HOURS)
    for lead in leads:
        if lead.pk in newly_assigned and lead.owner_id is not None and lead.assigned_at is not None:
            due_at = lead.assigned_at + window
            tasks.append(
                new_instance(
                    Task, lead_id=lead.pk, assignee_id=lead.owner_id, title="First contact", due_at=due_at
                )
            )
            outcomes[lead.pk] = StepOutcome(
                summary=f"First-contact task for {lead.owner}, due {due_at:%Y-%m-%d %H:%M} UTC.",
                detail={"task": "First contact", "due_at": due_at.isoformat()},
            )
        else:
            outcomes[lead.pk] = StepOutcome(summary="No follow-up: the lead was not newly assigned.")
    bulk_insert(tasks)
    leads_changed(lead_ids=[lead.pk for lead in leads], form_submitted=channel == "form")
    return outcomes


def leads_changed(*, lead_ids: list[int], form_submitted: bool = False) -> None:
    """After the transaction commits: refresh segments and start triggered campaigns for these leads."""
    if not lead_ids or not _has_nurture():
        return
    from leadflow.nurture.tasks import leads_refresh

    enqueue_after_commit(lambda: leads_refresh.enqueue(lead_ids, form_submitted))


def activity_received(*, activity: Activity) -> None:
    """After the transaction commits: react to a behaviour event (segments, waiting enrollments)."""
    if not _has_nurture():
        return
    from leadflow.nurture.tasks import leads_refresh

    lead_id = activity.lead_id
    enqueue_after_commit(lambda: leads_refresh.enqueue([lead_id], False))


def _double_opt_in_ask(lead_ids: list[int]) -> None:
    """Email opt-ins captured with a submission become pending, with a confirmation email, until confirmed."""
    captured = Consent.objects.filter(
        lead_id__in=lead_ids,
        channel=ConsentChannel.EMAIL,
        state=ConsentState.GRANTED,
        submission_id__isnull=False,
    ).select_related("lead")
    for consent in captured.exclude(method="double opt-in"):
        lead_subscribe(
            lead=consent.lead,
            channel=ConsentChannel.EMAIL,
            method=consent.method,
            text_shown=consent.text_shown,
        )


def _goal_reached(enrollment: Enrollment) -> str:
    """The exit goal the lead has reached ("" if none): checked before every step and on every event."""
    lead = enrollment.lead
    goals = set(enrollment.campaign.exit_goals)
    if "converted" in goals and (lead.converted_at or lead.stage in {Stage.OPPORTUNITY, Stage.CUSTOMER}):
        return "converted"
    if "became_sql" in goals and lead.stage in FUNNEL[FUNNEL.index(Stage.SQL) :]:
        return "became_sql"
    if "unsubscribed" in goals and _unsubscribed(lead, MessageChannel.EMAIL):
        return "unsubscribed"
    if "replied" in goals and _replied(lead, since=enrollment.enrolled_at):
        return "replied"
    return ""


def _replied(lead: Lead, *, since: dt.datetime) -> bool:
    return lead.activities.filter(
        kind=ActivityKind.EMAIL, payload__direction="inbound", occurred_at__gte=since
    ).exists()


def _wakes(enrollment: Enrollment, now: dt.datetime) -> bool:
    """Whether news about the lead can move this enrollment: it waits on behaviour, or is due anyway."""
    steps = enrollment.campaign.steps
    if enrollment.step < len(steps) and "until_condition" in steps[enrollment.step]:
        return True
    return enrollment.due_at is not None and enrollment.due_at <= now


def _has_nurture() -> bool:
    """Whether any dynamic segment or active campaign could react to a lead (configuration, cached)."""
    return config_cached(
        "nurture.active",
        lambda: (
            Segment.objects.filter(kind=SegmentKind.DYNAMIC).exists()
            or NurtureCampaign.objects.filter(status=CampaignStatus.ACTIVE).exists()
        ),
    )


def leads_refresh(
    *, lead_ids: list[int], form_submitted: bool = False, now: dt.datetime | None = None
) -> None:
    """The reaction to a lead change or activity: memberships, triggers, exits and woken waits."""
    now = now or timezone.now()
    if settings.LEADFLOW_NURTURE_DOUBLE_OPT_IN:
        _double_opt_in_ask(lead_ids)
    joined = lead_segments_refresh(lead_ids=lead_ids, now=now)
    _triggers_fire(lead_ids=lead_ids, joined=joined, form_submitted=form_submitted, now=now)
    waiting = [
        enrollment.pk
        for enrollment in Enrollment.objects.filter(
            lead_id__in=lead_ids, state=EnrollmentState.ACTIVE
        ).select_related("campaign")
        if _wakes(enrollment, now) or _goal_reached(enrollment)
    ]
    if waiting:
        enrollments_run(enrollment_ids=waiting, now=now, woken=True)


# ----------------------------------------------------------------------------------------------------
# Segments and lists
# ----------------------------------------------------------------------------------------------------


def segment_save(*, segment: Segment | None = None, values: Mapping[str, Any], actor: User | None) -> Segment:
    """Creates or changes a segment; a dynamic one gets its members at once (one set-based query)."""
    segment = segment or Segment()
    errors: dict[str, str] = {}
    name = str(values.get("name", "")).strip()
    if not name:
        errors["name"] = "Give the segment a name."
    elif Segment.objects.exclude(pk=segment.pk).filter(name__iexact=name).exists():
        errors["name"] = "Another segment has this name."
    kind = values.get("kind", segment.kind)
    if kind not in SegmentKind.values:
        errors["kind"] = "Choose dynamic or static."
    condition = values.get("condition")
    if kind == SegmentKind.DYNAMIC:
        try:
            condition = validate(condition, segment_fields(custom_field_specs()))
        except ConditionError as err:
            errors["condition"] = "; ".join(err.problems)
    else:
        condition = None
    if errors:
        raise NurtureError(errors)
    with transaction.atomic():
        segment.name, segment.kind, segment.condition = name, kind, condition
        segment.save()
        if kind == SegmentKind.DYNAMIC:
            segment_members_compute(segment=segment)
    return segment


def _behaviour_annotations(now: dt.datetime) -> dict[str, Any]:
    annotations: dict[str, Any] = {"source_name": F("source__name")}
    for name, (kind, event, days) in BEHAVIOUR.items():
        match = Q(activities__kind=kind, activities__occurred_at__gte=now - dt.timedelta(days=days))
        if event:
            match &= Q(activities__payload__event=event)
        annotations[name] = Count("activities", filter=match)
    return annotations


def _needed(condition: Any) -> dict[str, Any]:
    """The annotations a condition reads (behaviour counts cost a join; leave out the unused ones)."""
    text = str(condition)
    return {k: v for k, v in _behaviour_annotations(timezone.now()).items() if f"'{k}'" in text}


def segment_members_compute(*, segment: Segment, now: dt.datetime | None = None) -> tuple[int, int]:
    """Sets a dynamic segment's members from scratch, set-based (on save only); returns (joined, left)."""
    now = now or timezone.now()
    fields = segment_fields(custom_field_specs())
    leads: QuerySet[Lead] = Lead.objects.all()
    if uses_custom(segment.condition):
        predicate = compile_condition(segment.condition, fields)
        wanted = {
            r["id"] for r in _records(list(Lead.objects.values_list("pk", flat=True)), now) if predicate(r)
        }
    else:
        annotations = {
            k: v for k, v in _behaviour_annotations(now).items() if f"'{k}'" in str(segment.condition)
        }
        wanted = set(
            leads.annotate(**annotations).filter(to_q(segment.condition, fields)).values_list("pk", flat=True)
        )
    current = set(segment.memberships.values_list("lead_id", flat=True))
    joins = wanted - current
    Membership.objects.bulk_create(
        [Membership(segment=segment, lead_id=lead_id, joined_at=now) for lead_id in joins],
        batch_size=5000,
        ignore_conflicts=True,
    )
    segment.memberships.filter(lead_id__in=list(current - wanted)).delete()
    _segment_joined(segment_id=segment.pk, lead_ids=sorted(joins), now=now)
    return len(joins), len(current - wanted)


def _records(lead_ids: list[int], now: dt.datetime) -> list[dict[str, Any]]:
    """Leads as the records segment conditions read: fields, scores, source name, behaviour counts."""
    records = []
    leads = Lead.objects.filter(pk__in=lead_ids).select_related("source")
    counts = {
        row["pk"]: row
        for row in Lead.objects.filter(pk__in=lead_ids).values("pk").annotate(**_behaviour_annotations(now))
    }
    for lead in leads:
        record = lead_record(lead)
        record.update(
            id=lead.pk,
            score=lead.score,
            fit_score=lead.fit_score,
            grade=lead.grade,
            source_name=lead.source.name if lead.source else "",
        )
        record.update({name: counts.get(lead.pk, {}).get(name, 0) for name in BEHAVIOUR})
        records.append(record)
    return records


def lead_segments_refresh(*, lead_ids: list[int], now: dt.datetime | None = None) -> dict[int, list[int]]:
    """Re-evaluates every dynamic segment for these leads only; returns {segment id: lead ids that joined}."""
    now = now or timezone.now()
    segments = list(Segment.objects.filter(kind=SegmentKind.DYNAMIC))
    if not segments:
        return {}
    fields = segment_fields(custom_field_specs())
    records = _records(lead_ids, now)
    current = set(
        Membership.objects.filter(lead_id__in=lead_ids, segment__in=segments).values_list(
            "segment_id", "lead_id"
        )
    )
    joined: dict[int, list[int]] = {}
    leaving = Q(pk__in=[])
    for segment in segments:
        predicate = compile_condition(segment.condition, fields)
        for record in records:
            key = (segment.pk, record["id"])
            if predicate(record) and key not in current:
                joined.setdefault(segment.pk, []).append(record["id"])
            elif not predicate(record) and key in current:
                leaving |= Q(segment_id=segment.pk, lead_id=record["id"])
    Membership.objects.filter(leaving).delete()
    Membership.objects.bulk_create(
        [
            Membership(segment_id=s, lead_id=lead_id, joined_at=now)
            for s, ids in joined.items()
            for lead_id in ids
        ],
        ignore_conflicts=True,
    )
    _recheck_windows(lead_ids=lead_ids, segments=segments, now=now)
    return joined


def _recheck_windows(*, lead_ids: list[int], segments: list[Segment], now: dt.datetime) -> None:
    """A segment over "in the last N days" changes when that window passes: re-check the lead then."""
    windows = {
        days for name, (_, _, days) in BEHAVIOUR.items() for s in segments if f"'{name}'" in str(s.condition)
    }
    if not windows:
        return
    from leadflow.nurture.tasks import leads_refresh

    if not leads_refresh.get_backend().supports_defer:
        return
    for days in windows:
        when = now + dt.timedelta(days=days, seconds=1)
        enqueue_after_commit(partial(_enqueue_refresh, lead_ids, when))


def list_add(
    *, segment: Segment, lead_ids: Iterable[int], actor: User | None, added_by: str = "manual"
) -> int:
    """Adds leads to a static list (by hand, in bulk or from a campaign); returns how many joined."""
    if segment.kind != SegmentKind.STATIC:
        raise NurtureError(
            {"segment": "Only static lists take leads by hand; a dynamic segment follows its rule."}
        )
    now = timezone.now()
    ids = set(lead_ids)
    current = set(segment.memberships.filter(lead_id__in=ids).values_list("lead_id", flat=True))
    new = sorted(ids - current)
    Membership.objects.bulk_create(
        [Membership(segment=segment, lead_id=lead_id, added_by=added_by, joined_at=now) for lead_id in new],
        batch_size=5000,
        ignore_conflicts=True,
    )
    _segment_joined(segment_id=segment.pk, lead_ids=new, now=now)
    return len(new)


def list_remove(*, segment: Segment, lead_ids: Iterable[int], actor: User | None) -> int:
    deleted, _ = segment.memberships.filter(lead_id__in=list(lead_ids)).delete()
    return deleted


def _segment_joined(*, segment_id: int, lead_ids: list[int], now: dt.datetime) -> None:
    if not lead_ids:
        return
    for campaign in _active_campaigns("segment_joined"):
        if campaign.trigger.get("segment_id") == segment_id:
            leads_enroll(campaign=campaign, lead_ids=lead_ids, reason=f"Joined segment {segment_id}", now=now)


# ----------------------------------------------------------------------------------------------------
# Templates
# ----------------------------------------------------------------------------------------------------


def template_save(
    *, template: Template | None = None, values: Mapping[str, Any], actor: User | None
) -> Template:
    """Creates or changes a template; an unknown placeholder in any part is rejected."""
    template = template or Template()
    errors: dict[str, str] = {}
    name = str(values.get("name", "")).strip()
    if not name:
        errors["name"] = "Give the template a name."
    elif Template.objects.exclude(pk=template.pk).filter(name__iexact=name).exists():
        errors["name"] = "Another template has this name."
    channel = values.get("channel", template.channel)
    if channel not in MessageChannel.values:
        errors["channel"] = "Choose email or sms."
    parts = {key: str(values.get(key) or "") for key in ("subject", "html", "text")}
    if not parts["text"].strip():
        errors["text"] = "The text part is required."
    if channel == MessageChannel.EMAIL and not parts["subject"].strip():
        errors["subject"] = "An email needs a subject."
    for key, text in parts.items():
        if problems := template_problems(text):
            errors[key] = "; ".join(problems)
    if errors:
        raise NurtureError(errors)
    template.name, template.channel = name, channel
    template.subject, template.html, template.text = parts["subject"], parts["html"], parts["text"]
    template.save()
    return template


_TOKEN = "__token__"


@lru_cache(maxsize=64)
def _link_pattern(name: str, base_url: str, prefix: str, urlconf: object) -> str:
    return base_url + reverse(name, args=[_TOKEN])


def _link(name: str, token: str) -> str:
    """The public URL of a tracked link for `token` (the pattern is resolved once; every message of a
    batch reuses it: tokens are URL-safe, so substituting them equals reversing each one)."""
    pattern = _link_pattern(name, settings.LEADFLOW_BASE_URL, get_script_prefix(), get_urlconf())
    return pattern.replace(_TOKEN, token)


def _context(lead: Lead, token: str) -> dict[str, dict[str, Any]]:
    owner = lead.owner
    lead_values = {
        name: getattr(lead, name, "")
        for name in (
            "first_name",
            "last_name",
            "email",
            "phone",
            "company",
            "job_title",
            "website",
            "country",
            "region",
            "city",
            "industry",
            "company_size",
            "product_interest",
            "language",
            "stage",
            "score",
        )
    }
    lead_values["full_name"] = f"{lead.first_name} {lead.last_name}".strip()
    owner_values = (
        {
            "first_name": owner.first_name,
            "last_name": owner.last_name,
            "email": owner.email,
            "full_name": owner.get_full_name(),
        }
        if owner
        else {}
    )
    preferences = _link("nurture:preferences", token)
    links = {"unsubscribe_url": preferences, "preferences_url": preferences}
    return {"lead": lead_values, "owner": owner_values, "link": links}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    unsubscribe_url: str


def lead_token(lead_id: int, delivery_id: int | None = None) -> str:
    """A signed token for a lead's links (and the delivery they came with)."""
    return signing.dumps([lead_id, delivery_id], salt=SIGNER_SALT, compress=True)


def token_read(token: str) -> tuple[int, int | None]:
    lead_id, delivery_id = signing.loads(token, salt=SIGNER_SALT)
    return int(lead_id), delivery_id


def template_render(*, template: Template, lead: Lead, delivery_id: int | None = None) -> Rendered:
    """The message for one lead: placeholders filled, links tracked, an open pixel in the HTML."""
    token = lead_token(lead.pk, delivery_id)
    context = _context(lead, token)
    html_part = ""
    if template.html:
        html_part = render(template.html, context, escape=True)
        if delivery_id is not None:
            click = _link("nurture:click", token)
            html_part = track_links(
                html_part, lambda url: f"{click}?u={signing.dumps(url, salt=SIGNER_SALT)}"
            )
            pixel = _link("nurture:open", token)
            html_part += f'<img src="{pixel}" width="1" height="1" alt="">'
    return Rendered(
        subject=render(template.subject, context),
        text=render(template.text, context),
        html=html_part,
        unsubscribe_url=context["link"]["unsubscribe_url"],
    )


def template_test_send(*, template: Template, lead: Lead, to: str, actor: User | None) -> None:
    """Sends the template rendered for `lead` to `to` (a colleague), marked as a test; no ledger entry."""
    rendered = template_render(template=template, lead=lead)
    sender = EmailSender()
    try:
        sender.send(
            Email(
                to=to,
                subject=f"[Test] {rendered.subject}",
                text=rendered.text,
                html=rendered.html,
                message_id=f"<test-{template.pk}-{timezone.now().timestamp()}@leadflow>",
                unsubscribe_url=rendered.unsubscribe_url,
            )
        )
    except SendError as err:
        raise NurtureError({"to": f"The test could not be sent: {err}"}) from err
    finally:
        sender.close()


# ----------------------------------------------------------------------------------------------------
# Campaigns and enrollment
# ----------------------------------------------------------------------------------------------------


def campaign_save(
    *, campaign: NurtureCampaign | None = None, values: Mapping[str, Any], actor: User | None
) -> NurtureCampaign:
    """Creates or changes a campaign after checking its trigger, goals and steps (templates, lists exist)."""
    campaign = campaign or NurtureCampaign()
    errors: dict[str, str] = {}
    name = str(values.get("name", "")).strip()
    if not name:
        errors["name"] = "Give the campaign a name."
    elif NurtureCampaign.objects.exclude(pk=campaign.pk).filter(name__iexact=name).exists():
        errors["name"] = "Another campaign has this name."
    status = values.get("status", campaign.status)
    if status not in CampaignStatus.values:
        errors["status"] = "Choose draft, active or paused."
    trigger = values.get("trigger") or {"type": "manual"}
    if not isinstance(trigger, Mapping) or trigger.get("type") not in plan.TRIGGERS:
        errors["trigger"] = f"type must be one of {', '.join(plan.TRIGGERS)}"
    elif (
        trigger["type"] == "segment_joined"
        and not Segment.objects.filter(pk=trigger.get("segment_id") or 0).exists()
    ):
        errors["trigger"] = "segment_joined needs an existing segment_id"
    elif trigger["type"] == "score_crossed" and not isinstance(trigger.get("score"), int):
        errors["trigger"] = "score_crossed needs a score (a whole number)"
    elif trigger["type"] == "stage_changed" and trigger.get("stage") not in Stage.values:
        errors["trigger"] = f"stage_changed needs a stage ({', '.join(Stage.values)})"
    goals = values.get("exit_goals") or []
    if not isinstance(goals, list) or not set(goals) <= set(plan.EXIT_GOALS):
        errors["exit_goals"] = f"choose from {', '.join(plan.EXIT_GOALS)}"
    steps = values.get("steps") or []
    problems = plan.steps_problems(steps, branch_fields(custom_field_specs()))
    if not problems:
        problems = _references_problems(steps)
    if problems:
        errors["steps"] = "; ".join(problems)
    if errors:
        raise NurtureError(errors)
    campaign.name, campaign.status, campaign.trigger = name, status, dict(trigger)
    campaign.exit_goals, campaign.steps = list(goals), list(steps)
    campaign.save()
    if status == CampaignStatus.ACTIVE:
        from leadflow.nurture.tasks import watchdog_start

        enqueue_after_commit(watchdog_start)
    return campaign


def _references_problems(steps: list[dict[str, Any]]) -> list[str]:
    templates = dict(Template.objects.values_list("pk", "channel"))
    lists = set(Segment.objects.filter(kind=SegmentKind.STATIC).values_list("pk", flat=True))
    problems = []
    for index, step in enumerate(steps, start=1):
        if step["type"] in {"email", "sms"} and templates.get(step["template_id"]) != step["type"]:
            problems.append(f"step {index}: template {step['template_id']} is not an {step['type']} template")
        if step["type"] == "list" and step["segment_id"] not in lists:
            problems.append(f"step {index}: list {step['segment_id']} is not a static list")
    return problems


def _active_campaigns(trigger: str) -> list[NurtureCampaign]:
    return [
        c
        for c in NurtureCampaign.objects.filter(status=CampaignStatus.ACTIVE)
        if c.trigger.get("type") == trigger
    ]


def leads_enroll(
    *, campaign: NurtureCampaign, lead_ids: Iterable[int], reason: str, now: dt.datetime | None = None
) -> int:
    """Enrolls leads (each at most once per campaign) and schedules their first step; returns how many."""
    now = now or timezone.now()
    ids = set(lead_ids)
    existing = set(
        Enrollment.objects.filter(campaign=campaign, lead_id__in=ids).values_list("lead_id", flat=True)
    )
    new = [
        Enrollment(
            campaign=campaign,
            lead_id=lead_id,
            due_at=now,
            step_started_at=now,
            enrolled_at=now,
            reason=reason[:300],
        )
        for lead_id in sorted(ids - existing)
    ]
    Enrollment.objects.bulk_create(new, batch_size=5000, ignore_conflicts=True)
    if new:
        _schedule({now})
    return len(new)


def _triggers_fire(
    *, lead_ids: list[int], joined: dict[int, list[int]], form_submitted: bool, now: dt.datetime
) -> None:
    for segment_id, ids in joined.items():
        _segment_joined(segment_id=segment_id, lead_ids=ids, now=now)
    if form_submitted:
        for campaign in _active_campaigns("form_submitted"):
            leads_enroll(campaign=campaign, lead_ids=lead_ids, reason="Submitted a form", now=now)
    for campaign in _active_campaigns("stage_changed"):
        staged = Lead.objects.filter(pk__in=lead_ids, stage=campaign.trigger["stage"]).values_list(
            "pk", flat=True
        )
        leads_enroll(
            campaign=campaign, lead_ids=staged, reason=f"Stage became {campaign.trigger['stage']}", now=now
        )
    for campaign in _active_campaigns("score_crossed"):
        scored = Lead.objects.filter(pk__in=lead_ids, score__gte=campaign.trigger["score"]).values_list(
            "pk", flat=True
        )
        leads_enroll(
            campaign=campaign, lead_ids=scored, reason=f"Score reached {campaign.trigger['score']}", now=now
        )


def _enqueue_run(when: dt.datetime) -> None:
    from leadflow.nurture.tasks import run

    run.using(run_after=when).enqueue(None)


def _enqueue_refresh(lead_ids: list[int], when: dt.datetime) -> None:
    from leadflow.nurture.tasks import leads_refresh

    leads_refresh.using(run_after=when).enqueue(lead_ids, False)


def _schedule(moments: set[dt.datetime]) -> None:
    """One run task per distinct second due (each run takes a batch and chains the next)."""
    from leadflow.nurture.tasks import run

    if not run.get_backend().supports_defer:
        enqueue_after_commit(lambda: run.enqueue(None))
        return
    seconds = {moment.replace(microsecond=0) + dt.timedelta(seconds=1) for moment in moments}
    for second in sorted(seconds):
        if second <= timezone.now():
            enqueue_after_commit(lambda: run.enqueue(None))
        else:
            enqueue_after_commit(partial(_enqueue_run, second))


# ----------------------------------------------------------------------------------------------------
# Running enrollments
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Step:
    """What running a step decided: move on (to `goto` or the next step), or wait until `due_at`."""

    note: str
    goto: int | None = None
    due_at: dt.datetime | None = None
    failed: bool = False


def enrollments_claim(*, limit: int, now: dt.datetime, enrollment_ids: list[int] | None = None) -> list[int]:
    """Leases up to `limit` due enrollments to this run; a killed run's lease expires and they are retaken."""
    lease = now + dt.timedelta(seconds=settings.LEADFLOW_NURTURE_LEASE_SECONDS)
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    with transaction.atomic():
        due = Enrollment.objects.filter(free, state=EnrollmentState.ACTIVE)
        if enrollment_ids is None:
            due = due.filter(due_at__lte=now).order_by("due_at")
        else:
            due = due.filter(pk__in=enrollment_ids)
        if transaction.get_connection().features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("pk", flat=True)[:limit])
        Enrollment.objects.filter(pk__in=ids).update(claimed_until=lease)
    return ids


def enrollments_run(
    *, enrollment_ids: list[int] | None = None, now: dt.datetime | None = None, woken: bool = False
) -> int:
    """Runs a batch of due (or the given) enrollments as far as they can go; returns how many it took.

    `woken` is set when behaviour arrived: waits whose until_condition now holds end early.
    """
    now = now or timezone.now()
    limit = settings.LEADFLOW_NURTURE_BATCH
    ids = enrollments_claim(limit=limit, now=now, enrollment_ids=enrollment_ids)
    if not ids:
        return 0
    enrollments = list(
        Enrollment.objects.filter(pk__in=ids).select_related("campaign", "lead", "lead__owner").order_by("pk")
    )
    runner = _Runner(now=now, woken=woken, enrollments=enrollments)
    try:
        runner.run(enrollments)
    finally:
        runner.sender.close()
        runner.pool.close()
        Enrollment.objects.filter(pk__in=ids).update(claimed_until=None)
    moments = set(runner.waits)
    if enrollment_ids is None and len(ids) == limit:
        moments.add(now)
    if moments:
        with transaction.atomic():
            _schedule(moments)
    return len(ids)


@dataclass
class _Outgoing:
    enrollment: Enrollment
    template: Template
    channel: str
    address: str
    key: str
    delivery: Delivery | None = None


class _Runner:
    """Runs one claimed batch. Sends are gathered into an outbox: the ledger rows of the whole outbox are
    written (and committed) first, then each message goes out over one reused connection and is marked
    sent on its own the moment the server accepts it; the timeline and enrollments are written in bulk."""

    def __init__(self, *, now: dt.datetime, woken: bool, enrollments: list[Enrollment]) -> None:
        self.now = now
        self.woken = woken
        self.sender = EmailSender()
        self.pool = EmailPool(settings.LEADFLOW_NURTURE_SMTP_CONNECTIONS)
        self.templates = {t.pk: t for t in Template.objects.all()}
        self.fields = branch_fields(custom_field_specs())
        self.quiet = plan.quiet_hours_parse(settings.LEADFLOW_NURTURE_QUIET_HOURS)
        self.waits: list[dt.datetime] = []
        lead_ids = [e.lead_id for e in enrollments]
        self.consents = {
            (lead_id, channel): state
            for lead_id, channel, state in Consent.objects.filter(lead_id__in=lead_ids).values_list(
                "lead_id", "channel", "state"
            )
        }
        addresses = {e.lead.email.strip().lower() for e in enrollments} | {
            e.lead.phone_e164 for e in enrollments
        }
        self.suppressed = dict(
            Suppression.objects.filter(address__in=[a for a in addresses if a]).values_list(
                "address", "reason"
            )
        )
        self.recent: dict[int, list[dt.datetime]] = {}
        for lead_id, sent_at in Delivery.objects.filter(
            lead_id__in=lead_ids, sent_at__gt=now - dt.timedelta(days=1)
        ).values_list("lead_id", "sent_at"):
            if sent_at is not None:
                self.recent.setdefault(lead_id, []).append(sent_at)
        self.ledger = {
            d.key: d for d in Delivery.objects.filter(enrollment_id__in=[e.pk for e in enrollments])
        }

    def run(self, enrollments: list[Enrollment]) -> None:
        pending = enrollments
        while pending:
            outbox = [item for e in pending if (item := self.advance(e)) is not None]
            pending = self._flush(outbox)

    def advance(self, enrollment: Enrollment) -> _Outgoing | None:
        """Runs steps until the enrollment waits, finishes or reaches a send (returned for the outbox)."""
        steps = enrollment.campaign.steps
        for _ in range(len(steps) + 1):
            if enrollment.campaign.status != CampaignStatus.ACTIVE:
                return None
            if goal := _goal_reached(enrollment):
                self._finish(enrollment, EnrollmentState.EXITED, goal)
                return None
            if enrollment.step >= len(steps):
                self._finish(enrollment, EnrollmentState.COMPLETED, "")
                return None
            step = steps[enrollment.step]
            if step["type"] in {"email", "sms"}:
                prepared = self._prepare(enrollment, step)
                if isinstance(prepared, _Outgoing):
                    return prepared
                with transaction.atomic():
                    self._record(enrollment, prepared)
            else:
                with transaction.atomic():
                    self._record(enrollment, self._run_step(enrollment, step))
            if enrollment.due_at != self.now:
                return None
        return None

    def _record(self, enrollment: Enrollment, outcome: _Step, *, save: bool = True) -> None:
        """Where the enrollment stands after a step: waiting (or retrying) until due_at, or moved on."""
        entry = {"step": enrollment.step + 1, "at": self.now.isoformat(), "note": outcome.note}
        enrollment.history = [*enrollment.history[-49:], entry]
        if outcome.due_at is not None:
            enrollment.due_at = outcome.due_at
            if outcome.failed:
                enrollment.attempts += 1
                enrollment.last_error = outcome.note[:500]
            self.waits.append(outcome.due_at)
        else:
            enrollment.step = outcome.goto if outcome.goto is not None else enrollment.step + 1
            enrollment.step_started_at, enrollment.due_at = self.now, self.now
            enrollment.attempts, enrollment.last_error = 0, ""
        if save:
            enrollment.save(
                update_fields=["step", "step_started_at", "due_at", "attempts", "last_error", "history"]
            )

    def _finish(self, enrollment: Enrollment, state: str, reason: str) -> None:
        enrollment.state, enrollment.exit_reason = state, reason
        enrollment.due_at, enrollment.finished_at = None, self.now
        enrollment.save(
            update_fields=[
                "state",
                "exit_reason",
                "due_at",
                "finished_at",
                "step",
                "step_started_at",
                "attempts",
                "last_error",
                "history",
            ]
        )

    def _run_step(self, enrollment: Enrollment, step: Mapping[str, Any]) -> _Step:
        kind = step["type"]
        lead = enrollment.lead
        if kind == "wait":
            return self._wait(enrollment, step)
        if kind == "branch":
            held = compile_condition(step["condition"], self.fields)(self._branch_record(enrollment))
            target = step["then"] if held else step["else"]
            return _Step(
                note=f"Branch: condition {'held' if held else 'did not hold'} → step {target}",
                goto=target - 1,
            )
        if kind == "update":
            return _Step(note=_field_update(lead, step["field"], str(step["value"])))
        if kind == "list":
            segment = Segment.objects.get(pk=step["segment_id"])
            if step["action"] == "add":
                list_add(segment=segment, lead_ids=[lead.pk], actor=None, added_by="campaign")
                return _Step(note=f"Added to list {segment.name}")
            list_remove(segment=segment, lead_ids=[lead.pk], actor=None)
            return _Step(note=f"Removed from list {segment.name}")
        if kind == "task":
            due = self.now + dt.timedelta(hours=float(step.get("due_hours", 24)))
            Task.objects.create(lead=lead, assignee=lead.owner, title=step["title"][:200], due_at=due)
            return _Step(note=f"Task “{step['title']}” for {lead.owner or 'the unassigned pool'}")
        if kind == "notify":
            return self._notify(enrollment, step)
        return self._handoff(enrollment)

    def _wait(self, enrollment: Enrollment, step: Mapping[str, Any]) -> _Step:
        tz = plan.zone(enrollment.lead.timezone)
        if (
            "until_condition" in step
            and self.woken
            and compile_condition(step["until_condition"], self.fields)(self._branch_record(enrollment))
        ):
            return _Step(note="Wait ended early: its condition holds")
        if "minutes" in step:
            until = enrollment.step_started_at + dt.timedelta(minutes=float(step["minutes"]))
        elif "until" in step:
            until = dt.datetime.fromisoformat(step["until"])
            until = until if until.tzinfo else until.replace(tzinfo=tz)
        else:
            until = plan.next_in_window(self.now, step["window"], tz)
        if until <= self.now:
            return _Step(note="Waited")
        return _Step(note=f"Waiting until {until:%Y-%m-%d %H:%M} UTC", due_at=until)

    def _branch_record(self, enrollment: Enrollment) -> dict[str, Any]:
        record = _records([enrollment.lead_id], self.now)[0]
        sent = Delivery.objects.filter(enrollment=enrollment)
        record["opened"] = sent.filter(opened_at__isnull=False).exists()
        record["clicked"] = sent.filter(clicked_at__isnull=False).exists()
        record["replied"] = _replied(enrollment.lead, since=enrollment.enrolled_at)
        record["visited"] = enrollment.lead.activities.filter(
            kind=ActivityKind.PAGE_VIEW, occurred_at__gte=enrollment.enrolled_at
        ).exists()
        return record

    def _prepare(self, enrollment: Enrollment, step: Mapping[str, Any]) -> "_Step | _Outgoing":
        """A send step: already done, not allowed (skipped), not now (quiet hours, cap), or ready to go."""
        lead = enrollment.lead
        channel = step["type"]
        address = lead.email.strip() if channel == MessageChannel.EMAIL else lead.phone_e164
        key = f"{enrollment.pk}:{enrollment.step}"
        delivery = self.ledger.get(key)
        if delivery is not None and delivery.status in {
            DeliveryStatus.SENT,
            DeliveryStatus.SKIPPED,
            DeliveryStatus.BOUNCED,
        }:
            return _Step(note=f"Already {delivery.status}; not sent again")
        if blocked := self._blocked(lead, channel, address):
            if delivery is None:
                delivery = Delivery(
                    key=key,
                    enrollment=enrollment,
                    campaign_id=enrollment.campaign_id,
                    lead=lead,
                    step=enrollment.step,
                    channel=channel,
                    address=address or "",
                )
            delivery.status, delivery.error = DeliveryStatus.SKIPPED, blocked
            delivery.save()
            return _Step(note=f"Not sent: {blocked}")
        later = plan.after_quiet_hours(self.now, self.quiet, plan.zone(lead.timezone))
        if later > self.now:
            return _Step(
                note=f"Quiet hours in {lead.timezone or 'UTC'}: sends at {later:%H:%M} UTC", due_at=later
            )
        if (capped := self._capped_until(lead)) is not None:
            return _Step(
                note=f"Frequency cap reached: sends after {capped:%Y-%m-%d %H:%M} UTC", due_at=capped
            )
        self.recent.setdefault(lead.pk, []).append(self.now)
        return _Outgoing(enrollment, self.templates[step["template_id"]], channel, address, key, delivery)

    def _blocked(self, lead: Lead, channel: str, address: str) -> str:
        """Why this lead may not be sent to on this channel now ("" = it may); checked at every send."""
        if not address:
            return (
                f"the lead has no {'email address' if channel == MessageChannel.EMAIL else 'mobile number'}"
            )
        consent = self.consents.get((lead.pk, channel))
        if consent != ConsentState.GRANTED:
            return f"no {channel} opt-in ({consent or 'never asked'})"
        if suppressed := self.suppressed.get(address.lower()):
            return f"the address is suppressed ({suppressed})"
        return ""

    def _capped_until(self, lead: Lead) -> dt.datetime | None:
        """When the lead may get another message, if the cap across all campaigns is reached."""
        cap = settings.LEADFLOW_NURTURE_MAX_PER_DAY
        recent = sorted(self.recent.get(lead.pk, []), reverse=True)
        if cap <= 0 or len(recent) < cap:
            return None
        return recent[cap - 1] + dt.timedelta(days=1)

    def _flush(self, outbox: list[_Outgoing]) -> list[Enrollment]:
        """Sends the outbox; returns the enrollments that moved on (they continue in this run)."""
        if not outbox:
            return []
        fresh = [
            Delivery(
                key=item.key,
                enrollment=item.enrollment,
                campaign_id=item.enrollment.campaign_id,
                lead=item.enrollment.lead,
                step=item.enrollment.step,
                channel=item.channel,
                address=item.address,
                status=DeliveryStatus.SENDING,
                attempts=1,
                created_at=self.now,
                message_id=f"<nurture-{item.key.replace(':', '-')}@leadflow>",
            )
            for item in outbox
            if item.delivery is None
        ]
        # Autocommit: the ledger rows are saved before any message leaves, and the stable Message-ID and
        # idempotency key go out with every attempt, so a crash mid-send is recognised on retry.
        Delivery.objects.bulk_create(fresh, batch_size=1000)
        by_key = {d.key: d for d in fresh}
        retried = [item.delivery for item in outbox if item.delivery is not None]
        for delivery in retried:
            delivery.status, delivery.attempts = DeliveryStatus.SENDING, delivery.attempts + 1
        Delivery.objects.bulk_update(retried, ["status", "attempts"], batch_size=1000)
        activities, moved = [], []
        started = [(item, item.delivery or by_key[item.key]) for item in outbox]
        in_flight = {self._start(item, delivery): (item, delivery) for item, delivery in started}
        for future in as_completed(in_flight):
            item, delivery = in_flight[future]
            outcome = self._settle(item, delivery, future)
            if outcome.due_at is None and delivery.status == DeliveryStatus.SENT:
                activities.append(
                    Activity(
                        lead=item.enrollment.lead,
                        kind=ActivityKind.EMAIL
                        if item.channel == MessageChannel.EMAIL
                        else ActivityKind.EVENT,
                        summary=f"Nurture {item.channel} sent: {item.template.name}"[:300],
                        occurred_at=self.now,
                        payload={
                            "event": f"{item.channel}_sent",
                            "direction": "outbound",
                            "campaign": item.enrollment.campaign.name,
                            "delivery_id": delivery.pk,
                        },
                    )
                )
            # A sent step is saved with whatever the enrollment does next (the ledger already has it).
            self._record(item.enrollment, outcome, save=outcome.due_at is not None)
            if outcome.due_at is None:
                moved.append(item.enrollment)
        Activity.objects.bulk_create(activities, batch_size=1000)
        Lead.objects.filter(pk__in=[a.lead_id for a in activities]).update(last_activity_at=self.now)
        return moved

    def _start(self, item: _Outgoing, delivery: Delivery) -> "Future[None]":
        """Renders the message and hands it to the SMTP pool (or sends the SMS); a future of the send."""
        lead = item.enrollment.lead
        if item.channel == MessageChannel.EMAIL:
            rendered = template_render(template=item.template, lead=lead, delivery_id=delivery.pk)
            return self.pool.submit(
                Email(
                    to=delivery.address,
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                    message_id=delivery.message_id,
                    unsubscribe_url=rendered.unsubscribe_url,
                )
            )
        future: Future[None] = Future()
        try:
            body = template_render(template=item.template, lead=lead).text
            delivery.message_id = sms_provider().send(
                to=delivery.address, body=body, idempotency_key=delivery.key
            )
        except SendError as err:
            future.set_exception(err)
        else:
            future.set_result(None)
        return future

    def _settle(self, item: _Outgoing, delivery: Delivery, future: "Future[None]") -> _Step:
        """Records a send's result in the ledger the moment it is known."""
        try:
            future.result()
        except SendError as err:
            if err.permanent:
                delivery.status, delivery.error = DeliveryStatus.BOUNCED, str(err)[:500]
                delivery.save(update_fields=["status", "error"])
                suppress(
                    channel=delivery.channel,
                    address=delivery.address,
                    reason=SuppressionReason.BOUNCE,
                    detail=str(err),
                )
                return _Step(note=f"Refused by the server; address suppressed: {err}")
            delivery.status, delivery.error = DeliveryStatus.FAILED, str(err)[:500]
            delivery.save(update_fields=["status", "error"])
            backoff = min(dt.timedelta(seconds=30 * 2**item.enrollment.attempts), MAX_BACKOFF)
            return _Step(
                note=f"Send failed, retrying in {int(backoff.total_seconds())} s: {err}",
                due_at=self.now + backoff,
                failed=True,
            )
        delivery.status, delivery.sent_at, delivery.error = DeliveryStatus.SENT, self.now, ""
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # The ledger row was committed durably before the send. Its "sent" mark needs no flush
                # to disk of its own: PostgreSQL still applies it in order, and only a crash of the
                # database server in the next ~0.6 s could lose it (the step would then be resent,
                # with the same Message-ID, as after a worker killed right after the server's 250).
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            Delivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.SENT, sent_at=self.now, error="", message_id=delivery.message_id
            )
        return _Step(note=f"Sent {item.channel} “{item.template.name}” to {delivery.address}")

    def _notify(self, enrollment: Enrollment, step: Mapping[str, Any]) -> _Step:
        """Tells the owner through routing's notifications: in the app, by email and to the webhooks."""
        lead = enrollment.lead
        if lead.owner is None:
            return _Step(note="No owner to notify")
        notification_send(
            recipient=lead.owner,
            title=step["title"][:200],
            body=f"From the campaign “{enrollment.campaign.name}”.",
            lead=lead,
            team_id=lead.team_id,
            now=self.now,
        )
        return _Step(note=f"Notified {lead.owner}")

    def _handoff(self, enrollment: Enrollment) -> _Step:
        lead = enrollment.lead
        if lead.stage != Stage.SQL:
            lead_stage_change(
                lead=lead,
                stage=Stage.SQL,
                reason=f"Handed off by campaign {enrollment.campaign.name}",
                actor=None,
            )
        outcome = leads_route(leads=[lead], now=self.now)[lead.pk]
        lead.save(update_fields=["owner", "team", "assigned_at", "updated_at"])
        Activity.objects.bulk_create(outcome.activities)
        return _Step(note=f"Handed off to sales: SQL; {outcome.summary}")


def _field_update(lead: Lead, field: str, value: str) -> str:
    if field == "stage":
        lead_stage_change(lead=lead, stage=value, reason="Set by a nurture campaign", actor=None)
    elif field == "status":
        lead_status_change(lead=lead, status=value, reason="Set by a nurture campaign", actor=None)
    else:
        setattr(lead, field, value)
        lead.save(update_fields=[field, "updated_at"])
        activity_create(
            lead=lead,
            kind=ActivityKind.FIELD_CHANGE,
            summary=f"{field} set to {value} by a campaign",
            payload={"changes": {field: value}},
        )
    return f"Set {field} to {value}"


def _unsubscribed(lead: Lead, channel: str) -> bool:
    return Consent.objects.filter(lead=lead, channel=channel, state=ConsentState.DENIED).exists()


# ----------------------------------------------------------------------------------------------------
# Behaviour on messages, consent, suppression
# ----------------------------------------------------------------------------------------------------


def _engagement(lead: Lead, event: str, summary: str, payload: dict[str, Any]) -> Activity:
    activity = activity_create(
        lead=lead, kind=ActivityKind.EVENT, summary=summary, payload={"event": event, **payload}
    )
    activity_score(lead=lead, activity=activity)
    activity_received(activity=activity)
    return activity


@transaction.atomic
def delivery_opened(*, lead_id: int, delivery_id: int | None) -> None:
    """The open pixel was loaded: the first open is recorded as an activity (it feeds scoring)."""
    delivery = (
        Delivery.objects.select_related("lead", "campaign")
        .filter(pk=delivery_id or 0, lead_id=lead_id)
        .first()
    )
    if delivery is None or delivery.opened_at is not None:
        return
    delivery.opened_at = timezone.now()
    delivery.save(update_fields=["opened_at"])
    _engagement(
        delivery.lead,
        "email_opened",
        f"Opened “{delivery.campaign.name}” email",
        {"delivery_id": delivery.pk},
    )


@transaction.atomic
def delivery_clicked(*, lead_id: int, delivery_id: int | None, url: str) -> None:
    """A tracked link was followed: recorded as an activity (and as an open, if the pixel was blocked)."""
    delivery = (
        Delivery.objects.select_related("lead", "campaign")
        .filter(pk=delivery_id or 0, lead_id=lead_id)
        .first()
    )
    if delivery is None:
        return
    now = timezone.now()
    delivery.clicked_at = delivery.clicked_at or now
    delivery.opened_at = delivery.opened_at or now
    delivery.save(update_fields=["opened_at", "clicked_at"])
    _engagement(
        delivery.lead,
        "email_clicked",
        f"Clicked {url[:200]}",
        {"delivery_id": delivery.pk, "properties": {"url": url}},
    )


def email_reply_received(*, activity: Activity, in_reply_to: Iterable[str] = ()) -> Delivery | None:
    """An inbound email from a lead: marks the campaign email it answers as replied, then lets segments,
    waits and the "replied" exit goal react. Returns the delivery replied to, if it was one of ours."""
    delivery = delivery_replied_to(lead_id=activity.lead_id, message_ids=in_reply_to)
    if delivery is not None and delivery.replied_at is None:
        delivery.replied_at = activity.occurred_at
        delivery.save(update_fields=["replied_at"])
    activity_received(activity=activity)
    return delivery


@transaction.atomic
def lead_unsubscribe(*, lead: Lead, channel: str, method: str, delivery_id: int | None = None) -> None:
    """Opts the lead out of a channel (kept as consent with proof); enrollments exit at their next step."""
    consent_record(
        lead=lead, channel=channel, state=ConsentState.DENIED, method=method, text_shown="Unsubscribe"
    )
    if delivery_id is not None:
        Delivery.objects.filter(pk=delivery_id, lead=lead, unsubscribed_at__isnull=True).update(
            unsubscribed_at=timezone.now()
        )
    leads_changed(lead_ids=[lead.pk])


@transaction.atomic
def lead_subscribe(*, lead: Lead, channel: str, method: str, text_shown: str) -> Consent:
    """Opt-in with proof; with double opt-in an email consent stays pending until the lead confirms."""
    state = ConsentState.GRANTED
    if (
        channel == ConsentChannel.EMAIL
        and settings.LEADFLOW_NURTURE_DOUBLE_OPT_IN
        and method != "double opt-in"
    ):
        state = ConsentState.PENDING
    consent = consent_record(lead=lead, channel=channel, state=state, method=method, text_shown=text_shown)
    if state == ConsentState.PENDING:
        url = settings.LEADFLOW_BASE_URL + reverse("nurture:confirm", args=[lead_token(lead.pk)])
        sender = EmailSender()
        try:
            sender.send(
                Email(
                    to=lead.email,
                    subject="Please confirm your subscription",
                    html="",
                    text=f"{text_shown}\n\nConfirm: {url}",
                    message_id=f"<confirm-{lead.pk}-{consent.pk}@leadflow>",
                    unsubscribe_url=url,
                )
            )
        finally:
            sender.close()
    return consent


def suppress(*, channel: str, address: str, reason: str, detail: str = "") -> bool:
    """Adds an address to the suppression list; returns False if it was already there."""
    try:
        with transaction.atomic():
            Suppression.objects.create(
                channel=channel, address=address.strip().lower(), reason=reason, detail=detail[:500]
            )
    except IntegrityError:
        return False
    return True


def bounce_process(*, raw: bytes) -> list[str]:
    """Parses a bounce (DSN or a non-standard format, via flufl.bounce) and suppresses its addresses."""
    from email import message_from_bytes

    from flufl.bounce import scan_message

    found = sorted(
        a.decode(errors="replace") if isinstance(a, bytes) else str(a)
        for a in scan_message(message_from_bytes(raw))
    )
    for address in found:
        suppress(
            channel=MessageChannel.EMAIL,
            address=address,
            reason=SuppressionReason.BOUNCE,
            detail="bounce message",
        )
        Delivery.objects.filter(
            channel=MessageChannel.EMAIL, address__iexact=address, status=DeliveryStatus.SENT
        ).update(status=DeliveryStatus.BOUNCED)
    return found
