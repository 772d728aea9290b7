"""Waivers: approved, expiring exceptions for a check on some hosts (`waivers.yaml`).

    waivers:
      - check: backups
        hosts: [db-*, "group:legacy"]      # host-name globs and/or group:NAME
        justification: Replica rebuilt; the nightly dump resumes after the migration (CHG-1042)
        approver: Jane Doe (CISO)
        expires: 2025-09-30               # required; holds through that day (UTC)
        run: true                         # default; false = the check is not run on those hosts

A waiver turns a fail, error or manual result into `waived` and keeps what the check found
as `original_status`; a pass stays a pass ("waiver not needed"). An expired waiver waives
nothing and is flagged; one that matches no host x check of the run is warned about.
Expiry is judged against the run's start date (UTC), so a re-judged report keeps its verdicts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from auditor import yamlfile
from auditor.check import Check, Status
from auditor.errors import InputError
from auditor.inventory import Inventory
from auditor.model import CheckResult, HostReport, WaiverNote

DEFAULT_NAME = "waivers.yaml"
WAIVABLE = (Status.FAIL, Status.ERROR, Status.MANUAL)
_KEYS = ("check", "hosts", "justification", "approver", "expires", "run")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# Bridge: auditor/cli.py catches InventoryError, not yet errors.AuditorError. When it does, the base
# becomes InputError and a waivers-file mistake stops being an InventoryError (tests/unit/test_errors.py).
class WaiversError(InputError):
    """A mistake in a waivers file, with file, line and key."""


class Loader(yamlfile.Loader):
    error_type = WaiversError


@dataclass(frozen=True)
class Waiver:
    check_id: str
    hosts: tuple[str, ...]  # globs over host names, or "group:NAME"
    justification: str
    approver: str
    expires: dt.date
    run: bool
    source: str  # "waivers.yaml:12"

    def expired_on(self, day: dt.date) -> bool:
        return day > self.expires

    def matches(self, host: str, groups: Sequence[str]) -> bool:
        for pattern in self.hosts:
            if pattern.startswith("group:"):
                if pattern[len("group:"):] in groups:
                    return True
            elif fnmatch.fnmatchcase(host, pattern):
                return True
        return False

    def note(self, applied: bool = True) -> WaiverNote:
        return WaiverNote(self.check_id, self.justification, self.approver, self.expires.isoformat(),
                          self.source, applied, self.hosts)


@dataclass(frozen=True)
class WaiverFile:
    path: Path
    waivers: tuple[Waiver, ...]
    warnings: tuple[str, ...] = ()  # "file:line: key: ..." for mistakes that do not stop the run


MAX_TERM = dt.timedelta(days=366)  # an exception meant to last longer than a year deserves a second look


def default_path(inventory_path: Path) -> Path:
    return inventory_path.parent / DEFAULT_NAME


def load(path: Path, checks: Mapping[str, Check], inv: Inventory, today: dt.date | None = None) -> WaiverFile:
    """Read and validate a waivers file; every mistake names file, line and key (exit 2).

    A group this inventory lacks only warns: one waivers.yaml serves every inventory in its
    folder, and a group of another one is no mistake (like a host pattern that matches nothing).
    So does an expiry more than a year after `today` (default: today, UTC)."""
    reader = Loader(path)
    _, root = reader.read("waivers file not found")
    if root is None:
        return WaiverFile(path, ())
    sections = reader.mapping(root, "")
    for name, key_node, _ in sections:
        if name != "waivers":
            raise reader.error(key_node, name, "unknown top-level key; expected waivers")
    entries = next((value for name, _, value in sections if name == "waivers"), None)
    if entries is None or yamlfile.is_null(entries):
        return WaiverFile(path, ())
    if not isinstance(entries, yaml.SequenceNode):
        raise reader.error(entries, "waivers", "expected a list of waivers (lines starting with '- ')")
    warnings: list[str] = []
    loaded = tuple(_waiver(reader, node, f"waivers[{index}]", checks, inv, warnings)
                   for index, node in enumerate(entries.value))
    latest = (today or dt.datetime.now(dt.UTC).date()) + MAX_TERM
    warnings += [f"{w.source}: expires: {w.expires.isoformat()} is more than a year away; waivers are "
                 "meant to be reviewed at least yearly (set an earlier date and renew it)"
                 for w in loaded if w.expires > latest]
    return WaiverFile(path, loaded, tuple(warnings))


def _waiver(reader: Loader, node: yaml.Node, where: str, checks: Mapping[str, Check],
            inv: Inventory, warnings: list[str]) -> Waiver:
    fields = {name: (key_node, value) for name, key_node, value in reader.mapping(node, where)}
    for name, (key_node, _) in fields.items():
        if name not in _KEYS:
            raise reader.error(key_node, f"{where}.{name}",
                               f"unknown key; expected one of: {', '.join(_KEYS)}")
    for name in ("check", "hosts", "justification", "approver", "expires"):
        if name not in fields:
            why = "; waivers are never open-ended" if name == "expires" else ""
            raise reader.error(node, f"{where}.{name}", f"missing; every waiver needs one{why}")
    check_node, hosts_node = fields["check"][1], fields["hosts"][1]
    check_id = reader.scalar(check_node, f"{where}.check", (str,))
    if check_id not in checks:
        raise reader.error(check_node, f"{where}.check",
                           f"unknown check id {check_id!r} (checks: {', '.join(sorted(checks))})")
    hosts = reader.plain(hosts_node)
    if isinstance(hosts, str):
        hosts = [hosts]
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h.strip() for h in hosts):
        raise reader.error(hosts_node, f"{where}.hosts",
                           "expected a list of host-name patterns or group:NAME, e.g. [db-*, group:legacy]")
    for pattern in hosts:
        group = pattern[len("group:"):] if pattern.startswith("group:") else None
        if group is not None and group not in inv.groups:
            warnings.append(str(reader.error(
                hosts_node, f"{where}.hosts", f"no group named {group!r} in {inv.path} "
                f"(groups: {', '.join(inv.groups) or 'none'}); this pattern matches no host of it")))
    texts = {}
    for name in ("justification", "approver"):
        value = reader.scalar(fields[name][1], f"{where}.{name}", (str,))
        if not value.strip():
            raise reader.error(fields[name][1], f"{where}.{name}", "is empty; say why and who approved it")
        texts[name] = value.strip()
    expires_node = fields["expires"][1]
    try:
        expires = reader.plain(expires_node)
    except ValueError:  # YAML reads 2025-02-30 as a date and fails on it
        expires = expires_node.value
    if isinstance(expires, str) and _DATE.match(expires):
        with contextlib.suppress(ValueError):  # 2025-02-30 falls through to the error below
            expires = dt.date.fromisoformat(expires)
    if not isinstance(expires, dt.date) or isinstance(expires, dt.datetime):
        raise reader.error(expires_node, f"{where}.expires", f"expected a date YYYY-MM-DD, got {expires!r}")
    run = reader.scalar(fields["run"][1], f"{where}.run", (bool,)) if "run" in fields else True
    return Waiver(check_id, tuple(hosts), texts["justification"], texts["approver"], expires, run,
                  f"{reader.path}:{node.start_mark.line + 1}")


@dataclass(frozen=True)
class Applied:
    hosts: tuple[HostReport, ...]
    expired: tuple[WaiverNote, ...]  # waivers past their date (they waived nothing)
    unused: tuple[WaiverNote, ...]  # in-date waivers that matched no host x check of the run


def active(waivers: Sequence[Waiver], day: dt.date) -> list[Waiver]:
    return [w for w in waivers if not w.expired_on(day)]


def not_run(waivers: Sequence[Waiver], host: str, groups: Sequence[str], day: dt.date) -> set[str]:
    """Check ids that an in-date `run: false` waiver stops on this host."""
    return {w.check_id for w in active(waivers, day) if not w.run and w.matches(host, groups)}


def apply(hosts: Sequence[HostReport], host_groups: Mapping[str, Sequence[str]], waivers: Sequence[Waiver],
          checks: Sequence[Check], day: dt.date,
          planned: Mapping[str, Sequence[Check]] | None = None) -> Applied:
    """Mark waived results; add a `waived` result for each check a `run: false` waiver stopped.

    `planned`: host name -> the checks the run planned for it (a policy assigns checks per host);
    a stopped check is reported only where it was planned. Without it, every check everywhere."""
    in_date = active(waivers, day)
    used: set[int] = set()
    order = {c.id: index for index, c in enumerate(checks)}
    out = []
    for host in hosts:
        groups = host_groups.get(host.name, ())
        results = []
        for r in host.results:
            waiver = next((w for w in in_date
                           if w.check_id == r.check_id and w.matches(host.name, groups)), None)
            if waiver is None:
                results.append(r)
                continue
            used.add(id(waiver))
            if r.status in WAIVABLE:
                results.append(replace(r, status=Status.WAIVED, original_status=r.status,
                                       waiver=waiver.note()))
            else:
                results.append(replace(r, waiver=waiver.note(applied=False)))
        present = {r.check_id for r in results}
        if host.reachable:
            for check in (planned.get(host.name, ()) if planned is not None else checks):
                waiver = next((w for w in in_date if not w.run and w.check_id == check.id
                               and w.matches(host.name, groups)), None)
                if waiver is None or check.id in present:
                    continue
                used.add(id(waiver))
                summary = f"not run: waived until {waiver.expires.isoformat()} ({waiver.justification})"
                results.append(CheckResult(check.id, check.title, Status.WAIVED, summary, claims=check.claims,
                                           controls=check.controls, waiver=waiver.note()))
        results.sort(key=lambda r: order.get(r.check_id, len(order)))
        out.append(replace(host, results=tuple(results)))
    expired = tuple(w.note(applied=False) for w in waivers if w.expired_on(day))
    unused = tuple(w.note(applied=False) for w in in_date if id(w) not in used)
    return Applied(tuple(out), expired, unused)
