"""oscal.json: NIST OSCAL 1.1 assessment results in every run folder, validated against the
OSCAL models of compliance-trestle (which pin OSCAL 1.1.x), signed with the pack, reproducible.

Runs use the local transport and the flag check of test_pack on two hosts; a policy with a
claim that holds on one host, fails on the other, and one no check can verify.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from pathlib import Path

import pytest
from trestle.oscal import OSCAL_VERSION_REGEX
from trestle.oscal.assessment_results import AssessmentResults

from auditor.check import Status
from auditor.evidence import oscal
from auditor.model import CheckInfo, CheckResult, EvidenceRef, HostReport, RunReport
from tests.conftest import run_cli
from tests.unit.test_pack import flag_workspace
from tests.unit.test_pack_trust import keygen

POLICY = """\
format: 1
policy: {id: flagpol, title: Flag policy, document: "https://example.invalid/policy"}
claims:
  - id: flag-says-yes
    quote: "Our flag always says yes."
    gloss: The flag file holds yes.
    checks: {flag_file: {}}
    controls: [ISO27001:2022 A.8.15]
  - id: staff-are-trained
    quote: "Staff are trained every year."
    manual: the training register
    controls: [ISO27001:2022 A.6.3]
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    work = flag_workspace(tmp_path_factory.mktemp("oscal"))
    (work / "other-flag").write_text("no\n")
    (work / "inv.yaml").write_text(textwrap.dedent(f"""
        hosts:
          here: {{transport: local}}
          there: {{transport: local, vars: {{flag_file: {{path: {work / 'other-flag'}}}}}}}
        defaults:
          vars: {{flag_file: {{path: {work / 'flag'}}}}}
    """))
    (work / "pol.yaml").write_text(POLICY)
    return work


@pytest.fixture(scope="module")
def key(work) -> tuple[Path, str]:
    return work / "key.pem", keygen(work / "key.pem")


def audit(work: Path, *extra: str):
    return run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--no-history",
                   *extra)


@pytest.fixture(scope="module")
def policy_run(work, key) -> Path:
    done = audit(work, "--policy", str(work / "pol.yaml"), "-o", str(work / "policy"), "--format", "none",
                 "--sign-key", str(key[0]))
    assert done.rc == 1, done.stderr  # the flag says no on `there`
    (folder,) = (work / "policy").iterdir()
    return folder


def validated(path: Path) -> dict:
    """The document, once the OSCAL models accept it (a pydantic error names the first fault)."""
    document = json.loads(path.read_text())
    AssessmentResults.parse_obj(document["assessment-results"])
    # The OSCAL JSON schema's minItems: 1, which the models do not check
    assert not [key for key, value in _walk(document) if value == []], "an empty array"
    return document["assessment-results"]


def props(item: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for prop in item.get("props", []):
        found.setdefault(prop["name"], []).append(prop["value"])
    return found


def test_oscal_json_validates_against_the_oscal_models_with_zero_errors(policy_run):
    # Given a signed run that audited a policy
    # When its oscal.json is read with compliance-trestle's OSCAL models
    results = validated(policy_run / oscal.FILE)
    # Then it validates, declares an OSCAL 1.1 version, and imports the manifest as its plan
    assert re.match(OSCAL_VERSION_REGEX, results["metadata"]["oscal-version"])
    manifest_uuid = results["import-ap"]["href"].removeprefix("#")
    (resource,) = [r for r in results["back-matter"]["resources"] if r["uuid"] == manifest_uuid]
    assert resource["rlinks"][0]["href"] == "manifest.json"


def test_one_observation_per_host_and_check_cites_each_evidence_file_with_its_hash(policy_run):
    results = validated(policy_run / oscal.FILE)
    (result,) = results["results"]
    observations = {o["title"].split(":")[0]: o for o in result["observations"]}
    # Then there is one per host x check, method TEST, the probe script quoted
    assert sorted(observations) == ["flag_file on here", "flag_file on there"]
    report = json.loads((policy_run / "report.json").read_text())
    for host in report["hosts"]:
        (check,) = host["results"]
        observation = observations[f"flag_file on {host['name']}"]
        assert observation["methods"] == ["TEST"]
        assert props(observation)["status"] == [check["status"]]
        assert "```sh\ncat " in observation["description"]
        # And each evidence file is named with the SHA-256 of its bytes
        cited = {e["href"]: props(e)["sha256"][0] for e in observation["relevant-evidence"]}
        assert cited and set(cited) == {e["path"] for e in check["evidence"]}
        for path, digest in cited.items():
            assert digest == hashlib.sha256((policy_run / path).read_bytes()).hexdigest()
        subject = observation["subjects"][0]["subject-uuid"]
        items = {i["uuid"]: i for i in result["local-definitions"]["inventory-items"]}
        assert props(items[subject])["host"] == [host["name"]]


def test_one_finding_per_claim_and_host_with_the_quote_and_the_control(policy_run):
    results = validated(policy_run / oscal.FILE)
    (result,) = results["results"]
    findings = {f["title"]: f for f in result["findings"]}
    # Then the checked claim is satisfied on one host and not on the other
    held = findings["Claim flag-says-yes on here: satisfied"]
    broken = findings["Claim flag-says-yes on there: not-satisfied"]
    assert held["target"]["status"]["state"] == "satisfied"
    assert broken["target"]["status"] == {"state": "not-satisfied", "reason": "fail"}
    assert "Our flag always says yes." in held["description"]
    # And the target names the ISO/IEC 27001:2022 Annex A control, with its title
    assert held["target"]["target-id"] in ("A.5.1", "A.8.15")
    assert props(held)["iso27001-control"] == ["A.5.1", "A.8.15"]
    assert "A.5.1 Policies for information security" in held["target"]["title"]
    # And the observation it rests on is related
    observations = {o["uuid"]: o["title"] for o in result["observations"]}
    assert [observations[r["observation-uuid"]] for r in broken["related-observations"]] == [
        "flag_file on there: fail"]
    # And the manual claim is not verified (OSCAL's not-satisfied, with our verdict prop)
    for host in ("here", "there"):
        manual = findings[f"Claim staff-are-trained on {host}: not-verified"]
        assert manual["target"]["status"] == {"state": "not-satisfied", "reason": "other"}
        assert props(manual)["verdict"] == ["not-verified"]
        assert manual["target"]["target-id"] == "A.6.3" and "training register" in manual["description"]
    assert len(findings) == 4
    reviewed = result["reviewed-controls"]["control-selections"][0]["include-controls"]
    assert [c["control-id"] for c in reviewed] == ["A.5.1", "A.6.3", "A.8.15"]


def test_the_signer_is_in_the_metadata_and_the_file_is_signed(policy_run, key):
    results = validated(policy_run / oscal.FILE)
    metadata = results["metadata"]
    # Then the signer's key is a party, in the evidence-signer role
    signers = [p for p in metadata["parties"] if props(p).get("signing-key-fingerprint") == [key[1]]]
    assert len(signers) == 1
    (role,) = [r for r in metadata["responsible-parties"] if r["role-id"] == "evidence-signer"]
    assert role["party-uuids"] == [signers[0]["uuid"]]
    # And the manifest lists oscal.json, so the signature covers it
    manifest = json.loads((policy_run / "manifest.json").read_text())
    assert "oscal.json" in {a["path"] for a in manifest["artifacts"]}
    assert run_cli("verify", str(policy_run), "--key-fingerprint", key[1]).rc == 0


def _report(run_id: str, hosts: list[str]) -> RunReport:
    def host(name: str) -> HostReport:
        ref = EvidenceRef("flag_file.flag", f"evidence/{name}/flag_file.flag.json", "ab" * 32, 10)
        result = CheckResult("flag_file", "The flag says yes", Status.PASS, "yes", evidence=(ref,),
                             controls=("ISO27001:2022 A.5.1",))
        return HostReport(name, "", "local", True, None, None, {}, (result,), 1.0)
    info = CheckInfo("flag_file", "The flag says yes", (), ("ISO27001:2022 A.5.1",), "")
    return RunReport(run_id, "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z", "1.0", "ops@box", "inv.yaml",
                     "cd" * 32, (info,), tuple(host(n) for n in hosts), True)


def test_the_document_is_deterministic_sorted_and_its_uuids_derived_from_the_run():
    # Given the same run with its hosts and evidence records in another order
    records = {(h, "flag_file.flag"): {"command": f"cat /{h}", "collected_at": "2026-01-01T00:00:01Z"}
               for h in ("b", "a")}
    first = oscal.render(_report("run-1", ["b", "a"]), None, records)
    # When it is rendered again
    again = oscal.render(_report("run-1", ["a", "b"]), None, dict(reversed(records.items())))
    # Then the bytes are the same, hosts sorted, and every UUID unique and valid OSCAL
    assert first == again
    document = json.loads(first)
    AssessmentResults.parse_obj(document["assessment-results"])
    titles = [o["title"] for o in document["assessment-results"]["results"][0]["observations"]]
    assert titles == ["flag_file on a: pass", "flag_file on b: pass"]
    uuids = [v for k, v in _walk(document) if k == "uuid"]
    assert len(uuids) == len(set(uuids))
    # And another run gets other UUIDs
    other = json.loads(oscal.render(_report("run-2", ["a", "b"]), None, records))
    assert not set(uuids) & {v for k, v in _walk(other) if k == "uuid"}


def _walk(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, k)
    elif isinstance(node, list):
        if not node:
            yield key, node
        for item in node:
            yield from _walk(item, key)
    else:
        yield key, node


def test_a_run_without_a_policy_has_observations_and_no_findings(work, tmp_path):
    # Given an unsigned run without a policy
    done = audit(work, "-o", str(tmp_path), "--format", "oscal", "--no-sign", "--check", "flag_file")
    # When --format oscal prints the document
    assert done.rc == 1, done.stderr
    printed = json.loads(done.stdout)["assessment-results"]
    (folder,) = (p for p in tmp_path.iterdir() if p.is_dir())
    # Then stdout is the run folder's oscal.json, valid, with observations and no findings
    assert printed == validated(folder / oscal.FILE)
    assert "findings" not in printed["results"][0] and len(printed["results"][0]["observations"]) == 2
    assert props(printed["metadata"])["signed"] == ["false"]
