"""The tls collector's JSON is checked once, where checks/tls.py reads it (auditor.parsers.tls_facts).

A garbled document or endpoint record is `error` with a reason naming what is wrong, never a
crash in the rules that judge an endpoint. The garbled cases start from a recorded case (a real
collector run against nginx) and break one thing each.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditor.check import Status
from auditor.parsers import tls_facts
from tests.unit.test_check_cases import CASES_DIR, load_case, run_case

RECORDED = CASES_DIR / "tls" / "pass_tls12_tls13.yaml"
TWO_ENDPOINTS = CASES_DIR / "tls" / "fail_one_of_two.yaml"


def judged(case_path: Path, garble: Callable[[dict[str, Any]], object]) -> tuple[Any, dict[str, Any]]:
    case = load_case(case_path)
    document = json.loads(case["outputs"]["handshakes"]["stdout"])
    garble(document)
    case = copy.deepcopy(case)
    case["outputs"]["handshakes"]["stdout"] = json.dumps(document)
    return run_case("tls", case), document


def test_the_recorded_cases_have_the_shared_shape():
    # Given every recorded tls case but the garbled ones
    for path in sorted((CASES_DIR / "tls").glob("*.yaml")):
        if path.name.startswith(("garbled_", "skip_")):
            continue
        # When its collector output is read
        facts = tls_facts.read(load_case(path)["outputs"]["handshakes"]["stdout"])
        # Then every endpoint record has the shape the collector writes
        assert facts.endpoints and all(not e.incomplete for e in facts.endpoints), path.name


ENDPOINT_GARBLES = {
    "a protocol answer that is not a boolean": (
        lambda d: d["endpoints"][0]["protocols"]["TLSv1.2"].update(supported="yes"),
        "protocols.TLSv1.2.supported is \"yes\", not bool or null"),
    "a protocol version missing": (
        lambda d: d["endpoints"][0]["protocols"].pop("TLSv1.3"), "protocols: no TLSv1.3"),
    "the chain as one string": (
        lambda d: d["endpoints"][0]["tls"].update(chain_pem="-----BEGIN CERTIFICATE-----"),
        "tls.chain_pem is not a list"),
    "a verification without its trust anchor": (
        lambda d: d["endpoints"][0]["verification"].pop("trusted_by"), "verification: no trusted_by"),
    "an HTTP status that is not a number": (
        lambda d: d["endpoints"][0]["http"].update(status="301"), "http.status is \"301\", not int"),
    "an HSTS header that is not a list": (
        lambda d: d["endpoints"][0]["tls"]["https"].update(hsts="max-age=1"), "tls.https.hsts is not a list"),
    "a suite preference the collector never writes": (
        lambda d: d["endpoints"][0]["suites"].update(preference="mine"),
        "suites.preference is \"mine\", not \"server\" or \"client\" or \"unclear\" or \"untested\""),
    "a suite without its version": (
        lambda d: d["endpoints"][0]["suites"]["accepted"][0].pop("version"),
        "suites.accepted[0]: no version"),
    "a curve that is a number": (
        lambda d: d["endpoints"][0]["suites"]["accepted"][0].update(key_exchange={"curve": 29}),
        "suites.accepted[0].key_exchange.curve is 29, not str"),
    "an endpoint record with a name only": (
        lambda d: d["endpoints"].__setitem__(0, {"name": "x", "protocols": []}), "no config_error"),
}


@pytest.mark.parametrize("garble", ENDPOINT_GARBLES, ids=list(ENDPOINT_GARBLES))
def test_a_garbled_endpoint_record_is_an_error_naming_what_is_wrong(garble):
    change, reason = ENDPOINT_GARBLES[garble]
    # Given a recorded collector document with one thing broken in its endpoint
    verdict, _ = judged(RECORDED, change)
    # Then the check says it could not judge the endpoint, and why, instead of crashing
    assert verdict.status is Status.ERROR, verdict
    assert "the collector's record of this endpoint is incomplete: " in verdict.summary
    assert reason in verdict.summary, verdict.summary
    assert "bug in the check" not in verdict.summary


DOCUMENT_GARBLES = {
    "no endpoint list": (lambda d: d.update(endpoints={"a": 1}), "no endpoint list"),
    "another collector's JSON": (lambda d: d.update(collector="ssh"), "not the tls collector's JSON"),
    "no collection time": (lambda d: d.pop("collected_at"), "no valid collected_at"),
    "a collection time in another format": (lambda d: d.update(collected_at="yesterday"),
                                            "no valid collected_at"),
}


@pytest.mark.parametrize("garble", DOCUMENT_GARBLES, ids=list(DOCUMENT_GARBLES))
def test_a_garbled_document_is_an_error_naming_what_is_wrong(garble):
    change, reason = DOCUMENT_GARBLES[garble]
    verdict, _ = judged(RECORDED, change)
    assert verdict.status is Status.ERROR
    assert verdict.summary.startswith("the tls collector's output cannot be read: " + reason), verdict.summary


def test_one_garbled_endpoint_leaves_the_others_judged():
    # Given two recorded endpoints, one accepting TLS 1.0, and the other one's record cut
    def cut_the_modern_one(document: dict[str, Any]) -> None:
        modern = next(e for e in document["endpoints"] if e["protocols"]["TLSv1.0"]["supported"] is False)
        modern.pop("verification")
    verdict, document = judged(TWO_ENDPOINTS, cut_the_modern_one)
    cut = next(e["name"] for e in document["endpoints"] if "verification" not in e)
    # Then the intact endpoint still fails on its own finding, and the cut one is named as unjudged
    assert verdict.status is Status.FAIL
    assert "accepts TLSv1.0, TLSv1.1" in verdict.summary
    assert f"{cut}: the collector's record of this endpoint is incomplete: no verification" in verdict.details


def test_the_check_imports_no_network_code():
    # When checks.tls is imported alone
    code = "import sys, checks.tls; print('auditor.collectors.tls' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Then the collector (and its network code) did not come with it
    assert shown.stdout.split() == ["False"]


def test_the_problem_reader_names_the_path_to_a_wrong_value():
    # A unit check of the validator on a small shape
    assert tls_facts.problem({"supported": None}, tls_facts.ProtocolAnswer) is None
    assert tls_facts.problem({"supported": 1}, tls_facts.ProtocolAnswer) == "supported is 1, not bool or null"
    assert tls_facts.problem({"port": 80, "refused": False}, tls_facts.PlainHttpAnswer) \
        == "refused is false, not true"
    assert tls_facts.problem([], tls_facts.ProtocolAnswer) == "the record is not a mapping"


def test_evidence_from_before_suites_were_enumerated_is_still_judged():
    # Given a recorded document whose endpoint has no `suites` (an evidence pack made before them)
    verdict, _ = judged(RECORDED, lambda d: d["endpoints"][0].pop("suites"))
    # Then the endpoint is judged on everything else, and the details say the suites were not seen
    assert verdict.status is Status.PASS, verdict
    assert any("cipher suites not enumerated" in line for line in verdict.details)
