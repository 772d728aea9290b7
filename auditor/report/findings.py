"""What failed, once: a run's findings grouped across hosts, worst severity first.

The HTML report leads with these and the console prints them; both group identical results
(check, status, summary) across hosts with the claim cards' own grouping
(`verdicts.group_results`) and name the hosts as ranges (`verdicts.host_spans`).
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.check import Severity, Status
from auditor.model import CheckResult, RunReport
from auditor.policy.verdicts import ResultGroup, ResultLink, group_results, result_anchor

CONNECTION = "connection"  # the check id of a host-not-reached finding
ADVISORY = "advisory"  # a group of passing results whose findings are advisories (below fail_on)
# The results that need someone's attention, in the order a status is worse; then advisories.
_ORDER = (Status.FAIL.value, Status.ERROR.value, Status.MANUAL.value, ADVISORY)


def result_severity(result: CheckResult) -> Severity | None:
    """The worst severity among a result's findings that are not notes; a failure that names
    none is `high`, as a check's failing finding is unless it says otherwise; else None."""
    found = [f.severity for f in result.findings if f.status is not Status.PASS]
    if found:
        return max(found, key=lambda s: s.rank)
    return Severity.HIGH if result.status is Status.FAIL else None


@dataclass(frozen=True)
class FindingGroup:
    """One finding on any number of hosts: the check, its status, the reason, where it is."""

    group: ResultGroup
    title: str  # the check's title
    severity: Severity | None
    texts: tuple[str, ...]  # the failing findings' own lines (those of the first host), worst first

    @property
    def status(self) -> str:
        return self.group.status


def _status(result: CheckResult) -> str | None:
    if result.status.value in _ORDER:
        return result.status.value
    return ADVISORY if result.status is Status.PASS and result.advisories else None


def _reason(result: CheckResult, status: str) -> str:
    if status != ADVISORY:
        return result.summary
    return "; ".join(f"{f.severity}: {f.text}" for f in result.advisories)


def fleet_findings(report: RunReport) -> tuple[FindingGroup, ...]:
    """Every fail, error, manual and advisory of the run, identical ones across hosts grouped,
    worst severity first (a result without one last), then by status and check. A host that
    was not reached is one finding of its own (check id "connection"), not one per check, and
    comes first: nothing is known about it."""
    links: list[ResultLink] = []
    by_link: dict[tuple[str, str], CheckResult] = {}
    titles = {c.id: c.title for c in report.checks}
    for index, host in enumerate(report.hosts, start=1):
        if host.error:
            reason = f"{host.error_kind}: {host.error}" if host.error_kind else host.error
            links.append(ResultLink(host.name, CONNECTION, Status.ERROR.value, reason, ""))
        for r in host.own_results():  # the others only repeat the host's error
            status = _status(r)
            if status is not None:
                links.append(ResultLink(host.name, r.check_id, status, _reason(r, status),
                                        result_anchor(index, r.check_id)))
                by_link[host.name, r.check_id] = r
    groups = []
    for group in group_results(links):
        keys = ((link.host, link.check_id) for link in group.results)
        results = [by_link[key] for key in keys if key in by_link]
        severities = [s for s in map(result_severity, results) if s is not None]
        worst = max(severities, key=lambda s: s.rank) if severities else None
        texts = tuple(f.text for f in sorted(results[0].findings, key=lambda f: -f.severity.rank)
                      if f.status is not Status.PASS) if results else ()
        groups.append(FindingGroup(group, titles.get(group.check_id, "Host not reached"), worst, texts))
    return tuple(sorted(groups, key=lambda g: (g.group.check_id != CONNECTION,
                                               -(g.severity.rank if g.severity else -1),
                                               _ORDER.index(g.status), g.group.check_id)))
