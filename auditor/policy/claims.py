"""Claims files: the promises a privacy policy makes, each mapped to the checks that verify it.

A claims file (format 1) names the policy and lists its claims: the verbatim quote, an
English gloss, where it stands in the document, the checks that verify it with the
parameters the promise implies (`log_retention: {min_days: 60}`), the hosts or groups it
applies to, extra ISO 27001 controls, and a `manual` note for promises no server can show.
It is read node by node with auditor.yamlfile (parameters by auditor.params), so every
mistake names the file, the line and the key:

    policy.yaml:14: claims[3].checks.log_retention.min_dayz: unknown parameter of log_retention ...

`auditor run --policy NAME|PATH` (or the inventory's `policy:` key) audits a policy: each
host runs exactly the checks of the claims that apply to it, with the claims' parameters
layered over the inventory's vars.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from auditor import yamlfile
from auditor.check import Check
from auditor.errors import InputError
from auditor.inventory import Host, Inventory
from auditor.model import ALL, AuditedPolicy, Claim, Policy
from auditor.params import NOT_A_CHECK_IN_CLAIM, per_check, typed_params
from auditor.policy import iso27001

FORMAT = 1
KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")  # BCP 47, as HTML's lang= takes it
_CLAIM_KEYS = ("id", "quote", "gloss", "source", "checks", "applies_to", "controls", "manual")
_POLICY_KEYS = ("id", "title", "document", "language")


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


# Bridge: auditor/cli.py catches InventoryError, not yet errors.AuditorError. When it does, the base
# becomes InputError and a claims-file mistake stops being an InventoryError (tests/unit/test_errors.py).
class ClaimsError(InputError):
    """A mistake in a claims file (or an inventory's inline `policy:` block), with file, line and key."""


class Loader(yamlfile.Loader):
    """Reads a claims file; `checks` are the check ids and parameters its claims may name."""

    error_type = ClaimsError

    def __init__(self, path: Path, checks: Mapping[str, Check]) -> None:
        super().__init__(path)
        self.checks = checks


def _text(loader: Loader, node: yaml.Node, key: str, required: bool = False) -> str:
    value = loader.scalar(node, key, (str,))
    if required and not value.strip():
        raise loader.error(node, key, "is empty")
    return str(value)


def _names(loader: Loader, node: yaml.Node, key: str) -> tuple[str, ...]:
    values = loader.scalar(node, key, (list,))
    assert isinstance(node, yaml.SequenceNode)
    for item, value in zip(node.value, values, strict=True):
        if not isinstance(value, str) or not value.strip():
            raise loader.error(item, key, f"expected a list of names, got {value!r}")
    return tuple(values)


def _controls(loader: Loader, node: yaml.Node, key: str) -> tuple[str, ...]:
    refs = []
    names = _names(loader, node, key)
    assert isinstance(node, yaml.SequenceNode)
    for item, value in zip(node.value, names, strict=True):
        control = iso27001.control_id(value)
        if control not in iso27001.CONTROLS:
            raise loader.error(item, key, f"{value!r} is not an ISO/IEC 27001:2022 Annex A control; "
                               "write it as A.8.15 or \"ISO27001:2022 A.8.15\"")
        refs.append(iso27001.PREFIX + control)
    return tuple(refs)


def _checks(loader: Loader, node: yaml.Node, key: str,
            lines: dict[str, int]) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    for check, value_node, where in per_check(loader, loader.checks, node, key, NOT_A_CHECK_IN_CLAIM):
        if yamlfile.is_null(value_node):
            checks[check.id] = {}  # `password_hashing:` alone means its defaults
        else:
            checks[check.id] = typed_params(check, value_node, where, loader)
            lines.update({f"{check.id}.{name}": pkey.start_mark.line + 1
                          for name, pkey, _ in loader.mapping(value_node, where)})
    return checks


def _claim(loader: Loader, node: yaml.Node, key: str) -> Claim:
    lines: dict[str, int] = {}
    fields: dict[str, Any] = {"line": node.start_mark.line + 1, "key": key, "param_lines": lines}
    for name, key_node, value_node in loader.mapping(node, key):
        where = f"{key}.{name}"
        if name in ("quote", "id"):
            fields[name] = _text(loader, value_node, where, required=True)
        elif name in ("gloss", "source", "manual"):
            fields[name] = _text(loader, value_node, where)
        elif name == "checks":
            fields[name] = _checks(loader, value_node, where, lines)
        elif name == "applies_to":
            fields[name] = _names(loader, value_node, where)
            if not fields[name]:
                raise loader.error(value_node, where, "is empty; leave it out to mean [all]")
        elif name == "controls":
            fields[name] = _controls(loader, value_node, where)
        else:
            raise loader.error(key_node, where, f"unknown key; expected one of: {', '.join(_CLAIM_KEYS)}")
    for required in ("id", "quote"):
        if required not in fields:
            raise loader.error(node, f"{key}.{required}", "missing")
    if not KEBAB.match(fields["id"]):
        raise loader.error(node, f"{key}.id", f"{fields['id']!r} is not kebab-case (e.g. log-retention)")
    return Claim(**fields)


def _overlap(a: Claim, b: Claim) -> bool:
    """Whether two claims certainly share a host, whatever the inventory says."""
    return ALL in a.applies_to or ALL in b.applies_to or bool(set(a.applies_to) & set(b.applies_to))


def _conflict(policy_path: str, first: Claim, second: Claim, check: str, param: str,
              hosts: str) -> ClaimsError:
    return ClaimsError(
        policy_path, second.param_lines.get(f"{check}.{param}", second.line),
        f"{second.key or 'claims'}.checks.{check}.{param}",
        f"sets {check}.{param} = {second.checks[check][param]!r}, but claim {first.id} "
        f"({policy_path}:{first.param_lines.get(f'{check}.{param}', first.line)}) "
        f"sets {first.checks[check][param]!r} for {hosts}; "
        "split the hosts with applies_to, or put per-host values in the inventory's vars")


def _find_conflicts(claims: Sequence[Claim], policy_path: str,
                    share_host: Callable[[Claim, Claim], bool] = _overlap,
                    hosts: str = "the same hosts") -> None:
    for index, first in enumerate(claims):
        for second in claims[index + 1:]:
            if not share_host(first, second):
                continue
            for check in first.checks.keys() & second.checks.keys():
                for param in first.checks[check].keys() & second.checks[check].keys():
                    if first.checks[check][param] != second.checks[check][param]:
                        raise _conflict(policy_path, first, second, check, param, hosts)


def parse(loader: Loader, root: yaml.Node | None, prefix: str, sha256: str) -> Policy:
    """A policy from its YAML node tree (`prefix` is "policy" when it sits in an inventory)."""
    def key(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    if root is None:
        raise ClaimsError(loader.path, None, prefix, "is empty; a claims file needs policy: and claims:")
    sections: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for name, key_node, value_node in loader.mapping(root, prefix):
        if name not in ("format", "policy", "claims"):
            raise loader.error(key_node, key(name), "unknown key; expected format, policy, claims")
        sections[name] = (key_node, value_node)
    if "format" in sections and loader.scalar(sections["format"][1], key("format"), (int,)) != FORMAT:
        raise loader.error(sections["format"][1], key("format"),
                           f"this auditor reads claims files of format {FORMAT}")
    for required in ("policy", "claims"):
        if required not in sections:
            raise ClaimsError(loader.path, root.start_mark.line + 1, key(required), "missing")

    meta: dict[str, str] = {}
    for name, key_node, value_node in loader.mapping(sections["policy"][1], key("policy")):
        if name not in _POLICY_KEYS:
            raise loader.error(key_node, key(f"policy.{name}"),
                               f"unknown key; expected one of: {', '.join(_POLICY_KEYS)}")
        meta[name] = _text(loader, value_node, key(f"policy.{name}"), required=name in ("id", "title"))
    for required in ("id", "title"):
        if required not in meta:
            raise loader.error(sections["policy"][1], key(f"policy.{required}"), "missing")
    if not KEBAB.match(meta["id"]):
        raise loader.error(sections["policy"][1], key("policy.id"),
                           f"{meta['id']!r} is not kebab-case (e.g. apifonica)")
    if "language" in meta and not LANGUAGE_TAG.match(meta["language"]):
        raise loader.error(sections["policy"][1], key("policy.language"),
                           f"{meta['language']!r} is not a language tag (e.g. pl, en, de-AT)")

    claims_node = sections["claims"][1]
    if not isinstance(claims_node, yaml.SequenceNode) or not claims_node.value:
        raise loader.error(claims_node, key("claims"), "expected a list of claims (- id: ...)")
    claims: list[Claim] = []
    warnings: list[str] = []
    for index, node in enumerate(claims_node.value):
        claim = _claim(loader, node, key(f"claims[{index}]"))
        taken = next((c for c in claims if c.id == claim.id), None)
        if taken is not None:
            raise loader.error(node, key(f"claims[{index}].id"),
                               f"{claim.id!r} is already the id of the claim on line {taken.line}")
        if not claim.checks and not claim.manual:
            warnings.append(f"{loader.path}:{claim.line}: claim {claim.id} has no checks and no manual "
                            "note; it is reported as not covered")
        claims.append(claim)
    _find_conflicts(claims, str(loader.path))
    return Policy(id=meta["id"], title=meta["title"], document=meta.get("document", ""),
                  language=meta.get("language", "en"), claims=tuple(claims), path=str(loader.path),
                  sha256=sha256, warnings=tuple(warnings))


def load(path: Path, checks: Mapping[str, Check]) -> Policy:
    loader = Loader(path, checks)
    data, root = loader.read()
    return parse(loader, root, "", hashlib.sha256(data).hexdigest())


# --------------------------------------------------------------------------
# Finding a policy: a shipped set by name, a file, or the inventory's policy: key
# --------------------------------------------------------------------------


def shipped() -> dict[str, Path]:
    """The claims sets that ship with auditor (auditor/policy/sets/<id>.yaml), by id."""
    folder = resources.files("auditor.policy") / "sets"
    if not folder.is_dir():
        return {}
    entries = sorted(folder.iterdir(), key=lambda e: e.name)
    return {Path(e.name).stem: Path(str(e)) for e in entries if e.name.endswith(".yaml")}


def locate(spec: str, base: Path | None = None) -> Path:
    """The claims file `spec` names: a path (relative to `base`), else a shipped set's id.

    Raises ValueError with what to do when it names neither.
    """
    path = Path(spec).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if path.is_file():
        return path
    sets = shipped()
    if spec in sets:
        return sets[spec]
    hint = f"shipped sets: {', '.join(sets) or 'none'}"
    if KEBAB.match(spec):
        raise ValueError(f"no claims file {path} and no shipped set named {spec!r} ({hint})")
    raise ValueError(f"no claims file {path} ({hint}; `auditor claims show NAME` lists one)")


def from_inventory(inv: Inventory, checks: Mapping[str, Check]) -> Policy | None:
    """The inventory's `policy:` key: a name or path (relative to the inventory), or inline."""
    ref = inv.policy
    if ref is None:
        return None
    loader = Loader(inv.path, checks)
    if ref.name is not None:
        try:
            return load(locate(ref.name, inv.path.parent), checks)
        except ValueError as exc:
            raise ClaimsError(inv.path, ref.line, "policy", str(exc)) from None
    assert ref.inline is not None
    node = ref.inline.node
    if isinstance(node, yaml.ScalarNode):
        _text(loader, node, "policy", required=True)  # not a name: says what is wrong with it
    if not isinstance(node, yaml.MappingNode):
        raise loader.error(node, "policy", "expected a shipped set's name or a claims file's path "
                           "(policy: apifonica), or a mapping with policy: and claims:")
    return parse(loader, node, "policy", ref.inline.sha256())


# --------------------------------------------------------------------------
# Planning a run: which checks each host runs, with which parameters
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    hosts: tuple[Host, ...]  # the hosts to audit (a claim's checks apply), claim parameters over their vars
    checks: tuple[Check, ...]  # every check some host runs, by id
    checks_for: Mapping[str, tuple[Check, ...]]  # host name -> its checks
    audited: AuditedPolicy
    warnings: tuple[str, ...]


def _check_applies_to(policy: Policy, inv: Inventory) -> None:
    known = {h.name for h in inv.hosts} | set(inv.groups) | {ALL}
    for index, claim in enumerate(policy.claims):
        unknown = [n for n in claim.applies_to if n not in known]
        if unknown:
            raise ClaimsError(
                policy.path, claim.line, f"claims[{index}].applies_to",
                f"names no host or group of {inv.path}: {', '.join(unknown)} "
                f"(hosts: {', '.join(h.name for h in inv.hosts)}; groups: {', '.join(inv.groups) or 'none'})")


def _other_params(claims: Sequence[Claim], host: Host, ran_with: Mapping[str, Mapping[str, Any]],
                  set_by: Mapping[tuple[str, str], str], checks: Mapping[str, Check],
                  selected: set[str]) -> dict[tuple[str, str, str], str]:
    """Claims whose check ran on `host` with a value another claim set, with what differs.

    A claim's own parameters are the inventory's vars with its own values over them (`{}` means the
    check's defaults or the inventory's vars); a sibling claim's value would make its result answer
    a different promise (a 730-day retention period judged for a claim that names none).
    """
    found: dict[tuple[str, str, str], str] = {}
    for claim in claims:
        for check_id, own in claim.checks.items():
            if check_id not in selected:
                continue
            defaults = checks[check_id].default_params()
            alone = {**defaults, **host.vars.get(check_id, {}), **own}
            actual = {**defaults, **ran_with.get(check_id, {})}
            differing = [name for name in actual if actual[name] != alone.get(name)]
            if differing:
                found[(claim.id, host.name, check_id)] = "; ".join(
                    f"{check_id} ran with {name} = {actual[name]!r} set by claim "
                    f"{set_by[(check_id, name)]} (this claim alone: {alone.get(name)!r})"
                    for name in differing)
    return found


def plan(policy: Policy, inv: Inventory, hosts: Sequence[Host], checks: Mapping[str, Check],
         only: Sequence[str] = ()) -> Plan:
    """Each selected host's checks (the claims' that apply to it, narrowed by --check `only`).

    Hosts left with no check are not audited (not connected to); the audited policy lists them.
    """
    _check_applies_to(policy, inv)
    for host in inv.hosts:  # a conflict is a mistake in the policy, whichever hosts this run selects
        applying = [c for c in policy.claims if c.applies(host)]
        _find_conflicts(applying, policy.path, share_host=lambda a, b: True, hosts=f"host {host.name}")
    selected = set(only) or {check_id for claim in policy.claims for check_id in claim.checks}
    warnings = list(policy.warnings)
    unused = sorted(set(only) - {check_id for claim in policy.claims for check_id in claim.checks})
    if unused:
        warnings.append(f"--check {', '.join(unused)}: no claim of policy {policy.id} uses it; not run")

    overridden: dict[tuple[str, str, str], list[str]] = {}
    planned_hosts: list[Host] = []
    checks_for: dict[str, tuple[Check, ...]] = {}
    other_params: dict[tuple[str, str, str], str] = {}
    unclaimed: list[str] = []
    for host in hosts:
        vars_ = {check_id: dict(params) for check_id, params in host.vars.items()}
        set_by: dict[tuple[str, str], str] = {}  # (check id, parameter) -> the claim that set it here
        ids: set[str] = set()
        applying = [c for c in policy.claims if c.applies(host)]
        for claim in applying:
            for check_id, params in claim.checks.items():
                if check_id not in selected:
                    continue
                ids.add(check_id)
                for name, value in params.items():
                    mine = host.vars.get(check_id, {})
                    if name in mine and mine[name] != value:
                        overridden.setdefault((claim.id, check_id, name), []).append(
                            f"{host.name} ({_quoted(checks[check_id], name, mine[name])})")
                    set_by[(check_id, name)] = claim.id
                vars_[check_id] = {**vars_.get(check_id, {}), **params}
        if not any(c.checks for c in applying):
            unclaimed.append(host.name)
        if not ids:  # nothing to run: do not connect (an unreachable host would fail a run it is not in)
            continue
        other_params.update(_other_params(applying, host, vars_, set_by, checks, selected))
        planned_hosts.append(replace(host, vars=vars_))
        checks_for[host.name] = tuple(checks[i] for i in sorted(ids))
    for (claim_id, check_id, name), where in overridden.items():
        claim = next(c for c in policy.claims if c.id == claim_id)
        value = _quoted(checks[check_id], name, claim.checks[check_id][name])
        warnings.append(f"{policy.where(claim)}: claim {claim_id} sets {check_id}.{name} = {value}, "
                        "over the inventory's value on "
                        f"{', '.join(where)}; the policy's value is audited")
    if unclaimed:
        warnings.append(f"no claim of policy {policy.id} applies to {', '.join(unclaimed)}; not audited")
    used = sorted({c.id for host_checks in checks_for.values() for c in host_checks})
    claim_hosts = {c.id: tuple(h.name for h in hosts if c.applies(h)) for c in policy.claims}
    audited = AuditedPolicy(policy, claim_hosts, tuple(sorted(selected)), other_params, tuple(unclaimed),
                            tuple(warnings))
    return Plan(tuple(planned_hosts), tuple(checks[i] for i in used), checks_for, audited, tuple(warnings))


def _quoted(check: Check, name: str, value: Any) -> str:
    """A parameter's value as a warning may quote it: a secret one (a connection string) never."""
    param = check.param(name)
    return "(a secret, not shown)" if param is not None and param.secret else repr(value)


def nothing_to_verify(plan: Plan) -> str:
    """Why a planned run would verify no claim on any host ("" when some check runs), for exit 2.

    Like a --check that selects none of the policy's checks: a run with no check to run would
    print "0 hosts, no results" and exit 0, which reads as a clean audit.
    """
    if plan.checks:
        return ""
    policy = plan.audited.policy
    if not any(claim.checks for claim in policy.claims):
        return (f"policy {policy.id} ({policy.path}) has no claim with checks (only manual notes or "
                "uncovered promises): a run would verify nothing on a server; give a claim checks:, "
                "or ask for the evidence its manual notes name")
    hosts = ", ".join(plan.audited.unclaimed_hosts)
    return (f"no claim with checks of policy {policy.id} applies to the selected host(s) {hosts}: a run "
            "would verify nothing; select hosts its claims apply to (--host, --group) or widen applies_to")
