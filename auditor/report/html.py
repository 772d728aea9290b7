"""report.html: self-contained (no network resources), autoescaped, printable."""

from __future__ import annotations

import json
from typing import Any

import jinja2

from auditor import claim_verdicts
from auditor.check import Status
from auditor.model import RunReport
from auditor.report import trend

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("auditor", "report/templates"),
    autoescape=True,  # host output is hostile input
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)



def _plain(value: Any) -> str:
    """A parameter or measured value as people write it: strings bare, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


_env.filters["plain"] = _plain
_env.filters["trend_svg"] = trend.svg


def render(report: RunReport) -> str:
    template = _env.get_template("report.html.j2")
    check_ids = [c.id for c in report.checks]
    matrix = [
        (host, [next((r for r in host.results if r.check_id == cid), None) for cid in check_ids])
        for host in report.hosts
    ]
    policy_view = claim_verdicts.judge(report, report.policy) if report.policy else None
    return template.render(report=report, totals=report.totals(), matrix=matrix,
                           checks=report.checks, Status=Status, policy_view=policy_view,
                           controls=claim_verdicts.controls_matrix(report, policy_view),
                           trend_names={c.id: c.trend_values[0] for c in report.checks if c.trend_values})
