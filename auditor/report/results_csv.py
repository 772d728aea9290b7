"""results.csv: one line per host × check (host, check, status, severity, summary).

The same spreadsheet rules as controls.csv (`controls_csv.cell` and `controls_csv.table`):
UTF-8 with a BOM, RFC 4180 quoting, CRLF, one line per cell, no control characters, never a
formula. `severity` is the worst of the result's findings (`findings.result_severity`),
empty when it has none.
"""

from __future__ import annotations

from auditor.model import RunReport
from auditor.report import controls_csv
from auditor.report.findings import result_severity

HEADER = ("host", "check", "status", "severity", "summary")
FILE = "results.csv"


def render(report: RunReport) -> str:
    rows = []
    for host in report.hosts:
        for r in host.results:
            severity = result_severity(r)
            values = (host.name, r.check_id, r.status.value, severity.value if severity else "", r.summary)
            rows.append(tuple(controls_csv.cell(v) for v in values))
    return controls_csv.table(HEADER, rows)
