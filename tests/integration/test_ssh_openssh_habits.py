"""OpenSSH habits against a real sshd: host certificates from a real OpenSSH CA, @revoked, and
ProxyCommand that neither runs a host name nor forgets the inventory's port."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import fleetrun
from tests.integration.sshhosts import HostSpec, SshdFleet, TestHost

pytestmark = pytest.mark.integration
CHECK = "password_hashing"


@pytest.fixture(scope="module")
def certified(sshd_fleet: Any) -> Iterator[tuple[SshdFleet, TestHost, Path]]:
    """A real sshd presenting a host certificate signed by a CA made with ssh-keygen."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    with sshd_fleet("certified") as (fleet, tmp):
        ca = tmp / "host_ca"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
        subprocess.run(["ssh-keygen", "-q", "-s", str(ca), "-h", "-I", "fleet-host", "-n", "127.0.0.1",
                        f"{fleet.host_key}.pub"], check=True)
        cert = Path(f"{fleet.host_key}-cert.pub")
        host = fleet.start(HostSpec("certified", extra_sshd_config=f"HostCertificate {cert}\n"))
        yield fleet, host, ca


def audit_with_known_hosts(fleet: SshdFleet, tmp_path: Path, known_hosts: str) -> dict[str, Any]:
    path = tmp_path / "known_hosts"
    path.write_text(known_hosts)
    hosts = fleetrun.fleet_hosts(fleet)
    hosts["certified"]["known_hosts"] = str(path)
    inventory = fleetrun.write_inventory(tmp_path / "inv.yaml", hosts)
    run = fleetrun.audit(inventory, tmp_path / "out", CHECK)
    return next(h for h in run.report["hosts"] if h["name"] == "certified")


def test_a_host_certificate_from_a_trusted_ca_logs_in_without_the_plain_key(
        certified: Any, tmp_path: Path) -> None:
    # Given known_hosts that trusts only the CA for 127.0.0.1 (and a @revoked line for another key)
    fleet, _, ca = certified
    ca_line = Path(f"{ca}.pub").read_text().strip()
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    revoked_other = Path(f"{other}.pub").read_text().strip()
    host = audit_with_known_hosts(fleet, tmp_path, f"@cert-authority [127.0.0.1]:* {ca_line}\n"
                                                   f"@revoked * {revoked_other}\n")
    # Then the host is audited
    assert host["error"] is None, host["error"]


def test_a_revoked_ca_refuses_the_host_naming_the_line(certified: Any, tmp_path: Path) -> None:
    # Given the CA trusted on line 1 and revoked on line 2
    fleet, _, ca = certified
    ca_line = Path(f"{ca}.pub").read_text().strip()
    host = audit_with_known_hosts(fleet, tmp_path, f"@cert-authority [127.0.0.1]:* {ca_line}\n"
                                                   f"@revoked * {ca_line}\n")
    # Then the host is refused as a host-key error that names the @revoked line
    assert host["error_kind"] == "host-key", host
    assert "@revoked" in host["error"] and "known_hosts:2" in host["error"]


def test_a_ca_not_trusted_for_this_host_does_not_vouch_for_it(certified: Any, tmp_path: Path) -> None:
    fleet, _, ca = certified
    ca_line = Path(f"{ca}.pub").read_text().strip()
    host = audit_with_known_hosts(fleet, tmp_path, f"@cert-authority *.corp.example {ca_line}\n")
    assert host["error_kind"] == "host-key" and "not in known_hosts" in host["error"], host


def test_a_host_name_with_shell_syntax_runs_nothing_through_proxycommand(
        certified: Any, tmp_path: Path) -> None:
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed")
    # Given a ProxyCommand that puts %h into a shell, and an address carrying a command
    fleet, target, _ = certified
    marker = tmp_path / "pwned"
    config = tmp_path / "ssh_config"
    config.write_text('Host *\n  ProxyCommand sh -c "exec socat - TCP:%h:%p"\n')
    hosts = {"evil": {"address": f"127.0.0.7$(touch {marker})", "port": target.port, "user": "root",
                      "identity_file": str(fleet.client_key), "known_hosts": str(fleet.known_hosts)}}
    inventory = fleetrun.write_inventory(tmp_path / "inv.yaml", hosts)
    # When it is audited
    run = fleetrun.audit(inventory, tmp_path / "out", CHECK, "--ssh-config", str(config))
    # Then nothing ran, and the host's error says why
    assert not marker.exists()
    evil = run.report["hosts"][0]
    assert "shell metacharacters" in evil["error"], evil


def test_proxycommand_gets_the_inventory_port(certified: Any, tmp_path: Path) -> None:
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed")
    # Given an ssh_config whose Port is wrong for the host, and the right port in the inventory
    fleet, target, _ = certified
    config = tmp_path / "ssh_config"
    config.write_text("Host proxied\n  HostName 127.0.0.1\n  Port 1\n  ProxyCommand socat - TCP:%h:%p\n")
    hosts = {"proxied": {"address": "proxied", "port": target.port, "user": "root",
                         "identity_file": str(fleet.client_key), "known_hosts": str(fleet.known_hosts)}}
    inventory = fleetrun.write_inventory(tmp_path / "inv.yaml", hosts)
    # When it is audited, Then the ProxyCommand connected to the inventory's port
    run = fleetrun.audit(inventory, tmp_path / "out", CHECK, "--ssh-config", str(config))
    assert run.report["hosts"][0]["error"] is None, run.report["hosts"][0]["error"]
