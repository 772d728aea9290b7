"""What the terminal shows: progress on a TTY, a host × check summary, plain text in pipes."""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from typing import TextIO

from auditor.check import Status
from auditor.model import HostReport, RunReport
from auditor.policy.verdicts import PolicyVerdicts, Verdict, host_spans
from auditor.report import findings
from auditor.report.visible import one_line

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
            self.stream.write(f"\r\033[K[{done}/{total}] {one_line(host.name)}: {host.status.value}")
            self.stream.flush()
        if done == total:  # the line goes before the run's warnings and reports are printed
            self.finish()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _grid(corner: str, row_names: list[str], column_names: list[str],
          cells: list[list[Status | None]], colour: bool) -> list[str]:
    """A table of status cells, each column as wide as its name (at least 6, the widest status)."""
    name_width = max([len(corner), *(len(n) for n in row_names)])
    widths = [max(len(c), 6) for c in column_names]
    lines = [(corner.ljust(name_width) + "  " + "  ".join(c.ljust(w) for c, w in zip(column_names, widths,
                                                                                      strict=True))).rstrip()]
    for name, row in zip(row_names, cells, strict=True):
        texts = [_paint((s.value if s else "-").ljust(w), s, colour) if s else "-".ljust(w)
                 for s, w in zip(row, widths, strict=True)]
        lines.append((name.ljust(name_width) + "  " + "  ".join(texts)).rstrip())
    return lines


def _visible_width(line: str) -> int:
    return len(re.sub(r"\033\[[0-9;]*m", "", line))


def host_check_table(report: RunReport, colour: bool, width: int) -> list[str]:
    """The host × check table; when wider than `width`, checks as rows (hosts as columns), and
    when that is wider too, numbered check columns with a legend below."""
    checks = [one_line(c.id) for c in report.checks]
    hosts = [one_line(h.name) for h in report.hosts]
    cells = [[next((r.status for r in h.results if r.check_id == cid), None) for cid in checks]
             for h in report.hosts]
    layouts = [_grid("host", hosts, checks, cells, colour),
               _grid("check", checks, hosts, [list(column) for column in zip(*cells, strict=True)]
                     if cells else [[] for _ in checks], colour)]
    for lines in layouts:
        if max(_visible_width(line) for line in lines) <= width:
            return lines
    numbers = [str(index + 1) for index in range(len(checks))]
    legend = [f"  {number:>{len(numbers[-1])}} = {check_id}" for number, check_id in zip(numbers, checks,
                                                                                         strict=True)]
    return _grid("host", hosts, numbers, cells, colour) + ["checks:", *legend]


SHOWN_SPANS = 8  # host names or ranges on a finding's line before "…" and the count


def finding_lines(report: RunReport, colour: bool, width: int | None) -> list[str]:
    """Each fail and error once, worst severity first, its hosts as ranges ("web-01..web-07, db-02
    ssh_hardening: fail: ..."), wrapped to `width` (None: not wrapped) with the continuation
    indented; a host that was not reached comes first ("dead: unreachable: ...")."""
    lines = []
    for found in findings.fleet_findings(report):
        if found.status not in (Status.FAIL.value, Status.ERROR.value):
            continue  # manual and advisories: in the report, not on the console
        names = [link.host for link in found.group.results]
        hosts = host_spans(names, SHOWN_SPANS, dash="..")
        hosts += f" ({len(names)} hosts)" if len(names) > 1 else ""
        connection = found.group.check_id == findings.CONNECTION
        head = f"{hosts}: " if connection else f"{hosts} {found.group.check_id}: {found.status}: "
        head = one_line(head)
        text = head + one_line(found.group.summary)
        wrapped = [text] if width is None else textwrap.wrap(
            text, width=max(width, 40), subsequent_indent="    ", break_on_hyphens=False) or [text]
        status_at = len(head) - len(found.status) - 2
        if colour and not connection and wrapped[0].startswith(head):
            first, painted = wrapped[0], _paint(found.status, Status(found.status), colour)
            wrapped[0] = first[:status_at] + painted + first[len(head) - 2:]
        lines.extend(wrapped)
    return lines


def summary(report: RunReport, stream: TextIO, colour: bool, width: int | None = None) -> None:
    """The host × check table, fitted to `width` (default: the terminal's, 100 when not a terminal),
    then each fail and error once with its hosts (`finding_lines`), waivers, regressions and the totals."""
    wrap: int | None = width
    if width is None:
        width = shutil.get_terminal_size((100, 24)).columns  # $COLUMNS first, as the terminal says
        # In a pipe with no $COLUMNS a finding stays on one line, whole for grep and log readers
        wrap = width if "COLUMNS" in os.environ or stream.isatty() else None
    for line in host_check_table(report, colour, width):
        stream.write(line + "\n")
    for line in finding_lines(report, colour, wrap):
        stream.write(line + "\n")
    waived_lines(report, stream, colour)
    totals = report.totals()
    counts = ", ".join(f"{totals[s.value]} {s.value}" for s in Status if totals[s.value])
    stream.write(f"{totals['hosts']} host(s), {counts or 'no results'}"
                 + ("" if report.complete else " — INTERRUPTED, partial report") + "\n")


def policy_summary(verdicts: PolicyVerdicts, stream: TextIO, colour: bool) -> None:
    """One line per claim of the audited policy, after the host summary."""
    stream.write(one_line(f"policy {verdicts.audited.policy.id}: {verdicts.headline}") + "\n")
    if verdicts.audited.unclaimed_hosts:
        unclaimed = one_line(", ".join(verdicts.audited.unclaimed_hosts))
        stream.write(f"  no claim applies to: {unclaimed} (not audited)\n")
    width = max(len(v.value) for v in Verdict)
    for claim in verdicts.claims:
        text = claim.verdict.value.ljust(width)
        if colour and claim.verdict.value in _COLOURS:
            text = _paint(text, Status(claim.verdict.value), colour)
        stream.write(f"  {text}  {one_line(f'{claim.claim.id}: {claim.summary}')}\n")


def waived_lines(report: RunReport, stream: TextIO, colour: bool) -> None:
    """Waived results with justification, approver and expiry; expired waivers; regressions."""
    for host in report.hosts:
        for r in host.results:
            if r.status is Status.WAIVED and r.waiver is not None:
                found = r.original_status.value if r.original_status else "not run"
                which = one_line(f"{host.name} {r.check_id}")
                why = one_line(f"until {r.waiver.expires} by {r.waiver.approver}: {r.waiver.justification}")
                stream.write(f"{which}: {_paint('waived', Status.WAIVED, colour)} ({found}) {why}\n")
    tracking = report.tracking
    for w in tracking.expired_waivers if tracking else ():
        stream.write(one_line(f"EXPIRED WAIVER {w.source}: {w.check_id} on {', '.join(w.hosts)} expired "
                              f"{w.expires}; it no longer waives") + "\n")
    if tracking is not None and tracking.baseline is not None:
        for regression in tracking.regressions:
            before = regression.baseline_status.value if regression.baseline_status else "new"
            now = _paint(regression.status.value, regression.status, colour)
            which = one_line(f"{regression.host} {regression.check_id}")
            stream.write(f"REGRESSION {which}: {before} -> {now}\n")
        for claim in tracking.claim_regressions:
            stream.write(one_line(f"REGRESSION claim {claim.claim_id}: {claim.baseline_verdict} -> "
                                  f"{claim.verdict}") + "\n")
        for lost in tracking.coverage_lost:
            stream.write(one_line(f"COVERAGE LOST {lost.host} {lost.check_id}: pass -> skip") + "\n")
        baseline = one_line(str(tracking.baseline))
        stream.write(f"against run {baseline}: {len(tracking.regressions)} regression(s)"
                     + (f", {len(tracking.claim_regressions)} claim(s) no longer hold"
                        if tracking.claim_regressions else "") + "\n")
