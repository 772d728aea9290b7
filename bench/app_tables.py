"""What the checks that read application tables cost on the audited host, per source size.

    python bench/app_tables.py [--rows 100000] [--repeat 3]

Builds a throw-away sqlite database (Python's sqlite3) with `--rows` rows of realistic
values — a payments table (a token, a masked number, hex ciphertext, a UUID or an IBAN in
groups, and a free-text note with an order number and a phone number), a consents table
(ISO 8601 timestamps over five years) — and runs each check's probe script, exactly as the
engine renders it, with /bin/sh on this machine, as the host would. Prints the median wall
time of `--repeat` runs and the bytes of output that would travel back. Also times
data_residency's probe where DMI names no cloud (nothing is asked of the network). Needs
sqlite3 and awk; no root, no network. """

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.engine import registry  # noqa: E402


def stored_card(rng: random.Random, i: int) -> str:
    """What a card column holds when it is done right: a token, a masked number, hex ciphertext, a
    UUID reference, or (a column reused for payouts) an IBAN in groups of four."""
    kind = i % 5
    if kind == 0:
        return f"tok_{rng.getrandbits(64):016x}"
    if kind == 1:
        return f"**** **** **** {rng.randrange(10000):04d}"
    if kind == 2:
        return rng.randbytes(32).hex()
    if kind == 3:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    iban = f"PL{rng.randrange(100):02d}{rng.randrange(10**24):024d}"
    return " ".join(iban[k:k + 4] for k in range(0, len(iban), 4))


def build(path: Path, rows: int) -> None:
    rng = random.Random(7)
    start = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE payments (id INTEGER PRIMARY KEY, card TEXT, note TEXT)")
        db.execute("CREATE TABLE consents (id INTEGER PRIMARY KEY, created_at TEXT)")
        db.executemany("INSERT INTO payments (card, note) VALUES (?, ?)", [
            (stored_card(rng, i), f"order {rng.randrange(10**9)} phone +48 {rng.randrange(10**9):09d}")
            for i in range(rows)])
        db.executemany("INSERT INTO consents (created_at) VALUES (?)", [
            ((start + dt.timedelta(seconds=rng.randrange(5 * 365 * 86400))).strftime("%Y-%m-%dT%H:%M:%SZ"),)
            for _ in range(rows)])
    db.close()


def timed(script: str, repeat: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, check=True)
        times.append(time.perf_counter() - began)
        size = len(done.stdout)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    checks = registry.load().checks
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "app.db"
        build(db, args.rows)
        cases = {
            "app_data_encryption": {"sources": [{"name": "payments", "kind": "sqlite", "path": str(db),
                                                 "query": "SELECT card, note FROM payments"}]},
            "data_retention": {"sources": [{"name": "consents", "kind": "sqlite", "path": str(db),
                                            "query": "SELECT created_at FROM consents",
                                            "max_age_days": 730}]},
            "data_residency": {},
        }
        print(f"{'check':<22} {'rows':>8} {'wall s':>8} {'output B':>9}")
        for check_id, params in cases.items():
            check = checks[check_id]
            merged = {**check.default_params(), **params, "max_rows": args.rows}
            script = "\n".join(p.render(merged) for p in check.probes)
            wall, size = timed(script, args.repeat)
            rows = args.rows if params else 0
            print(f"{check_id:<22} {rows:>8} {wall:>8.3f} {size:>9}")


if __name__ == "__main__":
    main()
