"""psutil's two jobs: ending a local probe's whole process tree on timeout, and the run's own
CPU and memory figures in report.json."""

from __future__ import annotations

import json
import time

import psutil
import pytest

from auditor.transports.base import CommandTimeout
from auditor.transports.local import LocalTransport
from tests.conftest import run_cli, run_folder


def test_a_timeout_ends_a_descendant_that_left_the_process_group(tmp_path):
    # Given a probe that starts a child in a session of its own (as a daemon does), holding stdout
    marker = tmp_path / "escaped.pid"
    command = f"setsid sh -c 'echo $$ > {marker}; exec sleep 60' & sleep 60"
    transport = LocalTransport()
    started = time.monotonic()
    # When the command times out after 1 s
    with pytest.raises(CommandTimeout):
        transport.run(command, b"", timeout=1)
    elapsed = time.monotonic() - started
    # Then the run returns near its deadline (not when the escaped child's sleep ends)
    assert elapsed < 15, elapsed
    # And the escaped child is gone too
    pid = int(marker.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"process {pid} outlived the timeout"
        time.sleep(0.05)


def test_report_json_records_the_runs_own_cpu_and_memory(tmp_path):
    # Given a local run
    result = run_cli("run", "-t", "local", "--check", "auth_logging", "-o", str(tmp_path), "--no-history",
                     "--no-sign", "--format", "none")
    assert result.rc != 2, result.stderr
    report = json.loads((run_folder(tmp_path) / "report.json").read_text())
    # Then run.resources holds plausible figures (the schema test validates the field's shape)
    resources = report["run"]["resources"]
    assert resources["cpu_seconds"] >= 0 and resources["children_cpu_seconds"] >= 0
    assert 10 * 2**20 < resources["rss_bytes"] < 2 * 2**30
