"""Waivers: validation with file:line errors, what they waive, expiry, run: false, and how
every report shows a waived result (terminal, JSON with its schema, JUnit, HTML)."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from auditor import inventory
from auditor.engine import registry
from auditor.tracking import waivers
from tests.conftest import REPO, run_cli
from tests.unit.test_history import audit, audit_library, make_workspace

SCHEMA = json.loads((REPO / "auditor/schema/report.schema.json").read_text())
TODAY = dt.datetime.now(dt.UTC).date()
NEXT_MONTH = (TODAY + dt.timedelta(days=30)).isoformat()
YESTERDAY = (TODAY - dt.timedelta(days=1)).isoformat()


def write_waivers(work: Path, text: str) -> Path:
    path = work / "waivers.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def load(work: Path, text: str) -> waivers.WaiverFile:
    loaded = registry.load()
    inv = inventory.load(Path(REPO / "inventory.yaml"), loaded.checks)
    inv = inventory.Inventory(inv.path, inv.sha256, inv.hosts, {"legacy": ()})
    return waivers.load(write_waivers(work, text), loaded.checks, inv)


GOOD = f"""\
waivers:
  - check: backups
    hosts: [db-*, "group:legacy"]
    justification: Replica rebuilt; dumps resume after the migration (CHG-1042)
    approver: Jane Doe (CISO)
    expires: {NEXT_MONTH}
"""


@pytest.mark.parametrize(("text", "where", "message"), [
    (GOOD.replace("    approver: Jane Doe (CISO)\n", ""), ":2: waivers[0].approver", "missing"),
    (GOOD.replace(f"    expires: {NEXT_MONTH}\n", ""), ":2: waivers[0].expires", "never open-ended"),
    (GOOD.replace("Replica rebuilt; dumps resume after the migration (CHG-1042)", '""'),
     ":4: waivers[0].justification", "is empty"),
    (GOOD.replace(NEXT_MONTH, "next year"), ":6: waivers[0].expires", "expected a date YYYY-MM-DD"),
    (GOOD.replace(NEXT_MONTH, "2025-02-30"), ":6: waivers[0].expires", "expected a date YYYY-MM-DD"),
    (GOOD.replace("check: backups", "check: backupz"), ":2: waivers[0].check", "unknown check id 'backupz'"),
    (GOOD.replace("hosts: [db-*, \"group:legacy\"]", "hosts: []"), ":3: waivers[0].hosts",
     "host-name patterns"),
    (GOOD + "    ticket: CHG-1\n", ":7: waivers[0].ticket", "unknown key"),
    (GOOD + "    run: maybe\n", ":7: waivers[0].run", "expected true or false"),
    ("waivers:\n  check: backups\n", ":2: waivers", "expected a list"),
    ("waiver:\n  - check: backups\n", ":1: waiver", "unknown top-level key"),
    ("waivers:\n  - check: [unclosed\n", ":3:", "not valid YAML"),
])
def test_a_broken_waiver_names_file_line_and_key(tmp_path, text, where, message):
    # Given a waivers file with one mistake
    # When it is loaded, Then the error names the file, the line and the key, and says what is wrong
    with pytest.raises(waivers.WaiversError) as caught:
        load(tmp_path, text)
    assert f"waivers.yaml{where}" in str(caught.value) and message in str(caught.value)


def test_a_good_waiver_reads_back(tmp_path):
    # Given a valid waiver
    loaded = load(tmp_path, GOOD)
    # Then every field is read, run defaults to true, and it matches by glob and by group
    (w,) = loaded.waivers
    assert (w.check_id, w.hosts, w.approver, w.run) == (
        "backups", ("db-*", "group:legacy"), "Jane Doe (CISO)", True)
    assert w.expires == dt.date.fromisoformat(NEXT_MONTH) and w.source.endswith("waivers.yaml:2")
    assert w.matches("db-1", ()) and w.matches("web1", ("legacy",)) and not w.matches("web1", ("web",))
    # And it holds through its expiry day, not after
    assert not w.expired_on(w.expires) and w.expired_on(w.expires + dt.timedelta(days=1))


def test_an_unknown_group_or_a_far_expiry_only_warns(tmp_path):
    # Given a waiver naming a group this inventory lacks (one waivers.yaml serves every inventory
    # in its folder) and one expiring more than a year ahead
    far = (TODAY + dt.timedelta(days=800)).isoformat()
    loaded = load(tmp_path, GOOD.replace("group:legacy", "group:nosuch") + GOOD.split("\n", 1)[1]
                  .replace(NEXT_MONTH, far))
    # Then both load, and each draws a warning naming file, line and key
    assert [w.hosts for w in loaded.waivers] == [("db-*", "group:nosuch"), ("db-*", "group:legacy")]
    (group, expiry) = loaded.warnings
    assert "waivers.yaml:3: waivers[0].hosts: no group named 'nosuch'" in group
    assert "matches no host" in group
    assert "waivers.yaml:7: expires: " + far + " is more than a year away" in expiry
    # And a waiver within the year draws none
    assert load(tmp_path, GOOD).warnings == ()


def test_a_group_of_another_inventory_does_not_stop_the_run_and_no_waivers_ignores_the_file(tmp_path):
    # Given a waivers.yaml next to the inventory with a group this inventory lacks, and beta failing
    work = make_workspace(tmp_path)
    (work / "beta.age").write_text("no 70\n")
    write_waivers(work, f"""\
        waivers:
          - check: age_file
            hosts: ["group:web", beta]
            justification: Storage migration (CHG-7)
            approver: Jane Doe
            expires: {NEXT_MONTH}
        """)
    # When a run starts, Then it audits, warns about the group, and the waiver applies by name
    done, run_dir = audit(work)
    assert done.rc == 0 and run_dir is not None, done.stderr
    assert "waivers.yaml:3: waivers[0].hosts: no group named 'web'" in done.stderr
    # When it runs with --no-waivers, Then the file is not read: beta's fail counts
    plain, _ = audit(work, "--no-waivers")
    assert plain.rc == 1 and "waivers.yaml" not in plain.stderr, plain.stderr
    # And --no-waivers with --waivers is a usage error
    both, none = audit(work, "--no-waivers", "--waivers", str(work / "waivers.yaml"))
    assert both.rc == 2 and "contradict" in both.stderr and none is None


def test_the_cli_refuses_a_broken_waivers_file_with_exit_2(tmp_path):
    # Given a broken waivers.yaml next to the inventory
    work = make_workspace(tmp_path)
    write_waivers(work, "waivers:\n  - check: age_file\n    hosts: [alpha]\n")
    # When a run starts, Then it stops before auditing with file:line and exit 2
    done, run_dir = audit(work)
    assert done.rc == 2 and "waivers.yaml:2: waivers[0].justification: missing" in done.stderr
    assert run_dir is None and "Traceback" not in done.stderr


@pytest.fixture
def waived_run(tmp_path):
    """beta fails, and is waived; alpha passes and is covered by a waiver it does not need."""
    work = make_workspace(tmp_path)
    (work / "beta.age").write_text("no 70\n")
    write_waivers(work, f"""\
        waivers:
          - check: age_file
            hosts: ["group:db", alpha]
            justification: Storage migration until month end (CHG-7)
            approver: Jane Doe
            expires: {NEXT_MONTH}
          - check: age_file
            hosts: [gamma-*]
            justification: Nothing matches this one
            approver: Jane Doe
            expires: {NEXT_MONTH}
          - check: age_file
            hosts: [beta]
            justification: An old exception
            approver: John Roe
            expires: {YESTERDAY}
        """)
    done, run_dir = audit(work, "--format", "table")
    return done, run_dir


def test_a_waiver_turns_a_fail_into_waived_everywhere(waived_run):
    done, run_dir = waived_run
    # Then nothing fails any more: exit 0
    assert done.rc == 0, done.stderr
    # And the terminal shows the waived result with what was found, the expiry, approver and reason
    assert f"beta age_file: waived (fail) until {NEXT_MONTH} by Jane Doe: Storage migration" in done.stdout
    # And report.json keeps the real status and the waiver, and follows the schema
    report = json.loads((run_dir / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    beta = next(h for h in report["hosts"] if h["name"] == "beta")["results"][0]
    alpha = next(h for h in report["hosts"] if h["name"] == "alpha")["results"][0]
    assert beta["status"] == "waived" and beta["original_status"] == "fail"
    assert beta["waiver"]["justification"] == "Storage migration until month end (CHG-7)"
    assert beta["waiver"]["approver"] == "Jane Doe" and beta["waiver"]["expires"] == NEXT_MONTH
    assert beta["waiver"]["source"].endswith("waivers.yaml:2") and beta["waiver"]["applied"] is True
    # And a passing result stays a pass, noting that the waiver was not needed
    assert alpha["status"] == "pass" and alpha["original_status"] is None
    assert alpha["waiver"]["applied"] is False
    assert report["totals"]["waived"] == 1 and report["totals"]["pass"] == 1
    # And JUnit reports it as skipped, with the justification
    junit = ET.parse(run_dir / "junit.xml").getroot()
    case = junit.find(".//testsuite[@name='beta']/testcase")
    assert case is not None and case.find("failure") is None
    skipped = case.find("skipped")
    assert skipped is not None and "Storage migration until month end (CHG-7)" in skipped.get("message", "")
    assert f"waived until {NEXT_MONTH} by Jane Doe" in skipped.get("message", "")
    # And the HTML shows the badge, what was found, and the justification
    page = (run_dir / "report.html").read_text()
    assert 'found <strong>fail</strong> · until ' + NEXT_MONTH in page
    assert "Storage migration until month end (CHG-7)" in page and "not needed, the result stands" in page


def test_an_expired_waiver_does_not_waive_and_is_flagged(waived_run):
    done, run_dir = waived_run
    report = json.loads((run_dir / "report.json").read_text())
    # Then the expired waiver is listed in report.json and warned about on stderr and in the HTML
    (expired,) = report["waivers"]["expired"]
    assert expired["justification"] == "An old exception" and expired["expires"] == YESTERDAY
    assert f"expired on {YESTERDAY}; it waives nothing" in done.stderr
    assert "Expired waiver" in (run_dir / "report.html").read_text()
    # And a waiver that matches nothing is warned about and listed
    assert "matches no result of this run" in done.stderr and "gamma-*" in done.stderr
    assert [w["hosts"] for w in report["waivers"]["unused"]] == [["gamma-*"]]


def test_only_an_expired_waiver_leaves_the_fail_standing(tmp_path):
    # Given a failing host covered only by a waiver that expired yesterday
    work = make_workspace(tmp_path)
    (work / "beta.age").write_text("no 70\n")
    write_waivers(work, f"""\
        waivers:
          - check: age_file
            hosts: [beta]
            justification: An old exception
            approver: John Roe
            expires: {YESTERDAY}
        """)
    done, run_dir = audit_library(work)
    # Then beta fails as found, and the run exits 1
    beta = next(h for h in done.json()["hosts"] if h["name"] == "beta")["results"][0]
    assert done.rc == 1 and beta["status"] == "fail" and beta["waiver"] is None


def test_a_run_false_waiver_stops_the_check_on_those_hosts(tmp_path):
    # Given a waiver with run: false for beta, and beta's file unreadable (it would error)
    work = make_workspace(tmp_path)
    (work / "beta.age").unlink()
    path = write_waivers(work, f"""\
        waivers:
          - check: age_file
            hosts: [beta]
            justification: Host decommissioned on Friday
            approver: Jane Doe
            expires: {NEXT_MONTH}
            run: false
        """)
    # When the run names the waivers file explicitly
    done, run_dir = audit_library(work, waivers=path)
    # Then beta's check is not run (no evidence for it), and reported waived "not run"
    assert done.rc == 0
    beta = next(h for h in done.json()["hosts"] if h["name"] == "beta")["results"][0]
    assert beta["status"] == "waived" and beta["original_status"] is None and beta["evidence"] == []
    assert beta["summary"].startswith(f"not run: waived until {NEXT_MONTH}")
    assert not list((run_dir / "evidence").glob("beta*/*age*"))
    assert list((run_dir / "evidence").glob("alpha*/*age*"))


def test_a_missing_explicit_waivers_file_is_an_error(tmp_path):
    work = make_workspace(tmp_path)
    done, _ = audit(work, "--waivers", str(tmp_path / "nope.yaml"))
    assert done.rc == 2 and "nope.yaml: waivers file not found" in done.stderr


def test_waiver_text_is_escaped_in_the_html(tmp_path):
    # Given a waiver whose justification carries markup
    work = make_workspace(tmp_path)
    (work / "beta.age").write_text("no 70\n")
    write_waivers(work, f"""\
        waivers:
          - check: age_file
            hosts: [beta]
            justification: "<script>alert(1)</script> see CHG-9"
            approver: "<b>Mallory</b>"
            expires: {NEXT_MONTH}
        """)
    done, run_dir = audit(work)
    page = (run_dir / "report.html").read_text()
    # Then the page shows it as text, never as markup
    assert done.rc == 0 and "<script>alert(1)</script>" not in page and "<b>Mallory</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; see CHG-9" in page


def test_evaluate_reproduces_a_waived_run(waived_run, tmp_path):
    _, run_dir = waived_run
    # When the waived run's evidence is re-judged offline
    work = run_dir.parent.parent
    done = run_cli("evaluate", str(run_dir), "--checks-dir", str(work / "checks"))
    # Then the waived fail is compared by what the check found, and every verdict reproduces
    assert done.rc == 0, done.stdout + done.stderr
    assert "CHANGED" not in done.stdout
    assert "2 of 2 verdicts reproduced" in done.stdout


def test_a_run_false_waiver_adds_nothing_where_the_policy_never_planned_the_check(tmp_path):
    # Given a policy that applies age_file to alpha only (beta is audited for another claim), and a
    # run: false waiver of age_file for every host
    work = make_workspace(tmp_path)
    (work / "policy.yaml").write_text(textwrap.dedent("""\
        format: 1
        policy: {id: demo-policy, title: Demo, document: demo.txt, language: en}
        claims:
          - id: demo
            quote: The age file says yes.
            checks: {age_file: {}}
            applies_to: [alpha]
          - id: watched
            quote: The servers are monitored.
            checks: {monitoring: {}}
            applies_to: [beta]
        """))
    path = write_waivers(work, f"""\
        waivers:
          - check: age_file
            hosts: ["*"]
            justification: Age files are being replaced (CHG-7)
            approver: Jane Doe
            expires: {NEXT_MONTH}
            run: false
        """)
    # When the run audits the policy with the waivers
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "-o",
                   str(work / "reports"), "--no-sign", "--format", "json", "--waivers", str(path),
                   "--policy", str(work / "policy.yaml"))
    # Then only alpha, where the policy planned age_file, has a waived result; beta only its own check
    assert done.rc in (0, 1), done.stderr
    results = {h["name"]: {r["check"]: r["status"] for r in h["results"]} for h in done.json()["hosts"]}
    assert results["alpha"] == {"age_file": "waived"}, results
    assert set(results["beta"]) == {"monitoring"}, results
    assert done.json()["totals"]["waived"] == 1
