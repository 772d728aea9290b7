"""Claims files: loading, clear errors (file:line: key), finding a set, and planning a run."""

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import textwrap

import jsonschema
import pytest

from auditor import inventory
from auditor.engine import registry
from auditor.policy import claims
from tests.conftest import REPO, run_cli, run_folder

CHECKS = registry.load().checks

GOOD = """\
# auditor claims file, format 1
format: 1
policy:
  id: shop
  title: "Sklep — Polityka prywatności"
  document: "shop.txt"
  language: pl
claims:
  - id: salted-password-hashing
    quote: "Hasła klientów są zabezpieczone przy pomocy szyfrowania z ciągiem zaburzającym."
    gloss: "Customer passwords are stored as salted hashes."
    source: "§ Bezpieczeństwo danych"
    checks:
      password_hashing: {}
      app_password_hashing:
    controls: ["ISO27001:2022 A.8.5", A.5.17]
  - id: log-retention
    quote: "Dzienniki są przechowywane przez 60 dni."
    gloss: "Logs are kept for 60 days."
    checks:
      log_retention: {min_days: 60}
    applies_to: [web]
  - id: breach-notification-72h
    quote: "Powiadomimy w ciągu 72 godzin."
    manual: "Incident-response procedure naming the 72-hour duty."
  - id: nothing-checkable
    quote: "Dbamy o dane."
"""

INVENTORY = """\
hosts:
  web1: {address: 10.0.0.1, vars: {log_retention: {min_days: 30, exclude: ["/var/log/x"]}}}
  web2: {address: 10.0.0.2}
  db1: {address: 10.0.0.3}
groups:
  web: {hosts: [web1, web2]}
"""


def write(tmp_path, text, name="policy.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path, text):
    return claims.load(write(tmp_path, text), CHECKS)


def test_a_good_file_loads_with_every_field(tmp_path):
    # Given the agreed format with every key used
    # When it is loaded
    loaded = load(tmp_path, GOOD)
    # Then the policy and its claims carry what the file says, controls in the checks' form
    assert (loaded.id, loaded.title, loaded.document, loaded.language) == (
        "shop", "Sklep — Polityka prywatności", "shop.txt", "pl")
    salted, logs, breach, nothing = loaded.claims
    assert salted.checks == {"password_hashing": {}, "app_password_hashing": {}}
    assert salted.controls == ("ISO27001:2022 A.8.5", "ISO27001:2022 A.5.17")
    assert salted.applies_to == ("all",) and salted.line == 9 and salted.source == "§ Bezpieczeństwo danych"
    assert logs.checks == {"log_retention": {"min_days": 60}} and logs.applies_to == ("web",)
    assert breach.manual.startswith("Incident-response") and not breach.checks
    # And a claim with neither checks nor a manual note is warned about, naming its line
    assert loaded.warnings == (f"{tmp_path / 'policy.yaml'}:26: claim nothing-checkable has no checks and no "
                               "manual note; it is reported as not covered",)
    assert len(loaded.sha256) == 64


CLAIM = "policy: {id: p, title: T}\nclaims:\n  - id: c\n    quote: q\n"


@pytest.mark.parametrize("text, line, fragment", [
    (CLAIM + "    checks:\n      log_retention: {min_dayz: 60}\n", 6,
     "claims[0].checks.log_retention.min_dayz: unknown parameter of log_retention (parameters: min_days"),
    (CLAIM + "    checks:\n      log_retension: {}\n", 6,
     "claims[0].checks.log_retension: unknown check id (checks: admin_change_audit"),
    (CLAIM + "    checks:\n      log_retention: {min_days: sixty}\n", 6,
     "claims[0].checks.log_retention.min_days: expected an integer, got 'sixty'"),
    (CLAIM + "    qoute: x\n", 5, "claims[0].qoute: unknown key; expected one of: id, quote, gloss"),
    ("policy: {id: p, title: T}\nclaims:\n  - id: c\n", 3, "claims[0].quote: missing"),
    ("policy: {id: p, title: T}\nclaims:\n  - id: Log_Retention\n    quote: q\n", 3,
     "claims[0].id: 'Log_Retention' is not kebab-case"),
    (CLAIM + "  - id: c\n    quote: again\n", 5,
     "claims[1].id: 'c' is already the id of the claim on line 3"),
    (CLAIM + "    controls: [A.9.4.3]\n", 5,
     "claims[0].controls: 'A.9.4.3' is not an ISO/IEC 27001:2022 Annex A"),
    (CLAIM + "    applies_to: web\n", 5, "claims[0].applies_to: expected a list, got 'web'"),
    ("format: 2\n" + CLAIM, 1, "format: this auditor reads claims files of format 1"),
    ("policy: {id: p}\nclaims: []\n", 1, "policy.title: missing"),
    ("policy: {id: p, title: T}\nclaims: []\n", 2, "claims: expected a list of claims"),
    ("policy: {id: p, title: T, lang: pl}\n" + CLAIM.split("\n", 1)[1], 1,
     "policy.lang: unknown key; expected one of: id, title, document, language"),
    ("polcy: {id: p}\n", 1, "polcy: unknown key; expected format, policy, claims"),
    ("policy: {id: p, title: T, language: Polish}\n" + CLAIM.split("\n", 1)[1], 1,
     "policy.language: 'Polish' is not a language tag (e.g. pl, en, de-AT)"),
    ("policy: {id: p, title: [T\n", 2, "not valid YAML"),
    # Empty values are named, never a YAML traceback
    ("policy: {id: p, title: T}\nclaims:\n  - id: c\n    quote:\n", 4,
     "claims[0].quote: is empty; expected a string"),
    ("policy: {id: p, title: T}\nclaims:\n  - id:\n    quote: q\n", 3,
     "claims[0].id: is empty; expected a string"),
    (CLAIM + "    gloss:\n", 5, "claims[0].gloss: is empty; expected a string"),
    (CLAIM + "    applies_to:\n", 5, "claims[0].applies_to: is empty; expected a list"),
    (CLAIM + "    controls:\n", 5, "claims[0].controls: is empty; expected a list"),
    (CLAIM + "    checks:\n      log_retention: {min_days: }\n", 6,
     "claims[0].checks.log_retention.min_days: is empty; expected an integer"),
    ("policy:\n  id: p\n  title:\n" + CLAIM.split("\n", 1)[1], 3,
     "policy.title: is empty; expected a string"),
    # A parameter below its minimum
    (CLAIM + "    checks:\n      log_retention: {min_days: -5}\n", 6,
     "claims[0].checks.log_retention.min_days: must be at least 1, got -5"),
    # Two claims for the same hosts giving the same check different values: split hosts or use vars
    (CLAIM + "    checks: {log_retention: {min_days: 60}}\n  - id: d\n    quote: q\n"
     "    checks: {log_retention: {min_days: 90}}\n", 8,
     "claims[1].checks.log_retention.min_days: sets log_retention.min_days = 90, but claim c"),
])
def test_mistakes_name_file_line_and_key(tmp_path, text, line, fragment):
    with pytest.raises(claims.ClaimsError) as error:
        load(tmp_path, text)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'policy.yaml'}:{line}: "), message
    assert fragment in message, message
    assert "\n" not in message


def test_a_conflict_names_both_claims_with_their_lines(tmp_path):
    text = (CLAIM + "    checks: {log_retention: {min_days: 60}}\n  - id: d\n    quote: q\n"
            "    checks: {log_retention: {min_days: 90}}\n")
    with pytest.raises(claims.ClaimsError) as error:
        load(tmp_path, text)
    # Then the error stands on the second claim's parameter (claims[1], line 8) and names the first's line
    assert str(error.value).startswith(
        f"{tmp_path / 'policy.yaml'}:8: claims[1].checks.log_retention.min_days: ")
    assert f"claim c ({tmp_path / 'policy.yaml'}:5) sets 60 for the same hosts" in str(error.value)
    assert "split the hosts with applies_to" in str(error.value)


def test_the_cli_reports_a_broken_claims_file_in_one_line_with_exit_2(tmp_path):
    # Given a claims file with a misspelt parameter and a one-host local inventory
    claims = write(tmp_path, CLAIM + "    checks:\n      log_retention: {min_dayz: 60}\n")
    inv = write(tmp_path, "hosts:\n  here: {transport: local}\n", "inv.yaml")
    # When a run is asked to audit it
    result = run_cli("run", "-i", str(inv), "--policy", str(claims), "-o", str(tmp_path / "out"))
    # Then nothing runs: one line naming file, line and key; exit 2; no traceback
    assert result.rc == 2
    assert result.stderr.strip() == (
        f"auditor: error: {claims}:6: claims[0].checks.log_retention.min_dayz: "
        "unknown parameter of log_retention (parameters: min_days, log_dirs, exclude); "
        "did you mean 'min_days'?")
    assert not (tmp_path / "out").exists()


def test_locate_finds_a_path_else_a_shipped_set_else_says_what_exists(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD)
    assert claims.locate(str(path)) == path
    assert claims.locate("policy.yaml", base=tmp_path) == path
    shipped = claims.shipped()
    assert set(shipped) >= {"apifonica", "cloudpbx", "voipstudio", "vipower", "host-tracker"}
    assert claims.locate("vipower") == shipped["vipower"]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"no shipped set named 'acme' \(shipped sets: apifonica"):
        claims.locate("acme")
    with pytest.raises(ValueError, match="no claims file .*missing.yaml"):
        claims.locate("./missing.yaml")


def test_the_inventory_names_a_policy_relative_to_itself(tmp_path):
    # Given an inventory in another folder naming ./claims/policy.yaml
    (tmp_path / "claims").mkdir()
    write(tmp_path / "claims", GOOD)
    inv_path = write(tmp_path, INVENTORY + "policy: claims/policy.yaml\n", "inv.yaml")
    # When the inventory's policy is read
    found = claims.from_inventory(inventory.load(inv_path, CHECKS), CHECKS)
    # Then it is that file
    assert found is not None and found.id == "shop" and found.path == str(tmp_path / "claims/policy.yaml")


def test_an_unknown_policy_name_in_the_inventory_names_the_inventory_line(tmp_path):
    inv_path = write(tmp_path, INVENTORY + "policy: acme\n", "inv.yaml")
    with pytest.raises(claims.ClaimsError) as error:
        claims.from_inventory(inventory.load(inv_path, CHECKS), CHECKS)
    assert str(error.value).startswith(f"{inv_path}:7: policy: no claims file")


def test_an_inline_policy_keeps_the_inventory_lines(tmp_path):
    # Given a policy: mapping inside the inventory, with a mistake on line 15
    inline = ("policy:\n  policy: {id: inline, title: Inline}\n  claims:\n"
              "    - id: logs\n      quote: q\n      checks: {log_retention: {min_days: 60}}\n")
    good = write(tmp_path, INVENTORY + inline, "inv.yaml")
    found = claims.from_inventory(inventory.load(good, CHECKS), CHECKS)
    assert found is not None and found.id == "inline" and found.claims[0].line == 10
    more = "    - id: more\n      quote: q\n      checks: {tls: {port: 1}}\n"
    bad = write(tmp_path, INVENTORY + inline + more, "bad.yaml")
    # Then the error names the inventory, the line and the key under policy.
    with pytest.raises(claims.ClaimsError) as error:
        claims.from_inventory(inventory.load(bad, CHECKS), CHECKS)
    assert str(error.value).startswith(f"{bad}:15: policy.claims[1].checks.tls.port: unknown parameter")


def test_a_plan_runs_each_hosts_claim_checks_with_the_claims_parameters(tmp_path):
    # Given the policy (log-retention applies to group web) and an inventory where web1 sets min_days 30
    inv = inventory.load(write(tmp_path, INVENTORY, "inv.yaml"), CHECKS)
    loaded = load(tmp_path, GOOD)
    # When the run is planned for every host
    plan = claims.plan(loaded, inv, inv.hosts, CHECKS)
    # Then web hosts run the hashing checks and log_retention, db1 only the hashing checks
    ids = {name: [c.id for c in checks] for name, checks in plan.checks_for.items()}
    assert ids == {"web1": ["app_password_hashing", "log_retention", "password_hashing"],
                   "web2": ["app_password_hashing", "log_retention", "password_hashing"],
                   "db1": ["app_password_hashing", "password_hashing"]}
    assert [c.id for c in plan.checks] == ["app_password_hashing", "log_retention", "password_hashing"]
    # And the claim's min_days 60 wins over web1's inventory 30, while its other vars stay
    web1 = next(h for h in plan.hosts if h.name == "web1")
    assert web1.params_for(CHECKS["log_retention"])["min_days"] == 60
    assert web1.params_for(CHECKS["log_retention"])["exclude"] == ["/var/log/x"]
    # And the override is warned about once, naming the claim's line and the host's value
    overrides = [w for w in plan.warnings if "over the inventory's value" in w]
    assert overrides == [f"{tmp_path / 'policy.yaml'}:17: claim log-retention sets log_retention.min_days = "
                         "60, over the inventory's value on web1 (30); the policy's value is audited"]
    assert plan.audited.claim_hosts == {"salted-password-hashing": ("web1", "web2", "db1"),
                                        "log-retention": ("web1", "web2"),
                                        "breach-notification-72h": ("web1", "web2", "db1"),
                                        "nothing-checkable": ("web1", "web2", "db1")}


def test_check_narrows_the_plan_and_an_unused_check_is_warned_about(tmp_path):
    inv = inventory.load(write(tmp_path, INVENTORY, "inv.yaml"), CHECKS)
    plan = claims.plan(load(tmp_path, GOOD), inv, inv.hosts, CHECKS, only=["log_retention", "tls"])
    assert {name: [c.id for c in checks] for name, checks in plan.checks_for.items()} == {
        "web1": ["log_retention"], "web2": ["log_retention"]}
    # And db1, left with no check, is not connected to (but claims still apply to it: not "unclaimed")
    assert [h.name for h in plan.hosts] == ["web1", "web2"] and plan.audited.unclaimed_hosts == ()
    assert "--check tls: no claim of policy shop uses it; not run" in plan.warnings
    assert plan.audited.checks_selected == ("log_retention", "tls")


RETENTION = """\
policy: {id: shop, title: Shop}
claims:
  - id: data-retention
    quote: "Dane usuwamy po okresie przechowywania."
    checks: {data_retention: {}}
  - id: billing-2-years
    quote: "Faktury przechowujemy 2 lata."
    checks: {data_retention: {max_age_days: 731}}
    applies_to: [web]
  - id: billing-again
    quote: "Faktury: 2 lata."
    checks: {data_retention: {max_age_days: 731}}
    applies_to: [web1]
"""


def test_a_claim_whose_check_runs_with_a_siblings_parameters_is_marked_per_host(tmp_path):
    # Given a claim with {} (the inventory's period) and a sibling giving the same check 731 days on web,
    # and an inventory where web1's own period is 2555 days
    inv_text = INVENTORY.replace("web2: {address: 10.0.0.2}",
                                 "web2: {address: 10.0.0.2, vars: {data_retention: {max_age_days: 2555}}}")
    inv = inventory.load(write(tmp_path, inv_text, "inv.yaml"), CHECKS)
    # When the run is planned
    plan = claims.plan(load(tmp_path, RETENTION), inv, inv.hosts, CHECKS)
    # Then on web hosts the {} claim's result is flagged, naming the claim that set the value and its own;
    # on db1 (the sibling does not apply) it is not, nor are the claims that set the value
    assert plan.audited.other_params == {
        ("data-retention", "web1", "data_retention"):
            "data_retention ran with max_age_days = 731 set by claim billing-again (this claim alone: 0)",
        ("data-retention", "web2", "data_retention"):
            "data_retention ran with max_age_days = 731 set by claim billing-2-years "
            "(this claim alone: 2555)",
    }


def test_hosts_no_claim_applies_to_are_not_audited_and_are_listed(tmp_path):
    # Given a policy whose only checked claim applies to group web, and db1 outside it
    text = ("policy: {id: shop, title: Shop}\nclaims:\n  - id: logs\n    quote: q\n"
            "    checks: {log_retention: {}}\n    applies_to: [web]\n"
            "  - id: breach\n    quote: q\n    manual: the procedure\n")
    inv = inventory.load(write(tmp_path, INVENTORY, "inv.yaml"), CHECKS)
    # When the run is planned
    plan = claims.plan(load(tmp_path, text), inv, inv.hosts, CHECKS)
    # Then db1 is not connected to, is listed, and the run warns about it
    assert [h.name for h in plan.hosts] == ["web1", "web2"]
    assert plan.audited.unclaimed_hosts == ("db1",)
    assert "no claim of policy shop applies to db1; not audited" in plan.warnings
    assert plan.audited.warnings == plan.warnings


def test_claims_for_overlapping_groups_with_different_values_are_refused(tmp_path):
    # Given two claims for different names (web, web1) that share a host, with different min_days
    text = GOOD.replace("  - id: breach-notification-72h", "  - id: logs-web1\n    quote: q\n"
                        "    checks: {log_retention: {min_days: 90}}\n    applies_to: [web1]\n"
                        "  - id: breach-notification-72h")
    loaded = load(tmp_path, text)  # the file alone cannot tell that web1 is in web
    inv = inventory.load(write(tmp_path, INVENTORY, "inv.yaml"), CHECKS)
    # When the run is planned
    with pytest.raises(claims.ClaimsError) as error:
        claims.plan(loaded, inv, inv.hosts[:1], CHECKS)
    # Then it is refused, naming both claims and the host
    assert str(error.value).startswith(
        f"{tmp_path / 'policy.yaml'}:25: claims[2].checks.log_retention.min_days: "
        f"sets log_retention.min_days = 90, but claim log-retention ({tmp_path / 'policy.yaml'}:21) "
        "sets 60 for host web1")


def test_applies_to_must_name_hosts_or_groups_of_the_inventory(tmp_path):
    inv = inventory.load(write(tmp_path, INVENTORY, "inv.yaml"), CHECKS)
    with pytest.raises(claims.ClaimsError) as error:
        claims.plan(load(tmp_path, GOOD.replace("applies_to: [web]", "applies_to: [webs]")), inv, inv.hosts,
                    CHECKS)
    assert str(error.value).startswith(f"{tmp_path / 'policy.yaml'}:17: claims[1].applies_to: names no host "
                                       "or group of")
    assert "webs (hosts: web1, web2, db1; groups: web)" in str(error.value)


def test_claims_show_lists_a_sets_claims_with_checks_and_parameters(tmp_path):
    # Given a claims file, When `auditor claims show PATH` runs
    result = run_cli("claims", "show", str(write(tmp_path, GOOD)))
    # Then it lists each claim with its quote and its checks with parameters, and warns of the uncovered one
    assert result.rc == 0, result.stderr
    assert result.stdout.startswith("shop: Sklep — Polityka prywatności (shop.txt)\n")
    assert ("\nlog-retention  (applies to web)\n"
            "  quote: Dzienniki są przechowywane przez 60 dni.\n") in result.stdout
    assert "  check: log_retention (min_days=60)\n" in result.stdout
    assert ("nothing-checkable\n  quote: Dbamy o dane.\n"
            "  not covered: no check and no manual note") in result.stdout
    assert "claim nothing-checkable has no checks and no manual note" in result.stderr
    # And an unknown name says which sets ship, with exit 2
    missing = run_cli("claims", "show", "acme", cwd=tmp_path)
    assert missing.rc == 2 and "no shipped set named 'acme' (shipped sets: apifonica" in missing.stderr


def test_claims_extract_drafts_a_file_that_loads(tmp_path):
    # Given a short Polish policy with two technical promises
    text = tmp_path / "polityka.txt"
    text.write_text("Polityka prywatności\n\nHasła nie są rejestrowane. "
                    "Kopia zapasowa danych jest wykonywana codziennie.\n", encoding="utf-8")
    # When a draft is extracted to a file
    result = run_cli("claims", "extract", str(text), "-o", str(tmp_path / "draft.yaml"))
    # Then the draft is a claims file this auditor loads, with the promises and their parameters
    assert result.rc == 0, result.stderr
    draft = claims.load(tmp_path / "draft.yaml", CHECKS)
    assert {c.id: dict(c.checks) for c in draft.claims} == {
        "passwords-not-logged": {"passwords_not_logged": {}},
        "daily-backup": {"backups": {"max_age_hours": 26}}}
    # And a missing file is one clear line with exit 2
    missing = run_cli("claims", "extract", str(tmp_path / "nope.txt"))
    assert missing.rc == 2
    assert missing.stderr.strip() == f"auditor: error: {tmp_path / 'nope.txt'}: file not found"


def test_a_local_run_with_a_policy_prints_a_line_per_claim_and_records_the_policy(tmp_path):
    # Given the claims file and this machine as the only host
    claims = write(tmp_path, GOOD)
    inv = write(tmp_path, "hosts:\n  here: {transport: local}\ngroups:\n  web: {hosts: [here]}\n", "inv.yaml")
    # When it is audited for password hashing only, with the table on stdout
    result = run_cli("run", "-i", str(inv), "--policy", str(claims), "--check", "password_hashing",
                     "-o", str(tmp_path / "out"), "--format", "table")
    # Then after the host table comes the policy's headline and one line per claim, in file order
    block = result.stdout[result.stdout.index("policy shop: "):].splitlines()
    assert block[0].startswith("policy shop: ") and "promises hold on here;" in block[0]
    assert [line.split()[1].rstrip(":") for line in block[1:]] == [
        "salted-password-hashing", "log-retention", "breach-notification-72h", "nothing-checkable"]
    assert block[2].split()[0] == "not_verified" and block[4].split()[0] == "not_covered"
    # And the manifest lists, per host, only the checks it ran, and names the policy
    manifest = json.loads(next((tmp_path / "out").glob("*/manifest.json")).read_text())
    assert list(manifest["run"]["hosts"][0]["params"]) == ["password_hashing"]
    assert manifest["run"]["policy"]["id"] == "shop"
    # And report.json carries the policy section, valid against the committed schema
    report = json.loads(next((tmp_path / "out").glob("*/report.json")).read_text())
    jsonschema.validate(report, json.loads((REPO / "auditor/schema/report.schema.json").read_text()))
    assert [c["verdict"] for c in report["policy"]["claims"]] == [
        "not_verified", "not_verified", "manual", "not_covered"]


def test_a_check_that_selects_no_check_of_the_policy_is_refused_with_exit_2(tmp_path):
    # Given a policy that uses no tls check
    claims = write(tmp_path, GOOD)
    inv = write(tmp_path, "hosts:\n  here: {transport: local}\ngroups:\n  web: {hosts: [here]}\n", "inv.yaml")
    # When the run is narrowed to tls
    result = run_cli("run", "-i", str(inv), "--policy", str(claims), "--check", "tls",
                     "-o", str(tmp_path / "out"))
    # Then nothing runs: a run that verifies no claim is a usage error, not a clean exit
    assert result.rc == 2, result.stderr
    assert result.stderr.strip() == (
        "auditor: error: --check tls selects no check of policy shop (its checks: app_password_hashing, "
        "log_retention, password_hashing); drop --check or name one of them")
    assert not (tmp_path / "out").exists()


def test_a_policy_with_no_checks_at_all_is_refused_with_exit_2(tmp_path):
    # Given a policy whose only claim is a process promise (a manual note, no checks)
    claims = write(tmp_path, "policy: {id: c9, title: Process}\nclaims:\n  - id: breach-72h\n    quote: q\n"
                   "    manual: The incident-response procedure.\n")
    inv = write(tmp_path, "hosts:\n  here: {transport: local}\n", "inv.yaml")
    # When it is audited
    result = run_cli("run", "-i", str(inv), "--policy", str(claims), "-o", str(tmp_path / "out"))
    # Then nothing runs: like a --check selecting nothing, a run that verifies nothing is a usage error
    assert result.rc == 2, result.stderr
    assert result.stderr.strip() == (
        f"auditor: error: policy c9 ({claims}) has no claim with checks (only manual notes or uncovered "
        "promises): a run would verify nothing on a server; give a claim checks:, or ask for the evidence "
        "its manual notes name")
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_a_policy_whose_checked_claims_apply_to_no_selected_host_is_refused_with_exit_2(tmp_path):
    # Given a policy whose one checked claim applies to `web` only, and the run selecting `db`
    claims = write(tmp_path, "policy: {id: shop, title: Shop}\nclaims:\n  - id: hashing\n    quote: q\n"
                   "    checks: {password_hashing: {}}\n    applies_to: [web]\n")
    inv = write(tmp_path, "hosts:\n  web: {transport: local}\n  db: {transport: local}\n", "inv.yaml")
    # When only db is audited
    result = run_cli("run", "-i", str(inv), "--policy", str(claims), "--host", "db",
                     "-o", str(tmp_path / "out"))
    # Then the run is refused, naming the host and what to do
    assert result.rc == 2, result.stderr
    assert result.stderr.strip().endswith(
        "auditor: error: no claim with checks of policy shop applies to the selected host(s) db: a run would "
        "verify nothing; select hosts its claims apply to (--host, --group) or widen applies_to")
    assert not (tmp_path / "out").exists()


def test_a_claims_retention_period_binds_a_source_with_a_longer_one_of_its_own(tmp_path):
    # Given a claim promising 365 days, and the inventory's source setting its own 731 days over a
    # sqlite table with a row 500 days old (review R4 finding 1)
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=500)).strftime("%Y-%m-%d %H:%M:%S")
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE consents (created_at TEXT)")
        conn.execute("INSERT INTO consents VALUES (?)", (old,))
    conn.close()
    claims = write(tmp_path, "policy: {id: shop, title: Shop}\nclaims:\n  - id: cdr-1y\n    quote: q\n"
                   "    checks: {data_retention: {max_age_days: 365}}\n")
    source = {"name": "consents", "kind": "sqlite", "path": str(db),
              "query": "SELECT created_at FROM consents", "max_age_days": 731}
    inv = write(tmp_path, json.dumps({"hosts": {"db1": {"transport": "local",
                                                        "vars": {"data_retention": {"sources": [source]}}}}}),
                "inv.yaml")
    # When the policy is audited
    result = run_cli("run", "-i", str(inv), "--policy", str(claims), "-o", str(tmp_path / "out"),
                     "--format", "json")
    # Then the claim fails on db1: the row is older than the claim's period, whatever the source says
    report = result.json()
    (claim,) = report["policy"]["claims"]
    assert (claim["verdict"], claim["summary"]) == ("fail", "fails on 1 of 1 host: db1"), claim
    (found,) = report["hosts"][0]["results"]
    assert found["summary"].startswith("consents: 1 row(s) older than 365 days"), found["summary"]
    assert any("its own max_age_days 731 is longer than the check's 365" in d for d in found["details"])
    assert result.rc == 1, result.stderr


def test_a_host_no_claim_applies_to_is_not_connected_to_and_is_listed(tmp_path):
    # Given a policy whose one checked claim applies to `here`, and an unreachable ssh host outside it
    claims = write(tmp_path, "policy: {id: shop, title: Shop}\nclaims:\n  - id: hashing\n    quote: q\n"
                   "    checks: {password_hashing: {}}\n    applies_to: [here]\n")
    inv = write(tmp_path, "hosts:\n  here: {transport: local}\n"
                "  dead: {address: 127.0.0.1, port: 1, connect_timeout: 2}\n", "inv.yaml")
    # When it is audited with the controls matrix on stdout (read as bytes, as a spreadsheet would get it)
    done = subprocess.run([sys.executable, "-m", "auditor", "run", "-i", str(inv), "--policy", str(claims),
                           "-o", str(tmp_path / "out"), "--format", "csv"],
                          cwd=REPO, capture_output=True, timeout=120, check=False,
                          env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "no-config")})
    # Then the unreachable host outside every claim does not make the run "unreachable" (exit 3)
    assert done.returncode in (0, 1), done.stderr
    assert b"no claim of policy shop applies to dead; not audited" in done.stderr
    run_dir = run_folder(tmp_path / "out")
    report = json.loads((run_dir / "report.json").read_text())
    assert [h["name"] for h in report["hosts"]] == ["here"]
    # And it is listed in report.json and the HTML, not silently dropped
    assert report["policy"]["unclaimed_hosts"] == ["dead"]
    assert "no claim of policy shop applies to dead; not audited" in report["policy"]["warnings"]
    jsonschema.validate(report, json.loads((REPO / "auditor/schema/report.schema.json").read_text()))
    assert "No claim applies to: dead (not audited)." in (run_dir / "report.html").read_text()
    # And stdout is controls.csv byte for byte: BOM and CRLF line ends as on disk
    assert done.stdout == (run_dir / "controls.csv").read_bytes()
    assert done.stdout.startswith(b"\xef\xbb\xbf") and b"\r\n" in done.stdout
    # And the console's policy block says so too
    table = run_cli("run", "-i", str(inv), "--policy", str(claims), "-o", str(tmp_path / "out"))
    assert "\n  no claim applies to: dead (not audited)\n" in table.stdout


def test_claims_extract_to_a_missing_folder_is_one_line_with_exit_2(tmp_path):
    text = tmp_path / "policy.txt"
    text.write_text("Kopia zapasowa danych jest wykonywana codziennie.\n", encoding="utf-8")
    result = run_cli("claims", "extract", str(text), "-o", str(tmp_path / "nope" / "draft.yaml"))
    assert result.rc == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"auditor: error: -o {tmp_path / 'nope' / 'draft.yaml'}: cannot write "
                                    "the draft: No such file or directory; name a file in an existing")


def test_bytes_yaml_cannot_read_name_the_line_and_the_remedy(tmp_path):
    # Given a claims file saved as Latin-1 (é on line 3), and one with a raw NUL on line 4
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"policy: {id: p, title: T}\nclaims:\n  - id: caf\xe9\n    quote: q\n")
    nul = write(tmp_path, CLAIM + "    gloss: a\x00b\n", "nul.yaml")
    # When they are loaded, Then each error is one line naming the file, the line and what to do
    with pytest.raises(claims.ClaimsError) as error:
        claims.load(latin1, CHECKS)
    assert str(error.value) == (f"{latin1}:3: byte 0xe9 is not UTF-8 text; save the file as UTF-8 "
                                "(e.g. `iconv -f latin1 -t utf-8 old.yaml > new.yaml`)")
    with pytest.raises(claims.ClaimsError) as error:
        claims.load(nul, CHECKS)
    assert str(error.value) == (f"{nul}:5: holds the character '\\x00', which YAML does not allow; remove it "
                                "(or write it as an escape in a quoted string)")
    # And the inventory reads the same way
    inv = tmp_path / "inv.yaml"
    inv.write_bytes(b"hosts:\n  web1: {address: 10.0.0.1}\n# caf\xe9\n")
    with pytest.raises(inventory.InventoryError, match=r"inv.yaml:3: byte 0xe9 is not UTF-8 text"):
        inventory.load(inv, CHECKS)


def test_an_inline_policys_conflict_and_a_list_as_policy_name_the_inventory_key(tmp_path):
    # Given an inline policy whose two claims give log_retention different values for the same hosts
    inline = ("policy:\n  policy: {id: inline, title: Inline}\n  claims:\n"
              "    - id: a\n      quote: q\n      checks: {log_retention: {min_days: 60}}\n"
              "    - id: b\n      quote: q\n      checks:\n        log_retention:\n          min_days: 90\n")
    path = write(tmp_path, INVENTORY + inline, "inv.yaml")
    # When it is read, Then the error carries the policy. prefix, the claim's index and the parameter's line
    with pytest.raises(claims.ClaimsError) as error:
        claims.from_inventory(inventory.load(path, CHECKS), CHECKS)
    assert str(error.value).startswith(f"{path}:17: policy.claims[1].checks.log_retention.min_days: sets "
                                       f"log_retention.min_days = 90, but claim a ({path}:12) sets 60")
    # And `policy: [a]` says what the key takes, not just "expected a mapping"
    listed = write(tmp_path, INVENTORY + "policy: [apifonica]\n", "listed.yaml")
    with pytest.raises(claims.ClaimsError) as error:
        claims.from_inventory(inventory.load(listed, CHECKS), CHECKS)
    assert str(error.value) == (f"{listed}:7: policy: expected a shipped set's name or a claims file's path "
                                "(policy: apifonica), or a mapping with policy: and claims:")


def test_an_overridden_secret_parameter_is_never_quoted_in_the_warning(tmp_path):
    # Given an inventory and a claim that both set app_password_hashing's sources, each with a password
    inv_text = ('hosts:\n  web1:\n    address: 10.0.0.1\n    vars: {app_password_hashing: {sources: '
                '[{kind: postgres, database: "host=10.0.0.9 password=InvS3cret", query: "select 1"}]}}\n'
                "groups:\n  web: {hosts: [web1]}\n")
    claimed = ("      app_password_hashing:\n        sources: [{kind: postgres, "
               "database: 'host=10.0.0.9 password=ClaimS3cret', query: 'select 2'}]\n")
    policy = GOOD.replace("      app_password_hashing:\n", claimed)
    inv = inventory.load(write(tmp_path, inv_text, "inv.yaml"), CHECKS)
    # When the run is planned
    plan = claims.plan(load(tmp_path, policy), inv, inv.hosts, CHECKS)
    # Then the override is warned about, naming the claim and host, and neither password is in it
    overrides = [w for w in plan.warnings if "over the inventory's value" in w]
    assert len(overrides) == 1 and "app_password_hashing.sources = (a secret, not shown)" in overrides[0]
    assert "web1 ((a secret, not shown))" in overrides[0]
    assert not any("S3cret" in w for w in plan.warnings)
