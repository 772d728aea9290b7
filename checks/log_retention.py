"""Access, system and application logs are kept for at least `min_days` days.

Reads: the logrotate configuration as logrotate reads it (/etc/logrotate.conf, its
includes and /etc/logrotate.d, global defaults applying to the blocks after them);
journald's Storage and MaxRetentionSec from journald.conf and its drop-ins; the command
line of every running busybox `syslogd` (Alpine), which rotates its own file by size; and,
on disk, the three oldest non-empty log files under `log_dirs` (by modification time), the
oldest journal entry, and the host's age (the older of /etc/machine-id's modification time
and the root file system's birth). For every set of rotated logs it computes the days the
configuration is guaranteed to keep: rotate × period, capped by maxage; rotation by size
counts as daily, since logrotate may then rotate on every run.

Passes when: every log set not matched by `exclude` is kept at least `min_days` days,
journald's MaxRetentionSec (if set) is no shorter, and the disk agrees: the oldest log on
disk (a log file, or the oldest journal entry when the journal is persistent) is at least
`min_days` old. A host younger than `min_days` passes on its configuration alone, and so
does a host whose age is unknown; the summary says so.

Fails when: a log set is kept less than `min_days` days (the summary counts and names
them, with the rotation that decides it; busybox syslogd's `-s KB -b N` rotation, 200 KB
and one old copy by default, keeps a size, not a number of days, and so always counts),
journald's MaxRetentionSec is shorter, there is no logrotate configuration, no syslogd
file and journald keeps nothing across reboots, no log file is found in `log_dirs`, or the
host is older than `min_days` but its oldest log is younger: its logs are evidently
removed sooner.

Error/Manual: `error` when the on_disk probe did not report the host's clock (ages are
measured by the host's clock, so that old evidence re-judges the same), or when the age
of the logs on disk could not be read, or when /etc/logrotate.conf is a named pipe (FIFO) or a
device: it is not opened (reading it blocks; logrotate itself would hang on it), so the
defaults the other blocks inherit are unknown.

Secrets: no log content leaves the host: only the logrotate and journald configuration
files, the number of log files, and the names and modification times of the three oldest.

Blind spots: logs shipped elsewhere (remote syslog, a log service) are not seen; a log
file's modification time is its newest entry, so its age is a lower bound on the age of
what it holds; empty files and fixed-size databases (lastlog, faillog) are ignored; the
journal counts only when it is persistent (Storage=persistent, or auto with
/var/log/journal present).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import logrotate
from auditor.parsers.conf import JOURNALD_CONFIG, journald_settings, systemd_timespan_seconds
from auditor.parsers.files import dump_files_script, parse_dump
from auditor.parsers.not_a_file import NOT_A_FILE_SH, read_not_a_file
from auditor.parsers.rows import Arity, rows
from auditor.parsers.syslog import busybox
from auditor.probes import path_args, quote, shell

DAY = 86400.0
LOGROTATE_CONF = "/etc/logrotate.conf"
# logrotate.conf's include targets (files or directories), dumped after the main file: its
# `include PATH` lines, read by the shell (no awk for a file of a few lines), from a regular
# file only: the shell's own open of a FIFO would block.
LOGROTATE_INCLUDES = (f"{{ [ -f {LOGROTATE_CONF} ] && while read -r key path _ || [ -n \"$key\" ]; do "
                      "if [ \"$key\" = include ]; then printf '%s\\n' \"$path\"; fi; "
                      f"done <{LOGROTATE_CONF}; }} 2>/dev/null")
# The dump reads regular files only (and a directory's, as logrotate does); a FIFO or a device
# at logrotate.conf is named first (NOT_A_FILE, before any file, so parse_dump skips it).
LOGROTATE_SCRIPT = "\n".join([
    NOT_A_FILE_SH,
    f"[ -d {LOGROTATE_CONF} ] || say_not_a_file {LOGROTATE_CONF}",
    dump_files_script(LOGROTATE_CONF, "/etc/logrotate.d", more_paths=LOGROTATE_INCLUDES),
])
NOT_LOGS = ("lastlog", "faillog", "README")  # fixed-size databases, not logs kept over time
# Reads `@ MTIME BIRTH PATH` lines of /etc/machine-id and / (the first two lines at most: a log's
# name may hold a newline and an @ line of its own), then `MTIME PATH` lines; prints the
# host's clock (epoch seconds: awk's srand() seeds from it, so no `date` is run), the machine-id's
# mtime and the root's birth, the number of log files and the three oldest, oldest first.
OLDEST_AWK = r"""NR <= 2 && $1 == "@" { path = $0; sub(/^@ [^ ]* [^ ]* /, "", path)
  if (path == "/etc/machine-id") machine_id = $2; else if (path == "/") root_birth = $3; next }
$1 ~ /^[0-9]+$/ { n++; t = $1 + 0; path = substr($0, length($1) + 2)
  if (k == 3 && t >= mt[3]) next
  if (k < 3) k++
  for (i = k; i > 1 && t < mt[i - 1]; i--) { mt[i] = mt[i - 1]; mp[i] = mp[i - 1] }
  mt[i] = t; mp[i] = path }
END { srand(); printf "now\t%d\n", srand()  # POSIX: srand() seeds from the time of day, in seconds
  printf "machine_id\t%s\nroot_birth\t%s\n", machine_id, root_birth
  printf "files\t%d\n", n; for (i = 1; i <= k; i++) printf "file\t%s\t%s\n", mt[i], mp[i] }"""


def _disk_script(params: Params) -> str:
    dirs = path_args(params["log_dirs"])
    # Empty files hold no entry, so their age proves nothing about retention.
    skip = "-size +0 " + " ".join(f"! -name {quote(n)}" for n in NOT_LOGS)
    return "\n".join([
        "if [ -d /var/log/journal ]; then printf 'journal_dir\\tyes\\n'; "
        "else printf 'journal_dir\\tno\\n'; fi",
        # One pass: the host's age (/etc/machine-id's mtime, the root's birth: one `stat`), the
        # number of log files and the three oldest by modification time (a file's mtime is its
        # newest entry, so its age is a lower bound on the age of the logs it holds). `stat -c`
        # is in GNU coreutils and busybox; find's -printf is GNU only.
        "{ stat -c '@ %Y %W %n' /etc/machine-id / 2>/dev/null; "
        f"find {dirs} -xdev -type f {skip} -exec stat -c '%Y %n' -- {{}} + 2>/dev/null; }} "
        f"| awk {quote(OLDEST_AWK)}",
        busybox.SYSLOGD_SCRIPT.rstrip("\n"),  # `# syslogd` rows: its rotation (-s, -b)
        # journalctl only where a journal file is (it costs ~4 ms to start); its first line is
        # the oldest entry, read by the shell (no head, no cut).
        "for j in /var/log/journal/*/*.journal* /run/log/journal/*/*.journal*; do",
        "  [ -e \"$j\" ] || continue",
        "  if command -v journalctl >/dev/null 2>&1; then",
        "    journalctl -q --no-pager -o short-unix 2>/dev/null "
        "| { read -r t _; printf 'journal_oldest\\t%s\\n' \"$t\"; }",
        "  fi",
        "  break",
        "done",
        "exit 0",
    ])


CHECK = Check(
    id="log_retention",
    trend_values=("oldest_log_days",),
    title="Logs are kept for at least the promised number of days",
    claims=("log-retention",),
    controls=("ISO27001:2022 A.8.15",),
    params=(
        Param("min_days", int, 60, "days every log must be kept", minimum=1),
        Param("log_dirs", list, ["/var/log"], "directories searched for the oldest log on disk", path=True),
        Param("exclude", list, [], "glob patterns of log paths this promise does not cover"),
    ),
    probes=(
        shell("logrotate", LOGROTATE_SCRIPT),
        shell("journald", dump_files_script(*JOURNALD_CONFIG)),
        shell("on_disk", _disk_script, root=True),
    ),
)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "0", "-") else None
    except ValueError:
        return None


def _days(seconds: float) -> str:
    return f"{seconds / DAY:.0f}"


class LogFile(NamedTuple):
    mtime: float
    path: str


@dataclass(frozen=True)
class OnDisk:
    """What the on_disk probe printed; times are the host's epoch seconds."""

    now: float | None
    host_birth: float | None  # the older of machine-id's mtime and the root file system's birth
    journal_dir: bool
    files: str  # the number of log files, as printed ("" when find failed)
    oldest: list[LogFile]  # oldest first
    journal_oldest: float | None


ON_DISK_ARITY: dict[str, Arity] = {"now": 1, "machine_id": 1, "root_birth": 1, "journal_dir": 1,
                                   "files": 1, "file": (2, None), "journal_oldest": 1}


def read_on_disk(text: str) -> OnDisk:
    facts: dict[str, str] = {}
    oldest: list[LogFile] = []
    for row in rows(text, "on_disk", ON_DISK_ARITY, lenient=True):  # a file name may hold a newline
        if row.tag != "file":
            facts[row.tag] = row.fields[0]
        elif (mtime := _number(row.fields[0])) is not None:
            oldest.append(LogFile(mtime, row.rest(1)))
    births = [v for v in (_number(facts.get("machine_id")), _number(facts.get("root_birth"))) if v]
    return OnDisk(_number(facts.get("now")), min(births) if births else None,
                  facts.get("journal_dir") == "yes", facts.get("files", ""), oldest,
                  _number(facts.get("journal_oldest")))


def judge_journald(settings: dict[str, str], disk: OnDisk, min_days: int, findings: Findings) -> bool:
    """Adds what journald's settings say; returns whether the journal survives a reboot."""
    storage = settings.get("Storage", "auto").lower()
    max_retention = systemd_timespan_seconds(settings.get("MaxRetentionSec", "0") or "0") or 0
    if max_retention and max_retention < min_days * DAY:
        findings.fail(f"journald MaxRetentionSec={settings['MaxRetentionSec']} "
                      f"(= {_days(max_retention)} days)")
    persistent = storage == "persistent" or (storage == "auto" and disk.journal_dir)
    findings.note(f"journald: Storage={storage}" + ("" if persistent else " (lost at reboot)")
                  + (f", MaxRetentionSec={settings['MaxRetentionSec']}" if max_retention else ""))
    return persistent


def judge_syslogd(setup: busybox.SyslogdSetup, params: Params, findings: Findings) -> int:
    """Adds how each running syslogd rotates the file it writes; returns how many it judged.
    Busybox rotates by size alone, so what it keeps is a number of kilobytes, not of days: a
    burst of messages can push a login record out within hours. `-s 0` leaves the file alone
    (to logrotate, judged above, or kept until removed)."""
    judged = 0
    for daemon in setup.daemons:
        if daemon.exe and not daemon.busybox:  # sysklogd, inetutils: logrotate rotates their files
            continue
        if not daemon.writes_file or any(fnmatch.fnmatch(daemon.file, g) for g in params["exclude"]):
            continue
        judged += 1
        if daemon.rotate_kb <= 0:
            findings.note(f"{daemon.file}: {daemon.name} (pid {daemon.pid}) {daemon.rotation()}")
            continue
        kept_kb = daemon.rotate_kb * (daemon.keep + 1)
        findings.fail(f"{daemon.file}: {daemon.name} (pid {daemon.pid}) {daemon.rotation()}: by size alone, "
                      f"at most {kept_kb} KB, not {params['min_days']} days")
    return judged


def judge_disk(oldest_days: float | None, host_days: float | None, disk: OnDisk, params: Params,
               findings: Findings) -> str:
    """Adds what the logs on disk say against the host's age; returns the pass summary, if any."""
    min_days = params["min_days"]
    kept = f"configuration keeps every log set at least {min_days} days"
    if oldest_days is None:
        if disk.files == "0":
            findings.fail(f"no log files found in {', '.join(params['log_dirs'])}")
        else:
            findings.unknown("could not read the age of the logs on disk")
        return ""
    if oldest_days >= min_days:
        return f"{kept}; the oldest log on disk is {oldest_days:.0f} days old"
    if host_days is not None and host_days < min_days:
        return (f"{kept}; the host is only {host_days:.0f} days old, so no log can be older yet "
                f"(oldest: {oldest_days:.0f} days)")
    if host_days is None:
        return (f"{kept}; the oldest log on disk is only {oldest_days:.0f} days old and the host's age "
                "is unknown")
    findings.fail(f"the oldest log on disk is {oldest_days:.0f} days old although the host is "
                  f"{host_days:.0f} days old: logs are removed sooner than {min_days} days")
    return ""


def evaluate(out: Outputs, params: Params) -> Result:
    min_days: int = params["min_days"]
    evidence = ["logrotate", "journald", "on_disk"]
    dump = out.require("logrotate").stdout
    config = logrotate.parse(parse_dump(dump)[0])
    disk = read_on_disk(out.require("on_disk").stdout)
    if disk.now is None:  # ages are measured by the host's clock, so that old evidence re-judges the same
        return result(Status.ERROR, "the on_disk probe did not report the host's clock (date +%s)",
                      evidence=["on_disk"])
    now = disk.now

    findings = Findings()
    covered = []
    for block in config.blocks:
        paths = [p for p in block.paths if not any(fnmatch.fnmatch(p, g) for g in params["exclude"])]
        if paths:
            covered.append(block)
            record = findings.fail if block.retention_days < min_days else findings.note
            record(f"{' '.join(paths)} ({block.source}): {block.explain()}")
    for problem in config.problems:
        findings.note(problem)
    if (odd := read_not_a_file(dump.partition("\n")[0])) is not None:  # logrotate would block on it
        findings.unknown(f"{odd}: not read, so the defaults the blocks of /etc/logrotate.d inherit, and "
                         "the logs it rotates, are unknown")
    persistent = judge_journald(journald_settings(out.require("journald").stdout), disk, min_days, findings)
    syslogd_sets = judge_syslogd(busybox.parse_syslogd(out.require("on_disk").stdout), params, findings)
    if not config.blocks and not persistent and not syslogd_sets and odd is None:
        findings.fail("no logrotate configuration and journald keeps nothing across reboots")
    config_prefix = f"{{n}} log set(s) kept less than {min_days} days: " if findings.failures else ""

    oldest_days = (now - disk.oldest[0].mtime) / DAY if disk.oldest else None
    if disk.journal_oldest is not None and persistent:
        journal_days = (now - disk.journal_oldest) / DAY
        oldest_days = max(oldest_days or 0.0, journal_days)
        findings.note(f"oldest journal entry: {journal_days:.0f} days old")
    host_days = (now - disk.host_birth) / DAY if disk.host_birth else None
    if disk.oldest:
        findings.note(f"oldest log file: {disk.oldest[0].path} "
                      f"({(now - disk.oldest[0].mtime) / DAY:.0f} days old)")
    if host_days is not None:
        findings.note(f"host installed about {host_days:.0f} days ago (machine-id / root file system)")
    config_days = min((b.retention_days for b in covered), default=None)
    values: dict[str, Any] = {"min_days": min_days,
                              "config_min_days": None if config_days == logrotate.UNLIMITED else config_days,
                              "oldest_log_days": round(oldest_days, 1) if oldest_days is not None else None,
                              "host_age_days": round(host_days, 1) if host_days is not None else None}

    # The disk is judged once the configuration keeps every log set long enough.
    ok = "" if config_prefix else judge_disk(oldest_days, host_days, disk, params, findings)
    return findings.result(evidence=evidence, ok_summary=ok, fail_prefix=config_prefix, **values)
