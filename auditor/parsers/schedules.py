"""When scheduled jobs run: crontabs, anacrontab, run-parts directories, systemd timers.

Every way of scheduling a job becomes a `Schedule`, which answers the two questions an
audit asks: does it fire at least once every N hours (`Schedule.fires_every`), and how
would a person say when it runs (`Schedule.describe`: "daily at 02:30", "weekly on Sun
at 06:47").

- cron (Vixie cron as Debian ships it, crontab(5)): five time fields (lists, ranges,
  `*/6` steps, month and day names, day-of-month and day-of-week matching as *either*
  when both are restricted), the `@daily`-style nicknames, `@reboot`. /etc/crontab and
  /etc/cron.d files carry a user field, user crontabs do not. Environment lines are
  settings, not jobs. A `%` ends the command (the rest is the job's stdin) unless escaped.
- anacrontab: `period delay job-id command`, the period in days or `@monthly`.
- run-parts (Debian's, which cron and anacron use for /etc/cron.daily and friends) runs
  only files whose whole name is letters, digits, `_` and `-`: `backup.sh` is NEVER run,
  silently. Debian's cron applies the same rule to file names in /etc/cron.d.
- systemd timers: `OnCalendar=` in its common forms (`daily`, `Mon..Fri 02:00`,
  `*-*-* *:00/30`, `*-*-01 03:00:00`, `*-*~01`), and the monotonic `OnUnitActiveSec=`
  family. List-valued keys accumulate over the unit file and its drop-ins; an empty
  assignment resets them, as in systemd.

How often a calendar fires is found by walking real calendar days (from 2024-01-01, a
leap year, for 800 days), so month lengths, leap days and weekday rules are exact.
Time zones and daylight-saving shifts are ignored: times are local wall-clock times.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from auditor.parsers.conf import systemd_timespan_seconds

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

# Debian's run-parts (without --lsbsysinit) and Debian's cron for /etc/cron.d file names.
RUN_PARTS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class ScheduleError(ValueError):
    """A schedule expression this parser cannot read (the line is then reported, not guessed)."""


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------


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
# cron and anacron
# --------------------------------------------------------------------------

CRON_NICKNAMES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_ENV_LINE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=")
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")


def _cron_number(text: str, names: tuple[str, ...] | None, first: int) -> int:
    if text.isdigit():
        return int(text)
    if names and text.lower() in names:
        return names.index(text.lower()) + first
    raise ScheduleError(f"{text!r} is not a number{' or a name' if names else ''}")


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


def cron_field(text: str, low: int, high: int, names: tuple[str, ...] | None = None,
               first: int = 0) -> frozenset[int]:
    """One cron time field: `*`, `5`, `1-5`, `*/6`, `0-23/2`, `1,15`, `mon-fri`."""
    def bounds(span: str) -> tuple[int, int]:
        a, dash, b = span.partition("-")
        start = _cron_number(a, names, first)
        return start, _cron_number(b, names, first) if dash else start

    return _field(text, low, high, bounds, "-", "step")


def cron_calendar(fields: list[str]) -> Calendar:
    """The five time fields of a cron line."""
    if len(fields) != 5:
        raise ScheduleError(f"expected 5 time fields, got {len(fields)}")
    minute, hour, day, month, weekday = fields
    weekdays = frozenset(w % 7 for w in cron_field(weekday, 0, 7, WEEKDAY_NAMES))
    return Calendar(
        minutes=cron_field(minute, 0, 59), hours=cron_field(hour, 0, 23),
        days=cron_field(day, 1, 31), months=cron_field(month, 1, 12, MONTH_NAMES, 1),
        weekdays=weekdays,
        # Vixie cron: when neither day field starts with "*", a day matching either fires.
        either_day=not day.startswith("*") and not weekday.startswith("*"),
    )


@dataclass(frozen=True)
class CronJob:
    source: str  # "/etc/crontab:17"
    user: str
    schedule: Schedule
    command: str  # the part of the line that /bin/sh runs (up to the first unescaped %)


def cron_command(text: str) -> str:
    """What cron hands to the shell: up to the first unescaped `%`, with `\\%` unescaped."""
    return _UNESCAPED_PERCENT.split(text, maxsplit=1)[0].replace("\\%", "%").strip()


def parse_cron_line(line: str, source: str, user: str | None) -> CronJob | None:
    """One crontab line: a job, or None for blanks, comments and environment settings.

    `user` is the crontab's owner for a user crontab; None for /etc/crontab and
    /etc/cron.d files, whose lines carry the user as a sixth field.
    """
    stripped = line.strip()
    if not stripped or stripped.startswith("#") or _ENV_LINE.match(stripped):
        return None
    nickname = stripped.startswith("@")
    count = (1 if nickname else 5) + (1 if user is None else 0)
    words = stripped.split(None, count)
    if len(words) <= count:
        raise ScheduleError("too few fields for a job line")
    if not nickname:
        schedule = Schedule(" ".join(words[:5]), (cron_calendar(words[:5]),))
    elif words[0].lower() == "@reboot":
        schedule = Schedule(words[0], at_boot=True)
    elif words[0].lower() in CRON_NICKNAMES:
        schedule = Schedule(words[0], (cron_calendar(CRON_NICKNAMES[words[0].lower()].split()),))
    else:
        raise ScheduleError(f"unknown nickname {words[0]!r}")
    owner = words[count - 1] if user is None else user
    command = words[count]
    return CronJob(source, owner, schedule, cron_command(command))


Lines = str | Iterable[tuple[int, str]]  # a file's text, or (line number, line) pairs


def _numbered(lines: Lines) -> Iterable[tuple[int, str]]:
    return enumerate(lines.splitlines(), 1) if isinstance(lines, str) else lines


def parse_crontab(lines: Lines, path: str, user: str | None) -> tuple[list[CronJob], list[str]]:
    """(jobs, problems): every job line of one crontab; lines cron cannot read are problems.
    `lines` is the file's text, or some of its lines with their line numbers."""
    jobs: list[CronJob] = []
    problems: list[str] = []
    for number, line in _numbered(lines):
        try:
            job = parse_cron_line(line, f"{path}:{number}", user)
        except ScheduleError as exc:
            problems.append(f"{path}:{number}: cron cannot read this line ({exc}): {line.strip()[:60]!r}")
            continue
        if job is not None:
            jobs.append(job)
    return jobs, problems


ANACRON_PERIODS = {"@daily": 1, "@weekly": 7, "@monthly": 31, "@yearly": 366, "@annually": 366}


def parse_anacrontab(lines: Lines, path: str = "/etc/anacrontab") -> tuple[list[CronJob], list[str]]:
    """(jobs, problems) of `period delay job-id command` lines; the period in days."""
    jobs: list[CronJob] = []
    problems: list[str] = []
    for number, line in _numbered(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or _ENV_LINE.match(stripped):
            continue
        words = stripped.split(None, 3)
        period = words[0].lower()
        days = ANACRON_PERIODS.get(period) or (int(period) if period.isdigit() else None)
        if len(words) < 4 or not days or not words[1].isdigit():
            problems.append(f"{path}:{number}: anacron cannot read this line: {stripped[:60]!r}")
            continue
        schedule = Schedule(f"anacron period {words[0]}", interval_hours=days * 24.0)
        jobs.append(CronJob(f"{path}:{number}", "root", schedule, words[3].strip()))
    return jobs, problems


_RUN_PARTS = re.compile(r"\brun-parts\b[^;&|]*?\s(/[^\s;&|)}]+)")
_ANACRON_GUARD = re.compile(r"^\s*(?:test\s+-x|\[\s+-x)\s+/usr/sbin/anacron\s*\]?\s*\|\|")


def run_parts_dirs(command: str) -> list[str]:
    """The directories a command runs with run-parts, e.g. ['/etc/cron.daily']."""
    return [match.group(1).rstrip("/") for match in _RUN_PARTS.finditer(command)]


def skipped_when_anacron_installed(command: str) -> bool:
    """Debian's /etc/crontab lines `test -x /usr/sbin/anacron || ...` do nothing when anacron
    is installed: anacron then runs cron.daily/weekly/monthly from /etc/anacrontab."""
    return bool(_ANACRON_GUARD.match(command))


def run_parts_runs(name: str) -> bool:
    """Whether Debian's run-parts runs a file of this name (it must also be executable)."""
    return bool(RUN_PARTS_NAME.match(name))


# --------------------------------------------------------------------------
# systemd timers
# --------------------------------------------------------------------------

CALENDAR_SHORTHANDS = {
    "minutely": "*-*-* *:*:00", "hourly": "*-*-* *:00:00", "daily": "*-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00", "weekly": "Mon *-*-* 00:00:00", "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00", "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
}
_SYSTEMD_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_LONG_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _systemd_weekdays(text: str) -> frozenset[int]:
    def day(name: str) -> int:
        low = name.lower()
        for names in (_SYSTEMD_WEEKDAYS, _LONG_WEEKDAYS):
            if low in names:
                return names.index(low)
        raise ScheduleError(f"{name!r} is not a weekday")

    values: set[int] = set()
    for item in text.split(","):
        a, sep, b = item.partition("..")
        if not sep:
            a, sep, b = item.partition("-")
        if sep:
            start, end = day(a), day(b)
            values.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(0, end + 1)])
        else:
            values.add(day(a))
    return frozenset(values)


def _systemd_bounds(span: str) -> tuple[int, int]:
    if ".." in span:
        a, _, b = span.partition("..")
        if not (a.isdigit() and b.isdigit()):
            raise ScheduleError(f"bad range in {span!r}")
        return int(a), int(b)
    if not span.isdigit():
        raise ScheduleError(f"{span!r} is not a number")
    return int(span), int(span)


def _systemd_component(text: str, low: int, high: int) -> frozenset[int]:
    """One calendar component: `*`, `5`, `1,15`, `1..5`, `00/30` (from 0, every 30), `*/2`."""
    return _field(text, low, high, _systemd_bounds, "..", "repetition")


def on_calendar(value: str) -> Calendar:
    """One OnCalendar= value: `daily`, `Mon..Fri 02:00`, `*-*-* *:00/30`, `*-*~01 03:00`."""
    text = " ".join(value.split())
    text = CALENDAR_SHORTHANDS.get(text.lower(), text)
    words = text.split(" ")
    weekdays = ALL_WEEKDAYS
    if words and re.match(r"^[A-Za-z]", words[0]):
        weekdays = _systemd_weekdays(words.pop(0))
    if words and re.match(r"^[A-Za-z]", words[-1]):
        words.pop()  # a time zone: times are read as local ones
    date_text = next((w for w in words if "-" in w or "~" in w), "*-*-*")
    time_text = next((w for w in words if ":" in w), "00:00:00")
    if len(words) > (date_text in words) + (time_text in words):
        raise ScheduleError(f"cannot read {value!r}")
    years: frozenset[int] | None = None
    # "~" stands for the month-day separator and counts days from the month's end.
    date_parts = date_text.replace("~", "-~").split("-")
    if len(date_parts) == 3:
        year_text, month_text, day_text = date_parts
    elif len(date_parts) == 2:
        year_text, (month_text, day_text) = "*", date_parts
    else:
        raise ScheduleError(f"cannot read the date in {value!r}")
    if year_text != "*":
        years = _systemd_component(year_text, 1970, 2199)
    months = _systemd_component(month_text, 1, 12)
    days_from_end: frozenset[int] = frozenset()
    days = ALL_DAYS
    if day_text.startswith("~"):
        days_from_end = _systemd_component(day_text[1:], 1, 31)
    else:
        days = _systemd_component(day_text, 1, 31)
    time_parts = time_text.split(":")
    if len(time_parts) not in (2, 3):
        raise ScheduleError(f"cannot read the time in {value!r}")
    hours = _systemd_component(time_parts[0], 0, 23)
    minutes = _systemd_component(time_parts[1], 0, 59)
    return Calendar(minutes=minutes, hours=hours, days=days, months=months, weekdays=weekdays,
                    days_from_end=days_from_end, years=years)


def unit_values(texts: list[str]) -> dict[str, list[str]]:
    """Each key's values over a unit file and its drop-ins, in reading order. An empty
    assignment (`OnCalendar=`) clears what came before, as systemd does for list settings."""
    values: dict[str, list[str]] = {}
    for text in texts:
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;[" or "=" not in line:
                continue
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if value:
                values.setdefault(key, []).append(value)
            else:
                values[key] = []
    return values


_MONOTONIC_REPEATS = ("OnUnitActiveSec", "OnUnitInactiveSec")
_MONOTONIC_STARTS = ("OnBootSec", "OnStartupSec", "OnActiveSec")


def timer_schedule(values: dict[str, list[str]]) -> Schedule:
    """The schedule of a timer from its [Timer] keys (see `unit_values`)."""
    shown = [f"{key}={v}" for key in ("OnCalendar", *_MONOTONIC_STARTS, *_MONOTONIC_REPEATS)
             for v in values.get(key, [])]
    calendars = tuple(on_calendar(v) for v in values.get("OnCalendar", []))
    repeats = []
    for key in _MONOTONIC_REPEATS:
        for text in values.get(key, []):
            seconds = systemd_timespan_seconds(text)
            if seconds is None or seconds <= 0:
                raise ScheduleError(f"{key}={text} is not a time span")
            repeats.append(seconds / 3600)
    starts = any(values.get(key) for key in _MONOTONIC_STARTS)
    note = ""
    interval = min(repeats) if repeats else None
    if interval is not None and not starts and not calendars:
        # OnUnitActiveSec counts from the service's last start: nothing ever starts it.
        note = "repeats only after a first run, and no OnBootSec=/OnActiveSec= or OnCalendar= starts it"
        interval = None
    return Schedule(" ".join(shown) or "(no trigger)", calendars, interval, at_boot=starts and not repeats,
                    note=note)


@dataclass(frozen=True)
class ListedTimer:
    unit: str
    activates: str
    scheduled: bool  # systemd has a next elapse for it


def parse_list_timers(text: str) -> dict[str, ListedTimer]:
    """`systemctl list-timers --all --no-pager --no-legend` lines, by timer unit name.

    The columns are NEXT LEFT LAST PASSED UNIT ACTIVATES; NEXT is "n/a" (or "-" in newer
    systemd) for a timer that is loaded but has nothing scheduled."""
    timers: dict[str, ListedTimer] = {}
    for line in text.splitlines():
        words = line.split()
        units = [i for i, w in enumerate(words) if w.endswith(".timer")]
        if not units or units[-1] + 1 >= len(words):
            continue
        unit = words[units[-1]]
        timers[unit] = ListedTimer(unit, words[units[-1] + 1], scheduled=words[0] not in ("n/a", "-"))
    return timers


# --------------------------------------------------------------------------
# What makes a scheduled job never run (Debian's cron, systemd as PID 1)
# --------------------------------------------------------------------------

CRON_DAEMONS = ("cron", "crond", "fcron")


@dataclass(frozen=True)
class Scheduler:
    """What runs scheduled jobs on a host: PID 1's name and the watched processes running."""

    pid1: str
    processes: frozenset[str]

    @property
    def cron_running(self) -> bool:
        return bool(self.processes & set(CRON_DAEMONS))

    @property
    def systemd_running(self) -> bool:
        return self.pid1 == "systemd"

    def cron_blocker(self) -> str:
        return "" if self.cron_running else "no cron daemon is running"

    def systemd_blocker(self) -> str:
        return "" if self.systemd_running else f"systemd is not running (PID 1 is {self.pid1 or 'unknown'})"


@dataclass(frozen=True)
class FileMeta:
    """A crontab file's `find -printf '%y %Y %u %m'`: type, link target's type, owner, octal mode."""

    kind: str = "f"
    target: str = "f"
    owner: str = "?"
    mode: str = "0"


def cron_file_blocker(path: str, meta: Mapping[str, FileMeta]) -> str:
    """Why Debian's cron ignores a whole crontab file, or "" (each rule seen on cron 3.0pl1-162)."""
    name = path.rsplit("/", 1)[-1]
    info = meta.get(path, FileMeta())
    mode = info.mode
    writable = int(mode, 8) & 0o022 if re.fullmatch(r"[0-7]+", mode) else 0
    if path.startswith("/etc/cron.d/") and not run_parts_runs(name):
        return (f"cron ignores /etc/cron.d/{name}: file names there may hold only letters, digits, "
                "'_' and '-' (no dots)")
    if info.kind == "l" and info.target != "f":
        return f"cron ignores {path}: a link to no regular file"
    if path.startswith("/etc/"):
        if info.owner != "root":
            return f"cron ignores {path}: it belongs to {info.owner}, not root"
        if writable:
            return f"cron ignores {path}: it is group- or other-writable (mode {mode})"
    elif mode != "600":
        return f"cron ignores {path}: a user crontab must have mode 600, not {mode}"
    elif info.owner not in (name, "root"):
        return f"cron ignores {path}: it belongs to {info.owner}, not {name} or root"
    return ""
