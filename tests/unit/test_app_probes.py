"""The application-table probes, rendered and run with /bin/sh against real sqlite databases.

The recorded cases replay what the probes printed on the recording machine; these tests run
the probes as they are now (sqlite3, awk and the shell of this machine) over databases made
here with Python's sqlite3, then judge the output with the check's evaluate(), after the
engine's redaction pass, as a run would.
"""

from __future__ import annotations

import datetime as dt
import importlib
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from auditor.check import Outputs, ProbeOutput, Result
from auditor.evidence.redact import redact

pytestmark = pytest.mark.skipif(shutil.which("sqlite3") is None, reason="sqlite3 CLI missing")


def luhn_number(prefix: str, length: int) -> str:
    """A random number of `length` digits starting with `prefix`, with a valid Luhn check digit."""
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(length - len(prefix) - 1))
    total = sum((d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d
                for i, d in enumerate(int(c) for c in reversed(body)))
    return body + str((10 - total % 10) % 10)


def make_db(path: Path, table: str, columns: str, rows: Sequence[Sequence[Any]]) -> Path:
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE {table} ({columns})")
        marks = ", ".join("?" for _ in rows[0]) if rows else ""
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    db.close()
    return path


def run_check(check_id: str, params: dict[str, Any]) -> tuple[str, Result]:
    """The check's probe run here with /bin/sh: its raw stdout, and the verdict on the redacted output."""
    module = importlib.import_module(f"checks.{check_id}")
    full = {**module.CHECK.default_params(), **params}
    probe = module.CHECK.probes[0]
    done = subprocess.run(["/bin/sh", "-s"], input=probe.render(full).encode(), capture_output=True,
                          timeout=60, check=False)
    stdout = done.stdout.decode(errors="replace")
    redacted, _ = redact(stdout)
    outputs = Outputs({probe.name: ProbeOutput(probe.name, redacted, "", done.returncode, 1.0)})
    return stdout, module.evaluate(outputs, full)


# --------------------------------------------------------------------------
# Finding 1: a client's error line never carries a card number off the host
# --------------------------------------------------------------------------

def test_a_card_number_in_the_clients_error_line_is_masked_on_the_host(tmp_path):
    # Given a sqlite database and a query whose error message quotes a grouped card number
    card = luhn_number("4", 16)
    grouped = " ".join(card[i:i + 4] for i in range(0, 16, 4))
    db = make_db(tmp_path / "app.db", "payments", "card TEXT", [("tok_1",)])
    source = {"name": "billing", "kind": "sqlite", "path": str(db), "query": f'SELECT card FROM "{grouped}"'}
    # When app_data_encryption and data_retention run it
    for check_id, extra in (("app_data_encryption", {}), ("data_retention", {"max_age_days": 90})):
        stdout, verdict = run_check(check_id, {"sources": [{**source, **extra}]})
        # Then the probe's own output already holds no digit of it, and the verdict names the error
        assert card not in stdout.replace(" ", "") and grouped not in stdout, stdout
        assert "<digits>" in stdout, stdout
        assert verdict.status == "error", verdict
        assert "no such table: <digits>" in verdict.summary, verdict.summary


# --------------------------------------------------------------------------
# Finding 2: data_retention never passes a source it could not date
# --------------------------------------------------------------------------

def retention_source(db: Path, query: str) -> dict[str, Any]:
    return {"name": "consents", "kind": "sqlite", "path": str(db), "query": query, "max_age_days": 90}


def test_a_column_of_nulls_is_an_error_not_a_pass(tmp_path):
    # Given a table whose deleted_at column is NULL in every row
    db = make_db(tmp_path / "app.db", "t", "id INTEGER, deleted_at TEXT", [(i, None) for i in range(8)])
    # When data_retention reads that column
    _, verdict = run_check("data_retention", {"sources": [retention_source(db, "SELECT deleted_at FROM t")]})
    # Then it is an error saying no row was dated
    assert verdict.status == "error", verdict
    assert "consents: no dated row among the 8 read, all NULL" in verdict.summary, verdict.summary


def test_nulls_sorted_first_do_not_hide_old_rows_behind_max_rows(tmp_path):
    # Given 5 NULL timestamps and 3 from 2019, read with max_rows=4 (sqlite sorts NULLs first)
    rows = [(None,)] * 5 + [(f"2019-01-0{d}",) for d in (1, 2, 3)]
    db = make_db(tmp_path / "app.db", "t", "created_at TEXT", rows)
    # When data_retention reads them
    _, verdict = run_check("data_retention", {"sources": [retention_source(db, "SELECT created_at FROM t")],
                                              "max_rows": 4})
    # Then it does not pass: the four rows read were NULL and there are more
    assert verdict.status == "error", verdict
    assert "all NULL (NULLs sort first; there are more rows)" in verdict.summary, verdict.summary


def test_nulls_mixed_with_dated_rows_are_counted_and_the_dates_judged(tmp_path):
    # Given 2 NULLs and 2 rows from 2019
    rows = [(None,), (None,), ("2019-01-01",), ("2019-01-02",)]
    db = make_db(tmp_path / "app.db", "t", "created_at TEXT", rows)
    # When data_retention reads them
    _, verdict = run_check("data_retention", {"sources": [retention_source(db, "SELECT created_at FROM t")]})
    # Then the old rows fail and the NULLs are only counted
    assert verdict.status == "fail", verdict
    summary = verdict.summary
    assert summary.startswith("consents: 2 row(s) older than 90 days (oldest 2019-01-01"), summary


# --------------------------------------------------------------------------
# Finding 3: max_rows or query_timeout below 1 is refused; no rows read never passes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("check_id", ["app_data_encryption", "data_retention", "app_password_hashing"])
@pytest.mark.parametrize("key, value", [("max_rows", 0), ("max_rows", -4), ("query_timeout", 0)])
def test_a_limit_below_one_is_refused_when_the_probe_is_built(tmp_path, check_id, key, value):
    # Given a sqlite source and max_rows or query_timeout below 1
    module = importlib.import_module(f"checks.{check_id}")
    source = {"kind": "sqlite", "path": str(tmp_path / "app.db"), "query": "SELECT x FROM t"}
    if check_id == "data_retention":
        source["max_age_days"] = 9
    params = {**module.CHECK.default_params(), "sources": [source], key: value}
    # When the probe is rendered, Then it is refused with the key named
    with pytest.raises(ValueError, match=f"{key} must be at least 1, got {value}"):
        module.CHECK.probes[0].render(params)


@pytest.mark.parametrize("check_id, probe, extra, facts", [
    ("app_data_encryption", "card_scan", {}, "card_rows\t0\ncards\t0\nmore\t1\nrows\t0\n"),
    ("data_retention", "ages", {"max_age_days": 90},
     "rows\t0\nmore\t1\nnull\t0\nover\t0\nunparsed\t0\n"),
])
def test_a_source_with_rows_but_none_read_is_not_a_pass(check_id, probe, extra, facts):
    # Given what the scanners printed before the refusal, with max_rows 0 over a table of 2 rows
    module = importlib.import_module(f"checks.{check_id}")
    params = {**module.CHECK.default_params(),
              "sources": [{"name": "t", "kind": "sqlite", "path": "/x.db", "query": "SELECT x", **extra}]}
    stdout = ("now\t1795261049\n" if check_id == "data_retention" else "") + \
        f"source\t0\n{facts}status\tok\t0\t\n"
    # When it is judged
    verdict = module.evaluate(Outputs({probe: ProbeOutput(probe, stdout, "", 0, 1.0)}), params)
    # Then it is an error, not a pass
    assert verdict.status == "error", verdict
    assert "no row" in verdict.summary and "although the query returned rows" in verdict.summary


# --------------------------------------------------------------------------
# Finding 5: what was found before a query failed still counts
# --------------------------------------------------------------------------

# sqlite fails with "integer overflow" when it reaches the row with id 3.
OVERFLOW_AT_ID_3 = "CASE WHEN id = 3 THEN abs(-9223372036854775807 - 1) ELSE 1 END"


def test_card_numbers_seen_before_the_query_failed_fail_the_check(tmp_path):
    # Given four plaintext card numbers and a query that overflows at row 3
    rows = [(i, luhn_number("4", 16)) for i in range(1, 5)]
    db = make_db(tmp_path / "app.db", "payments", "id INTEGER PRIMARY KEY, card TEXT", rows)
    query = f"SELECT card, {OVERFLOW_AT_ID_3} FROM payments ORDER BY id"
    # When app_data_encryption scans it
    stdout, verdict = run_check("app_data_encryption", {"sources": [
        {"name": "billing", "kind": "sqlite", "path": str(db), "query": query}]})
    # Then the two numbers read before the failure fail the check, as a floor, with the reason
    assert "cards\t2" in stdout and "status\tfailed\t1\t" in stdout, stdout
    assert verdict.status == "fail", verdict
    assert verdict.summary.startswith("at least 2 payment card number(s) stored in plaintext: billing: at "
                                      "least 2 card number(s) in plaintext in 2 row(s) (rows 1, 2) (query "
                                      "stopped: query failed, exit 1: Error: stepping, integer overflow)"), \
        verdict.summary


def test_rows_over_the_period_seen_before_the_query_failed_fail_the_check(tmp_path):
    # Given four rows from 2019, indexed by date so that sqlite streams them oldest first, and a
    # query whose WHERE overflows at the third
    rows = [(i, f"2019-01-0{i}") for i in range(1, 5)]
    db = make_db(tmp_path / "app.db", "t", "id INTEGER PRIMARY KEY, created_at TEXT", rows)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE INDEX t_created ON t (created_at)")
    conn.close()
    query = f"SELECT created_at FROM t WHERE {OVERFLOW_AT_ID_3}"
    # When data_retention reads it
    stdout, verdict = run_check("data_retention", {"sources": [retention_source(db, query)]})
    # Then the two old rows read fail the check, as a floor, with the reason it stopped
    assert "over\t2" in stdout and "status\tfailed\t1\t" in stdout, stdout
    assert verdict.status == "fail", verdict
    summary = verdict.summary
    assert summary.startswith("consents: at least 2 row(s) older than 90 days (oldest 2019-01-01, "), summary
    assert summary.endswith("(query stopped: query failed, exit 1: Error: stepping, integer overflow)")


# --------------------------------------------------------------------------
# Finding 9: data_retention reads one column, and says so when given more
# --------------------------------------------------------------------------

def test_a_query_returning_more_than_one_column_is_an_error(tmp_path):
    # Given a table of ids and recent dates, and a query selecting both (ids would read as epochs)
    rows = [(1, "2099-01-01"), (2, "2099-01-02")]
    db = make_db(tmp_path / "app.db", "t", "id INTEGER, created_at TEXT", rows)
    # When data_retention reads it
    source = retention_source(db, "SELECT id, created_at FROM t")
    _, verdict = run_check("data_retention", {"sources": [source]})
    # Then it is an error asking for one timestamp column, not a fail dated 1970
    assert verdict.status == "error", verdict
    assert "consents: the query returns 2 columns; select exactly one timestamp column" in verdict.summary


# --------------------------------------------------------------------------
# Finding 6: reading a WAL-mode database writes nothing beside it
# --------------------------------------------------------------------------

@pytest.mark.parametrize("check_id, extra, query, expected", [
    ("app_data_encryption", {}, "SELECT card FROM t", "1 payment card number(s) stored in plaintext"),
    ("data_retention", {"max_age_days": 90}, "SELECT created_at FROM t", "(1 row(s) read)"),
    ("app_password_hashing", {}, "SELECT card FROM t", "shop: 1 plaintext or unrecognised"),
])
def test_a_wal_mode_database_is_read_without_creating_its_wal_and_shm_files(tmp_path, check_id, extra, query,
                                                                            expected):
    # Given a WAL-mode sqlite database, checkpointed and closed (no -wal or -shm beside it), in a
    # directory whose name needs escaping in a file: URI
    folder = tmp_path / "shop data #1?"
    folder.mkdir()
    path = folder / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (card TEXT, created_at TEXT)")
        db.execute("INSERT INTO t VALUES (?, '2099-01-01')", (luhn_number("4", 16),))
    db.close()
    assert sorted(p.name for p in folder.iterdir()) == ["app.db"]
    before = path.read_bytes()
    # When the check reads it
    source = {"name": "shop", "kind": "sqlite", "path": str(path), "query": query, **extra}
    stdout, verdict = run_check(check_id, {"sources": [source]})
    # Then the rows were read, and nothing was written
    assert "status\tok\t0" in stdout, stdout
    assert expected in verdict.summary, verdict
    assert sorted(p.name for p in folder.iterdir()) == ["app.db"]
    assert path.read_bytes() == before


# --------------------------------------------------------------------------
# Finding 11: a syntax error says how the query is run
# --------------------------------------------------------------------------

@pytest.mark.parametrize("check_id", ["app_data_encryption", "data_retention", "app_password_hashing"])
def test_a_syntax_error_says_the_query_runs_as_a_subquery(tmp_path, check_id):
    # Given a query ending in "; -- comment", which is fine alone but not inside the wrapper
    db = make_db(tmp_path / "app.db", "t", "created_at TEXT", [("2099-01-01",)])
    source = retention_source(db, "SELECT created_at FROM t; -- the consents")
    # When the check runs it
    _, verdict = run_check(check_id, {"sources": [source]})
    # Then the error quotes sqlite and says how the query is wrapped
    assert verdict.status == "error", verdict
    assert 'near ";": syntax error (the query runs as a subquery, SELECT * FROM (query)' in verdict.summary


# --------------------------------------------------------------------------
# Review R4 finding 1: the check's max_age_days (a claim's) caps every source's own period
# --------------------------------------------------------------------------

def test_a_sources_longer_period_is_judged_by_the_checks_max_age_days(tmp_path):
    # Given a row 500 days old in a source whose own period is 731 days, and the check's
    # max_age_days 365 (what a claim `data_retention: {max_age_days: 365}` sets)
    db = make_db(tmp_path / "app.db", "t", "created_at TEXT", [(_days_ago(500),), (_days_ago(10),)])
    source = {**retention_source(db, "SELECT created_at FROM t"), "max_age_days": 731}
    # When data_retention reads it
    _, verdict = run_check("data_retention", {"sources": [source], "max_age_days": 365})
    # Then the row fails the check's 365 days, and the details say why the source's 731 did not count
    assert verdict.status == "fail", verdict
    assert verdict.summary.startswith("consents: 1 row(s) older than 365 days"), verdict.summary
    assert any("period 365 days (its own max_age_days 731 is longer than the check's 365" in d
               for d in verdict.details), verdict.details


def test_a_sources_shorter_period_still_binds_under_the_checks_max_age_days(tmp_path):
    # Given a row 100 days old in a source whose own period is 90 days, the check's max_age_days 365
    db = make_db(tmp_path / "app.db", "t", "created_at TEXT", [(_days_ago(100),)])
    source = retention_source(db, "SELECT created_at FROM t")
    # When data_retention reads it
    _, verdict = run_check("data_retention", {"sources": [source], "max_age_days": 365})
    # Then the source's own, shorter period judges it
    assert verdict.status == "fail", verdict
    assert verdict.summary.startswith("consents: 1 row(s) older than 90 days"), verdict.summary


def _days_ago(days: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
