"""cron and anacron: crontab lines (five time fields, nicknames, `@reboot`, the user field
of system crontabs, `%` in commands), anacrontab, and Debian's run-parts name rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from auditor.parsers.schedules.model import (
    MONTH_NAMES,
    WEEKDAY_NAMES,
    Calendar,
    Schedule,
    ScheduleError,
    _field,
)

# Debian's run-parts (without --lsbsysinit) and Debian's cron for /etc/cron.d file names.
RUN_PARTS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


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
