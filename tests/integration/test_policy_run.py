"""Auditing a privacy policy end to end: `auditor run --policy` against real sshd hosts.

Two hosts, each with its own PID namespace running Debian's real cron: `good` keeps the
promises (yescrypt and bcrypt in /etc/shadow, logrotate `rotate 60` daily with a 61-day-old
log, a daily pg_dump with a fresh dump), `bad` breaks the hashing and log promises (md5crypt
and DES, `rotate 4` weekly) but backs up like `good`. The claims file is written here in
the agreed format, quoting the Apifonica policy; the same hosts are then audited with the
shipped `--policy apifonica`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import run_cli, run_folder
from tests.integration.fleetrun import fleet_hosts
from tests.integration.sshhosts import (
    HostSpec,
    Planted,
)
from tests.integration.test_check_backups import CRON, CRONTAB, backup_files
from tests.integration.test_engine_ssh import (
    JOURNALD_AUTO,
    OLD_MACHINE,
    RSYSLOG_BLOCK,
    logs,
    mkpasswd,
    shadow_with,
)

pytestmark = pytest.mark.integration
SCHEMA = json.loads((Path(__file__).parents[2] / "auditor/schema/report.schema.json").read_text())
DAILY_DUMP = "30 2 * * * pg_dump -h 127.0.0.1 shop | gzip > /srv/backup/db/shop.sql.gz\n"

CLAIMS = """\
# auditor claims file, format 1 (from the Apifonica policy, 001_557037c78cc45bff.txt)
format: 1
policy:
  id: apifonica-test
  title: "Apifonica — Polityka prywatności"
  document: "001_557037c78cc45bff.txt"
  language: pl
claims:
  - id: salted-password-hashing
    quote: "Hasła klientów są zabezpieczone przy pomocy szyfrowania z ciągiem zaburzającym."
    gloss: "Customer passwords are stored as salted hashes."
    source: "§ Procedury i zasady bezpieczeństwa"
    checks:
      password_hashing: {}
  - id: log-retention
    quote: >-
      Dzienniki dostępu do serwera danych, dzienniki infrastruktury systemowej i dzienniki
      aplikacji są przechowywane przez 60 dni.
    gloss: "Access, system and application logs are kept for 60 days."
    checks:
      log_retention: {min_days: 60}
  - id: daily-backup
    quote: "Kopia zapasowa danych jest wykonywana codziennie."
    gloss: "A backup is made every day."
    checks:
      backups: {max_age_hours: 26}
  - id: application-passwords-hashed
    quote: "Hasła klientów są zabezpieczone przy pomocy szyfrowania z ciągiem zaburzającym."
    gloss: "The application's customer passwords are salted hashes."
    checks:
      app_password_hashing: {}
  - id: storage-hashing-web
    quote: "Hasła klientów są zabezpieczone przy pomocy szyfrowania z ciągiem zaburzającym."
    gloss: "On the web servers, account passwords are salted hashes."
    checks:
      password_hashing: {}
    applies_to: [web]
  - id: requests-answered-30-days
    quote: "Odpowiemy na Twoje żądanie w ciągu 30 dni."
    gloss: "Data-subject requests are answered within 30 days."
    manual: "The register of data-subject requests with the dates received and answered."
    controls: ["A.5.34"]
"""
CLAIM_IDS = ["salted-password-hashing", "log-retention", "daily-backup", "application-passwords-hashed",
             "storage-hashing-web", "requests-answered-30-days"]


def policy_host(name: str, *, shadow: Planted, encrypt: str, rotate: str,
                log_ages: dict[str, float]) -> HostSpec:
    files: dict[str, Planted | str | bytes] = {
        "/etc/shadow": shadow,
        "/etc/login.defs": f"ENCRYPT_METHOD {encrypt}\n",
        "/etc/logrotate.conf": f"{rotate}\ninclude /etc/logrotate.d\n",
        "/etc/logrotate.d/rsyslog": RSYSLOG_BLOCK.replace("rotate {n}\n\tweekly",
                                                          rotate.replace("\n", "\n\t")),
        **logs(**log_ages), **OLD_MACHINE, **JOURNALD_AUTO,
        "/etc/crontab": CRONTAB,
        "/var/spool/cron/crontabs/root": Planted(DAILY_DUMP, mode=0o600),
        **backup_files(2),
    }
    return HostSpec(name, files=files, pid_namespace=True, services=(CRON,),
                    replace_dirs=("/etc/logrotate.d", "/var/log", "/var/spool/cron/crontabs", "/etc/cron.d",
                                  "/srv", "/run"))


class Headings(HTMLParser):
    """The ids of h2 headings and claim cards in document order, and every id on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
            if tag == "h2" or str(found["id"]).startswith("claim-"):
                self.order.append(str(found["id"]))
        if tag == "a" and str(found.get("href", "")).startswith("#"):
            self.links.append(str(found["href"])[1:])


@pytest.fixture(scope="module")
def policy_run(sshd_fleet):
    good_shadow = shadow_with(alice=mkpasswd("yescrypt", "Alice-pw-1"),
                              carol=mkpasswd("bcrypt", "Carol-pw-3"))
    bad_shadow = shadow_with(mallory=mkpasswd("md5crypt", "Mallory-pw-4"),
                             dave=mkpasswd("descrypt", "davepw"))
    with sshd_fleet("policy", namespaces=True) as (fleet, tmp):
        fleet.start(policy_host("good", shadow=good_shadow, encrypt="YESCRYPT", rotate="daily\nrotate 60",
                                log_ages={"syslog": 0, "syslog__1": 1, "syslog__60__gz": 61}))
        fleet.start(policy_host("bad", shadow=bad_shadow, encrypt="MD5", rotate="weekly\nrotate 4",
                                log_ages={"syslog": 0, "syslog__1": 2}))
        hosts = fleet_hosts(fleet)
        claims = tmp / "claims.yaml"
        claims.write_text(CLAIMS, encoding="utf-8")
        inventory = tmp / "inventory.yaml"
        # The inventory asks for 30 days of logs; the policy promises 60, and the policy is what is audited
        inventory.write_text(yaml.safe_dump({
            "defaults": {"vars": {"log_retention": {"min_days": 30}, "backups": {"paths": ["/srv/backup"]}}},
            "hosts": hosts, "groups": {"web": {"hosts": ["good"]}}}))
        main = run_cli("run", "-i", str(inventory), "--policy", str(claims), "-o", str(tmp / "reports"),
                       "--format", "csv")
        # The same policy named by the inventory's policy: key, narrowed to one check
        with_key = tmp / "with-key.yaml"
        with_key.write_text(inventory.read_text() + "policy: claims.yaml\n")
        narrowed = run_cli("run", "-i", str(with_key), "--check", "log_retention",
                           "-o", str(tmp / "narrowed"), "--format", "json")
        shipped = run_cli("run", "-i", str(inventory), "--policy", "apifonica",
                          "-o", str(tmp / "shipped"), "--format", "json")
    run_dir = run_folder(tmp / "reports")
    return main, run_dir, narrowed, claims, shipped


def verdicts(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["policy"]["claims"]}


def test_every_claim_gets_the_verdict_its_hosts_earn(policy_run):
    # Given good keeps every promise and bad breaks hashing and log retention
    main, run_dir, *_ = policy_run
    report = json.loads((run_dir / "report.json").read_text())
    claims = verdicts(report)
    # Then the claims come back in file order, each with its verdict
    assert list(claims) == CLAIM_IDS
    assert {cid: c["verdict"] for cid, c in claims.items()} == {
        "salted-password-hashing": "fail", "log-retention": "fail", "daily-backup": "pass",
        "application-passwords-hashed": "not_verified", "storage-hashing-web": "pass",
        "requests-answered-30-days": "manual"}
    # And a failing claim names the host it fails on, linking the result cards
    assert claims["log-retention"]["summary"] == "fails on 1 of 2 hosts: bad"
    assert claims["log-retention"]["hosts_by_state"] == {"fail": ["bad"], "pass": ["good"]}
    assert claims["daily-backup"]["summary"] == "holds on both hosts"
    # And a claim applying to group web is judged on good alone
    assert claims["storage-hashing-web"]["hosts"] == ["good"]
    assert claims["storage-hashing-web"]["summary"] == "holds on good"
    # And a claim whose only check skipped everywhere (no application database) is never a pass
    assert claims["application-passwords-hashed"]["result_counts"] == {"skip": 2}
    assert report["policy"]["headline"] == ("2 of 6 promises hold on every host they apply to; 2 fail; "
                                            "1 was not verified; 1 cannot be verified by a server")
    assert main.rc == 1, main.stderr
    jsonschema.validate(report, SCHEMA)


def test_the_claims_parameters_reach_the_checks_over_the_inventorys(policy_run):
    main, run_dir, *_ = policy_run
    report = json.loads((run_dir / "report.json").read_text())
    results = {(h["name"], r["check"]): r for h in report["hosts"] for r in h["results"]}
    # Then log_retention ran with the policy's 60 days, not the inventory's 30, and said so
    assert results["good", "log_retention"]["params"]["min_days"] == 60
    assert results["bad", "log_retention"]["status"] == "fail"
    assert "rotate 4 × weekly = 28 days" in results["bad", "log_retention"]["summary"]
    assert results["good", "backups"]["params"]["max_age_hours"] == 26
    # the inventory's other var still applies
    assert results["good", "backups"]["params"]["paths"] == ["/srv/backup"]
    assert "over the inventory's value on bad (30), good (30); the policy's value is audited" in main.stderr
    # And the warning stays with the report, not only on the terminal
    assert any("over the inventory's value on bad (30), good (30)" in w for w in report["policy"]["warnings"])
    assert "over the inventory&#39;s value on bad (30), good (30)" in (run_dir / "report.html").read_text()
    # And each host ran only the checks of the claims that apply to it, nothing else
    assert {h["name"]: sorted(r["check"] for r in h["results"]) for h in report["hosts"]} == {
        "bad": ["app_password_hashing", "backups", "log_retention", "password_hashing"],
        "good": ["app_password_hashing", "backups", "log_retention", "password_hashing"]}


def test_the_controls_matrix_is_printed_and_written_as_csv(policy_run):
    main, run_dir, *_ = policy_run
    # Given --format csv: stdout is controls.csv (read here as text, so CRLF arrives as LF)
    on_disk = (run_dir / "controls.csv").read_bytes()
    assert main.stdout == on_disk.decode("utf-8").replace("\r\n", "\n")
    assert on_disk.count(b"\r\n") == on_disk.count(b"\n") == 7
    assert on_disk.startswith(b"\xef\xbb\xbf")
    # When a spreadsheet reads it
    rows = list(csv.DictReader(io.StringIO(on_disk.decode("utf-8-sig"), newline="")))
    by_control = {r["control"]: r for r in rows}
    # Then one row per control touched, in Annex A order, with claims, checks, hosts and evidence
    assert [r["control"] for r in rows] == ["A.5.17", "A.5.34", "A.8.5", "A.8.13", "A.8.15", "A.8.24"]
    assert {k: by_control["A.8.15"][k] for k in ("name", "result", "claims", "checks", "hosts_passed",
                                                  "hosts_failed", "failed_on", "report")} == {
        "name": "Logging", "result": "fail", "claims": "log-retention", "checks": "log_retention",
        "hosts_passed": "1", "hosts_failed": "1", "failed_on": "bad", "report": "report.html#control-A.8.15"}
    assert by_control["A.8.15"]["evidence"].split("; ") == sorted(
        f"evidence/{h}/log_retention.{p}.json" for h in ("bad", "good")
        for p in ("journald", "logrotate", "on_disk"))
    assert (by_control["A.5.34"]["result"], by_control["A.5.34"]["claims"]) == ("manual",
                                                                              "requests-answered-30-days")
    assert by_control["A.8.13"]["result"] == "pass" and by_control["A.8.13"]["hosts_passed"] == "2"
    assert by_control["A.5.17"]["claims"] == ("application-passwords-hashed; salted-password-hashing; "
                                              "storage-hashing-web")
    # And every evidence file the matrix cites exists in the run folder
    cited = {p for r in rows for p in r["evidence"].split("; ") if p}
    assert cited and all((run_dir / p).is_file() for p in cited)


def test_the_html_opens_with_the_policy_view(policy_run):
    _, run_dir, *_ = policy_run
    page = (run_dir / "report.html").read_text()
    parser = Headings()
    parser.feed(page)
    # Then the page leads with the findings and the host x check matrix (issue 15), then the policy with
    # its claims in file order, then the controls matrix, then the hosts
    assert parser.order[:3 + len(CLAIM_IDS)] == (["findings", "matrix", "policy"]
                                                  + [f"claim-{c}" for c in CLAIM_IDS])
    sections = [i for i in parser.order if not i.startswith("claim-")]
    assert sections.index("findings") < sections.index("policy") < sections.index("controls") \
        < sections.index("host-1")
    # And quotes carry the policy's language, and every in-page link lands on an element
    assert '<blockquote lang="pl">Hasła klientów są zabezpieczone' in page
    assert "host-2-log_retention" in parser.links
    assert not [link for link in parser.links if link not in parser.ids]


def test_the_signed_manifest_names_the_audited_policy(policy_run):
    _, run_dir, _, claims, _ = policy_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["run"]["policy"] == {"id": "apifonica-test", "title": "Apifonica — Polityka prywatności",
                                         "path": str(claims),
                                         "sha256": hashlib.sha256(claims.read_bytes()).hexdigest()}
    assert "controls.csv" in {a["path"] for a in manifest["artifacts"]}


def test_the_inventorys_policy_key_and_check_narrow_the_run(policy_run):
    # Given the inventory naming the claims file, and --check log_retention
    _, _, narrowed, *_ = policy_run
    report = narrowed.json()
    # Then only log_retention ran, and claims whose checks did not run are not verified, never pass
    assert {r["check"] for h in report["hosts"] for r in h["results"]} == {"log_retention"}
    claims = verdicts(report)
    assert claims["log-retention"]["verdict"] == "fail"
    assert claims["daily-backup"]["verdict"] == "not_verified"
    assert claims["daily-backup"]["summary"] == (
        "not verified: backups did not run on 2 of 2 hosts: bad, good (not selected by --check)")
    assert narrowed.rc == 1



def test_the_shipped_apifonica_set_audits_the_same_hosts(policy_run):
    *_, shipped = policy_run
    # Given `auditor run --policy apifonica` on the same two hosts
    report = shipped.json()
    claims = verdicts(report)
    # Then every claim of the shipped set is judged, in the file's order
    assert list(claims)[:3] == ["salted-password-hashing", "login-attempts-logged", "log-retention"]
    # And the promises the hosts were planted to keep or break get their verdicts, naming bad
    assert claims["salted-password-hashing"]["verdict"] == "fail"
    assert claims["salted-password-hashing"]["hosts_by_state"]["fail"] == ["bad"]
    assert claims["log-retention"]["summary"] == "fails on 1 of 2 hosts: bad"
    assert claims["daily-backup"]["verdict"] == "pass"
    # And process promises are manual, never pass
    assert claims["requests-answered-30-days"]["verdict"] == "manual"
    assert claims["employee-access-approved"]["verdict"] == "manual"
    jsonschema.validate(report, SCHEMA)
