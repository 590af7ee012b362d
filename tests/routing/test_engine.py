"""The pure routing engine: rules, distribution methods, availability across timezones, fallbacks."""

import datetime as dt
from typing import Any

from leadflow.core.conditions import compile_condition
from leadflow.routing import engine
from leadflow.routing.engine import Context, Rep, Rule, TeamPlan, Turn

FIELDS = {"country": "text", "score": "number", "source": "text"}
# Monday 2026-11-23, 10:00 UTC: 11:00 in Berlin, 05:00 in New York, 19:00 in Tokyo.
MONDAY_10_UTC = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
OFFICE_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def rule(rule_id: int, name: str, condition: Any, target: str = "team", **kw: Any) -> Rule:
    return Rule(rule_id, name, condition, compile_condition(condition, FIELDS), target, **kw)


def ctx(
    teams: list[TeamPlan], reps: list[Rep], rules: list[Rule] | None = None, default: int | None = 1
) -> Context:
    return Context(
        rules=rules or [],
        teams={t.id: t for t in teams},
        reps={r.id: r for r in reps},
        turns={},
        fields=FIELDS,
        default_team_id=default,
    )


def reps(*names: str, **kw: Any) -> list[Rep]:
    return [Rep(id=i + 1, name=name, **kw) for i, name in enumerate(names)]


def owners(context: Context, count: int, record: dict[str, Any] | None = None) -> list[str | None]:
    out = []
    for _ in range(count):
        decision = engine.decide(record or {}, context, MONDAY_10_UTC)
        out.append(context.reps[decision.owner_id].name if decision.owner_id else None)
    return out


def test_first_matching_rule_wins_in_order() -> None:
    rules = [
        rule(1, "Hot", {"field": "score", "op": "gte", "value": 80}, team_id=2),
        rule(2, "DACH", {"field": "country", "op": "in", "value": ["DE", "AT"]}, team_id=3),
    ]
    teams = [
        TeamPlan(1, "Sales", members={1: 1}),
        TeamPlan(2, "Senior", members={2: 1}),
        TeamPlan(3, "EMEA", members={3: 1}),
    ]
    context = ctx(teams, reps("Ann", "Ben", "Cy"), rules)

    both = engine.decide({"country": "de", "score": 90}, context, MONDAY_10_UTC)
    dach = engine.decide({"country": "AT", "score": 10}, context, MONDAY_10_UTC)
    none = engine.decide({"country": "FR", "score": 10}, context, MONDAY_10_UTC)

    assert (both.rule_id, both.team_id, both.owner_id) == (1, 2, 2)
    assert (dach.rule_id, dach.team_id, dach.owner_id) == (2, 3, 3)
    assert dach.summary == "Rule 'DACH' (country is one of DE, AT) → team EMEA; round robin → Cy."
    assert dach.rule_lines == ["country is one of DE, AT ✓ (AT)"]
    assert (none.rule_id, none.team_id) == (None, 1)
    assert none.summary == "Assigned to Ann by round robin in the default team Sales."


def test_rule_targets_a_person_or_the_pool() -> None:
    rules = [
        rule(1, "Partner", {"field": "source", "op": "eq", "value": "Partner"}, target="user", user_id=2),
        rule(2, "Junk", {"field": "score", "op": "lt", "value": 0}, target="pool"),
    ]
    context = ctx([TeamPlan(1, "Sales", members={1: 1, 2: 1})], reps("Ann", "Ben"), rules)
    assert engine.decide({"source": "partner"}, context, MONDAY_10_UTC).owner_id == 2
    pooled = engine.decide({"score": -5}, context, MONDAY_10_UTC)
    assert pooled.owner_id is None and "unassigned pool" in pooled.summary


def test_named_rep_unavailable_falls_back_to_the_rule_team() -> None:
    rules = [
        rule(1, "VIP", {"field": "score", "op": "gte", "value": 90}, target="user", user_id=2, team_id=1)
    ]
    people = reps("Ann", "Ben")
    people[1].out_of_office = [(dt.date(2026, 11, 20), dt.date(2026, 11, 27))]
    decision = engine.decide(
        {"score": 95}, ctx([TeamPlan(1, "Sales", members={1: 1, 2: 1})], people, rules), MONDAY_10_UTC
    )
    assert decision.owner_id == 1
    assert decision.skipped[0].reason == "out of office until 2026-11-27"
    assert decision.fallbacks and "Ben" in decision.summary


def test_strict_round_robin_takes_turns_in_id_order() -> None:
    context = ctx([TeamPlan(1, "Sales", members={1: 1, 2: 1, 3: 1})], reps("Ann", "Ben", "Cy"))
    assert owners(context, 7) == ["Ann", "Ben", "Cy", "Ann", "Ben", "Cy", "Ann"]


def test_strict_round_robin_resumes_after_the_last_rep_served() -> None:
    context = ctx([TeamPlan(1, "Sales", members={1: 1, 2: 1, 3: 1})], reps("Ann", "Ben", "Cy"))
    context.turns[1] = Turn(last_user_id=2)
    assert owners(context, 2) == ["Cy", "Ann"]


def test_weighted_round_robin_follows_weights_smoothly() -> None:
    context = ctx([TeamPlan(1, "Sales", method="weighted", members={1: 3, 2: 1})], reps("Ann", "Ben"))
    picks = owners(context, 8)
    assert picks.count("Ann") == 6 and picks.count("Ben") == 2
    assert picks[:4].count("Ben") == 1, "smooth: the light rep is not starved until the end"


def test_load_balanced_picks_fewest_open_uncontacted_leads() -> None:
    people = reps("Ann", "Ben", "Cy")
    people[0].open_leads, people[1].open_leads, people[2].open_leads = 5, 1, 2
    context = ctx([TeamPlan(1, "Sales", method="load", members={1: 1, 2: 1, 3: 1})], people)
    # Loads grow as the batch is decided; ties go to the next rep in turn.
    assert owners(context, 3) == ["Ben", "Cy", "Ben"]
    decision = engine.decide({}, context, MONDAY_10_UTC)
    assert decision.method == "fewest open leads"


def test_caps_per_day_and_on_open_leads() -> None:
    people = reps("Ann", "Ben", "Cy")
    people[0].assigned_today = 2
    people[1].open_leads = 4
    team = TeamPlan(1, "Sales", members={1: 1, 2: 1, 3: 1}, daily_cap=2, open_cap=4)
    decision = engine.decide({}, ctx([team], people), MONDAY_10_UTC)
    assert decision.owner_id == 3
    assert [(s.name, s.reason) for s in decision.skipped] == [
        ("Ann", "daily cap of 2 reached"),
        ("Ben", "open-lead cap of 4 reached"),
    ]
    assert decision.summary.endswith(
        "; skipped Ann (daily cap of 2 reached), Ben (open-lead cap of 4 reached)."
    )


def test_working_hours_are_read_in_each_reps_timezone() -> None:
    schedule = engine.parse_schedule(OFFICE_HOURS)
    berlin = Rep(1, "Berlin", timezone="Europe/Berlin", schedule=schedule)
    new_york = Rep(2, "New York", timezone="America/New_York", schedule=schedule)
    tokyo = Rep(3, "Tokyo", timezone="Asia/Tokyo", schedule=schedule)
    team = TeamPlan(1, "Global", members={1: 1, 2: 1, 3: 1})
    assert engine.unavailable(berlin, team, MONDAY_10_UTC) is None  # 11:00 Monday
    assert engine.unavailable(new_york, team, MONDAY_10_UTC) == "outside working hours"  # 05:00
    assert engine.unavailable(tokyo, team, MONDAY_10_UTC) == "outside working hours"  # 19:00
    tokyo_morning = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)  # 10:00 Monday in Tokyo
    assert engine.unavailable(tokyo, team, tokyo_morning) is None
    assert engine.unavailable(berlin, team, tokyo_morning) == "outside working hours"  # 02:00
    saturday = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    assert engine.unavailable(berlin, team, saturday) == "outside working hours"


def test_holiday_is_the_reps_local_date() -> None:
    team = TeamPlan(1, "Global", holidays=frozenset({dt.date(2026, 11, 24)}))
    late_monday_utc = dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC)  # already Tuesday in Tokyo
    assert engine.unavailable(Rep(1, "Tokyo", timezone="Asia/Tokyo"), team, late_monday_utc) == "team holiday"
    assert engine.unavailable(Rep(2, "London", timezone="Europe/London"), team, late_monday_utc) is None


def test_each_skip_reason() -> None:
    team = TeamPlan(1, "Sales")
    assert engine.unavailable(Rep(1, "A", is_active=False), team, MONDAY_10_UTC) == "inactive"
    assert engine.unavailable(Rep(1, "A", accepts_leads=False), team, MONDAY_10_UTC) == "not taking leads"
    away = Rep(1, "A", out_of_office=[(dt.date(2026, 11, 23), dt.date(2026, 11, 23))])
    assert engine.unavailable(away, team, MONDAY_10_UTC) == "out of office until 2026-11-23"
    assert engine.unavailable(away, team, MONDAY_10_UTC + dt.timedelta(days=1)) is None


def test_round_robin_skips_and_says_why() -> None:
    people = reps("Ann", "Ben", "Cy")
    people[0].schedule = engine.parse_schedule({"sat": [["09:00", "10:00"]]})
    decision = engine.decide(
        {}, ctx([TeamPlan(1, "Sales", members={1: 1, 2: 1, 3: 1})], people), MONDAY_10_UTC
    )
    assert decision.owner_id == 2
    assert decision.summary == (
        "Assigned to Ben by round robin in the default team Sales; skipped Ann (outside working hours)."
    )


def test_fallback_chain_next_team_then_manager_then_pool() -> None:
    people = reps("Ann", "Ben", "Boss")
    people[0].is_active = False
    teams = [
        TeamPlan(1, "Empty", fallback="team", fallback_team_id=2),
        TeamPlan(2, "Night", members={1: 1}, fallback="manager", manager_id=3),
    ]
    decision = engine.decide({}, ctx(teams, people), MONDAY_10_UTC)
    assert decision.owner_id == 3 and decision.method == "manager fallback"
    assert decision.fallbacks == [
        "no member available in Empty; fell back to Night",
        "nobody available in Night; fell back to its manager Boss",
    ]

    people[2].is_active = False
    pooled = engine.decide({}, ctx(teams, people), MONDAY_10_UTC)
    assert pooled.owner_id is None and pooled.team_id == 2
    assert pooled.fallbacks[-1] == "nobody available in Night; left in its unassigned pool"


def test_fallback_cycles_end_in_the_pool() -> None:
    teams = [
        TeamPlan(1, "A", fallback="team", fallback_team_id=2),
        TeamPlan(2, "B", fallback="team", fallback_team_id=1),
    ]
    decision = engine.decide({}, ctx(teams, []), MONDAY_10_UTC)
    assert decision.owner_id is None and "unassigned pool" in decision.summary


def test_account_owner_comes_first() -> None:
    rules = [rule(1, "All", {"all": []}, team_id=1)]
    context = ctx([TeamPlan(1, "Sales", members={1: 1})], reps("Ann", "Ben"), rules)
    decision = engine.decide({}, context, MONDAY_10_UTC, account=(2, "acme.example"))
    assert decision.owner_id == 2
    assert decision.summary == "Account match: Ben owns acme.example → Ben."


def test_no_default_team_leaves_the_lead_in_the_pool() -> None:
    decision = engine.decide({}, ctx([], [], default=None), MONDAY_10_UTC)
    assert (
        decision.owner_id is None
        and decision.summary == "Left in the unassigned pool: no default team is set."
    )


def test_schedule_validation() -> None:
    for bad in ({"monday": [["09:00", "17:00"]]}, {"mon": [["17:00", "09:00"]]}, {"mon": [["9"]]}):
        try:
            engine.parse_schedule(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")
