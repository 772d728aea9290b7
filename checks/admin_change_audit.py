"""Changes to users, groups and privileges are recorded by auditd (notification: manual).

Inspects the running processes (`ps`: is auditd there), the kernel's audit status and
loaded rules (`auditctl -s` and `auditctl -l`, as root) and the rule files auditd loads at
start (/etc/audit/rules.d/*.rules in name order, as augenrules joins them, or else
/etc/audit/audit.rules), plus auditd.conf and the audisp plugins (which forward events).

Each path in `watched_paths` (default /etc/passwd, /etc/group, /etc/shadow, /etc/gshadow,
/etc/sudoers, /etc/sudoers.d) must be covered by a rule that records writes and attribute
changes (`-p wa`): a `-w` watch or `-a always,exit -F path=` with `-F perm=wa` on the
path itself, or a recursive watch (`-w` or `-F dir=`) on a directory above it, and no
`never` rule on it before. `-F path=/etc` watches only the directory's own inode, not the
files in it. `auditctl -l` lists path= and dir= watches alike as `-w`, so whether a loaded
watch on a directory above a path is recursive is taken from the rule files; when no rule
file shows it, the path counts as not watched. The loaded rules
are what counts; when auditctl cannot list them (not installed, or refused inside a PID
namespace or container) the rule files are judged instead and the details say that the
loaded rules could not be confirmed.

Fail: auditd is not running (no process, or the kernel has no audit daemon registered),
the kernel's auditing is disabled (`enabled 0`), or a path has no such watch — the summary
names the paths and what is missing. Error: neither the loaded rules nor the rule files
could be read (no root). Manual: every path is watched — the host records the changes, but
the promise is that they are *notified*, which no host can show: attach the alerting rule
that forwards these audit events (by key) to people, and one sample notification. Pass:
every path is watched and the inventory's `notification_evidence` says where that
attachment is (the summary quotes it; the check cannot verify it).

Blind spots: `-F arch=` restrictions (a rule only for b64 misses 32-bit syscalls) and
`never` rules filtering on fields other than the path are not weighed; changes made with
tools that bypass these files (LDAP, SSSD, configuration management) are not seen.
"""

from __future__ import annotations

import re

from auditor.check import Check, Outputs, Param, Params, Result, Status, result
from auditor.parsers import audit_rules
from auditor.parsers.files import dump_files_script, parse_dump
from auditor.parsers.processes import parse_ps, ps_script
from auditor.probes import shell

RULES_DIR = "/etc/audit/rules.d"
AUDIT_RULES = "/etc/audit/audit.rules"
PLUGINS_DIR = "/etc/audit/plugins.d"

# auditctl's answers between markers; its exit code and first error line are kept, since
# "Operation not permitted" means something different for root and for anyone else.
KERNEL_STATE = r"""
printf '#uid %s\n' "$(id -u)"
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
        shell("processes", ps_script(("auditd",))),
        shell("kernel", KERNEL_STATE, root=True),
        shell("files", dump_files_script(RULES_DIR, AUDIT_RULES, "/etc/audit/auditd.conf", PLUGINS_DIR),
              root=True),
    ),
)


def _sections(text: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(markers '#name value', lines by section) of the kernel probe."""
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
    return marks, sections


def _status(lines: list[str]) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in lines if " " in line)


def _version_key(path: str) -> list[tuple[int, str]]:
    # `ls -1v`, as augenrules orders rules.d: runs of digits compare as numbers.
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", path) if part]


def _rules_from_files(files: dict[str, str]) -> tuple[audit_rules.Rules, str]:
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
        return joined, f"{RULES_DIR}/*.rules ({len(members)} file(s))"
    if AUDIT_RULES in files:
        return audit_rules.parse_rules(files[AUDIT_RULES], AUDIT_RULES), AUDIT_RULES
    return audit_rules.Rules(), ""


def _active_plugins(files: dict[str, str]) -> list[str]:
    active = []
    for path, text in sorted(files.items()):
        if path.startswith(PLUGINS_DIR + "/"):
            settings = dict(line.replace(" ", "").split("=", 1) for line in text.splitlines()
                            if "=" in line and not line.lstrip().startswith("#"))
            if settings.get("active", "").lower() == "yes":
                active.append(path.rsplit("/", 1)[-1].removesuffix(".conf"))
    return active


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["processes", "kernel", "files"]
    details: list[str] = []
    problems: list[str] = []
    try:
        running = any("auditd" in p.names() for p in parse_ps(out.require("processes").stdout))
    except ValueError as exc:
        return result(Status.ERROR, f"could not read the process list: {exc}", evidence=evidence)
    marks, sections = _sections(out.require("kernel").stdout)
    files, unreadable = parse_dump(out.require("files").stdout)
    status = _status(sections.get("status", [])) if marks.get("status-rc") == "0" else {}
    root = marks.get("uid") == "0"

    if "absent" in marks.get("auditctl", ""):
        details.append("auditctl is not installed: the loaded rules cannot be listed")
    if status:
        details.append(f"kernel: enabled {status.get('enabled', '?')}, audit daemon pid "
                       f"{status.get('pid', '?')}, lost {status.get('lost', '?')}")
        if status.get("pid") == "0":
            running = False
        if status.get("enabled") == "0":
            problems.append("auditing is disabled in the kernel (auditctl -s: enabled 0)")
        elif status.get("enabled") == "2":
            details.append("the audit rules are immutable until reboot (enabled 2)")
    elif sections.get("status"):
        first = next((ln for ln in sections["status"] if ln.strip()), "")
        details.append(f"auditctl -s failed: {first.strip()}")
    if not running:
        problems.insert(0, "auditd is not running")

    loaded = marks.get("rules-rc") == "0"
    if loaded:
        rules = audit_rules.parse_rules("\n".join(sections.get("rules", [])), listing=True)
        # auditctl -l lists -F path= watches as -w: the rule files say which are recursive.
        rules.rules = audit_rules.resolve_listing(rules.rules, _rules_from_files(files)[0].rules)
        origin = "the loaded rules (auditctl -l)"
    else:
        why = next((ln.strip() for ln in sections.get("rules", []) if ln.strip()), "auditctl absent")
        if not root and "rules" in sections:
            return result(Status.ERROR, f"auditctl -l needs root: {why} (become: sudo)", details, evidence)
        rules, origin = _rules_from_files(files)
        if not origin:
            if unreadable:
                return result(Status.ERROR, f"cannot read the audit rule files {', '.join(unreadable)} and "
                              f"auditctl -l failed ({why}): the probes need root (become: sudo)",
                              details, evidence)
            origin = "no rule file"
        details.append(f"the loaded rules could not be confirmed (auditctl -l: {why}); judged "
                       f"from {origin}")
        if rules.enabled == 0:
            problems.append(f"{origin} disable auditing (-e 0)")
        elif rules.enabled == 2:
            details.append(f"{origin} make the rules immutable (-e 2)")
    details += rules.problems

    needed: str = params["perms"]
    watched: dict[str, str] = {}
    unwatched: list[str] = []
    for path in params["watched_paths"]:
        rule, why_not = audit_rules.covering(rules.rules, path, needed)
        if rule is None:
            unwatched.append(f"{path} ({why_not})")
        else:
            watched[path] = rule.key
            details.append(f"{path}: -p {rule.perms}" + (f" -k {rule.key}" if rule.key else "")
                           + f" ({rule.source})")
    if unwatched:
        problems.append(f"{len(unwatched)} path(s) not audited for -p {needed} in {origin}: "
                        + ", ".join(unwatched))
    plugins = _active_plugins(files)
    details.append("active audisp plugins: " + (", ".join(plugins) if plugins else "none"))
    values = {"auditd_running": running, "rules_loaded_confirmed": loaded,
              "watched": sorted(watched), "unwatched": sorted(p.split(" (", 1)[0] for p in unwatched),
              "keys": sorted({k for k in watched.values() if k})}
    if problems:
        return result(Status.FAIL, "; ".join(problems), details, evidence, **values)
    keys = ", ".join(sorted({k for k in watched.values() if k})) or "(no key)"
    attested: str = params["notification_evidence"].strip()
    if attested:
        return result(Status.PASS, f"auditd records changes to all {len(watched)} watched path(s) "
                      f"(keys: {keys}); notification evidence: {attested}", details, evidence, **values)
    return result(Status.MANUAL, f"auditd records changes to all {len(watched)} watched path(s) "
                  f"(keys: {keys}); attach the alerting rule that forwards these audit events to people, "
                  "and one sample notification", details, evidence, **values)
