"""report.html in a real browser: headless Chromium (Debian's `chromium`) prints a one-host
report to a few PDF pages and a PNG, the findings come before the first table, and the page
asks for nothing over the network (Chromium's own net log lists every request it made)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.check import Finding, Severity, Status
from auditor.engine import registry
from auditor.model import CheckInfo, CheckResult, EvidenceRef, HostReport, RunReport
from auditor.report import html

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM or not shutil.which("pdftotext"),
                                reason="needs chromium and poppler-utils (scripts/test.sh installs them)")
# Measured: 6 pages (9 before the print rules hid the reference sections); one spare for a new check
MAX_PAGES = 7


def one_host_report() -> RunReport:
    """Every shipped check on one host, in every status, with findings of every severity."""
    checks = tuple(CheckInfo(c.id, c.title, c.claims, c.controls, c.description, c.trend_values)
                   for c in sorted(registry.load().checks.values(), key=lambda c: c.id))
    statuses = (Status.FAIL, Status.PASS, Status.SKIP, Status.MANUAL, Status.ERROR, Status.WAIVED)
    results = []
    for index, check in enumerate(checks):
        status = statuses[index % len(statuses)]
        worst = Finding(Status.FAIL, f"{check.id}: the first thing wrong", Severity.CRITICAL, "CIS 5.2.1")
        lesser = Finding(Status.FAIL, f"{check.id}: a lesser thing", Severity.LOW, "vendor guidance")
        findings = (worst, lesser) if status is Status.FAIL else ()
        evidence = (EvidenceRef(f"{check.id}.probe", f"evidence/web-01/{check.id}.json", "a" * 64, 100),)
        summary = f"{check.id} is {status.value} on this host"
        results.append(CheckResult(check.id, check.title, status, summary,
                                   details=(f"{check.id}: one detail",), claims=check.claims,
                                   controls=check.controls, evidence=evidence, findings=findings))
    host = HostReport("web-01", "10.0.0.1", "ssh", True, None, None, {"os": "Debian 12"}, tuple(results), 8.0)
    return RunReport("20260101T000000Z-abcdef", "2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z", "1.0",
                     "me@here", "inventory.yaml", "0" * 64, checks, (host,), True)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No DNS and a fresh profile: nothing reaches a network even if the page asked
    return subprocess.run([CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                           f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
                           "--no-first-run", "--disable-background-networking", "--disable-sync",
                           "--disable-component-update", *args],
                          capture_output=True, text=True, timeout=180, check=True)


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chromium")
    page = tmp / "report.html"
    page.write_text(html.render(one_host_report()), encoding="utf-8")
    chromium(tmp / "profile", "--no-pdf-header-footer", f"--print-to-pdf={tmp / 'report.pdf'}",
             f"--log-net-log={tmp / 'netlog.json'}", page.as_uri())
    chromium(tmp / "profile", "--window-size=1280,1600", f"--screenshot={tmp / 'report.png'}", page.as_uri())
    # The control: a page that does ask for an image over the network, so the log can show one
    control = tmp / "control.html"
    control.write_text('<!DOCTYPE html><img src="http://auditor-test.invalid/x.png">', encoding="utf-8")
    chromium(tmp / "control-profile", "--no-pdf-header-footer", f"--print-to-pdf={tmp / 'control.pdf'}",
             f"--log-net-log={tmp / 'control-netlog.json'}", control.as_uri())
    return tmp


def page_requests(net_log: Path) -> set[str]:
    """The URLs of the requests a page started: Chromium's own (time, updates, accounts) have
    no initiating origin; a file:// page's requests have the opaque origin "null"."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return {event["params"]["url"] for event in log["events"]
            if event["type"] == start_job and "url" in event.get("params", {})
            and event["params"].get("initiator") != "not an origin"}


def poppler(tool: str, pdf: Path, *args: str) -> str:
    return subprocess.run([tool, *args, str(pdf), *(["-"] if tool == "pdftotext" else [])],
                          capture_output=True, text=True, check=True).stdout


def test_a_one_host_report_prints_to_a_few_pages_with_the_matrix_on_a_landscape_page(printed):
    # Given the one-host report printed to PDF by Chromium
    pdf = printed / "report.pdf"
    info = poppler("pdfinfo", pdf)
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE)[1])
    # Then it fits in a few pages, and the page with the matrix is landscape (wider than tall)
    assert 2 <= pages <= MAX_PAGES, info
    page = next((n for n in range(1, pages + 1)
                 if "Hosts × checks" in poppler("pdftotext", pdf, "-f", str(n), "-l", str(n))), None)
    assert page is not None, "no page shows the host × check matrix"
    size = poppler("pdfinfo", pdf, "-f", str(page), "-l", str(page))
    width, height = map(float, re.search(rf"Page\s+{page} size:\s+([\d.]+) x ([\d.]+)", size).groups())
    assert width > height, size
    # And the first page is portrait
    assert re.search(r"Page\s+1 size:\s+594", poppler("pdfinfo", pdf, "-f", "1", "-l", "1")), info


def test_the_findings_come_first_worst_severity_first_above_any_table(printed):
    # Given the PDF's text in reading order
    text = poppler("pdftotext", printed / "report.pdf")
    # Then the findings heading and a critical failure come before the matrix and the ISO table,
    # and the first page already shows a finding
    first_page = text.split("\f")[0]
    assert "Findings" in first_page and "critical" in first_page
    assert text.index("Findings") < text.index("Hosts × checks") < text.index("Annex A controls")
    # And in the document itself, the findings section comes before the first <table>
    source = (printed / "report.html").read_text()
    assert source.index('<h2 id="findings">') < source.index("<table")


def test_the_page_requests_nothing_from_the_network(printed):
    # Given Chromium's net logs of printing the report, and of the control page with a remote image
    # Then the control's request shows in its log, and the report started none
    assert page_requests(printed / "control-netlog.json") == {"http://auditor-test.invalid/x.png"}
    assert page_requests(printed / "netlog.json") == set()
    # And the page names no external resource (scripts, styles, fonts, images) for a browser to fetch
    source = (printed / "report.html").read_text()
    assert not re.search(r"""(?:src|href|action|data)\s*=\s*["']?\s*(?:[a-z]+:)?//""", source, re.IGNORECASE)
    assert not re.search(r"@import|url\(\s*['\"]?(?:[a-z]+:)?//", source, re.IGNORECASE)


def test_the_screenshot_is_a_full_size_png(printed):
    # Given the 1280 × 1600 screenshot
    data = (printed / "report.png").read_bytes()
    # Then it is a PNG of that size (looked at by eye: findings under the totals, worst first)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1280 and int.from_bytes(data[20:24], "big") == 1600
