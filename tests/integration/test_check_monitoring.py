"""monitoring end to end: real prometheus-node-exporter processes in test hosts with their
own PID namespaces (so `ps` over SSH sees only the host's processes), judged through the CLI.

Hosts:
  exporter  -- /usr/bin/prometheus-node-exporter running (own PID and network namespace,
               listening on :9100 inside); its unit is enabled in this machine's
               /etc/systemd/system/multi-user.target.wants (Debian's package enables it)
  disabled  -- the same exporter, with multi-user.target.wants replaced by an empty
               directory: the unit is disabled, the exporter would not survive a reboot
  bare      -- own PID namespace, no agent at all
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fleetrun import FleetOpener, assert_nowhere_in, audit_fleet
from tests.integration.sshhosts import (
    HostSpec,
    Service,
)

pytestmark = pytest.mark.integration

EXPORTER = Path("/usr/bin/prometheus-node-exporter")
WANTS = Path("/etc/systemd/system/multi-user.target.wants")
# Planted in the exporter's command line: the probe cuts arguments on the host, so it must
# never reach the run folder.
ARGUMENT_SECRET = "Monit0r-Path-S3cret-91c2"


def exporter_service() -> Service:
    return Service("node_exporter", (str(EXPORTER), "--web.listen-address=:9100",
                                     f"--web.telemetry-path=/metrics-{ARGUMENT_SECRET}"), ready_port=9100)


@pytest.fixture(scope="module")
def run(sshd_fleet: FleetOpener) -> Iterator[tuple[dict[str, Any], Path, dict[str, str]]]:
    if not EXPORTER.exists():
        pytest.skip(f"{EXPORTER} missing: apt-get install prometheus-node-exporter")
    if not (WANTS / "prometheus-node-exporter.service").exists():
        pytest.skip(f"prometheus-node-exporter.service is not enabled in {WANTS} on this machine")
    with sshd_fleet("monitoring", namespaces=True) as (fleet, tmp):
        fleet.start(HostSpec("exporter", network_namespace=True, pid_namespace=True,
                             services=(exporter_service(),)))
        fleet.start(HostSpec("disabled", network_namespace=True, pid_namespace=True,
                             replace_dirs=(str(WANTS),), services=(exporter_service(),)))
        fleet.start(HostSpec("bare", pid_namespace=True))
        # The exporter's pid as the host sees it, to compare with the verdict.
        inside = {h.name: h.run(["pgrep", "-x", "prometheus-node"]).stdout.split() for h in fleet.hosts}
        done = audit_fleet(fleet, tmp, "monitoring")
        assert done.result.rc in (0, 1), done.result.stderr
        yield done.by_host, done.run_dir, {name: pids[0] if pids else "" for name, pids in inside.items()}


def test_a_running_enabled_node_exporter_passes(run):
    # Given a host whose own process list holds a real prometheus-node-exporter
    verdicts, _, inside = run
    got = verdicts["exporter"]
    # When monitoring is judged through the CLI
    # Then it passes, naming the agent, the pid the host sees, and the enabled unit
    assert got["status"] == "pass", got
    assert inside["exporter"], "the exporter is not running in the host"
    assert f"node_exporter is running (pid {inside['exporter']})" in got["summary"]
    assert "prometheus-node-exporter.service is enabled" in got["summary"]
    assert got["values"]["agents_running"] == 1


def test_a_running_but_disabled_exporter_fails(run):
    # Given the same exporter running, with its unit's enablement link gone
    verdicts, _, inside = run
    got = verdicts["disabled"]
    # Then the check fails: it would not come back after a reboot
    assert inside["disabled"]
    assert got["status"] == "fail", got
    assert "does not start at boot: prometheus-node-exporter.service is disabled" in got["summary"]


def test_a_host_without_an_agent_fails(run):
    # Given a host whose PID namespace runs only sshd
    verdicts, _, inside = run
    got = verdicts["bare"]
    # Then the check fails, saying what it looked for
    assert not inside["bare"]
    assert got["status"] == "fail", got
    assert got["summary"].startswith("no monitoring agent running (looked for node_exporter")
    assert got["values"]["agents_running"] == 0


def test_command_line_arguments_never_reach_the_run_folder(run):
    # Given the run folder (report and evidence) of hosts whose exporter got a secret argument
    _, run_dir, _ = run
    # Then the argument is nowhere: the probe keeps argv[0] only
    files = assert_nowhere_in(run_dir, ARGUMENT_SECRET)
    assert any("evidence" in p.parts for p in files)
