"""The large files of a run are written as they are made (memory stays flat however many
hosts): the text is byte for byte what the one-string renderers and the standard library's
json.dumps give."""

from __future__ import annotations

import io
import json
import random

import pytest

from auditor import AuditRequest, audit
from auditor.evidence import jsontext, oscal, store
from auditor.policy import verdicts as claim_verdicts
from auditor.report import html, json_report
from tests.unit.test_pipeline import workspace


def _random_value(rng: random.Random, depth: int = 0) -> object:
    if depth > 3 or rng.random() < 0.4:
        return rng.choice(["x", "é\n\"\\\t\x00\u2028", "", "🙂", 1, -5, 2**70, 1.5, -0.0, float("nan"),
                           float("inf"), True, False, None])
    if rng.random() < 0.5:
        return {rng.choice(["b", "a", "é", f"k{rng.randint(0, 9)}"]): _random_value(rng, depth + 1)
                for _ in range(rng.randint(0, 4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def test_jsontext_writes_what_json_dumps_writes():
    # Given random nested values (escapes, non-ASCII, big ints, NaN, empty containers)
    rng = random.Random(14)
    for _ in range(1000):
        value = _random_value(rng)
        for indent in (1, 2):
            for sort_keys in (False, True):
                expected = json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=sort_keys)
                # When jsontext renders it, and streams it with its lists as generators
                streamed = io.StringIO()
                jsontext.dump(_as_generators(value), streamed, indent, sort_keys=sort_keys)
                # Then both are byte for byte json.dumps's text
                assert jsontext.dumps(value, indent, sort_keys=sort_keys) == expected
                assert streamed.getvalue() == expected


def _as_generators(value: object) -> object:
    if isinstance(value, list):
        return (_as_generators(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_generators(v) for k, v in value.items()}
    return value


def test_the_streamed_report_files_are_what_the_renderers_give(tmp_path):
    # Given a run of two hosts
    work = workspace(tmp_path)
    outcome = audit(AuditRequest(inventory=work / "inv.yaml", checks_dirs=(work / "checks",),
                                 checks=("says_yes",), output=work / "out"))
    run_dir, report, verdicts = outcome.run_dir, outcome.report, outcome.verdicts
    # When report.json, report.html and oscal.json are rendered whole, from the same report
    matrix = claim_verdicts.controls_matrix(report, verdicts)
    records = store.read_records({p.relative_to(run_dir).as_posix(): p.read_bytes()
                                  for p in (run_dir / store.EVIDENCE_DIR).rglob("*.json")})
    # Then the streamed files are the same text, and report.json is also json.dumps's
    text = (run_dir / "report.json").read_text()
    assert text == json_report.render(report, verdicts) == outcome.report_json
    assert text == json.dumps(json_report.to_dict(report, verdicts), indent=2, ensure_ascii=False) + "\n"
    assert (run_dir / "report.html").read_text() == html.render(report, verdicts, matrix)
    assert (run_dir / oscal.FILE).read_text() == oscal.render(report, verdicts, records)
    assert len(json.loads(text)["hosts"]) == 2


def test_jsontext_refuses_what_json_refuses_without_nan():
    # Given values JSON cannot hold as numbers, at any depth and as a key
    for value in ({"a": [1.0, float("nan")]}, [float("inf")], {float("-inf"): 1}):
        # When encoded with allow_nan=False, as the standard library would be
        # Then both refuse with the same message the atomic writer looks for
        with pytest.raises(ValueError, match="Out of range float"):
            json.dumps(value, indent=1, allow_nan=False)
        with pytest.raises(ValueError, match="Out of range float"):
            jsontext.dumps(value, 1, allow_nan=False)
    # And finite numbers pass
    assert jsontext.dumps([0.5, -2.0], 1, allow_nan=False) == json.dumps([0.5, -2.0], indent=1)
