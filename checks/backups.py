"""A backup is made every day.

Two halves, both required:

1. A backup job runs at least every `max_interval_hours` (default 24). Looked for in
   /etc/crontab, /etc/cron.d, the user crontabs (/var/spool/cron/crontabs/*,
   /var/spool/cron/*), /etc/anacrontab, the scripts in /etc/cron.hourly|daily|weekly|monthly,
   and systemd timers (unit files in /etc, /run, /usr/local/lib, /lib and /usr/lib
   systemd/system with their drop-ins, plus `systemctl list-timers` when systemd runs).
   A job is a backup when its command (for a timer: the ExecStart of the service it
   triggers; for a run-parts script: its text) runs a known tool — restic, borg,
   borgmatic, pg_dump, pg_dumpall, pg_basebackup, Debian's pg_backupcluster (its
   pg_dump@.timer instances count when enabled), mysqldump, mariadb-dump, mariabackup,
   xtrabackup, rsnapshot, duplicity, duply, rdiff-backup, kopia, autorestic,
   resticprofile, mongodump, backupninja — or `rsync`/`tar` writing to a destination
   whose name says backup (or is one of `paths`); `tools` adds more names (a wrapper
   script, say). A job counts only if it really runs: Debian's cron ignores /etc/cron.d
   files whose names hold a dot or that are not root's or are group/other-writable, and
   user crontabs whose mode is not 600 (each rule seen on Debian 12's cron);
   run-parts never runs a /etc/cron.daily script whose name holds a dot (`backup.sh`!) or
   that is not executable; /etc/cron.daily runs only if a crontab or anacrontab line runs
   it (Debian's `test -x /usr/sbin/anacron ||` lines hand it to anacron when anacron is
   installed); cron jobs need a running cron daemon, timers a running systemd (PID 1) and
   an enabled (or, from list-timers, scheduled) timer. A weekly job fails a daily promise,
   and the summary says "weekly".
2. The newest backup is fresh: for every entry of `paths` (directories searched
   recursively, or files), the newest regular file by modification time is younger than
   `max_age_hours` (default 26). Borg and restic repositories are directories of files,
   so this works for them too. A missing or empty path fails, naming it. Files dated in the
   future are counted and ignored, so a skewed clock cannot make a stale backup look fresh.
   A configured path the probe printed no line for (its output cut short, its find/awk
   step failed) is an `error`, never taken as fresh.

Verdicts: no backup job, or none frequent enough, or a stale/missing backup → `fail`.
A daily job with no `paths` configured → `manual` (configure `vars.backups.paths`, or
attach the backup tool's own report). No local job but a Bacula/Bareos file daemon
(`bacula-fd`, `bareos-fd`) running → `manual`: the schedule lives on the director.

Secrets never leave the host: only crontab lines that mention a backup tool, `backup`,
run-parts or anacron are sent (environment lines never), with passwords in `NAME=value`,
`--password` options, `mysqldump -p…`, `sshpass -p`, `curl -u user:…`, `lftp -u user,…`,
`smbclient -U user%…` and URL credentials replaced by `***` on the host; of backup files,
only counts, sizes, times and the newest file's name.

Blind spots: a job that calls a wrapper script which runs the tool is not recognised
unless the wrapper's name is in `tools` (run-parts scripts are read, other scripts are
not); whether the job succeeds is not seen — only the artefacts' age says that, so
configure `paths`; backups kept elsewhere (S3, a remote repository) cannot be aged from
the host (→ `manual`); cron's time zone and daylight-saving shifts are ignored; cronie's
run-parts (RHEL) accepts dotted names that Debian's refuses, and is judged by Debian's
rule; templated timers (`name@.timer`) and user-level systemd timers are not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from auditor.check import Check, Outputs, Param, Params, Result, Status, result
from auditor.parsers import schedules
from auditor.parsers.conf import systemd_dropin_order
from auditor.parsers.files import dump_files_script, parse_dump
from auditor.parsers.schedules import Schedule, ScheduleError
from auditor.probes import quote, shell

KNOWN_TOOLS = ("restic", "borg", "borgmatic", "pg_dump", "pg_dumpall", "pg_basebackup", "pg_backupcluster",
               "mysqldump",
               "mariadb-dump", "mariabackup", "xtrabackup", "rsnapshot", "duplicity", "duply",
               "rdiff-backup", "kopia", "autorestic", "resticprofile", "mongodump", "backupninja")
COPY_TOOLS = ("rsync", "tar")  # a backup only when they write to a backup destination
CRON_DAEMONS = ("cron", "crond", "fcron")
DIRECTOR_DAEMONS = {"bacula-fd": "Bacula", "bareos-fd": "Bareos"}
WATCHED_PROCESSES = (*CRON_DAEMONS, "anacron", "systemd", *DIRECTOR_DAEMONS)
CRONTAB_PATHS = ("/etc/crontab", "/etc/cron.d", "/var/spool/cron/crontabs", "/var/spool/cron",
                 "/etc/anacrontab")
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/lib/systemd/system", "/usr/lib/systemd/system")
FUTURE_SLACK_S = 300  # mtimes this far ahead of the host's clock are "in the future"
_WORD_CHARS = "a-z0-9_.-"  # what may not touch a tool name on either side


# --------------------------------------------------------------------------
# Probes
# --------------------------------------------------------------------------


def _tools(params: Params) -> list[str]:
    extra = [str(t).lower() for t in params.get("tools", []) if str(t).strip()]
    return list(dict.fromkeys([*KNOWN_TOOLS, *COPY_TOOLS, *extra]))


def _tool_alternation(params: Params) -> str:
    return "|".join(re.sub(r"([.\[\](){}*+?|^$\\])", r"\\\1", t) for t in _tools(params))


def _host_tool_pattern(params: Params) -> str:
    """The tool names as a POSIX ERE for awk on the host (awk has no lookarounds)."""
    return f"(^|[^{_WORD_CHARS}])({_tool_alternation(params)})([^{_WORD_CHARS}]|$)"


def _tool_regex(params: Params) -> re.Pattern[str]:
    """The same names as the host's pattern, for the lower-cased command here."""
    return re.compile(f"(?<![{_WORD_CHARS}])({_tool_alternation(params)})(?![{_WORD_CHARS}])")


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def _secret(*words: str) -> str:
    return "(" + "|".join(_any_case(w) for w in words) + ")"


_VALUE = "('[^']*'|\"[^\"]*\"|[^[:space:];&|]+)"


def _user_password_option(tool: str, options: str, separator: str) -> list[str]:
    """sed arguments masking the password in TOOL's `OPTION user<SEPARATOR>password`
    (curl -u user:pw, lftp -u user,pw, smbclient -U user%pw): in '...', in "..." (up to
    the closing quote, spaces included) or bare (up to a space)."""
    head = f"{tool}[^;&|]*[[:space:]]({options})(=|[[:space:]]*)"
    args = []
    for opening, password in (("'", "[^']*"), ('"', '[^"]*'), ("", "[^[:space:]'\"]+")):
        user = f"[^{separator}[:space:]'\"]*"
        args += ["-e", quote(f"s/({head}{opening}{user}{separator}){password}/\\1***/g")]
    return args



# Runs on the host over every line a probe sends: values of secret-looking settings become ***.
MASK_SECRETS = " ".join([
    "sed -E",
    "-e", quote(f"s/([A-Za-z0-9_]*{_secret('pass', 'secret', 'token', 'key', 'pwd')}[A-Za-z0-9_]*=){_VALUE}"
                "/\\1***/g"),
    "-e", quote(f"s/(--?[A-Za-z0-9_-]*{_secret('pass', 'secret', 'token', 'pwd')}[A-Za-z0-9_-]*)"
                f"(=|[[:space:]]+){_VALUE}/\\1\\3***/g"),
    "-e", quote("s/((mysql|mysqldump|mysqlpump|mariadb|mariadb-dump|mariabackup|xtrabackup)"
                "[^;&|]*[[:space:]]-p)[^[:space:]]+/\\1***/g"),
    "-e", quote("s/(sshpass[[:space:]]+-p[[:space:]]*)[^[:space:]]+/\\1***/g"),
    *_user_password_option("curl", "-u|--user|--proxy-user|-U", ":"),
    *_user_password_option("lftp", "-u|--user", ","),
    *_user_password_option("smbclient", "-U|--user", "%"),
    "-e", quote("s#(://[^/:@[:space:]]+:)[^@/[:space:]]+@#\\1***@#g"),
])

# Prefilters on the host: only lines that may matter leave it, each crontab line prefixed
# with its line number in the file. `$TOOLS_RE` is the ERE of
# tool names (set by `_with_tools`), matched against the lower-cased line.
_CRONTAB_FILTER = r"""awk '
function flush() {
  if (file != "" && jobs > 0) printf "# auditor: %d job line(s), %d shown\n", jobs, shown
  jobs = 0; shown = 0 }
/^### auditor-/ { flush(); file = $0; line = 0; print; next }
{ line++ }
/^[ \t]*(#|$)/ { next }
/^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=/ { next }
{ jobs++; low = tolower($0)
  if (low ~ ENVIRON["TOOLS_RE"] || low ~ /backup|run-parts|anacron/) {
    printf "%d\t%s\n", line, substr($0, 1, 2000); shown++ } }
END { flush() }'"""

# Crontab files with their owner and mode (cron ignores some for those), anacron's presence,
# and each file's job lines about backups, run-parts or anacron (never environment lines).
CRONTABS = r"""
printf 'anacron\t%s\n' "$([ -x /usr/sbin/anacron ] && echo yes || echo no)"
s=absent
if [ -d /var/spool/cron/crontabs ]; then
  s=unreadable; [ -r /var/spool/cron/crontabs ] && [ -x /var/spool/cron/crontabs ] && s=readable
fi
printf 'spool\t%s\n' "$s"
find /etc/crontab /etc/cron.d /var/spool/cron /etc/anacrontab -maxdepth 2 ! -type d \
  -printf 'meta\t%p\t%y\t%Y\t%u\t%m\n' 2>/dev/null | sort
{
@DUMP@
} | @FILTER@ | @MASK@
"""

# Every entry of the run-parts directories (type, executable, readable), and the lines of
# each script that mention a tool or backup.
RUN_PARTS = r"""
for d in /etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly; do
  [ -d "$d" ] || continue
  printf 'dir\t%s\n' "$d"
  for f in "$d"/* "$d"/.[!.]*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    if [ -f "$f" ]; then t=file; elif [ -d "$f" ]; then t=dir; else t=other; fi
    x=no; [ -x "$f" ] && x=yes; r=no; [ -r "$f" ] && r=yes
    printf 'entry\t%s\t%s\t%s\t%s\n' "$f" "$t" "$x" "$r"
    [ "$t$r" = fileyes ] || continue
    awk '/^[ \t]*#/ { next } { low = tolower($0) }
      low ~ ENVIRON["TOOLS_RE"] || low ~ /backup/ {
        printf "line\t%s\t%s\n", FILENAME, substr($0, 1, 500) }' "$f"
  done
done | @MASK@
exit 0
"""

# Timer units (masked ones named as such), enabled links, the [Timer] keys of timers and
# drop-ins, the Exec lines of services that mention a tool or backup, and list-timers
# when systemd runs. /lib is /usr/lib on merged-/usr systems: each real directory once.
TIMERS = r"""
{
seen=
for d in /etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system \
         /lib/systemd/system /usr/lib/systemd/system; do
  [ -d "$d" ] || continue
  r=$(readlink -f "$d"); case " $seen " in *" $r "*) continue ;; esac; seen="$seen $r"
  for f in "$d"/*.timer; do
    if [ -L "$f" ] && [ "$(readlink -f "$f")" = /dev/null ]; then printf 'masked\t%s\n' "$f"
    elif [ -f "$f" ]; then printf 'timer\t%s\n' "$f"; fi
  done
  for f in "$d"/*.wants/*.timer; do
    { [ -e "$f" ] || [ -L "$f" ]; } && printf 'wants\t%s\n' "$f"
  done
  set --
  for f in "$d"/*.timer "$d"/*.timer.d/*.conf "$d"/*.service "$d"/*.service.d/*.conf; do
    [ -f "$f" ] && set -- "$@" "$f"
  done
  [ $# -gt 0 ] && awk '
    FILENAME ~ /\.timer(\.d\/[^\/]*\.conf)?$/ {
      if ($0 ~ /^[ \t]*(On(Calendar|ActiveSec|BootSec|StartupSec|UnitActiveSec|UnitInactiveSec)|Unit)[ \t]*=/)
        printf "unit\t%s\t%s\n", FILENAME, $0
      next }
    /^[ \t]*Exec(Start|StartPre|StartPost)[ \t]*=/ {
      low = tolower($0)
      if (low ~ ENVIRON["TOOLS_RE"] || low ~ /backup/)
        printf "unit\t%s\t%s\n", FILENAME, substr($0, 1, 2000) }
  ' "$@"
done
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null; then
  systemctl list-timers --all --no-pager --no-legend 2>/dev/null | sed 's/^/list\t/'
fi
} | @MASK@
exit 0
"""

# What runs jobs: PID 1, and the cron daemons and backup file daemons that are running.
SCHEDULER = r"""
printf 'pid1\t%s\n' "$(cat /proc/1/comm 2>/dev/null)"
printf 'systemd_dir\t%s\n' "$([ -d /run/systemd/system ] && echo yes || echo no)"
cat /proc/[0-9]*/comm 2>/dev/null | sort -u | grep -x -E @WATCHED@ | sed 's/^/process\t/'
exit 0
""".replace("@WATCHED@", quote("|".join(WATCHED_PROCESSES)))

# For each backup path: how many files, and the newest one's time, size and name (never a
# file's content). Unreadable directories are counted, not skipped silently; files dated
# more than FUTURE_SLACK_S ahead of the host's clock are counted apart.
ARTEFACTS = r"""
now=$(date +%s); printf 'now\t%s\n' "$now"
for p in @PATHS@; do
  if [ -d "$p" ]; then k=dir; set -- "$p/"
  elif [ -f "$p" ]; then k=file; set -- "$p"
  elif [ -e "$p" ]; then k=other; set -- "$p"
  else printf 'path\t%s\tmissing\n' "$p"; continue; fi
  find "$@" \( -type d ! -readable -prune -printf 'X\t\t%p\n' \) -o -type f -printf '%T@\t%s\t%p\n' \
    2>/dev/null | P="$p" K="$k" NOW="$now" awk -F '\t' '
    $1 == "X" { unreadable++; next }
    { files++; t = $1 + 0 }
    t > ENVIRON["NOW"] + @SLACK@ { future++; next }
    newest == "" || t > newest { newest = t; size = $2; name = $3 }
    END { printf "path\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\n", ENVIRON["P"], ENVIRON["K"], files,
          (newest == "" ? "-" : sprintf("%d", newest)), (size == "" ? "-" : size), future, unreadable, name }'
done
exit 0
""".replace("@SLACK@", str(FUTURE_SLACK_S))


def _with_tools(script: str, params: Params) -> str:
    return f"TOOLS_RE={quote(_host_tool_pattern(params))}; export TOOLS_RE\n" + script.replace(
        "@MASK@", MASK_SECRETS)


def _crontabs_script(params: Params) -> str:
    return _with_tools(CRONTABS.replace("@DUMP@", dump_files_script(*CRONTAB_PATHS))
                       .replace("@FILTER@", _CRONTAB_FILTER), params)


def _run_parts_script(params: Params) -> str:
    return _with_tools(RUN_PARTS, params)


def _timers_script(params: Params) -> str:
    return _with_tools(TIMERS, params)


def _artefacts_script(params: Params) -> str:
    return ARTEFACTS.replace("@PATHS@", " ".join(quote(str(p)) for p in params["paths"]))


CHECK = Check(
    id="backups",
    trend_values=("newest_backup_age_hours",),
    title="A backup job runs every day and the newest backup is fresh",
    claims=("daily-backup",),
    controls=("ISO27001:2022 A.8.13",),
    params=(
        Param("paths", list, [], "backup directories (searched recursively) or files whose newest "
              "regular file must be younger than max_age_hours, each on its own; empty: the age "
              "cannot be judged and a found daily job gives `manual`"),
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


# --------------------------------------------------------------------------
# Reading the probes
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A backup command found somewhere, with when it fires and why it may never run."""

    where: str  # "/var/spool/cron/crontabs/root:3", "/etc/cron.daily/backup", "restic.timer"
    tool: str
    schedule: Schedule | None
    blocked: str = ""  # why it never runs; empty when it runs

    @property
    def label(self) -> str:
        return f"{self.tool} in {self.where}"

    def describe(self) -> str:
        when = self.schedule.describe() if self.schedule else "no schedule"
        return f"{self.label}: {when}" + (f"; never runs: {self.blocked}" if self.blocked else "")


@dataclass
class Findings:
    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts worth showing that decide nothing
    unknown: list[str] = field(default_factory=list)  # lines that say backup but use no known tool
    errors: list[str] = field(default_factory=list)  # what could not be read


def _columns(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines() if line]


def backup_tool(command: str, tools: re.Pattern[str], destinations: Sequence[str]) -> str | None:
    """The backup tool a command runs, or None. rsync and tar count only when the command
    names a destination that says backup, or one of the configured backup paths."""
    low = command.lower()
    found = [m.group(1) for m in tools.finditer(low)]
    known = [t for t in found if t not in COPY_TOOLS]
    if known:
        return known[0]
    if found and ("backup" in low or any(d and d.lower() in low for d in destinations)):
        return found[0]
    return None


@dataclass(frozen=True)
class Scheduler:
    pid1: str
    processes: frozenset[str]

    @property
    def cron_running(self) -> bool:
        return bool(self.processes & set(CRON_DAEMONS))

    @property
    def systemd_running(self) -> bool:
        return self.pid1 == "systemd"

    def cron_blocker(self) -> str:
        return "" if self.cron_running else "no cron daemon is running"

    def systemd_blocker(self) -> str:
        return "" if self.systemd_running else f"systemd is not running (PID 1 is {self.pid1 or 'unknown'})"


def read_scheduler(text: str) -> Scheduler:
    facts = {row[0]: row[1] for row in _columns(text) if len(row) == 2 and row[0] != "process"}
    processes = frozenset(row[1] for row in _columns(text) if len(row) == 2 and row[0] == "process")
    return Scheduler(facts.get("pid1", ""), processes)


def numbered(content: str) -> list[tuple[int, str]]:
    """The crontab probe's "<line number>\t<line>" lines, as (number, line)."""
    lines = []
    for raw in content.splitlines():
        number, tab, line = raw.partition("\t")
        if tab and number.isdigit():
            lines.append((int(number), line))
    return lines


def _cron_file_blocker(path: str, meta: dict[str, tuple[str, str, str, str]]) -> str:
    """Why Debian's cron ignores a whole crontab file, or "" (each rule seen on cron 3.0pl1-162)."""
    name = path.rsplit("/", 1)[-1]
    kind, target, owner, mode = meta.get(path, ("f", "f", "?", "0"))
    writable = int(mode, 8) & 0o022 if re.fullmatch(r"[0-7]+", mode) else 0
    if path.startswith("/etc/cron.d/") and not schedules.run_parts_runs(name):
        return (f"cron ignores /etc/cron.d/{name}: file names there may hold only letters, digits, "
                "'_' and '-' (no dots)")
    if kind == "l" and target != "f":
        return f"cron ignores {path}: a link to no regular file"
    if path.startswith("/etc/"):
        if owner != "root":
            return f"cron ignores {path}: it belongs to {owner}, not root"
        if writable:
            return f"cron ignores {path}: it is group- or other-writable (mode {mode})"
    elif mode != "600":
        return f"cron ignores {path}: a user crontab must have mode 600, not {mode}"
    elif owner not in (name, "root"):
        return f"cron ignores {path}: it belongs to {owner}, not {name} or root"
    return ""


def read_crontabs(text: str, tools: re.Pattern[str], params: Params, sched: Scheduler,
                  findings: Findings) -> dict[str, list[tuple[Schedule, str, str]]]:
    """Backup jobs in crontabs and anacrontab; returns, per run-parts directory, the
    (schedule, where, blocker) of each line that runs it."""
    head, _, _ = text.partition("\n### auditor-")
    facts = {row[0]: row[1] for row in _columns(head) if len(row) == 2}
    meta = {row[1]: (row[2], row[3], row[4], row[5]) for row in _columns(head)
            if row[0] == "meta" and len(row) == 6}
    files, unreadable = parse_dump(text)
    anacron = facts.get("anacron") == "yes"
    if facts.get("spool") == "unreadable":
        findings.errors.append("cannot list the user crontabs in /var/spool/cron/crontabs (needs root)")
    findings.errors += [f"cannot read {path}" for path in unreadable]
    run_parts: dict[str, list[tuple[Schedule, str, str]]] = {}
    for path, content in sorted(files.items()):
        name = path.rsplit("/", 1)[-1]
        if name.startswith("."):
            continue  # cron skips hidden files
        counted = re.findall(r"^# auditor: (\d+) job line\(s\), (\d+) shown$", content, re.M)
        if counted:
            findings.notes.append(f"{path}: {counted[-1][0]} job line(s), {counted[-1][1]} about "
                                  "backups, run-parts or anacron")
        if path == "/etc/anacrontab":
            if not anacron:
                findings.notes.append("/etc/anacrontab is there but anacron is not installed")
                continue
            jobs, problems = schedules.parse_anacrontab(numbered(content), path)
            daemon = "" if (sched.cron_running or sched.systemd_running) else \
                "anacron is started by cron or systemd, and neither is running"
        else:
            system = path == "/etc/crontab" or path.startswith("/etc/cron.d/")
            user = None if system else name
            jobs, problems = schedules.parse_crontab(numbered(content), path, user)
            daemon = _cron_file_blocker(path, meta) or sched.cron_blocker()
        findings.notes += problems
        for job in jobs:
            handed_to_anacron = anacron and schedules.skipped_when_anacron_installed(job.command)
            if handed_to_anacron and path != "/etc/anacrontab":
                continue  # anacron runs those directories instead; /etc/anacrontab says when
            for directory in schedules.run_parts_dirs(job.command):
                run_parts.setdefault(directory, []).append((job.schedule, job.source, daemon))
            tool = backup_tool(job.command, tools, params["paths"])
            if tool:
                findings.jobs.append(Job(f"{job.source} (user {job.user})", tool, job.schedule, daemon))
            elif "backup" in job.command.lower() and not schedules.run_parts_dirs(job.command):
                findings.unknown.append(f"{job.source}: {job.command[:120]}")
    return run_parts


def read_run_parts(text: str, tools: re.Pattern[str], params: Params,
                   runners: dict[str, list[tuple[Schedule, str, str]]], findings: Findings) -> None:
    entries: dict[str, tuple[str, str, str]] = {}
    lines: dict[str, list[str]] = {}
    for row in _columns(text):
        if row[0] == "entry" and len(row) == 5:
            entries[row[1]] = (row[2], row[3], row[4])
        elif row[0] == "line" and len(row) >= 3:
            lines.setdefault(row[1], []).append("\t".join(row[2:]))
    for path, (kind, executable, readable) in sorted(entries.items()):
        directory, _, name = path.rpartition("/")
        if readable != "yes":
            findings.errors.append(f"cannot read {path}")
            continue
        tool = next((t for line in lines.get(path, []) if (t := backup_tool(line, tools, params["paths"]))),
                    None)
        if tool is None:
            if lines.get(path):
                findings.unknown.append(f"{path}: {lines[path][0].strip()[:120]}")
            continue
        ways = sorted(runners.get(directory, []), key=lambda w: (bool(w[2]), w[0].max_gap_hours()))
        schedule = ways[0][0] if ways else None
        if not schedules.run_parts_runs(name):
            blocked = (f"run-parts never runs {name}: names may hold only letters, digits, '_' and '-' "
                       "(no dots)")
        elif kind != "file" or executable != "yes":
            blocked = f"run-parts skips {name}: not an executable file"
        elif not ways:
            blocked = f"no crontab or anacrontab line runs {directory}"
        else:
            blocked = ways[0][2]
        where = path + (f" (run by {ways[0][1]})" if ways else "")
        findings.jobs.append(Job(where, tool, schedule, blocked))


def _template(name: str) -> str:
    """"pg_dump@15-main.timer" -> "pg_dump@.timer"; other names unchanged."""
    match = re.fullmatch(r"(.+@)[^@]+(\.[a-z]+)", name)
    return match.group(1) + match.group(2) if match else name


def _unit_texts(units: dict[str, list[str]], name: str) -> list[str]:
    """Main file (the first of UNIT_DIRS that has it, else its template's) and drop-ins
    (the template's and the instance's), in systemd's order."""
    main = next((f"{d}/{n}" for n in (name, _template(name)) for d in UNIT_DIRS if f"{d}/{n}" in units), "")
    dropins = {p: "\n".join(lines) for p, lines in units.items()
               if p.rsplit("/", 2)[-2] in (f"{name}.d", f"{_template(name)}.d") and p.endswith(".conf")}
    files = {**dropins, **({main: "\n".join(units[main])} if main else {})}
    return systemd_dropin_order(files, main)


def read_timers(text: str, tools: re.Pattern[str], params: Params, sched: Scheduler,
                findings: Findings) -> None:
    units: dict[str, list[str]] = {}
    timers: set[str] = set()
    masked: set[str] = set()
    wanted: set[str] = set()
    listed_lines: list[str] = []
    for row in _columns(text):
        kind = row[0]
        if kind == "unit" and len(row) >= 3:
            units.setdefault(row[1], []).append("\t".join(row[2:]))
        elif kind in ("timer", "masked") and len(row) == 2:
            name = row[1].rsplit("/", 1)[-1]
            if name not in timers and name not in masked:  # the first directory wins
                (masked if kind == "masked" else timers).add(name)
        elif kind == "wants" and len(row) == 2:
            wanted.add(row[1].rsplit("/", 1)[-1])
        elif kind == "list":
            listed_lines.append("\t".join(row[1:]))
    listed = schedules.parse_list_timers("\n".join(listed_lines))
    # A template (name@.timer) runs only as instances: enabled (name@x.timer links) or listed.
    instances = {n for n in wanted | set(listed) if _template(n) != n and _template(n) in timers}
    for name in sorted((timers - {t for t in timers if t.endswith("@.timer")}) | instances):
        timer_values = schedules.unit_values(_unit_texts(units, name))
        service = (timer_values.get("Unit") or [name[: -len(".timer")] + ".service"])[-1]
        exec_values = schedules.unit_values(_unit_texts(units, service))
        commands = [c for key in ("ExecStartPre", "ExecStart", "ExecStartPost")
                    for c in exec_values.get(key, [])]
        tool = next((t for c in commands if (t := backup_tool(c, tools, params["paths"]))), None)
        if tool is None:
            if commands:
                findings.unknown.append(f"{service}: {commands[0][:120]}")
            continue
        try:
            schedule: Schedule | None = schedules.timer_schedule(timer_values)
            blocked = ""
        except ScheduleError as exc:
            schedule, blocked = None, f"systemd cannot read the timer ({exc})"
        if not blocked:
            blocked = sched.systemd_blocker()
        if not blocked and listed:
            entry = listed.get(name)
            if entry is None or not entry.scheduled:
                blocked = f"systemctl list-timers shows {name} with nothing scheduled (not started?)"
        elif not blocked and name not in wanted:
            blocked = f"{name} is not enabled (no *.wants/{name} link)"
        findings.jobs.append(Job(f"{name} → {service}", tool, schedule, blocked))
    for name in sorted(masked):
        findings.notes.append(f"{name} is masked")


@dataclass(frozen=True)
class Artefacts:
    path: str
    kind: str  # dir, file, other, missing
    files: int = 0
    newest: float | None = None
    newest_name: str = ""
    future: int = 0
    unreadable: int = 0


def read_artefacts(text: str) -> tuple[float | None, list[Artefacts]]:
    now: float | None = None
    found: list[Artefacts] = []
    for row in _columns(text):
        if row[0] == "now" and len(row) == 2 and row[1].isdigit():
            now = float(row[1])
        elif row[0] == "path" and len(row) == 3 and row[2] == "missing":
            found.append(Artefacts(row[1], "missing"))
        elif row[0] == "path" and len(row) >= 9:
            newest = float(row[4]) if re.fullmatch(r"\d+", row[4]) else None
            found.append(Artefacts(row[1], row[2], int(row[3]), newest, "\t".join(row[8:]),
                                   int(row[6]), int(row[7])))
        else:
            raise ValueError(f"unexpected line from the artefacts probe: {' '.join(row)[:80]!r}")
    return now, found


# --------------------------------------------------------------------------
# Judging
# --------------------------------------------------------------------------


def _hours(value: float) -> str:
    return f"{value:.0f} h" if value >= 10 else f"{value:.1f} h"


def _first(items: Iterable[str], limit: int = 3) -> str:
    listed = list(items)
    return "; ".join(listed[:limit]) + (" …" if len(listed) > limit else "")


def judge_freshness(now: float | None, found: list[Artefacts], paths: Sequence[str], max_age: float,
                    details: list[str]) -> tuple[list[str], list[str], float | None]:
    """(problems, errors, the age in hours of the stalest path's newest file). Where some
    directories could not be read, a stale or empty verdict is uncertain: an error; so is a
    configured path the probe printed no line for (its output cut short, or awk failed)."""
    problems: list[str] = []
    errors: list[str] = []
    ages: list[float] = []
    if now is None:
        return [], ["the artefacts probe did not report the host's clock"], None
    reported = {entry.path for entry in found}
    unreported = [p for p in dict.fromkeys(paths) if p not in reported]
    if unreported:
        errors.append("the artefacts probe printed nothing for " + ", ".join(unreported)
                      + " (its output was cut short, or its find/awk step failed)")
    for entry in found:
        if entry.kind == "missing":
            problems.append(f"backup path {entry.path} does not exist")
            continue
        if entry.future:
            details.append(f"{entry.path}: {entry.future} file(s) dated in the future, ignored")
        unread = f" ({entry.unreadable} unreadable director(y/ies) under it)" if entry.unreadable else ""
        if entry.newest is None:
            problem = (f"backup path {entry.path} holds no files" if entry.kind == "dir"
                       else f"backup path {entry.path} is not a regular file or directory")
            (errors if unread else problems).append(problem + unread)
            continue
        age = max(0.0, (now - entry.newest) / 3600)
        ages.append(age)
        details.append(f"{entry.path}: {entry.files} file(s); newest {entry.newest_name} is "
                       f"{_hours(age)} old" + unread)
        if age > max_age:
            problem = f"newest backup in {entry.path} is {_hours(age)} old (max {max_age:g} h)"
            (errors if unread else problems).append(problem + unread)
    return problems, errors, (round(max(ages), 1) if ages else None)


def evaluate(out: Outputs, params: Params) -> Result:
    tools = _tool_regex(params)
    max_interval = float(params["max_interval_hours"])
    max_age = float(params["max_age_hours"])
    evidence = ["crontabs", "run_parts", "timers", "scheduler", "artefacts"]
    sched = read_scheduler(out.require("scheduler").stdout)
    findings = Findings()
    runners = read_crontabs(out.require("crontabs").stdout, tools, params, sched, findings)
    read_run_parts(out.require("run_parts").stdout, tools, params, runners, findings)
    read_timers(out.require("timers").stdout, tools, params, sched, findings)
    artefacts = out.require("artefacts")
    try:
        now, found = read_artefacts(artefacts.stdout)
    except ValueError as exc:
        return result(Status.ERROR, str(exc), evidence=evidence)

    jobs = sorted(findings.jobs, key=lambda j: (bool(j.blocked), j.schedule.max_gap_hours()
                                                if j.schedule else schedules.NEVER, j.where))
    daily = [j for j in jobs if not j.blocked and j.schedule and j.schedule.fires_every(max_interval)]
    details = [j.describe() for j in jobs]
    details += [f"mentions backup but runs no known backup tool (add it to tools if it is one): {u}"
                for u in findings.unknown[:10]]
    directors = sorted(DIRECTOR_DAEMONS[p] for p in sched.processes if p in DIRECTOR_DAEMONS)
    details.append("running: " + (", ".join(sorted(sched.processes)) or "no cron daemon, systemd, "
                                  "bacula-fd or bareos-fd") + f"; PID 1 is {sched.pid1 or 'unknown'}")
    details += findings.notes
    truncated = [name for name in evidence[:3] if out[name].truncated]

    problems: list[str] = []
    errors: list[str] = []
    manual: list[str] = []
    if not daily:
        if directors:
            manual.append(f"no local backup job, but the {' and '.join(directors)} file daemon is running: "
                          "the schedule lives on the director; attach its Schedule resource and last job "
                          "report")
        elif findings.errors or truncated:
            # What could not be read may hold the daily job.
            errors += findings.errors + [f"probe output cut at the size cap: {', '.join(truncated)}"
                                         for _ in truncated[:1]]
        elif not jobs:
            problems.append("no backup job found in the crontabs, /etc/cron.* or systemd timers")
        else:
            reasons = [f"{j.label} never runs: {j.blocked}" if j.blocked else
                       f"{j.label} runs {j.schedule.describe() if j.schedule else 'never'}, "
                       f"less often than every {max_interval:g} h" for j in jobs]
            problems.append("no daily backup job: " + _first(reasons, 2))
    fresh_problems, fresh_errors, newest_age = judge_freshness(
        now, found, [str(p) for p in params["paths"]], max_age, details)
    problems += fresh_problems
    errors += fresh_errors
    values = {"jobs_found": len(jobs), "daily_jobs": len(daily), "newest_backup_age_hours": newest_age,
              "max_age_hours": params["max_age_hours"]}
    if problems:
        return result(Status.FAIL, _first(problems), problems + errors + details, evidence, **values)
    if errors:
        return result(Status.ERROR, "could not judge the backups: " + _first(errors), errors + details,
                      evidence, **values)
    if manual:
        return result(Status.MANUAL, _first(manual), manual + details, evidence, **values)
    job = daily[0]
    schedule_text = f"daily backup job: {job.label}, {job.schedule.describe() if job.schedule else ''}"
    if not params["paths"]:
        return result(Status.MANUAL, f"{schedule_text}; no backup paths configured: set vars.backups.paths "
                      "to verify the newest backup's age, or attach the backup tool's report",
                      details, evidence, **values)
    if newest_age is None:  # unreachable while every path reports a file; never claim an age of 0
        return result(Status.ERROR, "could not judge the backups: no backup file's age was measured",
                      details, evidence, **values)
    return result(Status.PASS, f"{schedule_text}; newest backup is {_hours(newest_age)} old "
                  f"(max {max_age:g} h)", details, evidence, **values)
