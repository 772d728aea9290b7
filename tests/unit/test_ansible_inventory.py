"""Ansible inventories: the real `ansible-inventory --list` (ansible-core, a test dependency) and
the built-in static reader give the same hosts from the same files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.engine import registry
from auditor.inputs import ansible, load_inventory
from auditor.inventory import Inventory, InventoryError
from tests.conftest import run_cli

CHECKS = registry.load().checks
PROGRAM = Path(sys.executable).parent / ansible.PROGRAM  # installed by the `test` extra (ansible-core)

INI = """\
# the same fleet as INVENTORY_YML
solo ansible_host=127.0.0.2 ansible_connection=local

[web]
web[01:02].example.com ansible_port=2222

[db]
db1 ansible_host=10.0.0.5 ansible_user=dbaudit ansible_ssh_private_key_file=~/.ssh/db

[web:vars]
ansible_user=audit

[prod:children]
web
db

[prod:vars]
ansible_become=true
"""

INVENTORY_YML = """\
all:
  hosts:
    solo: {ansible_host: 127.0.0.2, ansible_connection: local}
  children:
    prod:
      vars: {ansible_become: true}
      children:
        web:
          hosts:
            web[01:02].example.com: {ansible_port: 2222}
          vars: {ansible_user: audit}
        db:
          hosts:
            db1: {ansible_host: 10.0.0.5, ansible_user: dbaudit, ansible_ssh_private_key_file: ~/.ssh/db}
"""

VARS = {
    "group_vars/all.yml": "ansible_user: all-yml-wins\nauditor_vars:\n  log_retention: {min_days: 30}\n",
    "group_vars/prod/main.yml": "auditor_vars:\n  log_retention: {min_days: 60}\n",
    "group_vars/web.yaml": "auditor_vars:\n  log_retention: {min_days: 90}\n"
                           "  data_residency: {region: 'NO', allowed_regions: ['NO', SE]}\n",
    "host_vars/db1.yml": "ansible_become: false\nauditor_vars:\n  log_retention: {min_days: 400}\n",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "hosts.ini").write_text(INI)
    (tmp_path / "inventory.yml").write_text(INVENTORY_YML)
    for name, text in VARS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def shape(inv: Inventory) -> dict[str, object]:
    """What the audit uses of an inventory, independent of the order each reader lists things in."""
    return {
        "hosts": {h.name: (h.address, h.transport, h.port, h.user, h.identity_file, h.become,
                           sorted(h.groups), {k: dict(v) for k, v in h.vars.items()}) for h in inv.hosts},
        "groups": {g: sorted(m) for g, m in inv.groups.items()},
    }


def through_ansible(path: Path) -> Inventory:
    assert PROGRAM.exists(), "ansible-core is a test dependency: pip install -e '.[test]'"
    tree, digest = ansible.run_ansible_inventory(path, str(PROGRAM))
    return ansible.to_inventory(path, tree, digest, CHECKS)


def built_in(path: Path) -> Inventory:
    tree, digest = ansible.read_static(path)
    return ansible.to_inventory(path, tree, digest, CHECKS)


@pytest.mark.parametrize("name", ["hosts.ini", "inventory.yml"])
def test_ansible_inventory_and_the_built_in_reader_give_the_same_hosts(folder, name):
    # Given an Ansible inventory with ranges, children, group_vars/ (file and folder) and host_vars/
    path = folder / name
    # When ansible-inventory and the built-in reader read it
    real, ours = shape(through_ansible(path)), shape(built_in(path))
    # Then both give the same hosts, settings, groups and check parameters
    assert ours == real
    # And those are what Ansible's rules say: host > child group > parent group > all, and
    # group_vars/all.yml beats a [group:vars] section of the file
    hosts = real["hosts"]
    assert hosts["web01.example.com"] == (
        "web01.example.com", "ssh", 2222, "all-yml-wins", None, "sudo", ["prod", "web"],
        {"log_retention": {"min_days": 90},
         "data_residency": {"region": "NO", "allowed_regions": ["NO", "SE"]}})
    assert hosts["db1"] == ("10.0.0.5", "ssh", None, "dbaudit", "~/.ssh/db", None, ["db", "prod"],
                            {"log_retention": {"min_days": 400}})
    assert hosts["solo"][:2] == ("127.0.0.2", "local")
    assert hosts["solo"][7] == {"log_retention": {"min_days": 30}}
    assert real["groups"] == {"db": ["db1"], "prod": ["db1", "web01.example.com", "web02.example.com"],
                              "web": ["web01.example.com", "web02.example.com"]}


def test_the_ini_and_yaml_forms_are_the_same_inventory(folder):
    assert shape(built_in(folder / "hosts.ini")) == shape(built_in(folder / "inventory.yml"))


@pytest.mark.parametrize("reader", [through_ansible, built_in])
def test_auditor_vars_go_through_the_one_parameter_validator(folder, reader):
    # Given a mistyped parameter under auditor_vars
    (folder / "host_vars/db1.yml").write_text("auditor_vars:\n  log_retention: {min_dayz: 4}\n")
    # When either reader loads the inventory
    with pytest.raises(InventoryError) as caught:
        reader(folder / "hosts.ini")
    # Then the error names the host, the key and the closest parameter
    key = "hosts.db1.auditor_vars.log_retention.min_dayz"
    assert f"{key}: unknown parameter of log_retention" in str(caught.value)
    assert str(caught.value).endswith("did you mean 'min_days'?")


def test_formats_are_detected_and_auditors_own_is_not_mistaken(folder, tmp_path):
    # Given Ansible INI and YAML inventories and auditor's own inventory.yaml
    own = tmp_path / "own.yaml"
    own.write_text("hosts:\n  web: {transport: local}\n")
    # When each is loaded with --inventory-format auto
    # Then Ansible's two are read as Ansible's (their hosts), auditor's as auditor's
    assert ansible.looks_like_ansible(folder / "hosts.ini", INI)
    assert ansible.looks_like_ansible(folder / "inventory.yml", INVENTORY_YML)
    assert not ansible.looks_like_ansible(own, own.read_text())
    assert [h.name for h in load_inventory(own, CHECKS).hosts] == ["web"]


def test_the_built_in_reader_names_what_it_does_not_support(tmp_path):
    # Given an inventory plugin config and a vaulted value
    plugin = tmp_path / "aws_ec2.yml"
    plugin.write_text("plugin: amazon.aws.aws_ec2\nregions: [eu-central-1]\n")
    vaulted = tmp_path / "hosts.yml"
    vaulted.write_text("all:\n  hosts:\n    h1:\n      ansible_password: !vault |\n"
                       "        $ANSIBLE_VAULT;1.1\n")
    # When read without ansible-inventory, Then each says it needs ansible-inventory
    for path in (plugin, vaulted):
        with pytest.raises(InventoryError, match="need ansible-inventory on the PATH"):
            built_in(path)


def test_a_hostile_name_is_refused(tmp_path):
    # Given a host whose ansible_host would read as an ssh option
    path = tmp_path / "hosts.ini"
    path.write_text("web ansible_host=-oProxyCommand=touch\n")
    # When read, Then it is refused before any connection
    with pytest.raises(InventoryError, match="starts with '-'"):
        built_in(path)


def test_the_cli_reads_an_ansible_inventory_with_and_without_ansible_inventory(folder):
    # Given the same INI inventory, with ansible-inventory on the PATH and without it
    with_it = {"PATH": f"{PROGRAM.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    without = {"PATH": "/usr/bin:/bin"}
    # When `auditor list --hosts -i hosts.ini` runs
    a = run_cli("list", "--hosts", "-i", str(folder / "hosts.ini"), "--format", "json", env=with_it)
    b = run_cli("list", "--hosts", "-i", str(folder / "hosts.ini"), "--format", "json", env=without)
    # Then both list the same hosts; only the second warns which features it cannot read
    assert a.rc == b.rc == 0, (a.stderr, b.stderr)
    assert sorted(a.json(), key=lambda h: h["name"]) == sorted(b.json(), key=lambda h: h["name"])
    assert "not found" not in a.stderr
    assert "ansible-inventory not found" in b.stderr and "!vault" in b.stderr


def test_a_vaulted_variable_is_opened_with_ansibles_own_password_source(tmp_path, monkeypatch):
    # Given an inventory whose group_vars hold the user as an inline !vault value
    password = tmp_path / "vault-password"
    password.write_text("correct horse\n")
    (tmp_path / "hosts.ini").write_text("[web]\nweb1 ansible_host=10.0.0.9\n")
    (tmp_path / "group_vars").mkdir()
    vaulted = subprocess.run([str(PROGRAM.with_name("ansible-vault")), "encrypt_string",
                              "--vault-password-file", str(password), "vaultuser", "--name", "ansible_user"],
                             capture_output=True, text=True, check=True, timeout=120)
    (tmp_path / "group_vars/web.yml").write_text(vaulted.stdout)
    # When ansible-inventory reads it with the password file Ansible would use, and without it
    with monkeypatch.context() as env:
        env.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
        user = through_ansible(tmp_path / "hosts.ini").hosts[0].user
    # Then the value is opened; without the password the error says how to give it, and the
    # built-in reader says it needs ansible-inventory
    assert user == "vaultuser"
    with pytest.raises(InventoryError, match="ANSIBLE_VAULT_PASSWORD_FILE"):
        through_ansible(tmp_path / "hosts.ini")
    with pytest.raises(InventoryError, match="need ansible-inventory on the PATH"):
        built_in(tmp_path / "hosts.ini")
