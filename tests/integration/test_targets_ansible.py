"""Zero-config and Ansible ways in, against real sshd hosts: `auditor run -t ssh://…` with no file,
and `auditor run -i hosts.ini` with and without ansible-inventory on the PATH."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_folder
from tests.integration.sshhosts import HostSpec, SshdFleet

pytestmark = pytest.mark.integration
ANSIBLE_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def fleet(sshd_fleet):
    with sshd_fleet("targets") as (fleet, _):
        fleet.start(HostSpec("one"))
        fleet.start(HostSpec("two"))
        yield fleet


def trusting_config(fleet: SshdFleet, tmp_path: Path) -> Path:
    """An ssh config that trusts the fleet's host keys (strict checking stays on)."""
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 127.0.0.1\n  UserKnownHostsFile {fleet.known_hosts}\n")
    return config


def test_targets_on_the_command_line_audit_without_an_inventory_file(fleet, tmp_path):
    # Given two real sshd hosts and no inventory file in the working folder
    one, two = fleet.hosts
    targets = [f"ssh://root@127.0.0.1:{one.port}", f"ssh://root@127.0.0.1:{two.port}", "local"]
    # When auditor runs with -t targets, a key and --sudo, from an empty folder
    result = run_cli("run", *(a for t in targets for a in ("-t", t)),
                     "--identity-file", str(fleet.client_key), "--sudo",
                     "--ssh-config", str(trusting_config(fleet, tmp_path)),
                     "--check", "password_hashing", "-o", str(tmp_path / "r"), "--format", "json",
                     cwd=tmp_path)
    # Then every target is reached, named by its target, and judged
    assert result.rc in (0, 1), result.stderr
    report = result.json()
    hosts = {h["name"]: h for h in report["hosts"]}
    assert set(hosts) == {f"root@127.0.0.1:{one.port}", f"root@127.0.0.1:{two.port}", "local"}
    for name in (f"root@127.0.0.1:{one.port}", f"root@127.0.0.1:{two.port}"):
        assert hosts[name]["error"] is None, hosts[name]["error"]
        assert hosts[name]["facts"]["user"] == "root"
        assert hosts[name]["results"][0]["status"] in ("pass", "fail")
    assert report["run"]["inventory"]["path"] == "command-line targets"
    assert (run_folder(tmp_path / "r") / "manifest.json").is_file()


def test_a_target_with_an_unknown_host_key_is_refused(fleet, tmp_path):
    # Given a target whose host key is not in any known_hosts the run reads
    one = fleet.hosts[0]
    empty = tmp_path / "ssh_config"
    empty.write_text(f"Host 127.0.0.1\n  UserKnownHostsFile {tmp_path / 'none'}\n")
    # When audited with -t
    result = run_cli("run", "-t", f"ssh://root@127.0.0.1:{one.port}",
                     "--identity-file", str(fleet.client_key), "--ssh-config", str(empty),
                     "--check", "password_hashing", "-o", str(tmp_path / "r"),
                     "--format", "json")
    # Then strict host-key checking holds: the host is an error, not audited
    assert result.rc == 3, result.stderr
    assert result.json()["hosts"][0]["error_kind"] == "host-key"


def test_an_ansible_inventory_audits_the_same_with_and_without_ansible_inventory(fleet, tmp_path):
    # Given an Ansible INI inventory of the fleet, with a group and auditor_vars in group_vars/
    one, two = fleet.hosts
    (tmp_path / "hosts.ini").write_text(
        "[fleet]\n"
        f"one ansible_host=127.0.0.1 ansible_port={one.port}\n"
        f"two ansible_host=127.0.0.1 ansible_port={two.port}\n"
        "[fleet:vars]\n"
        f"ansible_user=root\nansible_ssh_private_key_file={fleet.client_key}\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars/fleet.yml").write_text("auditor_vars:\n  password_hashing: {}\n")
    config = trusting_config(fleet, tmp_path)
    statuses = []
    for label, path in (("with", f"{ANSIBLE_BIN}{os.pathsep}/usr/bin:/bin"), ("without", "/usr/bin:/bin")):
        # When `auditor run -i hosts.ini` audits it
        result = run_cli("run", "-i", str(tmp_path / "hosts.ini"), "--ssh-config", str(config),
                         "--group", "fleet", "--check", "password_hashing", "-o", str(tmp_path / label),
                         "--format", "json",
                         "--no-history", env={"PATH": path})
        assert result.rc in (0, 1), (label, result.stderr)
        report = result.json()
        # Then both hosts are reached and judged, in both ways of reading the inventory
        assert {h["name"]: h["error"] for h in report["hosts"]} == {"one": None, "two": None}
        statuses.append({h["name"]: h["results"][0]["status"] for h in report["hosts"]})
        assert ("ansible-inventory not found" in result.stderr) == (label == "without")
    assert statuses[0] == statuses[1]
