"""The ISO 27001:2022 controls matrix: rows, order, and a CSV that a spreadsheet opens safely."""

from __future__ import annotations

import csv
import io
import re
import sys
from html.parser import HTMLParser

from auditor.check import Status
from auditor.engine import registry
from auditor.model import (
    AuditedPolicy,
    CheckInfo,
    CheckResult,
    Claim,
    EvidenceRef,
    HostReport,
    Policy,
    RunReport,
)
from auditor.policy import iso27001
from auditor.policy.verdicts import controls_matrix, judge
from auditor.report import controls_csv, html

CHECKS = (
    CheckInfo("backups", "Backups", ("daily-backup",), ("ISO27001:2022 A.8.13",), ""),
    CheckInfo("log_retention", "Logs", ("log-retention",), ("ISO27001:2022 A.8.15",), ""),
    CheckInfo("password_hashing", "Hashing", ("salted-password-hashing",),
              ("ISO27001:2022 A.8.5", "ISO27001:2022 A.5.17", "ISO27001:2022 A.8.24"), ""),
)


def result(host: str, check_id: str, status: Status) -> CheckResult:
    ref = EvidenceRef(f"{check_id}.p", f"evidence/{host}/{check_id}.p.json", "0" * 64, 1)
    return CheckResult(check_id, check_id, status, f"{check_id} {status.value}", evidence=(ref,))


def host(name: str, **statuses: Status) -> HostReport:
    return HostReport(name, "10.0.0.1", "ssh", True, None, None, {},
                      tuple(result(name, c, s) for c, s in statuses.items()), 1.0)


def run(*hosts: HostReport, policy: AuditedPolicy | None = None) -> RunReport:
    return RunReport("20260101T000000Z-abcdef", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "0.1.0",
                     "me@here", "inv.yaml", "0" * 64, CHECKS, hosts, True, policy=policy)


FLEET = (host("web1", backups=Status.PASS, log_retention=Status.PASS, password_hashing=Status.PASS),
         host("db1", backups=Status.FAIL, log_retention=Status.SKIP, password_hashing=Status.ERROR))


def test_the_annex_has_93_controls_sorted_by_number():
    # Given the Annex A table, When its ids are sorted the way reports sort them
    ids = sorted(iso27001.CONTROLS, key=iso27001.sort_key)
    # Then there are 93 (37 + 8 + 14 + 34), numbered without gaps, A.8.2 before A.8.10
    assert len(ids) == 93
    assert [sum(1 for i in ids if i.startswith(f"A.{theme}.")) for theme in (5, 6, 7, 8)] == [37, 8, 14, 34]
    assert ids.index("A.5.14") < ids.index("A.8.2") < ids.index("A.8.10")
    assert iso27001.title("ISO27001:2022 A.8.24") == "Use of cryptography"
    assert iso27001.sort_key("A.1") < iso27001.sort_key("NIST AC-2")  # others go last


# Titles as ISO/IEC 27001:2022 Table A.1 gives them, for the controls whose names are long enough to be
# tempting to shorten (a Statement of Applicability annex must cite the standard's own words)
LONG_TITLES = {
    "A.5.9": "Inventory of information and other associated assets",
    "A.5.10": "Acceptable use of information and other associated assets",
    "A.5.20": "Addressing information security within supplier agreements",
    "A.5.21": "Managing information security in the ICT supply chain",
    "A.5.22": "Monitoring, review and change management of supplier services",
    "A.5.23": "Information security for use of cloud services",
    "A.5.24": "Information security incident management planning and preparation",
    "A.5.25": "Assessment and decision on information security events",
    "A.5.31": "Legal, statutory, regulatory and contractual requirements",
    "A.5.34": "Privacy and protection of PII",
    "A.5.36": "Compliance with policies, rules and standards for information security",
    "A.6.3": "Information security awareness, education and training",
    "A.6.5": "Responsibilities after termination or change of employment",
    "A.7.5": "Protecting against physical and environmental threats",
    "A.8.14": "Redundancy of information processing facilities",
    "A.8.27": "Secure system architecture and engineering principles",
    "A.8.29": "Security testing in development and acceptance",
    "A.8.31": "Separation of development, test and production environments",
    "A.8.34": "Protection of information systems during audit testing",
}


def test_control_titles_are_the_standards_own_words():
    # Given the Annex A table, Then the long titles are given whole, as the standard words them
    assert {c: iso27001.title(c) for c in LONG_TITLES} == LONG_TITLES


def test_rows_without_a_policy_use_the_checks_claims_and_count_hosts_by_worst_result():
    # Given two hosts: one passing everything, one failing backups and erring on hashing
    rows = controls_matrix(run(*FLEET))
    # Then there is one row per control touched, in Annex A order, hosts counted by their worst result
    assert [(r.control, r.result, r.hosts["pass"], r.hosts["fail"], r.hosts["error"], r.hosts["skip"])
            for r in rows] == [
        ("A.5.17", "error", 1, 0, 1, 0),
        ("A.8.5", "error", 1, 0, 1, 0),
        ("A.8.13", "fail", 1, 1, 0, 0),
        ("A.8.15", "pass", 1, 0, 0, 1),
        ("A.8.24", "error", 1, 0, 1, 0),
    ]
    backup = rows[2]
    assert (backup.title, backup.claims, backup.checks) == (
        "Information backup", ("daily-backup",), ("backups",))
    assert backup.failed_on == ("db1",) and rows[0].error_on == ("db1",)
    assert backup.evidence == ("evidence/db1/backups.p.json", "evidence/web1/backups.p.json")


def test_with_a_policy_the_claims_column_holds_the_policys_claims_and_their_extra_controls():
    # Given a policy whose backup claim adds A.5.30 and whose breach promise is manual with A.5.24
    claims = (Claim("kopia-zapasowa", "Kopia codziennie.", checks={"backups": {}},
                    controls=("ISO27001:2022 A.5.30",)),
              Claim("breach-72h", "72 godziny.", manual="Procedure.", controls=("ISO27001:2022 A.5.24",)))
    policy = Policy("p", "P", "p.txt", "pl", claims, "p.yaml", "0" * 64)
    audited = AuditedPolicy(policy, {"kopia-zapasowa": ("web1", "db1"), "breach-72h": ("web1", "db1")},
                            ("backups",))
    report = run(*FLEET, policy=audited)
    # When the matrix is built from the run and the verdicts
    rows = {r.control: r for r in controls_matrix(report, judge(report, audited))}
    # Then the claim's extra control counts the claim's checks, and a note-only control is manual
    assert (rows["A.5.30"].claims, rows["A.5.30"].checks, rows["A.5.30"].result) == (
        ("kopia-zapasowa",), ("backups",), "fail")
    assert (rows["A.5.24"].claims, rows["A.5.24"].checks, rows["A.5.24"].result) == (
        ("breach-72h",), (), "manual")
    assert rows["A.8.13"].claims == ("kopia-zapasowa",)
    assert rows["A.8.15"].claims == () and rows["A.8.15"].result == "pass"


def read_csv(text: str) -> list[list[str]]:
    assert text.startswith(controls_csv.BOM)
    return list(csv.reader(io.StringIO(text.removeprefix(controls_csv.BOM), newline="")))


def test_the_csv_reads_back_row_for_row():
    # Given the matrix of the two-host run
    text = controls_csv.render(controls_matrix(run(*FLEET)))
    # When a spreadsheet (here: the csv module) reads it
    rows = read_csv(text)
    # Then the header and every row come back exactly, one CRLF-ended line each
    assert rows[0] == list(controls_csv.HEADER)
    assert rows[3] == ["A.8.13", "Information backup", "fail", "daily-backup", "backups",
                       "1", "1", "0", "0", "0", "0", "db1", "",
                       "evidence/db1/backups.p.json; evidence/web1/backups.p.json",
                       "report.html#control-A.8.13", "", "", ""]  # no advisories; all judged
    assert len(rows) == 6 and text.count("\r\n") == 6 and "\n" not in text.replace("\r\n", "")


def test_a_hostile_host_name_or_claim_cannot_become_a_formula():
    # Given a host named like a formula that fails, and a plug-in check whose claim id is a formula
    evil = "=HYPERLINK(\"http://x\",\"y\")"
    checks = (CheckInfo("evil", "Evil", ("@SUM(1+1)\r\nnext",), ("-A.8.1",), ""),)
    hosts = (host(evil, evil=Status.FAIL), host("+cmd|' /C calc'!A0", evil=Status.ERROR))
    report = RunReport("20260101T000000Z-abcdef", "t", "t", "0", "me", "i", "0" * 64, checks, hosts, True)
    # When the CSV is written and read back
    rows = read_csv(controls_csv.render(controls_matrix(report)))
    # Then every cell that would start a formula starts with a single quote, and stays on one line
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["control"] == "'-A.8.1"
    assert row["claims"] == "'@SUM(1+1) next"
    assert row["failed_on"] == "'" + evil
    assert row["error_on"] == "'+cmd|' /C calc'!A0"
    assert not [c for r in rows for c in r if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_control_characters_and_blanks_before_a_formula_are_neutralised():
    # Given host names with NUL, tab, escape and DEL (YAML escapes allow them), and a formula behind blanks
    hosts = (host("a\x00b\tc\x1b[31m\x7f", evil=Status.FAIL), host(" \t=1+1", evil=Status.ERROR),
             host("\r\n-2", evil=Status.ERROR))
    checks = (CheckInfo("evil", "Evil", ("claim",), ("A.8.1",), ""),)
    report = RunReport("20260101T000000Z-abcdef", "t", "t", "0", "me", "i", "0" * 64, checks, hosts, True)
    # When the CSV is written
    text = controls_csv.render(controls_matrix(report))
    # Then no control character reaches the file (CRLF only as line ends), and blanks do not hide a formula
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text.replace("\r\n", ""))
    row = dict(zip(*read_csv(text)[:2], strict=True))
    assert row["failed_on"] == "ab c[31m"
    assert row["error_on"] == "'  =1+1;  -2"  # only the start of a cell makes a formula


class Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self.ids.append(dict(attrs).get("id") or "")


def test_html_shows_the_matrix_before_the_hosts_and_no_policy_section_without_a_policy():
    # Given a run without a policy
    page = html.render(run(*FLEET))
    parser = Headings()
    parser.feed(page)
    # Then the controls section comes before the first host's section, and there is no policy view
    assert "policy" not in parser.ids
    assert parser.ids.index("controls") < parser.ids.index("host-1")
    assert re.search(r'<tr id="control-A\.8\.13">', page)


def test_a_list_too_long_for_a_spreadsheet_cell_points_to_the_report():
    # Given a control whose evidence spans 1000 hosts (about 40,000 characters joined)
    many = tuple(host(f"web{i:04}", backups=Status.PASS) for i in range(1000))
    rows = read_csv(controls_csv.render(controls_matrix(run(*many))))
    # Then the evidence cell gives the count and the report's row, and fits in one cell
    row = next(dict(zip(rows[0], r, strict=True)) for r in rows if r[0] == "A.8.13")
    assert row["evidence"] == ("1000 evidence files, too many for one cell: see "
                               "report.html#control-A.8.13")
    assert max(len(c) for r in rows for c in r) < controls_csv.CELL_LIMIT


# --------------------------------------------------------------------------
# Review R4 finding 5: a control's row claims no more than its checks judged
# --------------------------------------------------------------------------

def test_a_control_whose_check_judged_nothing_anywhere_is_partial_not_pass():
    # Given A.8.24 covered by password_hashing (passing on both hosts) and backups, given that control
    # too here, skipped on every host (not applicable: it judged nothing)
    checks = (CheckInfo("backups", "Backups", (), ("ISO27001:2022 A.8.24",), ""),
              CheckInfo("password_hashing", "Hashing", (), ("ISO27001:2022 A.8.24",), ""))
    hosts = (host("web1", backups=Status.SKIP, password_hashing=Status.PASS),
             host("db1", backups=Status.SKIP, password_hashing=Status.PASS))
    report = RunReport("20260101T000000Z-abcdef", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "0.1.0",
                       "me@here", "inv.yaml", "0" * 64, checks, hosts, True)
    # When the matrix is built
    (row,) = controls_matrix(report)
    # Then the row is partial, naming the check that judged nothing, never a plain pass
    assert (row.result, row.not_judged, row.hosts["pass"]) == ("partial", ("backups",), 2)
    # And the CSV and the HTML say which check it was
    assert read_csv(controls_csv.render([row]))[1][-1] == "backups"
    page = html.render(report)
    assert '<span class="badge partial">partial</span>' in page
    assert "not applicable on any host: backups" in page


def test_a_check_never_lists_a_control_it_only_notes():
    # Given every check whose documentation has a "Noted, not judged" paragraph naming controls
    noted = {}
    for check in registry.load().checks.values():
        doc = sys.modules[check.evaluate.__module__].__doc__ or ""
        for paragraph in doc.split("\n\n"):
            if paragraph.lower().startswith("noted, not judged"):
                noted[check.id] = (set(re.findall(r"A\.\d+\.\d+", paragraph)), check.controls)
    assert noted  # auth_logging notes clock synchronisation (A.8.17)
    # Then none of those controls is among the check's own: the matrix would give them its verdict
    for check_id, (controls, own) in noted.items():
        assert not controls & {iso27001.control_id(c) for c in own}, (check_id, controls, own)
