"""Response deadlines in working time, as pure logic (no Django).

A first-response SLA of N minutes counts only the owner's working minutes: their weekly schedule in
their own timezone, minus team holidays and out-of-office days. A rep without a schedule is always
working, so the deadline is simply N minutes after the start.
"""

import datetime as dt
from collections.abc import Collection, Iterable, Mapping

from leadflow.routing.engine import WEEKDAYS, local_time

# A schedule with no working time ahead gives up after this many days and counts plain minutes.
SEARCH_DAYS = 400


def working_deadline(
    start: dt.datetime,
    minutes: float,
    *,
    schedule: Mapping[str, list[tuple[dt.time, dt.time]]] | None,
    timezone: str = "UTC",
    holidays: Collection[dt.date] = (),
    away: Iterable[tuple[dt.date, dt.date]] = (),
) -> dt.datetime:
    """The moment `minutes` working minutes after `start` have passed (aware, in `start`'s timezone)."""
    if schedule is None:
        return start + dt.timedelta(minutes=minutes)
    absences = list(away)
    left = dt.timedelta(minutes=minutes)
    local = local_time(start, timezone)
    tz = local.tzinfo
    day = local.date()
    for _ in range(SEARCH_DAYS):
        if day not in holidays and not any(first <= day <= last for first, last in absences):
            for opens, closes in schedule.get(WEEKDAYS[day.weekday()], []):
                window_start = dt.datetime.combine(day, opens, tzinfo=tz)
                window_end = dt.datetime.combine(day, closes, tzinfo=tz)
                begin = max(window_start, local)
                if begin >= window_end:
                    continue
                if begin + left <= window_end:
                    return (begin + left).astimezone(start.tzinfo)
                left -= window_end - begin
        day += dt.timedelta(days=1)
    return start + dt.timedelta(minutes=minutes)
