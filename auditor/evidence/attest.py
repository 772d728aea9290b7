"""A run as an in-toto attestation: a Statement v1 with the test-result predicate, in a DSSE
envelope signed with the run's Ed25519 key, for supply-chain and audit pipelines
(in-toto, Sigstore policy engines, Witness, GUAC) that read "a tool observed this".

    envelope   {"payloadType": "application/vnd.in-toto+json", "payload": base64(statement),
                "signatures": [{"keyid": "SHA256:…", "sig": base64(Ed25519(PAE(type, payload)))}]}
    statement  _type https://in-toto.io/Statement/v1
               subject        every file the manifest lists (evidence and reports), with its SHA-256
               predicateType  https://in-toto.io/attestation/test-result/v0.1
               predicate      result PASSED / WARNED / FAILED; passedTests, warnedTests, failedTests
                              as "HOST/CHECK"; configuration: the manifest (its SHA-256) and,
                              with a policy, the claim verdicts

A result `fail` is a failed test; `error` (could not tell), `manual` (needs evidence a host
cannot show) and `waived` (an accepted exception) are warned; `skip` (not applicable) is
none of them. Built from the verified pack alone, sorted, so the same run gives the same bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from auditor.evidence import pack, signing

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
REPORT = "report.json"
_WARNED = ("error", "manual", "waived")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed, so the type cannot be swapped."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(manifest_bytes: bytes, manifest: Mapping[str, Any],
              report: Mapping[str, Any]) -> dict[str, Any]:
    """The Statement for a verified pack: its manifest (bytes and parsed) and report.json."""
    tests: dict[str, list[str]] = {"passed": [], "warned": [], "failed": []}
    for host in report.get("hosts", []):
        for result in host.get("results", []):
            status = result.get("status")
            bucket = "passed" if status == "pass" else "failed" if status == "fail" else (
                "warned" if status in _WARNED else None)
            if bucket is not None:
                tests[bucket].append(f"{host.get('name')}/{result.get('check')}")
    outcome = "FAILED" if tests["failed"] else "WARNED" if tests["warned"] else "PASSED"
    run = manifest.get("run", {})
    configuration: list[dict[str, Any]] = [{
        "name": pack.MANIFEST,
        "uri": pack.MANIFEST,
        "mediaType": "application/json",
        "digest": {"sha256": pack.sha256(manifest_bytes)},
        "annotations": {"run": run.get("id"), "started": run.get("started"), "finished": run.get("finished"),
                        "complete": run.get("complete"),
                        "signer": (manifest.get("signer") or {}).get("fingerprint")},
    }]
    policy = report.get("policy")
    if isinstance(policy, Mapping):
        verdicts = {str(c.get("id")): str(c.get("verdict")) for c in policy.get("claims", [])}
        content = pack.canonical({"policy": policy.get("id"), "claims": verdicts})
        configuration.append({
            "name": "claim-verdicts",
            "mediaType": "application/json",
            "content": base64.b64encode(content).decode(),
            "digest": {"sha256": pack.sha256(content)},
            "annotations": {"policy": policy.get("id"), "claims": dict(sorted(verdicts.items()))},
        })
        if any(v == "fail" for v in verdicts.values()) and outcome != "FAILED":
            outcome = "FAILED"  # a broken promise fails the attestation whatever the results say
    subjects = [{"name": a["path"], "digest": {"sha256": a["sha256"]}}
                for a in sorted(manifest.get("artifacts", []), key=lambda a: a["path"])]
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "result": outcome,
            "configuration": configuration,
            "passedTests": sorted(tests["passed"]),
            "warnedTests": sorted(tests["warned"]),
            "failedTests": sorted(tests["failed"]),
        },
    }


def envelope(statement_data: Mapping[str, Any], signer: signing.Signer) -> dict[str, Any]:
    """The statement in a DSSE envelope signed by `signer` (keyid: its SHA256: fingerprint)."""
    payload = pack.canonical(statement_data)
    signature = signer.sign(pae(PAYLOAD_TYPE, payload))
    return {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": signer.fingerprint, "sig": base64.b64encode(signature).decode()}]}


def of_pack(contents: pack.PackContents, signer: signing.Signer) -> dict[str, Any]:
    """The signed envelope for a pack's files (verify the pack first)."""
    manifest_bytes = contents.files[pack.MANIFEST]
    report = json.loads(contents.files.get(REPORT, b"{}"))
    return envelope(statement(manifest_bytes, json.loads(manifest_bytes), report), signer)
