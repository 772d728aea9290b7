"""The backups check end to end: the CLI against real sshd hosts running Debian's real cron.

Each host has its own PID namespace (so the scheduler probe sees only its processes) where
`cron -f` runs with the planted crontabs, and a planted /srv/backup whose files carry real
modification times. /run is replaced so that cron's pid file never touches the machine's.
The planted /etc/crontab is Debian's with the cron.daily/weekly/monthly lines left out, so
that the hosts' cron never runs this machine's real cron.daily scripts.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.fleetrun import assert_nowhere_in, audit_fleet
from tests.integration.sshhosts import (
    HostSpec,
    Planted,
    Service,
)

pytestmark = pytest.mark.integration
HOUR = 3600
NOW = time.time()
PG_SECRET = "Pg-Planted-Secret-5"
MY_SECRET = "My-Planted-Pw-8"
CRONTAB = """SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly
"""
DAILY_PG_DUMP = (f"PGPASSWORD={PG_SECRET}\n"
                 f"30 2 * * * PGPASSWORD='{PG_SECRET}' pg_dump -h 127.0.0.1 shop | gzip > "
                 "/srv/backup/db/shop.sql.gz\n")
WEEKLY_RESTIC = ("# restic, Sundays only\n"
                 f"0 3 * * 0 root mysqldump -uroot -p{MY_SECRET} shop > /srv/backup/db/shop.sql && "
                 "restic -r /srv/backup/restic backup /srv/backup/db\n")
CRON = Service("cron", ("cron", "-f"), ready_path="/run/crond.pid")


def backup_files(age_hours: float) -> dict[str, Planted]:
    """/srv/backup with an old dump and a newest one `age_hours` old."""
    return {
        "/srv/backup/db/shop-old.sql.gz": Planted(b"\x1f\x8b old dump", mtime=NOW - 40 * 24 * HOUR),
        "/srv/backup/db/shop.sql.gz": Planted(b"\x1f\x8b dump", mtime=NOW - age_hours * HOUR),
    }


def cron_host(name: str, *, root_crontab: str | None = None, cron_d: dict[str, str] | None = None,
              backup_age_hours: float, with_cron: bool = True) -> HostSpec:
    files: dict[str, Planted | str | bytes] = {"/etc/crontab": CRONTAB, **backup_files(backup_age_hours)}
    if root_crontab is not None:
        files["/var/spool/cron/crontabs/root"] = Planted(root_crontab, mode=0o600)
    for file_name, text in (cron_d or {}).items():
        files[f"/etc/cron.d/{file_name}"] = text
    return HostSpec(name, files=files, pid_namespace=True,
                    replace_dirs=("/var/spool/cron/crontabs", "/etc/cron.d", "/srv", "/run"),
                    services=(CRON,) if with_cron else ())


@pytest.fixture(scope="module")
def backups_run(sshd_fleet):
    with sshd_fleet("backups", namespaces=True) as (fleet, tmp):
        fleet.start(cron_host("daily", root_crontab=DAILY_PG_DUMP, backup_age_hours=2))
        fleet.start(cron_host("stale", root_crontab=DAILY_PG_DUMP, backup_age_hours=72))
        fleet.start(cron_host("weekly", cron_d={"restic": WEEKLY_RESTIC}, backup_age_hours=2))
        fleet.start(cron_host("nocron", root_crontab=DAILY_PG_DUMP, backup_age_hours=2, with_cron=False))
        started = time.monotonic()
        done = audit_fleet(fleet, tmp, "backups", vars={"backups": {"paths": ["/srv/backup"]}})
        seconds = time.monotonic() - started
        cron_seen = {h.name: h.run(["sh", "-c", "cat /proc/[0-9]*/comm"]).stdout.split() for h in fleet.hosts}
    return done, seconds, cron_seen


def test_the_hosts_really_run_cron_only_where_planted(backups_run):
    # Given hosts with their own PID namespaces
    _, _, processes = backups_run
    # Then cron runs in those that were given it, and not in the one without
    assert "cron" in processes["daily"] and "cron" in processes["weekly"]
    assert "cron" not in processes["nocron"]


def test_a_daily_pg_dump_with_a_fresh_dump_passes(backups_run):
    # Given a host whose root crontab runs pg_dump at 02:30 under a running cron, and a 2 h old dump
    done, _, _ = backups_run
    # When the backups check runs through the CLI
    daily = done.by_host["daily"]
    # Then it passes, naming the job, its schedule and the dump's age
    assert daily["status"] == "pass", daily
    assert "pg_dump in /var/spool/cron/crontabs/root:2" in daily["summary"]
    assert "daily at 02:30" in daily["summary"] and "newest backup is 2.0 h old" in daily["summary"]
    assert daily["values"]["jobs_found"] == 1 and daily["values"]["newest_backup_age_hours"] == 2.0


def test_a_three_day_old_backup_fails(backups_run):
    # Given the same daily job, but the newest file in /srv/backup is 72 hours old
    done, _, _ = backups_run
    stale = done.by_host["stale"]
    # Then the check fails and says how old the newest backup is
    assert stale["status"] == "fail", stale
    assert "newest backup in /srv/backup is 72 h old (max 26 h)" in stale["summary"]


def test_a_weekly_only_job_fails_saying_weekly(backups_run):
    # Given a host whose only backup job (/etc/cron.d/restic) runs on Sundays, with a fresh dump
    done, _, _ = backups_run
    weekly = done.by_host["weekly"]
    # Then the daily promise fails, and the summary says the job is weekly
    assert weekly["status"] == "fail", weekly
    assert "mysqldump in /etc/cron.d/restic:2" in weekly["summary"]
    assert "weekly on Sun at 03:00" in weekly["summary"]


def test_a_crontab_without_a_cron_daemon_fails(backups_run):
    # Given the daily job and a fresh dump, but no cron daemon in the host's PID namespace
    done, _, _ = backups_run
    nocron = done.by_host["nocron"]
    # Then the job never runs and the check fails, saying so
    assert nocron["status"] == "fail", nocron
    assert "never runs: no cron daemon is running" in nocron["summary"]


def test_failures_give_exit_code_1(backups_run):
    done, _, _ = backups_run
    assert done.result.rc == 1, done.result.stderr


def test_no_planted_secret_reaches_the_run_folder(backups_run):
    # Given crontabs holding a PostgreSQL password (environment line and inline) and a mysqldump -p
    done, _, _ = backups_run
    # When every file the run wrote is read
    # Then none holds a planted secret
    assert_nowhere_in(done.run_dir, PG_SECRET, MY_SECRET)


def test_four_hosts_are_judged_in_seconds(backups_run):
    _, seconds, _ = backups_run
    assert seconds < 30, f"the run took {seconds:.1f} s"
