"""Drift between runs: diff semantics on report.json pairs, `auditor diff`, and a run judged
against a baseline (--baseline, --fail-on new, --quiet, --exit-zero)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from auditor.check import Status
from auditor.tracking import diff
from tests.conftest import REPO, run_cli
from tests.unit.test_history import audit, audit_library, fake_report, make_workspace

SCHEMA = json.loads((REPO / "auditor/schema/report.schema.json").read_text())


def report(run_id: str, started: str, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A report.json shape: {host: {check: status or (status, values)}}."""
    hosts = []
    for host, checks in results.items():
        rows = []
        for check, spec in checks.items():
            status, values = spec if isinstance(spec, tuple) else (spec, {})
            rows.append({"check": check, "status": status, "summary": f"{check} is {status}",
                         "values": values})
        hosts.append({"name": host, "results": rows})
    return {"run": {"id": run_id, "started": started}, "hosts": hosts}


OLD = report("r1", "2025-05-01T02:00:00Z", {
    "web1": {"backups": ("pass", {"newest_backup_age_hours": 2.0}), "tls": "fail", "ssh_hardening": "pass"},
    "web2": {"backups": "pass"},
    "db1": {"backups": "waived", "tls": "error"},
})
NEW = report("r2", "2025-05-02T02:00:00Z", {
    "web1": {"backups": ("fail", {"newest_backup_age_hours": 50.0}), "tls": "pass", "ssh_hardening": "error"},
    "db1": {"backups": "fail", "tls": "fail"},
    "db2": {"backups": "fail", "tls": "pass"},
})


def test_diff_sorts_changes_into_their_kinds():
    # Given two reports a day apart
    # When they are compared (in either order: the older is the base)
    result = diff.compare(NEW, OLD, {"backups": ("newest_backup_age_hours",)})
    # Then each change lands in exactly its list
    assert (result.base, result.current) == ("r1", "r2")
    assert [(c.host, c.check_id, c.before) for c in result.new_failures] == [
        ("db1", "backups", Status.WAIVED), ("db1", "tls", Status.ERROR), ("db2", "backups", None),
        ("web1", "backups", Status.PASS)]
    assert [(c.host, c.check_id) for c in result.new_errors] == [("web1", "ssh_hardening")]
    assert [(c.host, c.check_id) for c in result.resolved_failures] == [("web1", "tls")]
    assert [(c.host, c.check_id, c.after) for c in result.waiver_expired] == [("db1", "backups", Status.FAIL)]
    assert result.newly_waived == ()
    assert result.hosts_added == ("db2",) and result.hosts_removed == ("web2",)
    assert [(v.host, v.key, v.before, v.after) for v in result.changed_values] == [
        ("web1", "newest_backup_age_hours", 2.0, 50.0)]
    # And an error that became a fail (db1 tls) is a regression: with no earlier verdict known (a
    # report.json pair has no history), the error hid whether the control held before
    assert [(r.host, r.check_id) for r in result.regressions] == [
        ("db1", "backups"), ("db1", "tls"), ("db2", "backups"), ("web1", "backups"),
        ("web1", "ssh_hardening")]


def test_a_run_without_change_has_no_regressions():
    same = report("r3", "2025-05-03T02:00:00Z", {h["name"]: {r["check"]: r["status"] for r in h["results"]}
                                                 for h in NEW["hosts"]})
    result = diff.compare(NEW, same)
    assert result.regressions == () and result.resolved_failures == ()
    assert diff.render_text(result).endswith("no regressions\n")


def test_newly_waived_and_numeric_values_without_declared_keys():
    # Given a fail that a waiver now covers, and a check the registry does not know
    before = report("a", "2025-01-01T00:00:00Z", {"h": {"x": ("fail", {"n": 1, "flag": True, "s": "a"})}})
    after = report("b", "2025-01-02T00:00:00Z", {"h": {"x": ("waived", {"n": 2, "flag": False, "s": "b"})}})
    result = diff.compare(before, after)
    # Then it is newly waived, not resolved nor regressed, and only the numeric value is compared
    assert [c.check_id for c in result.newly_waived] == ["x"] and result.regressions == ()
    assert result.resolved_failures == () and "resolved" not in diff.render_text(result)
    assert [(v.key, v.before, v.after) for v in result.changed_values] == [("n", 1, 2)]


def two_runs(tmp_path):
    """Two recorded runs; beta breaks in between."""
    work = make_workspace(tmp_path)
    first, first_dir = audit(work)
    (work / "beta.age").write_text("no 70\n")
    second, second_dir = audit(work)
    return work, first_dir, second_dir


def test_auditor_diff_names_the_regression_and_exits_1(tmp_path):
    work, first_dir, second_dir = two_runs(tmp_path)
    out = str(work / "reports")
    # When the last two runs are compared by name, by id and by folder
    by_name = run_cli("diff", "last", "previous", "-o", out)
    by_id = run_cli("diff", first_dir.name, second_dir.name, "-o", out, "--format", "json")
    by_folder = run_cli("diff", str(first_dir), str(second_dir), "--format", "json",
                        "--history", "/nonexistent")
    backwards = run_cli("diff", "previous", "previous", "-o", out)
    # Then the text names exactly beta's new failure and the changed value, and exits 1
    assert by_name.rc == 1, by_name.stderr
    assert "new failures (1):\n  beta age_file: pass -> fail: the file says 'no'" in by_name.stdout
    assert "beta age_file age_hours: 1.0 -> 70.0" in by_name.stdout and "1 regression(s)" in by_name.stdout
    # And the JSON says the same, whichever way the runs are named
    for done in (by_id, by_folder):
        data = done.json()
        assert done.rc == 1 and data["base"] == first_dir.name and data["current"] == second_dir.name
        failures = [(c["host"], c["before"], c["after"]) for c in data["new_failures"]]
        assert failures == [("beta", "pass", "fail")]
    # And comparing a run with itself finds nothing
    assert backwards.rc == 0 and "no regressions" in backwards.stdout


def test_diff_with_an_unknown_run_is_a_usage_error(tmp_path):
    work, _, _ = two_runs(tmp_path)
    done = run_cli("diff", "last", "20990101T000000Z-abcdef", "-o", str(work / "reports"))
    assert done.rc == 2 and "no run '20990101T000000Z-abcdef' in the history" in done.stderr


def test_fail_on_new_exits_non_zero_only_for_regressions(tmp_path):
    # Given a first run where alpha already fails
    work = make_workspace(tmp_path)
    (work / "alpha.age").write_text("no 5\n")
    first, _ = audit(work, "--baseline", "previous", "--fail-on", "new")
    # Then with no earlier run, --fail-on new falls back to the usual exit code, and says so
    assert first.rc == 1 and "no earlier run in the history" in first.stderr
    # When beta breaks too
    (work / "beta.age").write_text("no 70\n")
    second, second_dir = audit(work, "--baseline", "previous", "--fail-on", "new")
    # Then the run exits 1, and report.json names the baseline and lists only beta's regression
    data = json.loads((second_dir / "report.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert second.rc == 1
    assert data["baseline"]["requested"] == "previous" and data["baseline"]["run"] is not None
    assert [(r["host"], r["baseline_status"], r["status"]) for r in data["baseline"]["regressions"]] == [
        ("beta", "pass", "fail")]
    assert "Against the baseline" in (second_dir / "report.html").read_text()
    table, _ = audit(work, "--baseline", str(second_dir), "--format", "table", "--no-history")
    assert table.stdout.endswith(f"against run {second_dir.name}: 0 regression(s)\n2 host(s), 2 fail\n")
    # When a third run changes nothing
    third, _ = audit(work, "--baseline", "last", "--fail-on", "new")
    # Then it exits 0 even though both fails persist, while --fail-on any still exits 1
    assert third.rc == 0 and third.json()["totals"]["fail"] == 2
    fourth, _ = audit(work, "--baseline", "last")
    assert fourth.rc == 1


def test_a_baseline_can_be_a_run_folder(tmp_path):
    work, first_dir, _ = two_runs(tmp_path)
    done, _ = audit(work, "--baseline", str(first_dir), "--fail-on", "new", "--no-history")
    assert done.rc == 1 and done.json()["baseline"]["run"] == first_dir.name


def test_fail_on_new_without_a_baseline_is_a_usage_error(tmp_path):
    work = make_workspace(tmp_path)
    done, run_dir = audit(work, "--fail-on", "new")
    assert done.rc == 2 and "--fail-on new needs --baseline" in done.stderr and run_dir is None


def test_quiet_prints_only_what_regressed_and_nothing_when_all_is_well(tmp_path):
    # Given a first, clean run in quiet mode
    work = make_workspace(tmp_path)
    clean, _ = audit(work, "--quiet", "--format", "table")
    # Then it prints nothing at all
    assert clean.rc == 0 and clean.stdout == "" and clean.stderr == "", clean.stderr
    # When beta breaks, quiet without a baseline prints the fail; with one, the regression
    (work / "beta.age").write_text("no 70\n")
    plain, _ = audit(work, "--quiet", "--format", "table")
    (work / "alpha.age").write_text("no 9\n")
    against, _ = audit(work, "--quiet", "--format", "table", "--baseline", "previous")
    assert plain.stdout == "beta age_file: fail: the file says 'no'\n"
    assert against.stdout == "REGRESSION alpha age_file: pass -> fail: the file says 'no'\n"
    assert "report: " in against.stderr


def test_exit_zero_exits_0_with_fails_but_not_on_usage_errors(tmp_path):
    work = make_workspace(tmp_path)
    (work / "beta.age").write_text("no 70\n")
    done, run_dir = audit(work, "--exit-zero")
    assert done.rc == 0 and done.json()["totals"]["fail"] == 1
    bad = run_cli("run", "-i", str(work / "missing.yaml"), "--exit-zero")
    assert bad.rc == 2


def test_an_interrupted_run_is_never_the_baseline(tmp_path):
    # Given a complete run where all pass, then an interrupted run where every result is an error
    from dataclasses import replace

    from auditor.model import CheckResult, HostReport
    from auditor.tracking.history import History
    work = make_workspace(tmp_path)
    _, first_dir = audit(work)
    not_checked = (CheckResult("age_file", "Age", Status.ERROR, "not checked"),)
    broken = tuple(HostReport(name, name, "local", True, "interrupted", "interrupted", {}, not_checked, 1.0)
                   for name in ("alpha", "beta"))
    interrupted = replace(fake_report("ffffff", started="2099-01-01T00:00:00Z"), hosts=broken, complete=False)
    with History(work / "reports" / "history.sqlite") as store:
        store.record(interrupted, work / "reports" / "x", None)
    # When beta breaks and the next run compares with "previous"
    (work / "beta.age").write_text("no 70\n")
    done, _ = audit(work, "--baseline", "previous", "--fail-on", "new")
    # Then the baseline is the last complete run, and beta's fail is a regression
    assert done.rc == 1 and done.json()["baseline"]["run"] == first_dir.name
    assert [r["host"] for r in done.json()["baseline"]["regressions"]] == ["beta"]


def second_inventory(work, hosts=("alpha",)):
    """Another team's inventory over the same age files, run into the same output folder."""
    lines = ["hosts:"] + [f"  {h}: {{transport: local, vars: {{age_file: {{path: {work / (h + '.age')}}}}}}}"
                          for h in hosts]
    (work / "inv2.yaml").write_text("\n".join(lines) + "\n")
    return work / "inv2.yaml"


def test_an_ad_hoc_run_in_between_is_not_the_nightly_baseline(tmp_path):
    # Given a nightly run where beta already fails, then an ad-hoc run of alpha only
    work = make_workspace(tmp_path)
    (work / "beta.age").write_text("no 70\n")
    nightly1, first_dir = audit(work)
    ad_hoc, _ = audit(work, "--host", "alpha")
    # When the next nightly run is judged against the previous run, failing only on new regressions
    nightly2, nightly2_dir = audit(work, "--baseline", "previous", "--fail-on", "new", "--quiet")
    # Then its baseline is the first nightly run (same inventory, same selection): beta's old failure
    # is no regression, nothing is printed and the exit code is 0
    assert (nightly1.rc, ad_hoc.rc) == (1, 0)
    assert nightly2.rc == 0 and "REGRESSION" not in nightly2.stdout, nightly2.stdout + nightly2.stderr
    report_json = json.loads((nightly2_dir / "report.json").read_text())
    assert report_json["baseline"]["run"] == first_dir.name


def test_another_inventorys_run_into_the_same_folder_does_not_hide_a_regression(tmp_path):
    # Given a nightly run where everything passes
    work = make_workspace(tmp_path)
    audit_library(work)
    # When alpha breaks, another inventory holding alpha runs into the same folder, then the nightly
    (work / "alpha.age").write_text("no 70\n")
    other = run_cli("run", "-i", str(second_inventory(work)), "--checks-dir", str(work / "checks"), "--check",
                    "age_file", "-o", str(work / "reports"), "--no-sign", "--format", "json")
    nightly2, _ = audit(work, "--baseline", "previous", "--fail-on", "new", "--quiet")
    # Then the nightly is judged against the first nightly: alpha pass -> fail is a regression (exit 1)
    assert other.rc == 1
    assert nightly2.rc == 1 and "REGRESSION alpha age_file: pass -> fail" in nightly2.stdout, nightly2.stdout
    # And `diff last previous` compares the same two nightly runs
    diffed = run_cli("diff", "last", "previous", "-o", str(work / "reports"))
    assert diffed.rc == 1 and "alpha age_file: pass -> fail" in diffed.stdout, diffed.stdout


def test_a_baseline_of_another_scope_compares_only_shared_results(tmp_path):
    # Given only an ad-hoc run of alpha in the history, and beta failing
    work = make_workspace(tmp_path)
    (work / "beta.age").write_text("no 70\n")
    audit_library(work, hosts=("alpha",))
    # When the full run is judged against it
    full, _ = audit(work, "--baseline", "previous", "--fail-on", "new")
    # Then beta, which the baseline did not audit, is no regression, and a warning says why
    assert full.rc == 0, full.stderr
    assert "audited different scopes" in full.stderr and full.json()["baseline"]["regressions"] == []


def test_a_failure_after_an_error_night_is_judged_against_the_last_verdict(tmp_path):
    # Given night 1 where beta passes, and night 2 where beta's check errors (its file is gone)
    work = make_workspace(tmp_path)
    audit_library(work)
    (work / "beta.age").unlink()
    night2, _ = audit_library(work, baseline="previous", fail_on_new=True)
    # When on night 3 beta fails
    (work / "beta.age").write_text("no 70\n")
    night3, _ = audit(work, "--baseline", "previous", "--fail-on", "new", "--quiet")
    # Then night 2 was a new error, and night 3 is a regression (beta last passed), exit 1
    assert night2.rc == 3, night2.json()["hosts"]
    assert night3.rc == 1 and "REGRESSION beta age_file: error -> fail" in night3.stdout, night3.stdout
    # And `diff last previous` (fail against error) lists the change as a new failure
    diffed = run_cli("diff", "last", "previous", "-o", str(work / "reports"))
    assert diffed.rc == 1 and "beta age_file: error -> fail" in diffed.stdout, diffed.stdout


def test_a_failure_that_persists_through_an_error_night_is_no_regression(tmp_path):
    # Given night 1 where beta fails, night 2 where it errors, night 3 where it fails again
    work = make_workspace(tmp_path)
    (work / "beta.age").write_text("no 70\n")
    audit_library(work)
    (work / "beta.age").unlink()
    audit_library(work)
    (work / "beta.age").write_text("no 70\n")
    night3, _ = audit_library(work, baseline="previous", fail_on_new=True)
    # Then night 3 has nothing new (beta's last verdict was fail), exit 0
    assert night3.rc == 0 and night3.json()["baseline"]["regressions"] == [], night3.json()["baseline"]
    # And diff still lists every status change: error -> fail and fail -> error
    forward = run_cli("diff", "last", "previous", "-o", str(work / "reports"))
    assert forward.rc == 0 and "other status changes (1):" in forward.stdout, forward.stdout
    assert "beta age_file: error -> fail" in forward.stdout


def test_fail_to_error_and_error_to_fail_without_history_are_listed():
    # Given report.json pairs (no history behind them): fail -> error, and error -> fail
    a = report("r1", "2025-05-01T02:00:00Z", {"web1": {"tls": "fail", "backups": "error"}})
    b = report("r2", "2025-05-02T02:00:00Z", {"web1": {"tls": "error", "backups": "fail"}})
    # When they are compared
    result = diff.compare(a, b)
    # Then fail -> error is listed as a status change, and error -> fail (no earlier verdict known)
    # counts as a new failure
    assert [(c.check_id, c.before, c.after) for c in result.other_changes] == [
        ("tls", Status.FAIL, Status.ERROR)]
    assert [c.check_id for c in result.new_failures] == ["backups"]
    assert "other status changes (1):\n  web1 tls: fail -> error" in diff.render_text(result)


def test_quiet_with_a_baseline_still_prints_errors_that_persist(tmp_path):
    # Given night 1 where beta's check errors (its file is gone), and night 2 the same
    work = make_workspace(tmp_path)
    (work / "beta.age").unlink()
    audit(work)
    second, _ = audit(work, "--baseline", "previous", "--fail-on", "new", "--quiet")
    # Then night 2 has no regression (exit 0), yet --quiet names the error: the control is not judged
    assert second.rc == 0, second.stderr
    lines = second.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("beta age_file: error:") and "REGRESSION" not in lines[0]


def test_a_run_folder_whose_report_was_edited_is_refused_as_a_side(tmp_path):
    # Given two real runs, the first one's report.json edited after the run (its manifest not)
    work = make_workspace(tmp_path)
    _, first = audit(work)
    _, second = audit(work)
    report_path = first / "report.json"
    report_path.write_text(report_path.read_text().replace('"pass"', '"fail"'))
    # When it is diffed or used as a baseline
    diffed = run_cli("diff", str(first), str(second), "-o", str(work / "reports"))
    judged, _ = audit(work, "--baseline", str(first))
    # Then both refuse it (exit 2), naming the file and the manifest
    for done in (diffed, judged):
        assert done.rc == 2 and "does not match the SHA-256 in manifest.json" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    # And the untouched folder still works as a side
    assert run_cli("diff", str(second), "last", "-o", str(work / "reports")).rc == 0


AGE_POLICY = """\
format: 1
policy: {id: agepol, title: Age policy}
claims:
  - id: age-ok
    quote: "The file says yes."
    checks: {age_file: {}}
"""


def test_a_claim_that_stops_holding_is_a_regression_even_when_no_result_is(tmp_path):
    # Given a policy whose claim passed last night on both hosts
    work = make_workspace(tmp_path)
    (work / "pol.yaml").write_text(AGE_POLICY)
    first, first_dir = audit(work, "--policy", str(work / "pol.yaml"))
    assert first.rc == 0, first.stderr
    # When the check stops answering everywhere (pass -> skip: coverage lost, no fail, no error)
    for host in ("alpha", "beta"):
        (work / f"{host}.age").write_text("n/a 0\n")
    second, second_dir = audit(work, "--policy", str(work / "pol.yaml"), "--baseline", "previous",
                               "--fail-on", "new", "--quiet")
    # Then --fail-on new does not exit 0, and --quiet names the claim and the lost results
    assert second.rc == 3, second.stderr
    assert "REGRESSION claim age-ok: pass -> not_verified: not verified" in second.stdout
    assert "COVERAGE LOST alpha age_file: pass -> skip: the file says 'n/a'" in second.stdout
    assert "COVERAGE LOST beta age_file: pass -> skip" in second.stdout
    # And report.json records both in its baseline section, following the schema
    data = json.loads((second_dir / "report.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["baseline"]["regressions"] == []
    claims = data["baseline"]["claim_regressions"]
    assert [(c["claim"], c["baseline_verdict"], c["verdict"]) for c in claims] == [
        ("age-ok", "pass", "not_verified")]
    assert [r["host"] for r in data["baseline"]["coverage_lost"]] == ["alpha", "beta"]
    # And the HTML report lists the claim that no longer holds
    html = (second_dir / "report.html").read_text()
    assert "1 claim(s) no longer hold" in html and "Coverage lost" in html
    # And `auditor diff` of the two recorded runs has a claims section and exits 1
    done = run_cli("diff", "last", "previous", "-o", str(work / "reports"))
    assert done.rc == 1, done.stderr
    assert "claims (1):\n  REGRESSION age-ok: pass -> not_verified" in done.stdout
    assert "coverage lost (the check no longer answers) (2):\n  alpha age_file: pass -> skip" in done.stdout
    assert done.stdout.endswith("0 regression(s); 1 claim(s) no longer hold\n")
    as_json = run_cli("diff", str(first_dir), str(second_dir), "--format", "json").json()
    assert as_json["claims"] == [{"claim": "age-ok", "before": "pass", "after": "not_verified",
                                  "summary": as_json["claims"][0]["summary"], "regression": True}]
    assert as_json["claim_regressions"] == 1 and as_json["other_changes"] == []
    # And a run judged against the first run's folder says the same in its terminal report
    table, _ = audit(work, "--policy", str(work / "pol.yaml"), "--baseline", str(first_dir),
                     "--format", "table")
    assert "REGRESSION claim age-ok: pass -> not_verified\n" in table.stdout, table.stderr
    assert "COVERAGE LOST alpha age_file: pass -> skip\n" in table.stdout
    assert "0 regression(s), 1 claim(s) no longer hold\n" in table.stdout


def test_a_claim_that_fails_exits_1_and_one_that_recovers_is_no_regression(tmp_path):
    # Given a policy run that passed, then one where beta fails (a result regression and a claim one)
    work = make_workspace(tmp_path)
    (work / "pol.yaml").write_text(AGE_POLICY)
    policy_run = ("--policy", str(work / "pol.yaml"), "--baseline", "previous", "--fail-on", "new", "--quiet")
    audit(work, "--policy", str(work / "pol.yaml"))
    (work / "beta.age").write_text("no 70\n")
    failed, _ = audit(work, *policy_run)
    # Then the run exits 1 and names both
    assert failed.rc == 1, failed.stderr
    assert "REGRESSION beta age_file: pass -> fail" in failed.stdout
    assert "REGRESSION claim age-ok: pass -> fail" in failed.stdout
    # When beta recovers, Then nothing regressed: exit 0 and nothing printed
    (work / "beta.age").write_text("yes 1\n")
    fixed, _ = audit(work, *policy_run)
    assert fixed.rc == 0 and fixed.stdout == "", (fixed.stdout, fixed.stderr)


def test_a_recorded_baseline_whose_folder_is_gone_says_its_claims_were_not_compared(tmp_path):
    # Given a recorded policy run whose run folder was deleted since
    work = make_workspace(tmp_path)
    (work / "pol.yaml").write_text(AGE_POLICY)
    _, first_dir = audit(work, "--policy", str(work / "pol.yaml"))
    for path in sorted(first_dir.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    first_dir.rmdir()
    # When the next run compares with it
    done, _ = audit(work, "--policy", str(work / "pol.yaml"), "--baseline", "previous", "--quiet")
    # Then it says so rather than silently comparing results only
    assert done.rc == 0, done.stderr
    assert "claim verdicts not compared with run" in done.stderr and "is gone" in done.stderr
