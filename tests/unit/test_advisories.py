"""Advisories everywhere a result goes: report.json (schema-valid), the HTML card, JUnit properties,
the controls matrix and CSV, the history; and `--fail-on-severity` / `fail_on` turn them into failures.

The runs use the local transport and a small check of our own that reports one finding per line
of a file the test writes ("low weak MACs" is a low failure with its reference).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema

from tests.conftest import REPO, run_cli, run_folder

SCHEMA = json.loads((REPO / "auditor/schema/report.schema.json").read_text())

FINDINGS_CHECK = '''
"""Each line of the findings file is a failure of that severity. A test check."""
from auditor.check import Check, Findings, Param, Severity
from auditor.probes import quote, shell

CHECK = Check(id="graded_file", title="The findings file is empty", claims=("demo",),
              controls=("ISO27001:2022 A.8.9",),
              params=(Param("path", str, "/nonexistent", "the file"),),
              probes=(shell("lines", lambda p: "cat " + quote(p["path"])),))

def evaluate(out, params):
    findings = Findings()
    for line in out.require("lines").stdout.splitlines():
        severity, _, text = line.partition(" ")
        findings.fail(text, Severity(severity), ref="Mozilla OpenSSH guidelines")
    return findings.result(evidence=["lines"], ok_summary="nothing found")
'''


def workspace(tmp_path: Path, lines: str, host_vars: str = "") -> Path:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "graded_file.py").write_text(FINDINGS_CHECK)
    (tmp_path / "findings.txt").write_text(lines)
    path = tmp_path / "findings.txt"
    (tmp_path / "inv.yaml").write_text(
        f"hosts:\n  web1: {{transport: local, vars: {{graded_file: {{path: {path}{host_vars}}}}}}}\n")
    return tmp_path


def run(work: Path, *extra: str):
    out = work / "reports"
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--check",
                   "graded_file", "-o", str(out), "--no-sign", "--format", "json", *extra)
    return done, run_folder(out)


def test_a_low_finding_passes_with_an_advisory_in_every_report(tmp_path):
    # Given a host whose only finding is low
    work = workspace(tmp_path, "low MACs allow hmac-sha1\n")
    # When it is audited with the default fail_on
    done, folder = run(work)
    # Then the run passes (exit 0) and the summary names the advisory
    assert done.rc == 0, done.stderr
    data = json.loads((folder / "report.json").read_text())
    jsonschema.validate(data, SCHEMA)
    result = data["hosts"][0]["results"][0]
    assert result["status"] == "pass"
    assert result["summary"] == "nothing found (1 advisory: low: MACs allow hmac-sha1)"
    assert result["fail_on"] == "medium"
    assert result["findings"] == [{"severity": "low", "status": "fail", "text": "MACs allow hmac-sha1",
                                   "ref": "Mozilla OpenSSH guidelines", "advisory": True}]
    # And JUnit carries it as a property of the passing testcase
    case = ET.parse(folder / "junit.xml").getroot().find(".//testcase")
    assert case is not None and case.find("failure") is None
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties == {"fail_on": "medium",
                          "advisory:low": "MACs allow hmac-sha1 [Mozilla OpenSSH guidelines]"}
    # And the controls matrix counts it for the check's control, naming the host
    rows = list(csv.DictReader(io.StringIO((folder / "controls.csv").read_text(encoding="utf-8-sig"))))
    row = next(r for r in rows if r["control"] == "A.8.9")
    assert (row["result"], row["advisories"], row["advisory_on"]) == ("pass", "low: 1", "web1")
    # And the HTML card lists the finding with its severity and reference
    html = (folder / "report.html").read_text()
    assert '<span class="badge manual">low</span>' in html and "Mozilla OpenSSH guidelines" in html
    # And the history keeps the worst advisory's severity
    db = sqlite3.connect(work / "reports" / "history.sqlite")
    assert db.execute("SELECT status, advisory_severity FROM results").fetchall() == [("pass", "low")]


def test_the_findings_are_listed_worst_first_and_a_high_one_fails(tmp_path):
    # Given a low and a high finding, the low one first
    work = workspace(tmp_path, "low MACs allow hmac-sha1\nhigh PermitRootLogin yes\n")
    # When audited
    done, folder = run(work)
    # Then the check fails on the high one, and report.json lists it first
    assert done.rc == 1, done.stderr
    result = json.loads((folder / "report.json").read_text())["hosts"][0]["results"][0]
    assert result["status"] == "fail"
    assert result["summary"] == "PermitRootLogin yes (1 advisory: low: MACs allow hmac-sha1)"
    assert [(f["severity"], f["advisory"]) for f in result["findings"]] == [("high", False), ("low", True)]
    html = (folder / "report.html").read_text()
    assert html.index("PermitRootLogin yes</td>") < html.index("MACs allow hmac-sha1</td>")


def test_fail_on_severity_low_makes_the_advisory_a_failure_and_a_hosts_own_fail_on_wins(tmp_path):
    # Given a host whose only finding is low
    work = workspace(tmp_path, "low MACs allow hmac-sha1\n")
    # When audited with --fail-on-severity low
    done, folder = run(work, "--fail-on-severity", "low")
    # Then it fails, and the report records the parameter that graded it
    assert done.rc == 1, done.stderr
    result = json.loads((folder / "report.json").read_text())["hosts"][0]["results"][0]
    assert (result["status"], result["params"]["fail_on"], result["fail_on"]) == ("fail", "low", "low")
    # And a host that sets its own fail_on keeps it over the flag
    (tmp_path / "reports").rename(tmp_path / "reports-1")
    (tmp_path / "checks").rename(tmp_path / "checks-1")
    (tmp_path / "findings.txt").unlink()
    work = workspace(tmp_path, "low MACs allow hmac-sha1\n", host_vars=", fail_on: medium")
    done, _ = run(work, "--fail-on-severity", "low")
    assert done.rc == 0, done.stderr


def test_a_fail_on_that_is_not_a_severity_is_refused(tmp_path):
    # Given an inventory and a flag that name no severity
    work = workspace(tmp_path, "", host_vars=", fail_on: loud")
    # When run, Then each is refused with one line and exit 2
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--no-sign")
    assert done.rc == 2
    assert "fail_on: must be one of critical, high, medium, low, info, got 'loud'" in done.stderr
    assert "Traceback" not in done.stderr
    flag = run_cli("run", "-i", str(work / "inv.yaml"), "--fail-on-severity", "loud")
    assert flag.rc == 2 and "--fail-on-severity" in flag.stderr
