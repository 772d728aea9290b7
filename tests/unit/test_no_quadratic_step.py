"""No step after collection grows faster than the hosts: doubling the fleet must not quadruple the
work of the claim verdicts, the controls matrix, every report written and the console table.

Counted in Python function calls (deterministic, unlike timings): linear work doubles, a step
that compares every host with every other quadruples. Hosts are built in memory, no SSH."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from auditor.check import Status
from auditor.pipeline import write_reports
from auditor.policy import verdicts
from auditor.report import console
from tests.unit.test_claim_verdicts import host, report

STATUSES = (Status.PASS, Status.FAIL, Status.ERROR, Status.SKIP)
CHECKS = ("app_password_hashing", "log_retention", "password_hashing")
GROWTH_BOUND = 2.5  # linear: 2.0, quadratic: 4.0


def _calls(work: Callable[[], Any]) -> int:
    count = 0

    def counter(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(counter)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def _after_collection(n_hosts: int, run_dir: Path) -> int:
    hosts = [host(f"web{i:04d}", *((c, STATUSES[(i + j) % len(STATUSES)]) for j, c in enumerate(CHECKS)))
             for i in range(n_hosts)]
    run, _ = report(*hosts)
    for i in range(n_hosts):  # one evidence file per host, as oscal.json reads them back
        record = {"host": f"web{i:04d}", "probe": "password_hashing.p", "stdout": "x" * 100,
                  "target": {"name": f"web{i:04d}", "transport": "ssh", "address": "10.0.0.1", "port": 22}}
        (run_dir / "evidence" / f"web{i:04d}").mkdir(parents=True)
        (run_dir / "evidence" / f"web{i:04d}" / "password_hashing.p.json").write_text(json.dumps(record))

    def work() -> None:
        judged = verdicts.judged(run)
        write_reports(run, run_dir, judged)
        console.host_check_table(run, colour=False, width=120)

    return _calls(work)


def test_judging_and_writing_the_reports_grow_linearly_with_the_hosts(tmp_path):
    # Given the same run with 200 hosts and with 400 hosts (every status on every check)
    # When the claim verdicts, the controls matrix, every report and the console table are made
    small = _after_collection(200, tmp_path / "small")
    large = _after_collection(400, tmp_path / "large")
    # Then twice the hosts costs about twice the calls, far from the four times of a quadratic step
    assert large / small < GROWTH_BOUND, (small, large)
