"""The ISO 27001:2022 controls matrix: per control, the checks that touched it and their hosts'
counts, and the claim verdicts that cover it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from auditor.check import SEVERITIES, Severity, Status
from auditor.model import RunReport, worst
from auditor.policy import iso27001
from auditor.policy.verdict_model import PolicyVerdicts, Verdict

PARTIAL = "partial"  # a controls-matrix row whose passing checks do not cover it all (one judged nothing)

# The host counts of a controls-matrix row, in column order.
_MATRIX_STATES = (Status.PASS, Status.FAIL, Status.ERROR, Status.MANUAL, Status.WAIVED, Status.SKIP)


@dataclass(frozen=True)
class ControlRow:
    control: str  # "A.8.15"
    title: str  # "Logging"; "" when not an Annex A control
    claims: tuple[str, ...]
    checks: tuple[str, ...]
    hosts: Mapping[str, int]  # hosts per state (pass, fail, error, manual, waived, skip)
    # the worst host state; not_verified when no host gave an answer; manual for notes only; partial
    # when it would be pass but one of the checks was `skip` on every host (it judged nothing here)
    result: str
    evidence: tuple[str, ...]  # run-folder relative paths
    failed_on: tuple[str, ...] = ()  # hosts whose worst result for the control is fail
    error_on: tuple[str, ...] = ()  # ... is error (unreachable hosts included)
    not_judged: tuple[str, ...] = ()  # the checks that were `skip` on every host that ran them
    # advisories (failing findings below their check's fail_on) over the control's results, per severity,
    # worst first, and the hosts that have one
    advisories: Mapping[str, int] = field(default_factory=dict)
    advisory_on: tuple[str, ...] = ()

    @property
    def advisory_count(self) -> int:
        return sum(self.advisories.values())

    def advisories_text(self) -> str:
        """"low: 2; info: 1", or "" without advisories."""
        return "; ".join(f"{severity}: {n}" for severity, n in self.advisories.items())

    @property
    def anchor(self) -> str:
        return "control-" + self.control.replace(" ", "_")


def controls_matrix(report: RunReport, verdicts: PolicyVerdicts | None = None) -> list[ControlRow]:
    """One row per control the run touched: the checks' own controls and the claims' extra ones.

    Without a policy the claims column holds the checks' claim ids; with one, the policy's.
    """
    checks_of: dict[str, set[str]] = {}
    claims_of: dict[str, set[str]] = {}
    manual_only: set[str] = set()
    for info in report.checks:
        for ref in info.controls:
            checks_of.setdefault(iso27001.control_id(ref), set()).add(info.id)
            if verdicts is None:
                claims_of.setdefault(iso27001.control_id(ref), set()).update(info.claims)
    if verdicts is not None:
        run_checks = {c.id for c in report.checks}
        for verdict in verdicts.claims:
            claim = verdict.claim
            mine = set(claim.checks) & run_checks
            for ref in claim.controls:
                control = iso27001.control_id(ref)
                checks_of.setdefault(control, set()).update(mine)
                claims_of.setdefault(control, set()).add(claim.id)
                if claim.manual and not mine:
                    manual_only.add(control)
            for control, ids in checks_of.items():
                if ids & mine:
                    claims_of.setdefault(control, set()).add(claim.id)
    rows = []
    for control in sorted(checks_of.keys() | claims_of.keys(), key=iso27001.sort_key):
        ids = checks_of.get(control, set())
        states: Counter[str] = Counter()
        evidence: set[str] = set()
        named: dict[Status, list[str]] = {Status.FAIL: [], Status.ERROR: []}
        answered_by: dict[str, bool] = {}  # check id -> did it answer (not skip) on some host
        advisories: Counter[Severity] = Counter()
        advisory_on: list[str] = []
        for host in report.hosts:
            results = [r for r in host.results if r.check_id in ids]
            if not results:
                continue
            found = [f.severity for r in results for f in r.advisories]
            advisories.update(found)
            if found:
                advisory_on.append(host.name)
            for r in results:
                answered_by[r.check_id] = answered_by.get(r.check_id, False) or r.status != Status.SKIP
            state = worst(r.status for r in results)
            states[state.value] += 1
            named.get(state, []).append(host.name)
            evidence.update(e.path for r in results for e in r.evidence)
        answered = {s: n for s, n in states.items() if s != Status.SKIP.value}
        not_judged = tuple(sorted(c for c, answered_here in answered_by.items() if not answered_here))
        if answered:
            result = worst(Status(s) for s in answered).value
            if result == Status.PASS.value and not_judged:  # as for a claim: a skipped check is no pass
                result = PARTIAL
        else:
            result = Status.MANUAL.value if control in manual_only else Verdict.NOT_VERIFIED.value
        rows.append(ControlRow(
            control=control, title=iso27001.title(control), claims=tuple(sorted(claims_of.get(control, ()))),
            checks=tuple(sorted(ids)), hosts={s.value: states.get(s.value, 0) for s in _MATRIX_STATES},
            result=result, evidence=tuple(sorted(evidence)),
            failed_on=tuple(named[Status.FAIL]), error_on=tuple(named[Status.ERROR]), not_judged=not_judged,
            advisories={s.value: advisories[s] for s in SEVERITIES if advisories[s]},
            advisory_on=tuple(advisory_on),
        ))
    return rows
