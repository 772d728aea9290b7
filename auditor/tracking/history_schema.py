"""The history database's schema and connections: the ordered MIGRATIONS (the schema version is
`PRAGMA user_version`), opening it for writing (WAL) or read-only, and the one error it raises.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path

from auditor.errors import InputError

DEFAULT_NAME = "history.sqlite"
BUSY_TIMEOUT_S = 30.0

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, hosts, results
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        started TEXT NOT NULL,
        finished TEXT NOT NULL,
        complete INTEGER NOT NULL,
        tool_version TEXT NOT NULL,
        operator TEXT NOT NULL,
        inventory_path TEXT NOT NULL,
        inventory_sha256 TEXT NOT NULL,
        run_dir TEXT NOT NULL,
        manifest_sha256 TEXT,
        signed INTEGER NOT NULL,
        signer_fingerprint TEXT,
        totals TEXT NOT NULL
    );
    CREATE INDEX runs_started ON runs(started);
    CREATE TABLE hosts (
        run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        host TEXT NOT NULL,
        reachable INTEGER NOT NULL,
        error_kind TEXT,
        status TEXT NOT NULL,
        PRIMARY KEY (run, host)
    ) WITHOUT ROWID;
    CREATE TABLE results (
        run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        host TEXT NOT NULL,
        check_id TEXT NOT NULL,
        status TEXT NOT NULL,
        original_status TEXT,
        summary TEXT NOT NULL,
        waiver_justification TEXT,
        "values" TEXT NOT NULL,
        PRIMARY KEY (run, host, check_id)
    ) WITHOUT ROWID;
    """,
    # 2: the baseline a run was judged against, and each result's trend values for fast series
    """
    ALTER TABLE runs ADD COLUMN baseline TEXT;
    ALTER TABLE results ADD COLUMN key_values TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE results ADD COLUMN key_value REAL;
    CREATE INDEX results_series ON results(check_id, host, run);
    """,
    # 3: a run's scope (absolute inventory path, policy id, --host/--group/--check), so that a
    # baseline is the previous run of the same audit and not whatever ran last into the folder
    """
    ALTER TABLE runs ADD COLUMN inventory_abspath TEXT;
    ALTER TABLE runs ADD COLUMN policy_id TEXT;
    ALTER TABLE runs ADD COLUMN selection TEXT;
    UPDATE runs SET inventory_abspath = inventory_path WHERE inventory_path LIKE '/%';
    CREATE INDEX runs_scope ON runs(inventory_abspath, started);
    """,
    # 4: each result's worst advisory (a failing finding below its check's fail_on); NULL when none,
    # and for results recorded before severities existed
    """
    ALTER TABLE results ADD COLUMN advisory_severity TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class HistoryError(InputError):
    """The history database cannot be used; the message names the file and what to do."""


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        db.execute("PRAGMA foreign_keys = ON")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if created:  # like the run folders (0750): the owner writes, its group may read
            path.chmod(0o640)
    except sqlite3.DatabaseError as exc:
        raise _failure(path, exc, timeout) from None
    except OSError as exc:
        raise HistoryError(f"{path}: cannot open the history database: {exc.strerror}") from None
    if mode != "wal":
        db.close()
        raise HistoryError(f"{path}: the history database cannot use WAL (journal mode {mode})")
    return db


def _connect_readonly(path: Path, timeout: float) -> sqlite3.Connection:
    """For reading only (history, diff, a baseline, trends): works for a user who may read the
    file but not write it or its folder. A WAL reader needs the -shm file, which only a writer
    can create; when no writer is active (no -wal file) the database is read as immutable."""
    uri = "file:" + urllib.parse.quote(str(path.absolute()))
    for options in ("?mode=ro", "?mode=ro&immutable=1"):
        try:
            db = sqlite3.connect(uri + options, timeout=timeout, isolation_level=None, uri=True)
            db.execute("PRAGMA user_version").fetchone()
            return db
        except sqlite3.DatabaseError as exc:
            error = exc
            if path.with_name(path.name + "-wal").exists():  # a writer is busy: immutable would be wrong
                break
    raise HistoryError(_explain(path, error, timeout) + " (opened read-only; a reader needs to read the "
                       "file, and to write its folder while another run writes the history)")


class _Busy(HistoryError):
    """Locked by another process; opening the database retries these until the timeout."""


def _failure(path: Path, exc: sqlite3.Error, timeout: float) -> HistoryError:
    text = _explain(path, exc, timeout)
    return _Busy(text) if "locked" in str(exc) or "busy" in str(exc) else HistoryError(text)


def _explain(path: Path, exc: sqlite3.Error, timeout: float) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (f"{path}: the history database stayed locked by another auditor run for more than "
                f"{timeout:g} s; retry when it has finished (or use --history to choose another file)")
    if "not a database" in text:
        return f"{path}: is not an auditor history database (SQLite says: {text})"
    return f"{path}: history database error: {text}"


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
