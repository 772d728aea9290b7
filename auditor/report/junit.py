"""junit.xml for CI systems: one testcase per host × check.

Well-formed XML 1.0 whatever a host sent: the document passes through `visible` whole, which
shows as `\x1b`-style text every character XML forbids (NUL, ESC, lone surrogates, U+FFFE...),
so a CI system never rejects the result for a byte in a log file's name or a sudo message.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from auditor.check import Status, by_severity
from auditor.model import CheckResult, RunReport
from auditor.report.visible import visible


def render(report: RunReport) -> str:
    totals = report.totals()
    suites = ET.Element("testsuites", name="auditor", tests=str(sum(len(h.results) for h in report.hosts)))
    for host in report.hosts:
        counts = {s: sum(1 for r in host.results if r.status is s) for s in Status}
        suite = ET.SubElement(
            suites, "testsuite", name=host.name, tests=str(len(host.results)),
            failures=str(counts[Status.FAIL]), errors=str(counts[Status.ERROR]),
            skipped=str(counts[Status.SKIP] + counts[Status.MANUAL] + counts[Status.WAIVED]),
            time=_seconds(host.duration_ms), timestamp=report.started,
        )
        for result in host.results:
            case = ET.SubElement(suite, "testcase", classname=host.name, name=result.check_id)
            _properties(case, result)
            text = "\n".join((result.summary, *result.details))
            if result.status is Status.FAIL:
                ET.SubElement(case, "failure", message=result.summary).text = text
            elif result.status is Status.ERROR:
                ET.SubElement(case, "error", message=result.summary).text = text
            elif result.status is Status.WAIVED and result.waiver is not None:
                w = result.waiver
                skipped = ET.SubElement(case, "skipped", message=f"waived until {w.expires} by {w.approver}: "
                                        f"{w.justification}")
                skipped.text = f"found: {result.original_status or 'not run'}: {text}"
            elif result.status in (Status.SKIP, Status.MANUAL, Status.WAIVED):
                ET.SubElement(case, "skipped", message=f"{result.status.value}: {result.summary}")
            else:
                ET.SubElement(case, "system-out").text = text
    suites.set("failures", str(totals["fail"]))
    suites.set("errors", str(totals["error"]))
    ET.indent(suites)
    document = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    return visible(document)


def _seconds(milliseconds: float) -> str:
    """A duration as JUnit's `time`; one that is not a finite number (a merged sub-pack's) is 0."""
    return f"{milliseconds / 1000:.3f}" if math.isfinite(milliseconds) else "0.000"


def _properties(case: ET.Element, result: CheckResult) -> None:
    """Each finding as a property named by its kind and severity ("advisory:low"), worst first;
    the value is its text and, in brackets, the reference that sets the severity."""
    if not result.findings:
        return
    properties = ET.SubElement(case, "properties")
    ET.SubElement(properties, "property", name="fail_on", value=result.fail_on.value)
    for finding in by_severity(result.findings):
        value = finding.text + (f" [{finding.ref}]" if finding.ref else "")
        ET.SubElement(properties, "property", name=f"{finding.kind(result.fail_on)}:{finding.severity}",
                      value=value)
