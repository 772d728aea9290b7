"""YAML 1.2 core semantics in every input file, "did you mean" hints, and the tab-indent hint."""

from __future__ import annotations

import pytest

from auditor import inventory, yamlfile
from auditor.engine import registry
from auditor.inputs import load_inventory
from tests.conftest import run_cli

CHECKS = registry.load().checks


def write(tmp_path, text: str):
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_1_1_words_stay_strings_and_numbers_read_as_in_1_2():
    # Given values YAML 1.1 would turn into booleans, octals or dates
    text = "a: NO\nb: [NO, SE]\nc: yes\nd: on\ne: off\nf: true\ng: 012\nh: 0o17\ni: 2025-01-01\nj: ~\n"
    # When auditor's reader reads them
    data = yamlfile.load12(text)
    # Then only true/false are booleans, 012 is twelve, a date stays text
    assert data == {"a": "NO", "b": ["NO", "SE"], "c": "yes", "d": "on", "e": "off", "f": True,
                    "g": 12, "h": 15, "i": "2025-01-01", "j": None}


def test_region_no_is_norway_in_an_inventory(tmp_path):
    # Given an inventory that declares Norway as the region and allows NO and SE
    path = write(tmp_path, "hosts:\n  h:\n    transport: local\n    vars:\n      data_residency:\n"
                           "        region: NO\n        allowed_regions: [NO, SE]\n")
    # When it is loaded
    host = inventory.load(path, CHECKS).hosts[0]
    # Then both stay country codes
    assert host.vars["data_residency"] == {"region": "NO", "allowed_regions": ["NO", "SE"]}


def test_a_boolean_parameter_accepts_only_true_or_false_and_says_so(tmp_path):
    # Given a boolean parameter written as yes
    path = write(tmp_path, "hosts:\n  h:\n    transport: local\n    vars:\n      data_residency:\n"
                           "        metadata: yes\n")
    # When it is loaded
    with pytest.raises(inventory.InventoryError) as caught:
        inventory.load(path, CHECKS)
    # Then the error names line and key and says to write true or false
    assert str(caught.value) == (f"{path}:6: hosts.h.vars.data_residency.metadata: expected true or false, "
                                 "got 'yes'; YAML 1.2 reads yes as text, so write true or false")


def test_become_yes_says_what_become_takes(tmp_path):
    # Given become: yes (Ansible's habit)
    path = write(tmp_path, "hosts:\n  h:\n    address: h\n    become: yes\n")
    # When loaded, Then the error names sudo as the value to write
    with pytest.raises(inventory.InventoryError, match=r"become: must be one of sudo .*got 'yes'"):
        inventory.load(path, CHECKS)


def test_a_tab_indent_says_indent_with_spaces(tmp_path):
    # Given a file indented with a tab
    path = write(tmp_path, "hosts:\n\th:\n")
    # When loaded, Then the message says to indent with spaces, with the line
    with pytest.raises(inventory.InventoryError, match=r"inventory.yaml:2: .*indent with spaces"):
        inventory.load(path, CHECKS)


@pytest.mark.parametrize(("text", "hint"), [
    ("hosts:\n  h:\n    address: h\n    prot: 22\n", "did you mean 'port'?"),
    ("hosts:\n  h:\n    transport: local\n    vars:\n      passwd_hashing: {}\n",
     "did you mean 'password_hashing'?"),
    ("hosts:\n  h:\n    transport: local\n    vars:\n      log_retention: {min_dayz: 3}\n",
     "did you mean 'min_days'?"),
    ("host:\n  h: {transport: local}\n", "did you mean 'hosts'?"),
    ("hosts:\n  web1: {transport: local}\ngroups:\n  g: {hosts: [web2]}\n", "did you mean 'web1'?"),
])
def test_unknown_names_get_the_closest_known_one(tmp_path, text, hint):
    # Given a typo in a key, a check id, a parameter or a host name
    path = write(tmp_path, text)
    # When loaded, Then the error suggests the intended name
    with pytest.raises(inventory.InventoryError) as caught:
        inventory.load(path, CHECKS)
    assert str(caught.value).endswith(hint), str(caught.value)


def test_host_and_group_filters_and_check_ids_suggest_too(tmp_path):
    # Given an inventory with host web1 in group web
    path = write(tmp_path, "hosts:\n  web1: {transport: local}\ngroups:\n  web: {hosts: [web1]}\n")
    inv = load_inventory(path, CHECKS)
    # When --host, --group and --check are mistyped
    with pytest.raises(inventory.InventoryError, match=r"did you mean 'web1'\?"):
        inv.select(["webl"])
    with pytest.raises(inventory.InventoryError, match=r"did you mean 'web'\?"):
        inv.select(groups=["wbe"])
    result = run_cli("run", "-i", str(path), "--check", "passwd_hashing", "-o", str(tmp_path / "r"))
    # Then each names the closest known one; --check exits 2 like every usage error
    assert result.rc == 2
    assert "unknown check id passwd_hashing; did you mean 'password_hashing'?" in result.stderr


def test_history_check_nosuch_exits_2_like_run(tmp_path):
    # Given a history with one run of the local machine, audited with -t local (no inventory file)
    first = run_cli("run", "-t", "local", "--check", "auth_logging", "-o", str(tmp_path), "--no-sign",
                    "--format", "json")
    assert first.rc != 2, first.stderr
    assert [h["name"] for h in first.json()["hosts"]] == ["local"]
    # When history and run are asked for a check id that does not exist, and history for a known one
    history = run_cli("history", "-o", str(tmp_path), "--check", "nosuch")
    run = run_cli("run", "-t", "local", "--check", "nosuch", "-o", str(tmp_path), "--no-history")
    known = run_cli("history", "-o", str(tmp_path), "--check", "auth_logging")
    # Then both refuse the unknown id with exit code 2 and the same words; the known one is listed
    assert (history.rc, run.rc, known.rc) == (2, 2, 0), (history.stderr, run.stderr, known.stderr)
    assert "unknown check id nosuch" in history.stderr and "unknown check id nosuch" in run.stderr
    assert "1 result(s) of auth_logging" in known.stdout


def test_targets_usage_mistakes_are_one_line_exit_2(tmp_path):
    # Given -t with an inventory, --sudo without -t, a password in a target
    cases = [("-t", "local", "-i", "other.yaml"), ("--sudo",), ("-t", "ssh://u:secret@h")]
    for args in cases:
        # When run
        result = run_cli("run", *args, "-o", str(tmp_path / "r"), "--no-history")
        # Then exit 2 and one error line, which never echoes the password
        assert result.rc == 2, (args, result.stderr)
        assert result.stderr.count("auditor: error:") == 1 and "Traceback" not in result.stderr
        assert "secret" not in result.stderr
