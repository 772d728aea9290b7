"""data_retention end to end: real sqlite application tables on real sshd hosts.

Each host is an OpenSSH server in its own mount namespace (sshhosts) with /srv replaced
by a directory holding a sqlite database made here with Python's sqlite3, whose
timestamps are set a number of days before now (the test machine's clock is the hosts'
clock); and a host running a real PostgreSQL 15 in its own network and PID namespaces,
with a timestamptz column. The check runs through the CLI over SSH; the verdict is read
from report.json.
"""

from __future__ import annotations

import datetime as dt
import json
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.fleetrun import assert_nowhere_in, audit, audit_fleet, fleet_hosts, write_inventory
from tests.integration.sshhosts import (
    HostSpec,
    Planted,
    Service,
)

pytestmark = pytest.mark.integration
DB_PATH = "/srv/shop/app.db"


PLANTED_AT = time.time()  # the "now" the planted ages count back from


def sqlite_db(path: Path, consents_days_ago: list[float], accounts_days_ago: list[float]) -> bytes:
    """consents.created_at as ISO 8601 text, accounts.created_at as Unix epoch seconds."""
    now = PLANTED_AT
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE consents (id INTEGER PRIMARY KEY, email TEXT, created_at TEXT)")
        db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, created_at INTEGER)")
        db.executemany("INSERT INTO consents (email, created_at) VALUES (?, ?)", [
            (f"user{i}@example.com",
             dt.datetime.fromtimestamp(now - days * 86400, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            for i, days in enumerate(consents_days_ago)])
        db.executemany("INSERT INTO accounts (created_at) VALUES (?)",
                       [(int(now - days * 86400),) for days in accounts_days_ago])
    db.close()
    return path.read_bytes()


SOURCES = [
    {"name": "marketing consents", "kind": "sqlite", "path": DB_PATH,
     "query": "SELECT created_at FROM consents", "max_age_days": 90},
    {"name": "paid accounts", "kind": "sqlite", "path": DB_PATH, "query": "SELECT created_at FROM accounts"},
]


@pytest.fixture(scope="module")
def run(tmp_path_factory, sshd_fleet):
    tmp = tmp_path_factory.mktemp("dbs")
    kept = sqlite_db(tmp / "kept.db", [2, 30, 89], [10, 700])
    overdue = sqlite_db(tmp / "overdue.db", [2, 95, 200.5, 612.3], [10, 800])
    with sshd_fleet("fleet") as (fleet, _):
        for name, db in (("retention-kept", kept), ("retention-overdue", overdue)):
            fleet.start(HostSpec(name, files={DB_PATH: Planted(db, mode=0o640)}, replace_dirs=("/srv",)))
        hosts = fleet_hosts(fleet, vars={"data_retention": {"sources": SOURCES, "max_age_days": 730}})
        # The kept host again, with no period for the accounts source: that cannot be judged.
        hosts["retention-no-period"] = {**hosts["retention-kept"],
                                        "vars": {"data_retention": {"sources": SOURCES}}}
        # The kept host again, its query selecting the e-mail column by mistake: the probe reads
        # every address, and none may reach the run folder.
        hosts["retention-emails"] = {**hosts["retention-kept"], "vars": {"data_retention": {"sources": [
            {**SOURCES[0], "query": "SELECT email FROM consents"}]}}}
        done = audit(write_inventory(tmp / "inventory.yaml", hosts), tmp / "reports", "data_retention")
    return done.result, done.by_host, done.run_dir


def test_data_within_its_periods_passes(run):
    # Given consents at most 89 days old (period 90) and accounts at most 700 days old (period 730)
    _, by_host, _ = run
    # When the check reads them over SSH
    kept = by_host["retention-kept"]
    # Then it passes, and the oldest row is the 700-day-old account
    assert kept["status"] == "pass", kept
    assert kept["summary"] == "no row older than its retention period in 2 source(s) (5 row(s) read)"
    assert kept["values"]["rows_over_period"] == 0
    assert kept["values"]["oldest_age_days"] == pytest.approx(700, abs=0.1)


def test_rows_past_their_period_fail_with_count_and_oldest_age(run):
    # Given three consents older than 90 days (the oldest 612.3 days) and an 800-day-old account
    result, by_host, _ = run
    overdue = by_host["retention-overdue"]
    # Then the check fails, naming each source with its count and oldest row
    assert overdue["status"] == "fail", overdue
    oldest_consent = dt.datetime.fromtimestamp(PLANTED_AT - 612.3 * 86400, dt.UTC)
    assert (f"marketing consents: 3 row(s) older than 90 days (oldest {oldest_consent:%Y-%m-%d}, 612 days)"
            in overdue["summary"]), overdue["summary"]
    assert "paid accounts: 1 row(s) older than 730 days" in overdue["summary"]
    assert overdue["values"]["rows_over_period"] == 4
    assert overdue["values"]["oldest_age_days"] == pytest.approx(800, abs=0.1)
    assert result.rc == 1, result.stderr


def test_a_source_without_a_period_is_an_error_naming_it(run):
    no_period = run[1]["retention-no-period"]
    assert no_period["status"] == "error", no_period
    assert no_period["summary"].startswith("no retention period for paid accounts")


def test_the_evidence_records_the_hosts_clock_and_no_row(run):
    # Given the evidence files of the run, one host of which selected the e-mail column
    _, by_host, run_dir = run
    evidence = [json.loads(p.read_text()) for p in (run_dir / "evidence").rglob("*.json")]
    ages = [e for e in evidence if e.get("probe", "").endswith("ages")]
    emails = by_host["retention-emails"]
    # Then the addresses were read and judged as no timestamp, by row number only
    assert emails["status"] == "error", emails
    assert ("marketing consents: 3 timestamp(s) neither ISO 8601 nor epoch seconds (rows 1, 2, 3)"
            in emails["summary"]), emails["summary"]
    # And each host's output starts with the host's clock, and no e-mail address of a row is there
    assert ages and all(e["stdout"].startswith("now\t") for e in ages)
    assert_nowhere_in(run_dir, "@example.com")


# --------------------------------------------------------------------------
# PostgreSQL: a real postmaster inside the host's namespaces, timestamptz column
# --------------------------------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def pg_run(sshd_fleet):
    if not (PG_BIN / "postgres").exists():
        pytest.skip(f"{PG_BIN}/postgres missing: apt-get install postgresql-15")
    try:
        postgres = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user (Debian's postgresql-15 package creates it)")
    base = Path(tempfile.mkdtemp(prefix="auditor-pg-"))
    try:
        base.chmod(0o711)
        sockets = base / "sock"
        sockets.mkdir()
        shutil.chown(base, postgres.pw_uid, postgres.pw_gid)
        shutil.chown(sockets, postgres.pw_uid, postgres.pw_gid)
        as_postgres = ["setpriv", f"--reuid={postgres.pw_uid}", f"--regid={postgres.pw_gid}", "--init-groups"]
        subprocess.run([*as_postgres, str(PG_BIN / "initdb"), "-D", str(base / "data"), "--auth=peer",
                        "--username=postgres"], check=True, capture_output=True)
        # Warsaw time and day-first SQL dates (17/10/2025 12:38:02 CEST): a server set up so
        # would print what no parser reads, unless the probe asks for ISO dates in UTC itself.
        postmaster = (*as_postgres, str(PG_BIN / "postgres"), "-D", str(base / "data"), "-k", str(sockets),
                      "-c", "listen_addresses=", "-c", "TimeZone=Europe/Warsaw", "-c", "DateStyle=SQL, DMY")
        service = Service("postgres", postmaster, ready_path=str(sockets / ".s.PGSQL.5432"))
        with sshd_fleet("pgfleet", namespaces=True) as (fleet, _):
            host = fleet.start(HostSpec("retention-pg", network_namespace=True, pid_namespace=True,
                                        services=(service,)))
            seeded = host.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                               "-h", str(sockets), "-d", "postgres", "-c",
                               "CREATE TABLE trials (id serial PRIMARY KEY, last_login timestamptz); "
                               "INSERT INTO trials (last_login) VALUES (now() - interval '5 days'), "
                               "(now() - interval '120 days'), (now() - interval '95 days 12 hours'), "
                               "(NULL)"])
            assert seeded.returncode == 0, seeded.stderr
            done = audit_fleet(fleet, base, "data_retention", vars={"data_retention": {"sources": [
                {"name": "trial accounts", "kind": "postgres", "database": "postgres", "user": "postgres",
                 "path": str(sockets), "query": "SELECT last_login FROM trials", "max_age_days": 91}]}})
        return done.by_host["retention-pg"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_timestamptz_rows_past_their_period_fail(pg_run):
    # Given a real PostgreSQL (DateStyle SQL, DMY; Warsaw time) whose trials table has logins
    # 5, 95.5 and 120 days old and a NULL
    # When the check reads it over SSH through psql, read-only, as the postgres OS user
    # Then two rows are past the 91-day period, the oldest 120 days old
    assert pg_run["status"] == "fail", pg_run
    summary = pg_run["summary"]
    assert summary.startswith("trial accounts: 2 row(s) older than 91 days (oldest "), summary
    assert summary.endswith(", 120 days)"), summary
    assert pg_run["values"]["rows_read"] == 4 and pg_run["values"]["rows_over_period"] == 2
