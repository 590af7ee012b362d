"""Hygiene writes: blocking keys, the in-flow duplicate check, the full scan, account links, merge and undo.

All of them run the one engine in hygiene.matching with the configuration from ``matching_config()``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core import serializers
from django.db import connection, models, transaction
from django.db.models import UniqueConstraint
from django.utils import timezone

from leadflow.access.models import User
from leadflow.core.db import hot_cursor, in_values, json_read
from leadflow.core.queue import enqueue_after_commit
from leadflow.hygiene.deliverability import domain_deliverability, resolver_for
from leadflow.hygiene.matching import (
    DEFAULT_CONFIG,
    MatchConfig,
    Matcher,
    Prepared,
    company_key,
    is_placeholder,
)
from leadflow.hygiene.models import (
    CandidateStatus,
    DuplicateCandidate,
    EmailDomainCheck,
    MatchKey,
    MergeJournal,
)
from leadflow.hygiene.normalize import domain_of_email, is_free_mail
from leadflow.leads.models import FUNNEL, Activity, ActivityKind, Consent, ConsentState, Lead, Stage
from leadflow.pipeline.models import Account, AccountLead

# ------------------------------------------------------------------------------------------------
# Configuration and records
# ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def matching_config() -> MatchConfig:
    """The configured matching (LEADFLOW_MATCHING_CONFIG, a JSON file), else the built-in lead fields."""
    path = settings.LEADFLOW_MATCHING_CONFIG
    return MatchConfig.from_json(Path(path).read_text()) if path else DEFAULT_CONFIG


@lru_cache(maxsize=1)
def matcher() -> Matcher:
    return Matcher(matching_config())


# Engine field name → Lead attribute, where they differ: the engine compares normalized forms.
_RECORD_ALIASES = {"email": "email_normalized", "phone": "phone_e164"}


def _record_columns() -> list[str]:
    referenced = matcher().config.referenced_fields
    names = {_RECORD_ALIASES.get(n, n) for n in referenced if not n.startswith("custom.")}
    return sorted(names | {"custom"} if any(n.startswith("custom.") for n in referenced) else names)


def _record_sources() -> list[tuple[str, str, str | None]]:
    """Per engine field: its name, the lead attribute it comes from, and the key in ``custom`` if any."""
    return [
        (name, "custom", name.partition(".")[2])
        if name.startswith("custom.")
        else (name, _RECORD_ALIASES.get(name, name), None)
        for name in matcher().config.referenced_fields
    ]


def lead_record(lead: Lead | Mapping[str, Any]) -> dict[str, Any]:
    """What the engine sees of a lead (a model instance or a row of ``_record_columns()`` values)."""
    return _records([lead])[0]


def _records(leads: Sequence[Lead | Mapping[str, Any]]) -> list[dict[str, Any]]:
    sources = _record_sources()
    records = []
    for lead in leads:
        row = lead if isinstance(lead, Mapping) else None
        record = {}
        for name, attribute, custom_key in sources:
            value = row.get(attribute) if row is not None else getattr(lead, attribute, None)
            record[name] = (value or {}).get(custom_key) if custom_key is not None else value
        records.append(record)
    return records


def _prepare_leads(rows: Sequence[Mapping[str, Any]]) -> Prepared:
    return matcher().prepare(_records(rows), ids=[row["id"] for row in rows])


# ------------------------------------------------------------------------------------------------
# Blocking keys
# ------------------------------------------------------------------------------------------------


def leads_keys_refresh(*, leads: Iterable[Lead], new_ids: Iterable[int] = ()) -> None:
    """Replaces the leads' blocking keys with those of their current values (``new_ids``: leads created
    in this transaction, which have none to delete)."""
    _index(list(leads), set(new_ids), link=False)


def leads_index(*, leads: list[Lead], new_ids: Iterable[int] = ()) -> dict[int, str]:
    """After a capture's upsert: the leads' blocking keys refreshed, and each lead without an account
    linked to the account of its company domain, else of its company name (legal suffixes ignored).

    Returns lead id → how it was linked. ``new_ids`` are leads created in this transaction (no keys to
    delete, no link yet). On PostgreSQL the new keys are written by the statement that finds the
    accounts: one round trip for a new lead.
    """
    return _index(leads, set(new_ids), link=True)


def _index(leads: list[Lead], created: set[int], *, link: bool) -> dict[int, str]:
    leads = [lead for lead in leads if lead.pk is not None]
    if not leads:
        return {}
    if stale := [lead.pk for lead in leads if lead.pk not in created]:
        test, params = in_values(stale)
        with hot_cursor() as cursor:
            cursor.execute(f"DELETE FROM hygiene_matchkey WHERE lead_id {test}", params)
    keys = [(lead.pk, key[:300]) for lead in leads for key in _rule_keys(lead_record(lead))]
    unlinked = _unlinked(leads, created) if link else []
    domains = {
        lead.company_domain
        for lead in unlinked
        if lead.company_domain and not is_free_mail(lead.company_domain)
    }
    names = {
        company_key(lead.company) for lead in unlinked if lead.company and not is_placeholder(lead.company)
    }
    names.discard("")
    account_ids = _write_keys_find_accounts(keys, domains, names)
    return _link_accounts(unlinked, account_ids) if account_ids else {}


def _unlinked(leads: list[Lead], created: set[int]) -> list[Lead]:
    if earlier := [lead.pk for lead in leads if lead.pk not in created]:
        test, params = in_values(earlier)
        with hot_cursor() as cursor:
            cursor.execute(f"SELECT lead_id FROM pipeline_accountlead WHERE lead_id {test}", params)
            linked = {lead_id for (lead_id,) in cursor.fetchall()}
        return [lead for lead in leads if lead.pk not in linked]
    return leads


_INSERT_KEYS_PG = "INSERT INTO hygiene_matchkey (lead_id, key) SELECT * FROM unnest(%s::bigint[], %s::text[])"


def _write_keys_find_accounts(keys: list[tuple[int, str]], domains: set[str], names: set[str]) -> list[int]:
    """Inserts the (lead id, key) rows and returns the ids of the accounts with one of the domains or name
    keys, oldest first, in as few prepared statements as the database allows."""
    find = bool(domains or names)
    domain_test, domain_params = in_values(sorted(domains))
    name_test, name_params = in_values(sorted(names))
    select = f"SELECT id FROM pipeline_account WHERE domain {domain_test} OR name_key {name_test} ORDER BY id"
    with hot_cursor() as cursor:
        if connection.vendor == "postgresql" and keys:
            key_params: list[Any] = [[lead_id for lead_id, _ in keys], [key for _, key in keys]]
            if not find:
                cursor.execute(_INSERT_KEYS_PG, key_params)
                return []
            cursor.execute(
                f"WITH new_keys AS ({_INSERT_KEYS_PG}) {select}", [*key_params, *domain_params, *name_params]
            )
            return [row[0] for row in cursor.fetchall()]
        if keys:
            cursor.executemany("INSERT INTO hygiene_matchkey (lead_id, key) VALUES (%s, %s)", keys)
        if not find:
            return []
        cursor.execute(select, [*domain_params, *name_params])
        return [row[0] for row in cursor.fetchall()]


def _rule_keys(record: Mapping[str, Any]) -> list[str]:
    """The record's blocking keys; a capture asks for them twice (identify, then the keys refresh)."""
    try:
        return list(_cached_rule_keys(tuple(record.items())))
    except TypeError:  # an unhashable custom value
        return matcher().rule_keys(record)


@lru_cache(maxsize=256)
def _cached_rule_keys(items: tuple[tuple[str, Any], ...]) -> tuple[str, ...]:
    return tuple(matcher().rule_keys(dict(items)))


# ------------------------------------------------------------------------------------------------
# In-flow duplicate check
# ------------------------------------------------------------------------------------------------


# The in-flow check compares a new record with at most this many leads per blocking key (the newest
# keys first would need another index; a key this common says little anyway).
IN_FLOW_PER_KEY = 100
# Fields that identify a person: when both records have one and they differ, a person decides.
IDENTIFIER_FIELDS = ("email", "phone")


@dataclass
class Suspect:
    """An existing lead that a new record may duplicate."""

    lead_id: int
    probability: float
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reasons(self) -> str:
        strong = [e["field"] + " " + e["level"] for e in self.evidence if e["weight"] > 0]
        return ", ".join(strong) or "no field agrees"

    @property
    def identifier_conflicts(self) -> list[str]:
        """Identifiers both records have that disagree (email, phone): two people with the same name at
        the same company are common, so such a pair is never merged without a person deciding."""
        return [
            e["field"] + "s"
            for e in self.evidence
            if e["field"] in IDENTIFIER_FIELDS and e["weight"] < 0 and e["left"] and e["right"]
        ]


def records_suspects(
    *, records: Sequence[Mapping[str, Any]], exclude_ids: Iterable[int] = ()
) -> list[Suspect | None]:
    """For each record (engine field names), its most probable existing duplicate at or above the review
    threshold, found through the indexed blocking keys; None when there is none."""
    engine = matcher()
    keys_per_record = [_rule_keys(record) for record in records]
    wanted = sorted({key for keys in keys_per_record for key in keys})
    if not wanted:
        return [None] * len(records)
    excluded = set(exclude_ids)
    owners: dict[str, list[int]] = {}
    found: dict[int, dict[str, Any]] = {}
    columns = ["id", *_record_columns()]
    for key, *values in _keyed_leads(wanted, columns):
        row = dict(zip(columns, values, strict=True))
        lead_id = row["id"]
        if lead_id not in excluded and len(owners.setdefault(key, [])) < IN_FLOW_PER_KEY:
            owners[key].append(lead_id)
            found[lead_id] = row
    if not found:
        return [None] * len(records)
    rows = list(found.values())
    existing = _prepare_leads(rows)
    position = {row["id"]: i for i, row in enumerate(rows)}
    incoming = engine.prepare(records)
    pairs = np.array(
        sorted(
            {
                (r, position[lead_id])
                for r, keys in enumerate(keys_per_record)
                for key in keys
                for lead_id in owners.get(key, [])
                if lead_id in position
            }
        ),
        dtype=np.int64,
    ).reshape(-1, 2)
    levels = engine.compare(incoming, existing, pairs)
    probabilities = engine.probabilities(levels)
    best: list[Suspect | None] = [None] * len(records)
    for index, ((r, e), probability) in enumerate(zip(pairs.tolist(), probabilities.tolist(), strict=True)):
        current = best[r]
        if probability >= engine.config.review and (current is None or probability > current.probability):
            explained = engine.explain(incoming, existing, r, e, levels[index])
            best[r] = Suspect(existing.ids[e], probability, [x.as_dict() for x in explained.evidence])
    return best


def _keyed_leads(keys: Sequence[str], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """One statement: (key, *columns) of the leads behind the blocking keys, at most IN_FLOW_PER_KEY per
    key; a prepared statement on PostgreSQL, since every capture runs it."""
    quote = connection.ops.quote_name
    column_of = {field.name: field.column for field in Lead._meta.concrete_fields}
    select = ", ".join(f"l.{quote(column_of[name])}" for name in columns)
    if connection.vendor == "postgresql":
        # One bounded index scan per key: with an import's thousands of keys in one list, PostgreSQL
        # preferred scanning the whole key table.
        sql = (
            f"SELECT w.key, {select} FROM unnest(%s::text[]) AS w(key) CROSS JOIN LATERAL "
            "(SELECT m.lead_id FROM hygiene_matchkey m WHERE m.key = w.key LIMIT %s) k "
            "JOIN leads_lead l ON l.id = k.lead_id"
        )
        params: list[Any] = [list(keys), IN_FLOW_PER_KEY]
    else:
        test, values = in_values(keys)
        sql = (
            f"SELECT k.key, {select} FROM hygiene_matchkey k JOIN leads_lead l ON l.id = k.lead_id "
            f"WHERE k.key {test} LIMIT %s"
        )
        params = [*values, IN_FLOW_PER_KEY * len(keys)]
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if "custom" in columns:
        at = 1 + list(columns).index("custom")
        rows = [(*row[:at], json_read(row[at]), *row[at + 1 :]) for row in rows]
    return rows


def candidates_record(*, pairs: Iterable[tuple[int, int, Suspect]], found_by: str) -> None:
    """Queues (lead id, other lead id, suspect) pairs for review in one statement, once per pair: a pair
    already queued, or dismissed, stays as it is."""
    rows = {}
    for lead_id, other_id, suspect in pairs:
        left, right = sorted((lead_id, other_id))
        rows[left, right] = DuplicateCandidate(
            left_id=left,
            right_id=right,
            probability=suspect.probability,
            evidence=suspect.evidence,
            found_by=found_by,
        )
    if rows:
        DuplicateCandidate.objects.bulk_create(rows.values(), ignore_conflicts=True)


# ------------------------------------------------------------------------------------------------
# Full scan
# ------------------------------------------------------------------------------------------------


@dataclass
class ScanResult:
    leads: int
    pairs_compared: int
    candidates: int
    merged: int


def duplicates_scan(
    *, auto_merge: bool = False, actor: User | None = None, chunk: int = 50_000
) -> ScanResult:
    """Scores every blocked pair of leads; queues pairs above the review threshold, and merges those above
    the auto-merge threshold when ``auto_merge``. Re-running it adds only new pairs."""
    engine = matcher()
    rows: list[dict[str, Any]] = []
    columns = ("id", *_record_columns())
    for row in Lead.objects.order_by("id").values_list(*columns).iterator(chunk_size=chunk):
        rows.append(dict(zip(columns, row, strict=True)))
    prepared = _prepare_leads(rows)
    pairs = engine.candidate_pairs(prepared)
    levels = engine.compare(prepared, prepared, pairs)
    probabilities = engine.probabilities(levels)
    keep = np.flatnonzero(probabilities >= engine.config.review)
    known = set(DuplicateCandidate.objects.values_list("left_id", "right_id"))
    new = []
    ids = prepared.ids
    for index in keep.tolist():
        i, j = pairs[index]
        left, right = sorted((ids[i], ids[j]))
        if (left, right) in known:
            continue
        explained = engine.explain(prepared, prepared, int(i), int(j), levels[index])
        new.append(
            DuplicateCandidate(
                left_id=left,
                right_id=right,
                probability=float(probabilities[index]),
                evidence=[e.as_dict() for e in explained.evidence],
                found_by="scan",
            )
        )
    DuplicateCandidate.objects.bulk_create(new, batch_size=5000, ignore_conflicts=True)
    merged = 0
    if auto_merge:
        for candidate in DuplicateCandidate.objects.filter(
            status=CandidateStatus.OPEN, probability__gte=engine.config.auto_merge
        ).order_by("left_id", "right_id"):
            survivor = Lead.objects.filter(pk=candidate.left_id).first()
            other = Lead.objects.filter(pk=candidate.right_id).first()
            if survivor is not None and other is not None:
                lead_merge(survivor=survivor, merged=other, actor=actor, candidate=candidate, automatic=True)
                merged += 1
    return ScanResult(leads=len(rows), pairs_compared=len(pairs), candidates=len(new), merged=merged)


# ------------------------------------------------------------------------------------------------
# Accounts
# ------------------------------------------------------------------------------------------------


def _link_accounts(leads: list[Lead], account_ids: list[int]) -> dict[int, str]:
    """Links each lead to the first of the accounts (oldest first) with its domain, else its name key."""
    by_domain: dict[str, Account] = {}
    by_name: dict[str, Account] = {}
    for found in Account.objects.select_related("owner").filter(pk__in=account_ids).order_by("id"):
        by_domain.setdefault(found.domain, found)
        by_name.setdefault(found.name_key, found)
    links, outcome = [], {}
    for lead in leads:
        account: Account | None = None
        reason = ""
        if lead.company_domain and lead.company_domain in by_domain:
            account, reason = by_domain[lead.company_domain], f"domain {lead.company_domain}"
        elif lead.company and (key := company_key(lead.company)) in by_name:
            account, reason = by_name[key], f"company name {key}"
        if account is not None:
            links.append(AccountLead(account=account, lead=lead, matched_by=reason))
            outcome[lead.pk] = f"Linked to account {account.name} by {reason}" + (
                f"; its owner is {account.owner}." if account.owner_id else "."
            )
    AccountLead.objects.bulk_create(links, ignore_conflicts=True)
    return outcome


def account_save(*, name: str, domain: str = "", owner: User | None = None) -> Account:
    """Creates or updates the account of ``domain`` (or of the name when there is no domain)."""
    domain = domain.strip().lower()
    key = company_key(name)
    account = (
        Account.objects.filter(domain=domain).first()
        if domain
        else Account.objects.filter(name_key=key).first()
    )
    account = account or Account()
    account.name, account.name_key, account.domain, account.owner = name, key, domain, owner
    account.save()
    return account


# ------------------------------------------------------------------------------------------------
# Email deliverability (optional DNS check)
# ------------------------------------------------------------------------------------------------


def leads_email_check_enqueue(*, leads: Iterable[Lead]) -> None:
    """With LEADFLOW_EMAIL_DNS_CHECK on: after commit, checks the leads' email domains not checked lately
    (free-mail domains are known to accept mail). Off by default; never inside the request."""
    if not settings.LEADFLOW_EMAIL_DNS_CHECK:
        return
    domains = {
        domain_of_email(lead.email_normalized)
        for lead in leads
        if lead.email_normalized and not is_free_mail(domain_of_email(lead.email_normalized))
    }
    fresh_since = timezone.now() - dt.timedelta(days=settings.LEADFLOW_EMAIL_DNS_MAX_AGE_DAYS)
    domains -= set(
        EmailDomainCheck.objects.filter(domain__in=domains, checked_at__gte=fresh_since).values_list(
            "domain", flat=True
        )
    )
    if domains:
        from leadflow.hygiene.tasks import email_domains_check as task

        wanted = sorted(domains)
        enqueue_after_commit(lambda: task.enqueue(wanted))


def email_domains_check(*, domains: Iterable[str]) -> dict[str, EmailDomainCheck]:
    """Asks DNS whether each domain accepts mail and keeps the answer (idempotent: a re-run refreshes)."""
    resolver = resolver_for(
        nameservers=settings.LEADFLOW_EMAIL_DNS_NAMESERVERS, timeout=settings.LEADFLOW_EMAIL_DNS_TIMEOUT
    )
    checked = {}
    for domain in sorted(set(domains)):
        deliverable, detail = domain_deliverability(domain, resolver=resolver)
        checked[domain], _ = EmailDomainCheck.objects.update_or_create(
            domain=domain,
            defaults={"deliverable": deliverable, "detail": detail[:300], "checked_at": timezone.now()},
        )
    return checked


# ------------------------------------------------------------------------------------------------
# Merge and undo
# ------------------------------------------------------------------------------------------------

# Profile fields a merge chooses a surviving value for; email and phone carry their normalized forms.
MERGE_FIELDS = (
    "first_name", "last_name", "email", "phone", "company", "company_domain", "job_title", "website",
    "country", "region", "city", "industry", "company_size", "annual_revenue", "budget", "purchase_timeframe",
    "product_interest", "language", "timezone",
)  # fmt: skip
_COMPANION_FIELDS = {"email": ("email_normalized",), "phone": ("phone_e164",)}
# Survivorship per field: most_recent (the lead updated last), most_complete (the longer value),
# most_trusted (the lead whose source channel ranks first in SOURCE_TRUST). Never a blank over a value.
SURVIVORSHIP: dict[str, str] = {
    "first_name": "most_complete", "last_name": "most_complete", "company": "most_complete",
    "website": "most_complete", "email": "most_trusted", "phone": "most_trusted",
}  # fmt: skip
DEFAULT_SURVIVORSHIP = "most_recent"
SOURCE_TRUST = ("manual", "form", "email", "api", "webhook", "import", "ads", "other")
_CONSENT_RANK = {ConsentState.DENIED: 0, ConsentState.PENDING: 1, ConsentState.GRANTED: 2}


class MergeError(ValueError):
    """A merge or undo that cannot be done, with a clear reason."""


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _trust(lead: Lead) -> int:
    channel = lead.source.channel if lead.source_id and lead.source else "other"
    return SOURCE_TRUST.index(channel) if channel in SOURCE_TRUST else len(SOURCE_TRUST)


def merge_proposal(*, survivor: Lead, merged: Lead) -> dict[str, dict[str, Any]]:
    """Per field, the value the survivorship policy keeps: {field: {side, value, policy, why}}."""
    proposal = {}
    for name in MERGE_FIELDS:
        mine, theirs = getattr(survivor, name), getattr(merged, name)
        policy = SURVIVORSHIP.get(name, DEFAULT_SURVIVORSHIP)
        if _blank(theirs) or mine == theirs:
            side, why = "survivor", "same value" if mine == theirs else "the other is blank"
        elif _blank(mine):
            side, why = "merged", "the survivor's is blank"
        elif policy == "most_complete":
            side = "merged" if len(str(theirs)) > len(str(mine)) else "survivor"
            why = "more complete"
        elif policy == "most_trusted":
            side = "merged" if _trust(merged) < _trust(survivor) else "survivor"
            why = "more trusted source"
        else:
            newer = (merged.updated_at or merged.created_at) > (survivor.updated_at or survivor.created_at)
            side, why = ("merged" if newer else "survivor"), "more recent"
        value = theirs if side == "merged" else mine
        proposal[name] = {"side": side, "value": value, "policy": policy, "why": why}
    return proposal


def _serialize(objects: Iterable[models.Model]) -> list[dict[str, Any]]:
    return serializers.serialize("python", objects)


def _restore(images: list[dict[str, Any]]) -> None:
    for restored in serializers.deserialize("python", images):
        restored.save()


@transaction.atomic
def lead_merge(
    *,
    survivor: Lead,
    merged: Lead,
    actor: User | None,
    choices: Mapping[str, str] | None = None,
    candidate: DuplicateCandidate | None = None,
    automatic: bool = False,
) -> MergeJournal:
    """Merges ``merged`` into ``survivor``: field values by survivorship (or ``choices``: field → "survivor" /
    "merged"), and every related row (timeline, notes, touches, identities, consent, tasks, scores,
    submissions, account link, and any future relation such as enrollments) moves to the survivor.
    Conflicting consent keeps the most restrictive state. The journal keeps what undo needs."""
    if survivor.pk == merged.pk:
        raise MergeError("A lead cannot be merged with itself.")
    survivor = Lead.objects.select_for_update(of=("self",)).select_related("source").get(pk=survivor.pk)
    merged = Lead.objects.select_for_update(of=("self",)).select_related("source").get(pk=merged.pk)
    proposal = merge_proposal(survivor=survivor, merged=merged)
    for name, side in (choices or {}).items():
        if name in proposal and side in ("survivor", "merged"):
            value = getattr(survivor if side == "survivor" else merged, name)
            if not _blank(value):
                proposal[name].update(side=side, value=value, why="chosen")
    journal = MergeJournal(
        survivor=survivor,
        survivor_id_value=survivor.pk,
        merged_id=merged.pk,
        merged_image=_serialize([merged]),
        survivor_before=_serialize([survivor]),
        choices={k: {"side": v["side"], "why": v["why"], "policy": v["policy"]} for k, v in proposal.items()},
        candidate=candidate,
        automatic=automatic,
        actor=actor,
    )
    changed = _apply_fields(survivor, merged, proposal)
    moved, restore_rows = _move_related(survivor, merged)
    touches = list(survivor.touches.order_by("occurred_at", "id").values_list("id", flat=True))
    if touches and (survivor.first_touch_id, survivor.last_touch_id) != (touches[0], touches[-1]):
        survivor.first_touch_id, survivor.last_touch_id = touches[0], touches[-1]
        changed += ["first_touch", "last_touch"]
    journal.moved, journal.restore_rows = moved, restore_rows
    journal.choices["_changed"] = sorted(set(changed))
    survivor.updated_at = timezone.now()
    survivor.save()
    merged_name, merged_id = str(merged), merged.pk
    merged.delete()
    journal.save()
    moved_count = sum(len(ids) for fields in moved.values() for ids in fields.values())
    Activity.objects.create(
        lead=survivor,
        kind=ActivityKind.MERGE,
        actor=actor,
        summary=(
            f"{'Automatically merged' if automatic else 'Merged'} lead {merged_id} ({merged_name}) into "
            f"this lead; {moved_count} records moved."
        )[:300],
        payload={"journal_id": journal.pk, "merged_id": merged_id, "changed": sorted(set(changed))},
    )
    if candidate is not None:
        candidate.status, candidate.decided_at, candidate.decided_by = (
            CandidateStatus.MERGED,
            timezone.now(),
            actor,
        )
        candidate.save(update_fields=["status", "decided_at", "decided_by"])
    leads_keys_refresh(leads=[survivor])
    return journal


def _apply_fields(survivor: Lead, merged: Lead, proposal: dict[str, dict[str, Any]]) -> list[str]:
    changed = []
    for name, choice in proposal.items():
        if choice["side"] != "merged":
            continue
        for attr in (name, *_COMPANION_FIELDS.get(name, ())):
            setattr(survivor, attr, getattr(merged, attr))
            changed.append(attr)
    custom = {
        **{k: v for k, v in merged.custom.items() if not _blank(v)},
        **{k: v for k, v in survivor.custom.items() if not _blank(v)},
    }
    extra = {**merged.extra, **survivor.extra}
    if custom != survivor.custom:
        survivor.custom = custom
        changed.append("custom")
    if extra != survivor.extra:
        survivor.extra = extra
        changed.append("extra")
    if (
        survivor.stage in FUNNEL
        and merged.stage in FUNNEL
        and FUNNEL.index(Stage(merged.stage)) > FUNNEL.index(Stage(survivor.stage))
    ):
        survivor.stage = merged.stage
        changed.append("stage")
    for name in (
        "owner",
        "team",
        "source",
        "first_response_at",
        "qualified_at",
        "converted_at",
        "assigned_at",
    ):
        if getattr(survivor, f"{name}_id" if name in ("owner", "team", "source") else name) is None:
            value = getattr(merged, f"{name}_id" if name in ("owner", "team", "source") else name)
            if value is not None:
                setattr(survivor, f"{name}_id" if name in ("owner", "team", "source") else name, value)
                changed.append(name)
    if merged.created_at < survivor.created_at:
        survivor.created_at = merged.created_at
        changed.append("created_at")
    return changed


def _move_related(
    survivor: Lead, merged: Lead
) -> tuple[dict[str, dict[str, list[int]]], list[dict[str, Any]]]:
    """Moves every row that points at ``merged`` to ``survivor``; rows that would break a unique
    constraint (a second consent for a channel, a second account link) are kept in the journal and
    removed, consent keeping the most restrictive state."""
    moved: dict[str, dict[str, list[int]]] = {}
    restore_rows: list[dict[str, Any]] = []
    for relation in Lead._meta.related_objects:
        model = relation.related_model
        if model in (MatchKey, MergeJournal) or not isinstance(model, type):
            continue
        fk = relation.field.name
        rows = model._default_manager.filter(**{fk: merged.pk})
        for constraint in model._meta.constraints:
            if not isinstance(constraint, UniqueConstraint) or fk not in constraint.fields:
                continue
            others = [_attname(model, name) for name in constraint.fields if name != fk]
            survivors_rows = model._default_manager.filter(**{fk: survivor.pk})
            taken = {tuple(values) for values in survivors_rows.values_list(*others or ["pk"])}
            for row in rows:
                conflict = tuple(getattr(row, name) for name in others) in taken if others else bool(taken)
                if conflict:
                    if model is Consent:
                        _keep_most_restrictive(survivor, row, restore_rows)
                    restore_rows += _serialize([row])
                    row.delete()
        ids = list(rows.values_list("pk", flat=True))
        if ids:
            model._default_manager.filter(pk__in=ids).update(**{fk: survivor.pk})
            moved.setdefault(model._meta.label, {})[fk] = ids
    return moved, restore_rows


def _keep_most_restrictive(survivor: Lead, incoming: Any, restore_rows: list[dict[str, Any]]) -> None:
    current = Consent.objects.get(lead=survivor, channel=incoming.channel)
    if _CONSENT_RANK[ConsentState(incoming.state)] < _CONSENT_RANK[ConsentState(current.state)]:
        restore_rows += _serialize([current])
        current.state, current.method = incoming.state, incoming.method
        current.text_shown, current.recorded_at = incoming.text_shown, incoming.recorded_at
        current.submission_id = incoming.submission_id
        current.save()


@transaction.atomic
def merge_undo(*, journal: MergeJournal, actor: User | None) -> Lead:
    """Restores the merged lead with its own rows, and the survivor's fields the merge changed."""
    journal = MergeJournal.objects.select_for_update().get(pk=journal.pk)
    if journal.undone_at is not None:
        raise MergeError("This merge has already been undone.")
    if Lead.objects.filter(pk=journal.merged_id).exists():
        raise MergeError(f"Lead {journal.merged_id} exists again; this merge cannot be undone.")
    survivor = Lead.objects.select_for_update().filter(pk=journal.survivor_id_value).first()
    if survivor is None:
        raise MergeError("The surviving lead no longer exists; this merge cannot be undone.")
    _restore(journal.merged_image)
    restored = Lead.objects.get(pk=journal.merged_id)
    for label, fields in journal.moved.items():
        model = _model(label)
        for fk, ids in fields.items():
            model._default_manager.filter(pk__in=ids).update(**{fk: restored.pk})
    _restore(journal.restore_rows)
    before = next(serializers.deserialize("python", journal.survivor_before)).object
    for name in journal.choices.get("_changed", []):
        attr = _attname(Lead, name)
        setattr(survivor, attr, getattr(before, attr))
    survivor.save()
    now = timezone.now()
    journal.undone_at, journal.undone_by = now, actor
    journal.save(update_fields=["undone_at", "undone_by"])
    if journal.candidate_id:
        DuplicateCandidate.objects.filter(pk=journal.candidate_id).update(
            status=CandidateStatus.OPEN, decided_at=None, decided_by=None
        )
    for lead, summary in (
        (survivor, f"Merge of lead {restored.pk} undone: it is a separate lead again."),
        (restored, f"Restored: the merge into lead {survivor.pk} was undone."),
    ):
        Activity.objects.create(
            lead=lead,
            kind=ActivityKind.MERGE,
            actor=actor,
            summary=summary,
            payload={"journal_id": journal.pk, "undo": True},
        )
    leads_keys_refresh(leads=[survivor, restored])
    return restored


def _attname(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    return field.attname if isinstance(field, models.Field) else name


def _model(label: str) -> type[models.Model]:
    from django.apps import apps

    return apps.get_model(label)


def candidate_dismiss(*, candidate: DuplicateCandidate, actor: User | None) -> DuplicateCandidate:
    """Marks a pair as not duplicates; the scan will not suggest it again."""
    candidate.status, candidate.decided_at, candidate.decided_by = (
        CandidateStatus.DISMISSED,
        timezone.now(),
        actor,
    )
    candidate.save(update_fields=["status", "decided_at", "decided_by"])
    return candidate


def config_describe() -> str:
    """The active matching configuration as JSON, for the CLI."""
    return json.dumps(matching_config().to_dict(), indent=2)
