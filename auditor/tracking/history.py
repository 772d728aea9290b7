"""The history store: every run recorded in a local SQLite database (stdlib sqlite3).

Schema (version in `PRAGMA user_version`, upgraded by the ordered MIGRATIONS of history_schema):

    runs     one row per run: run_id, started/finished (ISO UTC), complete, tool_version,
             operator, inventory_path + inventory_sha256, run_dir, manifest_sha256,
             signed + signer_fingerprint, baseline (run id or NULL), totals (JSON), and the
             run's scope: inventory_abspath, policy_id, selection (JSON of --host/--group/--check)
    hosts    per run x host: reachable, error_kind, status
    results  per run x host x check: status, original_status (when waived), summary,
             waiver_justification, values (JSON, already redacted), key_values (JSON: the
             check's trend values) and key_value (its first numeric trend value, for sparklines)

WAL journal; writers take the database with BEGIN IMMEDIATE and wait up to a busy timeout,
so concurrent runs queue instead of corrupting it. Readers (history, diff, baselines, trends)
open it read-only, so a user who may only read the file can use them. Values come from results that the
runner has already redacted; nothing else about a host is stored.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from auditor.check import Severity, Status
from auditor.model import RunReport, TrendPoint
from auditor.tracking.history_rows import (
    _RUN_COLUMNS,
    PopulationRow,
    RunRow,
    Scope,
    SeriesRow,
    _result_row,
    _run_row,
    first_number,
    key_values,
    since_to_iso,
    worst_advisory,
)
from auditor.tracking.history_schema import (
    BUSY_TIMEOUT_S,
    DEFAULT_NAME,
    MIGRATIONS,
    SCHEMA_VERSION,
    HistoryError,
    _Busy,
    _connect,
    _connect_readonly,
    _explain,
    _failure,
    _statements,
)

# Every public name this module had before it was split, for its callers.
__all__ = [
    "BUSY_TIMEOUT_S", "DEFAULT_NAME", "History", "HistoryError", "MIGRATIONS", "PopulationRow",
    "RunRow", "SCHEMA_VERSION", "Scope", "SeriesRow", "first_number", "key_values", "since_to_iso",
    "worst_advisory",
]


class History:
    """An open history database; use as a context manager."""

    def __init__(self, path: Path, timeout: float = BUSY_TIMEOUT_S, create: bool = True,
                 readonly: bool = False) -> None:
        if (readonly or not create) and not path.exists():
            raise HistoryError(f"{path}: no history database here yet (a run with history writes one; "
                               "--history PATH names another)")
        self.path = path
        self.timeout = timeout
        self.readonly = readonly
        # SQLite answers "locked" at once, without its busy handler, in a few moments of another
        # process opening, migrating or closing the file: those are retried up to the timeout.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.db = _connect_readonly(path, timeout) if readonly else _connect(path, timeout)
                try:
                    self._migrate()
                except BaseException:
                    self.db.close()
                    raise
                return
            except _Busy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One writer at a time: BEGIN IMMEDIATE waits up to the busy timeout, then a clear error."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _failure(self.path, exc, self.timeout) from None
        try:
            yield self.db
        except BaseException:
            self._rollback()
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._rollback()
            raise _failure(self.path, exc, self.timeout) from None

    def _rollback(self) -> None:
        # SQLite has rolled back already after some errors (a full disk); a second ROLLBACK would
        # then hide that error behind "cannot rollback - no transaction is active".
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        try:
            if self.version() == SCHEMA_VERSION:
                return
            self._refuse_newer(self.version())
            if self.readonly:
                with contextlib.suppress(HistoryError):  # upgrade it if this user may write it
                    History(self.path, self.timeout).close()
                if self.version() == SCHEMA_VERSION:
                    return
                raise HistoryError(f"{self.path}: the history database has schema version {self.version()}; "
                                   f"this auditor reads version {SCHEMA_VERSION}, which the next run with "
                                   "history (by a user who may write the file) upgrades it to")
            with self._writing() as db:
                current = self.version()  # re-read under the lock: another process may have migrated
                self._refuse_newer(current)
                for version in range(current, SCHEMA_VERSION):
                    for statement in _statements(MIGRATIONS[version]):
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise _failure(self.path, exc, self.timeout) from None

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"{self.path}: the history database has schema version {version}, newer than "
                f"this auditor understands ({SCHEMA_VERSION}); upgrade auditor or use --history "
                "for another file")

    def record(self, report: RunReport, run_dir: Path, manifest_sha256: str | None,
               scope: Scope | None = None) -> int:
        """Store a finished run (after its manifest exists); returns the run's row id."""
        trend_keys = {c.id: c.trend_values for c in report.checks}
        baseline = report.tracking.baseline if report.tracking else None
        try:
            with self._writing() as db:
                cursor = db.execute(
                    "INSERT INTO runs (run_id, started, finished, complete, tool_version, operator, "
                    "inventory_path, inventory_sha256, run_dir, manifest_sha256, signed, signer_fingerprint, "
                    "totals, baseline, inventory_abspath, policy_id, selection) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (report.run_id, report.started, report.finished, int(report.complete),
                     report.tool_version, report.operator, report.inventory_path, report.inventory_sha256,
                     str(run_dir.absolute()),
                     manifest_sha256, int(report.signer_fingerprint is not None), report.signer_fingerprint,
                     json.dumps(report.totals(), sort_keys=True), baseline,
                     scope.inventory if scope else None, scope.policy if scope else None,
                     scope.selection if scope else None))
                run = cursor.lastrowid
                db.executemany(
                    "INSERT INTO hosts (run, host, reachable, error_kind, status) VALUES (?,?,?,?,?)",
                    [(run, h.name, int(h.reachable), h.error_kind, h.status.value) for h in report.hosts])
                db.executemany(
                    'INSERT INTO results (run, host, check_id, status, original_status, summary, '
                    'waiver_justification, "values", key_values, key_value, advisory_severity) '
                    'VALUES (?,?,?,?,?,?,?,?,?,?,?)',
                    [_result_row(run, h.name, r, trend_keys.get(r.check_id, ()))
                     for h in report.hosts for r in h.results])
        except sqlite3.IntegrityError:
            raise HistoryError(f"{self.path}: run {report.run_id} is already recorded") from None
        except sqlite3.DatabaseError as exc:
            raise HistoryError(_explain(self.path, exc, self.timeout)) from None
        assert run is not None
        return run

    def runs(self, since: str | None = None, limit: int | None = None) -> list[RunRow]:
        """Runs, newest first."""
        return self._runs("started >= ?", (since or "",), limit)

    def _runs(self, where: str, params: tuple[Any, ...], limit: int | None = None) -> list[RunRow]:
        # `where` is always one of this class's fixed fragments; values go in as parameters
        sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE {where} ORDER BY started DESC, id DESC LIMIT ?"  # noqa: S608
        return [_run_row(r) for r in self._read(sql, (*params, -1 if limit is None else limit))]

    def baseline(self, scope: Scope | None, before: RunRow | None = None) -> tuple[RunRow, bool] | None:
        """The newest complete run of the same inventory and policy (older than `before`), and
        whether it also had the same --host/--group/--check selection (preferred when one exists).

        Without a scope (a run recorded before schema 3), the newest complete run."""
        older, edge = "", tuple[Any, ...]()
        if before is not None:
            older, edge = " AND (started < ? OR (started = ? AND id < ?))", (before.started, before.started,
                                                                             before.id)
        if scope is None:
            rows = self._runs("complete = 1" + older, edge, 1)
            return (rows[0], False) if rows else None
        same = "complete = 1 AND inventory_abspath = ? AND policy_id IS ?"
        for where, exact in ((same + " AND selection = ?", True), (same, False)):
            params = (scope.inventory, scope.policy) + ((scope.selection,) if exact else ())
            rows = self._runs(where + older, (*params, *edge), 1)
            if rows:
                return rows[0], exact
        return None

    def previous_manifest(self, inventory: str, policy: str | None) -> str | None:
        """The SHA-256 of the newest recorded manifest of this inventory and policy: the link a new
        run's manifest records, so that a run deleted, replaced or reordered later shows."""
        rows = self._read("SELECT manifest_sha256 FROM runs WHERE inventory_abspath = ? AND policy_id IS ? "
                          "ORDER BY started DESC, id DESC LIMIT 1", (inventory, policy))
        return str(rows[0][0]) if rows and rows[0][0] else None

    def chain(self) -> list[RunRow]:
        """Every run, oldest first (`auditor verify --chain` groups them by scope)."""
        return list(reversed(self.runs()))

    def population(self, since: str | None = None) -> list[PopulationRow]:
        """One row per run x host x check, newest run first: what an auditor samples from."""
        rows = self._read(
            "SELECT runs.run_id, runs.started, runs.complete, runs.manifest_sha256, runs.signer_fingerprint, "
            "runs.policy_id, results.host, results.check_id, results.status, results.original_status "
            "FROM results JOIN runs ON runs.id = results.run WHERE runs.started >= ? "
            "ORDER BY runs.started DESC, runs.id DESC, results.host, results.check_id", (since or "",))
        return [PopulationRow(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]

    def find(self, reference: str) -> RunRow:
        """A run by id, or `last` (newest) / `previous` (the baseline `last` was judged against:
        the newest complete run before it of the same inventory, policy and selection)."""
        if reference in ("last", "previous"):
            newest = self._runs("1", (), 1)
            found = (newest[0], True) if newest and reference == "last" else (
                self.baseline(newest[0].scope, before=newest[0]) if newest else None)
            if found is None:
                raise HistoryError(f"{self.path}: no {reference} run recorded yet"
                                   + (" of the same inventory and policy as the last run" if newest else ""))
            return found[0]
        rows = self._runs("run_id = ?", (reference,), 1)
        if not rows:
            raise HistoryError(f"{self.path}: no run {reference!r} in the history (see `auditor history`)")
        return rows[0]

    def snapshot(self, run: RunRow) -> dict[str, Any]:
        """A recorded run in report.json's shape (hosts, results, values), for auditor.tracking.diff."""
        hosts: dict[str, dict[str, Any]] = {}
        for host, reachable, error_kind in self._read(
                "SELECT host, reachable, error_kind FROM hosts WHERE run = ? ORDER BY host", (run.id,)):
            hosts[host] = {"name": host, "reachable": bool(reachable), "error_kind": error_kind,
                           "results": []}
        for host, check_id, status, original, summary, justification, values, advisory in self._read(
                'SELECT host, check_id, status, original_status, summary, waiver_justification, "values", '
                "advisory_severity FROM results WHERE run = ? ORDER BY host, check_id", (run.id,)):
            hosts.setdefault(host, {"name": host, "reachable": True, "error_kind": None, "results": []})
            hosts[host]["results"].append({
                "check": check_id, "status": status, "original_status": original, "summary": summary,
                "waiver": {"justification": justification} if justification else None,
                "values": json.loads(values), "advisory_severity": advisory})
            if status == Status.ERROR.value:  # what the check last found, for drift after a bad night
                last = self._verdict_before(run.id, host, check_id)
                hosts[host]["results"][-1]["verdict_before_error"] = last
        scope = run.scope
        return {"run": {"id": run.run_id, "started": run.started, "finished": run.finished,
                        "history_row": run.id,
                        "scope": {"inventory": scope.inventory, "policy": scope.policy,
                                  "selection": scope.selection} if scope else None},
                "hosts": list(hosts.values())}

    def _verdict_before(self, run: int, host: str, check_id: str) -> str | None:
        """The newest status other than error of a host x check in complete runs before `run`."""
        rows = self._read("SELECT results.status FROM results JOIN runs ON runs.id = results.run "
                          "WHERE results.check_id = ? AND results.host = ? AND results.run < ? "
                          "AND results.status != 'error' AND runs.complete = 1 "
                          "ORDER BY results.run DESC LIMIT 1", (check_id, host, run))
        return str(rows[0][0]) if rows else None

    def series(self, check_id: str, host: str | None = None, since: str | None = None) -> list[SeriesRow]:
        """Status and trend values of one check over time, newest first (like `runs`)."""
        select = ("SELECT runs.run_id, runs.started, results.host, results.status, results.original_status, "
                  "results.summary, results.key_values, results.advisory_severity "
                  "FROM results JOIN runs ON runs.id = results.run ")
        order = " ORDER BY runs.started DESC, runs.id DESC, results.host"
        if host is None:  # two fixed statements, so that SQLite can use the (check_id, host, run) index
            rows = self._read(select + "WHERE results.check_id = ? AND runs.started >= ?" + order,
                              (check_id, since or ""))
        else:
            rows = self._read(select + "WHERE results.check_id = ? AND results.host = ? AND runs.started >= ?"
                              + order, (check_id, host, since or ""))
        return [SeriesRow(r[0], r[1], r[2], Status(r[3]), Status(r[4]) if r[4] else None, r[5],
                          json.loads(r[6]), Severity(r[7]) if r[7] else None) for r in rows]

    def trends(self, runs: int) -> dict[tuple[str, str], list[TrendPoint]]:
        """(host, check) -> the points of the newest `runs` runs, oldest first."""
        out: dict[tuple[str, str], list[TrendPoint]] = {}
        for run_id, started, host, check_id, status, value in self._read(
                "WITH recent AS (SELECT id, run_id, started FROM runs "
                "ORDER BY started DESC, id DESC LIMIT ?) "
                "SELECT recent.run_id, recent.started, results.host, results.check_id, results.status, "
                "results.key_value FROM results JOIN recent ON recent.id = results.run "
                "ORDER BY recent.started, recent.id", (runs,)):
            out.setdefault((host, check_id), []).append(TrendPoint(run_id, started, Status(status), value))
        return out

    def prune(self, before: str, dry_run: bool) -> tuple[list[RunRow], int]:
        """Delete runs started before `before` (ISO); returns them and the result rows removed."""
        try:
            # A dry run only reads, so a user who may not write the database can ask too
            with contextlib.nullcontext(self.db) if dry_run else self._writing() as db:
                old = [r for r in self.runs() if r.started < before]
                ids = [(r.id,) for r in old]
                rows = sum(int(db.execute("SELECT count(*) FROM results WHERE run = ?", i).fetchone()[0])
                           for i in ids)
                if not dry_run:
                    db.executemany("DELETE FROM runs WHERE id = ?", ids)  # hosts, results cascade
        except sqlite3.DatabaseError as exc:
            raise HistoryError(_explain(self.path, exc, self.timeout)) from None
        return old, rows

    def _read(self, sql: str, params: Sequence[Any] | tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise HistoryError(_explain(self.path, exc, self.timeout)) from None
