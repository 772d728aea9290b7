"""A hostile or broken SSH server costs at most its own deadline and its own cap.

The servers are paramiko's server side on loopback (tests/integration/hostile_ssh.py); the honest
neighbour is a real sshd from the fleet harness. Every audit goes through the real CLI with strict
host-key checking.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.engine.batch import DEFAULT_CAP
from auditor.engine.runner import host_limit
from tests.conftest import NO_CONFIG, REPO, run_cli, run_folder
from tests.integration import fleetrun
from tests.integration.hostile_ssh import Behaviour, hostile_servers
from tests.integration.sshhosts import HostSpec, SshdFleet

pytestmark = pytest.mark.integration
CHECK = "password_hashing"
COMMAND_TIMEOUT = 4
CONNECT_TIMEOUT = 3
SLACK_S = 3.0  # interpreter start-up, the honest host's own audit, a loaded 2-core machine


@pytest.fixture
def hostile_ssh(tmp_path: Path) -> Iterator[Any]:
    with hostile_servers(tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def honest(sshd_fleet: Any) -> Iterator[tuple[SshdFleet, dict[str, Any]]]:
    with sshd_fleet("hostile-neighbours") as (fleet, _):
        fleet.start(HostSpec("honest"))
        yield fleet, fleetrun.fleet_hosts(fleet)["honest"]


def audit(tmp: Path, hosts: dict[str, dict[str, Any]], *extra: str) -> tuple[fleetrun.AuditRun, float]:
    inventory = fleetrun.write_inventory(tmp / f"inv-{len(list(tmp.iterdir()))}.yaml", hosts)
    out = tmp / f"out-{len(list(tmp.iterdir()))}"
    started = time.monotonic()
    run = fleetrun.audit(inventory, out, CHECK, *extra)
    return run, time.monotonic() - started


def verdicts(run: fleetrun.AuditRun, host: str) -> tuple[str, str]:
    result = run.by_host[host]
    return result["status"], result["summary"]


def host_of(run: fleetrun.AuditRun, name: str) -> dict[str, Any]:
    return next(h for h in run.report["hosts"] if h["name"] == name)


def test_servers_that_never_answer_cost_their_deadline_and_the_honest_host_is_unchanged(
        honest: Any, hostile_ssh: Any, tmp_path: Path) -> None:
    # Given the honest host's verdict when audited alone
    _, honest_entry = honest
    alone, _ = audit(tmp_path, {"honest": honest_entry})
    assert host_of(alone, "honest")["error"] is None
    # And servers that log in and then never answer the exec request or never open the window,
    # and a port that accepts TCP but never speaks SSH
    limits = {"command_timeout": COMMAND_TIMEOUT, "connect_timeout": CONNECT_TIMEOUT}
    hosts = {
        "honest": honest_entry,
        "no-exec-reply": hostile_ssh(Behaviour.NO_EXEC_REPLY).entry(**limits),
        "zero-window": hostile_ssh(Behaviour.ZERO_WINDOW).entry(**limits),
        "no-banner": hostile_ssh(Behaviour.NO_BANNER).entry(**limits),
    }
    # When they are audited in one run
    run, elapsed = audit(tmp_path, hosts)
    # Then the run ends within the longest deadline plus slack, and writes its report
    assert elapsed < max(COMMAND_TIMEOUT, CONNECT_TIMEOUT) + SLACK_S + 2, elapsed
    assert (run.run_dir / "report.json").is_file()
    # And each hostile host is a timeout naming the step it hung in
    for name, words in (("no-exec-reply", "did not answer the exec request"),
                        ("zero-window", "window stayed shut"),
                        ("no-banner", f"no SSH banner from 127.0.0.1:{hosts['no-banner']['port']} "
                                      f"within {CONNECT_TIMEOUT} s")):
        host = host_of(run, name)
        assert host["error_kind"] == "timeout", host
        assert words in host["error"], host["error"]
        deadline = CONNECT_TIMEOUT if name == "no-banner" else COMMAND_TIMEOUT
        assert host["duration_ms"] < (deadline + 1.5) * 1000, host
    assert "No existing session" not in host_of(run, "no-banner")["error"]
    # And the honest host's verdict is what it was alone
    assert host_of(run, "honest")["error"] is None
    assert verdicts(run, "honest") == verdicts(alone, "honest")


def peak_rss_kib(args: list[str]) -> tuple[int, subprocess.CompletedProcess[str] | int]:
    """Run `auditor` in a child process; its peak resident set (KiB) from wait4's rusage."""
    env = {**os.environ, "NO_COLOR": "1", "XDG_CONFIG_HOME": str(NO_CONFIG)}
    env.pop("AUDITOR_SIGNING_KEY", None)
    proc = subprocess.Popen([sys.executable, "-m", "auditor", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss, proc.returncode


@pytest.mark.parametrize("behaviour", [Behaviour.HUGE, Behaviour.ENDLESS])
def test_a_flood_of_output_is_cut_while_reading_and_memory_stays_bounded(
        behaviour: Behaviour, hostile_ssh: Any, tmp_path: Path) -> None:
    # Given a baseline: the same audit of a server whose output is small
    small = hostile_ssh(Behaviour.ESCAPES)
    inventory = tmp_path / "small.yaml"
    inventory.write_text(yaml.safe_dump({"hosts": {"small": small.entry(command_timeout=60)}}))
    baseline, _ = peak_rss_kib(["run", "-i", str(inventory), "-o", str(tmp_path / "base"), "--check", CHECK,
                                "--format", "none"])
    # And a server that prints 200 MB (or without end)
    server = hostile_ssh(behaviour)
    inventory = tmp_path / "flood.yaml"
    inventory.write_text(yaml.safe_dump({"hosts": {"flood": server.entry(command_timeout=60)}}))
    # When it is audited
    started = time.monotonic()
    peak, _ = peak_rss_kib(["run", "-i", str(inventory), "-o", str(tmp_path / "out"), "--check", CHECK,
                            "--format", "none"])
    elapsed = time.monotonic() - started
    # Then the read stops at the host's cap long before the command timeout ...
    assert elapsed < 30, elapsed
    report = json.loads((run_folder(tmp_path / "out") / "report.json").read_text())
    host = report["hosts"][0]
    assert host["error_kind"] == "output-limit", host
    assert "output was cut at" in host["error"]
    # ... far fewer bytes were sent than the flood (only what the cap and the window let through) ...
    assert server.bytes_sent < 64 << 20, server.bytes_sent
    # ... and the auditor grew by a few MB over the cap, not by the flood
    cut_at = int(re.search(r"cut at (\d+) bytes", host["error"]).group(1))  # type: ignore[union-attr]
    assert cut_at <= host_limit(DEFAULT_CAP, 64)
    growth_kib = peak - baseline
    print(f"{behaviour}: peak RSS {peak} KiB, baseline {baseline} KiB, growth {growth_kib} KiB, "
          f"cut at {cut_at} bytes, {server.bytes_sent} bytes sent, {elapsed:.1f} s")
    assert growth_kib < 3 * cut_at // 1024 + 8 * 1024, (peak, baseline, cut_at)


def test_a_connection_dropped_mid_output_ends_that_host_at_once(hostile_ssh: Any, tmp_path: Path) -> None:
    # Given a server that prints 64 KiB and then drops the connection, with a long command timeout
    server = hostile_ssh(Behaviour.DISCONNECT)
    inventory = fleetrun.write_inventory(tmp_path / "inv.yaml", {"drop": server.entry(command_timeout=120)})
    # When it is audited
    started = time.monotonic()
    run = fleetrun.audit(inventory, tmp_path / "out", CHECK)
    elapsed = time.monotonic() - started
    # Then the host ends as soon as the connection does, as a protocol error saying so
    host = host_of(run, "drop")
    assert elapsed < 20, elapsed
    assert host["error_kind"] == "protocol", host
    assert "closed the connection in the middle of the output" in host["error"]


def test_a_wrong_key_passphrase_is_a_key_file_error_naming_the_file(
        hostile_ssh: Any, tmp_path: Path) -> None:
    # Given an encrypted identity file and a wrong passphrase
    server = hostile_ssh(Behaviour.ESCAPES)
    key = tmp_path / "id_encrypted"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "right one", "-f", str(key)], check=True)
    inventory = fleetrun.write_inventory(tmp_path / "inv.yaml",
                                         {"h": server.entry(identity_file=str(key))})
    # When it is audited
    run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "out"), "--check", CHECK, "--format", "json",
            env={"AUDITOR_SSH_PASSPHRASE": "wrong one", "HOME": str(tmp_path), "SSH_AUTH_SOCK": ""})
    host = json.loads((run_folder(tmp_path / "out") / "report.json").read_text())["hosts"][0]
    # Then the error is the key file's, not the host's reachability
    assert host["error_kind"] == "key-file", host
    assert str(key) in host["error"] and "passphrase" in host["error"]


def test_a_missing_identity_file_is_an_inventory_error_at_load_time(tmp_path: Path) -> None:
    # Given an inventory naming an identity file that does not exist
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("hosts:\n  web:\n    address: 127.0.0.1\n"
                         "    identity_file: /nonexistent/id_ed25519\n")
    # When it is run
    result = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "out"), "--check", CHECK)
    # Then it is refused before any connection, naming the file, the line and the key
    assert result.rc == 2, result
    assert "inv.yaml:4: hosts.web.identity_file" in result.stderr, result.stderr
    assert "/nonexistent/id_ed25519" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_log_times_every_phase_and_holds_no_secret(honest: Any, tmp_path: Path) -> None:
    # Given a host reached with a passphrase-protected key ... no: with the fleet key, and a secret
    # passphrase in the environment that must never be written
    _, entry = honest
    inventory = fleetrun.write_inventory(tmp_path / "inv.yaml", {"honest": entry})
    log = tmp_path / "debug.log"
    # When it is audited with -v and --debug-log
    result = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "out"), "--check", CHECK,
                     "--format", "none", "-v", "--debug-log", str(log),
                     env={"AUDITOR_SSH_PASSPHRASE": "S3cret-passphrase-xyzzy"})
    # Then the log names each phase with its time, and carries paramiko's transport log
    text = log.read_text()
    for phase in ("connect", "handshake", "auth", "exec", "read", "evaluate"):
        assert f"{phase} " in text and " ms" in text, phase
    assert "paramiko.transport" in text
    assert "honest:" in result.stderr  # -v prints the timings
    # And no secret: not the passphrase, not the private key
    assert "S3cret-passphrase-xyzzy" not in text
    key_body = Path(entry["identity_file"]).read_text().splitlines()[1]
    assert key_body not in text
