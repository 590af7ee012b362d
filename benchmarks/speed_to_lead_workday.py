"""A simulated workday: how many in-hours leads get a first response inside the SLA, with leadflow's
reminders and escalation and without them.

    python benchmarks/speed_to_lead_workday.py [--leads 450] [--seed 7] [--json out.json]

Each arm runs in a fresh SQLite database and drives leadflow's real services under a simulated clock
(django.utils.timezone.now is replaced by the simulation's clock, so every service, the SLA deadlines,
the tasks' run_after times and the timeline use simulated time):

- Leads arrive through capture.services.lead_capture (the intake flow: route step, response clock,
  notifications), uniformly at random over 06:00–21:00 Berlin on Tuesday 24 Nov 2026.
- The SLA tasks the route step enqueues (django-tasks-db rows with run_after) are run by the simulation
  when the clock reaches their run_after, calling the same task functions the worker calls.
- Reps respond by logging a call through leads.services.activity_create, which sets first_response_at.

Team: 8 reps in Europe/Berlin (3 work 08–16, 3 work 09–17, 2 work 11–19, Mon–Fri), strict round robin,
unassigned pool when nobody works, 5-minute first-response SLA.
- with leadflow: reminder 2 minutes before the deadline; on breach reassign to the next available rep
  (at most 2 times per lead), then escalate to the manager;
- without: the same SLA is only recorded (no reminder, no reassignment, no escalation).

Rep behaviour (the model, the same random draws in both arms for the first assignment of each lead):
- on a new lead, with probability 0.2 the rep is busy (in a meeting) and answers after a lognormal delay
  with median 45 min (σ = 0.6); otherwise after a lognormal delay with median 4 min (σ = 0.8);
- on a reminder, a rep who has not answered yet answers after a lognormal delay with median 1 min
  (σ = 0.5) when that is sooner, with probability 0.8 if not busy and 0.3 if busy;
- a rep whose lead was reassigned no longer answers it; the manager is not modelled as answering.
"""

import argparse
import datetime as dt
import heapq
import json
import math
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from benchlib import ROOT, fresh_database, lead_payload, machine_summary, percentile, table

BERLIN = ZoneInfo("Europe/Berlin")
DAY = dt.date(2026, 11, 24)
OPEN, CLOSE = dt.time(6, 0), dt.time(21, 0)
IN_HOURS = (dt.time(8, 0), dt.time(19, 0))  # someone in the team works
SHIFTS = [("08:00", "16:00")] * 3 + [("09:00", "17:00")] * 3 + [("11:00", "19:00")] * 2
SLA_MINUTES = 5
P_BUSY = 0.2
NORMAL = (4.0, 0.8)  # median minutes, sigma
BUSY = (45.0, 0.6)
REMINDED = (1.0, 0.5)
P_HEED = {False: 0.8, True: 0.3}
TAIL = dt.timedelta(hours=4)  # the simulation runs on this long after the last arrival


def lognormal(rng: random.Random, median: float, sigma: float) -> dt.timedelta:
    return dt.timedelta(minutes=rng.lognormvariate(math.log(median), sigma))


@dataclass
class Clock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass(order=True)
class Event:
    at: dt.datetime
    order: int
    kind: str = field(compare=False)  # arrive | respond
    data: tuple[int, ...] = field(compare=False)


def arrivals(leads: int, seed: int) -> list[dt.datetime]:
    rng = random.Random(seed)
    start = dt.datetime.combine(DAY, OPEN, tzinfo=BERLIN).astimezone(dt.UTC)
    span = (dt.datetime.combine(DAY, CLOSE) - dt.datetime.combine(DAY, OPEN)).total_seconds()
    return sorted(start + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(leads))


def simulate(with_leadflow: bool, times: list[dt.datetime], seed: int) -> dict[str, Any]:
    """One arm on an emptied database; returns the figures."""
    from django.core.management import call_command
    from django.utils.module_loading import import_string
    from django_tasks_db.models import DBTaskResult

    from leadflow.access.models import Role
    from leadflow.access.services import team_create, team_member_add, user_create
    from leadflow.analytics.selectors import Period, speed_to_lead
    from leadflow.capture.services import lead_capture
    from leadflow.leads.models import ActivityKind, Lead
    from leadflow.leads.services import activity_create
    from leadflow.routing.models import Notification
    from leadflow.routing.services import rep_schedule_set, team_routing_update

    call_command("flush", interactive=False, verbosity=0)
    clock = Clock(times[0])
    with mock.patch("django.utils.timezone.now", clock):
        team = team_create(name="Inbound", is_default=True)
        manager = user_create(username="manager", password="x-bench-1", role=Role.MANAGER, email="")
        team.manager = manager
        team.save()
        reps = {}
        for i, (start, end) in enumerate(SHIFTS, 1):
            rep = user_create(
                username=f"rep{i}", password="x-bench-1", role=Role.REP, email="", timezone="Europe/Berlin"
            )
            team_member_add(team=team, user=rep)
            rep_schedule_set(
                user=rep, hours={day: [[start, end]] for day in ("mon", "tue", "wed", "thu", "fri")}
            )
            reps[rep.pk] = rep
        team_routing_update(
            team=team,
            method="round_robin",
            sla_minutes=SLA_MINUTES,
            sla_reminder_minutes=2 if with_leadflow else None,
            breach_action="reassign" if with_leadflow else "record",
            max_reassignments=2,
        )
        events = [Event(at, seq, "arrive", (seq,)) for seq, at in enumerate(times)]
        heapq.heapify(events)
        order = len(times)
        lead_seq: dict[int, int] = {}
        arrived: dict[int, dt.datetime] = {}
        assignments: dict[int, int] = {}  # lead id → assignments so far (the draw index)
        pending: dict[int, tuple[int, dt.datetime, bool]] = {}  # lead id → (owner, answer at, busy)
        last_note = 0
        end = times[-1] + TAIL
        counts = {"tasks": 0, "reminders": 0, "reassignments": 0, "escalations": 0}

        def draw(lead_id: int) -> random.Random:
            k = assignments[lead_id]
            return random.Random(f"{seed}:{lead_seq[lead_id]}:{k}")

        while True:
            due = (
                DBTaskResult.objects.filter(status="READY", task_path__contains=".sla_")
                .order_by("run_after")
                .first()
            )
            next_event = events[0].at if events else None
            candidates = [t for t in (due.run_after if due else None, next_event) if t is not None]
            if not candidates or min(candidates) > end:
                break
            clock.now = min(candidates)
            if due is not None and due.run_after == clock.now:
                DBTaskResult.objects.filter(pk=due.pk).update(status="SUCCESSFUL")
                import_string(due.task_path).call(*due.args_kwargs["args"])
                counts["tasks"] += 1
            else:
                event = heapq.heappop(events)
                if event.kind == "arrive":
                    (seq,) = event.data
                    lead = lead_capture(payload=lead_payload(seq, f"day{seed}"), channel="form").lead
                    assert lead is not None
                    lead_seq[lead.pk], arrived[lead.pk] = seq, clock.now
                else:
                    lead_id, owner_id = event.data
                    current = pending.get(lead_id)
                    if current and current[0] == owner_id and current[1] == event.at:
                        lead = Lead.objects.get(pk=lead_id)
                        if lead.owner_id == owner_id and lead.first_response_at is None:
                            activity_create(lead=lead, kind=ActivityKind.CALL, actor=reps[owner_id])
                        pending.pop(lead_id)
            for note in Notification.objects.filter(pk__gt=last_note).order_by("pk"):
                last_note = note.pk
                if note.lead_id is None:
                    continue
                if note.kind == "assignment" and note.recipient_id in reps:
                    if note.lead_id in assignments:
                        counts["reassignments"] += 1
                    assignments[note.lead_id] = assignments.get(note.lead_id, -1) + 1
                    rng = draw(note.lead_id)
                    busy = rng.random() < P_BUSY
                    at = clock.now + lognormal(rng, *(BUSY if busy else NORMAL))
                    pending[note.lead_id] = (note.recipient_id, at, busy)
                    order += 1
                    heapq.heappush(events, Event(at, order, "respond", (note.lead_id, note.recipient_id)))
                elif note.kind == "reminder":
                    counts["reminders"] += 1
                    current = pending.get(note.lead_id)
                    rng = random.Random(
                        f"{seed}:{lead_seq[note.lead_id]}:reminder:{assignments[note.lead_id]}"
                    )
                    if current and current[0] == note.recipient_id and rng.random() < P_HEED[current[2]]:
                        sooner = clock.now + lognormal(rng, *REMINDED)
                        if sooner < current[1]:
                            pending[note.lead_id] = (current[0], sooner, current[2])
                            order += 1
                            heapq.heappush(
                                events, Event(sooner, order, "respond", (note.lead_id, current[0]))
                            )
                elif note.kind == "escalation":
                    counts["escalations"] += 1
        answered = dict(Lead.objects.values_list("pk", "first_response_at"))
        period = Period(start=times[0] - dt.timedelta(hours=1), end=end, days=1)
        speed = speed_to_lead(visible=Lead.objects.all(), period=period).overall
    in_hours = [pk for pk, at in arrived.items() if IN_HOURS[0] <= at.astimezone(BERLIN).time() < IN_HOURS[1]]
    waits = sorted(
        (answered[pk] - arrived[pk]).total_seconds() / 60 if answered[pk] else math.inf for pk in in_hours
    )
    inside = sum(1 for w in waits if w <= SLA_MINUTES)
    return {
        "arm": "with reminders + escalation" if with_leadflow else "without",
        "leads": len(arrived),
        "in_hours_leads": len(in_hours),
        "answered_in_sla": inside,
        "share_in_sla": inside / len(in_hours),
        "within_2x_sla": sum(1 for w in waits if w <= 2 * SLA_MINUTES) / len(in_hours),
        "median_min": percentile(waits, 50),
        "p90_min": percentile(waits, 90),
        "unanswered": sum(1 for w in waits if math.isinf(w)),
        "per_assignment_compliance": speed.sla_compliance,
        **counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=450)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
    times = arrivals(args.leads, args.seed)
    with fresh_database("sqlite") as env:
        os.environ.update({**env, "LEADFLOW_NOTIFY_EMAIL": "0"})
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        results = [simulate(arm, times, args.seed) for arm in (False, True)]
    print(
        table(
            [
                "arm",
                "in-hours leads",
                "answered ≤ 5 min",
                "≤ 10 min",
                "median min",
                "p90 min",
                "unanswered",
                "per-assignment SLA",
                "reminders",
                "reassigned",
                "escalated",
            ],
            [
                [
                    r["arm"],
                    r["in_hours_leads"],
                    f"{r['share_in_sla']:.1%}",
                    f"{r['within_2x_sla']:.1%}",
                    r["median_min"],
                    r["p90_min"],
                    r["unanswered"],
                    f"{r['per_assignment_compliance']:.1%}"
                    if r["per_assignment_compliance"] is not None
                    else "-",
                    r["reminders"],
                    r["reassignments"],
                    r["escalations"],
                ]
                for r in results
            ],
        )
    )
    ratio = (
        results[1]["share_in_sla"] / results[0]["share_in_sla"] if results[0]["share_in_sla"] else math.inf
    )
    print(f"share inside the SLA, with / without: {ratio:.2f}×")
    print(json.dumps(machine_summary()))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": ratio, "seed": args.seed}, indent=2))


if __name__ == "__main__":
    main()
