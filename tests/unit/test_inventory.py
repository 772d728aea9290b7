"""Inventory mistakes give one line naming file, line and key, exit 2, no traceback."""

import textwrap

import pytest

from auditor import inventory
from auditor.check import Check, Param
from auditor.engine import registry
from auditor.tracking import waivers

CHECKS = registry.load().checks


def load(tmp_path, text):
    path = tmp_path / "inv.yaml"
    path.write_text(textwrap.dedent(text))
    return inventory.load(path, CHECKS)


@pytest.mark.parametrize("text, line, fragment", [
    ("hosts:\n  web1:\n    adress: 10.0.0.1\n", 3, "hosts.web1.adress: unknown key"),
    ("hosts:\n  web1:\n    address: 10.0.0.1\n    port: twenty\n", 4, "hosts.web1.port: expected an integer"),
    ("hosts:\n  web1:\n    user: audit\n", 2, "hosts.web1.address: missing"),
    ("hosts:\n  web1: {address: 10.0.0.1}\ngroups:\n  db:\n    hosts: [web1, db9]\n", 5,
     "groups.db.hosts: names unknown host 'db9'"),
    ("hosts:\n  web1: {address: 10.0.0.1, transport: telnet}\n", 2, "hosts.web1.transport: must be one of"),
    ("hosts:\n  web1:\n    address: 10.0.0.1\n    vars:\n      log_retension: {min_days: 9}\n", 5,
     "hosts.web1.vars.log_retension: not a check id"),
    ("hosts:\n  web1:\n    address: 10.0.0.1\n    vars:\n      log_retention: {min_day: 9}\n", 5,
     "hosts.web1.vars.log_retention.min_day: unknown parameter"),
    ("hosts:\n  web1:\n    address: 10.0.0.1\n    vars:\n      log_retention: {min_days: lots}\n", 5,
     "hosts.web1.vars.log_retention.min_days: expected an integer"),
    ("hosts:\n  web1: {address: [oops\n", 3, "not valid YAML: expected ',' or ']'"),
    ("hosts:\n  web1: {address: [oops\n", 3, "(in what starts on line 2)"),
    ("hosts: {}\n", 1, "hosts: is empty"),
    ("servers:\n  web1: {}\n", 1, "servers: unknown top-level key"),
    # An empty value is named, never a YAML traceback
    ("hosts:\n  web1:\n    address: 10.0.0.1\n    user:\n", 4,
     "hosts.web1.user: is empty; expected a string"),
    ("hosts:\n  web1:\n    address:\n", 3, "hosts.web1.address: is empty; expected a string"),
    ("hosts:\n  web1:\n    address: 10.0.0.1\n    vars:\n      log_retention: {min_days: }\n", 5,
     "hosts.web1.vars.log_retention.min_days: is empty; expected an integer"),
    ("hosts:\n  web1:\n    address: 10.0.0.1\n    port: !!binary aGk=\n", 4,
     "hosts.web1.port: expected an integer"),
    # A host name with a control character (YAML escapes allow NUL, tab...) is refused
    ('hosts:\n  "a\\0b\\tc": {address: 10.0.0.1}\n', 2,
     "hosts: the host name 'a\\x00b\\tc' holds a control character"),
    # A parameter below its declared minimum
    ("hosts:\n  web1:\n    address: 10.0.0.1\n    vars:\n      log_retention: {min_days: -5}\n", 5,
     "hosts.web1.vars.log_retention.min_days: must be at least 1, got -5"),
    ("defaults:\n  vars:\n    tls: {timeout_seconds: 0}\nhosts:\n  web1: {address: 10.0.0.1}\n", 3,
     "defaults.vars.tls.timeout_seconds: must be at least 0.1, got 0"),
])
def test_mistakes_name_file_line_and_key(tmp_path, text, line, fragment):
    with pytest.raises(inventory.InventoryError) as error:
        load(tmp_path, text)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'inv.yaml'}:{line}: "), message
    assert fragment in message
    assert "\n" not in message


def test_vars_merge_defaults_then_groups_then_host(tmp_path):
    # Given a parameter set at every level
    inv = load(tmp_path, """
        defaults:
          user: audit
          vars: {log_retention: {min_days: 30, exclude: ["/var/log/x"]}}
        hosts:
          web1: {address: 10.0.0.1}
          db1:
            address: 10.0.0.2
            vars: {log_retention: {min_days: 365}}
        groups:
          prod:
            hosts: [web1, db1]
            vars: {log_retention: {min_days: 90}}
    """)
    # Then the most specific wins and the rest is inherited
    web1, db1 = inv.host("web1"), inv.host("db1")
    check = CHECKS["log_retention"]
    assert web1.params_for(check)["min_days"] == 90
    assert db1.params_for(check)["min_days"] == 365
    assert db1.params_for(check)["exclude"] == ["/var/log/x"]
    assert web1.user == "audit" and web1.groups == ("prod",)
    assert len(inv.sha256) == 64


def test_select_by_group_and_unknown_names(tmp_path):
    inv = load(tmp_path, """
        hosts:
          web1: {address: 10.0.0.1}
          db1: {address: 10.0.0.2}
        groups:
          db: {hosts: [db1]}
    """)
    assert [h.name for h in inv.select(groups=["db"])] == ["db1"]
    assert [h.name for h in inv.select()] == ["web1", "db1"]
    with pytest.raises(inventory.InventoryError, match="no host named 'web9'"):
        inv.select(hosts=["web9"])


def test_cli_reports_a_bad_inventory_in_one_line_with_exit_2(tmp_path, cli):
    # Given an inventory with a typo on line 4
    path = tmp_path / "fleet.yaml"
    path.write_text("hosts:\n  web1:\n    address: 10.0.0.1\n    prot: 22\n")
    # When auditor runs on it
    result = cli("run", "-i", str(path), "-o", str(tmp_path / "out"))
    # Then it says where and what, without a traceback, and exits 2
    assert result.rc == 2
    assert f"{path}:4: hosts.web1.prot: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_missing_inventory_and_unknown_check(tmp_path, cli):
    missing = cli("run", "-i", str(tmp_path / "nope.yaml"))
    assert missing.rc == 2 and "file not found" in missing.stderr
    unknown = cli("run", "--check", "no_such_check", "-o", str(tmp_path))
    assert unknown.rc == 2 and "unknown check id no_such_check" in unknown.stderr


ENDPOINTS_CHECK = Check(
    id="endpoints_demo", title="t", claims=(), controls=(), probes=(),
    params=(Param("endpoints", list, [], "where", item_keys=("address", "sni"),
                  required_item_keys=("address",)),
            Param("names", list, [], "plain values only")),
)


def load_with_demo(tmp_path, text):
    path = tmp_path / "inv.yaml"
    path.write_text(textwrap.dedent(text))
    return inventory.load(path, {**CHECKS, ENDPOINTS_CHECK.id: ENDPOINTS_CHECK})


def test_list_parameters_may_hold_mappings_of_declared_keys(tmp_path):
    # Given endpoints as a plain string and as a mapping
    inv = load_with_demo(tmp_path, """
        hosts:
          web1:
            address: 10.0.0.1
            vars:
              endpoints_demo:
                endpoints: ["10.0.0.1:443", {address: "10.0.0.1:8443", sni: shop.example}]
    """)
    # Then both reach the check's parameters as written
    assert inv.hosts[0].params_for(ENDPOINTS_CHECK)["endpoints"] == [
        "10.0.0.1:443", {"address": "10.0.0.1:8443", "sni": "shop.example"}]


@pytest.mark.parametrize("value, line, fragment", [
    ('[{address: "a:1", snl: x}]', 6,
     "vars.endpoints_demo.endpoints[0].snl: unknown key; expected one of: address, sni"),
    ("[{sni: x}]", 6, "vars.endpoints_demo.endpoints[0]: missing address"),
    ("[{address: [1, 2]}]", 6, "vars.endpoints_demo.endpoints[0].address: expected"),
    ("[[a, b]]", 6, "vars.endpoints_demo.endpoints[0]: expected a plain value or a mapping"),
])
def test_bad_mapping_items_name_the_item_and_key(tmp_path, value, line, fragment):
    with pytest.raises(inventory.InventoryError) as error:
        load_with_demo(tmp_path, f"""
            hosts:
              web1:
                address: 10.0.0.1
                vars:
                  endpoints_demo: {{endpoints: {value}}}
        """)
    message = str(error.value)
    assert f"inv.yaml:{line}: " in message and fragment in message, message


def test_a_mapping_in_a_plain_list_parameter_is_refused(tmp_path):
    with pytest.raises(inventory.InventoryError) as error:
        load_with_demo(tmp_path, """
            hosts:
              web1:
                address: 10.0.0.1
                vars:
                  endpoints_demo: {names: [{a: 1}]}
        """)
    assert "vars.endpoints_demo.names[0]: expected a plain value, not a mapping" in str(error.value)


@pytest.mark.parametrize("entry, line, fragment", [
    ("justification:", 4, "waivers[0].justification: is empty; expected a string"),
    ("check:", 2, "waivers[0].check: is empty; expected a string"),
    ("expires:", 6, "waivers[0].expires: expected a date YYYY-MM-DD, got None"),
])
def test_an_empty_waiver_value_is_named_not_a_traceback(tmp_path, entry, line, fragment):
    # Given a waivers file (read by the same Loader) with one value left empty
    key = entry.rstrip(":")
    fields = {"check": "backups", "hosts": "[web1]", "justification": "CHG-1", "approver": "Jane",
              "expires": "2099-01-01"}
    body = "".join(f"    {name}: {value}\n" if name != key else f"    {entry}\n"
                   for name, value in fields.items())
    path = tmp_path / "waivers.yaml"
    path.write_text("waivers:\n" + body.replace("    ", "  - ", 1))
    inv = load(tmp_path, "hosts:\n  web1: {address: 10.0.0.1}\n")
    # When it is loaded
    with pytest.raises(waivers.WaiversError) as error:
        waivers.load(path, CHECKS, inv)
    # Then the error names the file, the line and the key
    message = str(error.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message, message


def test_a_typed_item_key_refuses_a_value_of_another_type(tmp_path, cli):
    # Given data_retention's source period written as text, as in a hurried inventory
    path = tmp_path / "inv.yaml"
    path.write_text(textwrap.dedent("""\
        hosts:
          db1:
            transport: local
            vars:
              data_retention:
                sources:
                  - {name: trials, kind: sqlite, path: /srv/app.db, query: "SELECT t FROM a",
                     max_age_days: "90"}
    """))
    # When the inventory is used
    result = cli("list", "--hosts", "-i", str(path))
    # Then it is a one-line usage error naming the file, line and key, before any host is audited
    assert result.rc == 2
    assert f"{path}:8: hosts.db1.vars.data_retention.sources[0].max_age_days: expected an integer, got '90'" \
        in result.stderr, result.stderr


def test_an_enumerated_item_key_is_checked_at_load(tmp_path, cli):
    # Given an application source whose kind names the client binary, not the kind
    path = tmp_path / "inv.yaml"
    path.write_text(textwrap.dedent("""\
        hosts:
          db1:
            transport: local
            vars:
              app_password_hashing:
                sources:
                  - {name: shop, kind: sqlite3, path: /srv/app.db, query: "SELECT hash FROM users"}
    """))
    # When the inventory is used, even by a command that audits nothing
    result = cli("list", "--hosts", "-i", str(path))
    # Then it is a one-line usage error naming the file, line, key and the kinds there are
    assert result.rc == 2
    assert (f"{path}:7: hosts.db1.vars.app_password_hashing.sources[0].kind: must be one of "
            "sqlite, postgres, mysql, got 'sqlite3'") in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_known_kind_loads(tmp_path):
    # Given each kind a source may have
    inv = load(tmp_path, """\
        hosts:
          db1:
            transport: local
            vars:
              data_retention:
                sources:
                  - {kind: sqlite, path: /srv/app.db, query: "SELECT t FROM a", max_age_days: 9}
                  - {kind: postgres, database: crm, query: "SELECT t FROM a", max_age_days: 9}
                  - {kind: mysql, database: wp, query: "SELECT t FROM a", max_age_days: 9}
    """)
    # Then they load as written
    sources = inv.hosts[0].vars["data_retention"]["sources"]
    assert [s["kind"] for s in sources] == ["sqlite", "postgres", "mysql"]
