"""The one intake flow: every source's submissions run these ordered steps.

1. persist_raw   the submission is saved before anything else (by the caller, committed)
2. normalize     fields are validated and normalized; failures quarantine the submission
3. identify      an existing lead is matched by external id, email or phone
4. upsert        the lead is created or updated, with a touch and a timeline entry
5. score         scoring.services.leads_score
6. qualify       scoring.services.leads_qualify
7. route         routing.services.leads_route
8. follow_ups    nurture.services.leads_schedule_follow_ups

The flow works on a batch: one submission for the API, thousands for an import. Every step is
set-based, so both forms share one implementation and give the same result. Each step's outcome
and duration is appended to the submission's trace.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from leadflow.access.models import User
from leadflow.capture.models import Outcome, Submission, SubmissionStatus
from leadflow.capture.parse import ParsedSubmission, parse_submission
from leadflow.core.db import bulk_insert, bulk_update_fast, ids_reserve, new_instance, rows_for_update
from leadflow.hygiene import services as hygiene
from leadflow.hygiene.matching import is_placeholder
from leadflow.leads.fields import ATTRIBUTION_FIELDS, CustomFieldSpec
from leadflow.leads.models import (
    Activity,
    ActivityKind,
    Channel,
    Consent,
    ConsentState,
    IdentityKind,
    Lead,
    LeadIdentity,
    Source,
    StageTransition,
    Touch,
)
from leadflow.leads.selectors import custom_field_specs, identities_owners, sources_by_name
from leadflow.leads.services import lead_apply_custom, lead_apply_values
from leadflow.leads.steps import StepOutcome
from leadflow.nurture.services import leads_schedule_follow_ups
from leadflow.routing.services import leads_route
from leadflow.scoring.services import leads_qualify, leads_score

STEPS = ("persist_raw", "normalize", "identify", "upsert", "score", "qualify", "route", "follow_ups")

# Fields the domain steps may change; saved once at the end of the flow.
FLUSH_FIELDS = [
    "score",
    "fit_score",
    "engagement_score",
    "grade",
    "stage",
    "status",
    "owner",
    "team",
    "assigned_at",
    "qualified_at",
    "converted_at",
    "first_touch",
    "last_touch",
    "last_activity_at",
    "updated_at",
]


@dataclass(eq=False)
class IntakeItem:
    """One submission on its way through the flow."""

    submission: Submission
    parsed: ParsedSubmission | None = None
    lead: Lead | None = None
    group: "_Group | None" = None
    changes: dict[str, list[Any]] = field(default_factory=dict)
    touch: Touch | None = None
    suspect: "hygiene.Suspect | None" = None  # a possible duplicate, queued for review after upsert

    def note(self, step: str, status: str, summary: str, ms: float, **detail: Any) -> None:
        entry = {"step": step, "status": status, "summary": summary, "ms": round(ms, 3)}
        if detail:
            entry["detail"] = detail
        self.submission.trace.append(entry)


@dataclass(eq=False)
class _Group:
    """The lead a run of items resolves to: an existing one, or one this batch creates."""

    lead: Lead | None = None
    existing_id: int | None = None
    items: list[IntakeItem] = field(default_factory=list)
    new_identities: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def _timed() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    yield lambda: (time.perf_counter() - start) * 1000


class IntakeFlow:
    """Runs steps 2–8 over a batch of persisted submissions, inside the caller's transaction."""

    def __init__(self, *, actor: User | None = None, alert_owners: bool = True) -> None:
        self.actor = actor
        self.actor_id = actor.pk if actor else None
        self.alert_owners = alert_owners
        self.now = timezone.now()
        self.specs: dict[str, CustomFieldSpec] = custom_field_specs()
        self.activities: list[Activity] = []
        self.transitions: list[StageTransition] = []
        self.new_leads: list[Lead] = []

    def run(self, items: list[IntakeItem]) -> None:
        for item in items:
            item.submission.attempts += 1
            item.submission.processed_at = self.now
        with _timed() as elapsed:
            self._normalize(items)
            valid = [i for i in items if i.parsed is not None and not i.parsed.errors]
            self._resolve_sources(valid)
            ms = elapsed() / len(items)
        for item in items:
            if item in valid:
                source = f" Source: {item.submission.source}." if item.submission.source_id else ""
                item.note("normalize", "ok", "Fields are valid." + source, ms)
            else:
                assert item.parsed is not None
                item.submission.status = SubmissionStatus.QUARANTINED
                item.submission.errors = item.parsed.errors
                item.note("normalize", "failed", "Quarantined: " + "; ".join(item.parsed.errors.values()), ms)
        if valid:
            self._identify(valid)
            self._upsert(valid)
            self._after_upsert_hygiene(valid)
            self._domain_steps(valid)
            self._flush(valid)
        bulk_update_fast(
            [i.submission for i in items],
            ["status", "outcome", "errors", "trace", "lead", "attempts", "processed_at", "source"],
        )

    # 2. normalize
    def _normalize(self, items: list[IntakeItem]) -> None:
        region = settings.LEADFLOW_DEFAULT_REGION
        for item in items:
            item.parsed = parse_submission(
                item.submission.payload, custom_fields=self.specs, default_region=region
            )

    # 3. identify
    def _identify(self, items: list[IntakeItem]) -> None:
        with _timed() as elapsed:
            keys_by_item = [self._identity_keys(item) for item in items]
            known = identities_owners(keys={key for keys in keys_by_item for key in keys})
            groups: dict[tuple[str, str], _Group] = {}
            existing: dict[int, _Group] = {}

            def owner_of(key: tuple[str, str]) -> _Group | None:
                if key in groups:
                    return groups[key]
                if key in known:
                    return existing.setdefault(known[key], _Group(existing_id=known[key]))
                return None

            notes = []
            for item, keys in zip(items, keys_by_item, strict=True):
                group, matched_by = None, None
                for key in keys:
                    if (group := owner_of(key)) is not None:
                        matched_by = key
                        break
                group = group or _Group()
                conflicts = []
                for key in keys:
                    owner = owner_of(key)
                    if owner is None:
                        groups[key] = group
                        group.new_identities.append(key)
                    elif owner is not group:
                        conflicts.append(
                            f"{key[0]} {key[1]} belongs to another lead; left for duplicate review"
                        )
                group.items.append(item)
                item.group = group
                if matched_by is None:
                    notes.append(("new", "No existing lead matched: a new lead will be created.", conflicts))
                else:
                    notes.append(("matched", f"Matched an existing lead by {matched_by[0]}.", conflicts))
            self._fuzzy_identify(items, notes, existing)
        for item, (status, summary, conflicts) in zip(items, notes, strict=True):
            detail = {"conflicts": conflicts} if conflicts else {}
            item.note("identify", status, summary, elapsed() / len(items), **detail)

    def _fuzzy_identify(
        self, items: list[IntakeItem], notes: list[tuple[str, str, list[str]]], existing: dict[int, _Group]
    ) -> None:
        """Items about to create a lead are checked against similar leads (hygiene's engine, indexed
        blocking keys): above the auto-merge threshold they join that lead, above the review threshold
        the pair is queued for review once the lead exists."""
        fresh = [
            i for i, item in enumerate(items) if item.group is not None and item.group.existing_id is None
        ]
        if not fresh:
            return
        parsed = [items[i].parsed for i in fresh]
        records = [hygiene.lead_record({**p.values, "custom": p.custom}) for p in parsed if p is not None]
        auto_merge = hygiene.matcher().config.auto_merge
        for i, suspect in zip(fresh, hygiene.records_suspects(records=records), strict=True):
            item, group = items[i], items[i].group
            if suspect is None or group is None:
                continue
            conflicts = notes[i][2]
            automatic = suspect.probability >= auto_merge and not suspect.identifier_conflicts
            if automatic and group.existing_id is None:
                target = existing.get(suspect.lead_id)
                if target is None:
                    group.existing_id = suspect.lead_id
                    existing[suspect.lead_id] = group
                elif target is not group:
                    target.items += group.items
                    target.new_identities += group.new_identities
                    for moved in group.items:
                        moved.group = target
                    group.items, group.new_identities = [], []
                summary = (
                    f"Matched existing lead {suspect.lead_id} as a duplicate "
                    f"(probability {suspect.probability:.3f}: {suspect.reasons})."
                )
                notes[i] = ("matched", summary, conflicts)
            elif not automatic:
                item.suspect = suspect
                differing = " and ".join(suspect.identifier_conflicts)
                why = f"; not merged automatically: the {differing} differ" if differing else ""
                summary = (
                    f"{notes[i][1]} Possible duplicate of lead {suspect.lead_id} "
                    f"(probability {suspect.probability:.3f}: {suspect.reasons}{why}): queued for review."
                )
                notes[i] = (notes[i][0], summary, conflicts)

    def _after_upsert_hygiene(self, items: list[IntakeItem]) -> None:
        """Queues possible duplicates, refreshes blocking keys, links leads to their accounts."""
        leads = list({item.lead.pk: item.lead for item in items if item.lead is not None}.values())
        hygiene.candidates_record(
            pairs=[
                (item.lead.pk, item.suspect.lead_id, item.suspect)
                for item in items
                if item.suspect is not None and item.lead is not None and item.lead.pk != item.suspect.lead_id
            ],
            found_by="capture",
        )
        new_ids = {item.lead.pk for item in items if item.lead and item.submission.outcome == Outcome.CREATED}
        linked = hygiene.leads_index(leads=leads, new_ids=new_ids)
        hygiene.leads_email_check_enqueue(leads=leads)
        for item in items:
            if item.lead is not None and item.lead.pk in linked:
                entry = next(e for e in item.submission.trace if e["step"] == "identify")
                entry["summary"] += " " + linked[item.lead.pk]

    def _identity_keys(self, item: IntakeItem) -> list[tuple[str, str]]:
        """Identity keys in matching priority: external id, then email, then phone."""
        parsed = item.parsed
        assert parsed is not None
        keys = []
        if parsed.external_id:
            scope = item.submission.source_id or item.submission.channel
            keys.append((IdentityKind.EXTERNAL_ID.value, f"{scope}:{parsed.external_id}"))
        # Placeholder addresses and numbers (test@test.com, 0000000) identify nobody.
        if (email := parsed.values.get("email_normalized")) and not is_placeholder(email):
            keys.append((IdentityKind.EMAIL.value, email))
        if (phone := parsed.values.get("phone_e164")) and not is_placeholder(phone):
            keys.append((IdentityKind.PHONE.value, phone))
        return keys

    # 4. upsert
    def _upsert(self, items: list[IntakeItem]) -> None:
        with _timed() as elapsed:
            groups = list(dict.fromkeys(item.group for item in items if item.group is not None))
            existing_ids = [g.existing_id for g in groups if g.existing_id is not None]
            existing = rows_for_update(Lead, existing_ids, related="owner")
            new_leads = []
            for group in groups:
                if group.existing_id is not None:
                    group.lead = existing[group.existing_id]
                else:
                    group.lead = new_instance(Lead, created_at=self.now, updated_at=self.now)
                    new_leads.append(group.lead)
                for item in group.items:
                    item.lead = group.lead
                    item.changes = self._apply(item, group.lead)
            # A new lead takes its id now and is written once, with the steps' results, by _flush.
            for lead, new_id in zip(new_leads, ids_reserve(Lead, len(new_leads)), strict=True):
                lead.pk = new_id
            self.new_leads = new_leads
            new_ids = {lead.pk for lead in new_leads}
            bulk_insert(
                [
                    new_instance(
                        LeadIdentity, lead_id=group.lead.pk, kind=kind, value=value, created_at=self.now
                    )
                    for group in groups
                    if group.lead is not None
                    for kind, value in group.new_identities
                ]
            )
            changed_existing = [g.lead for g in groups if g.lead is not None and g.lead.pk not in new_ids]
            update_fields = {
                name for item in items if item.lead and item.lead.pk not in new_ids for name in item.changes
            }
            if changed_existing and update_fields:
                bulk_update_fast(
                    changed_existing, sorted({f.split(".")[0] for f in update_fields} | {"updated_at"})
                )
            seen: set[int] = set()
            for item in items:
                assert item.lead is not None
                created = item.lead.pk in new_ids and item.lead.pk not in seen
                seen.add(item.lead.pk)
                item.submission.outcome = Outcome.CREATED if created else Outcome.UPDATED
                item.submission.lead = item.lead
            self._touches_and_timeline(items)
        for item in items:
            assert item.lead is not None
            summary = (
                f"Created lead {item.lead.pk}."
                if item.submission.outcome == Outcome.CREATED
                else f"Updated lead {item.lead.pk}: {', '.join(item.changes) or 'nothing changed'}."
            )
            item.note(
                "upsert",
                item.submission.outcome,
                summary,
                elapsed() / len(items),
                changed=sorted(item.changes),
            )

    def _resolve_sources(self, items: list[IntakeItem]) -> None:
        """Points each submission at the source its payload names; unknown names become new sources."""
        found: dict[str, Source] = {}
        for item in items:
            assert item.parsed is not None
            if not (name := item.parsed.source_name):
                continue
            if not found:
                found = dict(sources_by_name())
            if name.lower() not in found:
                found[name.lower()] = Source.objects.create(name=name, channel=item.submission.channel)
            item.submission.source = found[name.lower()]

    def _apply(self, item: IntakeItem, lead: Lead) -> dict[str, list[Any]]:
        parsed = item.parsed
        assert parsed is not None
        changes = lead_apply_values(lead=lead, values=parsed.values)
        changes.update(lead_apply_custom(lead=lead, custom=parsed.custom, extra=parsed.extra))
        if parsed.is_test and lead.pk is None:
            lead.is_test = True
            changes["is_test"] = [False, True]
        if lead.source_id is None and item.submission.source_id is not None:
            lead.source_id = item.submission.source_id
            changes["source"] = [None, item.submission.source_id]
        lead.updated_at = self.now
        lead.last_activity_at = self.now
        return changes

    def _touches_and_timeline(self, items: list[IntakeItem]) -> None:
        touches = []
        for item in items:
            assert item.lead is not None and item.parsed is not None
            attribution = {k: v for k, v in item.parsed.attribution.items() if k in ATTRIBUTION_FIELDS}
            item.touch = new_instance(
                Touch,
                lead_id=item.lead.pk,
                submission_id=item.submission.pk,
                channel=item.submission.channel,
                source_id=item.submission.source_id,
                occurred_at=self.now,
                **attribution,
            )
            touches.append(item.touch)
        bulk_insert(touches)
        for item in items:
            lead, parsed = item.lead, item.parsed
            assert lead is not None and item.touch is not None and parsed is not None
            if lead.first_touch_id is None:
                lead.first_touch = item.touch
            lead.last_touch = item.touch
            self.activities.append(
                new_instance(
                    Activity,
                    lead_id=lead.pk,
                    kind=ActivityKind.CAPTURE,
                    summary=_capture_summary(item),
                    payload={
                        "channel": item.submission.channel,
                        "changes": item.changes,
                        **parsed.attribution,
                    },
                    actor_id=self.actor_id,
                    submission_id=item.submission.pk,
                    occurred_at=self.now,
                )
            )
            for channel, consent in parsed.consent.items():
                state = ConsentState.GRANTED if consent.granted else ConsentState.DENIED
                method = consent.method or f"{item.submission.get_channel_display()} submission"
                Consent.objects.update_or_create(
                    lead=lead,
                    channel=channel,
                    defaults={
                        "state": state,
                        "method": method,
                        "text_shown": consent.text,
                        "submission_id": item.submission.pk,
                        "recorded_at": self.now,
                    },
                )
                self.activities.append(
                    Activity(
                        lead=lead,
                        kind=ActivityKind.CONSENT,
                        summary=f"{channel} consent: {state} ({method})",
                        payload={
                            "channel": channel,
                            "state": state,
                            "method": method,
                            "text_shown": consent.text,
                        },
                        actor=self.actor,
                        submission_id=item.submission.pk,
                        occurred_at=self.now,
                    )
                )

    # 5–8: domain steps, once per lead
    def _domain_steps(self, items: list[IntakeItem]) -> None:
        leads = list({item.lead.pk: item.lead for item in items if item.lead is not None}.values())
        unowned = {lead.pk for lead in leads if lead.owner_id is None}
        steps: list[tuple[str, Callable[[], dict[int, StepOutcome]]]] = [
            ("score", lambda: leads_score(leads=leads)),
            ("qualify", lambda: leads_qualify(leads=leads)),
            ("route", lambda: leads_route(leads=leads, alert_owners=self.alert_owners)),
            (
                "follow_ups",
                lambda: leads_schedule_follow_ups(
                    leads=leads,
                    newly_assigned={lead.pk for lead in leads if lead.pk in unowned and lead.owner_id},
                    channel=items[0].submission.channel if items else "",
                ),
            ),
        ]
        for name, step in steps:
            with _timed() as elapsed:
                outcomes = step()
            ms = elapsed() / max(len(leads), 1)
            for outcome in outcomes.values():
                self.activities.extend(outcome.activities)
                self.transitions.extend(outcome.transitions)
            for item in items:
                assert item.lead is not None
                outcome = outcomes[item.lead.pk]
                item.note(name, "ok", outcome.summary, ms, **outcome.detail)

    def _flush(self, items: list[IntakeItem]) -> None:
        leads = list({item.lead.pk: item.lead for item in items if item.lead is not None}.values())
        new_ids = {lead.pk for lead in self.new_leads}
        bulk_insert(self.new_leads, auto_now=False)
        bulk_update_fast([lead for lead in leads if lead.pk not in new_ids], FLUSH_FIELDS)
        bulk_insert(self.activities)
        bulk_insert(self.transitions)
        for item in items:
            item.submission.status = SubmissionStatus.PROCESSED
            item.submission.errors = {}


def _capture_summary(item: IntakeItem) -> str:
    channel = Channel(item.submission.channel).label
    source = f" ({item.submission.source})" if item.submission.source_id else ""
    if item.changes and item.submission.outcome == Outcome.UPDATED:
        return f"Submitted again via {channel}{source}; changed {', '.join(item.changes)}."
    return f"Captured via {channel}{source}."
