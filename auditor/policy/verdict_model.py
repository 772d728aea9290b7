"""What judging a policy answers: each claim's Verdict, the results it links to (grouped by
check and status, hosts named in spans), and the PolicyVerdicts of a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from auditor.check import Status
from auditor.model import AuditedPolicy, Claim

NOT_RUN = "not_run"  # a host's state for a check that did not run there
OTHER_PARAMS = "not_verified"  # ... that ran there with parameters another claim set
REPORT_HTML = "report.html"


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
