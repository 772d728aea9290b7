"""The history store: recording runs, series, migrations, locking, concurrent writers, pruning.

CLI runs use the local transport and a small check of our own whose verdict and measured
value follow a file the test writes ("yes 2.5" passes with age_hours 2.5; "no 70" fails;
"n/a" is skip).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditor.check import Status
from auditor.pipeline import AuditOutcome
from auditor.tracking import history
from auditor.tracking.history import History, HistoryError
from tests.conftest import REPO, run_cli, run_folder

AGE_CHECK = '''
"""The age file says yes, and how old the thing is. A test check that follows one probe."""
from auditor.check import Check, Param, Status, result
from auditor.probes import quote, shell

CHECK = Check(id="age_file", title="The age file says yes", claims=("demo",),
              controls=("ISO27001:2022 A.8.13",), trend_values=("age_hours",),
              params=(Param("path", str, "/nonexistent", "the file"),),
              probes=(shell("age", lambda p: "cat " + quote(p["path"]), ok_rc=(0,)),))

def evaluate(out, params):
    said, _, age = out.require("age").stdout.strip().partition(" ")
    status = Status.PASS if said == "yes" else Status.SKIP if said == "n/a" else Status.FAIL
    return result(status, f"the file says {said!r}", evidence=["age"], age_hours=float(age or 0), files=1)
'''


def make_workspace(work: Path, hosts: tuple[str, ...] = ("alpha", "beta")) -> Path:
    """Local hosts each reading their own age file: <work>/<host>.age."""
    (work / "checks").mkdir(parents=True, exist_ok=True)
    (work / "checks" / "age_file.py").write_text(AGE_CHECK)
    lines = ["hosts:"]
    for host in hosts:
        (work / f"{host}.age").write_text("yes 1\n")
        path = work / f"{host}.age"
        lines.append(f"  {host}: {{transport: local, vars: {{age_file: {{path: {path}}}}}}}")
    lines.append(f"groups:\n  db: {{hosts: [{hosts[-1]}]}}")
    (work / "inv.yaml").write_text("\n".join(lines) + "\n")
    return work


def audit(work: Path, *extra: str, env: dict[str, str] | None = None):
    """One CLI run of the age_file check; returns the result and the new run folder."""
    out = work / "reports"
    before = set(out.iterdir()) if out.exists() else set()
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--check",
                   "age_file", "-o", str(out), "--no-sign", "--format", "json", *extra, env=env)
    new = [p for p in set(out.iterdir()) - before if p.is_dir()] if out.exists() else []
    return done, (new[0] if new else None)


@dataclass(frozen=True)
class LibraryRun:
    """An in-process run through `auditor.audit()`, read like the CLI's: exit code and JSON."""

    outcome: AuditOutcome
    rc: int

    def json(self) -> Any:
        return json.loads(self.outcome.report_json)


def audit_library(work: Path, hosts: tuple[str, ...] = (), **tracking: Any) -> tuple[LibraryRun, Path]:
    """One run of the age_file check like `audit()`, but in this process through the library:
    for tests about what a run records, not about the command line. `tracking` takes the
    TrackingOptions fields; the history is the CLI's default one unless history_file says."""
    from auditor import AuditRequest
    from auditor import audit as run_audit
    from auditor.cli.exits import run_exit_code
    from auditor.tracking.run import TrackingOptions

    out = work / "reports"
    options = TrackingOptions(**{"history_file": out / "history.sqlite", **tracking})
    outcome = run_audit(AuditRequest(inventory=work / "inv.yaml", checks_dirs=(work / "checks",),
                                     checks=("age_file",), hosts=hosts, output=out, tracking=options))
    return LibraryRun(outcome, run_exit_code(outcome.report, options.fail_on_new)), outcome.run_dir


def history_cli(work: Path, *args: str):
    return run_cli(*args, "-o", str(work / "reports"))


@pytest.fixture
def work(tmp_path) -> Path:
    return make_workspace(tmp_path)


def test_every_run_is_recorded_with_its_manifest_hash(work):
    # Given two runs through the library, the second after beta's file turns to "no"
    first, first_dir = audit_library(work)
    (work / "beta.age").write_text("no 70\n")
    second, second_dir = audit_library(work)
    assert first.rc == 0 and second.rc == 1
    # When the history is read
    with History(work / "reports" / "history.sqlite", create=False) as store:
        runs = store.runs()
        series = store.series("age_file", "beta")
    # Then both runs are there, newest first, each with its folder and its manifest's SHA-256
    assert [r.run_id for r in runs] == [second_dir.name, first_dir.name]
    import hashlib
    assert runs[0].manifest_sha256 == hashlib.sha256((second_dir / "manifest.json").read_bytes()).hexdigest()
    assert runs[0].run_dir == str(second_dir) and runs[0].totals["fail"] == 1 and runs[1].totals["pass"] == 2
    # And beta's series shows, newest first like the runs, the fail after the pass with the measured age
    assert [(s.run_id, s.status, s.key_values) for s in series] == [
        (second_dir.name, Status.FAIL, {"age_hours": 70.0}),
        (first_dir.name, Status.PASS, {"age_hours": 1.0})]


def test_history_command_lists_runs_and_prints_a_series(work):
    # Given two runs
    audit(work)
    (work / "beta.age").write_text("no 70\n")
    _, last = audit(work)
    # When the runs are listed, and the series of one check on one host is asked for
    listing = history_cli(work, "history")
    table = history_cli(work, "history", "--check", "age_file", "--host", "beta", "--since", "90d")
    as_json = history_cli(work, "history", "--check", "age_file", "--since", "1y", "--format", "json")
    as_csv = history_cli(work, "history", "--check", "age_file", "--host", "beta", "--format", "csv")
    # Then the listing names both runs with their counts, and the series has one row per run x host
    assert listing.rc == 0 and last.name in listing.stdout and "2 run(s)" in listing.stdout
    # And both list the newest run first, with the same columns first: run, started
    assert listing.stdout.splitlines()[1].startswith(last.name)
    assert table.stdout.splitlines()[0].split()[:3] == ["run", "started", "host"]
    rows = [ln for ln in table.stdout.splitlines() if " beta " in ln]
    assert len(rows) == 2 and rows[0].startswith(last.name)
    assert "fail" in rows[0] and "age_hours=70.0" in rows[0]
    assert "pass" in rows[1] and "age_hours=1.0" in rows[1]
    records = as_json.json()
    assert [(r["host"], r["status"], r["values"]) for r in records] == [
        ("alpha", "pass", {"age_hours": 1.0}), ("beta", "fail", {"age_hours": 70.0}),
        ("alpha", "pass", {"age_hours": 1.0}), ("beta", "pass", {"age_hours": 1.0})]
    assert as_csv.stdout.splitlines()[0] == "run,started,host,status,original_status,values,summary"
    assert len(as_csv.stdout.splitlines()) == 3 and ",fail,,age_hours=70.0," in as_csv.stdout


def test_csv_cells_never_start_a_formula():
    # Given hostile cell texts
    from auditor.cli.history import csv_cell
    # Then each that a spreadsheet would run gets a leading quote; numbers and plain text do not
    assert [csv_cell(v) for v in ("=1+1", "+x", "-x", "@x", "\tx", "\rx", "fine", -3, 2.5)] == [
        "'=1+1", "'+x", "'-x", "'@x", "'\tx", "'\rx", "fine", -3, 2.5]


def test_since_accepts_ages_and_dates_and_refuses_the_rest():
    import datetime as dt
    now = dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC)
    # Given ages and a date, Then each becomes an instant that far back
    assert history.since_to_iso("90d", now) == "2025-04-01T12:00:00Z"
    assert history.since_to_iso("2w", now) == "2025-06-16T12:00:00Z"
    assert history.since_to_iso("1y", now) == "2024-06-30T12:00:00Z"
    assert history.since_to_iso("2025-01-31", now) == "2025-01-31T00:00:00Z"
    with pytest.raises(ValueError, match="90d"):
        history.since_to_iso("yesterday", now)
    # And the CLI says so with exit 2
    done = run_cli("history", "--since", "soon", "--history", "/nonexistent/h.sqlite")
    assert done.rc == 2 and "Traceback" not in done.stderr


def test_an_older_schema_is_migrated_and_keeps_its_runs(tmp_path):
    # Given a database at schema version 1 holding a run, as an older auditor wrote it
    path = tmp_path / "h.sqlite"
    db = sqlite3.connect(path)
    db.executescript(history.MIGRATIONS[0])
    db.execute("INSERT INTO runs VALUES (1, '20250101T000000Z-aaaaaa', '2025-01-01T00:00:00Z', "
               "'2025-01-01T00:01:00Z', 1, '0.1.0', 'ops@box', 'inv.yaml', 'ab', '/r/1', 'cd', 0, NULL, "
               "'{\"hosts\": 1, \"fail\": 1}')")
    db.execute("INSERT INTO hosts VALUES (1, 'web1', 1, NULL, 'fail')")
    db.execute("INSERT INTO results VALUES (1, 'web1', 'backups', 'fail', NULL, 'stale', NULL, "
               "'{\"newest_backup_age_hours\": 72.0}')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    # When the current auditor opens it
    with History(path) as store:
        version = store.version()
        runs = store.runs()
        series = store.series("backups")
    # Then it is at the current version and the old run reads as before (no trend values yet)
    assert version == history.SCHEMA_VERSION == 4
    assert [r.run_id for r in runs] == ["20250101T000000Z-aaaaaa"] and runs[0].baseline is None
    assert [(s.host, s.status, s.key_values) for s in series] == [("web1", Status.FAIL, {})]


def test_a_version_2_database_gains_run_scopes(tmp_path):
    # Given a schema-2 database with a run of an absolute inventory path and one of a relative path
    path = tmp_path / "h.sqlite"
    db = sqlite3.connect(path)
    db.executescript(history.MIGRATIONS[0] + ";" + history.MIGRATIONS[1])
    for row, run_id, inventory in ((1, "20250101T000000Z-aaaaaa", "/srv/audit/inv.yaml"),
                                   (2, "20250102T000000Z-bbbbbb", "inv.yaml")):
        db.execute("INSERT INTO runs (id, run_id, started, finished, complete, tool_version, operator, "
                   "inventory_path, inventory_sha256, run_dir, manifest_sha256, signed, signer_fingerprint, "
                   "totals, baseline) VALUES (?, ?, ?, ?, 1, '0.1.0', 'ops@box', ?, 'ab', '/r', NULL, 0, "
                   "NULL, '{}', NULL)", (row, run_id, run_id[:8], run_id[:8], inventory))
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    # When the current auditor opens it
    with History(path) as store:
        version = store.version()
        runs = {r.run_id: r for r in store.runs()}
        same_inventory = store.baseline(history.Scope.of(Path("/srv/audit/inv.yaml"), None))
        other_inventory = store.baseline(history.Scope.of(Path("/srv/other/inv.yaml"), None))
    # Then the absolute-path run got its scope (no selection recorded) and can be a baseline of that
    # inventory, though not an exact-scope one; the relative-path run has no scope and is nobody's baseline
    assert version == 4
    assert runs["20250101T000000Z-aaaaaa"].scope == history.Scope("/srv/audit/inv.yaml", None, "{}")
    assert runs["20250102T000000Z-bbbbbb"].scope is None
    assert same_inventory is not None and same_inventory[0].run_id == "20250101T000000Z-aaaaaa"
    assert same_inventory[1] is False and other_inventory is None


def test_a_database_newer_than_the_tool_is_refused(tmp_path):
    # Given a database a newer auditor wrote
    path = tmp_path / "h.sqlite"
    with History(path):
        pass
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {history.SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    # When this auditor opens it, Then a clear error names the file and both versions
    with pytest.raises(HistoryError) as caught:
        History(path)
    assert str(path) in str(caught.value) and f"version {history.SCHEMA_VERSION + 1}" in str(caught.value)
    assert "upgrade auditor" in str(caught.value)


HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    db.execute("ROLLBACK")
""")


@pytest.fixture
def locked_history(tmp_path):
    """A history database that another process holds for writing for 8 seconds."""
    path = tmp_path / "reports" / "history.sqlite"
    with History(path):
        pass
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), "8"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield path
    finally:
        holder.kill()
        holder.wait()


def test_a_database_locked_too_long_is_a_clear_error(locked_history):
    # Given another process holding the write lock
    # When a run tries to record with a short busy timeout
    started = time.monotonic()
    with pytest.raises(HistoryError) as caught, History(locked_history, timeout=0.3) as store:
        store.prune("2000-01-01", dry_run=False)  # any write
    # Then it gives up after about the timeout, naming the file and what to do
    assert time.monotonic() - started < 5
    assert str(locked_history) in str(caught.value) and "locked" in str(caught.value)


def test_a_locked_history_never_loses_the_run(tmp_path, locked_history):
    # Given the default history database locked by another process, and a 1 s busy timeout
    work = make_workspace(tmp_path)
    # When a run finishes
    done, run_dir = audit(work, "--history-timeout", "1")
    # Then its report and manifest are written, the exit code is the findings', and stderr says
    # the run is not in the history and why
    assert run_dir is not None
    assert (run_dir / "report.json").is_file() and (run_dir / "manifest.json").is_file()
    assert done.rc == 0, done.stderr
    assert "NOT recorded in the history" in done.stderr and str(locked_history) in done.stderr
    assert "Traceback" not in done.stderr


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from tests.unit.test_history import fake_report
    from auditor.tracking.history import History
    from pathlib import Path
    for n in range(int(sys.argv[4])):
        with History(Path(sys.argv[2])) as store:
            store.record(fake_report(f"{sys.argv[3]}{n:05d}"), Path("/r"), None)
""")


def fake_report(suffix: str, status: Status = Status.PASS, started: str = "2025-01-01T00:00:00Z"):
    """A small RunReport: two hosts x one backups result."""
    from auditor.model import CheckInfo, CheckResult, HostReport, RunReport
    results = (CheckResult("backups", "Backups", status, "newest backup is 2 h old",
                           values={"newest_backup_age_hours": 2.0, "jobs_found": 1}),)
    hosts = tuple(HostReport(n, n, "ssh", True, None, None, {}, results, 1.0) for n in ("web1", "db1"))
    checks = (CheckInfo("backups", "Backups", (), (), "", ("newest_backup_age_hours",)),)
    return RunReport(f"20250101T000000Z-{suffix}", started, started, "0.1.0", "ops@box", "inv.yaml",
                     "ab" * 32, checks, hosts, True)


def test_two_processes_writing_at_once_both_get_in(tmp_path):
    # Given an empty history and two processes recording 15 runs each at the same time
    path = tmp_path / "h.sqlite"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(REPO), str(path), prefix, "15"],
                                stderr=subprocess.PIPE, text=True) for prefix in ("a", "b")]
    try:
        errors = [w.communicate(timeout=120)[1] for w in writers]
    finally:
        for w in writers:
            w.kill()
    # Then both finished cleanly, all 30 runs with their rows are there, and the database is intact
    assert [w.returncode for w in writers] == [0, 0], errors
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 30
    assert db.execute("SELECT count(*) FROM results").fetchone()[0] == 60
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_prune_deletes_old_runs_and_a_dry_run_changes_nothing(tmp_path):
    # Given runs from 2023, 2024 and yesterday
    import datetime as dt
    path = tmp_path / "reports" / "history.sqlite"
    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with History(path) as store:
        for suffix, started in (("000001", "2023-03-01T02:00:00Z"), ("000002", "2024-03-01T02:00:00Z"),
                                ("000003", recent)):
            store.record(fake_report(suffix, started=started), tmp_path / "reports" / suffix, None)
    (tmp_path / "reports" / "000001").mkdir()  # one old run folder still on disk
    # When pruning runs older than 400 days as a dry run
    dry = run_cli("history", "prune", "--older-than", "400d", "--dry-run", "--history", str(path))
    # Then it says what it would delete, and the database is unchanged
    assert dry.rc == 0 and "would delete 2 run(s)" in dry.stdout and "(4 result row(s))" in dry.stdout
    assert "dry run, nothing changed" in dry.stdout
    with History(path) as store:
        assert len(store.runs()) == 3
    # When pruning for real
    done = run_cli("history", "-o", str(tmp_path / "reports"), "prune", "--older-than", "400d")
    # Then the two old runs and their rows are gone, the folders are kept and named
    assert done.rc == 0 and "deleted 2 run(s)" in done.stdout
    assert str(tmp_path / "reports" / "000001") in done.stdout and (tmp_path / "reports" / "000001").is_dir()
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM results").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM hosts").fetchone()[0] == 2


def test_a_planted_secret_never_reaches_the_history(tmp_path):
    # Given a host whose probe output carries a password
    work = make_workspace(tmp_path, hosts=("alpha",))
    (work / "alpha.age").write_text("password=Hunter2-Planted-Secret 3\n")
    # When it is audited twice (so the history and a baseline both hold it)
    audit_library(work)
    done, run_dir = audit_library(work, baseline="previous")
    # Then neither the database nor its journal contains the secret, though the run is recorded
    assert done.rc == 1 and run_dir is not None
    stored = b"".join(p.read_bytes() for p in (work / "reports").glob("history.sqlite*"))
    assert b"Hunter2-Planted-Secret" not in stored
    with History(work / "reports" / "history.sqlite") as store:
        summaries = [s.summary for s in store.series("age_file")]
    assert len(summaries) == 2 and all("[REDACTED]" in s for s in summaries), summaries


def test_no_history_writes_no_database(work):
    # Given a run told to keep no history
    done, run_dir = audit_library(work, history_file=None)
    # Then the run is written and no database appears
    assert done.rc == 0 and run_dir is not None
    assert not (work / "reports" / "history.sqlite").exists()


def test_history_without_a_database_is_a_clear_error(tmp_path):
    done = run_cli("history", "-o", str(tmp_path / "none"))
    assert done.rc == 2 and "no history database here yet" in done.stderr
    assert not (tmp_path / "none").exists()  # reading never creates one


def test_json_report_records_trend_keys_only_from_results(work):
    # Given a recorded run
    _, run_dir = audit_library(work)
    report = json.loads((run_dir / "report.json").read_text())
    # Then report.json's results carry no waiver, and the history stores the check's trend key
    results = [r for h in report["hosts"] for r in h["results"]]
    assert results and all(r["waiver"] is None and r["original_status"] is None for r in results)
    db = sqlite3.connect(work / "reports" / "history.sqlite")
    assert {row[0] for row in db.execute("SELECT key_values FROM results")} == {'{"age_hours": 1.0}'}


def test_the_trend_svg_is_well_formed_and_says_itself_in_words():
    import xml.etree.ElementTree as ET

    from auditor.model import TrendPoint
    from auditor.report import trend
    # Given four runs: pass, pass, fail and an error without a value
    runs = [(Status.PASS, 2.0), (Status.PASS, 3.5), (Status.FAIL, 72.0), (Status.ERROR, None)]
    points = [TrendPoint(f"r{i}", f"2025-01-0{i}T02:00:00Z", status, value)
              for i, (status, value) in enumerate(runs, 1)]
    # When drawn
    svg = ET.fromstring(str(trend.svg(points, "newest_backup_age_hours")))
    ns = "{http://www.w3.org/2000/svg}"
    # Then it is one square per run in the status colour, a sparkline over the three values,
    # and a title and aria-label that say the same
    rects = svg.findall(f"{ns}rect")
    assert [r.get("style") for r in rects] == ["fill:var(--pass)", "fill:var(--pass)", "fill:var(--fail)",
                                               "fill:var(--error)"]
    assert len(svg.find(f"{ns}polyline").get("points").split()) == 3
    label = "last 4 run(s), oldest first: pass, pass, fail, error; newest_backup_age_hours: 2 → 3.5 → 72 → –"
    assert svg.get("aria-label") == label and svg.find(f"{ns}title").text == label
    assert rects[2].find(f"{ns}title").text == "r3 (2025-01-03T02:00:00Z): fail, newest_backup_age_hours 72"
    # And with no points it draws nothing
    assert str(trend.svg([])) == ""


def read_only_cli(folder: Path, *args: str):
    """`auditor ARGS` in a private mount namespace where `folder` is mounted read-only: the view of
    a user who may read the history but not write it or its folder (root ignores file modes)."""
    import shutil
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    script = ('mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"')
    done = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(folder), sys.executable, "-m",
                           "auditor", *args], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NO_COLOR": "1"})
    if done.returncode != 0 and "mount" in done.stderr and "auditor" not in done.stderr:
        pytest.skip(f"cannot make a read-only mount here: {done.stderr.strip()}")
    return done


def test_the_history_can_be_read_by_who_may_not_write_it(work):
    # Given two runs in the history, its folder then mounted read-only
    audit(work)
    (work / "beta.age").write_text("no 70\n")
    _, last = audit(work)
    reports = work / "reports"
    # When the runs are listed, a series printed, two runs diffed and a prune dry-run asked for
    listing = read_only_cli(reports, "history", "-o", str(reports))
    series = read_only_cli(reports, "history", "-o", str(reports), "--check", "age_file", "--host", "beta")
    diffed = read_only_cli(reports, "diff", "last", "previous", "-o", str(reports))
    dry = read_only_cli(reports, "history", "-o", str(reports), "prune", "--older-than", "1d", "--dry-run")
    # Then each works without writing (no "attempt to write a readonly database")
    assert listing.returncode == 0 and last.name in listing.stdout, listing.stderr
    assert series.returncode == 0 and "2 result(s) of age_file" in series.stdout, series.stderr
    assert diffed.returncode == 1 and "beta age_file: pass -> fail" in diffed.stdout, diffed.stderr
    assert dry.returncode == 0 and "would delete 0 run(s)" in dry.stdout, dry.stderr
    # And a real prune there fails with a clear error, exit 2
    pruned = read_only_cli(reports, "history", "-o", str(reports), "prune", "--older-than", "1d")
    assert pruned.returncode == 2 and "history.sqlite" in pruned.stderr and "Traceback" not in pruned.stderr


def test_a_new_history_is_0640_and_records_absolute_run_folders(work):
    # Given a run with a relative output folder, from the workspace
    done = run_cli("run", "-i", "inv.yaml", "--checks-dir", "checks", "--check", "age_file", "-o", "reports",
                   "--no-sign", "--format", "none", cwd=work)
    assert done.rc == 0, done.stderr
    # When the history is read from elsewhere
    path = work / "reports" / "history.sqlite"
    listing = run_cli("history", "--history", str(path), "--format", "json")
    dry = run_cli("history", "prune", "--older-than", "2099-01-01", "--dry-run", "--history", str(path))
    # Then the database is readable by owner and group only, like the run folders
    assert path.stat().st_mode & 0o777 == 0o640
    # And the run's folder is recorded as an absolute path, so prune finds it on disk from any folder
    (run,) = listing.json()
    assert run["run_dir"] == str(run_folder(work / "reports"))
    assert "still on disk:" in dry.stdout and run["run_dir"] in dry.stdout


def test_history_host_without_check_is_a_usage_error(work):
    # Given a history with one run
    audit(work)
    # When --host is given without --check, Then it is refused (it used to be ignored silently)
    done = history_cli(work, "history", "--host", "beta")
    assert done.rc == 2 and "--host needs --check" in done.stderr and "Traceback" not in done.stderr


def test_reading_an_older_schema_upgrades_it_when_allowed_and_explains_when_not(tmp_path):
    # Given a schema-2 database holding one run
    path = tmp_path / "reports" / "history.sqlite"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.executescript(history.MIGRATIONS[0] + ";" + history.MIGRATIONS[1])
    db.execute("INSERT INTO runs (id, run_id, started, finished, complete, tool_version, operator, "
               "inventory_path, inventory_sha256, run_dir, manifest_sha256, signed, signer_fingerprint, "
               "totals, baseline) VALUES (1, '20250101T000000Z-aaaaaa', '2025-01-01T00:00:00Z', "
               "'2025-01-01T00:01:00Z', 1, '0.1.0', 'ops@box', 'inv.yaml', 'ab', '/r', NULL, 0, NULL, '{}', "
               "NULL)")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    # When a user who may not write it lists the runs, Then a clear error says a run will upgrade it
    denied = read_only_cli(path.parent, "history", "--history", str(path))
    assert denied.returncode == 2 and "schema version 2" in denied.stderr and "upgrades" in denied.stderr
    assert "Traceback" not in denied.stderr
    # When its owner lists them, Then it is upgraded on the way and the run is listed
    listing = run_cli("history", "--history", str(path))
    assert listing.rc == 0 and "20250101T000000Z-aaaaaa" in listing.stdout, listing.stderr
    with History(path, readonly=True) as store:
        assert store.version() == history.SCHEMA_VERSION
