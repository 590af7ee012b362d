"""Campaign plans (pure, no Django): step and trigger validation, waits, quiet hours.

Steps are JSON objects run in order; a branch jumps forward to another step (or past the last one, which
ends the campaign), so every enrollment finishes.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadflow.core.conditions import ConditionError, validate

STEP_TYPES = ("email", "sms", "wait", "branch", "update", "list", "task", "notify", "handoff")
TRIGGERS = ("manual", "form_submitted", "segment_joined", "stage_changed", "score_crossed")
EXIT_GOALS = ("converted", "replied", "unsubscribed", "became_sql")
UPDATABLE = ("stage", "status", "industry", "product_interest", "purchase_timeframe", "budget", "language")


def steps_problems(steps: Any, fields: Mapping[str, str]) -> list[str]:
    """Every problem with a list of steps, each naming the step ("step 2: …")."""
    if not isinstance(steps, list):
        return ["steps must be a list"]
    problems: list[str] = []
    for index, step in enumerate(steps, start=1):
        where = f"step {index}"
        if not isinstance(step, Mapping) or step.get("type") not in STEP_TYPES:
            problems.append(f"{where}: type must be one of {', '.join(STEP_TYPES)}")
            continue
        kind = step["type"]
        if kind in {"email", "sms"} and not isinstance(step.get("template_id"), int):
            problems.append(f"{where}: choose a template (template_id)")
        if kind == "wait":
            problems += _wait_problems(step, fields, where)
        if kind == "branch":
            problems += _condition_problems(step.get("condition"), fields, where)
            for key in ("then", "else"):
                target = step.get(key)
                if not isinstance(target, int) or not index < target <= len(steps) + 1:
                    problems.append(
                        f"{where}: {key} must be a later step number (or {len(steps) + 1} to end)"
                    )
        if kind == "update" and (
            step.get("field") not in UPDATABLE or not str(step.get("value", "")).strip()
        ):
            problems.append(f"{where}: update needs a field ({', '.join(UPDATABLE)}) and a value")
        if kind == "list" and (
            step.get("action") not in {"add", "remove"} or not isinstance(step.get("segment_id"), int)
        ):
            problems.append(f"{where}: list needs action add|remove and a segment_id")
        if kind in {"task", "notify"} and not str(step.get("title", "")).strip():
            problems.append(f"{where}: {kind} needs a title")
    return problems


def _wait_problems(step: Mapping[str, Any], fields: Mapping[str, str], where: str) -> list[str]:
    problems = []
    modes = [key for key in ("minutes", "until", "window") if key in step]
    if len(modes) != 1:
        return [f"{where}: wait needs exactly one of minutes, until (a date and time) or window"]
    if "minutes" in step and (not isinstance(step["minutes"], int | float) or step["minutes"] < 0):
        problems.append(f"{where}: minutes must be a number ≥ 0")
    if "until" in step:
        try:
            dt.datetime.fromisoformat(str(step["until"]))
        except ValueError:
            problems.append(f"{where}: until must be an ISO date and time")
    if "window" in step:
        try:
            window_parse(step["window"])
        except (ValueError, TypeError, KeyError) as err:
            problems.append(f"{where}: window {err}")
    if "until_condition" in step:
        problems += _condition_problems(step["until_condition"], fields, where)
    return problems


def _condition_problems(condition: Any, fields: Mapping[str, str], where: str) -> list[str]:
    try:
        validate(condition, fields)
    except ConditionError as err:
        return [f"{where}: {problem}" for problem in err.problems]
    return []


def window_parse(window: Mapping[str, Any]) -> tuple[set[int], dt.time, dt.time]:
    """{"days": [0..6] (Monday = 0), "start": "09:00", "end": "17:00"} in the lead's time zone."""
    days = set(window.get("days", range(7)))
    if not days <= set(range(7)):
        raise ValueError("days are 0 (Monday) to 6")
    start, end = dt.time.fromisoformat(window["start"]), dt.time.fromisoformat(window["end"])
    if start >= end:
        raise ValueError("start must be before end")
    return days, start, end


def zone(name: str, default: str = "UTC") -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def next_in_window(moment: dt.datetime, window: Mapping[str, Any], tz: ZoneInfo) -> dt.datetime:
    """`moment` if it falls in the window, else the window's next opening (in UTC)."""
    days, start, end = window_parse(window)
    local = moment.astimezone(tz)
    for offset in range(8):
        day = local.date() + dt.timedelta(days=offset)
        if day.weekday() not in days:
            continue
        opens = dt.datetime.combine(day, start, tz)
        closes = dt.datetime.combine(day, end, tz)
        if local < closes:
            return max(opens, local).astimezone(dt.UTC)
    raise ValueError("the window never opens")


def quiet_hours_parse(spec: str) -> tuple[int, int] | None:
    """ "21-8" → (21, 8): no messages from 21:00 to 08:00 local time; "" or "off" → None."""
    if not spec.strip() or spec.strip() == "off":
        return None
    start, _, end = spec.partition("-")
    return int(start) % 24, int(end) % 24


def after_quiet_hours(moment: dt.datetime, quiet: tuple[int, int] | None, tz: ZoneInfo) -> dt.datetime:
    """`moment` unless it is within quiet hours in `tz`; then the time they end (in UTC)."""
    if quiet is None:
        return moment
    start, end = quiet
    local = moment.astimezone(tz)
    hour = local.hour
    inside = start <= hour < end if start < end else hour >= start or hour < end
    if not inside:
        return moment
    ends = dt.datetime.combine(local.date(), dt.time(end), tz)
    if ends <= local:
        ends += dt.timedelta(days=1)
    return ends.astimezone(dt.UTC)
