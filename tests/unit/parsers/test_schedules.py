"""Schedules: cron lines, anacrontab, run-parts names, OnCalendar=, timers, list-timers.

Where the real tool is installed, it is the oracle: `systemd-analyze calendar` for
OnCalendar= (its next elapses against ours) and `run-parts --test` for file names.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.parsers.schedules import (
    NEVER,
    Calendar,
    Schedule,
    ScheduleError,
    cron_command,
    on_calendar,
    parse_anacrontab,
    parse_cron_line,
    parse_crontab,
    parse_list_timers,
    run_parts_dirs,
    run_parts_runs,
    skipped_when_anacron_installed,
    timer_schedule,
    unit_values,
)


def cron(line: str, user: str | None = None) -> Schedule:
    job = parse_cron_line(line, "test:1", user)
    assert job is not None
    return job.schedule


@pytest.mark.parametrize("line, gap_hours, text", [
    ("30 2 * * * root restic backup", 24, "daily at 02:30"),
    ("47 6 * * 7 root x", 168, "weekly on Sun at 06:47"),
    ("47 6 * * sun root x", 168, "weekly on Sun at 06:47"),
    ("0 3 * * 0 root x", 168, "weekly on Sun at 03:00"),
    ("*/30 * * * * root x", 0.5, "every 30 minutes"),
    ("5 */6 * * * root x", 6, "every 6 hours at :05"),
    ("0 0-23/2 * * * root x", 2, "every 2 hours at :00"),
    ("17 * * * * root x", 1, "hourly at :17"),
    ("0 2 * * 1-5 root x", 72, "on Mon–Fri at 02:00"),
    ("0 2 * * mon-fri root x", 72, "on Mon–Fri at 02:00"),
    ("0 1 * * 6,0 root x", 144, "on Sat, Sun at 01:00"),
    ("0 1 * * 1-7 root x", 24, "daily at 01:00"),
    ("52 6 1 * * root x", 31 * 24, "monthly on day 1 at 06:52"),
    ("0 4 1,15 * * root x", 17 * 24, "on days 1, 15 of the month at 04:00"),
    ("0 0 1 jan * root x", 366 * 24, "on day 1 of the month in Jan at 00:00"),
    ("0 0 29 2 * root x", NEVER, "on day 29 of the month in Feb at 00:00"),  # once in 800 days
    ("0 2,14 * * * root x", 12, "daily at 02:00, 14:00"),
    ("@daily root x", 24, "daily at 00:00"),
    ("@midnight root x", 24, "daily at 00:00"),
    ("@hourly root x", 1, "hourly at :00"),
    ("@weekly root x", 168, "weekly on Sun at 00:00"),
    ("@monthly root x", 31 * 24, "monthly on day 1 at 00:00"),
    ("@reboot root x", NEVER, "at boot"),
])
def test_cron_schedules(line, gap_hours, text):
    schedule = cron(line)
    assert schedule.max_gap_hours() == gap_hours
    assert schedule.describe() == text


def test_fires_every_is_the_daily_question():
    # Given a daily, a weekday-only and a weekly job
    daily, weekdays, weekly = cron("30 2 * * * r x"), cron("0 2 * * 1-5 r x"), cron("0 3 * * 0 r x")
    # Then only the daily one fires in every 24-hour window
    assert daily.fires_every(24) and not weekdays.fires_every(24) and not weekly.fires_every(24)
    # And the weekday job fires at least every 72 hours (Friday to Monday), the weekly every 168
    assert weekdays.fires_every(72) and weekly.fires_every(168) and not weekly.fires_every(167)


def test_both_day_fields_restricted_means_either_matches():
    # crontab(5): "0 3 1 * sun" fires on the 1st AND on every Sunday
    assert cron("0 3 1 * sun r x").max_gap_hours() <= 7 * 24
    # but a "*"-led day field keeps the AND: "*/2" days on Sundays only is not "either"
    assert cron("0 3 */2 * sun r x").max_gap_hours() > 7 * 24


def test_user_crontabs_have_no_user_field():
    job = parse_cron_line("30 2 * * * restic backup /srv", "spool:1", "alice")
    assert job is not None and job.user == "alice" and job.command == "restic backup /srv"
    system = parse_cron_line("30 2 * * * alice restic backup /srv", "crontab:1", None)
    assert system is not None and system.user == "alice" and system.command == "restic backup /srv"


def test_percent_ends_the_command_unless_escaped():
    assert cron_command("mail -s nightly root%restic backup%") == "mail -s nightly root"
    assert cron_command(r"tar czf /b/etc-$(date +\%F).tgz /etc") == "tar czf /b/etc-$(date +%F).tgz /etc"


def test_comments_environment_and_garbage():
    text = ("# comment\n\nSHELL=/bin/sh\nMAILTO = \"\"\n"
            "61 25 * * * root restic\n*/0 * * * * root borg\n@sometimes root restic\n0 2 * *\n"
            "15 1 * * * root borg create ::x /srv\n")
    jobs, problems = parse_crontab(text, "/etc/cron.d/x", None)
    assert [j.source for j in jobs] == ["/etc/cron.d/x:9"]
    assert [p.split(":")[1] for p in problems] == ["5", "6", "7", "8"]


def test_numbered_lines_keep_their_numbers():
    jobs, _ = parse_crontab([(20001, "10 1 * * * borg create ::x /srv")], "/var/spool/cron/crontabs/root",
                            "root")
    assert jobs[0].source == "/var/spool/cron/crontabs/root:20001"


@pytest.mark.parametrize("field", ["60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
                                   "*/0 * * * *", "5-1 * * * *", "x * * * *", "* * * * mon-xyz"])
def test_out_of_range_fields_are_errors(field):
    with pytest.raises(ScheduleError):
        parse_cron_line(field + " root cmd", "t:1", None)


def test_anacrontab():
    text = ("SHELL=/bin/sh\nSTART_HOURS_RANGE=3-22\n"
            "1\t5\tcron.daily\trun-parts --report /etc/cron.daily\n"
            "7\t10\tcron.weekly\trun-parts --report /etc/cron.weekly\n"
            "@monthly\t15\tcron.monthly\trun-parts --report /etc/cron.monthly\nbroken line\n")
    jobs, problems = parse_anacrontab(text)
    assert [(j.source, j.schedule.max_gap_hours()) for j in jobs] == [
        ("/etc/anacrontab:3", 24), ("/etc/anacrontab:4", 168), ("/etc/anacrontab:5", 744)]
    assert jobs[0].schedule.describe() == "every day" and jobs[1].schedule.describe() == "every 7 days"
    assert len(problems) == 1 and "/etc/anacrontab:6" in problems[0]


def test_run_parts_lines_and_the_anacron_guard():
    debian = "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }"
    assert run_parts_dirs(debian) == ["/etc/cron.daily"]
    assert skipped_when_anacron_installed(debian)
    assert run_parts_dirs("cd / && run-parts --report /etc/cron.hourly") == ["/etc/cron.hourly"]
    assert not skipped_when_anacron_installed("cd / && run-parts --report /etc/cron.hourly")
    assert skipped_when_anacron_installed("[ -x /usr/sbin/anacron ] || run-parts /etc/cron.weekly")


NAMES = ["backup", "backup.sh", "pg-dump_nightly", "restic.cron", "backup~", ".hidden", "borg backup",
         "backup.dpkg-old", "Nightly2"]


def test_run_parts_naming_rule():
    assert [n for n in NAMES if run_parts_runs(n)] == ["backup", "pg-dump_nightly", "Nightly2"]


@pytest.mark.skipif(shutil.which("run-parts") is None, reason="Debian's run-parts is not installed")
def test_run_parts_naming_rule_agrees_with_run_parts(tmp_path: Path):
    # Given executable files of each name in a directory
    for name in NAMES:
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    # When Debian's own run-parts says what it would run (--test runs nothing)
    said = subprocess.run(["run-parts", "--test", str(tmp_path)], capture_output=True, text=True,
                          check=True).stdout.split("\n")
    ran = sorted(Path(line).name for line in said if line)
    # Then our rule picks the same names
    assert ran == sorted(n for n in NAMES if run_parts_runs(n))


# --- systemd ---------------------------------------------------------------

CALENDARS = ["daily", "weekly", "hourly", "monthly", "Mon..Fri 02:00", "*-*-* *:00/30", "*-*-01 03:00:00",
             "*-*~01", "Sat,Sun 04:15", "*-*-* 02:00:00", "*-*-* 6,18:00", "Sun *-*-* 03:10:00", "quarterly",
             "*-*-* 00/6:15"]


@pytest.mark.parametrize("value, gap_hours, text", [
    ("daily", 24, "daily at 00:00"),
    ("*-*-* 02:00:00", 24, "daily at 02:00"),
    ("weekly", 168, "weekly on Mon at 00:00"),
    ("hourly", 1, "hourly at :00"),
    ("Mon..Fri 02:00", 72, "on Mon–Fri at 02:00"),
    ("*-*-* *:00/30", 0.5, "every 30 minutes"),
    ("*-*-* 6,18:00", 12, "daily at 06:00, 18:00"),
    ("*-*-01 03:00:00", 744, "monthly on day 1 at 03:00"),
    ("*-*~01", 744, "on the last day of the month at 00:00"),
    ("Sat,Sun 04:15 UTC", 144, "on Sat, Sun at 04:15"),
])
def test_on_calendar(value, gap_hours, text):
    schedule = Schedule(value, (on_calendar(value),))
    assert schedule.max_gap_hours() == gap_hours
    assert schedule.describe() == text


def _our_next(calendar: Calendar, after: dt.datetime, count: int) -> list[dt.datetime]:
    found: list[dt.datetime] = []
    day = after.date()
    while len(found) < count:
        if calendar.fires_on(day):
            for minutes in calendar.times():
                at = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60))
                if at > after and len(found) < count:
                    found.append(at)
        day += dt.timedelta(days=1)
    return found


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("value", CALENDARS)
def test_on_calendar_agrees_with_systemd_analyze(value):
    # Given systemd's own reading of the expression (next 6 elapses, in UTC)
    said = subprocess.run(["systemd-analyze", "calendar", "--iterations=6", value], capture_output=True,
                          text=True, check=True, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"}).stdout
    theirs = [dt.datetime.strptime(m, "%Y-%m-%d %H:%M:%S")
              for m in re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+)", said)]
    assert len(theirs) == 6, said
    # When we compute the same elapses from one second before systemd's first
    ours = _our_next(on_calendar(value), theirs[0] - dt.timedelta(seconds=1), 6)
    # Then they are the same instants
    assert ours == theirs


@pytest.mark.parametrize("value", ["Funday 02:00", "*-*-* 25:00", "*-13-01", "*-*-* 02:00 extra words",
                                   "*-*-* *:00/0"])
def test_unreadable_calendars(value):
    with pytest.raises(ScheduleError):
        on_calendar(value)


def test_unit_values_accumulate_and_reset_like_systemd():
    main = "[Timer]\nOnCalendar=weekly\nOnCalendar=Mon 03:00\nPersistent=true\n"
    dropin = "[Timer]\nOnCalendar=\nOnCalendar=daily\n"
    assert unit_values([main])["OnCalendar"] == ["weekly", "Mon 03:00"]
    assert unit_values([main, dropin])["OnCalendar"] == ["daily"]


def test_timer_schedules():
    assert timer_schedule({"OnCalendar": ["daily"]}).fires_every(24)
    assert not timer_schedule({"OnCalendar": ["weekly"]}).fires_every(24)
    both = timer_schedule({"OnBootSec": ["15min"], "OnUnitActiveSec": ["1d"]})
    assert both.fires_every(24) and both.describe() == "every day"
    # OnUnitActiveSec alone counts from a first run that nothing triggers
    alone = timer_schedule({"OnUnitActiveSec": ["1d"]})
    assert not alone.fires_every(24) and "repeats only after a first run" in alone.describe()
    assert timer_schedule({"OnBootSec": ["5min"]}).describe() == "at boot"
    with pytest.raises(ScheduleError):
        timer_schedule({"OnUnitActiveSec": ["soon"]})


def test_list_timers_lines():
    # The column layout of systemd 252's `list-timers --all --no-legend`: NEXT, LEFT, LAST,
    # PASSED, UNIT, ACTIVATES; an inactive timer has n/a in the time columns.
    text = ("Sun 2026-11-22 00:00:00 UTC 13h left Sat 2026-11-21 00:00:04 UTC 10h ago borg-backup.timer "
            "borg-backup.service\n"
            "n/a n/a n/a n/a restic.timer restic.service\n")
    timers = parse_list_timers(text)
    borg = timers["borg-backup.timer"]
    assert borg.scheduled and borg.activates == "borg-backup.service"
    assert not timers["restic.timer"].scheduled
