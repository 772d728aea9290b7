"""results.csv: one spreadsheet-safe line per host × check, with the worst finding's severity,
written into every run folder and listed (so signed) by its manifest."""

from __future__ import annotations

import csv
import io
import json
import re

from auditor.check import Finding, Severity, Status
from auditor.model import CheckInfo, CheckResult, HostReport, RunReport
from auditor.report import results_csv
from tests.conftest import run_folder

CHECKS = (CheckInfo("ssh_hardening", "SSH", (), (), ""), CheckInfo("backups", "Backups", (), (), ""))


def read_csv(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def run(*hosts: HostReport) -> RunReport:
    return RunReport("20260101T000000Z-abcdef", "t", "t", "0", "me", "i", "0" * 64, CHECKS, hosts, True)


def test_each_host_and_check_is_one_row_with_its_worst_findings_severity():
    # Given a host whose ssh check fails on a medium and a critical finding (and notes an info),
    # and whose backups pass with a low advisory; a second host whose backups failed without findings
    ssh = CheckResult("ssh_hardening", "SSH", Status.FAIL, "2 weak settings, one \"quoted\"",
                      findings=(Finding(Status.FAIL, "weak MAC", Severity.MEDIUM),
                                Finding(Status.FAIL, "root login", Severity.CRITICAL),
                                Finding(Status.PASS, "a note", Severity.INFO)))
    backups = CheckResult("backups", "Backups", Status.PASS, "fresh",
                          findings=(Finding(Status.FAIL, "no offsite copy", Severity.LOW),))
    web = HostReport("web1", "10.0.0.1", "ssh", True, None, None, {}, (ssh, backups), 1.0)
    db = HostReport("db1", "10.0.0.2", "ssh", True, None, None, {},
                    (CheckResult("backups", "Backups", Status.FAIL, "none, since 40 days"),), 1.0)
    # When results.csv is rendered and read back as a spreadsheet would
    text = results_csv.render(run(web, db))
    rows = read_csv(text)
    # Then the header, then one row per host × check in report order, quotes doubled, CRLF line ends
    assert rows == [["host", "check", "status", "severity", "summary"],
                    ["web1", "ssh_hardening", "fail", "critical", "2 weak settings, one \"quoted\""],
                    ["web1", "backups", "pass", "low", "fresh"],
                    ["db1", "backups", "fail", "high", "none, since 40 days"]]
    assert '"2 weak settings, one ""quoted"""' in text
    assert text.count("\r\n") == 4 and "\n" not in text.replace("\r\n", "")


def test_a_result_without_findings_that_did_not_fail_has_no_severity():
    # Given a skipped result and an error without findings
    host = HostReport("h", "127.0.0.1", "local", True, None, None, {},
                      (CheckResult("ssh_hardening", "SSH", Status.SKIP, "no sshd"),
                       CheckResult("backups", "Backups", Status.ERROR, "probe failed")), 1.0)
    # When rendered
    rows = read_csv(results_csv.render(run(host)))
    # Then their severity cells are empty
    assert [r[3] for r in rows[1:]] == ["", ""]


def test_hostile_names_and_summaries_cannot_become_formulas_or_carry_control_characters():
    # Given a host named like a formula, and summaries from host output with a formula, control
    # characters and line breaks
    evil = "=HYPERLINK(\"http://x\",\"y\")"
    host = HostReport(evil, "127.0.0.1", "local", True, None, None, {},
                      (CheckResult("ssh_hardening", "SSH", Status.FAIL, " \t@SUM(1)\r\nnext\x1b[31m\x00"),
                       CheckResult("backups", "Backups", Status.FAIL, "-2+3")), 1.0)
    # When results.csv is rendered
    text = results_csv.render(run(host))
    rows = read_csv(text)
    # Then every cell that would start a formula starts with a quote, on one line, with no control character
    assert rows[1] == ["'" + evil, "ssh_hardening", "fail", "high", "'  @SUM(1) next[31m"]
    assert rows[2][4] == "'-2+3"
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text.replace("\r\n", ""))


def test_a_run_folder_has_results_csv_and_its_manifest_signs_it(tmp_path, cli):
    # Given a local run
    (tmp_path / "inv.yaml").write_text("hosts:\n  here:\n    transport: local\n")
    cli("run", "-i", str(tmp_path / "inv.yaml"), "-o", str(tmp_path / "out"), "--check", "disk_encryption")
    run_dir = run_folder(tmp_path / "out")
    # Then results.csv is in the folder, with one row for the host's check, and the manifest lists it
    rows = read_csv((run_dir / "results.csv").read_text(encoding="utf-8"))
    assert rows[0] == list(results_csv.HEADER) and [r[:2] for r in rows[1:]] == [["here", "disk_encryption"]]
    assert "results.csv" in json.dumps(json.loads((run_dir / "manifest.json").read_text()))
