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

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from auditor.check import Status
from auditor.model import AuditedPolicy, CheckResult, Claim, HostErrorKind, HostReport, RunReport
from auditor.policy.controls_matrix import PARTIAL, ControlRow, controls_matrix
from auditor.policy.verdict_model import (
    _HOST_STATES,
    NOT_RUN,
    OTHER_PARAMS,
    REPORT_HTML,
    ClaimVerdict,
    PolicyVerdicts,
    ResultGroup,
    ResultLink,
    Verdict,
    group_results,
    host_spans,
    result_anchor,
)

# Every public name this module had before it was split, for its callers.
__all__ = [
    "ClaimVerdict", "ControlRow", "NOT_RUN", "OTHER_PARAMS", "PARTIAL", "PolicyVerdicts",
    "REPORT_HTML", "ResultGroup", "ResultLink", "Verdict", "controls_matrix", "every_host",
    "group_results", "host_spans", "judge", "judge_claim", "judged", "result_anchor",
]


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
