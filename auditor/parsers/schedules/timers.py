"""systemd timers: OnCalendar= values, the monotonic OnUnitActiveSec= family, unit files
with their drop-ins, and `systemctl list-timers` output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.parsers.conf import systemd_timespan_seconds
from auditor.parsers.schedules.model import ALL_DAYS, ALL_WEEKDAYS, Calendar, Schedule, ScheduleError, _field

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
