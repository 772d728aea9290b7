"""The run as NIST OSCAL 1.1 assessment results (`oscal.json`), the format GRC pipelines read
(compliance-trestle, ServiceNow's continuous-authorisation workspace, Heimdall).

    metadata          the run (id, tool, inventory), the operator as assessor, the signing key
    import-ap         the run's manifest.json, which states the plan: checks, parameters, hosts
    results[0]
      local-definitions  the tool (a component) and each audited host (an inventory item)
      reviewed-controls  the ISO/IEC 27001:2022 Annex A controls the checks and claims cite
      observations       one per host x check: method TEST, the probe scripts that ran, and
                         `relevant-evidence` naming each evidence file with its SHA-256
      findings           with a policy: one per claim x host it applies to, targeting the
                         claim's Annex A control; satisfied, not-satisfied, or not-satisfied
                         with the `verdict` prop `not-verified` (OSCAL has no third state)

Deterministic: every list is sorted and every UUID is derived (uuid5) from the run id and
what it names, so the same run gives the same bytes and a signed pack reproduces.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from auditor.evidence import atomic, store
from auditor.model import CheckResult, HostReport, RunReport
from auditor.policy import iso27001
from auditor.policy.verdicts import ClaimVerdict, PolicyVerdicts

OSCAL_VERSION = "1.1.2"
FILE = "oscal.json"
NS = "https://auditor.invalid/ns/oscal"  # our own props' namespace; OSCAL asks for a URI, not a page
_UUIDS = uuid.UUID("7c0f6bde-3f0e-5a43-9a8e-6f1d2f7a9c41")  # the namespace every derived UUID is in
MANIFEST = "manifest.json"

Records = Mapping[tuple[str, str], Mapping[str, Any]]  # (host, probe key) -> its evidence record
RecordsOf = Callable[[str], Mapping[str, Mapping[str, Any]]]  # host -> {probe key: its evidence record}


def _uuid(run_id: str, *names: str) -> str:
    return str(uuid.uuid5(_UUIDS, "\0".join((run_id, *names))))


def _prop(name: str, value: object, ns: bool = True) -> dict[str, str]:
    prop = {"name": name, "value": str(value)}
    return {**prop, "ns": NS} if ns else prop


def _control(reference: str) -> str | None:
    """An Annex A control id ("A.8.24"), or None for any other reference."""
    control = iso27001.control_id(reference)
    return control if iso27001.title(control) else None


def render(report: RunReport, verdicts: PolicyVerdicts | None, records: Records) -> str:
    """oscal.json's text for a run; `records` are its evidence files as `store.read_records` reads them."""
    by_host: dict[str, dict[str, Mapping[str, Any]]] = {}
    for (host, probe), record in sorted(records.items()):
        by_host.setdefault(host, {})[probe] = record

    def target_of(host: str) -> Mapping[str, Any]:
        return _first_target(by_host.get(host, {}).values())

    text = io.StringIO()
    _dump(report, verdicts, lambda host: by_host.get(host, {}), target_of, text)
    return text.getvalue()


def _dump(report: RunReport, verdicts: PolicyVerdicts | None, records_of: RecordsOf,
          target_of: Callable[[str], Mapping[str, Any]], out: TextIO) -> None:
    def document() -> dict[str, Any]:
        return {"assessment-results": assessment_results(report, verdicts, records_of, target_of)}

    atomic.dump_json(document, out, where=FILE, indent=1)


def _first_target(records: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The host as connected, from the first of its records that says (they all say the same:
    one collection per host)."""
    return next((r["target"] for r in records if isinstance(r.get("target"), dict)), {})


def assessment_results(report: RunReport, verdicts: PolicyVerdicts | None, records_of: RecordsOf,
                       target_of: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
    """The document, with its observations and findings as generators: `jsontext.dump` writes
    them one at a time, and `records_of(host)` is asked for one host's records at a time."""
    run = report.run_id
    manifest_resource = _uuid(run, "resource", MANIFEST)
    resources: list[dict[str, Any]] = [{
        "uuid": manifest_resource,
        "title": "The run's manifest",
        "description": "The plan and what came of it: which checks ran with which parameters on which hosts, "
                       "and the SHA-256 of every file of the run folder (this one included); signed in "
                       "manifest.sig when the run had a key.",
        "rlinks": [{"href": MANIFEST, "media-type": "application/json"}],
    }]
    if report.policy is not None:
        policy = report.policy.policy
        resources.append({
            "uuid": _uuid(run, "resource", "policy"),
            "title": f"Claims file: {policy.title}",
            "description": f"The promises audited (policy {policy.id}), quoted from {policy.document}.",
            "rlinks": [{"href": policy.path, "hashes": [{"algorithm": "SHA-256", "value": policy.sha256}]}],
        })
    return {
        "uuid": _uuid(run, "assessment-results"),
        "metadata": _metadata(report),
        "import-ap": {"href": f"#{manifest_resource}"},
        "results": [_result(report, verdicts, records_of, target_of)],
        "back-matter": {"resources": resources},
    }


def _metadata(report: RunReport) -> dict[str, Any]:
    run = report.run_id
    operator = _uuid(run, "party", "operator")
    parties: list[dict[str, Any]] = [{"uuid": operator, "type": "person", "name": report.operator,
                                      "remarks": "Who ran the audit (user@machine)."}]
    roles = [{"id": "assessor", "title": "Assessor",
              "description": "Ran the audit that collected this evidence."}]
    responsible = [{"role-id": "assessor", "party-uuids": [operator]}]
    props = [_prop("run-id", run), _prop("tool", f"auditor {report.tool_version}"),
             _prop("inventory-sha256", report.inventory_sha256),
             _prop("complete", str(report.complete).lower())]
    if report.signer_fingerprint is not None:
        signer = _uuid(run, "party", "signer")
        parties.append({"uuid": signer, "type": "organization",
                        "name": f"Holder of the signing key {report.signer_fingerprint}",
                        "props": [_prop("signing-key-fingerprint", report.signer_fingerprint),
                                  _prop("signing-algorithm", "Ed25519")],
                        "remarks": "Signed manifest.json, which lists this file with its SHA-256. Whether "
                                   "the key is trusted is the verifier's choice (auditor verify)."})
        roles.append({"id": "evidence-signer", "title": "Evidence signer",
                      "description": "Signed the run's evidence pack (manifest.json, manifest.sig)."})
        responsible.append({"role-id": "evidence-signer", "party-uuids": [signer]})
        props.append(_prop("signing-key-fingerprint", report.signer_fingerprint))
    else:
        props.append(_prop("signed", "false"))
    return {
        "title": f"auditor run {run}",
        "last-modified": report.finished,
        "version": run,
        "oscal-version": OSCAL_VERSION,
        "props": props,
        "roles": roles,
        "parties": parties,
        "responsible-parties": responsible,
    }


def _result(report: RunReport, verdicts: PolicyVerdicts | None, records_of: RecordsOf,
            target_of: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
    run = report.run_id
    controls_of = {c.id: tuple(sorted({c for c in map(_control, c.controls) if c}, key=iso27001.sort_key))
                   for c in report.checks}
    reviewed = {c for ids in controls_of.values() for c in ids}
    if verdicts is not None:
        reviewed.update(c for v in verdicts.claims for c in map(_control, v.claim.controls) if c)
    tool = _uuid(run, "component", "auditor")
    hosts = sorted(report.hosts, key=lambda h: h.name)

    def observations() -> Iterator[dict[str, Any]]:
        for host in hosts:
            if host.results:
                mine = records_of(host.name)
                for r in sorted(host.results, key=lambda r: r.check_id):
                    yield _observation(report, host, r, tool, mine, controls_of.get(r.check_id, ()))

    result: dict[str, Any] = {
        "uuid": _uuid(run, "result"),
        "title": f"auditor run {run}",
        "description": f"Checks run by auditor {report.tool_version} from {report.operator} on "
                       f"{len(hosts)} host(s) of inventory {report.inventory_path}"
                       + ("" if report.complete else "; the run was INTERRUPTED: some hosts were not checked")
                       + ".",
        "start": report.started,
        "end": report.finished,
        "local-definitions": {
            "components": [{
                "uuid": tool, "type": "software", "title": "auditor",
                "description": "Agentless security-controls audit collector: runs read-only probes on "
                               "each host in one batched script and judges each check from the saved "
                               "outputs.",
                "props": [_prop("version", report.tool_version)],
                "status": {"state": "operational"},
            }],
            "inventory-items": [_inventory_item(run, h, target_of(h.name)) for h in hosts] or None,
        },
        "reviewed-controls": {"control-selections": [
            {"include-controls": [{"control-id": c} for c in sorted(reviewed, key=iso27001.sort_key)]}
            if reviewed else {"include-all": {}}]},
        # OSCAL forbids empty arrays: whether there is any is known without making them
        "observations": observations() if any(h.results for h in hosts) else None,
        "findings": _findings(report, verdicts, controls_of)
        if verdicts is not None and any(v.hosts for v in verdicts.claims) else None,
    }
    return _without_none(result)


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    """OSCAL forbids empty arrays: a list with nothing in it is left out."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _without_none(value)
        if value is not None and value != {} or key == "include-all":
            out[key] = value
    return out


def _inventory_item(run: str, host: HostReport, target: Mapping[str, Any]) -> dict[str, Any]:
    props = [_prop("host", host.name), _prop("transport", host.transport)]
    if host.address:
        props.append(_prop("address", host.address))
    if target.get("port"):
        props.append(_prop("port", target["port"]))
    key = target.get("host_key")
    if isinstance(key, dict) and key.get("sha256"):
        props += [_prop("host-key-sha256", key["sha256"]),
                  _prop("host-key-algorithm", key.get("algorithm", ""))]
    state = "reachable" if host.reachable else f"not audited: {host.error}"
    return {"uuid": _uuid(run, "host", host.name), "description": f"Host {host.name} ({state}).",
            "props": props}


def _observation(report: RunReport, host: HostReport, result: CheckResult, tool: str,
                 records: Mapping[str, Mapping[str, Any]], controls: Sequence[str]) -> dict[str, Any]:
    run = report.run_id
    used = [(ref, records.get(ref.probe, {}))
            for ref in sorted(result.evidence, key=lambda e: e.path)]
    scripts = "".join(f"\n\nProbe `{ref.probe}` (script SHA-256 {record.get('script_sha256', '?')}, "
                      f"{'as root, ' if record.get('root') else ''}exit code {record.get('rc')}):\n\n"
                      f"```sh\n{record.get('command', '(not recorded)')}\n```"
                      for ref, record in used)
    details = "".join(f"\n- {line}" for line in result.details)
    collected = sorted(str(r["collected_at"]) for _, r in used if r.get("collected_at"))
    expires = sorted(str(r["expires_at"]) for _, r in used if r.get("expires_at"))
    props = [_prop("check-id", result.check_id), _prop("status", result.status.value)]
    props += [_prop("iso27001-control", c) for c in controls]
    observation: dict[str, Any] = {
        "uuid": _uuid(run, "observation", host.name, result.check_id),
        "title": f"{result.check_id} on {host.name}: {result.status.value}",
        "description": f"{result.title}: **{result.status.value}**: {result.summary}{details}{scripts}",
        "props": props,
        "methods": ["TEST"],
        "types": ["finding" if result.status.value == "fail" else "control-objective"],
        "origins": [{"actors": [{"type": "tool", "actor-uuid": tool}]}],
        "subjects": [{"subject-uuid": _uuid(run, "host", host.name), "type": "inventory-item"}],
        "relevant-evidence": [{
            "href": ref.path,
            "description": f"The output of probe {ref.probe} on {host.name}, as collected (JSON).",
            "props": [_prop("sha256", ref.sha256), _prop("size", ref.size), _prop("probe", ref.probe)],
        } for ref, _ in used] or None,
        "collected": collected[0] if collected else report.started,
        "expires": expires[0] if expires else None,
    }
    return _without_none(observation)


# What a host's state for a claim means in OSCAL: (objective state, reason, our verdict)
_SATISFIED = ("satisfied", "pass", "satisfied")
_NOT_SATISFIED = ("not-satisfied", "fail", "not-satisfied")
_NOT_VERIFIED = ("not-satisfied", "other", "not-verified")
# a waived fail still fails: the waiver is an accepted exception, not the control holding
_BY_STATE = {"pass": _SATISFIED, "fail": _NOT_SATISFIED, "waived": _NOT_SATISFIED}


def _findings(report: RunReport, verdicts: PolicyVerdicts,
              controls_of: Mapping[str, Sequence[str]]) -> Iterator[dict[str, Any]]:
    ran = {(h.name, r.check_id) for h in report.hosts for r in h.results}
    for verdict in sorted(verdicts.claims, key=lambda v: v.claim.id):
        state_of = {host: state for state, hosts in verdict.hosts_by_state.items() for host in hosts}
        controls = _claim_controls(verdict, controls_of)
        for host in sorted(verdict.hosts):
            yield _finding(report.run_id, verdict, host, state_of.get(host, "not_run"), controls,
                           sorted(c for c in verdict.claim.checks if (host, c) in ran))


def _claim_controls(verdict: ClaimVerdict, controls_of: Mapping[str, Sequence[str]]) -> list[str]:
    found = {c for c in map(_control, verdict.claim.controls) if c}
    found.update(c for check_id in verdict.claim.checks for c in controls_of.get(check_id, ()))
    return sorted(found, key=iso27001.sort_key)


def _finding(run: str, verdict: ClaimVerdict, host: str, state: str, controls: Sequence[str],
             checks: Sequence[str]) -> dict[str, Any]:
    claim = verdict.claim
    objective, reason, meaning = _BY_STATE.get(state, _NOT_VERIFIED)
    if controls:
        target = {"type": "objective-id", "target-id": controls[0],
                  "title": f"ISO/IEC 27001:2022 {controls[0]} {iso27001.title(controls[0])}"}
    else:  # a claim citing no Annex A control is its own objective
        target = {"type": "objective-id", "target-id": f"claim-{claim.id}", "title": f"Claim {claim.id}"}
    gloss = f"\n\n{claim.gloss}" if claim.gloss else ""
    manual = f"\n\nEvidence to ask for: {claim.manual}" if claim.manual else ""
    return _without_none({
        "uuid": _uuid(run, "finding", claim.id, host),
        "title": f"Claim {claim.id} on {host}: {meaning}",
        "description": f"> {claim.quote}{gloss}\n\nOn {host}: {state}. Over every host: "
                       f"{verdict.verdict.value}: {verdict.summary}{manual}",
        "props": [_prop("claim-id", claim.id), _prop("verdict", meaning), _prop("host-state", state),
                  _prop("claim-verdict", verdict.verdict.value),
                  *(_prop("iso27001-control", c) for c in controls)],
        "target": {**target, "status": {"state": objective, "reason": reason},
                   "props": [_prop("verdict", meaning)]},
        "related-observations": [{"observation-uuid": _uuid(run, "observation", host, c)}
                                 for c in checks] or None,
    })


def write(run_dir: Path, report: RunReport, verdicts: PolicyVerdicts | None, out: TextIO) -> None:
    """Write oscal.json to `out` from the report and the evidence in run_dir, streamed: one host's
    records (without their outputs) and one observation in memory at a time; reading the whole
    evidence at once held ~1 GB at 1,000 hosts, and the whole document ~130 KB a host.

    A host's records are what this process remembers of writing them (`store.written_host`:
    a few fields a record, ~3 KB a host) while its folder holds just those files; otherwise (a
    merged run, a folder changed since) they are read from its files."""
    evidence = run_dir / store.EVIDENCE_DIR
    ledger = store.Ledger.found(run_dir)
    commands: dict[str, str] = {}  # each probe's script once: the same on every host

    @functools.cache  # asked for a host's target, then its records: its folder listed once
    def written_host(host: str) -> store.WrittenHost | None:
        return store.written_host(run_dir, ledger, host)

    def files_of(host: str) -> Iterator[Path]:
        """The host's regular *.json files (no symlink), by name; the directory entries say which."""
        folder = evidence / store.safe_name(host)
        names: list[str] = []
        if not folder.is_symlink():  # no evidence folder is one
            with contextlib.suppress(OSError), os.scandir(folder) as scan:
                names = sorted(e.name for e in scan
                               if e.name.endswith(".json") and e.is_file(follow_symlinks=False))
        return (folder / name for name in names)

    def read(host: str, path: Path) -> dict[str, dict[str, Any]]:
        found = {}
        for (name, probe), record in store.read_records({path.relative_to(run_dir).as_posix():
                                                         path.read_bytes()}).items():
            if name == host:
                record.pop("stdout", None)
                record.pop("stderr", None)
                if isinstance(record.get("command"), str):
                    record["command"] = commands.setdefault(record["command"], record["command"])
                found[probe] = record
        return found

    def records_of(host: str) -> dict[str, dict[str, Any]]:
        written = written_host(host)
        if written is not None:
            return written.records(host)
        return {probe: record for path in files_of(host) for probe, record in read(host, path).items()}

    def target_of(host: str) -> Mapping[str, Any]:  # mostly one file read: its first record says
        written = written_host(host)
        if written is not None:
            return written.target if written.names and written.target is not None else {}
        return _first_target(record for path in files_of(host) for record in read(host, path).values())

    _dump(report, verdicts, records_of, target_of, out)
