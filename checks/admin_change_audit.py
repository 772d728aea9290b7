"""Changes to users, groups and privileges are recorded by auditd (notification: manual).

Reads: the running processes (from /proc, or `ps` without it: is auditd there; the list of
known daemons, argv[0] only, that auth_logging and monitoring share), the kernel's audit status and
loaded rules (`auditctl -s` and `auditctl -l`, as root) and the rule files auditd loads at
start (/etc/audit/rules.d/*.rules in name order, as augenrules joins them, or else
/etc/audit/audit.rules), plus auditd.conf and the audisp plugins (which forward events).
Each path in `watched_paths` (default /etc/passwd, /etc/group, /etc/shadow, /etc/gshadow,
/etc/sudoers, /etc/sudoers.d) must be covered by a rule that records writes and attribute
changes (`-p wa`, or `perms`): a `-w` watch or `-a always,exit -F path=` with
`-F perm=wa` on the path itself, or a recursive watch (`-w` or `-F dir=`) on a directory
above it, and no `never` rule on it before. `-F path=/etc` watches only the directory's
own inode, not the files in it. `auditctl -l` lists path= and dir= watches alike as `-w`,
so whether a loaded watch on a directory above a path is recursive is taken from the rule
files; when no rule file shows it, the path counts as not watched. The loaded rules are
what counts; when auditctl cannot list them (not installed, or refused inside a PID
namespace or container) the rule files are judged instead and the details say that the
loaded rules could not be confirmed.

Passes when: every path is watched and the inventory's `notification_evidence` says where
the attachment proving notification is (the summary quotes it; the check cannot verify
it).

Fails when: auditd is not running (no process, or the kernel has no audit daemon
registered), the kernel's auditing is disabled (`enabled 0`, or the rule files say
`-e 0`), or a path has no such watch — the summary names the paths and what is missing.

Error/Manual: `error` when the process list cannot be read, or when neither the loaded
rules nor the rule files could be read (no root). `manual` when every path is watched —
the host records the changes, but the promise is that they are *notified*, which no host
can show: attach the alerting rule that forwards these audit events (by key) to people,
and one sample notification.

Secrets: none: audit rules, auditctl's status, auditd.conf and the plugin settings hold
no credentials; of the processes only whether auditd runs is used.

Blind spots: `-F arch=` restrictions (a rule only for b64 misses 32-bit syscalls) and
`never` rules filtering on fields other than the path are not weighed; changes made with
tools that bypass these files (LDAP, SSSD, configuration management) are not seen.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import audit_rules
from auditor.parsers.files import dump_files_script, parse_dump
from auditor.parsers.processes import daemons_ps_script, parse_ps
from auditor.probes import effective_uid, shell

RULES_DIR = "/etc/audit/rules.d"
AUDIT_RULES = "/etc/audit/audit.rules"
PLUGINS_DIR = "/etc/audit/plugins.d"

# auditctl's answers between markers; its exit code and first error line are kept, since
# "Operation not permitted" means something different for root and for anyone else.
KERNEL_STATE = effective_uid("uid") + r"""
printf '#uid %s\n' "$uid"
if ! command -v auditctl >/dev/null 2>&1; then echo '#auditctl absent'; exit 0; fi
echo '#status'; auditctl -s 2>&1; echo "#status-rc $?"
echo '#rules'; auditctl -l 2>&1; echo "#rules-rc $?"
exit 0
"""

CHECK = Check(
    id="admin_change_audit",
    title="Changes to accounts, groups and sudo rights are audited and notified",
    claims=("admin-changes-notified",),
    controls=("ISO27001:2022 A.8.15", "ISO27001:2022 A.8.2"),
    params=(
        Param("watched_paths", list,
              ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d"],
              "files and directories whose changes must be audited"),
        Param("perms", str, "wa", "access kinds each watch must record (w write, a attribute change)"),
        Param("notification_evidence", str, "",
              "where the attached proof of notification is (the alerting rule and a sample "
              "notification, e.g. a ticket or evidence-pack path); when set, watched paths pass"),
    ),
    probes=(
        # one process list for this check, auth_logging and monitoring (the same script, run once)
        shell("processes", daemons_ps_script(("auditd",))),
        shell("kernel", KERNEL_STATE, root=True),
        shell("files", dump_files_script(RULES_DIR, AUDIT_RULES, "/etc/audit/auditd.conf", PLUGINS_DIR),
              root=True),
    ),
)


class KernelState(NamedTuple):
    """The kernel probe: its markers ('#name value') and the lines of its status and rules sections."""

    marks: dict[str, str]
    sections: dict[str, list[str]]


def read_kernel(text: str) -> KernelState:
    marks: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("#"):
            name, _, value = line[1:].partition(" ")
            marks[name] = value
            if name in ("status", "rules"):
                current = name
                sections[current] = []
            continue
        if current:
            sections[current].append(line)
    return KernelState(marks, sections)


def _status(lines: list[str]) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in lines if " " in line)


def _version_key(path: str) -> list[tuple[int, str]]:
    # `ls -1v`, as augenrules orders rules.d: runs of digits compare as numbers.
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", path) if part]


class RuleFiles(NamedTuple):
    rules: audit_rules.Rules
    origin: str  # which files, for the report; "" when there is none


def _rules_from_files(files: dict[str, str]) -> RuleFiles:
    """The rules auditd loads at start: rules.d joined as augenrules joins them (version
    order; -D hoisted to the top, so it deletes nothing of theirs; the last -e wins), or
    audit.rules when rules.d holds no .rules file."""
    members = sorted((p for p in files if p.startswith(RULES_DIR + "/") and p.endswith(".rules")),
                     key=_version_key)
    if members:
        joined = audit_rules.Rules()
        for path in members:
            kept = "\n".join("" if line.split()[:1] == ["-D"] else line for line in files[path].splitlines())
            part = audit_rules.parse_rules(kept, path)
            joined.rules += part.rules
            joined.enabled = part.enabled if part.enabled is not None else joined.enabled
            joined.problems += part.problems
        return RuleFiles(joined, f"{RULES_DIR}/*.rules ({len(members)} file(s))")
    if AUDIT_RULES in files:
        return RuleFiles(audit_rules.parse_rules(files[AUDIT_RULES], AUDIT_RULES), AUDIT_RULES)
    return RuleFiles(audit_rules.Rules(), "")


def _active_plugins(files: dict[str, str]) -> list[str]:
    active = []
    for path, text in sorted(files.items()):
        if path.startswith(PLUGINS_DIR + "/"):
            settings = dict(line.replace(" ", "").split("=", 1) for line in text.splitlines()
                            if "=" in line and not line.lstrip().startswith("#"))
            if settings.get("active", "").lower() == "yes":
                active.append(path.rsplit("/", 1)[-1].removesuffix(".conf"))
    return active


def judge_kernel(process_runs: bool, kernel: KernelState, findings: Findings) -> bool:
    """Adds what auditctl -s says; returns whether auditd runs (a process, and the kernel's daemon)."""
    status = _status(kernel.sections.get("status", [])) if kernel.marks.get("status-rc") == "0" else {}
    running = process_runs and status.get("pid") != "0"  # pid 0: no audit daemon registered
    if not running:
        findings.fail("auditd is not running")
    if "absent" in kernel.marks.get("auditctl", ""):
        findings.note("auditctl is not installed: the loaded rules cannot be listed")
    if status:
        findings.note(f"kernel: enabled {status.get('enabled', '?')}, audit daemon pid "
                      f"{status.get('pid', '?')}, lost {status.get('lost', '?')}")
        if status.get("enabled") == "0":
            findings.fail("auditing is disabled in the kernel (auditctl -s: enabled 0)")
        elif status.get("enabled") == "2":
            findings.note("the audit rules are immutable until reboot (enabled 2)")
    elif kernel.sections.get("status"):
        first = next((ln for ln in kernel.sections["status"] if ln.strip()), "")
        findings.note(f"auditctl -s failed: {first.strip()}")
    return running


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["processes", "kernel", "files"]
    try:
        running = any("auditd" in p.names() for p in parse_ps(out.require("processes").stdout))
    except ValueError as exc:
        return result(Status.ERROR, f"could not read the process list: {exc}", evidence=evidence)
    kernel = read_kernel(out.require("kernel").stdout)
    marks, sections = kernel
    files, unreadable = parse_dump(out.require("files").stdout)
    findings = Findings(limit=4)  # every problem is named: at most four
    running = judge_kernel(running, kernel, findings)

    loaded = marks.get("rules-rc") == "0"
    if loaded:
        rules = audit_rules.parse_rules("\n".join(sections.get("rules", [])), listing=True)
        # auditctl -l lists -F path= watches as -w: the rule files say which are recursive.
        rules.rules = audit_rules.resolve_listing(rules.rules, _rules_from_files(files).rules.rules)
        origin = "the loaded rules (auditctl -l)"
    else:
        why = next((ln.strip() for ln in sections.get("rules", []) if ln.strip()), "auditctl absent")
        if marks.get("uid") != "0" and "rules" in sections:
            return result(Status.ERROR, f"auditctl -l needs root: {why} (become: sudo)", findings.details(),
                          evidence)
        rules, origin = _rules_from_files(files)
        if not origin and unreadable:
            return result(Status.ERROR, f"cannot read the audit rule files {', '.join(unreadable)} and "
                          f"auditctl -l failed ({why}): the probes need root (become: sudo)",
                          findings.details(), evidence)
        origin = origin or "no rule file"
        findings.note(f"the loaded rules could not be confirmed (auditctl -l: {why}); judged from {origin}")
        if rules.enabled == 0:
            findings.fail(f"{origin} disable auditing (-e 0)")
        elif rules.enabled == 2:
            findings.note(f"{origin} make the rules immutable (-e 2)")
    for problem in rules.problems:
        findings.note(problem)

    needed: str = params["perms"]
    watched: dict[str, str] = {}
    unwatched: list[str] = []
    for path in params["watched_paths"]:
        rule, why_not = audit_rules.covering(rules.rules, path, needed)
        if rule is None:
            unwatched.append(f"{path} ({why_not})")
        else:
            watched[path] = rule.key
            findings.note(f"{path}: -p {rule.perms}" + (f" -k {rule.key}" if rule.key else "")
                          + f" ({rule.source})")
    if unwatched:
        findings.fail(f"{len(unwatched)} path(s) not audited for -p {needed} in {origin}: "
                      + ", ".join(unwatched))
    plugins = _active_plugins(files)
    findings.note("active audisp plugins: " + (", ".join(plugins) if plugins else "none"))

    keys = ", ".join(sorted({k for k in watched.values() if k})) or "(no key)"
    recorded = f"auditd records changes to all {len(watched)} watched path(s) (keys: {keys})"
    attested: str = params["notification_evidence"].strip()
    if not attested and not findings.failures:  # the host shows the recording, never the notification
        findings.manual(f"{recorded}; attach the alerting rule that forwards these audit events to people, "
                        "and one sample notification")
    return findings.result(evidence=evidence, ok_summary=f"{recorded}; notification evidence: {attested}",
                           auditd_running=running, rules_loaded_confirmed=loaded, watched=sorted(watched),
                           unwatched=sorted(p.split(" (", 1)[0] for p in unwatched),
                           keys=sorted({k for k in watched.values() if k}))
