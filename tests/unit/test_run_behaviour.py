"""A slow host times out alone; Ctrl-C still writes a partial report marked incomplete."""

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO, run_cli

SLEEPER = '''
"""Sleeps as long as its parameter says, then passes."""
from auditor.check import Check, Param, Status, result
from auditor.probes import quote, shell

CHECK = Check(id="sleeper", title="Sleeps", claims=("x",), controls=("A.1",),
              params=(Param("seconds", int, 0, "how long"),),
              probes=(shell("nap", lambda p: f"sleep {quote(str(p['seconds']))}; echo rested"),))

def evaluate(out, params):
    return result(Status.PASS, out.require("nap").stdout.strip(), evidence=["nap"])
'''


def setup(tmp_path, slow_seconds, timeout):
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "sleeper.py").write_text(SLEEPER)
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "hosts:\n"
        "  fast: {transport: local}\n"
        f"  slow: {{transport: local, command_timeout: {timeout},"
        f" vars: {{sleeper: {{seconds: {slow_seconds}}}}}}}\n"
    )
    return inventory


def test_a_slow_host_times_out_alone(tmp_path):
    # Given a host whose probe sleeps 31 s with a 1 s command timeout, next to a fast host
    inventory = setup(tmp_path, slow_seconds=31, timeout=1)
    # When both are audited
    started = time.monotonic()
    result = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "r"), "--check", "sleeper",
                     "--checks-dir", str(tmp_path / "checks"), "--format", "json")
    elapsed = time.monotonic() - started
    hosts = {h["name"]: h for h in result.json()["hosts"]}
    # Then the slow one is a timeout error, the fast one passes, and nobody waited 31 s
    assert hosts["slow"]["error_kind"] == "timeout"
    assert hosts["fast"]["results"][0]["status"] == "pass"
    assert result.rc == 3
    assert elapsed < 15
    # And the sleeping probe was ended with its process group, not left behind
    leftover = subprocess.run(["pgrep", "-f", "^sleep 31$"], capture_output=True, text=True).stdout
    assert leftover.strip() == ""


def test_ctrl_c_writes_a_partial_report_marked_incomplete(tmp_path):
    # Given a run in progress, with one host that will sleep 61 s
    inventory = setup(tmp_path, slow_seconds=61, timeout=300)
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "run", "-i", str(inventory), "-o", str(tmp_path / "r"),
         "--check", "sleeper", "--checks-dir", str(tmp_path / "checks"), "--format", "none"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        # Wait for the fast host's evidence file, then a moment for its verdict to be queued: the
        # folder alone appears before the host is judged, and a busy machine widens that gap.
        deadline = time.monotonic() + 45
        while not list((tmp_path / "r").glob("*/evidence/fast/*.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        # When the user presses Ctrl-C
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Then the exit code is 130 and the report exists, marked incomplete, with the fast host done
    assert proc.returncode == 130, stderr
    report = json.loads(next((tmp_path / "r").glob("*/report.json")).read_text())
    assert report["run"]["complete"] is False
    hosts = {h["name"]: h for h in report["hosts"]}
    assert hosts["fast"]["results"][0]["status"] == "pass"
    assert hosts["slow"]["error_kind"] == "interrupted"
    assert "Traceback" not in stderr
    # And the slow host's probe was stopped, not orphaned
    leftover = subprocess.run(["pgrep", "-f", "^sleep 61$"], capture_output=True, text=True).stdout
    assert leftover.strip() == ""
