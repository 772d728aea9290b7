"""What the terminal shows: progress on a TTY, a host × check summary, plain text in pipes."""

from __future__ import annotations

import sys
from typing import TextIO

from auditor.check import Status
from auditor.claim_verdicts import PolicyVerdicts, Verdict
from auditor.model import HostReport, RunReport

_COLOURS = {Status.PASS: "32", Status.FAIL: "31", Status.ERROR: "33", Status.SKIP: "90",
            Status.MANUAL: "34", Status.WAIVED: "35"}


def _paint(text: str, status: Status, colour: bool) -> str:
    return f"\033[{_COLOURS[status]}m{text}\033[0m" if colour else text


class Progress:
    """One self-overwriting line on a TTY; nothing when output is not a terminal."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, host: HostReport, done: int, total: int) -> None:
        if self.enabled and total > 1:
            self.stream.write(f"\r\033[K[{done}/{total}] {host.name}: {host.status.value}")
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


def summary(report: RunReport, stream: TextIO, colour: bool) -> None:
    checks = [c.id for c in report.checks]
    name_width = max([len("host"), *(len(h.name) for h in report.hosts)])
    widths = [max(len(c), 6) for c in checks]
    columns = "  ".join(c.ljust(w) for c, w in zip(checks, widths, strict=True))
    header = "host".ljust(name_width) + "  " + columns
    stream.write(header.rstrip() + "\n")
    for host in report.hosts:
        cells = []
        for check_id, width in zip(checks, widths, strict=True):
            result = next((r for r in host.results if r.check_id == check_id), None)
            text = result.status.value if result else "-"
            cell = text.ljust(width)
            cells.append(_paint(cell, result.status, colour) if result else cell)
        line = host.name.ljust(name_width) + "  " + "  ".join(cells)
        stream.write(line.rstrip() + "\n")
    for host in report.hosts:
        if host.error:
            stream.write(f"{host.name}: {host.error_kind}: {host.error}\n")
            continue
        for r in host.results:
            if r.status in (Status.FAIL, Status.ERROR):
                verdict = _paint(r.status.value, r.status, colour)
                stream.write(f"{host.name} {r.check_id}: {verdict}: {r.summary}\n")
    waived_lines(report, stream, colour)
    totals = report.totals()
    counts = ", ".join(f"{totals[s.value]} {s.value}" for s in Status if totals[s.value])
    stream.write(f"{totals['hosts']} host(s), {counts or 'no results'}"
                 + ("" if report.complete else " — INTERRUPTED, partial report") + "\n")


def policy_summary(verdicts: PolicyVerdicts, stream: TextIO, colour: bool) -> None:
    """One line per claim of the audited policy, after the host summary."""
    stream.write(f"policy {verdicts.audited.policy.id}: {verdicts.headline}\n")
    if verdicts.audited.unclaimed_hosts:
        stream.write(f"  no claim applies to: {', '.join(verdicts.audited.unclaimed_hosts)} (not audited)\n")
    width = max(len(v.value) for v in Verdict)
    for claim in verdicts.claims:
        text = claim.verdict.value.ljust(width)
        if colour and claim.verdict.value in _COLOURS:
            text = _paint(text, Status(claim.verdict.value), colour)
        stream.write(f"  {text}  {claim.claim.id}: {claim.summary}\n")


def waived_lines(report: RunReport, stream: TextIO, colour: bool) -> None:
    """Waived results with justification, approver and expiry; expired waivers; regressions."""
    for host in report.hosts:
        for r in host.results:
            if r.status is Status.WAIVED and r.waiver is not None:
                found = r.original_status.value if r.original_status else "not run"
                stream.write(f"{host.name} {r.check_id}: {_paint('waived', Status.WAIVED, colour)} ({found}) "
                             f"until {r.waiver.expires} by {r.waiver.approver}: {r.waiver.justification}\n")
    tracking = report.tracking
    for w in tracking.expired_waivers if tracking else ():
        stream.write(f"EXPIRED WAIVER {w.source}: {w.check_id} on {', '.join(w.hosts)} expired {w.expires}; "
                     "it no longer waives\n")
    if tracking is not None and tracking.baseline is not None:
        for regression in tracking.regressions:
            before = regression.baseline_status.value if regression.baseline_status else "new"
            now = _paint(regression.status.value, regression.status, colour)
            stream.write(f"REGRESSION {regression.host} {regression.check_id}: {before} -> {now}\n")
        for claim in tracking.claim_regressions:
            stream.write(f"REGRESSION claim {claim.claim_id}: {claim.baseline_verdict} -> {claim.verdict}\n")
        for lost in tracking.coverage_lost:
            stream.write(f"COVERAGE LOST {lost.host} {lost.check_id}: pass -> skip\n")
        stream.write(f"against run {tracking.baseline}: {len(tracking.regressions)} regression(s)"
                     + (f", {len(tracking.claim_regressions)} claim(s) no longer hold"
                        if tracking.claim_regressions else "") + "\n")
