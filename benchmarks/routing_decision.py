"""Routing decision benchmark: one decision with 200 rules and 500 reps.

    python benchmarks/routing_decision.py [--decisions 2000] [--steps 300] [--json out.json]

On a fresh SQLite database it seeds 500 reps in 20 teams of 25 (each rep with a weekly schedule in one
of several timezones, a few out of office, team holidays, daily and open-lead caps, weighted round robin)
and 200 active rules, of which only the last matches the benchmark lead, so every decision walks all
rules. It then times, in the same run:

* the pure engine: routing.engine.decide() on a context loaded once (rule matching, availability of
  25 reps, the distribution choice);
* the full route step: routing.services.leads_route() for one saved lead in a transaction, as the
  intake flow runs it (loading rules, settings, members and loads, locking the team's round-robin row,
  deciding, saving the turn), and the same step over a batch of 100 leads (an import), per lead.

Target: median ≤ 1 ms for one decision.
"""

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchlib import fresh_database, machine_summary, percentile, table, verdict

TARGET_MS = 1.0
TEAMS, PER_TEAM, RULES, BATCH = 20, 25, 200, 100
TIMEZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney"]
COUNTRIES = ["DE", "AT", "CH", "FR", "IT", "ES", "NL", "BE", "SE", "NO", "GB", "US", "CA", "JP"]
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)  # a Monday


def seed() -> Any:
    from leadflow.access.models import Membership, Team, User
    from leadflow.leads.models import Lead
    from leadflow.routing.models import OutOfOffice, RepSchedule, RoutingRule, TeamHoliday, TeamRouting

    teams = Team.objects.bulk_create([Team(name=f"Team {t:02d}", is_default=t == 0) for t in range(TEAMS)])
    users = User.objects.bulk_create(
        [
            User(username=f"rep{i:03d}", first_name=f"Rep {i:03d}", timezone=TIMEZONES[i % len(TIMEZONES)])
            for i in range(TEAMS * PER_TEAM)
        ]
    )
    Membership.objects.bulk_create(
        [Membership(team=teams[i // PER_TEAM], user=user, weight=1 + i % 3) for i, user in enumerate(users)]
    )
    always = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    office = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    RepSchedule.objects.bulk_create(
        [RepSchedule(user=user, hours=always if i % 2 else office) for i, user in enumerate(users)]
    )
    OutOfOffice.objects.bulk_create(
        [OutOfOffice(user=user, starts_on=NOW.date(), ends_on=NOW.date()) for user in users[::10]]
    )
    TeamHoliday.objects.bulk_create([TeamHoliday(team=team, date=dt.date(2026, 12, 25)) for team in teams])
    TeamRouting.objects.bulk_create(
        [TeamRouting(team=team, method="weighted", daily_cap=1000, open_cap=1000) for team in teams]
    )
    rules = []
    for r in range(RULES - 1):  # none of these match the benchmark lead
        rules.append(
            RoutingRule(
                position=r,
                name=f"Rule {r}",
                condition={
                    "all": [
                        {"field": "country", "op": "in", "value": COUNTRIES[r % 7 : r % 7 + 3]},
                        {"field": "product_interest", "op": "eq", "value": f"product {r}"},
                        {"field": "score", "op": "gte", "value": r % 50},
                    ]
                },
                target="team",
                target_team=teams[r % TEAMS],
            )
        )
    rules.append(
        RoutingRule(
            position=RULES - 1,
            name="Nordics",
            condition={"any": [{"field": "country", "op": "in", "value": ["SE", "NO", "DK", "FI"]}]},
            target="team",
            target_team=teams[7],
        )
    )
    RoutingRule.objects.bulk_create(rules)
    for i, user in enumerate(users[:100]):  # some existing load
        Lead.objects.create(email=f"old{i}@x.example", owner=user, team=teams[i // PER_TEAM], assigned_at=NOW)
    return Lead.objects.create(
        email="bench@nordic.example", country="SE", product_interest="product x", score=40
    )


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
    }


def measure(decisions: int, steps: int, batches: int) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from leadflow.leads.models import Lead
    from leadflow.routing import engine
    from leadflow.routing.selectors import routing_plan
    from leadflow.routing.services import leads_route

    call_command("migrate", verbosity=0, interactive=False)
    lead = seed()

    plan = routing_plan(leads=[lead], now=NOW, lock=False)
    record = plan.records[0]
    first = engine.decide(record, plan.ctx, NOW)
    assert first.rule_id is not None and first.owner_id is not None, first.summary
    pure = []
    for _ in range(decisions):
        started = time.perf_counter()
        engine.decide(record, plan.ctx, NOW)
        pure.append((time.perf_counter() - started) * 1000)

    full = []
    for i in range(steps + 20):
        lead.owner = None
        started = time.perf_counter()
        with transaction.atomic():
            outcome = leads_route(leads=[lead], now=NOW)[lead.pk]
        elapsed = (time.perf_counter() - started) * 1000
        if i >= 20:  # warm-up
            full.append(elapsed)
    batch = [Lead.objects.create(email=f"b{i}@nordic.example", country="NO", score=i) for i in range(BATCH)]
    per_lead = []
    for i in range(batches + 3):
        for item in batch:
            item.owner = None
        started = time.perf_counter()
        with transaction.atomic():
            leads_route(leads=batch, now=NOW)
        if i >= 3:  # warm-up
            per_lead.append((time.perf_counter() - started) * 1000 / BATCH)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        lead.owner = None
        leads_route(leads=[lead], now=NOW)
    return {
        "example": outcome.summary,
        "rules": RULES,
        "reps": TEAMS * PER_TEAM,
        "team_size": PER_TEAM,
        "engine_ms": stats(pure),
        "step_ms": stats(full),
        "step_queries": len(queries),
        "batch_ms_per_lead": stats(per_lead),
        "batch": BATCH,
        "batches": batches,
        "decisions": decisions,
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", type=int, default=2000, help="pure engine decisions to time")
    parser.add_argument("--steps", type=int, default=300, help="full route steps to time")
    parser.add_argument("--batches", type=int, default=30, help=f"route steps over {BATCH} leads to time")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    machine = machine_summary()
    print(f"machine: {machine['cpus']} CPUs, load {machine['loadavg_at_start']}, Python {machine['python']}, "
          f"leadflow {machine['git']}")  # fmt: skip
    with fresh_database("sqlite") as overrides:
        os.environ.update(overrides)
        os.environ["DJANGO_SETTINGS_MODULE"] = "leadflow.settings"
        os.environ.pop("LEADFLOW_SQLITE_PATH", None)
        os.environ.pop("DATABASE_URL", None)
        import django

        django.setup()
        result = measure(args.decisions, args.steps, args.batches)
        from django.db import connections

        connections.close_all()
    engine_ms, step_ms, batch_ms = result["engine_ms"], result["step_ms"], result["batch_ms_per_lead"]
    print(f"\n{result['rules']} rules (the last one matches), {result['reps']} reps, "
          f"teams of {result['team_size']}")  # fmt: skip
    print(f"example: {result['example']}\n")
    print(
        table(
            ["one decision (SQLite)", "n", "median ms", "p90 ms", "p99 ms", f"≤ {TARGET_MS} ms median"],
            [
                ["pure engine.decide()", result["decisions"], engine_ms["median"], engine_ms["p90"],
                 engine_ms["p99"], verdict(engine_ms["median"] <= TARGET_MS)],
                [f"leads_route() step, {result['step_queries']} queries", result["steps"], step_ms["median"],
                 step_ms["p90"], step_ms["p99"], verdict(step_ms["median"] <= TARGET_MS)],
                [f"leads_route() of {result['batch']} leads, per lead", result["batches"], batch_ms["median"],
                 batch_ms["p90"], batch_ms["p99"], verdict(batch_ms["median"] <= TARGET_MS)],
            ],
        )
    )  # fmt: skip
    print(f"\nstep of one lead / engine: {step_ms['median'] / engine_ms['median']:.1f}×; "
          f"per lead in a batch / engine: {batch_ms['median'] / engine_ms['median']:.1f}×")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "result": result}, indent=2, default=str))


if __name__ == "__main__":
    main()
