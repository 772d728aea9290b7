"""A monitoring agent runs around the clock, and disk health is watched on physical disks.

Reads: the real process list (from /proc, or `ps` without it; reduced on the host to the
processes whose command name or argv[0] is a known agent or another daemon a check looks
for, with their arguments cut to argv[0]; one list shared with auth_logging and
admin_change_audit), every process's executable (/proc/<pid>/exe, root), the agents' systemd
unit files (`systemctl list-unit-files`, which works whether or not systemd is PID 1) and SysV start links
(/etc/rc[235].d/S*), and the block devices (lsblk -J, sysfs). Known agents: Prometheus
node_exporter, Zabbix agent (zabbix_agentd, zabbix_agent2), Telegraf, Datadog agent (by
its /opt/datadog-agent executable), Netdata, Nagios NRPE, collectd, Wazuh/OSSEC agent,
Elastic Agent, Metricbeat; `agents` adds program names (their unit is taken to be
`<name>.service`). A disk is physical unless it is virtio (vd*, or on the virtio bus), Xen
(xvd*), a loop/zram/nbd/md/dm/ram device, or its vendor/model names a hypervisor or a
cloud volume (QEMU, VMware, VBOX, Msft Virtual Disk, Amazon EBS, Google PersistentDisk,
...).

Passes when: at least one agent process runs and it starts at boot: its systemd unit is
enabled, or (with no systemd unit) a SysV S-link starts it; when neither can be seen the
summary says so. With a physical disk, smartd must also run (and start at boot); on
virtual disks the report notes that storage health is the provider's. An enabled agent
that is not running is noted.

Fails when: no agent runs ("no monitoring agent running (looked for ...)"), or every
running agent's unit is disabled or masked (it would not come back after a reboot), or a
physical disk is present and smartd does not run, or does not start at boot.

Error/Manual: `error` when the process list cannot be read, when a probe line is not
understood, or when the block devices cannot be read to tell whether smartd is needed.
`manual` is not used: that the agent actually reports to a server, and that someone is
alerted 24/7, needs evidence from the monitoring system (attach alert-rule and on-call
exports to the audit).

Secrets: command lines never leave the host: the process list is reduced on the host to
the known agents and daemons, with their arguments cut to argv[0] (command lines may carry
passwords);
otherwise only executable paths, unit states, start-link names and disk descriptions.

Blind spots: an agent running inside a container or on another host (agentless SNMP,
blackbox probes) is not seen; a renamed binary is found only through `agents`; RAID
controllers that hide their disks behind a virtual volume need the vendor's tool rather
than smartd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import block_devices as bd
from auditor.parsers import processes as ps
from auditor.parsers.conf import glob_pattern
from auditor.parsers.rows import Arity, rows
from auditor.probes import quote, shell


@dataclass(frozen=True)
class Agent:
    name: str
    programs: tuple[str, ...]  # executable / argv[0] base names, or the kernel's comm
    units: tuple[str, ...]  # systemd services and SysV init scripts that start it
    paths: tuple[str, ...] = ()  # executable globs, for agents whose binary has a generic name


AGENTS = (
    Agent("node_exporter", ("node_exporter", "prometheus-node-exporter"),
          ("prometheus-node-exporter", "node_exporter", "node-exporter")),
    Agent("zabbix agent", ("zabbix_agentd", "zabbix_agent2"), ("zabbix-agent", "zabbix-agent2")),
    Agent("telegraf", ("telegraf",), ("telegraf",)),
    Agent("datadog agent", ("datadog-agent",), ("datadog-agent",),
          ("/opt/datadog-agent/bin/agent/agent", "/opt/datadog-agent/embedded/bin/*")),
    Agent("netdata", ("netdata",), ("netdata",)),
    Agent("nagios nrpe", ("nrpe",), ("nagios-nrpe-server", "nrpe")),
    Agent("collectd", ("collectd",), ("collectd",)),
    Agent("wazuh agent", ("wazuh-agentd", "ossec-agentd"), ("wazuh-agent", "ossec")),
    Agent("elastic agent", ("elastic-agent",), ("elastic-agent",)),
    Agent("metricbeat", ("metricbeat",), ("metricbeat",)),
)
SMARTD = Agent("smartd", ("smartd",), ("smartmontools", "smartd"))
ENABLED = ("enabled", "enabled-runtime")
DISABLED = ("disabled", "masked", "masked-runtime")


def _agents(params: Params) -> list[Agent]:
    extra = [Agent(str(n), (str(n),), (str(n),)) for n in params["agents"]]
    return [*AGENTS, *extra, SMARTD]


def _program_names(params: Params) -> list[str]:
    names = {p for agent in _agents(params) for p in agent.programs}
    names |= {path.rsplit("/", 1)[-1] for agent in _agents(params) for path in agent.paths}
    return sorted(n for n in names if "*" not in n)


def _units_script(params: Params) -> str:
    units = sorted({u for agent in _agents(params) for u in agent.units})
    services = " ".join(quote(f"{u}.service") for u in units)
    return "\n".join([
        "if command -v systemctl >/dev/null 2>&1; then",
        "  if [ -d /run/systemd/system ]; then r=yes; else r=no; fi; printf 'systemd_running\\t%s\\n' \"$r\"",
        # The unit and its state, the first two words, by the shell's read (no awk).
        f"  systemctl list-unit-files --no-legend --no-pager -- {services} 2>/dev/null "
        "| while read -r u s _; do [ -n \"$u\" ] && printf 'unit\\t%s\\t%s\\n' \"$u\" \"$s\"; done",
        "else printf 'systemctl\\tabsent\\n'; fi",  # busybox echo does not expand \t
        "for d in /etc/rc2.d /etc/rc3.d /etc/rc5.d; do for f in \"$d\"/S*; do",
        "  [ -e \"$f\" ] && printf 'rc\\t%s\\t%s\\n' \"${d##*/}\" \"${f##*/}\"",
        "done; done",
        "exit 0",
    ])


CHECK = Check(
    id="monitoring",
    trend_values=("agents_running",),
    title="A monitoring agent runs 24/7, and smartd watches physical disks",
    claims=("monitoring-24-7", "storage-monitored"),
    controls=("ISO27001:2022 A.8.16",),
    params=(
        Param("agents", list, [], "more program names that count as a monitoring agent (no spaces); "
              "each one's unit is taken to be <name>.service", path=True),
    ),
    probes=(
        # one process list for this check, auth_logging and admin_change_audit while `agents` adds no name
        shell("processes", lambda params: ps.daemons_ps_script(_program_names(params))),
        shell("executables", ps.EXE_SCRIPT, root=True),  # others' /proc/<pid>/exe need root
        shell("units", _units_script),
        shell("lsblk", bd.LSBLK_SCRIPT),
        shell("sysfs", bd.SYSFS_SCRIPT),
    ),
)


class _ProcessIndex:
    """The live processes by each name they go by and by comm, so that each agent looks up its
    programs instead of testing every process of every host (agents × processes)."""

    def __init__(self, processes: list[ps.Process]) -> None:
        self.processes = processes
        self.by_name: dict[str, list[int]] = {}
        self.by_comm: dict[str, list[int]] = {}
        for i, process in enumerate(processes):
            for name in process.names():
                self.by_name.setdefault(name, []).append(i)
            self.by_comm.setdefault(process.comm, []).append(i)

    def of(self, agent: Agent) -> list[ps.Process]:
        """The agent's processes, in process-list order: one of its programs is among a process's
        names, or is its comm cut to the kernel's 15 characters, or its exe/argv[0] matches the
        agent's path globs."""
        hits = {i for program in agent.programs for i in self.by_name.get(program, ())}
        hits.update(i for program in agent.programs for i in self.by_comm.get(program[:15], ()))
        if agent.paths:
            pattern = glob_pattern(agent.paths)
            hits.update(i for i, p in enumerate(self.processes)
                        if any(pattern.match(path) for path in (p.exe, p.argv0) if path))
        return [self.processes[i] for i in sorted(hits)]


@dataclass(frozen=True)
class Boot:
    starts: bool | None  # None: cannot be seen
    how: str


def _boot(agent: Agent, units: Units) -> Boot:
    states = {u: units.states[f"{u}.service"] for u in agent.units if f"{u}.service" in units.states}
    states = {u: s for u, s in states.items() if s != "alias"}
    enabled = [u for u, s in states.items() if s in ENABLED]
    if enabled:
        return Boot(True, f"{enabled[0]}.service is enabled")
    disabled = [f"{u}.service is {s}" for u, s in states.items() if s in DISABLED]
    if disabled:
        return Boot(False, ", ".join(disabled))
    if states:
        unit, state = next(iter(states.items()))
        return Boot(None, f"{unit}.service is {state}: whether it starts at boot depends on other units")
    links = [link for u in agent.units for link in units.rc_links.get(u, [])]
    if links:
        return Boot(True, f"started at boot by {links[0]}")
    missing = "no systemd unit or init script for it found"
    return Boot(None, missing + ("" if units.systemctl else " (no systemctl)"))


class Running(NamedTuple):
    agent: Agent
    processes: list[ps.Process]
    boot: Boot


@dataclass(frozen=True)
class Units:
    """What the units probe printed: unit file states, SysV start links, whether systemctl exists."""

    states: dict[str, str]  # "<unit>.service" -> enabled, disabled, masked, static, alias, ...
    rc_links: dict[str, list[str]]  # init script -> its start links
    systemctl: bool


UNITS_ARITY: dict[str, Arity] = {"systemd_running": 1, "unit": 2, "rc": 2, "systemctl": 1}


def read_units(text: str) -> Units:
    states: dict[str, str] = {}
    rc_links: dict[str, list[str]] = {}
    systemctl = True
    for row in rows(text, "units", UNITS_ARITY):
        if row.tag == "unit":
            states[row.fields[0]] = row.fields[1]
        elif row.tag == "rc" and row.fields[1][:1] == "S":
            script = row.fields[1][1:].lstrip("0123456789")  # S01smartmontools -> smartmontools
            rc_links.setdefault(script, []).append(f"/etc/{row.fields[0]}/{row.fields[1]}")
        elif row.tag == "systemctl" and row.fields[0] == "absent":
            systemctl = False
    return Units(states, rc_links, systemctl)


def read_processes(out: Outputs) -> list[ps.Process]:
    """The listed processes with their executables, plus the processes only /proc showed."""
    listing = out.require("processes")
    try:
        listed = ps.parse_ps(listing.stdout)
    except ValueError as exc:
        said = next((ln.strip() for ln in listing.stderr.splitlines() if ln.strip()), "")
        raise ValueError(f"could not read the process list: {exc}" + (f" ({said})" if said else "")) from None
    exes = ps.parse_exe_links(out.require("executables").stdout)
    known = {p.pid for p in listed}
    return ps.with_exes(listed, exes) + [ps.Process(pid, exe=path) for pid, path in sorted(exes.items())
                                         if pid not in known]


def judge_disks(out: Outputs, smartd: Running | None, findings: Findings) -> tuple[int, str]:
    """Adds what the block devices say about smartd; returns the number of physical disks and
    the pass summary's disk half."""
    lsblk, sysfs = out["lsblk"], out.require("sysfs")
    graph, problems = bd.device_graph(lsblk.stdout if lsblk.ok else None, sysfs.stdout)
    reasons = [(d, bd.virtual_reason(d)) for d in graph.disks()]  # each disk's worked out once
    physical = [d for d, why in reasons if why is None]
    virtual = [(d, why) for d, why in reasons if why is not None]
    shown_virtual = [f"{d.kname}: {why}" for d, why in virtual if not d.kname.startswith(("loop", "ram"))]
    if physical:
        findings.note("physical disks: " + ", ".join(f"{d.kname} ({d.describe()})" for d in physical))
    elif graph.devices:
        findings.note("disks are virtual (" + (", ".join(shown_virtual) or "no disk") +
                      "): storage health is the provider's")
    for problem in problems:
        findings.note(f"note: {problem}")
    disks = ", ".join(d.kname for d in physical)
    if physical and smartd is None:
        findings.fail(f"physical disk(s) {disks} but smartd is not running: disk health is not monitored")
    elif physical and smartd and smartd.boot.starts is False:
        findings.fail(f"smartd runs but does not start at boot: {smartd.boot.how}")
    if not graph.devices:
        findings.unknown("could not read the block devices to tell whether smartd is needed: "
                         + "; ".join(problems))
    return len(physical), (f"smartd watches the physical disk(s) {disks}" if physical
                           else "disks are virtual: storage health is the provider's")


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["processes", "executables", "units", "lsblk", "sysfs"]
    try:
        processes = read_processes(out)
        units = read_units(out.require("units").stdout)
    except ValueError as exc:  # the process list, or an UnexpectedLine from the units probe
        return result(Status.ERROR, str(exc), evidence=evidence)

    findings = Findings()
    running: list[Running] = []
    live = _ProcessIndex([p for p in processes if not p.is_kernel_thread])
    for agent in _agents(params):
        found = live.of(agent)
        boot = _boot(agent, units)
        if found:
            running.append(Running(agent, found, boot))
            shown = ", ".join(f"pid {p.pid}" + (f" {p.exe or p.argv0}" if p.exe or p.argv0 else "")
                              + (f" as {p.user}" if p.user else "") for p in found[:3])
            findings.note(f"{agent.name} running: {shown}; at boot: {boot.how}")
        elif boot.starts:
            findings.note(f"{agent.name}: {boot.how}, but no process of it runs")
    monitors = [r for r in running if r.agent is not SMARTD]
    smartd = next((r for r in running if r.agent is SMARTD), None)

    if not monitors:
        looked_for = ", ".join(a.name for a in _agents(params) if a is not SMARTD)
        findings.fail(f"no monitoring agent running (looked for {looked_for})")
    elif all(r.boot.starts is False for r in monitors):
        findings.fail(f"{monitors[0].agent.name} runs (pid {monitors[0].processes[0].pid}) but does not "
                      f"start at boot: {monitors[0].boot.how}")
    physical, disks_text = judge_disks(out, smartd, findings)

    ok = ""
    if monitors:
        agent, found, boot = next((r for r in monitors if r.boot.starts), monitors[0])
        at_boot = "starts at boot" if boot.starts else "cannot tell whether it starts at boot"
        ok = f"{agent.name} is running (pid {found[0].pid}) and {at_boot} ({boot.how}); {disks_text}"
    return findings.result(evidence=evidence, ok_summary=ok, agents_running=len(monitors),
                           physical_disks=physical, smartd_running=smartd is not None,
                           agents=", ".join(r.agent.name for r in monitors))
