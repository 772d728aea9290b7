"""The backups check end to end: the CLI against real sshd hosts running Debian's real cron.

Each host has its own PID namespace (so the scheduler probe sees only its processes) where
`cron -f` runs with the planted crontabs, and a planted /srv/backup whose files carry real
modification times. /run is replaced so that cron's pid file never touches the machine's.
The planted /etc/crontab is Debian's with the cron.daily/weekly/monthly lines left out, so
that the hosts' cron never runs this machine's real cron.daily scripts.

The wrapper hosts run their backup through site scripts planted in /usr/local/sbin (a fresh
directory on each host), as most servers do: the check must read them on the host and find
the tool inside, or say it could not read them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.fleetrun import assert_nowhere_in, audit, fleet_hosts, write_inventory
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
SCRIPT_SECRET = "Wrapper-Planted-Pw-3"
CRON = Service("cron", ("cron", "-f"), ready_path="/run/crond.pid")
AUDIT_UID = 4243
# The site script of the issue: tar into a dated archive, then a MySQL dump with its password
# on the command line (masked on the host, never in the run folder).
SHOP_BACKUP = f"""#!/bin/sh
# nightly archive of the shop
set -e
DEST=/srv/backup/shop
mkdir -p "$DEST"
tar czf "$DEST/shop-$(date +%F).tgz" -C /srv shop
mysqldump -uroot -p{SCRIPT_SECRET} shop > "$DEST/shop.sql"
"""
SHOP_JOB = "58 10 * * * root /usr/local/sbin/shop-backup >> /var/log/shop-backup.log 2>&1\n"
# A wrapper run as postgres through flock and runuser, which hands over to a second script.
PG_JOB = "30 1 * * * root flock -n /run/pg-backup.lock runuser -u postgres -- /usr/local/sbin/pg-backup\n"
PG_BACKUP = "#!/bin/sh\n# keep one dump a day\nexec /usr/local/sbin/pg-dump-all \"$(date +%F)\"\n"
NOOP_JOB = "0 3 * * * root /usr/local/sbin/backup\n"
NOOP_BACKUP = "#!/bin/sh\necho 'backups are not set up yet' >&2\n"
NIGHTLY_JOB = "45 0 * * * root /usr/local/sbin/nightly-backup\n"
PG_DUMP_ALL = "#!/bin/sh\npg_dumpall --clean | gzip > \"/srv/backup/db/all-$1.sql.gz\"\n"


def backup_files(age_hours: float) -> dict[str, Planted]:
    """/srv/backup with an old dump and a newest one `age_hours` old."""
    return {
        "/srv/backup/db/shop-old.sql.gz": Planted(b"\x1f\x8b old dump", mtime=NOW - 40 * 24 * HOUR),
        "/srv/backup/db/shop.sql.gz": Planted(b"\x1f\x8b dump", mtime=NOW - age_hours * HOUR),
    }


def cron_host(name: str, *, root_crontab: str | None = None, cron_d: dict[str, str] | None = None,
              backup_age_hours: float | None, with_cron: bool = True,
              scripts: dict[str, Planted] | None = None, audit_user_key: str = "") -> HostSpec:
    """A host running cron with the given crontabs; `scripts` planted in /usr/local/sbin; with
    `audit_user_key`, an unprivileged `audit` account that logs in with that key."""
    files: dict[str, Planted | str | bytes] = {"/etc/crontab": CRONTAB}
    if backup_age_hours is not None:
        files.update(backup_files(backup_age_hours))
    else:
        files["/srv/README"] = "no backups here\n"
    if root_crontab is not None:
        files["/var/spool/cron/crontabs/root"] = Planted(root_crontab, mode=0o600)
    for file_name, text in (cron_d or {}).items():
        files[f"/etc/cron.d/{file_name}"] = text
    for file_name, script in (scripts or {}).items():
        files[f"/usr/local/sbin/{file_name}"] = script
    replaced = ["/var/spool/cron/crontabs", "/etc/cron.d", "/srv", "/run", "/usr/local/sbin"]
    extra_sshd_config = ""
    if audit_user_key:
        files["/etc/passwd"] = (Path("/etc/passwd").read_text()
                                + f"audit:x:{AUDIT_UID}:{AUDIT_UID}::/home/audit:/bin/sh\n")
        files["/home/audit/.ssh/authorized_keys"] = Planted(audit_user_key, mode=0o600, uid=AUDIT_UID,
                                                            gid=AUDIT_UID)
        replaced.append("/home")
        extra_sshd_config = "Match User audit\n    AuthorizedKeysFile /home/audit/.ssh/authorized_keys\n"
    return HostSpec(name, files=files, pid_namespace=True, replace_dirs=tuple(replaced),
                    extra_sshd_config=extra_sshd_config, services=(CRON,) if with_cron else ())


def script(text: str, mode: int = 0o755) -> Planted:
    return Planted(text, mode=mode)


@pytest.fixture(scope="module")
def backups_run(sshd_fleet):
    with sshd_fleet("backups", namespaces=True) as (fleet, tmp):
        fleet.start(cron_host("daily", root_crontab=DAILY_PG_DUMP, backup_age_hours=2))
        fleet.start(cron_host("stale", root_crontab=DAILY_PG_DUMP, backup_age_hours=72))
        fleet.start(cron_host("weekly", cron_d={"restic": WEEKLY_RESTIC}, backup_age_hours=2))
        fleet.start(cron_host("nocron", root_crontab=DAILY_PG_DUMP, backup_age_hours=2, with_cron=False))
        fleet.start(cron_host("wrapper-tar", cron_d={"shop": SHOP_JOB}, backup_age_hours=3,
                              scripts={"shop-backup": script(SHOP_BACKUP)}))
        fleet.start(cron_host("wrapper-pg", cron_d={"pg": PG_JOB}, backup_age_hours=3,
                              scripts={"pg-backup": script(PG_BACKUP), "pg-dump-all": script(PG_DUMP_ALL)}))
        fleet.start(cron_host("backup-noop", cron_d={"backup": NOOP_JOB}, backup_age_hours=None,
                              scripts={"backup": script(NOOP_BACKUP)}))
        fleet.start(cron_host("unreadable", cron_d={"nightly": NIGHTLY_JOB}, backup_age_hours=3,
                              scripts={"nightly-backup": script(SHOP_BACKUP, mode=0o700)},
                              audit_user_key=fleet.authorized_keys.read_text()))
        fleet.start(cron_host("weekly-wrapper", cron_d={"shop": SHOP_JOB.replace("58 10 * * *", "0 4 * * 0")},
                              backup_age_hours=3, scripts={"shop-backup": script(SHOP_BACKUP)}))
        hosts = fleet_hosts(fleet, {"backups": {"paths": ["/srv/backup"]}})
        hosts["unreadable"]["user"] = "audit"
        started = time.monotonic()
        done = audit(write_inventory(tmp / "inventory.yaml", hosts), tmp / "reports", "backups")
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


def test_a_wrapper_script_running_tar_passes(backups_run):
    # Given /etc/cron.d/shop running /usr/local/sbin/shop-backup daily at 10:58 (output appended to a
    # log), a script that runs tar into /srv/backup/shop, and a 3 h old archive
    done, _, _ = backups_run
    wrapped = done.by_host["wrapper-tar"]
    # Then the job is credited through its script, and the details quote the job and the tool line
    assert wrapped["status"] == "pass", wrapped
    assert "daily backup job: tar in /etc/cron.d/shop:1 (user root) through /usr/local/sbin/shop-backup" \
        in wrapped["summary"]
    assert "daily at 10:58" in wrapped["summary"] and "newest backup is 3.0 h old" in wrapped["summary"]
    details = "\n".join(wrapped["details"])
    assert "job: /usr/local/sbin/shop-backup >> /var/log/shop-backup.log 2>&1" in details
    assert 'found in /usr/local/sbin/shop-backup:6: tar czf "$DEST/shop-$(date +%F).tgz" -C /srv shop' \
        in details


def test_a_wrapper_running_pg_dumpall_as_postgres_passes(backups_run):
    # Given a daily job `flock -n … runuser -u postgres -- /usr/local/sbin/pg-backup`, whose script hands
    # over to /usr/local/sbin/pg-dump-all, which runs pg_dumpall
    done, _, _ = backups_run
    pg = done.by_host["wrapper-pg"]
    # Then the wrappers are seen through, the second script is read, and the job passes
    assert pg["status"] == "pass", pg
    assert "pg_dumpall in /etc/cron.d/pg:1 (user root) through /usr/local/sbin/pg-backup as postgres" \
        in pg["summary"]
    assert "/usr/local/sbin/pg-backup:3 → /usr/local/sbin/pg-dump-all:2: pg_dumpall --clean" \
        in "\n".join(pg["details"])


def test_a_script_named_backup_that_runs_no_tool_and_leaves_nothing_fails(backups_run):
    # Given a daily /usr/local/sbin/backup that only prints a message, and no /srv/backup at all
    done, _, _ = backups_run
    noop = done.by_host["backup-noop"]
    # Then no backup job is found; the details say the script was read and holds no known tool
    assert noop["status"] == "fail", noop
    assert "no backup job found" in noop["summary"] and "/srv/backup does not exist" in noop["summary"]
    assert ("mentions backup but runs no known backup tool (add it to tools if it is one): "
            "/etc/cron.d/backup:1 (user root): /usr/local/sbin/backup "
            "(read /usr/local/sbin/backup: no known backup tool in it)") in noop["details"]


def test_an_unreadable_script_with_fresh_artefacts_passes_saying_it_was_not_read(backups_run):
    # Given a daily /usr/local/sbin/nightly-backup of mode 0700 (root's), audited as the unprivileged
    # user audit without sudo, and a 3 h old backup
    done, _, _ = backups_run
    unreadable = done.by_host["unreadable"]
    # Then the fresh artefacts carry the verdict, and the summary says the script was not read
    assert unreadable["status"] == "pass", unreadable
    assert ("daily job /etc/cron.d/nightly:1 (user root), daily at 00:45, runs "
            "/usr/local/sbin/nightly-backup, which was not read (-rwx------ root: the audit user cannot "
            "read it)") in unreadable["summary"]
    assert "credited on the fresh backups in paths" in unreadable["summary"]
    facts = {h["name"]: h["facts"] for h in done.report["hosts"]}
    assert facts["unreadable"]["user"] == "audit"


def test_a_weekly_wrapper_fails(backups_run):
    # Given the tar wrapper run only on Sundays at 04:00, with a fresh archive
    done, _, _ = backups_run
    weekly = done.by_host["weekly-wrapper"]
    # Then the daily promise fails, naming the job, its script and "weekly"
    assert weekly["status"] == "fail", weekly
    assert ("tar in /etc/cron.d/shop:1 (user root) through /usr/local/sbin/shop-backup runs weekly on Sun "
            "at 04:00") in weekly["summary"]


def test_failures_give_exit_code_1(backups_run):
    done, _, _ = backups_run
    assert done.result.rc == 1, done.result.stderr


def test_no_planted_secret_reaches_the_run_folder(backups_run):
    # Given crontabs holding a PostgreSQL password (environment line and inline) and a mysqldump -p
    done, _, _ = backups_run
    # When every file the run wrote is read
    # Then none holds a planted secret
    assert_nowhere_in(done.run_dir, PG_SECRET, MY_SECRET, SCRIPT_SECRET)


def test_the_wrapper_scripts_password_is_masked_on_the_host(backups_run):
    # Given the shop-backup script's mysqldump line with -p<password>
    done, _, _ = backups_run
    # When the crontabs probe's evidence of the wrapper host is read
    evidence = "\n".join(p.read_text() for p in (done.run_dir / "evidence" / "wrapper-tar").glob("backups.*"))
    # Then the line is there, masked (the secret test above proves it went nowhere else either)
    assert "mysqldump -uroot -p*** shop" in evidence


def test_nine_hosts_are_judged_in_seconds(backups_run):
    _, seconds, _ = backups_run
    assert seconds < 30, f"the run took {seconds:.1f} s"
