"""Escape sequences a real host holds (in a log file's name and its lines) reach every report and
the console shown as text, never acted on: junit.xml parses with a strict XML parser, report.html
and report.json hold no raw control or bidi character, stdout none of the host's (issue 16, class 6).

The host is a real sshd from the fleet harness with a planted log whose name and content carry
ESC ]0;…BEL, ESC [2J, C1 CSI U+009B, RIGHT-TO-LEFT OVERRIDE U+202E and a stray CR; the check
that quotes them is passwords_not_logged, through the CLI over SSH.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from auditor.report.visible import UNSAFE
from tests.integration import fleetrun
from tests.integration.sshhosts import HostSpec

pytestmark = pytest.mark.integration
CHECK = "passwords_not_logged"
NAME = "/var/log/shop/app\x1b]0;pwned\x07\u202egol.txt"  # shows as app…txt.log with the override
LINE = "2026-03-02 10:00:00 login password=Hostile-Pw-77 user=bob \x1b[2J\x9b31m\r done\n"


def _raw(text: str) -> list[str]:
    return sorted({repr(m.group()) for m in UNSAFE.finditer(text)})


@pytest.fixture(scope="module")
def run(sshd_fleet: fleetrun.FleetOpener) -> fleetrun.AuditRun:
    with sshd_fleet("hostile-text") as (fleet, tmp):
        fleet.start(HostSpec("escapes", files={NAME: LINE}, replace_dirs=("/var/log",)))
        inventory = fleetrun.write_inventory(tmp / "inventory.yaml", fleetrun.fleet_hosts(fleet))
        return fleetrun.audit(inventory, tmp / "reports", CHECK, "--format", "table")


def test_the_host_really_sent_the_escapes(run: fleetrun.AuditRun) -> None:
    # Given the run's result for the host with the planted log
    result = run.by_host["escapes"]
    # Then the check found the password in it, and its details quote the file's name
    assert result["status"] == "fail", result
    assert any("app\x1b]0;pwned\x07\u202egol.txt" in line for line in result["details"]), result["details"]


def test_junit_parses_strictly_and_shows_the_name_as_text(run: fleetrun.AuditRun) -> None:
    # Given junit.xml
    data = (run.run_dir / "junit.xml").read_bytes()
    # When a strict XML parser reads it
    root = ET.fromstring(data)
    # Then the failure names the file with its escapes as text, and nothing of the host's is raw
    failure = root.find(".//testcase[@name='passwords_not_logged']/failure")
    assert failure is not None and "app\\x1b]0;pwned\\x07\\u202egol.txt" in (failure.text or "")
    assert _raw(data.decode("utf-8")) == []


def test_html_and_json_hold_no_raw_control_or_bidi_character(run: fleetrun.AuditRun) -> None:
    # Given report.html and report.json
    page = (run.run_dir / "report.html").read_text(encoding="utf-8")
    text = (run.run_dir / "report.json").read_text(encoding="utf-8")
    # Then neither holds a raw one, the page shows the name as text, the JSON reads back as it
    assert _raw(page) == [] and _raw(text) == []
    assert "app\\x1b]0;pwned\\x07\\u202egol.txt" in page
    assert "\x1b" not in text and "\u202e" not in text


def test_the_console_shows_the_name_and_no_escape_sequence_of_the_hosts(run: fleetrun.AuditRun) -> None:
    # Given what `auditor run --format table` printed (NO_COLOR: none of our colours either)
    out = run.result.stdout
    # Then the finding is there, and no character of the host's acts on the terminal
    assert "passwords_not_logged: fail:" in out
    assert _raw(out) == [], out


def test_the_planted_password_beside_the_escapes_is_masked_everywhere(run: fleetrun.AuditRun) -> None:
    # Given the run folder and what the command printed
    # Then the password on the line with the escape sequences left the host nowhere
    fleetrun.assert_nowhere_in(run.run_dir, "Hostile-Pw-77")
    assert "Hostile-Pw-77" not in run.result.stdout + run.result.stderr
