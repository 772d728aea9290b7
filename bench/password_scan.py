"""What passwords_not_logged's on-host scan (SCAN_AWK) costs per line, before and after it read long
lines through windows.

    python bench/password_scan.py [--awk mawk] [--old-timeout 200]

Feeds the scan's awk what grep -n prints for one file and times it, the new program and the old
per-line loop (kept in tests/unit/test_password_scan_awk.py), on:

- json30k:  one 1.3 MB line, a JSON array of 30,000 {"user","password"} objects (30,000 hits);
- json100k: one 4.5 MB line, the same with 100,000 objects;
- params:   one 4 MB line of 100,000 `pass=x&q=yyy...` parameters;
- jwt:      100 access-log lines, each with an 8 kB JWT after `authorization="Bearer` (no password:
            the old parameter pattern's leading [a-z0-9_.-]* rescanned the JWT once per byte);
- ordinary: 20,000 real-looking auth.log, nginx, JSON and client lines (the usual case).

The old program is stopped after --old-timeout seconds. Measured on the 2-core development
machine (2026-12-07, shared and loaded, +-15 %), mawk 1.3.4 and busybox 1.35 awk:

    mawk     json30k    1.33 MB  old  15.48 s               new 0.22 s
    mawk     json100k   4.48 MB  old 223.82 s               new 0.83 s
    mawk     params     4.00 MB  old 322.57 s               new 0.87 s
    mawk     jwt        0.79 MB  old  24.88 s               new 0.03 s
    mawk     ordinary   1.92 MB  old   0.37 s               new 0.30 s
    busybox  json30k    1.33 MB  old > 60 s (stopped)       new 2.11 s
    busybox  json100k   4.48 MB  old > 60 s (stopped)       new 6.52 s
    busybox  params     4.00 MB  old > 60 s (stopped)       new 7.46 s
    busybox  jwt        0.79 MB  old   7.85 s               new 0.06 s
    busybox  ordinary   1.92 MB  old   3.32 s               new 3.38 s

(the probe's deadline is 150 s; busybox's substr measures the whole string, so its old loop was
slower still: 23.5 s for 0.65 MB with 15,000 hits.)
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.parsers.credentials import MASK_AWK  # noqa: E402
from checks.passwords_not_logged import SCAN_AWK  # noqa: E402


def _test_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scan_test", ROOT / "tests/unit/test_password_scan_awk.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs() -> dict[str, list[str]]:
    rng = random.Random(1)
    claims = json.dumps({"sub": "u", "n": os.urandom(2900).hex()})
    payload = base64.urlsafe_b64encode(claims.encode()).decode()
    jwt = "eyJhbGciOiJIUzI1NiJ9." + payload.rstrip("=") + ".c2lnbmF0dXJl"
    access = ('10.0.0.1 - - [07/Dec/2026:01:00:00 +0000] "GET /api/v1/items HTTP/1.1" 200 512 "-" "curl/8" '
              f'authorization="Bearer {jwt}"')
    tests = _test_module()
    real: list[str] = tests.REAL_LINES
    users = tests.users
    return {
        "json30k": [users(30_000)],
        "json100k": [users(100_000)],
        "params": [("pass=x&q=" + "y" * 31) * 100_000],
        "jwt": [access] * 100,
        "ordinary": [rng.choice(real) for _ in range(20_000)],
    }


def timed(awk: str, program: str, lines: list[str], timeout: float) -> str:
    text = "scan\t/var/log/app.log\n" + "".join(f"{n}:{line}\n" for n, line in enumerate(lines, 1))
    argv = ["busybox", "awk"] if awk == "busybox" else [awk]
    started = time.monotonic()
    try:
        subprocess.run([*argv, "-v", "left=50", program], input=text.encode(), capture_output=True,
                       timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f} s (stopped)"
    return f"{time.monotonic() - started:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--awk", default="mawk")
    parser.add_argument("--old-timeout", type=float, default=200.0)
    args = parser.parse_args()
    old: str = _test_module().old_program(posix_curl=False)  # as hosts ran it
    for name, lines in inputs().items():
        size = sum(len(line) + 1 for line in lines) / 1e6
        new_s = timed(args.awk, MASK_AWK + SCAN_AWK, lines, 600)
        old_s = timed(args.awk, old, lines, args.old_timeout)
        print(f"{args.awk:8} {name:9} {size:5.2f} MB  old {old_s:>20}  new {new_s:>8}", flush=True)


if __name__ == "__main__":
    main()
