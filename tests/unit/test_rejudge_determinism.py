"""evaluate() is a pure function of the evidence: re-judging old evidence gives the old verdict.

`auditor evaluate` re-judges packs months later, so no check may read the evaluating
machine's clock. These tests take real recorded outputs and judge them as if far in the
future, and take away the host's own clock reading.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from auditor import registry
from auditor.check import Outputs, ProbeOutput, Status

CASES = Path(__file__).resolve().parents[1] / "checks"
CHECKS = registry.load(plugins=False).checks


def outputs_of(case: dict) -> Outputs:
    return Outputs({name: ProbeOutput(name, o["stdout"], o["stderr"], o["rc"], None,
                                      o.get("truncated", False), (0, 1, 2))
                    for name, o in case["outputs"].items()})


def judge(check_id: str, case: dict):
    check = CHECKS[check_id]
    params = {**check.default_params(), **case.get("params", {})}
    return check.evaluate(outputs_of(case), params)


@pytest.mark.parametrize("path", sorted(CASES.glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_recorded_case_judges_the_same_ten_years_later(path, monkeypatch):
    # Given a recorded case and its verdict today
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    if case.get("xfail"):
        pytest.skip("a known check bug")
    today = judge(path.parent.name, case)
    # When the evaluating machine's clock says ten years later
    later = time.time() + 10 * 365 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(time, "time_ns", lambda: int(later * 1e9))
    again = judge(path.parent.name, case)
    # Then nothing changes: the verdict depends on the evidence alone
    assert (again.status, again.summary, dict(again.values)) == \
        (today.status, today.summary, dict(today.values))


def test_log_retention_without_the_hosts_clock_is_an_error_not_a_guess():
    # Given a real recording whose on_disk output lost its "now" line (derived: the line removed)
    case = yaml.safe_load((CASES / "log_retention" / "pass_long_rotation.yaml").read_text())
    disk = case["outputs"]["on_disk"]
    disk["stdout"] = "".join(ln for ln in disk["stdout"].splitlines(True) if not ln.startswith("now\t"))
    # Then the check cannot tell ages, and says so
    outcome = judge("log_retention", case)
    assert outcome.status is Status.ERROR and "host's clock" in outcome.summary
