"""The coordinator's half: accept the workers' sub-packs and finish the run as `audit()` does.

A sub-pack is merged only when it is intact, validly signed by a signer the coordinator trusts
(unsigned only with `allow_unsigned`), belongs to this run and to a shard of its plan, holds
exactly that shard's hosts, was judged by the same check code, and holds evidence only under
those hosts' folders, matching every result's reference. Its evidence files are copied byte for
byte, so their SHA-256s in the merged manifest are the worker's. Anything else is never lost:
the hosts of a shard that did not come back, or whose sub-pack was refused, are reported as
`error: not reached (...)` saying why, and every shard's worker, signer and fate is recorded in
the merged manifest's `run.shards`. Each merged worker's manifest, signature and shard report
are kept in `shards/<id>/`, so anyone can check again that the worker signed that evidence.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.distributed.shards import PlannedShard
from auditor.distributed.worker import SHARD_REPORT, SHARD_REPORT_FORMAT, SUBPACK_KIND, host_from_record
from auditor.engine.runner import host_failed
from auditor.errors import warn
from auditor.evidence import atomic, pack, trust
from auditor.evidence.store import EVIDENCE_DIR, safe_name
from auditor.model import HostReport
from auditor.pipeline import AuditOutcome, PreparedRun, finish
from auditor.transports.base import HostErrorKind

SHARDS_DIR = "shards"  # shards/<id>/: each worker's signed manifest, so its signature can be checked again


@dataclass(frozen=True)
class SubPack:
    contents: pack.PackContents
    source: str  # where it came from, for messages: a path, or a Celery task


@dataclass(frozen=True)
class ShardFate:
    """What became of one planned shard, as the merged manifest records it."""

    shard: PlannedShard
    status: str  # merged, lost or rejected
    worker: str | None = None
    reason: str = ""
    signer: str | None = None
    trust: str = ""
    manifest_sha256: str | None = None

    def record(self) -> dict[str, Any]:
        return {"id": self.shard.shard_id, "segment": self.shard.segment, "hosts": list(self.shard.hosts),
                "status": self.status, "worker": self.worker, "reason": self.reason or None,
                "signer": self.signer, "trust": self.trust or None, "manifest_sha256": self.manifest_sha256}


class Refused(Exception):
    """A sub-pack that cannot be merged; the message says why."""


@dataclass(frozen=True)
class _Accepted:
    fate: ShardFate
    reports: tuple[HostReport, ...]
    evidence: Mapping[str, bytes]  # relative path -> bytes
    signed: Mapping[str, bytes]  # the worker's manifest, signature and shard report, kept as they came


def merge(prepared: PreparedRun, planned: Sequence[PlannedShard], subpacks: Sequence[SubPack],
          signers: trust.TrustStore | None, allow_unsigned: bool = False,
          lost_on: Mapping[str, str] | None = None, complete: bool = True) -> AuditOutcome:
    """One run folder from the sub-packs of `planned` shards. `lost_on` names, per shard id, the
    worker a shard that did not come back was last seen on (else "no worker took it" is said);
    `complete=False` when the coordinator was interrupted before every shard was waited for."""
    by_id = {s.shard_id: s for s in planned}
    accepted: dict[str, _Accepted] = {}
    refused: dict[str, ShardFate] = {}
    for sub in subpacks:
        try:
            got = _accept(sub, prepared, by_id, signers, allow_unsigned)
        except Refused as exc:
            shard_id = _claimed_shard(sub)
            warn(f"sub-pack {sub.source} not merged: {exc}")
            if shard_id in by_id and shard_id not in accepted:
                refused[shard_id] = ShardFate(by_id[shard_id], "rejected", reason=str(exc))
            continue
        accepted.setdefault(got.fate.shard.shard_id, got)  # a redelivered shard may come back twice
    for got in accepted.values():
        kept = {f"{SHARDS_DIR}/{got.fate.shard.shard_id}/{name}": data for name, data in got.signed.items()}
        for path, data in {**got.evidence, **kept}.items():
            target = prepared.run_dir / path
            atomic.make_folder(target.parent)
            atomic.write_bytes(target, data)
    reports = {r.name: r for got in accepted.values() for r in got.reports}
    fates = []
    why_not: dict[str, str] = {}
    for shard in planned:
        if shard.shard_id in accepted:
            fates.append(accepted[shard.shard_id].fate)
            continue
        fate = refused.get(shard.shard_id)
        if fate is None:
            worker = (lost_on or {}).get(shard.shard_id)
            reason = (f"shard {shard.shard_id} lost on worker {worker}" if worker else
                      f"shard {shard.shard_id} lost: no worker of segment {shard.segment} returned it")
            fate = ShardFate(shard, "lost", worker=worker, reason=reason)
        else:
            reason = f"the sub-pack of shard {shard.shard_id} was refused: {fate.reason}"
        fates.append(fate)
        for name in shard.hosts:
            why_not[name] = reason
    now = time.perf_counter()
    results = [reports[h.name] if h.name in reports else
               host_failed(h, prepared.checks_for(h), f"not reached ({why_not.get(h.name, 'in no shard')})",
                           HostErrorKind.UNREACHABLE, now, False)
               for h in prepared.hosts]
    return finish(prepared, results, complete, [f.record() for f in fates])


def _claimed_shard(sub: SubPack) -> str | None:
    try:
        return str(json.loads(sub.contents.files[pack.MANIFEST])["run"]["shard"])
    except (KeyError, ValueError, TypeError):
        return None


def _accept(sub: SubPack, prepared: PreparedRun, planned: Mapping[str, PlannedShard],
            signers: trust.TrustStore | None, allow_unsigned: bool) -> _Accepted:
    try:
        verified = pack.verify(sub.contents, signers)
    except pack.PackError as exc:
        raise Refused(str(exc)) from None
    if not verified.intact:
        raise Refused(f"not intact: {verified.facts()[0].text}")
    if verified.signed and not verified.signature_ok:
        raise Refused(verified.signature)
    if not verified.signed and not allow_unsigned:
        raise Refused("not signed (give the worker a signing key, or merge with --allow-unsigned)")
    if verified.signed and signers is not None and not verified.trusted:
        raise Refused(f"signed by {verified.fingerprint}, a key this coordinator does not trust: "
                      f"{verified.trust}")
    run = verified.manifest.get("run") or {}
    if run.get("kind") != SUBPACK_KIND:
        raise Refused("not a worker's sub-pack")
    if run.get("id") != prepared.run_id:
        raise Refused(f"belongs to run {run.get('id')}, not {prepared.run_id}")
    shard = planned.get(str(run.get("shard")))
    if shard is None:
        raise Refused(f"shard {run.get('shard')} is not in this run's plan")
    try:
        report = json.loads(sub.contents.files[SHARD_REPORT])
        if report.get("format") != SHARD_REPORT_FORMAT:
            raise ValueError(f"format {report.get('format')!r}")
        reports = tuple(host_from_record(h) for h in report["hosts"])
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise Refused(f"{SHARD_REPORT} is garbled ({type(exc).__name__}: {exc})") from None
    if tuple(r.name for r in reports) != shard.hosts:
        raise Refused(f"holds hosts {', '.join(r.name for r in reports)}; shard {shard.shard_id} is "
                      f"{', '.join(shard.hosts)}")
    hosts = {h.name: h for h in prepared.hosts}
    ran = sorted({r.check_id for h in reports for r in h.results} & set(c.id for c in prepared.checks))
    mine = pack.catalogue_digest([c for c in prepared.checks if c.id in ran])
    if report.get("catalogue") != mine:
        raise Refused("judged by other check code than this coordinator's (install the same auditor and "
                      "checks on every worker)")
    for host in reports:
        wanted = {c.id for c in prepared.checks_for(hosts[host.name])}
        if {r.check_id for r in host.results} != wanted:
            raise Refused(f"host {host.name} ran other checks than the plan gave it")
    folders = {f"{EVIDENCE_DIR}/{safe_name(name)}/" for name in shard.hosts}
    evidence = {path: data for path, data in sub.contents.files.items()
                if path not in (SHARD_REPORT, *pack.PACK_FILES)}
    stray = [p for p in evidence if not any(p.startswith(f) for f in folders)]
    if stray:
        raise Refused(f"holds {stray[0]}, outside its hosts' evidence folders")
    for host in reports:
        for result in host.results:
            for ref in result.evidence:
                data = evidence.get(ref.path)
                if data is None or pack.sha256(data) != ref.sha256:
                    raise Refused(f"{host.name} {result.check_id} cites {ref.path}, which it does not hold "
                                  "as cited")
    fate = ShardFate(shard, "merged", worker=str(run.get("worker")), signer=verified.fingerprint,
                     trust=verified.trust, manifest_sha256=pack.sha256(sub.contents.files[pack.MANIFEST]))
    signed = {name: sub.contents.files[name] for name in (*pack.PACK_FILES, SHARD_REPORT)
              if name in sub.contents.files}
    return _Accepted(fate, reports, evidence, signed)
