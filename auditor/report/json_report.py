"""report.json: the machine-readable report. Its schema is auditor/schema/report.schema.json.

Standard JSON whatever a host or an input file held: a number that is not finite (NaN, Infinity
from a YAML `.nan`, a check's ratio, a merged sub-pack's duration) is null, and the characters a
terminal or a browser would act on (C1 controls, bidi overrides, lone surrogates: `visible.UNSAFE`)
are written as `\\u` escapes, which read back as the same text.
"""

from __future__ import annotations

import io
from typing import Any, TextIO, cast

from auditor.check import Finding, Severity, by_severity
from auditor.evidence import atomic
from auditor.evidence.redact import mask_all
from auditor.model import CheckResult, HostReport, RunReport, Tracking, WaiverNote
from auditor.policy.verdicts import ClaimVerdict, PolicyVerdicts, judge
from auditor.report.visible import json_escaped

SCHEMA_VERSION = 1


def _result(r: CheckResult) -> dict[str, Any]:
    return {
        "check": r.check_id,
        "title": r.title,
        "status": r.status.value,
        "summary": r.summary,
        "details": list(r.details),
        "claims": list(r.claims),
        "controls": list(r.controls),
        "params": dict(r.params),
        "values": dict(r.values),
        "evidence": [
            {"probe": e.probe, "path": e.path, "sha256": e.sha256, "size": e.size} for e in r.evidence
        ],
        "original_status": r.original_status.value if r.original_status else None,
        "waiver": _waiver(r.waiver) if r.waiver else None,
        "fail_on": r.fail_on.value,
        "findings": [_finding(f, r.fail_on) for f in by_severity(r.findings)],
    }


def _finding(f: Finding, fail_on: Severity) -> dict[str, Any]:
    return {"severity": f.severity.value, "status": f.status.value, "text": f.text, "ref": f.ref,
            "advisory": f.advisory(fail_on)}


def _host(h: HostReport) -> dict[str, Any]:
    return {
        "name": h.name,
        "address": h.address,
        "transport": h.transport,
        "reachable": h.reachable,
        "status": h.status.value,
        "error": h.error,
        "error_kind": h.error_kind,
        "duration_ms": h.duration_ms,
        "redactions": h.redactions,
        "facts": dict(sorted(h.facts.items())),
        "results": [_result(r) for r in h.results],
    }


def _claim(v: ClaimVerdict) -> dict[str, Any]:
    c = v.claim
    return {
        "id": c.id,
        "quote": c.quote,
        "gloss": c.gloss,
        "source": c.source,
        # A claims file's parameters are masked as a secret inventory parameter is (recorded_params)
        "checks": [{"check": check_id, "params": mask_all(dict(params))}
                   for check_id, params in c.checks.items()],
        "applies_to": list(c.applies_to),
        "controls": list(c.controls),
        "manual": c.manual,
        "verdict": v.verdict.value,
        "summary": v.summary,
        "hosts": list(v.hosts),
        "hosts_by_state": {state: list(hosts) for state, hosts in v.hosts_by_state.items()},
        "result_counts": dict(v.counts),
        "results": [{"host": r.host, "check": r.check_id, "status": r.status, "summary": r.summary,
                     "anchor": r.anchor} for r in v.results],
        "evidence": list(v.evidence),
    }


def _policy(verdicts: PolicyVerdicts) -> dict[str, Any]:
    p = verdicts.audited.policy
    return {
        "id": p.id,
        "title": p.title,
        "document": p.document,
        "language": p.language,
        "path": p.path,
        "sha256": p.sha256,
        "headline": verdicts.headline,
        "verdicts": dict(verdicts.counts),
        "claims": [_claim(v) for v in verdicts.claims],
        "unclaimed_hosts": list(verdicts.audited.unclaimed_hosts),
        "warnings": mask_all(list(verdicts.audited.warnings)),  # one may quote a claim's parameter
    }


def to_dict(report: RunReport, verdicts: PolicyVerdicts | None = None) -> dict[str, Any]:
    """The report as report.json holds it; `verdicts` are the run's claim verdicts when the caller
    has them already (judged from the report otherwise)."""
    return {**_document(report, verdicts), "hosts": [_host(h) for h in report.hosts]}


def _document(report: RunReport, verdicts: PolicyVerdicts | None) -> dict[str, Any]:
    """to_dict with its hosts as a generator: jsontext.dump writes them one host at a time."""
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "id": report.run_id,
            "started": report.started,
            "finished": report.finished,
            "complete": report.complete,
            "tool_version": report.tool_version,
            "operator": report.operator,
            "batched": report.batched,
            "inventory": {"path": report.inventory_path, "sha256": report.inventory_sha256},
            "redactions": report.redactions,
            "signing": {"signed": report.signer_fingerprint is not None,
                        "fingerprint": report.signer_fingerprint},
            "resources": None if report.resources is None else {
                "cpu_seconds": report.resources.cpu_seconds,
                "children_cpu_seconds": report.resources.children_cpu_seconds,
                "rss_bytes": report.resources.rss_bytes},
        },
        "checks": [
            {"id": c.id, "title": c.title, "claims": list(c.claims), "controls": list(c.controls),
             "description": c.description}
            for c in report.checks
        ],
        "hosts": (_host(h) for h in report.hosts),
        "totals": report.totals(),
        **_tracking(report.tracking),
    }
    if report.policy is not None:  # no empty section without a policy
        data["policy"] = _policy(verdicts or judge(report, report.policy))
    return data  # a number JSON cannot hold (NaN, infinity) becomes null, with a warning, in render()


def _waiver(w: WaiverNote) -> dict[str, Any]:
    return {"check": w.check_id, "hosts": list(w.hosts), "justification": w.justification,
            "approver": w.approver, "expires": w.expires, "source": w.source, "applied": w.applied}


def _tracking(t: Tracking | None) -> dict[str, Any]:
    """Waivers, the baseline with its regressions, and alert outcomes (scheduled audits)."""
    t = t or Tracking()
    return {
        "waivers": {"file": t.waiver_file, "expired": [_waiver(w) for w in t.expired_waivers],
                    "unused": [_waiver(w) for w in t.unused_waivers]},
        "baseline": None if t.baseline_source is None else {
            "requested": t.baseline_source, "run": t.baseline,
            "regressions": [{"host": r.host, "check": r.check_id, "status": r.status.value,
                             "baseline_status": r.baseline_status.value if r.baseline_status else None,
                             "summary": r.summary} for r in t.regressions],
            "claim_regressions": [{"claim": c.claim_id, "verdict": c.verdict,
                                   "baseline_verdict": c.baseline_verdict, "summary": c.summary}
                                  for c in t.claim_regressions],
            "coverage_lost": [{"host": r.host, "check": r.check_id, "summary": r.summary}
                              for r in t.coverage_lost]},
        "notifications": [{"target": n.target, "ok": n.ok, "attempts": n.attempts, "detail": n.detail}
                          for n in t.notifications],
    }


def render(report: RunReport, verdicts: PolicyVerdicts | None = None) -> str:
    out = io.StringIO()
    write(report, verdicts, out)
    return out.getvalue()


def write(report: RunReport, verdicts: PolicyVerdicts | None, out: TextIO) -> None:
    """report.json written as it is made (at 1,000 hosts the whole document as objects and text
    took ~300 MB at once), every unsafe character written as its `\\u` escape."""
    escaping = cast(TextIO, _JsonEscaping(out))
    atomic.dump_json(lambda: _document(report, verdicts), escaping, where="report.json", indent=2,
                     default=str)


class _JsonEscaping:
    """A text file whose writes have each unsafe character as its JSON `\\u` escape: outside strings
    JSON is ASCII, so every such character is inside one and its escape means the same."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return self._out.write(json_escaped(text))

    def tell(self) -> int:
        return self._out.tell()

    def seek(self, offset: int) -> int:
        return self._out.seek(offset)

    def truncate(self) -> int:
        return self._out.truncate()
