"""bench/fleet.py stays a working tool: its smallest run (2 hosts on 1 sshd, one repeat, every
mode, with and without the delaying relay) completes, no cell is VOID, and the numbers are sane.

The numbers themselves are not judged here (the machine is shared; the targets are for
`--hosts 100` runs by hand): only that every run was counted and measured.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.integration.sshhosts import require_sshd_support

pytestmark = pytest.mark.integration

HOSTS = 2
RTT_MS = 10.0
MODES = ("batched", "no-batch", "floor")


def test_smallest_fleet_bench_has_no_void_cell() -> None:
    # Given a machine that can run sshd test hosts
    require_sshd_support()
    # When the fleet bench runs with its smallest settings, raw numbers as JSON
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "fleet.py"), "--hosts", str(HOSTS), "--sshd", "1",
         "-j", str(HOSTS), "--repeat", "1", "--rtt", f"{RTT_MS:g}", "--timeout", "60", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    # Then it succeeds, and every mode at both RTTs was measured with every host counted
    assert done.returncode == 0, done.stderr[-3000:]
    assert "VOID" not in done.stderr, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["config"]["hosts"] == HOSTS
    assert result["config"]["batch_script_bytes"] > 0
    assert result["measured_rtt_ms"]["0"] is None
    assert result["measured_rtt_ms"][f"{RTT_MS:g}"] >= RTT_MS * 0.8
    cells = {(c["mode"], c["rtt_ms"]): c for c in result["cells"]}
    assert set(cells) == {(mode, rtt) for mode in MODES for rtt in (0.0, RTT_MS)}
    for (mode, rtt), cell in cells.items():
        assert not cell["void"], (mode, rtt, cell)
        [sample] = cell["samples"]
        assert sample["problems"] == [], (mode, rtt, sample)
        assert sample["ok_hosts"] == HOSTS, (mode, rtt, sample)
        assert 0 < sample["wall_s"] < 60, (mode, rtt, sample)
        assert 0 < sample["cpu_s"] < 60, (mode, rtt, sample)
        assert 10 < sample["maxrss_mb"] < 1024, (mode, rtt, sample)
        assert sample["server_cpu_s"] > 0, (mode, rtt, sample)
    # And each target got a verdict from counted runs, whatever the verdict
    targets = result["targets"]
    assert len(targets) == 2 + 1 + 2 * 2  # floor ratio per RTT, batch speed-up, CPU and RSS per RTT
    assert {t["verdict"] for t in targets} <= {"PASS", "MISS"}, targets
