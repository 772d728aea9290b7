"""-t targets build the same Host records as an inventory; `auditor init` writes a starter
inventory that loads, and never overwrites a file."""

from __future__ import annotations

import pytest

from auditor import inventory
from auditor.engine import registry
from auditor.errors import UsageError
from auditor.inputs import targets
from tests.conftest import run_cli

CHECKS = registry.load().checks


def test_targets_become_hosts_named_by_the_target():
    # Given ssh targets with and without user and port, an IPv6 one, and local
    given = targets.Targets(("ssh://audit@web1.example.com:2222", "ssh://db1", "ssh://[::1]:22", "local"),
                            sudo=True, identity_file="~/.ssh/audit")
    # When they become an inventory
    inv = targets.inventory(given)
    # Then each host is named by its target and carries what the flags said
    web, db, v6, local = inv.hosts
    assert (web.name, web.address, web.user, web.port) == ("audit@web1.example.com:2222", "web1.example.com",
                                                           "audit", 2222)
    assert (db.name, db.address, db.user, db.port) == ("db1", "db1", None, None)
    assert (v6.name, v6.address, v6.port) == ("[::1]:22", "::1", 22)
    assert (local.name, local.transport) == ("local", "local")
    assert {h.become for h in inv.hosts} == {"sudo"}
    assert web.identity_file == "~/.ssh/audit" and local.identity_file is None
    assert inv.groups == {} and inv.policy is None


@pytest.mark.parametrize(("target", "says"), [
    ("web1", "write a target as ssh://user@host:port or local"),
    ("http://web1", "unknown scheme 'http'"),
    ("ssh://web1/etc", "names a host only"),
    ("ssh://web1:99999", "port must be"),
    ("ssh://-oProxyCommand=x", "holds characters a host name cannot"),
    ("ssh://-l@web1", "holds characters a user name cannot"),
    ("ssh://", "no host"),
])
def test_a_malformed_target_says_what_to_write(target, says):
    # Given a target that cannot name one ssh host
    # When parsed, Then a UsageError says what is wrong
    with pytest.raises(UsageError, match=says):
        targets.parse(target)


def test_a_target_given_twice_is_refused():
    with pytest.raises(UsageError, match="given twice"):
        targets.inventory(targets.Targets(("local", "local")))


def test_init_writes_ssh_config_hosts_that_load_and_never_overwrites(tmp_path):
    # Given an ssh config with two concrete hosts and a wildcard
    config = tmp_path / "ssh_config"
    config.write_text("Host web1 web2\n  User audit\nHost *.internal !x\n  Port 2222\nHost db1\n")
    out = tmp_path / "inventory.yaml"
    # When init runs
    first = run_cli("init", "-o", str(out), "--ssh-config", str(config))
    # Then the starter lists the concrete hosts, loads as an inventory, and has its schema beside it
    assert first.rc == 0, first.stderr
    text = out.read_text()
    assert text.startswith("# yaml-language-server: $schema=inventory.schema.json\n")
    loaded = inventory.load(out, CHECKS)
    assert [h.name for h in loaded.hosts] == ["web1", "web2", "db1"]
    assert (tmp_path / "inventory.schema.json").is_file()
    # And a second init leaves the file alone and exits 2
    out.write_text("hosts: {mine: {transport: local}}\n")
    second = run_cli("init", "-o", str(out), "--ssh-config", str(config))
    assert second.rc == 2 and "never overwrites" in second.stderr
    assert out.read_text() == "hosts: {mine: {transport: local}}\n"


def test_init_without_ssh_hosts_audits_this_machine(tmp_path):
    # Given no ssh config
    out = tmp_path / "inventory.yaml"
    # When init runs
    result = run_cli("init", "-o", str(out), "--ssh-config", str(tmp_path / "missing"))
    # Then the starter audits the local machine and loads
    assert result.rc == 0, result.stderr
    host = inventory.load(out, CHECKS).hosts[0]
    assert (host.name, host.transport) == ("this-machine", "local")


def test_init_from_an_ansible_inventory_keeps_hosts_groups_and_settings(tmp_path):
    # Given an Ansible INI inventory
    source = tmp_path / "hosts.ini"
    source.write_text("[web]\nweb1 ansible_host=10.0.0.1 ansible_port=2222 ansible_user=audit\n"
                      "[db]\ndb1 ansible_become=true\n")
    out = tmp_path / "inventory.yaml"
    # When init reads it
    result = run_cli("init", "-o", str(out), "--from-ansible", str(source))
    # Then auditor's own inventory holds the same hosts, settings and groups
    assert result.rc == 0, result.stderr
    loaded = inventory.load(out, CHECKS)
    web, db = loaded.hosts
    assert (web.address, web.port, web.user, web.groups) == ("10.0.0.1", 2222, "audit", ("web",))
    assert (db.become, db.groups) == ("sudo", ("db",))


def test_claims_extract_refuses_to_overwrite_without_force(tmp_path):
    # Given a reviewed draft at the output path and a policy text
    policy = tmp_path / "policy.txt"
    policy.write_text("Passwords are stored as salted hashes. Backups are made every day.\n")
    draft = tmp_path / "claims.yaml"
    draft.write_text("# reviewed\n")
    # When extract writes there without --force, then with it
    refused = run_cli("claims", "extract", str(policy), "-o", str(draft))
    kept = draft.read_text()
    forced = run_cli("claims", "extract", str(policy), "-o", str(draft), "--force")
    # Then the first exits 2 and keeps the review; --force replaces it
    assert refused.rc == 2 and "--force" in refused.stderr
    assert kept == "# reviewed\n"
    assert forced.rc == 0 and draft.read_text() != "# reviewed\n"
