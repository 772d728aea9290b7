"""Login attempts are recorded with the date, the time, the user and the source address.

Reads: in one batch, the running processes (rsyslogd, syslog-ng, systemd-journald,
auditd, time-sync daemons) read from /proc by one awk (`ps` where there is no /proc; one list
shared with monitoring and admin_change_audit), and, with the records, the full command line of every
`syslogd` (busybox's, Alpine's logger); rsyslog's configuration
(/etc/rsyslog.conf and every file it includes, read in rsyslog's order) to find the files
that receive the auth and authpriv facilities at info level, and /etc/syslog.conf and
/etc/conf.d/syslog for syslogd; journald's Storage mode; and, as root, the login records
themselves: the last `sample` matching lines of each file in `auth_logs` and of the file
each running syslogd writes (`-O`, default /var/log/messages), each with its `.0`/`.1`
rotation, and of the journal (SYSLOG_FACILITY auth/authpriv), with their counts, and the
uid the probe ran as. Login records are sshd Accepted/Failed/Invalid user/"Connection
closed by authenticating user", PAM authentication failures and sessions, login, su and
sudo.

Noted, not judged: clock synchronisation (chronyd, ntpd, systemd-timesyncd, timedatectl;
ISO 27001 A.8.17), whether auditd runs, and whether this audit's own SSH login (from
$SSH_CONNECTION) is among the records.

Passes when: something records authentication events — rsyslogd running with auth and
authpriv routed to a file (RHEL: authpriv to /var/log/secure), syslog-ng running, busybox
syslogd writing its file (every facility goes to it unless /etc/syslog.conf or `-f` says
otherwise), or systemd-journald running with a persistent journal (Storage=persistent, or
auto with /var/log/journal) — and every sampled login record carries a date and time and
a user, and every network login (sshd) its source IP. A volatile journal beside a syslog
daemon that writes files is only noted. A host less than a day old with no login record
yet passes on its configuration, and the summary says so.

Fails when: nothing records (no logger running, or rsyslogd alone and it routes
auth/authpriv nowhere, or journald with Storage=none, or busybox syslogd with `-l` 6 or
less, which drops info messages); journald is the only logger and its journal is volatile
(lost at every reboot; severity medium, CIS "journald writes logfiles to persistent
disk"); busybox syslogd keeps messages only in its shared-memory ring buffer (`-C`;
medium); records lack the date, the time, the user or the source IP (the summary says
which, and how many); no login record at all on a host installed more than a day ago. An
sshd session opened (PAM) without an Accepted line from the same sshd process is a network
login whose source was not recorded (sshd's LogLevel below INFO).

Error/Manual: `manual` when the only logger is a syslogd that sends everything to a remote
host (`-R` without `-L`) and no record is kept here: attach that log server's records; and
when no login record was read but a log is a named pipe (FIFO) or a device (busybox `syslogd
-O /dev/console`), which is never opened (reading it would block): attach where its output is kept.
`error` when the records probe failed; when a syslogd reads its rules from a `-f` file
other than /etc/syslog.conf (not read); when it ran without root (`become`)
and a log file, or part of the journal, was unreadable (journalctl shows anyone else only
their own journal, and says so on stderr, which the probe keeps); when the process list or
a records line cannot be read; or when no sampled line could be read as a login record.

Secrets: only login records leave the host. On the host, the name given for an unknown
user — often a password typed at the user prompt — is replaced by `***`, and so is
everything after sudo's `COMMAND=` (a command line may carry a password: `curl -u
admin:…`, `htpasswd -b … user password`); who ran sudo, as whom, and when are kept.

Blind spots: rsyslog's inputs are not read (RHEL's rsyslog gets local messages only
through imjournal, so it records nothing while journald is stopped); syslog-ng's
configuration is not read (its files are sampled only if listed in `auth_logs`); rsyslog
conditions other than `prifilt()` and facility comparisons, and property filters, are
listed but not interpreted; a log that stopped being written long ago passes if its
records are well-formed (the newest record's age is reported as
`newest_record_age_hours`); logins by services that log elsewhere (web panels, databases)
are not seen."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Severity, Status, result
from auditor.parsers import syslog
from auditor.parsers.conf import JOURNALD_CONFIG, journald_settings
from auditor.parsers.credentials import MASK_AWK
from auditor.parsers.files import Includes, dump_files_script, parse_dump
from auditor.parsers.not_a_file import NOT_A_FILE_SH, NotAFile
from auditor.parsers.processes import daemons_ps_script, parse_ps
from auditor.parsers.rows import Arity, UnexpectedLine, rows
from auditor.parsers.syslog import busybox
from auditor.parsers.syslog.busybox import SYSLOGD_FILES_SCRIPT, SYSLOGD_SCRIPT, SyslogdSetup
from auditor.probes import effective_uid, path_args, quote, shell

LOGGERS = ("rsyslogd", "syslog-ng", "systemd-journald")  # busybox syslogd: the syslogd probe
TIME_SYNC = ("chronyd", "ntpd", "openntpd", "systemd-timesyncd", "timesyncd")
RSYSLOG_MAIN = "/etc/rsyslog.conf"
RSYSLOG_DIR = "/etc/rsyslog.d"
AUTH_FACILITIES = ("auth", "authpriv")
HOUR = 3600.0
JOURNAL = "journal"
NOT_A_FILE_STATE = "not-a-file"  # a log file's state: a FIFO or a device, not read
# What journalctl says on stderr when it runs as a user who may not read the whole journal.
JOURNAL_DENIED = ("insufficient permissions", "not seeing messages from other users", "Permission denied")

# Login records, as grep -E patterns; cron and systemd --user sessions are not logins.
RECORD_PATTERN = (
    r"(Accepted|Failed) [^ ]+ for |[Ii]nvalid user "
    r"|(closed by|Disconnected from) (authenticating|invalid) user "
    r"|authentication failure;|session opened for user |FAILED LOGIN|ROOT LOGIN|FAILED SU|\(to [^)]*\) "
    r"|COMMAND=|incorrect password attempt|NOT in sudoers"
)
# (RHEL's cronie logs as crond, into /var/log/secure: `crond[812]: pam_unix(crond:session): ...`)
NOT_LOGINS = r"pam_unix\((cron|crond|systemd-user):|CRON\[|crond?\["

# Drops what is not a login (EXCL, from the environment: an ERE as grep -E read it); keeps the
# last n lines (a ring buffer) and counts them all; cuts long lines; masks the
# name given for an unknown user, which may be a password typed at the user prompt, and
# sudo's command line, which may carry one (curl -u user:password, htpasswd -b, chpasswd).
SAMPLE_AWK = r"""
$0 ~ ENVIRON["EXCL"] { next }
{ c++; line = substr($0, 1, 600); sub(/\r$/, "", line); sub(/COMMAND=.*/, "COMMAND=***", line)
  line = mask_credentials(line, "***", 1)
  if (match(line, /[Ii]nvalid user /)) {
    head = substr(line, 1, RSTART + RLENGTH - 1); rest = substr(line, RSTART + RLENGTH); tail = ""
    if (match(rest, / from [^ ]+ port [0-9]+.*$/)) tail = substr(rest, RSTART)
    else if (match(rest, / [^ ]+ port [0-9]+( \[preauth\])?$/)) tail = substr(rest, RSTART)
    else if (match(rest, / from [^ ]+$/)) tail = substr(rest, RSTART)
    else if (match(rest, / \[preauth\]$/)) tail = substr(rest, RSTART)
    line = head "***" tail
  }
  buf[c % n] = line }
END { printf "count\t%s\t%d\n", src, c
      for (i = (c > n ? c - n + 1 : 1); i <= c; i++) printf "rec\t%s\t%s\n", src, buf[i % n] }
"""


def _records_script(params: Params) -> str:
    paths = path_args(params["auth_logs"])
    return "\n".join([
        f"N={int(params['sample'])}",
        f"PAT={quote(RECORD_PATTERN)}",
        f"EXCL={quote(NOT_LOGINS)}; export EXCL",
        f"AWK={quote(MASK_AWK + SAMPLE_AWK)}",
        'sample() { grep -a -E "$PAT" | awk -v n="$N" -v src="$1" "$AWK"; }',
        # One date for both (%t, %n: a tab, a newline); the uid as the shell reads it (no fork).
        "date +'now%t%s%nutc_offset%t%z'",
        "printf 'machine_id\\t%s\\n' \"$(stat -c %Y /etc/machine-id 2>/dev/null)\"",
        "printf 'ssh_connection\\t%s\\n' \"${SSH_CONNECTION:-}\"",
        effective_uid("uid"),
        "printf 'uid\\t%s\\n' \"$uid\"",
        SYSLOGD_FILES_SCRIPT,
        NOT_A_FILE_SH,
        # auth_logs, then the file each running syslogd writes (busybox rotates to .0), once each.
        # A FIFO or a device (syslogd -O /dev/console) is named, not opened: reading would block.
        "seen='|'",
        f"{{ printf '%s\\n' {paths}; syslogd_files; }} | while IFS= read -r p; do",
        "  case $seen in *\"|$p|\"*) continue ;; esac; seen=\"$seen$p|\"",
        "  for f in \"$p\" \"$p.0\" \"$p.1\"; do",
        "  if [ ! -e \"$f\" ]; then",
        "    [ \"$f\" = \"$p\" ] && printf 'file\\t%s\\tmissing\\n' \"$f\"; continue",
        "  fi",
        "  if not_a_file \"$f\"; then",
        f"    printf 'file\\t%s\\t{NOT_A_FILE_STATE}\\t%s\\n' \"$f\" \"$kind\"; continue",
        "  fi",
        "  if [ ! -r \"$f\" ]; then printf 'file\\t%s\\tunreadable\\n' \"$f\"; continue; fi",
        "  printf 'file\\t%s\\tok\\t%s\\n' \"$f\" \"$(stat -c %Y -- \"$f\")\"",
        "  sample \"$f\" <\"$f\"",
        "done; done",
        "if command -v journalctl >/dev/null 2>&1; then",
        # The journal directories that exist, in the order `ls -d` printed them.
        "  j=; for d in /run/log/journal /var/log/journal; do",
        "    { [ -e \"$d\" ] || [ -L \"$d\" ]; } && j=\"$j$d \"; done",
        "  printf 'journal_dirs\\t%s\\n' \"$j\"",
        # Not -q, and stderr kept: as anyone but root, journalctl says there what it could not read.
        # Root with no journal file there (no journald, or Storage=none) and every journal
        # directory readable gets what sample prints for no line, without journalctl, grep and
        # awk (~6 ms); anyone else, or any file or unreadable directory, runs journalctl.
        "  jf=; for f in /run/log/journal /var/log/journal /run/log/journal/* /var/log/journal/* "
        "/run/log/journal/*/* /var/log/journal/*/*; do",
        "    case ${f#/*/log/journal} in",
        "      *.journal*) if [ -e \"$f\" ] || [ -L \"$f\" ]; then jf=1; fi ;; esac",
        "    if [ -d \"$f\" ] && { [ ! -r \"$f\" ] || [ ! -x \"$f\" ]; }; then jf=1; fi",
        "    [ -z \"$jf\" ] || break; done",
        "  if [ -n \"$jf\" ] || [ \"$uid\" != 0 ]; then",
        "    journalctl --no-pager -o short-iso -n 20000 SYSLOG_FACILITY=4 SYSLOG_FACILITY=10 "
        f"| sample {JOURNAL}",
        f"  else printf 'count\\t%s\\t0\\n' {JOURNAL}; fi",
        "fi",
        # Each running syslogd's command line (`# syslogd` rows), read as root: the process list
        # is the one other checks share, so it carries no syslogd row of its own.
        SYSLOGD_SCRIPT.rstrip("\n"),
        "exit 0",
    ])


# What rsyslog.conf and rsyslog.d/*.conf include ($IncludeConfig, include(file=...)), dumped too:
# read by the awk that prints those files (no awk of its own).
RSYSLOG_INCLUDES = Includes(
    holds=f'path == "{RSYSLOG_MAIN}" || (index(path, "{RSYSLOG_DIR}/") == 1 '
          f'&& substr(path, length("{RSYSLOG_DIR}/") + 1) ~ /^[^.\\/][^\\/]*\\.conf$/)',
    extract=r"""split(line, w, " "); if (tolower(w[1]) == "$includeconfig") inc(w[2])
        s0 = line; while (match(s0, /include\([^)]*file="[^"]*"/)) { s = substr(s0, RSTART, RLENGTH)
          sub(/.*file="/, "", s); sub(/"$/, "", s); inc(s); s0 = substr(s0, RSTART + RLENGTH) }""")


CHECK = Check(
    id="auth_logging",
    trend_values=("records_missing_fields",),
    title="Login attempts are logged with date, time, user and source address",
    claims=("login-attempts-logged",),
    controls=("ISO27001:2022 A.8.15", "ISO27001:2022 A.8.5"),  # A.8.17 (clock) is noted, not judged
    params=(
        Param("auth_logs", list, ["/var/log/auth.log", "/var/log/secure"],
              "log files whose login records are sampled (each with its .1 rotation)", path=True),
        Param("sample", int, 200, "login records sampled per file and from the journal (the newest)",
              minimum=1),
        Param("require_source_ip", bool, True,
              "network logins (sshd) must record the source IP address, not a host name or nothing"),
    ),
    probes=(
        # one process list for this check, monitoring and admin_change_audit (the same script, run once)
        shell("processes", daemons_ps_script(LOGGERS + TIME_SYNC + ("auditd",))),
        shell("rsyslog_conf", dump_files_script(RSYSLOG_MAIN, RSYSLOG_DIR, *busybox.CONFIG_FILES,
                                                includes=RSYSLOG_INCLUDES)),
        shell("journald_conf", dump_files_script(*JOURNALD_CONFIG)),
        shell("records", _records_script, root=True),
        # timedatectl asks systemd-timedated, which only a system booted with systemd has (sd_booted)
        shell("clock", "if [ -d /run/systemd/system ]; then "
                       "timedatectl show -p NTPSynchronized --value 2>/dev/null || echo unknown; "
                       "else echo unknown; fi"),
    ),
)


class LogFile(NamedTuple):
    state: str  # ok, missing, unreadable or not-a-file
    detail: str  # ok: the mtime; not-a-file: what it is (a key of not_a_file.KINDS); else ""


@dataclass
class Records:
    """What the records probe printed: facts about the host, the log files, the sampled records."""

    facts: dict[str, str] = field(default_factory=dict)  # now, utc_offset, machine_id, uid, ...
    files: dict[str, LogFile] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)  # sampled records by source
    counts: dict[str, int] = field(default_factory=dict)  # matching lines by source


FACTS = ("now", "utc_offset", "machine_id", "ssh_connection", "uid", "journal_dirs")
RECORDS_ARITY: dict[str, Arity] = {**dict.fromkeys(FACTS, 1), "file": (2, None), "count": 2, "rec": (2, None),
                                   busybox.ROW.rstrip("\t"): (2, None)}  # read by busybox.parse_syslogd


def read_records(text: str) -> Records:
    found = Records()
    for row in rows(text, "records", RECORDS_ARITY):
        if row.tag == "rec":
            found.lines.setdefault(row.fields[0], []).append(row.rest(1))  # a record may hold tabs
        elif row.tag == "count":
            found.counts[row.fields[0]] = int(row.fields[1]) if row.fields[1].isdigit() else 0
        elif row.tag == "file":
            found.files[row.fields[0]] = LogFile(row.fields[1], row.rest(2))
        elif row.tag in FACTS:
            found.facts[row.tag] = row.fields[0]
    return found


def _utc_offset(text: str) -> int:
    text = text.strip()
    if len(text) == 5 and text[0] in "+-" and text[1:].isdigit():
        return (-1 if text[0] == "-" else 1) * (int(text[1:3]) * 3600 + int(text[3:]) * 60)
    return 0


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


class Recorders(NamedTuple):
    names: list[str]  # who records auth events, as the summary names them
    routed: set[str]  # files rsyslog or syslogd writes them to
    persistent: bool  # the journal survives a reboot
    remote_only: list[str]  # hosts a syslogd sends everything to, keeping no local copy


# CIS Benchmarks (Debian, Ubuntu, RHEL): "Ensure journald is configured to write logfiles to persistent disk"
JOURNAL_PERSISTENT_REF = "CIS Benchmark: journald writes logfiles to persistent disk (Storage=persistent)"


def _route_auth(config: syslog.RsyslogConfig, daemon: str, main: str,
                findings: Findings) -> dict[str, list[str]]:
    """{file: facilities} that receive auth and authpriv at info from this configuration; adds
    what it sends elsewhere, what was not interpreted, and a failure for a facility routed nowhere."""
    targets: dict[str, list[str]] = {}
    for facility in AUTH_FACILITIES:
        for action in config.destinations(facility, "info"):
            if action.kind == "file":
                targets.setdefault(action.target, []).append(facility)
            elif action.kind in ("remote", "dynafile"):
                findings.note(f"{daemon} also sends {facility} to {action.kind} {action.target} "
                              f"({action.source})")
    missing = [f for f in AUTH_FACILITIES if not any(f in fs for fs in targets.values())]
    for note in config.notes:
        findings.note(f"{daemon}: {note}")
    if missing:
        findings.fail(f"{daemon} runs but routes {','.join(missing)}.info to no file"
                      + (f" (read: {', '.join(config.files_read)})" if config.files_read
                         else f" ({main} not found)"))
    return targets


def _judge_syslogd(setup: SyslogdSetup, findings: Findings) -> tuple[list[str], set[str], list[str]]:
    """(recorder names, files written, remote-only hosts) of the running syslogds (busybox's, or
    another that reads /etc/syslog.conf)."""
    names: list[str] = []
    routed: set[str] = set()
    remote_only: list[str] = []
    if setup.daemons and (options := setup.options()):
        findings.note(f"/etc/conf.d/syslog: SYSLOGD_OPTS=\"{options}\"")
    for daemon in setup.daemons:
        label = f"{daemon.name} (pid {daemon.pid}: {' '.join(daemon.args) or 'no options'})"
        for host in daemon.remote:
            findings.note(f"{label} sends every message to {host} (-R)")
        if daemon.rules in setup.files:  # selector rules, as rsyslog's legacy lines
            config = syslog.parse_rsyslog({daemon.rules: setup.files[daemon.rules]}, daemon.rules)
            targets = _route_auth(config, daemon.name, daemon.rules, findings)
            routed.update(targets)
            if targets:
                names.append(f"{daemon.name} → " + ", ".join(f"{path} ({','.join(fs)})"
                                                              for path, fs in sorted(targets.items())))
            continue
        if daemon.rules != busybox.RULES:
            findings.unknown(f"{label} reads its rules from {daemon.rules} (-f), which was not read")
            names.append(f"{daemon.name} (rules in {daemon.rules}, not read)")
            continue
        if daemon.ring_buffer:
            findings.fail(f"{label} keeps messages only in a shared-memory ring buffer (-C, read with "
                          "logread): overwritten when full and lost at reboot", Severity.MEDIUM)
        elif not daemon.logs_info:
            findings.fail(f"{label} logs only priorities more urgent than {daemon.level} (-l): sshd's login "
                          "records (info) are dropped")
        elif daemon.writes_file:
            names.append(f"{daemon.name} → {daemon.file} (every facility, auth and authpriv included)")
            routed.add(daemon.file)
        elif daemon.remote:
            names.append(f"{daemon.name} → {', '.join(daemon.remote)} only (-R without -L: no local copy)")
            remote_only.extend(daemon.remote)
    return names, routed, remote_only


def judge_recorders(out: Outputs, journal_dirs: str, findings: Findings) -> Recorders:
    """Adds what the loggers and their configuration say; raises ValueError for an unreadable
    process list."""
    processes = out.require("processes").stdout
    running = {name for p in parse_ps(processes) for name in p.names()}
    config_files = parse_dump(out.require("rsyslog_conf").stdout)[0]
    recorders: list[str] = []
    routed: set[str] = set()
    if "rsyslogd" in running:
        config = syslog.parse_rsyslog(config_files, RSYSLOG_MAIN)
        targets = _route_auth(config, "rsyslogd", RSYSLOG_MAIN, findings)
        routed.update(targets)
        if targets:
            recorders.append("rsyslogd → " + ", ".join(f"{path} ({','.join(fs)})" for path, fs in
                                                       sorted(targets.items())))
    if "syslog-ng" in running:
        recorders.append("syslog-ng (its configuration is not read)")
    # The syslogd rows: in the records (today), or in the process list (evidence of earlier versions).
    syslogd_rows = processes + "\n" + out.require("records").stdout
    syslogd_names, syslogd_files, remote_only = _judge_syslogd(
        busybox.parse_syslogd(syslogd_rows, config_files), findings)
    recorders.extend(syslogd_names)
    routed.update(syslogd_files)
    files_written = bool(routed) or "syslog-ng" in running
    journald = {"systemd-journald", "systemd-journal"} & running
    storage = journald_settings(out.require("journald_conf").stdout).get("Storage", "auto").lower()
    persistent = False
    if journald:
        if storage == "none":
            findings.fail("systemd-journald runs with Storage=none: it keeps nothing")
        else:
            persistent = storage == "persistent" or (storage == "auto" and "/var/log/journal" in journal_dirs)
            recorders.append(f"systemd-journald (Storage={storage}, "
                             + ("persistent)" if persistent else "volatile: lost at reboot)"))
            if not persistent and not files_written and not remote_only:  # the journal is the only record
                findings.fail(f"systemd-journald is the only logger and keeps login records in memory only "
                              f"(Storage={storage}" + (", no /var/log/journal" if storage == "auto" else "")
                              + "): they are lost at every reboot", Severity.MEDIUM, JOURNAL_PERSISTENT_REF)
    for name in TIME_SYNC:
        if name[:15] in running or name in running:
            findings.note(f"clock: {name} runs (ISO 27001 A.8.17)")
    if "auditd" in running:
        findings.note("auditd runs")
    return Recorders(recorders, routed, persistent, remote_only)


Missing = dict[str, list[str]]  # what a record lacks -> where


def _judge_records(records: dict[str, list[str]], counts: dict[str, int], sample: int, now: float | None,
                   offset: int, require_ip: bool) -> tuple[list[syslog.AuthRecord], Missing, int]:
    """(parsed records, what is missing -> examples, lines that could not be read)."""
    parsed: list[syslog.AuthRecord] = []
    missing: Missing = {}
    unreadable = 0

    def lack(what: str, where: str) -> None:
        missing.setdefault(what, []).append(where)

    for source, lines in records.items():
        in_file = [(syslog.parse_auth_record(line, now, offset), line) for line in lines]
        unreadable += sum(1 for record, _ in in_file if record is None)
        accepted_pids = {r.pid for r, _ in in_file if r and r.event == "accepted" and r.pid}
        full = counts.get(source, 0) > sample
        for index, (record, _line) in enumerate(in_file):
            if record is None:
                continue
            parsed.append(record)
            where = f"{source} record {counts.get(source, len(lines)) - len(lines) + index + 1}"
            if not record.has_date:
                lack("date", where)
            if not record.has_time:
                lack("time", where)
            if record.user is None and record.event != "pam_failure":
                lack("user", where)
            if record.network and require_ip:
                if record.source is None:
                    lack("source IP", where)
                elif not record.source_is_ip:
                    lack("source IP (a host name instead)", where)
            # A session's line names no source; sshd's Accepted line from the same process
            # does. None at all: sshd logs below INFO. The first records of a full sample
            # may have lost their Accepted line at the cut.
            if (require_ip and record.event == "session_opened" and record.service.startswith("sshd")
                    and record.pid not in accepted_pids and not (full and index < 3)):
                lack("source IP (sshd session without an Accepted record)", where)
    return parsed, missing, unreadable


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["processes", "rsyslog_conf", "journald_conf", "records", "clock"]
    findings = Findings()
    try:
        found = read_records(out.require("records").stdout)
        recorders = judge_recorders(out, found.facts.get("journal_dirs", ""), findings)
    except UnexpectedLine as exc:
        return result(Status.ERROR, str(exc), evidence=evidence)
    except ValueError as exc:
        return result(Status.ERROR, f"could not read the process list: {exc}", findings.details(), evidence)
    facts, counts = found.facts, found.counts
    now = _number(facts.get("now"))
    require_ip = bool(params["require_source_ip"])
    clock = out.require("clock").stdout.strip()
    if clock in ("yes", "no"):
        findings.note(f"timedatectl: NTPSynchronized={clock}")
    if not recorders.names and not findings.failures:
        findings.fail("no syslog daemon (rsyslogd, syslog-ng) or systemd-journald is running, "
                      "and no (busybox) syslogd")

    # Records the probe could not read may be the ones that lack a field: no verdict on them.
    if denied := _not_read(found, out.require("records").stderr):
        return result(Status.ERROR, denied[0], findings.details() + denied[1:], evidence)
    sampled = [p for p, f in found.files.items() if f.state == "ok"]
    unsampled = sorted(p for p in recorders.routed if p not in found.files)
    if unsampled:
        findings.note(f"rsyslog writes auth records to {', '.join(unsampled)}, not sampled: "
                      "add it to auth_logs")
    parsed, missing, unreadable = _judge_records(found.lines, counts, int(params["sample"]), now,
                                                 _utc_offset(facts.get("utc_offset", "")), require_ip)
    sources = ", ".join(sorted(sampled) + ([JOURNAL] if counts.get(JOURNAL) else []))
    by_kind = Counter(r.service if r.service in ("sshd", "su", "sudo", "login") else "other" for r in parsed)
    newest = max((r.epoch for r in parsed if r.epoch is not None), default=None)
    not_files = [NotAFile(f.detail, path) for path, f in sorted(found.files.items())
                 if f.state == NOT_A_FILE_STATE]
    for odd in not_files:
        findings.note(f"{odd}: its records were not read")
    machine_id = _number(facts.get("machine_id"))
    host_hours = (now - machine_id) / HOUR if now and machine_id else None
    _note_records(findings, facts.get("ssh_connection", ""), parsed, unreadable, newest, now, missing)

    recorded_by = "; ".join(recorders.names)
    where = (", ".join(sorted(sampled)) if sampled else f"{', '.join(params['auth_logs'])} (none exists)") \
        + (" or the journal" if JOURNAL in counts else "")
    values: dict[str, Any] = {
        "records_found": sum(counts.values()), "records_sampled": len(parsed),
        "records_by_service": dict(sorted(by_kind.items())),
        "records_missing_fields": sum(len(v) for v in missing.values()),
        "newest_record_age_hours": round((now - newest) / HOUR, 1) if now and newest else None,
        "journal_persistent": recorders.persistent}
    if findings.failures:  # the records are judged once something is found to record them
        return findings.result(evidence=evidence, ok_summary="", **values)
    ok = ""
    if not parsed and unreadable:
        findings.unknown(f"{unreadable} line(s) in {sources} look like login records but none could be read")
    elif missing:
        what = ", ".join(sorted({w.split(" (", 1)[0] for w in missing}))
        findings.fail(f"login records lack the {what}: {max(len(v) for v in missing.values())} of "
                      f"{len(parsed)} sampled record(s) in {sources}")
    elif not parsed and host_hours is not None and host_hours < 24:
        ok = (f"recorded by {recorded_by}; no login record yet in {where}, but the host is only "
              f"{host_hours:.0f} hours old")
    elif not parsed and recorders.remote_only:
        findings.manual(f"login records go to {', '.join(recorders.remote_only)} and are kept there, not on "
                        "this host: attach an excerpt of that log server's records")
    elif not parsed and (sinks := [o for o in not_files if o.kind != "directory"]):
        # syslogd -O /dev/console, a pipe to a log shipper: the records may be kept there
        findings.manual(f"no login record was read here: {'; '.join(map(str, sinks))}: attach an "
                        "excerpt of the records from where its output is kept")
    elif not parsed:
        findings.fail(f"no login records found in {where} although {recorded_by} runs")
    else:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items()))
        fields = "date, time, user and source IP" if require_ip else "date, time and user"
        ok = (f"recorded by {recorded_by}; all {len(parsed)} sampled login records ({kinds}) carry "
              f"the {fields}")
    return findings.result(evidence=evidence, ok_summary=ok, **values)


def _not_read(found: Records, stderr: str) -> list[str]:
    """Why the records probe could not read every record (the reason, then journalctl's words), if so."""
    unread = next((path for path, f in sorted(found.files.items()) if f.state == "unreadable"), None)
    if unread:
        return [f"cannot read {unread}: the records probe needs root (become: sudo)"]
    uid = found.facts.get("uid", "").strip()
    denied = [line.strip() for line in stderr.splitlines()
              if any(phrase in line for phrase in JOURNAL_DENIED)]
    if uid not in ("", "0") and denied:
        return [f"cannot read the whole journal as uid {uid}: the records probe needs root (become: sudo)",
                *(f"journalctl: {line}" for line in denied)]
    return []


def _note_records(findings: Findings, ssh_connection: str, parsed: list[syslog.AuthRecord], unreadable: int,
                  newest: float | None, now: float | None, missing: Missing) -> None:
    """Notes this audit's own login, unreadable lines, the newest record and what records lack."""
    own = ssh_connection.split()
    if len(own) == 4:
        seen = any(r.event == "accepted" and r.source == own[0] and r.port == int(own[1]) for r in parsed
                   if own[1].isdigit())
        findings.note(f"this audit's own SSH login (from {own[0]} port {own[1]}) is "
                      + ("among the records" if seen else "not among the sampled records"))
    if unreadable:
        findings.note(f"{unreadable} sampled line(s) matched a login pattern but could not be read")
    if newest is not None and now:
        stamp = dt.datetime.fromtimestamp(newest, dt.UTC)
        findings.note(f"newest login record: {stamp:%Y-%m-%d %H:%M} UTC "
                      f"({(now - newest) / HOUR:.1f} hours before the audit)")
    for lacking, places in missing.items():
        findings.note(f"{len(places)} record(s) lack the {lacking}: {', '.join(places[:5])}"
                      + (" …" if len(places) > 5 else ""))
