"""The schedule model: `Calendar` (one wall-clock pattern), `Schedule` (calendars, an
interval, at boot) with how often it fires and how a person would say it, and `_field`,
the list/range/step grammar cron fields and OnCalendar= components share.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbering: Sun = 0
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
ALL_MINUTES = frozenset(range(60))
ALL_HOURS = frozenset(range(24))
ALL_DAYS = frozenset(range(1, 32))
ALL_MONTHS = frozenset(range(1, 13))
ALL_WEEKDAYS = frozenset(range(7))
NEVER = math.inf

_WALK_START = dt.date(2024, 1, 1)
_WALK_DAYS = 800
_MINUTES_PER_DAY = 1440


class ScheduleError(ValueError):
    """A schedule expression this parser cannot read (the line is then reported, not guessed)."""


@dataclass(frozen=True)
class Calendar:
    """One wall-clock pattern: a cron line's five fields, or one OnCalendar= value."""

    minutes: frozenset[int] = ALL_MINUTES
    hours: frozenset[int] = ALL_HOURS
    days: frozenset[int] = ALL_DAYS  # day of the month, 1..31
    months: frozenset[int] = ALL_MONTHS
    weekdays: frozenset[int] = ALL_WEEKDAYS  # 0 = Sunday
    days_from_end: frozenset[int] = frozenset()  # systemd "~": 1 is the last day of the month
    either_day: bool = False  # cron: both day fields restricted, so either one may match
    years: frozenset[int] | None = None

    def fires_on(self, day: dt.date) -> bool:
        if self.years is not None and day.year not in self.years:
            return False
        if day.month not in self.months:
            return False
        if self.days_from_end:
            last = _calendar.monthrange(day.year, day.month)[1]
            day_ok = last - day.day + 1 in self.days_from_end
        else:
            day_ok = day.day in self.days
        weekday_ok = (day.weekday() + 1) % 7 in self.weekdays
        return (day_ok or weekday_ok) if self.either_day else (day_ok and weekday_ok)

    def times(self) -> tuple[int, ...]:
        """Minutes after midnight at which it fires, on a day it fires."""
        return tuple(sorted(h * 60 + m for h in self.hours for m in self.minutes))

    @property
    def every_day(self) -> bool:
        if self.years is not None or self.days_from_end or self.months != ALL_MONTHS:
            return False
        days_all, weekdays_all = self.days == ALL_DAYS, self.weekdays == ALL_WEEKDAYS
        return (days_all or weekdays_all) if self.either_day else (days_all and weekdays_all)


@dataclass(frozen=True)
class Schedule:
    """When a job fires: calendars, a fixed interval, at boot, or a mix of them."""

    expression: str  # as written, for the evidence: "30 2 * * *", "OnCalendar=daily"
    calendars: tuple[Calendar, ...] = ()
    interval_hours: float | None = None  # anacron's period, OnUnitActiveSec=
    at_boot: bool = False
    note: str = ""  # why it fires less than it seems to, e.g. a timer that is never started

    def max_gap_hours(self) -> float:
        """The longest time between two firings; `NEVER` when it does not repeat."""
        gaps = [_calendar_gap_minutes(self.calendars) / 60] if self.calendars else []
        if self.interval_hours is not None:
            gaps.append(self.interval_hours)
        return min(gaps, default=NEVER)

    def fires_every(self, hours: float) -> bool:
        """True when the job fires at least once in every window of `hours` hours."""
        return self.max_gap_hours() <= hours + 1e-9

    def describe(self) -> str:
        parts = [describe_calendar(c) for c in self.calendars]
        if self.interval_hours is not None:
            parts.append(f"every {_hours_text(self.interval_hours)}")
        if self.at_boot:
            parts.append("at boot")
        text = "; ".join(parts) or "never"
        return f"{text} ({self.note})" if self.note else text


@functools.lru_cache(maxsize=4096)
def _calendar_gap_minutes(calendars: tuple[Calendar, ...]) -> float:
    if all(c.every_day for c in calendars):
        each_day = sorted({t for c in calendars for t in c.times()})
        if not each_day:
            return NEVER
        inner = max((b - a for a, b in zip(each_day, each_day[1:], strict=False)), default=0)
        return max(inner, _MINUTES_PER_DAY - each_day[-1] + each_day[0])
    day_times: dict[tuple[int, ...], tuple[int, ...]] = {}
    previous: int | None = None
    widest, firings = 0, 0
    for offset in range(_WALK_DAYS):
        day = _WALK_START + dt.timedelta(days=offset)
        matching = tuple(i for i, c in enumerate(calendars) if c.fires_on(day))
        if not matching:
            continue
        if matching not in day_times:
            day_times[matching] = tuple(sorted({t for i in matching for t in calendars[i].times()}))
        times = day_times[matching]
        if not times:
            continue
        base = offset * _MINUTES_PER_DAY
        points = ([] if previous is None else [previous]) + [base + t for t in times]
        widest = max([widest] + [b - a for a, b in zip(points, points[1:], strict=False)])
        previous = base + times[-1]
        firings += len(times)
    return widest if firings >= 2 else NEVER


# --------------------------------------------------------------------------
# Describing
# --------------------------------------------------------------------------


def _hours_text(hours: float) -> str:
    if hours >= 24 and hours % 24 == 0:
        days = int(hours // 24)
        return "day" if days == 1 else f"{days} days"
    if hours >= 1 and hours == int(hours):
        return "hour" if hours == 1 else f"{int(hours)} hours"
    return f"{hours * 60:g} minutes"


def _even_step(values: frozenset[int], size: int) -> int | None:
    """The step when `values` are evenly spaced from 0 and cover the cycle, e.g. {0, 6, 12, 18}."""
    ordered = sorted(values)
    if len(ordered) < 2 or ordered[0] != 0:
        return None
    step = ordered[1] - ordered[0]
    return step if ordered == list(range(0, size, step)) else None


def _names(values: frozenset[int], names: tuple[str, ...], first: int) -> str:
    # Weeks are read from Monday: "Mon–Fri", "Sat, Sun".
    ordered = sorted(values, key=(lambda v: (v - 1) % 7) if names is WEEKDAY_NAMES else None)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{names[ordered[0] - first].title()}–{names[ordered[-1] - first].title()}"
    if names is WEEKDAY_NAMES and len(ordered) > 2 and [(v - 1) % 7 for v in ordered] == list(
            range((ordered[0] - 1) % 7, (ordered[-1] - 1) % 7 + 1)):
        return f"{names[ordered[0]].title()}–{names[ordered[-1]].title()}"
    return ", ".join(names[v - first].title() for v in ordered)


def _time_text(c: Calendar) -> str:
    if c.minutes == ALL_MINUTES and c.hours == ALL_HOURS:
        return "every minute"
    if c.hours == ALL_HOURS:
        step = _even_step(c.minutes, 60)
        if step:
            return f"every {step} minutes"
        if len(c.minutes) == 1:
            return f"hourly at :{min(c.minutes):02d}"
    times = c.times()
    step = _even_step(c.hours, 24)
    if step and len(c.minutes) == 1:
        return f"every {step} hours at :{min(c.minutes):02d}"
    if len(times) <= 4:
        return "at " + ", ".join(f"{t // 60:02d}:{t % 60:02d}" for t in times)
    return f"{len(times)} times a day"


def describe_calendar(c: Calendar) -> str:
    when = _time_text(c)
    if c.every_day:
        return f"daily {when}" if when.startswith("at ") else when
    day_parts: list[str] = []
    weekdays_only = c.weekdays != ALL_WEEKDAYS and (c.days == ALL_DAYS and not c.days_from_end)
    if c.days_from_end:
        ends = sorted(c.days_from_end)
        day_parts.append("on the last day of the month" if ends == [1]
                         else "on day(s) " + ", ".join(f"-{d}" for d in ends) + " from the month's end")
    elif c.days != ALL_DAYS:
        if len(c.days) == 1 and c.months == ALL_MONTHS and c.weekdays == ALL_WEEKDAYS:
            day_parts.append(f"monthly on day {min(c.days)}")
        else:
            listed = sorted(c.days)
            day_parts.append(f"on day{'s' if len(listed) > 1 else ''} "
                             + ", ".join(str(d) for d in listed) + " of the month")
    if c.weekdays != ALL_WEEKDAYS:
        names = _names(c.weekdays, WEEKDAY_NAMES, 0)
        if weekdays_only and len(c.weekdays) == 1 and c.months == ALL_MONTHS and c.years is None:
            day_parts.append(f"weekly on {names}")
        else:
            day_parts.append(("or " if c.either_day and day_parts else "") + f"on {names}")
    if c.months != ALL_MONTHS:
        day_parts.append("in " + _names(c.months, MONTH_NAMES, 1))
    if c.years is not None:
        day_parts.append("in " + ", ".join(str(y) for y in sorted(c.years)))
    return " ".join(day_parts + [when])


# --------------------------------------------------------------------------
# The list/range/step grammar of cron fields and OnCalendar= components
# --------------------------------------------------------------------------


def _field(text: str, low: int, high: int, bounds: Callable[[str], tuple[int, int]],
           range_sep: str, step_word: str) -> frozenset[int]:
    """A comma list of `*`, single values and ranges, each with an optional `/step`; a single
    value with a step runs to `high`. `bounds` reads one span ("5" or "1-5") of the grammar."""
    values: set[int] = set()
    for item in text.split(","):
        span, slash, step_text = item.partition("/")
        if slash and not step_text.isdigit():
            raise ScheduleError(f"bad {step_word} in {text!r}")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ScheduleError(f"{step_word} 0 in {text!r}")
        if span == "*":
            start, end = low, high
        else:
            start, end = bounds(span)
            if slash and range_sep not in span:
                end = high  # "5/10": from 5 to the end, every 10 (as cronie and systemd)
        if not low <= start <= end <= high:
            raise ScheduleError(f"{text!r} is outside {low}{range_sep}{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)
