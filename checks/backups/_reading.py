"""Reading the backups probes: the jobs that run a backup tool, and the backup files' ages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from auditor.check import Params
from auditor.parsers import schedules
from auditor.parsers.conf import unit_template, unit_texts
from auditor.parsers.files import parse_dump
from auditor.parsers.rows import Arity, rows, unexpected
from auditor.parsers.schedules import FileMeta, Schedule, ScheduleError, Scheduler

from ._probes import COPY_TOOLS


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
class Discovered:
    """What the schedule readers found, before judging."""

    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts worth showing that decide nothing
    unrecognised: list[str] = field(default_factory=list)  # says backup but runs no known tool
    unreadable: list[str] = field(default_factory=list)  # what could not be read (may hide a job)


class Runner(NamedTuple):
    """A crontab or anacrontab line that runs a run-parts directory."""

    schedule: Schedule
    where: str
    blocked: str


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
                               "backups, run-parts or anacron")
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
            for directory in schedules.run_parts_dirs(job.command):
                run_parts.setdefault(directory, []).append(Runner(job.schedule, job.source, daemon))
            tool = backup_tool(job.command, tools, params["paths"])
            if tool:
                found.jobs.append(Job(f"{job.source} (user {job.user})", tool, job.schedule, daemon))
            elif "backup" in job.command.lower() and not schedules.run_parts_dirs(job.command):
                found.unrecognised.append(f"{job.source}: {job.command[:120]}")
    return run_parts


class RunPartsEntry(NamedTuple):
    kind: str  # file, dir, link, ...
    executable: str  # yes/no
    readable: str  # yes/no


def read_run_parts(text: str, tools: re.Pattern[str], params: Params,
                   runners: dict[str, list[Runner]], found: Discovered) -> None:
    entries: dict[str, RunPartsEntry] = {}
    lines: dict[str, list[str]] = {}
    for row in rows(text, "run_parts", {"entry": 4, "line": (2, None)}, lenient=True):
        if row.tag == "entry":
            entries[row.fields[0]] = RunPartsEntry(*row.fields[1:])
        else:
            lines.setdefault(row.fields[0], []).append(row.rest(1))
    for path, entry in sorted(entries.items()):
        directory, _, name = path.rpartition("/")
        if entry.readable != "yes":
            found.unreadable.append(f"cannot read {path}")
            continue
        tool = next((t for line in lines.get(path, []) if (t := backup_tool(line, tools, params["paths"]))),
                    None)
        if tool is None:
            if lines.get(path):
                found.unrecognised.append(f"{path}: {lines[path][0].strip()[:120]}")
            continue
        ways = sorted(runners.get(directory, []), key=lambda w: (bool(w.blocked), w.schedule.max_gap_hours()))
        schedule = ways[0].schedule if ways else None
        if not schedules.run_parts_runs(name):
            blocked = (f"run-parts never runs {name}: names may hold only letters, digits, '_' and '-' "
                       "(no dots)")
        elif entry.kind != "file" or entry.executable != "yes":
            blocked = f"run-parts skips {name}: not an executable file"
        elif not ways:
            blocked = f"no crontab or anacrontab line runs {directory}"
        else:
            blocked = ways[0].blocked
        where = path + (f" (run by {ways[0].where})" if ways else "")
        found.jobs.append(Job(where, tool, schedule, blocked))


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
        exec_values = schedules.unit_values(unit_texts(units, service))
        commands = [c for key in ("ExecStartPre", "ExecStart", "ExecStartPost")
                    for c in exec_values.get(key, [])]
        tool = next((t for c in commands if (t := backup_tool(c, tools, params["paths"]))), None)
        if tool is None:
            if commands:
                found.unrecognised.append(f"{service}: {commands[0][:120]}")
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
        found.jobs.append(Job(f"{name} → {service}", tool, schedule, blocked))
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
