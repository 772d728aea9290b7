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

The parts, each importing only those above it: `model` (Calendar, Schedule, describing,
the shared field grammar), `cron` (cron, anacron, run-parts), `timers` (systemd timers),
`blockers` (what keeps a job from running), `housekeeping` (the distributions' own
maintenance jobs, which are no one's backup). Every public name is importable from
`auditor.parsers.schedules`.
"""

from __future__ import annotations

from auditor.parsers.schedules.blockers import CRON_DAEMONS, FileMeta, Scheduler, cron_file_blocker
from auditor.parsers.schedules.cron import (
    ANACRON_PERIODS,
    CRON_NICKNAMES,
    RUN_PARTS_NAME,
    CronJob,
    Lines,
    cron_calendar,
    cron_command,
    cron_field,
    parse_anacrontab,
    parse_cron_line,
    parse_crontab,
    run_parts_dirs,
    run_parts_runs,
    skipped_when_anacron_installed,
)
from auditor.parsers.schedules.housekeeping import HOUSEKEEPING, is_housekeeping
from auditor.parsers.schedules.model import (
    ALL_DAYS,
    ALL_HOURS,
    ALL_MINUTES,
    ALL_MONTHS,
    ALL_WEEKDAYS,
    MONTH_NAMES,
    NEVER,
    WEEKDAY_NAMES,
    Calendar,
    Schedule,
    ScheduleError,
    describe_calendar,
)
from auditor.parsers.schedules.timers import (
    CALENDAR_SHORTHANDS,
    ListedTimer,
    on_calendar,
    parse_list_timers,
    timer_schedule,
    unit_values,
)

__all__ = [
    "ALL_DAYS",
    "ALL_HOURS",
    "ALL_MINUTES",
    "ALL_MONTHS",
    "ALL_WEEKDAYS",
    "ANACRON_PERIODS",
    "CALENDAR_SHORTHANDS",
    "CRON_DAEMONS",
    "CRON_NICKNAMES",
    "Calendar",
    "CronJob",
    "FileMeta",
    "HOUSEKEEPING",
    "Lines",
    "ListedTimer",
    "MONTH_NAMES",
    "NEVER",
    "RUN_PARTS_NAME",
    "Schedule",
    "ScheduleError",
    "Scheduler",
    "WEEKDAY_NAMES",
    "cron_calendar",
    "cron_command",
    "cron_field",
    "cron_file_blocker",
    "describe_calendar",
    "is_housekeeping",
    "on_calendar",
    "parse_anacrontab",
    "parse_cron_line",
    "parse_crontab",
    "parse_list_timers",
    "run_parts_dirs",
    "run_parts_runs",
    "skipped_when_anacron_installed",
    "timer_schedule",
    "unit_values",
]
