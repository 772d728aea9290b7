"""The worker's half: audit one shard with the engine and write it as a signed sub-pack.

    <out>/<run id>.<shard id>/
      evidence/<host>/<probe>.json   the same files, byte for byte, as a single-process run writes
      shard.json                     the shard's host reports (results before waivers), the worker,
                                     the digest of the check catalogue that judged them
      manifest.json, manifest.sig    every file's SHA-256, signed by the worker's key

`shard.json`'s host records are report.json's, so both halves of that format live here:
`host_record` writes one and `host_from_record` reads it back for the merge.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import os
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from auditor.check import Check, Status
from auditor.distributed.shards import Shard
from auditor.engine import registry, runner
from auditor.errors import InputError, UsageError
from auditor.evidence import atomic, pack, signing
from auditor.evidence.store import iso
from auditor.model import CheckResult, EvidenceRef, HostReport
from auditor.report import json_report
from auditor.transports.base import HostErrorKind

SHARD_REPORT = "shard.json"
SHARD_REPORT_FORMAT = "auditor-shard-report/1"
SUBPACK_KIND = "shard"


def default_worker_name() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def subpack_name(shard: Shard) -> str:
    return f"{shard.run_id}.{shard.shard_id}"


def shard_checks(shard: Shard, loaded: registry.Registry) -> tuple[list[Check], dict[str, list[Check]]]:
    """The checks the shard names (catalogue order) and each host's; an unknown id is refused."""
    per_host: dict[str, list[Check]] = {}
    for entry in shard.hosts:
        unknown = [c for c in entry.checks if c not in loaded.checks]
        if unknown:
            raise InputError(f"shard {shard.shard_id}: host {entry.host.name}: check {unknown[0]} is not in "
                             "this worker's catalogue (install the same checks as the coordinator)")
        per_host[entry.host.name] = [loaded.checks[c] for c in entry.checks]
    wanted = {c.id for checks in per_host.values() for c in checks}
    return [c for c in loaded.checks.values() if c.id in wanted], per_host


def run_shard(shard: Shard, out: Path, signer: signing.Signer | None, loaded: registry.Registry,
              worker: str | None = None, jobs: int | None = None,
              on_done: Callable[[HostReport, int, int], None] | None = None,
              stop: threading.Event | None = None) -> Path:
    """Collect and judge the shard's hosts into a new sub-pack folder under `out`; returns it.
    `stop` (set by SIGTERM) stops it as Ctrl-C does: the sub-pack says it is incomplete."""
    checks, per_host = shard_checks(shard, loaded)
    folder = out / subpack_name(shard)
    try:
        atomic.make_folder(folder, new=True)
    except OSError as exc:
        raise UsageError(f"cannot create the sub-pack folder {folder}: {exc.strerror}") from None
    started = dt.datetime.now(dt.UTC)
    hosts = [entry.host for entry in shard.hosts]
    options = dataclasses.replace(shard.options(jobs), stop=stop)
    reports, complete = runner.run(hosts, checks, folder, options, on_done=on_done,
                                   checks_for=lambda host: per_host[host.name])
    worker = worker or default_worker_name()
    record = {"format": SHARD_REPORT_FORMAT, "run_id": shard.run_id, "shard": shard.shard_id,
              "segment": shard.segment, "worker": worker, "complete": complete,
              "catalogue": pack.catalogue_digest(checks), "hosts": [host_record(r) for r in reports]}
    atomic.write_json(folder / SHARD_REPORT, record, indent=1, sort_keys=True, ensure_ascii=False,
                      default=str)
    run = {"kind": SUBPACK_KIND, "id": shard.run_id, "shard": shard.shard_id, "segment": shard.segment,
           "worker": worker, "started": iso(started), "finished": iso(dt.datetime.now(dt.UTC)),
           "complete": complete, "hosts": [h.name for h in hosts]}
    pack.write_manifest(folder, run, signer)
    return folder


# --------------------------------------------------------------------------
# A host report as shard.json holds it (report.json's shape), both ways
# --------------------------------------------------------------------------


def host_record(report: HostReport) -> dict[str, Any]:
    return json_report._host(report)  # one writer for report.json and shard.json


def host_from_record(record: Mapping[str, Any]) -> HostReport:
    """A host report read back from shard.json; raises KeyError, TypeError or ValueError when garbled."""
    results = tuple(
        CheckResult(
            check_id=r["check"], title=r["title"], status=Status(r["status"]), summary=r["summary"],
            details=tuple(r["details"]), claims=tuple(r["claims"]), controls=tuple(r["controls"]),
            evidence=tuple(EvidenceRef(e["probe"], e["path"], e["sha256"], int(e["size"]))
                           for e in r["evidence"]),
            values=dict(r["values"]), params=dict(r["params"]),
        )
        for r in record["results"]
    )
    kind = record["error_kind"]
    return HostReport(str(record["name"]), str(record["address"]), str(record["transport"]),
                      bool(record["reachable"]), record["error"], HostErrorKind(kind) if kind else None,
                      {str(k): str(v) for k, v in dict(record["facts"]).items()}, results,
                      float(record["duration_ms"]), int(record["redactions"]))


def signer_for(reference: str | None) -> signing.Signer | None:
    """The worker's key: `reference` (a path on the worker, from the shard or --sign-key), else
    $AUDITOR_SIGNING_KEY, else the default key file when it exists; None: no key here. An encrypted
    key is opened with $AUDITOR_SIGNING_PASSPHRASE (a worker has no terminal to ask on)."""
    named = reference or os.environ.get(signing.ENV_KEY)
    path = Path(named) if named else signing.default_key_path()
    if not path.exists():
        if named:
            raise UsageError(f"signing key {path} does not exist on this worker")
        return None
    passphrase = os.environ.get(signing.ENV_PASSPHRASE)
    return signing.Signer(signing.load(path, passphrase.encode() if passphrase else None))
