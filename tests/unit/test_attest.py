"""`auditor attest RUN`: an in-toto Statement v1 with the test-result predicate in a DSSE
envelope signed with the run's key, checked with the in-toto reference libraries:
`in-toto-attestation` for the statement and `securesystemslib` for the DSSE signature."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from google.protobuf import json_format
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

from auditor.cli.exits import EXIT_USAGE
from auditor.evidence import signing
from tests.conftest import run_cli
from tests.unit.test_oscal import POLICY
from tests.unit.test_oscal import work as work  # noqa: F401 - the two-host workspace fixture
from tests.unit.test_pack_trust import keygen


@pytest.fixture(scope="module")
def key(work) -> tuple[Path, str]:
    return work / "attest.pem", keygen(work / "attest.pem")


@pytest.fixture(scope="module")
def run_dir(work, key) -> Path:
    (work / "pol.yaml").write_text(POLICY)
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--no-history",
                   "--policy", str(work / "pol.yaml"), "-o", str(work / "attested"), "--format", "none",
                   "--sign-key", str(key[0]))
    assert done.rc == 1, done.stderr  # the flag says no on `there`
    (folder,) = (work / "attested").iterdir()
    return folder


@pytest.fixture(scope="module")
def envelope_file(run_dir, key, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("attest") / "run.intoto.json"
    done = run_cli("attest", str(run_dir), "-o", str(out), "--sign-key", str(key[0]))
    assert done.rc == 0, done.stderr
    return out


def public_key(key: tuple[Path, str]) -> SSlibKey:
    public = signing.load(key[0], None).public_key()
    return SSlibKey.from_crypto(public, keyid=key[1])


def test_the_envelope_verifies_with_securesystemslib_and_the_run_key(envelope_file, key):
    # Given the envelope `auditor attest` wrote
    envelope = Envelope.from_dict(json.loads(envelope_file.read_text()))
    # When securesystemslib verifies its DSSE signature with the run's public key
    verified = envelope.verify([public_key(key)], 1)
    # Then the run's key signed it, over an in-toto payload
    assert list(verified) == [key[1]]
    assert envelope.payload_type == "application/vnd.in-toto+json"


def test_a_tampered_payload_or_another_key_fails_verification(envelope_file, key, work):
    data = json.loads(envelope_file.read_text())
    statement = json.loads(base64.b64decode(data["payload"]))
    # Given a payload whose result was changed from FAILED to PASSED
    statement["predicate"]["result"] = "PASSED"
    forged = {**data, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}
    # When it is verified, Then it fails (from_dict rewrites the signatures it is given: a fresh copy each)
    with pytest.raises(VerificationError):
        Envelope.from_dict(json.loads(json.dumps(forged))).verify([public_key(key)], 1)
    # And a genuine envelope fails against another key under the same keyid
    other = keygen(work / "other.pem")
    stranger = SSlibKey.from_crypto(signing.load(work / "other.pem", None).public_key(), keyid=key[1])
    assert other != key[1]
    with pytest.raises(VerificationError):
        Envelope.from_dict(json.loads(envelope_file.read_text())).verify([stranger], 1)


def test_the_statement_is_in_toto_v1_with_the_test_result_predicate(envelope_file, run_dir):
    payload = Envelope.from_dict(json.loads(envelope_file.read_text())).payload
    # When the in-toto reference library parses and validates the statement and the predicate
    statement = Statement.copy_from_pb(json_format.Parse(payload, statement_pb2.Statement()))
    statement.validate()
    predicate = json_format.ParseDict(json_format.MessageToDict(statement.pb.predicate),
                                      test_result_pb2.TestResult())
    # Then it is a Statement v1 about every file of the run, with its SHA-256
    data = json.loads(payload)
    assert data["_type"] == "https://in-toto.io/Statement/v1"
    assert data["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    listed = {a["path"]: a["sha256"] for a in manifest["artifacts"]}
    subjects = {s.name: s.digest["sha256"] for s in statement.pb.subject}
    assert subjects == listed
    assert any(p.startswith("evidence/") for p in subjects) and "report.json" in subjects
    for path, digest in subjects.items():
        assert hashlib.sha256((run_dir / path).read_bytes()).hexdigest() == digest
    # And the results: the flag passes on one host and fails on the other
    assert predicate.result == "FAILED"
    assert list(predicate.passed_tests) == ["here/flag_file"]
    assert list(predicate.failed_tests) == ["there/flag_file"]
    # And the configuration is the manifest and the claim verdicts
    configuration = {c.name: c for c in predicate.configuration}
    manifest_digest = hashlib.sha256((run_dir / "manifest.json").read_bytes()).hexdigest()
    assert configuration["manifest.json"].digest["sha256"] == manifest_digest
    verdicts = json.loads(configuration["claim-verdicts"].content)
    assert verdicts["claims"] == {"flag-says-yes": "fail", "staff-are-trained": "manual"}


def test_attest_refuses_a_pack_that_does_not_verify_or_another_key(run_dir, key, work, tmp_path):
    # Given a copy of the run with a flipped evidence byte
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    evidence = next((copy / "evidence").rglob("*.json"))
    flipped = bytearray(evidence.read_bytes())
    flipped[10] ^= 1
    evidence.write_bytes(bytes(flipped))
    # When it is attested, Then it is refused
    done = run_cli("attest", str(copy), "--sign-key", str(key[0]))
    assert done.rc == EXIT_USAGE and "refusing to attest" in done.stderr and done.stdout.count("{") == 0
    # And an intact run attested with a key that did not sign it is refused
    keygen(work / "someone.pem")
    other = run_cli("attest", str(run_dir), "--sign-key", str(work / "someone.pem"))
    assert other.rc == EXIT_USAGE and "not by the key given" in other.stderr


def test_the_attestation_is_reproducible(run_dir, key, envelope_file):
    # When the same run is attested again, to stdout
    again = run_cli("attest", str(run_dir), "--sign-key", str(key[0]))
    # Then the bytes are the same (Ed25519 signatures are deterministic)
    assert again.rc == 0 and again.stdout == envelope_file.read_text()
