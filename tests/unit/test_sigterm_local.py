"""SIGTERM stops a local run as Ctrl-C does, exit code 143 (with sshd: tests/integration/test_sigterm.py)."""

import json
import signal
import subprocess
import time

from tests.conftest import cli_process, signal_cli
from tests.unit.test_run_behaviour import setup


def test_sigterm_writes_the_partial_report_and_exits_143(tmp_path):
    # Given a run in progress, with one host that will sleep 61 s
    inventory = setup(tmp_path, slow_seconds=61, timeout=300)
    with cli_process("run", "-i", str(inventory), "-o", str(tmp_path / "r"), "--check", "sleeper",
                     "--checks-dir", str(tmp_path / "checks"), "--format", "json") as proc:
        deadline = time.monotonic() + 45
        while not list((tmp_path / "r").glob("*/evidence/fast/*.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # the fast host's verdict queued, the slow one asleep
        # When the process we started is sent SIGTERM
        done = signal_cli(proc, signal.SIGTERM, timeout=30)
    # Then it exits 143 with the partial report on stdout and in the run folder, the fast host done
    assert done.rc == 143, done.stderr
    report = json.loads(next((tmp_path / "r").glob("*/report.json")).read_text())
    assert done.json() == report and report["run"]["complete"] is False
    hosts = {h["name"]: h for h in report["hosts"]}
    assert hosts["fast"]["results"][0]["status"] == "pass"
    assert hosts["slow"]["error_kind"] == "interrupted"
    assert "Traceback" not in done.stderr
    # And the slow host's probe was stopped with it, not orphaned
    leftover = subprocess.run(["pgrep", "-f", "^sleep 61$"], capture_output=True, text=True).stdout
    assert leftover.strip() == ""


def test_sigterm_stops_a_worker_and_its_sub_pack_says_incomplete(tmp_path):
    from auditor.distributed.worker import SHARD_REPORT
    from tests.conftest import run_cli

    # Given the same two hosts cut into a shard, and `auditor worker` running it
    inventory = setup(tmp_path, slow_seconds=61, timeout=300)
    common = ("--checks-dir", str(tmp_path / "checks"))
    cut = run_cli("run", "-i", str(inventory), *common, "--check", "sleeper", "--shards-out",
                  str(tmp_path / "shards"), "--no-history")
    assert cut.rc == 0, cut.stderr
    shard = next(p for p in (tmp_path / "shards").glob("*.json") if p.name != "plan.json")
    with cli_process("worker", str(shard), "-o", str(tmp_path / "sub"), *common, "--no-sign") as proc:
        deadline = time.monotonic() + 45
        while not list((tmp_path / "sub").glob("*/evidence/fast/*.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        # When the worker we started is sent SIGTERM
        done = signal_cli(proc, signal.SIGTERM, timeout=30)
    # Then it exits 143 after writing its sub-pack, which says it is incomplete: the fast host done
    assert done.rc == 143, done.stderr
    folder = tmp_path / "sub" / done.stdout.strip().rsplit("/", 1)[-1]
    record = json.loads((folder / SHARD_REPORT).read_text())
    assert record["complete"] is False
    assert {h["name"]: h["error_kind"] for h in record["hosts"]} == {"fast": None, "slow": "interrupted"}
    assert (folder / "manifest.json").exists() and "Traceback" not in done.stderr


def test_a_run_whose_stop_is_already_set_starts_no_host(tmp_path):
    import threading

    from auditor.engine import runner
    from auditor.inputs import load_inventory
    from auditor.pipeline import load_checks

    # Given two local hosts and a stop that was set before the run began (a SIGTERM during start-up)
    inventory = setup(tmp_path, slow_seconds=61, timeout=300)
    loaded = load_checks((tmp_path / "checks",))
    hosts = load_inventory(inventory, loaded.checks).hosts
    stop = threading.Event()
    stop.set()
    # When the runner is given it
    reports, complete = runner.run(hosts, [loaded.checks["sleeper"]], tmp_path, runner.RunOptions(stop=stop))
    # Then the run is incomplete, every host is interrupted, and none was contacted (no evidence)
    assert complete is False
    assert [(r.name, r.error_kind) for r in reports] == [("fast", "interrupted"), ("slow", "interrupted")]
    assert not (tmp_path / "evidence").exists()
