"""Every check's pure evaluate(), fed with probe outputs recorded from real systems.

Each `tests/checks/<check_id>/<case>.yaml` was written by `tests/checks/record.py`: the
check's probes ran through the real engine (plan, batched collection over the local
transport, redaction) on a real machine, with the files the case is about bind-mounted
over the real paths in a private mount namespace. A case holds what the probes printed
and what the verdict must be; the expectation is written by a person from what was
planted, never copied from what the check said. A case that shows a known check bug
carries `xfail: "reason"` and the correct expectation, and runs as a strict xfail.

`tests/checks/record_all.sh` re-records every case from scratch.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor import yamlfile
from auditor.check import Check, Outputs, ProbeOutput, Result, Status
from auditor.engine import registry
from auditor.errors import InputError
from auditor.params import typed_params

CASES_DIR = Path(__file__).resolve().parents[1] / "checks"
CASE_KEYS = {"source", "params", "outputs", "expect", "xfail"}
EXPECT_KEYS = {"status", "summary_contains", "values"}
OUTPUT_KEYS = {"stdout", "stderr", "rc", "truncated"}
# A case's name says what it is; the status it expects must agree with that.
NAME_PREFIX_STATUS = {"pass": Status.PASS, "fail": Status.FAIL, "error": Status.ERROR}
# Password hashes (salt and hash: crypt(3), PHC, Django, werkzeug), which no recorded case may contain.
HASH_PATTERN = re.compile(
    r"\$(?:1|2[abxy]?|5|6|7|y|gy|md5[^$]*|sha1)\$[A-Za-z0-9./]{8,}"  # crypt(3)
    r"|\$(?:argon2(?:id|i|d)|scrypt|pbkdf2[-a-z0-9]*)\$[^\s$]*\$[A-Za-z0-9./+=]{8,}"  # PHC strings
    r"|\bpbkdf2_sha(?:1|256|512)\$\d+\$[A-Za-z0-9./+=]{4,}\$[A-Za-z0-9./+=]{8,}"  # Django
    r"|\bpbkdf2:sha(?:1|256|512):\d+\$[^\s$]{4,}\$[0-9a-f]{16,}"  # werkzeug
)


class CaseError(Exception):
    """A case file that is not in the expected format."""


@functools.cache
def checks() -> dict[str, Check]:
    return registry.load().checks


def builtin_check_ids() -> list[str]:
    return sorted(cid for cid, c in checks().items() if c.source.startswith(f"{registry.BUILTIN_PACKAGE}."))


def case_files() -> list[Path]:
    return sorted(CASES_DIR.glob("*/*.yaml"))


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def load_case(path: Path) -> dict[str, Any]:
    """The case file, checked for shape (not for meaning)."""
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(case, dict):
        raise CaseError(f"{path}: not a mapping")
    validate_case(case, str(path))
    return case


def validate_case(case: Mapping[str, Any], where: str) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise CaseError(f"{where}: {message}")

    need(not set(case) - CASE_KEYS, f"unknown keys {sorted(set(case) - CASE_KEYS)}")
    need(isinstance(case.get("source"), str) and len(case["source"]) > 20,
         "source must say how and where the outputs were recorded")
    need(isinstance(case.get("params", {}), dict), "params must be a mapping")
    need(isinstance(case.get("xfail", ""), str), "xfail must be a reason (a string)")
    outputs = case.get("outputs")
    need(isinstance(outputs, dict) and bool(outputs), "outputs must be a non-empty mapping")
    for name, out in outputs.items():
        need(isinstance(out, dict) and not set(out) - OUTPUT_KEYS,
             f"outputs.{name} must be a mapping of {sorted(OUTPUT_KEYS)}")
        need(isinstance(out.get("stdout"), str) and isinstance(out.get("stderr"), str),
             f"outputs.{name}: stdout and stderr must be strings")
        need(out.get("rc") is None or isinstance(out.get("rc"), int), f"outputs.{name}.rc: int or null")
    expect = case.get("expect")
    need(isinstance(expect, dict) and not set(expect) - EXPECT_KEYS,
         f"expect must be a mapping of {sorted(EXPECT_KEYS)}")
    need(expect.get("status") in {s.value for s in Status}, "expect.status must be a status")
    contains = expect.get("summary_contains")
    need(isinstance(contains, list) and bool(contains) and all(isinstance(s, str) and s for s in contains),
         "expect.summary_contains must list at least one non-empty substring")
    need(isinstance(expect.get("values", {}), dict), "expect.values must be a mapping")


def case_params(check: Check, case: Mapping[str, Any]) -> dict[str, Any]:
    """The check's defaults, updated by the case's params, typed as the check declares them: by
    auditor.params, the validator of inventory vars and claims' checks."""
    node = yaml.representer.SafeRepresenter().represent_data(case.get("params") or {})
    try:
        typed = typed_params(check, node, "params", yamlfile.Loader(Path("case")))
    except InputError as exc:
        raise CaseError(str(exc)) from None
    return {**check.default_params(), **typed}


def build_outputs(check: Check, case: Mapping[str, Any]) -> Outputs:
    """The recorded outputs as the engine hands them to evaluate(): by probe name, with the
    ok_rc each probe declares today."""
    recorded: dict[str, Any] = case["outputs"]
    declared = {p.name: p for p in check.probes}
    stale = sorted(set(recorded) - set(declared))
    missing = sorted(set(declared) - set(recorded))
    if stale or missing:
        raise CaseError(f"recorded probes {sorted(recorded)} do not match the probes check "
                        f"{check.id} declares {sorted(declared)}: re-record the case")
    return Outputs({
        name: ProbeOutput(
            name=f"{check.id}.{name}",  # the engine's probe key, as in its failure reasons
            stdout=out["stdout"],
            stderr=out["stderr"],
            rc=out["rc"],
            duration_ms=None,
            truncated=bool(out.get("truncated", False)),
            ok_rc=probe.ok_rc,
        )
        for name, probe in declared.items()
        for out in [recorded[name]]
    })


def run_case(check_id: str, case: Mapping[str, Any]) -> Result:
    """evaluate() on the recorded outputs. A probe that failed becomes `error`, as in the
    engine; any other exception propagates, since a check must never crash on real output."""
    if check_id not in checks():
        raise CaseError(f"no check {check_id!r} in the registry")
    check = checks()[check_id]
    return check.judge(build_outputs(check, case), case_params(check, case), crash=True)


def mismatches(case: Mapping[str, Any], got: Result) -> list[str]:
    """How the verdict differs from the case's expectation; empty when it matches."""
    expect = case["expect"]
    problems = []
    if got.status != Status(expect["status"]):
        problems.append(f"status is {got.status.value}, expected {expect['status']}")
    for text in expect["summary_contains"]:
        if text not in got.summary:
            problems.append(f"summary lacks {text!r}")
    for key, value in expect.get("values", {}).items():
        if key not in got.values:
            problems.append(f"values lack {key!r}")
        elif got.values[key] != value:
            problems.append(f"values[{key!r}] is {got.values[key]!r}, expected {value!r}")
    if problems:
        problems.append(f"(verdict: {got.status.value}: {got.summary})")
    return problems


def _param(path: Path) -> Any:
    marks = []
    try:
        reason = yaml.safe_load(path.read_text(encoding="utf-8")).get("xfail")
    except Exception:  # a broken file fails in the test itself, with its message
        reason = None
    if reason:
        marks.append(pytest.mark.xfail(strict=True, reason=str(reason)))
    return pytest.param(path, id=case_id(path), marks=marks)


@pytest.mark.parametrize("path", [_param(p) for p in case_files()])
def test_recorded_case(path: Path) -> None:
    # Given probe outputs recorded on a real machine and the verdict they must give
    case = load_case(path)
    # When the check judges them
    got = run_case(path.parent.name, case)
    # Then the status, the summary and the measured values are the expected ones
    assert not mismatches(case, got), "\n".join(mismatches(case, got))


def test_every_builtin_check_has_pass_fail_and_garbled_or_error_cases() -> None:
    # Given the checks shipped with the tool
    ids = builtin_check_ids()
    assert ids, "the built-in registry is empty"
    # When their recorded cases are grouped by kind
    kinds: dict[str, set[str]] = {cid: set() for cid in ids}
    for path in case_files():
        if path.parent.name in kinds:
            kinds[path.parent.name].add(path.stem.split("_", 1)[0])
    # Then each has at least a pass, a fail, and a garbled or error case
    lacking = {cid: sorted({"pass", "fail", "garbled|error"} - (
        found | ({"garbled|error"} if found & {"garbled", "error"} else set())))
        for cid, found in kinds.items()}
    assert not any(lacking.values()), f"checks lacking recorded cases: {lacking}"


@pytest.mark.parametrize("path", [pytest.param(p, id=case_id(p)) for p in case_files()])
def test_case_is_well_formed_and_named_for_its_status(path: Path) -> None:
    # Given a case file
    case = load_case(path)
    # When its name starts with pass_, fail_ or error_
    prefix = path.stem.split("_", 1)[0]
    # Then it expects that status, it belongs to a known check, and its params fit the check
    if prefix in NAME_PREFIX_STATUS:
        assert Status(case["expect"]["status"]) == NAME_PREFIX_STATUS[prefix]
    assert path.parent.name in checks(), f"no check {path.parent.name!r} for {path}"
    case_params(checks()[path.parent.name], case)


@pytest.mark.parametrize("path", [pytest.param(p, id=case_id(p)) for p in case_files()])
def test_recorded_outputs_hold_no_password_hash(path: Path) -> None:
    # Given a case file recorded from hosts with real password hashes planted
    text = path.read_text(encoding="utf-8")
    # When it is searched for crypt(3) hashes
    found = HASH_PATTERN.findall(text)
    # Then none is there: probes reduce and the engine redacts before anything is stored
    assert not found, f"{path} contains password hashes: {found[:3]}"


@pytest.mark.parametrize("path", [pytest.param(p, id=case_id(p)) for p in case_files()])
def test_a_wrong_expectation_is_caught(path: Path) -> None:
    # Given a recorded case whose expected status is swapped for another one
    case = load_case(path)
    got = run_case(path.parent.name, case)
    wrong_status = Status.PASS if case["expect"]["status"] != "pass" else Status.FAIL
    wrong = {**case, "expect": {**case["expect"], "status": wrong_status.value}}
    # When the verdict is compared with it
    # Then the comparison reports a mismatch (the harness can fail)
    if got.status != wrong_status:
        assert mismatches(wrong, got)
    assert mismatches({**case, "expect": {**case["expect"], "summary_contains": ["\x00never"]}}, got)
