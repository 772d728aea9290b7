"""The findings a report leads with: identical results across hosts grouped, worst severity
first, a host that was not reached once, each linked to its result card."""

from __future__ import annotations

import re

from auditor.check import Finding, Severity, Status
from auditor.model import CheckInfo, CheckResult, HostReport, RunReport
from auditor.report import findings, html
from auditor.transports.base import HostErrorKind

CHECKS = (CheckInfo("ssh_hardening", "SSH hardening", (), (), ""),
          CheckInfo("backups", "Backups", (), (), ""), CheckInfo("tls", "TLS", (), (), ""))


def fleet() -> RunReport:
    """web-01..web-40 fail ssh_hardening on a medium finding; db-1 fails backups on a critical one,
    has a low advisory on tls; dead was not reached."""
    medium = CheckResult("ssh_hardening", "SSH hardening", Status.FAIL, "PasswordAuthentication yes",
                         findings=(Finding(Status.FAIL, "PasswordAuthentication yes", Severity.MEDIUM),))
    webs = tuple(HostReport(f"web-{n:02d}", "10.0.0.1", "ssh", True, None, None, {},
                            (medium, CheckResult("backups", "Backups", Status.PASS, "fresh")), 1.0)
                 for n in range(1, 41))
    critical = CheckResult("backups", "Backups", Status.FAIL, "no backup",
                           findings=(Finding(Status.FAIL, "no backup job", Severity.CRITICAL),))
    advisory = CheckResult("tls", "TLS", Status.PASS, "TLS 1.2+", fail_on=Severity.MEDIUM,
                           findings=(Finding(Status.FAIL, "CBC suites offered", Severity.LOW),))
    db = HostReport("db-1", "10.0.0.2", "ssh", True, None, None, {}, (critical, advisory), 1.0)
    dead = HostReport("dead", "10.0.0.3", "ssh", False, "connection refused", HostErrorKind.UNREACHABLE, {},
                      (CheckResult("backups", "Backups", Status.ERROR, "not checked: unreachable"),), 1.0)
    return RunReport("r1", "t", "t", "1", "me", "inv.yaml", "0" * 64, CHECKS, (*webs, db, dead), True)


def test_findings_are_grouped_across_hosts_and_sorted_worst_first():
    # Given the fleet
    # When its findings are listed
    found = findings.fleet_findings(fleet())
    # Then the unreached host comes first, then critical, medium (40 hosts as one), low advisory
    assert [(f.group.check_id, f.status, f.severity.value if f.severity else None) for f in found] == [
        ("connection", "error", None), ("backups", "fail", "critical"), ("ssh_hardening", "fail", "medium"),
        ("tls", "advisory", "low")]
    assert found[2].group.hosts == "web-01–web-40 (40 hosts)"
    assert found[3].group.summary == "low: CBC suites offered"


def test_the_html_report_leads_with_the_findings_linked_to_their_result_cards():
    # Given the fleet's report
    page = html.render(fleet())
    # Then the findings section sits under the totals and above the matrix and every table
    assert page.index('<p class="totals">') < page.index('<h2 id="findings">') < page.index("<table")
    section = page[page.index('<h2 id="findings">'):page.index('<h2 id="matrix">')]
    # And the 40 hosts are one finding naming them as a range, each host's card linked behind it
    assert section.count("PasswordAuthentication yes") == 1 and "web-01–web-40 (40 hosts)" in section
    assert len(re.findall(r'href="#host-\d+-ssh_hardening"', section)) == 40
    # And the single-host critical finding links to its card, with its severity badge first
    assert re.search(r'<span class="badge sev-critical">critical</span> <span class="badge fail">fail</span>',
                     section)
    assert 'On <a href="#host-41-backups">db-1</a>: no backup' in section
    # And every badge class the page uses has a style
    styles = page[:page.index("</style>")]
    for badge in set(re.findall(r'class="badge ([\w-]+)"', page)):
        assert re.search(rf"\.{badge}\s*\{{", styles), badge
