"""Access, system and application logs are kept for at least `min_days` days.

Reads the logrotate configuration as logrotate does (main file, includes, global
defaults) and computes, for every set of rotated logs, the days it is guaranteed to keep:
rotate × period, capped by maxage; rotation by size counts as daily, since logrotate may
then rotate on every run. journald's MaxRetentionSec and storage mode are read from
journald.conf and its drop-ins. The configuration is then checked against the disk: the
oldest log file present and the oldest journal entry. A host younger than `min_days`
passes on its configuration alone, and the summary says so; an older host whose oldest
log is younger than `min_days` fails, because its logs are evidently removed sooner.
"""

from __future__ import annotations

import fnmatch

from auditor.check import Check, Outputs, Param, Params, Result, Status, result
from auditor.parsers import logrotate
from auditor.parsers.conf import JOURNALD_CONFIG, journald_settings, systemd_timespan_seconds
from auditor.parsers.files import dump_files_script, parse_dump
from auditor.probes import quote, shell

DAY = 86400.0
# logrotate.conf's include targets (files or directories), dumped after the main file.
LOGROTATE_INCLUDES = "awk '$1==\"include\" {print $2}' /etc/logrotate.conf 2>/dev/null"
NOT_LOGS = ("lastlog", "faillog", "README")  # fixed-size databases, not logs kept over time


def _disk_script(params: Params) -> str:
    dirs = " ".join(quote(d) for d in params["log_dirs"])
    # Empty files hold no entry, so their age proves nothing about retention.
    skip = "-size +0 " + " ".join(f"! -name {quote(n)}" for n in NOT_LOGS)
    return "\n".join([
        "printf 'now\\t%s\\n' \"$(date +%s)\"",
        "printf 'machine_id\\t%s\\n' \"$(stat -c %Y /etc/machine-id 2>/dev/null)\"",
        "printf 'root_birth\\t%s\\n' \"$(stat -c %W / 2>/dev/null)\"",
        "printf 'journal_dir\\t%s\\n' \"$([ -d /var/log/journal ] && echo yes || echo no)\"",
        f"printf 'files\\t%s\\n' \"$(find {dirs} -xdev -type f {skip} 2>/dev/null | wc -l)\"",
        # The three oldest files by modification time: a file's mtime is its newest entry,
        # so its age is a lower bound on the age of the logs it holds.
        f"find {dirs} -xdev -type f {skip} -printf 'file\\t%T@\\t%p\\n' 2>/dev/null "
        "| sort -t \"$(printf '\\t')\" -k2,2n | head -n 3",
        "if command -v journalctl >/dev/null 2>&1; then",
        "  printf 'journal_oldest\\t%s\\n' \"$(journalctl -q --no-pager -o short-unix 2>/dev/null "
        "| head -n 1 | cut -d' ' -f1)\"",
        "fi",
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
        Param("log_dirs", list, ["/var/log"], "directories searched for the oldest log on disk"),
        Param("exclude", list, [], "glob patterns of log paths this promise does not cover"),
    ),
    probes=(
        shell("logrotate", dump_files_script("/etc/logrotate.conf", "/etc/logrotate.d",
                                             more_paths=LOGROTATE_INCLUDES)),
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


def evaluate(out: Outputs, params: Params) -> Result:
    min_days: int = params["min_days"]
    excluded = list(params["exclude"])
    evidence = ["logrotate", "journald", "on_disk"]
    files, _ = parse_dump(out.require("logrotate").stdout)
    config = logrotate.parse(files)
    journald = journald_settings(out.require("journald").stdout)
    disk = out.require("on_disk")

    facts: dict[str, str] = {}
    oldest: list[tuple[float, str]] = []
    for line in disk.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "file" and len(parts) == 3 and _number(parts[1]) is not None:
            oldest.append((float(parts[1]), parts[2]))
        elif len(parts) == 2:
            facts[parts[0]] = parts[1]
    now = _number(facts.get("now"))
    if now is None:  # ages are measured by the host's clock, so that old evidence re-judges the same
        return result(Status.ERROR, "the on_disk probe did not report the host's clock (date +%s)",
                      evidence=["on_disk"])

    short: list[str] = []
    details: list[str] = []
    covered = []
    for block in config.blocks:
        paths = [p for p in block.paths if not any(fnmatch.fnmatch(p, g) for g in excluded)]
        if not paths:
            continue
        covered.append(block)
        line = f"{' '.join(paths)} ({block.source}): {block.explain()}"
        (short if block.retention_days < min_days else details).append(line)
    details += config.problems

    storage = journald.get("Storage", "auto").lower()
    max_retention = systemd_timespan_seconds(journald.get("MaxRetentionSec", "0") or "0") or 0
    if max_retention and max_retention < min_days * DAY:
        short.append(f"journald MaxRetentionSec={journald['MaxRetentionSec']} "
                     f"(= {_days(max_retention)} days)")
    persistent = storage == "persistent" or (storage == "auto" and facts.get("journal_dir") == "yes")
    details.append(f"journald: Storage={storage}" + ("" if persistent else " (lost at reboot)")
                   + (f", MaxRetentionSec={journald['MaxRetentionSec']}" if max_retention else ""))
    if not config.blocks and not persistent:
        short.append("no logrotate configuration and journald keeps nothing across reboots")

    oldest_days = (now - oldest[0][0]) / DAY if oldest else None
    journal_oldest = _number(facts.get("journal_oldest"))
    if journal_oldest is not None and persistent:
        journal_days = (now - journal_oldest) / DAY
        oldest_days = max(oldest_days or 0.0, journal_days)
        details.append(f"oldest journal entry: {journal_days:.0f} days old")
    host_birth = [v for v in (_number(facts.get("machine_id")), _number(facts.get("root_birth"))) if v]
    host_days = (now - min(host_birth)) / DAY if host_birth else None
    if oldest:
        details.append(f"oldest log file: {oldest[0][1]} ({(now - oldest[0][0]) / DAY:.0f} days old)")
    if host_days is not None:
        details.append(f"host installed about {host_days:.0f} days ago (machine-id / root file system)")
    values = {"min_days": min_days,
              "config_min_days": min((b.retention_days for b in covered), default=None),
              "oldest_log_days": round(oldest_days, 1) if oldest_days is not None else None,
              "host_age_days": round(host_days, 1) if host_days is not None else None}
    if values["config_min_days"] == logrotate.UNLIMITED:
        values["config_min_days"] = None

    if short:
        return result(Status.FAIL, f"{len(short)} log set(s) kept less than {min_days} days: "
                      + "; ".join(short[:3]) + (" …" if len(short) > 3 else ""),
                      short + details, evidence, **values)
    if oldest_days is None:
        if facts.get("files") == "0":
            return result(Status.FAIL, f"no log files found in {', '.join(params['log_dirs'])}",
                          details, evidence, **values)
        return result(Status.ERROR, "could not read the age of the logs on disk", details, evidence,
                      **values)
    kept = f"configuration keeps every log set at least {min_days} days"
    if oldest_days >= min_days:
        return result(Status.PASS, f"{kept}; the oldest log on disk is {oldest_days:.0f} days old",
                      details, evidence, **values)
    if host_days is not None and host_days < min_days:
        return result(Status.PASS, f"{kept}; the host is only {host_days:.0f} days old, so no log "
                      f"can be older yet (oldest: {oldest_days:.0f} days)", details, evidence, **values)
    if host_days is None:
        return result(Status.PASS, f"{kept}; the oldest log on disk is only {oldest_days:.0f} days "
                      "old and the host's age is unknown", details, evidence, **values)
    return result(Status.FAIL, f"the oldest log on disk is {oldest_days:.0f} days old although the "
                  f"host is {host_days:.0f} days old: logs are removed sooner than {min_days} days",
                  details, evidence, **values)
