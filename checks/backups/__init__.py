"""A backup is made every day.

Reads: the backup jobs and the backups they leave. Jobs are looked for in /etc/crontab,
/etc/cron.d, the user crontabs (/var/spool/cron/crontabs/*, /var/spool/cron/*),
/etc/anacrontab, the scripts in /etc/cron.hourly|daily|weekly|monthly, and systemd timers
(unit files in /etc, /run, /usr/local/lib, /lib and /usr/lib systemd/system with their
drop-ins, plus `systemctl list-timers` when systemd runs). A job is a backup when its
command (for a timer: the ExecStart of the service it triggers; for a run-parts script:
its text) runs a known tool — restic, borg, borgmatic, pg_dump, pg_dumpall, pg_basebackup,
Debian's pg_backupcluster (its pg_dump@.timer instances count when enabled), mysqldump,
mariadb-dump, mariabackup, xtrabackup, rsnapshot, duplicity, duply, rdiff-backup, kopia,
autorestic, resticprofile, mongodump, backupninja — or `rsync`/`tar` writing to a
destination whose name says backup (or is one of `paths`); `tools` adds more names. A
job's command is followed as a careful auditor would: through `su -c '…'`, `runuser`,
`sudo -u`, `sh -c '…'`/`bash -c`, `flock`, `nice`, `ionice`, `chronic`, `timeout`, `env`
and `nohup` to the program it runs; when that is a script (a file starting with `#!`,
named by absolute path in a cron line or a timer's service's ExecStart=/ExecStartPre=, or
a run-parts script), the script is read on the host, and so are the scripts it names (two
levels; never executed; the first 256 KiB of each, at most 64 scripts per probe), and a
known tool or `tools` name in it credits the job (tar and rsync count when the line, the
script's name or the job says backup or names one of `paths`). System housekeeping
(dpkg-db-backup, e2scrub, logrotate, man-db, apt-compat, passwd, sysstat, …) is neither
followed nor a candidate. Of every entry of `paths` (directories searched recursively, or
files), the newest regular file by modification time.

Passes when: both halves hold. (1) A backup job runs at least every `max_interval_hours`
(default 24); a daily job whose command says backup (or names one of `paths`) but whose
script the audit user cannot read counts too, on the strength of (2) alone, and the
summary says the script was not read: a daily job plus a fresh artefact is the strongest
evidence. A job counts only if it really runs: Debian's cron ignores /etc/cron.d files
whose names hold a dot or that are not root's or are group/other-writable, and user
crontabs whose mode is not 600 (each rule seen on Debian 12's cron); run-parts never runs
a /etc/cron.daily script whose name holds a dot (`backup.sh`!) or that is not executable;
/etc/cron.daily runs only if a crontab or anacrontab line runs it (Debian's `test -x
/usr/sbin/anacron ||` lines hand it to anacron when anacron is installed); cron jobs need
a running cron daemon, timers a running systemd (PID 1) and an enabled (or, from
list-timers, scheduled) timer. (2) The newest backup is fresh: under every entry of
`paths` the newest file is younger than `max_age_hours` (default 26). Borg and restic
repositories are directories of files, so this works for them too. Files dated in the
future are counted and ignored, so a skewed clock cannot make a stale backup look fresh.

Fails when: no backup job is found, or none runs often enough (a weekly job fails a daily
promise, and the summary says "weekly"), or a backup is stale, or a path is missing or
empty (named). A job that says backup but runs no known tool, directly or in the scripts
it runs, is listed in the details with the scripts that were read in vain.

Error/Manual: `error` when what could not be read (a crontab, the spool, a run-parts
script, a script a daily job runs, or more scripts than the probe reads) may hold the
daily job, or when the only daily job's script was not read and no `paths` are configured,
or when a configured path got no line from the probe (its output cut short, its find/awk
step failed): never taken as fresh. `manual` for a daily job with no `paths` configured
(configure `vars.backups.paths`, or attach the backup tool's own report), and for no local
job but a running Bacula/Bareos file daemon (`bacula-fd`, `bareos-fd`): the schedule lives
on the director.

Secrets: never leave the host. Only crontab lines that mention a backup tool, `backup`,
run-parts or anacron, or run a followed script with such a line, are sent (environment
lines never), and of scripts only their lines that mention a tool or backup and the paths
they name; all of it with passwords in `NAME=value`, `--password` options, `mysqldump
-p…`, `sshpass -p`, `curl -u user:…`, `lftp -u user,…`, `smbclient -U user%…` and URL
credentials replaced by `***` on the host; of backup files, only counts, sizes, times and
the newest file's name.

Blind spots: a script run by a bare name (found through PATH) or without a `#!` line (`sh
/usr/local/bin/backup.sh` of a file without one), a third level of scripts, a tool reached
through a variable (`$TOOL`) or a function sourced from elsewhere, and a tool line past
the first 256 KiB of a script are not seen (the details say when a script was cut); a
script that only names a tool (`echo "run pg_dump"`) is credited; a daily job that says
backup and whose script cannot be read passes on fresh artefacts even if something else
made them; whether the job succeeds is not seen — only the artefacts' age says that, so
configure `paths`; backups kept elsewhere (S3, a remote repository) cannot be aged from
the host (→ `manual`); cron's time zone and daylight-saving shifts are ignored; cronie's
run-parts (RHEL) accepts dotted names that Debian's refuses, and is judged by Debian's
rule; templated timers (`name@.timer`) and user-level systemd timers are not read.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, first, result
from auditor.parsers import schedules
from auditor.parsers.rows import UnexpectedLine
from auditor.probes import shell

from ._probes import (
    DIRECTOR_DAEMONS,
    SCHEDULER,
    _artefacts_script,
    _crontabs_script,
    _run_parts_script,
    _timers_script,
    _tool_regex,
)
from ._reading import (
    Artefacts,
    Discovered,
    read_artefacts,
    read_crontabs,
    read_run_parts,
    read_scheduler,
    read_scripts,
    read_timers,
)

CHECK = Check(
    id="backups",
    trend_values=("newest_backup_age_hours",),
    title="A backup job runs every day and the newest backup is fresh",
    claims=("daily-backup",),
    controls=("ISO27001:2022 A.8.13",),
    params=(
        Param("paths", list, [], "backup directories (searched recursively) or files whose newest "
              "regular file must be younger than max_age_hours, each on its own; empty: the age "
              "cannot be judged and a found daily job gives `manual`", path=True),
        Param("max_age_hours", int, 26, "the newest backup under each path must be younger than this",
              minimum=1),
        Param("max_interval_hours", int, 24, "a backup job must fire at least once in every window "
              "of this many hours (24: daily; a weekly job fails)", minimum=1),
        Param("tools", list, [], "more command names that count as a backup tool (e.g. a wrapper "
              "script's name), added to the built-in list"),
    ),
    probes=(
        shell("crontabs", _crontabs_script, root=True),  # /var/spool/cron/crontabs is root's
        shell("run_parts", _run_parts_script),
        shell("timers", _timers_script),
        shell("scheduler", SCHEDULER),
        shell("artefacts", _artefacts_script, root=True),  # backup directories are often root-only
    ),
)



def _hours(value: float) -> str:
    return f"{value:.0f} h" if value >= 10 else f"{value:.1f} h"


def judge_freshness(now: float | None, found: list[Artefacts], paths: Sequence[str], max_age: float,
                    findings: Findings) -> float | None:
    """Adds what the backup files say; returns the age in hours of the stalest path's newest
    file. Where some directories could not be read, a stale or empty verdict is uncertain: an
    error; so is a configured path the probe printed no line for (its output cut short, or
    awk failed)."""
    ages: list[float] = []
    if not paths:  # no backup path configured: nothing to date (the probe does not run)
        return None
    if now is None:
        findings.unknown("the artefacts probe did not report the host's clock")
        return None
    reported = {entry.path for entry in found}
    unreported = [p for p in dict.fromkeys(paths) if p not in reported]
    if unreported:
        findings.unknown("the artefacts probe printed nothing for " + ", ".join(unreported)
                         + " (its output was cut short, or its find/awk step failed)")
    for entry in found:
        if entry.kind == "missing":
            findings.fail(f"backup path {entry.path} does not exist")
            continue
        if entry.future:
            findings.note(f"{entry.path}: {entry.future} file(s) dated in the future, ignored")
        unread = f" ({entry.unreadable} unreadable director(y/ies) under it)" if entry.unreadable else ""
        uncertain = findings.unknown if unread else findings.fail
        if entry.newest is None:
            uncertain((f"backup path {entry.path} holds no files" if entry.kind == "dir"
                       else f"backup path {entry.path} is not a regular file or directory") + unread)
            continue
        age = max(0.0, (now - entry.newest) / 3600)
        ages.append(age)
        findings.note(f"{entry.path}: {entry.files} file(s); newest {entry.newest_name} is "
                      f"{_hours(age)} old" + unread)
        if age > max_age:
            uncertain(f"newest backup in {entry.path} is {_hours(age)} old (max {max_age:g} h)" + unread)
    return round(max(ages), 1) if ages else None


def evaluate(out: Outputs, params: Params) -> Result:
    tools = _tool_regex(params)
    max_interval = float(params["max_interval_hours"])
    max_age = float(params["max_age_hours"])
    evidence = ["crontabs", "run_parts", "timers", "scheduler", "artefacts"]
    sched = read_scheduler(out.require("scheduler").stdout)
    seen = Discovered()
    for name in ("crontabs", "run_parts", "timers"):
        read_scripts(out.require(name).stdout, name, seen)
    runners = read_crontabs(out.require("crontabs").stdout, tools, params, sched, seen)
    read_run_parts(out.require("run_parts").stdout, tools, params, runners, seen)
    read_timers(out.require("timers").stdout, tools, params, sched, seen)
    try:
        now, found = read_artefacts(out.require("artefacts").stdout)
    except UnexpectedLine as exc:
        return result(Status.ERROR, str(exc), evidence=evidence)

    jobs = sorted(seen.jobs, key=lambda j: (bool(j.blocked), j.schedule.max_gap_hours()
                                            if j.schedule else schedules.NEVER, j.where))
    daily = [j for j in jobs if not j.blocked and j.schedule and j.schedule.fires_every(max_interval)]
    read_daily = [j for j in daily if not j.unread]  # a tool was seen, not only a script's name
    findings = Findings()
    notes = [j.describe() for j in jobs]
    notes += [f"mentions backup but runs no known backup tool (add it to tools if it is one): {u}"
              for u in seen.unrecognised[:10]]
    directors = sorted(DIRECTOR_DAEMONS[p] for p in sched.processes if p in DIRECTOR_DAEMONS)
    notes.append("running: " + (", ".join(sorted(sched.processes)) or "no cron daemon, systemd, "
                                "bacula-fd or bareos-fd") + f"; PID 1 is {sched.pid1 or 'unknown'}")
    for note in notes + seen.notes:
        findings.note(note)
    truncated = [name for name in evidence[:3] if out[name].truncated]
    if not daily:
        if directors:
            findings.manual(f"no local backup job, but the {' and '.join(directors)} file daemon is "
                            "running: the schedule lives on the director; attach its Schedule resource "
                            "and last job report")
        elif seen.unreadable or truncated:  # what could not be read may hold the daily job
            for text in seen.unreadable + [f"probe output cut at the size cap: {', '.join(truncated)}"
                                           for _ in truncated[:1]]:
                findings.unknown(text)
        elif not jobs:
            findings.fail("no backup job found in the crontabs, /etc/cron.* or systemd timers")
        else:
            reasons = [f"{j.label} never runs: {j.blocked}" if j.blocked else
                       f"{j.label} runs {j.schedule.describe() if j.schedule else 'never'}, "
                       f"less often than every {max_interval:g} h" for j in jobs]
            findings.fail("no daily backup job: " + first(reasons, 2))
    elif not read_daily and not params["paths"]:
        findings.unknown(f"the daily job {daily[0].where} runs {daily[0].script}, which was not read "
                         f"({daily[0].unread}): audit with become: sudo, or set vars.backups.paths so "
                         "that the backups' age decides")
    newest_age = judge_freshness(now, found, [str(p) for p in params["paths"]], max_age, findings)
    values = {"jobs_found": len(jobs), "daily_jobs": len(daily), "newest_backup_age_hours": newest_age,
              "max_age_hours": params["max_age_hours"]}
    if findings.status() is not Status.PASS:
        return findings.result(evidence=evidence, ok_summary="", error_prefix="could not judge the backups: ",
                               **values)
    job = (read_daily or daily)[0]
    when = job.schedule.describe() if job.schedule else ""
    schedule_text = (f"daily backup job: {job.label}, {when}" if not job.unread else
                     f"daily job {job.where}, {when}, runs {job.script}, which was not read ({job.unread}); "
                     "credited on the fresh backups in paths")
    if not params["paths"]:
        return result(Status.MANUAL, f"{schedule_text}; no backup paths configured: set vars.backups.paths "
                      "to verify the newest backup's age, or attach the backup tool's report",
                      findings.details(), evidence, **values)
    if newest_age is None:  # unreachable while every path reports a file; never claim an age of 0
        return result(Status.ERROR, "could not judge the backups: no backup file's age was measured",
                      findings.details(), evidence, **values)
    return findings.result(evidence=evidence, ok_summary=f"{schedule_text}; newest backup is "
                           f"{_hours(newest_age)} old (max {max_age:g} h)", **values)
