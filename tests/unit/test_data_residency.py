"""data_residency's reading of its parameters, judged with outputs recorded from real probes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auditor.check import Outputs, ProbeOutput, Status
from checks import data_residency

CASES = Path(__file__).resolve().parents[1] / "checks" / "data_residency"


def judge(case: str, **params):
    """The verdict on a recorded case's outputs, with `params` instead of the case's."""
    recorded = yaml.safe_load((CASES / f"{case}.yaml").read_text(encoding="utf-8"))
    outputs = Outputs({name: ProbeOutput(name, o["stdout"], o["stderr"], o["rc"], 1.0)
                       for name, o in recorded["outputs"].items()})
    return data_residency.evaluate(outputs, {**data_residency.CHECK.default_params(), **params})


def test_an_empty_allowed_list_is_an_error_that_says_what_to_do():
    # Given Hetzner's metadata naming fsn1 (Germany), When allowed_regions is []
    verdict = judge("pass_residency_hetzner_yaml", allowed_regions=[])
    # Then it is an error naming the parameter, not a fail "outside " nothing
    assert verdict.status == Status.ERROR, verdict
    assert verdict.summary.startswith("allowed_regions is empty"), verdict.summary


@pytest.mark.parametrize("allowed, status, where", [
    (["EEA"], Status.PASS, "within the EEA"),
    (["eu"], Status.PASS, "within the EU"),
    (["germany"], Status.PASS, "within DE"),
    (["France", "the Netherlands"], Status.FAIL, "outside FR, NL"),
])
def test_groups_and_country_names_are_accepted_in_the_allowed_list(allowed, status, where):
    # Given Hetzner's metadata naming fsn1 (Germany), When allowed_regions names groups or countries
    verdict = judge("pass_residency_hetzner_yaml", allowed_regions=allowed)
    # Then they are read as the countries they name
    assert verdict.status == status, verdict
    assert where in verdict.summary, verdict.summary


def test_an_unknown_allowed_entry_points_at_allowed_regions():
    # Given an allowed_regions entry no table knows
    verdict = judge("pass_residency_hetzner_yaml", allowed_regions=["DE", "Atlantis"])
    # Then the error names the entry and the parameter to correct, not vars.data_residency.region
    assert verdict.status == Status.ERROR, verdict
    assert "'Atlantis' is neither a country" in verdict.summary
    assert "vars.data_residency.allowed_regions" in verdict.summary
    assert "set vars.data_residency.region" not in verdict.summary


def test_a_declared_country_name_is_read_as_its_country():
    # Given Hetzner's metadata naming fsn1 (Germany), When the inventory declares "Germany"
    verdict = judge("pass_residency_hetzner_yaml", region="Germany")
    # Then the declaration agrees with the metadata
    assert verdict.status == Status.PASS, verdict
    assert "as the inventory declares ('Germany')" in verdict.summary
