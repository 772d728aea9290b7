"""Severity on every finding: `fail_on` decides which failures fail a check; the rest are advisories."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from auditor import yamlfile
from auditor.check import (
    FAIL_ON,
    Check,
    Findings,
    Outputs,
    Params,
    Result,
    Severity,
    Status,
    by_severity,
    result,
)
from auditor.errors import InputError
from auditor.params import typed_params

WEAK_MACS = "MACs allow hmac-sha1-etm@openssh.com (SHA-1 HMAC)"
ROOT_LOGIN = "PermitRootLogin yes"


def _findings(*, low: bool = True, high: bool = False, fail_on: Severity | None = None) -> Findings:
    findings = Findings(fail_on=fail_on)
    if low:
        findings.fail(WEAK_MACS, Severity.LOW, ref="Mozilla OpenSSH guidelines (modern)")
    if high:
        findings.fail(ROOT_LOGIN, Severity.HIGH, ref="CIS Debian 12 5.1.20")
    findings.note("sshd -T read")
    return findings


def _judged(findings_of: Findings, params: Params) -> Result:
    def evaluate(outputs: Outputs, params: Params) -> Result:
        # the accumulator is built inside evaluate, as every check does, with no threshold of its own
        inner = Findings()
        inner.items.extend(findings_of.items)
        return inner.result(evidence=(), ok_summary="sshd is hardened")
    check = dataclasses.replace(Check("demo", "Demo", (), (), ()), evaluate=evaluate)
    return check.judge(Outputs({}), params)


def test_a_low_failure_below_the_default_threshold_is_an_advisory_and_the_check_passes():
    # Given a check that found only a low finding, judged with the default fail_on (medium)
    outcome = _judged(_findings(), {})
    # Then it passes, the summary names the advisory with its severity, and the finding keeps its reference
    assert outcome.status is Status.PASS
    assert outcome.summary == f"sshd is hardened (1 advisory: low: {WEAK_MACS})"
    assert outcome.details == (f"advisory (low): {WEAK_MACS}", "sshd -T read")
    assert [f.severity for f in outcome.advisories] == [Severity.LOW]
    assert outcome.findings[0].ref == "Mozilla OpenSSH guidelines (modern)"
    assert outcome.fail_on is Severity.MEDIUM


def test_a_high_failure_fails_and_the_low_one_stays_an_advisory_in_the_details():
    # Given a low and a high finding
    outcome = _judged(_findings(high=True), {})
    # Then the check fails on the high one only; the low one is listed after it as an advisory
    assert outcome.status is Status.FAIL
    assert outcome.summary == f"{ROOT_LOGIN} (1 advisory: low: {WEAK_MACS})"
    assert outcome.details == (ROOT_LOGIN, f"advisory (low): {WEAK_MACS}", "sshd -T read")


@pytest.mark.parametrize(("fail_on", "expected"), [
    ("info", Status.FAIL), ("low", Status.FAIL), ("medium", Status.PASS), ("high", Status.PASS),
    ("critical", Status.PASS),
])
def test_fail_on_from_the_parameters_sets_the_threshold(fail_on, expected):
    # Given only a low finding, judged with each fail_on
    outcome = _judged(_findings(), {"fail_on": fail_on})
    # Then it fails exactly when the threshold is at or below low
    assert outcome.status is expected
    assert outcome.fail_on == Severity(fail_on)


def test_a_failure_that_names_no_severity_is_high_so_unconverted_checks_fail_as_before():
    # Given a finding recorded the old way, without a severity
    findings = Findings()
    findings.fail("something is wrong")
    # When it is closed, judged at the default threshold and at `critical`
    default = _judged(findings, {})
    critical = _judged(findings, {"fail_on": "critical"})
    # Then it fails at the default (as before severities existed) and is an advisory only at critical
    assert default.status is Status.FAIL and default.summary == "something is wrong"
    assert default.findings[0].severity is Severity.HIGH
    assert critical.status is Status.PASS and "1 advisory: high: something is wrong" in critical.summary


def test_the_threshold_of_one_judgement_does_not_leak_into_the_next():
    # Given a check judged with fail_on low, then a Findings closed outside any judgement
    assert _judged(_findings(), {"fail_on": "low"}).status is Status.FAIL
    # Then the default applies again outside
    assert _findings().result(evidence=(), ok_summary="ok").status is Status.PASS


def test_an_explicit_threshold_on_findings_wins():
    # Given a Findings with its own fail_on, closed outside a judgement
    outcome = _findings(fail_on=Severity.LOW).result(evidence=(), ok_summary="ok")
    # Then its own threshold grades it
    assert outcome.status is Status.FAIL


def test_errors_and_manuals_win_over_advisories_as_before():
    # Given an advisory and a finding that could not be judged
    findings = _findings()
    findings.unknown("sshd -T failed")
    # When judged at the default threshold
    outcome = _judged(findings, {})
    # Then the check is an error; the advisory is still in its details and findings
    assert outcome.status is Status.ERROR and outcome.summary == "sshd -T failed"
    assert f"advisory (low): {WEAK_MACS}" in outcome.details
    assert len(outcome.advisories) == 1


def test_many_advisories_are_counted_and_listed_worst_first():
    # Given four advisories of mixed severity
    findings = Findings()
    for text, severity in (("a", Severity.INFO), ("b", Severity.LOW), ("c", Severity.LOW),
                           ("d", Severity.LOW)):
        findings.fail(text, severity)
    # When judged
    outcome = _judged(findings, {})
    # Then the summary counts all four and lists the first three, worst first
    assert outcome.summary == "sshd is hardened (4 advisories: low: b; low: c; low: d …)"
    assert [f.text for f in by_severity(outcome.findings)] == ["b", "c", "d", "a"]


def test_a_result_built_without_findings_gets_its_summary_as_its_one_finding():
    # Given a check that returns result(FAIL) directly
    def evaluate(outputs: Outputs, params: Params) -> Result:
        return result(Status.FAIL, "2 password(s) in logs")
    check = dataclasses.replace(Check("demo", "Demo", (), (), ()), evaluate=evaluate)
    # When judged
    outcome = check.judge(Outputs({}), {})
    # Then its summary is its one (high) finding, so every report lists something with a severity
    assert [(f.status, f.text, f.severity) for f in outcome.findings] == [
        (Status.FAIL, "2 password(s) in logs", Severity.HIGH)]


class _Error(InputError):
    pass


def test_fail_on_is_a_common_parameter_refused_when_not_a_severity(tmp_path: Path):
    # Given a check that declares no fail_on of its own
    check = Check("demo", "Demo", (), (), ())
    loader = type("_Loader", (yamlfile.Loader,), {"error_type": _Error})(tmp_path / "inv.yaml")

    def typed(text: str) -> dict[str, object]:
        root = loader.compose(text)
        assert isinstance(root, yaml.Node)
        return typed_params(check, root, "vars.demo", loader)
    # When the inventory sets it right, and wrong
    # Then a severity is taken and anything else is refused naming file, line, key and the choices
    assert typed("fail_on: low\n") == {"fail_on": "low"}
    assert check.param("fail_on") is FAIL_ON
    with pytest.raises(_Error, match=r"inv.yaml:1: vars.demo.fail_on: must be one of critical, high, "
                                     r"medium, low, info, got 'lowest'"):
        typed("fail_on: lowest\n")


def test_fail_on_severity_fills_every_check_where_the_inventory_or_a_claim_set_none():
    # Given a host whose vars set fail_on for one check only
    from auditor.inventory import Host
    from auditor.pipeline import with_fail_on
    checks = [Check("a", "A", (), (), ()), Check("b", "B", (), (), ())]
    host = Host("web1", "127.0.0.1", vars={"a": {"fail_on": "critical", "x": 1}})
    # When --fail-on-severity low is applied
    graded = with_fail_on(host, checks, Severity.LOW)
    # Then the host's own setting wins and the other check gets the global level
    assert graded.params_for(checks[0]) == {"fail_on": "critical", "x": 1}
    assert graded.params_for(checks[1]) == {"fail_on": "low"}
    assert host.vars == {"a": {"fail_on": "critical", "x": 1}}  # the inventory's host is not changed
