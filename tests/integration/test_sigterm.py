"""SIGTERM (timeout(1), systemctl stop, docker stop, Kubernetes) stops `auditor run` as Ctrl-C does:
no host is started after it, the one in flight is cut, the partial report is written marked
incomplete and signed, and the exit code is 143.

The hosts are real: an sshd test host from the fleet harness that answers, and a paramiko server
on loopback that logs the auditor in and then never answers its exec request (hostile_ssh.py).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli_process, run_cli, run_folder, signal_cli
from tests.integration import fleetrun
from tests.integration.hostile_ssh import Behaviour, HostileSshServer, hostile_servers
from tests.integration.sshhosts import HostSpec

pytestmark = pytest.mark.integration
CHECK = "password_hashing"
STOP_BOUND_S = 20.0  # SIGTERM to exit: the runner's poll, the cut, the settle bound, the reports


@pytest.fixture
def hostile_ssh(tmp_path: Path) -> Iterator[Any]:
    with hostile_servers(tmp_path) as start:
        yield start


def _connections(server: HostileSshServer) -> int:
    with server._lock:  # the server counts what it accepted; the test only reads it
        return len(server._closables)


def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_sigterm_mid_run_writes_a_signed_partial_report_and_exits_143(
        sshd_fleet: fleetrun.FleetOpener, hostile_ssh: Any, tmp_path: Path) -> None:
    # Given, audited one at a time (-j 1) in the order of their names: an honest sshd host, a host that logs
    # the auditor in and never answers (command_timeout 300 s), and a second honest host
    with sshd_fleet("sigterm") as (fleet, _):
        fleet.start(HostSpec("a-first"))
        fleet.start(HostSpec("c-last"))
        honest = fleetrun.fleet_hosts(fleet)
        silent = hostile_ssh(Behaviour.NO_EXEC_REPLY)
        inventory = fleetrun.write_inventory(tmp_path / "inv.yaml", {
            "a-first": honest["a-first"], "b-silent": silent.entry(command_timeout=300),
            "c-last": honest["c-last"]})
        made = run_cli("keygen", "--out", str(tmp_path / "key.pem"))
        assert made.rc == 0, made.stderr
        fingerprint = made.stdout.split("fingerprint:")[1].split()[0]
        out = tmp_path / "reports"
        with cli_process("run", "-i", str(inventory), "-o", str(out), "--check", CHECK, "-j", "1",
                         "--sign-key", str(tmp_path / "key.pem"), "--format", "table") as proc:
            # ... and the run is past the first host and hanging on the silent one
            _wait_for(lambda: list(out.glob("*/evidence/a-first/*.json")), "the first host's evidence")
            _wait_for(lambda: _connections(silent) > 0, "the auditor to reach the silent host")
            time.sleep(1.0)  # the login and the exec request that will never be answered
            # When the run is sent SIGTERM (this process we started, by its PID)
            signalled = time.monotonic()
            done = signal_cli(proc, signal.SIGTERM, timeout=STOP_BOUND_S + 10)
            stopped_in = time.monotonic() - signalled
        # Then it exits 143 soon after, without a traceback, saying the report is partial
        assert done.rc == 143, done.stderr
        assert stopped_in < STOP_BOUND_S, stopped_in
        assert "Traceback" not in done.stderr
        assert "INTERRUPTED, partial report" in done.stdout
        # And report.json is marked incomplete: the first host judged as when audited alone,
        # the silent one cut and the last never started (no evidence of it at all)
        run_dir = run_folder(out)
        report = json.loads((run_dir / "report.json").read_text())
        assert report["run"]["complete"] is False
        hosts = {h["name"]: h for h in report["hosts"]}
        assert hosts["a-first"]["error"] is None and hosts["a-first"]["results"][0]["status"] == "pass"
        assert hosts["b-silent"]["error_kind"] == "interrupted"
        assert hosts["c-last"]["error_kind"] == "interrupted"
        assert not (run_dir / "evidence" / "c-last").exists()
        # And the partial run is signed, and its signature verifies against the pinned key
        assert report["run"]["signing"]["fingerprint"] == fingerprint
        verified = run_cli("verify", str(run_dir), "--key-fingerprint", fingerprint)
        assert verified.rc == 0 and "VERIFIED" in verified.stdout, verified.stdout + verified.stderr


def test_sigterm_before_any_host_answers_exits_143_with_every_host_interrupted(
        hostile_ssh: Any, tmp_path: Path) -> None:
    # Given a run whose only host logs in and never answers
    silent = hostile_ssh(Behaviour.NO_EXEC_REPLY)
    inventory = fleetrun.write_inventory(tmp_path / "inv.yaml", {"silent": silent.entry(command_timeout=300)})
    out = tmp_path / "reports"
    with cli_process("run", "-i", str(inventory), "-o", str(out), "--check", CHECK,
                     "--format", "json") as proc:
        _wait_for(lambda: _connections(silent) > 0, "the auditor to reach the silent host")
        time.sleep(1.0)
        # When it is sent SIGTERM
        done = signal_cli(proc, signal.SIGTERM, timeout=STOP_BOUND_S + 10)
    # Then it exits 143 and prints the partial report, as Ctrl-C does with 130
    assert done.rc == 143, done.stderr
    report = done.json()
    assert report["run"]["complete"] is False
    assert report["hosts"][0]["error_kind"] == "interrupted"
    assert (run_folder(out) / "manifest.json").exists()
