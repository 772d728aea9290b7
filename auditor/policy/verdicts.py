"""From results to answers: is each promise of the policy true, and which controls did the run touch.

Pure functions over a finished RunReport. A claim is judged on every audited host it applies
to, from the results of its checks there:

- `pass`: every such host ran its checks and none failed, erred or waits on manual evidence,
  and each check answered (was not `skip`) on at least one host (`skip` means not
  applicable on that host);
- `fail`: a check fails on some host (named); `error`: no failure, but a result could not be
  determined or a host was unreachable;
- `not_verified`: a check never ran where the claim applies (left out by --check), ran there
  with parameters another claim set (a sibling's 730-day period is no answer for a claim that
  names none), the claim applies to no audited host, or one of its checks was `skip` on every
  host (a hashing promise about customer passwords is not shown by /etc/shadow alone) — never `pass`;
- `manual`: a check asks for evidence the host cannot show, or the claim is a process
  promise (no checks, a manual note); `waived`: its only non-pass results are waived;
- `not_covered`: no checks and no manual note.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from auditor.check import SEVERITIES, Severity, Status
from auditor.model import AuditedPolicy, CheckResult, Claim, HostReport, RunReport, worst
from auditor.policy import iso27001
from auditor.transports import HostErrorKind

NOT_RUN = "not_run"  # a host's state for a check that did not run there
OTHER_PARAMS = "not_verified"  # ... that ran there with parameters another claim set
REPORT_HTML = "report.html"
PARTIAL = "partial"  # a controls-matrix row whose passing checks do not cover it all (one judged nothing)


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    MANUAL = "manual"
    WAIVED = "waived"
    NOT_VERIFIED = "not_verified"
    NOT_COVERED = "not_covered"


# The order claims are counted in the headline, and a host's state is decided in.
_HOST_STATES = (Status.FAIL.value, Status.ERROR.value, NOT_RUN, OTHER_PARAMS, Status.MANUAL.value,
                Status.WAIVED.value, Status.PASS.value, Status.SKIP.value)
# The host counts of a controls-matrix row, in column order.
_MATRIX_STATES = (Status.PASS, Status.FAIL, Status.ERROR, Status.MANUAL, Status.WAIVED, Status.SKIP)


@dataclass(frozen=True)
class ResultLink:
    host: str
    check_id: str
    status: str  # a Status value, "not_run", or "not_verified" (ran with another claim's parameters)
    summary: str
    anchor: str  # the result card's id in report.html; "" when the check did not run


@dataclass(frozen=True)
class ResultGroup:
    """Results of one check with one status and one summary, on any number of hosts: a claim card's line."""

    check_id: str
    status: str
    summary: str
    results: tuple[ResultLink, ...]  # in report order

    @property
    def hosts(self) -> str:
        """"db1", or "h01–h40 (40 hosts)": consecutive numbered names as one span."""
        names = [r.host for r in self.results]
        return host_spans(names) + (f" ({len(names)} hosts)" if len(names) > 1 else "")


_NUMBERED = re.compile(r"(.*?)(\d+)")


def host_spans(names: Sequence[str], shown: int = 4, dash: str = "–") -> str:
    """Host names with runs of consecutive numbers joined: h01, h02, h03, web1 -> "h01–h03, web1".

    At most `shown` items, then "…" (the card lists every host behind it); the console joins with "..".
    """
    items: list[str] = []
    run: list[str] = []  # the current span, e.g. ["h01", "h02"]

    def close() -> None:
        if run:
            items.append(run[0] if len(run) == 1 else f"{run[0]}{dash}{run[-1]}")
            run.clear()

    for name in names:
        here = _NUMBERED.fullmatch(name)
        last = _NUMBERED.fullmatch(run[-1]) if run else None
        if (here and last and here[1] == last[1] and len(here[2]) == len(last[2])
                and int(here[2]) == int(last[2]) + 1):
            run.append(name)
            continue
        close()
        run.append(name)
    close()
    return ", ".join(items[:shown]) + (", …" if len(items) > shown else "")


def group_results(results: Iterable[ResultLink]) -> tuple[ResultGroup, ...]:
    """Identical results (check, status, summary) across hosts as one group each, worst status first."""
    groups: dict[tuple[str, str, str], list[ResultLink]] = {}
    for link in results:
        groups.setdefault((link.check_id, link.status, link.summary), []).append(link)
    order = {state: i for i, state in enumerate(_HOST_STATES)}
    return tuple(sorted((ResultGroup(check_id, status, summary, tuple(links))
                         for (check_id, status, summary), links in groups.items()),
                        key=lambda g: (order.get(g.status, len(order)), g.check_id)))


@dataclass(frozen=True)
class ClaimVerdict:
    claim: Claim
    verdict: Verdict
    summary: str  # one line: "fails on 1 of 3 hosts: db2"
    hosts: tuple[str, ...]  # the audited hosts the claim applies to
    hosts_by_state: Mapping[str, tuple[str, ...]]  # pass/fail/error/not_run/not_verified/manual/... -> hosts
    counts: Mapping[str, int]  # results per status (and not_run, not_verified)
    results: tuple[ResultLink, ...]
    evidence: tuple[str, ...]  # run-folder relative paths of the evidence files relied on

    @property
    def problems(self) -> tuple[ResultGroup, ...]:
        """The results that are not pass, grouped across hosts (a claim card's lines)."""
        return tuple(g for g in group_results(self.results) if g.status != Status.PASS.value)

    @property
    def passes(self) -> tuple[ResultGroup, ...]:
        """The passing results, grouped across hosts (collapsed in a claim card)."""
        return tuple(g for g in group_results(self.results) if g.status == Status.PASS.value)


@dataclass(frozen=True)
class PolicyVerdicts:
    audited: AuditedPolicy
    claims: tuple[ClaimVerdict, ...]
    counts: Mapping[str, int]  # claims per verdict
    headline: str  # "7 of 12 promises hold on all 3 hosts; 2 fail; 3 cannot be verified by a server"


def result_anchor(host_index: int, check_id: str) -> str:
    """The id report.html.j2 gives a result card: host-<1-based host position>-<check id>."""
    return f"host-{host_index}-{check_id}"


# Why the run could not connect, as a claim line names the host: "dead (unreachable)", "db1 (host key
# not trusted)" — a refused key is not a network problem, and the fix differs
_NOT_CONNECTED = {HostErrorKind.UNREACHABLE: "unreachable", HostErrorKind.HOST_KEY: "host key not trusted",
                  HostErrorKind.AUTHENTICATION: "login refused",
                  HostErrorKind.KEY_FILE: "identity file unusable"}


def _names(hosts: Sequence[str]) -> str:
    return ", ".join(hosts)


def every_host(names: Sequence[str]) -> str:
    """"db1" for one host, "both hosts" for two, "all 40 hosts" — never "all 2" or "the one host"."""
    if len(names) == 1:
        return names[0]
    return "both hosts" if len(names) == 2 else f"all {len(names)} hosts"


def _host_state(statuses: Iterable[str]) -> str:
    present = set(statuses)
    return next((s for s in _HOST_STATES if s in present), Status.SKIP.value)


_HostIndex = Mapping[str, tuple[int, HostReport, Mapping[str, CheckResult]]]


def _index(report: RunReport) -> _HostIndex:
    """Each host's 1-based position and its results by check id, built once per judgement."""
    return {h.name: (i, h, {r.check_id: r for r in h.results}) for i, h in enumerate(report.hosts, start=1)}


def judge_claim(report: RunReport, audited: AuditedPolicy, claim: Claim,
                positions: _HostIndex | None = None) -> ClaimVerdict:
    applies = audited.claim_hosts.get(claim.id, ())
    positions = positions if positions is not None else _index(report)
    links: list[ResultLink] = []
    evidence: set[str] = set()
    by_state: dict[str, list[str]] = {s: [] for s in _HOST_STATES}
    labels: dict[str, str] = {}  # host -> why its results are missing or in doubt
    for name in applies:
        if name not in positions:  # --check left none of its claims' checks: the run did not connect
            links.extend(ResultLink(name, check_id, NOT_RUN, _not_run(audited, check_id), "")
                         for check_id in claim.checks)
            by_state[NOT_RUN].append(name)
            continue
        index, host, results = positions[name]
        if not host.reachable:
            labels[name] = _NOT_CONNECTED.get(host.error_kind or HostErrorKind.UNREACHABLE, "unreachable")
        elif host.error:
            labels[name] = "host error"
        states = []
        for check_id in claim.checks:
            found: CheckResult | None = results.get(check_id)
            if found is None:
                links.append(ResultLink(name, check_id, NOT_RUN, _not_run(audited, check_id), ""))
                states.append(NOT_RUN)
                continue
            other = audited.other_params.get((claim.id, name, check_id))
            if other is not None:
                links.append(ResultLink(name, check_id, OTHER_PARAMS, other, result_anchor(index, check_id)))
                states.append(OTHER_PARAMS)
                continue
            # A Status is a str equal to its value; .value costs an enum lookup per result
            links.append(ResultLink(name, check_id, found.status, found.summary,
                                    result_anchor(index, check_id)))
            evidence.update(e.path for e in found.evidence)
            states.append(found.status)
        by_state[_host_state(states)].append(name)
    hosts = tuple(applies)
    counts = Counter(link.status for link in links)
    verdict, summary = _verdict(claim, hosts, by_state, labels, links)
    return ClaimVerdict(claim, verdict, summary, hosts, {s: tuple(h) for s, h in by_state.items() if h},
                        dict(sorted(counts.items())), tuple(links), tuple(sorted(evidence)))


def _not_run(audited: AuditedPolicy, check_id: str) -> str:
    if check_id not in audited.checks_selected:
        return "did not run (not selected by --check)"
    return "did not run (no result recorded)"


def _verdict(claim: Claim, hosts: Sequence[str], by_state: Mapping[str, Sequence[str]],
             labels: Mapping[str, str], links: Sequence[ResultLink]) -> tuple[Verdict, str]:
    if not claim.checks:
        if claim.manual:
            return Verdict.MANUAL, "a process promise: no server can show it; ask for the evidence noted"
        return Verdict.NOT_COVERED, "no check verifies this promise and no manual evidence is noted"
    if not hosts:
        return Verdict.NOT_VERIFIED, "not verified: it applies to none of the audited hosts"
    total = len(hosts)

    def on(state: str) -> str:
        named = [f"{h} ({labels[h]})" if h in labels else h for h in by_state[state]]
        return f"{len(named)} of {total} host{'s' if total > 1 else ''}: {_names(named)}"

    if by_state[Status.FAIL.value]:
        return Verdict.FAIL, f"fails on {on(Status.FAIL.value)}"
    if by_state[Status.ERROR.value]:
        return Verdict.ERROR, f"could not be determined on {on(Status.ERROR.value)}"
    if by_state[NOT_RUN]:
        missing = sorted({link.check_id for link in links if link.status == NOT_RUN})
        why = sorted({link.summary.removeprefix("did not run ") for link in links if link.status == NOT_RUN})
        return Verdict.NOT_VERIFIED, (f"not verified: {', '.join(missing)} did not run on {on(NOT_RUN)} "
                                      + " ".join(why))
    if by_state[OTHER_PARAMS]:
        why = sorted({link.summary for link in links if link.status == OTHER_PARAMS})
        return Verdict.NOT_VERIFIED, f"not verified on {on(OTHER_PARAMS)}: {'; '.join(why)}"
    if by_state[Status.MANUAL.value]:
        return Verdict.MANUAL, f"needs evidence the host cannot show on {on(Status.MANUAL.value)}"
    unanswered = _unanswered(claim, links)
    if unanswered:  # a check that applied nowhere: the claim's other checks cannot answer for it
        return Verdict.NOT_VERIFIED, "not verified: " + unanswered
    passed = by_state[Status.PASS.value]
    if by_state[Status.WAIVED.value]:
        return Verdict.WAIVED, (f"holds on {len(passed)} of {total}; waived on {on(Status.WAIVED.value)}")
    if passed:
        if len(passed) == total:
            summary = f"holds on {every_host(passed)}"
        else:
            summary = (f"holds on {len(passed)} of {total} hosts (not applicable on "
                       f"{_names(by_state[Status.SKIP.value])})")
        return Verdict.PASS, summary + _skipped(links)
    raise AssertionError("every host state is handled above")  # pragma: no cover


def _unanswered(claim: Claim, links: Sequence[ResultLink]) -> str:
    """The claim's checks that were `skip` on every host: "app_password_hashing: not applicable ..."."""
    parts = []
    for check_id in claim.checks:
        mine = [link for link in links if link.check_id == check_id]
        if mine and all(link.status == Status.SKIP.value for link in mine):
            reasons = sorted({link.summary for link in mine})
            parts.append(f"{check_id}: not applicable on any host"
                         + (f" ({reasons[0]})" if len(reasons) == 1 else ""))
    return "; ".join(parts)


def _skipped(links: Sequence[ResultLink]) -> str:
    """Which of a passing claim's checks did not apply, so a pass never hides a skipped check."""
    reasons: dict[str, set[str]] = {}
    for link in links:
        if link.status == Status.SKIP.value:
            reasons.setdefault(link.check_id, set()).add(link.summary)
    parts = [check_id + (f" ({next(iter(why))})" if len(why) == 1 else "")
             for check_id, why in sorted(reasons.items())]
    return f"; skipped: {'; '.join(parts)}" if parts else ""


def _headline(verdicts: Sequence[ClaimVerdict], report: RunReport) -> str:
    counts = Counter(v.verdict for v in verdicts)
    audited = len(report.hosts)
    everywhere = all(len(v.hosts) == audited for v in verdicts if v.claim.checks)
    if not audited:  # a run refuses such a policy; an old report may still hold one
        where = "no host (none was audited)"
    else:
        where = every_host([h.name for h in report.hosts]) if everywhere else "every host they apply to"
    total = len(verdicts)
    parts = [f"{counts[Verdict.PASS]} of {total} promise{'s' if total != 1 else ''} "
             f"hold{'s' if total == 1 else ''} on {where}"]
    phrases = (
        (Verdict.FAIL, "fails", "fail"),
        (Verdict.ERROR, "could not be determined", "could not be determined"),
        (Verdict.NOT_VERIFIED, "was not verified", "were not verified"),
        (Verdict.MANUAL, "cannot be verified by a server", "cannot be verified by a server"),
        (Verdict.WAIVED, "is waived", "are waived"),
        (Verdict.NOT_COVERED, "has no check", "have no check"),
    )
    parts += [f"{counts[v]} {one if counts[v] == 1 else many}" for v, one, many in phrases if counts[v]]
    return "; ".join(parts)


def judge(report: RunReport, audited: AuditedPolicy) -> PolicyVerdicts:
    positions = _index(report)
    verdicts = tuple(judge_claim(report, audited, claim, positions) for claim in audited.policy.claims)
    counts = {v.value: sum(1 for c in verdicts if c.verdict is v) for v in Verdict}
    return PolicyVerdicts(audited, verdicts, counts, _headline(verdicts, report))


def judged(report: RunReport) -> PolicyVerdicts | None:
    """The run's claim verdicts; None when it audited no policy."""
    return judge(report, report.policy) if report.policy is not None else None


# --------------------------------------------------------------------------
# The ISO 27001:2022 controls matrix
# --------------------------------------------------------------------------


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
