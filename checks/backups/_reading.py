"""Reading the backups probes: the jobs that run a backup tool, and the backup files' ages."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from auditor.check import Params
from auditor.parsers import schedules
from auditor.parsers.commands import invocations
from auditor.parsers.conf import unit_template, unit_texts
from auditor.parsers.credentials import mask_credentials
from auditor.parsers.files import parse_dump
from auditor.parsers.rows import Arity, rows, unexpected
from auditor.parsers.schedules import FileMeta, Schedule, ScheduleError, Scheduler, is_housekeeping

from ._probes import COPY_TOOLS


@dataclass(frozen=True)
class Job:
    """A backup command found somewhere, with when it fires and why it may never run."""

    where: str  # "/var/spool/cron/crontabs/root:3", "/etc/cron.daily/backup", "restic.timer"
    tool: str  # the backup tool; for a script that could not be read, "script <path>"
    schedule: Schedule | None
    blocked: str = ""  # why it never runs; empty when it runs
    command: str = ""  # the job's command as the host sent it (masked there)
    script: str = ""  # the script the tool was found in (or that could not be read)
    found: str = ""  # where in the script: "/usr/local/sbin/x:12: tar czf …"
    unread: str = ""  # why the script could not be read; the job then counts on fresh artefacts only
    script_user: str = ""  # the user a wrapper runs the script as, when one says so

    @property
    def label(self) -> str:
        through = f" through {self.script}" if self.script and not self.unread else ""
        user = f" as {self.script_user}" if through and self.script_user else ""
        return f"{self.tool} in {self.where}{through}{user}"

    def describe(self) -> str:
        when = self.schedule.describe() if self.schedule else "no schedule"
        text = f"{self.label}: {when}" + (f"; never runs: {self.blocked}" if self.blocked else "")
        # Masked on the host already; the same rules again here, for evidence recorded before them.
        if self.command:
            text += f"; job: {mask_credentials(self.command)[0][:300]}"
        if self.found:
            text += f"; found in {mask_credentials(self.found)[0][:300]}"
        if self.unread:
            text += f"; its script was not read ({self.unread})"
        return text


@dataclass
class Discovered:
    """What the schedule readers found, before judging."""

    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts worth showing that decide nothing
    unrecognised: list[str] = field(default_factory=list)  # says backup but runs no known tool
    unreadable: list[str] = field(default_factory=list)  # what could not be read (may hide a job)
    scripts: dict[str, Script] = field(default_factory=dict)  # what the probes read of job scripts


class Runner(NamedTuple):
    """A crontab or anacrontab line that runs a run-parts directory."""

    schedule: Schedule
    where: str
    blocked: str


def backup_tool(command: str, tools: re.Pattern[str], destinations: Sequence[str],
                context: str = "") -> str | None:
    """The backup tool a command runs, or None. rsync and tar count only when the command (or
    its `context`: the script it is in, the job that runs it) names a destination that says
    backup, or one of the configured backup paths."""
    low = command.lower()
    found = [m.group(1) for m in tools.finditer(low)]
    known = [t for t in found if t not in COPY_TOOLS]
    if known:
        return known[0]
    around = f"{low} {context.lower()}"
    if found and ("backup" in around or any(d and d.lower() in around for d in destinations)):
        return found[0]
    return None


@dataclass(frozen=True)
class Script:
    """What the probes read of a script a job runs (never its whole text)."""

    path: str
    level: int  # 1: the job runs it; 2: a level-1 script names it
    readable: bool
    mode_owner: str = ""  # of an unreadable one: "-rwx------ backup"
    lines: tuple[tuple[int, str], ...] = ()  # its lines about a tool or backup, numbered
    calls: tuple[tuple[int, str], ...] = ()  # the paths it names, with the line naming them
    cut: bool = False  # longer than the probe reads


SCRIPT_ROWS: dict[str, Arity] = {"script": (3, None), "tool": (3, None), "call": 3, "cut": 1, "capped": 2}


def read_scripts(text: str, probe: str, found: Discovered) -> None:
    """Adds the `script`/`tool`/`call` records of a probe's output to `found.scripts` (a
    script read at level 1 somewhere keeps the paths it names)."""
    heads: dict[str, tuple[str, ...]] = {}
    lines: dict[str, list[tuple[int, str]]] = {}
    calls: dict[str, list[tuple[int, str]]] = {}
    cut: set[str] = set()
    for row in rows(text, probe, SCRIPT_ROWS, lenient=True):
        f = row.fields
        if row.tag == "script":
            heads.setdefault(f[0], f)
        elif row.tag in ("tool", "call") and f[1].isdigit():
            (lines if row.tag == "tool" else calls).setdefault(f[0], []).append((int(f[1]), row.rest(2)))
        elif row.tag == "cut":
            cut.add(f[0])
        elif row.tag == "capped":
            what = "scripts the jobs run" if f[0] == "scripts" else "paths the job commands name"
            found.unreadable.append(f"the {probe} probe looked at only the first {f[1]} {what}")
    for path, head in heads.items():
        level = int(head[1]) if head[1].isdigit() else 2
        known = found.scripts.get(path)
        if known is not None and known.level <= level:
            continue
        found.scripts[path] = Script(path, level, head[2] == "read", " ".join(head[3:]),
                                     tuple(lines.get(path, [])), tuple(calls.get(path, [])), path in cut)


@dataclass(frozen=True)
class Credit:
    """Why a job counts as a backup: the tool in a script it runs, or a script not readable."""

    tool: str  # "" when the script could not be read
    script: str
    found: str = ""  # "/usr/local/sbin/x:12: tar czf …"
    unread: str = ""
    user: str = ""  # the user a wrapper (su, runuser, sudo) runs the script as


def _in_script(path: str, tools: re.Pattern[str], params: Params, scripts: dict[str, Script],
               context: str) -> Credit | None:
    """The first tool line of the script at `path` or of a script it names (one level)."""
    script = scripts.get(path)
    if script is None or is_housekeeping(path):
        return None
    if not script.readable:
        mode = script.mode_owner or "mode unknown"
        return Credit("", path, unread=f"{mode}: the audit user cannot read it")
    context = f"{path} {context}"
    for number, line in script.lines:
        if tool := backup_tool(line, tools, params["paths"], context):
            return Credit(tool, path, f"{path}:{number}: {line.strip()}")
    unread: Credit | None = None
    for number, named in script.calls:
        callee = scripts.get(named)
        if callee is None or named == path or is_housekeeping(named):
            continue
        if not callee.readable:
            unread = unread or Credit("", path, unread=f"{named}, which {path}:{number} names, is "
                                      f"{callee.mode_owner or 'not readable'}")
            continue
        for n, line in callee.lines:
            if tool := backup_tool(line, tools, params["paths"], f"{named} {context}"):
                return Credit(tool, path, f"{path}:{number} → {named}:{n}: {line.strip()}")
    return unread


def follow_command(command: str, tools: re.Pattern[str], params: Params,
                   scripts: dict[str, Script]) -> tuple[Credit | None, list[str]]:
    """Follows a job's command through its wrappers into the scripts it runs: the first tool
    found (or a script that could not be read), and the scripts that were read in vain."""
    unread: Credit | None = None
    read: list[str] = []
    for run in invocations(command):
        program = run.program.lstrip("-@+!:")
        if tool := _in_script(program, tools, params, scripts, command):
            tool = dataclasses.replace(tool, user=run.user)
            if tool.tool:
                return tool, read
            unread = unread or tool
        elif program in scripts:
            read.append(program + (" (only its first part: it is longer than the probe reads)"
                                   if scripts[program].cut else ""))
    return unread, read


def housekeeping_command(command: str) -> bool:
    """Whether a job runs system housekeeping (dpkg-db-backup, e2scrub_all_cron, logrotate…)."""
    return any(is_housekeeping(run.program) for run in invocations(command))


def says_backup(text: str, destinations: Sequence[str]) -> bool:
    low = text.lower()
    return "backup" in low or any(d and str(d).lower() in low for d in destinations)


def credit_job(where: str, commands: Sequence[str], schedule: Schedule | None, blocked: str,
               tools: re.Pattern[str], params: Params, found: Discovered) -> None:
    """Adds the job that runs `commands` (a crontab line's, a service's Exec lines) to `found`:
    as a backup job when one of them names a backup tool or runs a script that does, as a
    backup job to be judged by its artefacts when its script could not be read and its
    command says backup, else as what could not be read or what says backup in vain."""
    for command in commands:
        if tool := backup_tool(command, tools, params["paths"]):
            found.jobs.append(Job(where, tool, schedule, blocked, command))
            return
    unread: tuple[str, Credit] | None = None
    read: list[str] = []
    for command in commands:
        credit, in_vain = follow_command(command, tools, params, found.scripts)
        read += in_vain
        if credit and credit.tool:
            found.jobs.append(Job(where, credit.tool, schedule, blocked, command, credit.script,
                                  credit.found, script_user=credit.user))
            return
        unread = unread or ((command, credit) if credit else None)
    if unread:
        command, credit = unread
        if says_backup(f"{command} {credit.script}", params["paths"]):
            found.jobs.append(Job(where, f"script {credit.script}", schedule, blocked, command, credit.script,
                                  unread=credit.unread))
        elif not blocked and schedule and schedule.fires_every(float(params["max_interval_hours"])):
            found.unreadable.append(f"cannot read {credit.script} ({credit.unread}), which {where} runs "
                                    f"{schedule.describe()}: it may run the backup")
        return
    said = next((c for c in commands if "backup" in c.lower() and not housekeeping_command(c)), None)
    if said is not None:
        in_vain_text = f" (read {', '.join(dict.fromkeys(read))}: no known backup tool in it)" if read else ""
        found.unrecognised.append(f"{where}: {said[:120]}{in_vain_text}")


def read_scheduler(text: str) -> Scheduler:
    found = rows(text, "scheduler", {"pid1": 1, "process": 1}, lenient=True)
    pid1 = next((r.fields[0] for r in found if r.tag == "pid1"), "")
    return Scheduler(pid1, frozenset(r.fields[0] for r in found if r.tag == "process"))


def numbered(content: str) -> list[tuple[int, str]]:
    """The crontab probe's "<line number>\t<line>" lines, as (number, line)."""
    lines = []
    for raw in content.splitlines():
        number, tab, line = raw.partition("\t")
        if tab and number.isdigit():
            lines.append((int(number), line))
    return lines


def read_crontabs(text: str, tools: re.Pattern[str], params: Params, sched: Scheduler,
                  found: Discovered) -> dict[str, list[Runner]]:
    """Backup jobs in crontabs and anacrontab; returns, per run-parts directory, the lines
    that run it."""
    head, _, _ = text.partition("\n### auditor-")
    head_rows = rows(head, "crontabs", {"anacron": 1, "spool": 1, "meta": 5}, lenient=True)
    facts = {r.tag: r.fields[0] for r in head_rows if r.tag != "meta"}
    meta = {r.fields[0]: FileMeta(*r.fields[1:]) for r in head_rows if r.tag == "meta"}
    files, unreadable = parse_dump(text)
    anacron = facts.get("anacron") == "yes"
    if facts.get("spool") == "unreadable":
        found.unreadable.append("cannot list the user crontabs in /var/spool/cron/crontabs (needs root)")
    found.unreadable += [f"cannot read {path}" for path in unreadable]
    run_parts: dict[str, list[Runner]] = {}
    for path, content in sorted(files.items()):
        name = path.rsplit("/", 1)[-1]
        if name.startswith("."):
            continue  # cron skips hidden files
        counted = re.findall(r"^# auditor: (\d+) job line\(s\), (\d+) shown$", content, re.M)
        if counted:
            found.notes.append(f"{path}: {counted[-1][0]} job line(s), {counted[-1][1]} about "
                               "backups, run-parts, anacron or a script that was followed")
        if path == "/etc/anacrontab":
            if not anacron:
                found.notes.append("/etc/anacrontab is there but anacron is not installed")
                continue
            jobs, problems = schedules.parse_anacrontab(numbered(content), path)
            daemon = "" if (sched.cron_running or sched.systemd_running) else \
                "anacron is started by cron or systemd, and neither is running"
        else:
            system = path == "/etc/crontab" or path.startswith("/etc/cron.d/")
            user = None if system else name
            jobs, problems = schedules.parse_crontab(numbered(content), path, user)
            daemon = schedules.cron_file_blocker(path, meta) or sched.cron_blocker()
        found.notes += problems
        for job in jobs:
            handed_to_anacron = anacron and schedules.skipped_when_anacron_installed(job.command)
            if handed_to_anacron and path != "/etc/anacrontab":
                continue  # anacron runs those directories instead; /etc/anacrontab says when
            directories = schedules.run_parts_dirs(job.command)
            for directory in directories:
                run_parts.setdefault(directory, []).append(Runner(job.schedule, job.source, daemon))
            if not directories:
                credit_job(f"{job.source} (user {job.user})", [job.command], job.schedule, daemon, tools,
                           params, found)
    return run_parts


# The RHEL family's run-parts (a shell script in cronie's crontabs package) runs every executable
# file, dotted names too, but these leftovers.
SCRIPT_RUN_PARTS_SKIPS = ("~", ",", ".cfsaved", ".rpmsave", ".rpmorig", ".rpmnew", ".swp", ",v")


class RunPartsEntry(NamedTuple):
    kind: str  # file, dir, link, ...
    executable: str  # yes/no
    readable: str  # yes/no


def read_run_parts(text: str, tools: re.Pattern[str], params: Params,
                   runners: dict[str, list[Runner]], found: Discovered) -> None:
    entries: dict[str, RunPartsEntry] = {}
    lines: dict[str, list[str]] = {}
    script_run_parts = False
    for row in rows(text, "run_parts", {"entry": 4, "line": (2, None), "runparts": 1}, lenient=True):
        if row.tag == "runparts":
            script_run_parts = row.fields[0] == "script"
        elif row.tag == "entry":
            entries[row.fields[0]] = RunPartsEntry(*row.fields[1:])
        else:  # recorded before scripts were followed: the script's own tool lines
            lines.setdefault(row.fields[0], []).append(row.rest(1))
    for path, entry in sorted(entries.items()):
        directory, _, name = path.rpartition("/")
        if is_housekeeping(name):
            continue
        if entry.readable != "yes":
            found.unreadable.append(f"cannot read {path}")
            continue
        credit = _in_script(path, tools, params, found.scripts, "")
        own = lines.get(path, [])
        tool = credit.tool if credit else next(
            (t for line in own if (t := backup_tool(line, tools, params["paths"], path))), None)
        if credit and not credit.tool:  # a script it names could not be read
            if not says_backup(path, params["paths"]):
                found.unreadable.append(f"cannot read what {path} runs: {credit.unread}")
                continue
            tool = f"script {path}"
        if not tool:
            known = found.scripts.get(path)
            said = lines.get(path, []) + ([line for _, line in known.lines] if known else [])
            if said:
                found.unrecognised.append(f"{path}: {said[0].strip()[:120]}")
            continue
        ways = sorted(runners.get(directory, []), key=lambda w: (bool(w.blocked), w.schedule.max_gap_hours()))
        schedule = ways[0].schedule if ways else None
        if script_run_parts and name.endswith(SCRIPT_RUN_PARTS_SKIPS):
            blocked = f"run-parts never runs {name}: RHEL's run-parts skips editor and rpm leftovers"
        elif not script_run_parts and not schedules.run_parts_runs(name):
            blocked = (f"run-parts never runs {name}: names may hold only letters, digits, '_' and '-' "
                       "(no dots)")
        elif entry.kind != "file" or entry.executable != "yes":
            blocked = f"run-parts skips {name}: not an executable file"
        elif not ways:
            blocked = f"no crontab or anacrontab line runs {directory}"
        else:
            blocked = ways[0].blocked
        where = path + (f" (run by {ways[0].where})" if ways else "")
        found.jobs.append(Job(where, tool, schedule, blocked, found=credit.found if credit else "",
                              unread=credit.unread if credit else ""))


def read_timers(text: str, tools: re.Pattern[str], params: Params, sched: Scheduler,
                found: Discovered) -> None:
    units: dict[str, list[str]] = {}
    timers: set[str] = set()
    masked: set[str] = set()
    wanted: set[str] = set()
    listed_lines: list[str] = []
    arity: dict[str, Arity] = {"unit": (2, None), "timer": 1, "masked": 1, "wants": 1, "list": (0, None)}
    for row in rows(text, "timers", arity, lenient=True):
        if row.tag == "unit":
            units.setdefault(row.fields[0], []).append(row.rest(1))
        elif row.tag in ("timer", "masked"):
            name = row.fields[0].rsplit("/", 1)[-1]
            if name not in timers and name not in masked:  # the first directory wins
                (masked if row.tag == "masked" else timers).add(name)
        elif row.tag == "wants":
            wanted.add(row.fields[0].rsplit("/", 1)[-1])
        else:
            listed_lines.append(row.rest(0))
    listed = schedules.parse_list_timers("\n".join(listed_lines))
    # A template (name@.timer) runs only as instances: enabled (name@x.timer links) or listed.
    instances = {n for n in wanted | set(listed) if unit_template(n) != n and unit_template(n) in timers}
    for name in sorted((timers - {t for t in timers if t.endswith("@.timer")}) | instances):
        timer_values = schedules.unit_values(unit_texts(units, name))
        service = (timer_values.get("Unit") or [name[: -len(".timer")] + ".service"])[-1]
        if is_housekeeping(name) or is_housekeeping(service):
            continue
        exec_values = schedules.unit_values(unit_texts(units, service))
        commands = [c for key in ("ExecStartPre", "ExecStart", "ExecStartPost")
                    for c in exec_values.get(key, [])]
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
        credit_job(f"{name} → {service}", commands, schedule, blocked, tools, params, found)
    for name in sorted(masked):
        found.notes.append(f"{name} is masked")


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
    """The host's clock and, per configured path, its newest file (UnexpectedLine if garbled)."""
    now: float | None = None
    found: list[Artefacts] = []
    for row in rows(text, "artefacts", {"now": 1, "path": (2, None)}):
        f = row.fields
        if row.tag == "now" and f[0].isdigit():
            now = float(f[0])
        elif row.tag == "path" and len(f) == 2 and f[1] == "missing":
            found.append(Artefacts(f[0], "missing"))
        elif row.tag == "path" and len(f) >= 8:
            newest = float(f[3]) if re.fullmatch(r"\d+", f[3]) else None
            found.append(Artefacts(f[0], f[1], int(f[2]), newest, row.rest(7), int(f[5]), int(f[6])))
        else:
            raise unexpected("artefacts", "\t".join((row.tag, *f)))
    return now, found
