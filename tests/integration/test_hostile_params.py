"""A hostile inventory value never becomes an option or code on a real sshd host.

A list parameter whose items start with `-` would reach find(1) as its expression
(`-exec touch FILE ;` runs a command as the login user). The inventory refuses such values
at load with file:line; and the probes themselves pass every path so that no command reads
it as an option, which is proved here by running the probe scripts, rendered with the
hostile values, over a real SSH connection to a real sshd host.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

from auditor.engine import registry
from auditor.engine.runner import make_transport
from auditor.inventory import load
from auditor.probes import path_args
from auditor.transports.ssh import SshOptions
from tests.conftest import run_cli
from tests.integration.fleetrun import fleet_hosts, write_inventory
from tests.integration.sshhosts import HostSpec

pytestmark = pytest.mark.integration

PLANTED = "/root/planted-by-a-parameter"
HOSTILE = ["-exec", "touch", PLANTED, ";"]
# (check, parameter, probe): every probe that passes a path parameter to a command on the host.
PATH_PROBES = (
    ("passwords_not_logged", "paths", "scan"),
    ("log_retention", "log_dirs", "on_disk"),
    ("auth_logging", "auth_logs", "records"),
    ("backups", "paths", "artefacts"),
)


@pytest.fixture(scope="module")
def host(sshd_fleet):
    with sshd_fleet("hostile-params") as (fleet, tmp):
        test_host = fleet.start(HostSpec("params", files={"/root/notes.txt": "a file find will visit\n"},
                                         replace_dirs=("/root",)))
        inventory = write_inventory(tmp / "inventory.yaml", fleet_hosts(fleet))
        yield test_host, inventory, tmp, fleet


def planted(test_host) -> bool:
    return test_host.run(["test", "-e", PLANTED]).returncode == 0


def run_on_host(inventory: Path, script: str) -> str:
    inv = load(inventory, registry.load().checks)
    with make_transport(inv.hosts[0], SshOptions()) as transport:
        done = transport.run("sh -s", script.encode(), timeout=60)
    return done.stdout.decode(errors="replace")


@pytest.mark.parametrize(("check_id", "param", "probe_name"), PATH_PROBES)
def test_a_path_starting_with_a_dash_runs_nothing_on_the_host(host, check_id, param, probe_name):
    # Given a real sshd host, and the probe of a check rendered with `-exec touch FILE ;` as its paths
    test_host, inventory, _, _ = host
    check = registry.load().checks[check_id]
    probe = next(p for p in check.probes if p.name == probe_name)
    params = {**check.default_params(), param: HOSTILE}
    script = probe.render(params)
    # (the planted value is live: the same script with the paths merely quoted touches the file)
    naive = script.replace(path_args(HOSTILE), " ".join(shlex.quote(p) for p in HOSTILE))
    if check_id == "passwords_not_logged":
        run_on_host(inventory, naive)
        assert planted(test_host), "the naive rendering should have run touch: the test proves nothing"
        test_host.run(["rm", "-f", PLANTED])
    # When the probe runs over SSH
    run_on_host(inventory, script)
    # Then nothing was run: the file does not exist
    assert not planted(test_host), f"{check_id}.{param} ran a command on the host"


@pytest.mark.parametrize(("check_id", "param"), [(c, p) for c, p, _ in PATH_PROBES])
def test_the_inventory_refuses_a_path_starting_with_a_dash(host, check_id, param):
    # Given an inventory whose vars give the check `-exec ...` as its paths
    test_host, _, tmp, _ = host
    hostile = write_inventory(tmp / f"hostile-{check_id}.yaml",
                              fleet_hosts(host[3], {check_id: {param: HOSTILE}}))
    # When it is run
    done = run_cli("run", "-i", str(hostile), "-o", str(tmp / "reports"), "--check", check_id)
    # Then the run stops at load with file:line and the key, and nothing ran on the host
    assert done.rc == 2, done
    assert f"{hostile}:" in done.stderr and f"{param}[0]" in done.stderr, done.stderr
    assert "must not start with '-'" in done.stderr and "Traceback" not in done.stderr
    assert not planted(test_host)


def test_every_path_parameter_is_declared_a_path():
    # Given every parameter the probes above pass to a host command
    checks = registry.load().checks
    for check_id, param, _ in PATH_PROBES:
        # Then it is declared a path, so the one validator refuses option-like values
        declared = checks[check_id].param(param)
        assert declared is not None and dataclasses.asdict(declared)["path"], (check_id, param)
