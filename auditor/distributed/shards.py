"""A shard (what one worker audits) and the run plan (what the coordinator sent where), as JSON.

A shard names resolved hosts (every connection setting and parameter already merged from the
inventory), the check ids each host runs (the policy's claims and `run: false` waivers already
applied), the run id, and a reference to the signing key on the worker (a path there, or none for
the worker's default key): never the key itself. Shards never span network segments.

The plan stays with the coordinator: the request the run was prepared from and which hosts went
in which shard, so that a merge knows every host that must come back and finishes the run as
`audit()` would.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.engine.runner import RunOptions
from auditor.errors import InputError, UsageError
from auditor.evidence.signing import Signer
from auditor.evidence.store import iso
from auditor.inventory import Host
from auditor.pipeline import AuditRequest, PreparedRun
from auditor.tracking.run import TrackingOptions
from auditor.transports.ssh import SshOptions

SHARD_FORMAT = "auditor-shard/1"
PLAN_FORMAT = "auditor-run-plan/1"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # becomes a folder name
_HOST_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "address": (str,), "transport": (str,), "port": (int, type(None)),
    "user": (str, type(None)), "identity_file": (str, type(None)), "known_hosts": (str, type(None)),
    "become": (str, type(None)), "connect_timeout": (int, float), "command_timeout": (int, float),
    "groups": (list,), "vars": (dict,), "line": (int, type(None)), "segment": (str,),
}


@dataclass(frozen=True)
class ShardHost:
    host: Host
    checks: tuple[str, ...]  # the check ids this host runs


@dataclass(frozen=True)
class Shard:
    run_id: str
    shard_id: str
    segment: str
    hosts: tuple[ShardHost, ...]
    batched: bool = True
    jobs: int = 16
    accept_new_host_keys: bool = False
    signing_key: str | None = None  # a path on the worker; None: the worker's default key

    def options(self, jobs: int | None = None) -> RunOptions:
        return RunOptions(batched=self.batched, jobs=jobs or self.jobs,
                          ssh=SshOptions(accept_new_host_keys=self.accept_new_host_keys))

    def to_json(self) -> str:
        return json.dumps({
            "format": SHARD_FORMAT, "run_id": self.run_id, "shard": self.shard_id, "segment": self.segment,
            "options": {"batched": self.batched, "jobs": self.jobs,
                        "accept_new_host_keys": self.accept_new_host_keys},
            "signing_key": self.signing_key,
            "hosts": [{"host": _host_record(h.host), "checks": list(h.checks)} for h in self.hosts],
        }, sort_keys=True)


@dataclass(frozen=True)
class PlannedShard:
    shard_id: str
    segment: str
    hosts: tuple[str, ...]  # inventory names


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    started: str  # ISO 8601 UTC, the run's start as the coordinator prepared it
    request: Mapping[str, Any]  # what `request_from_plan` rebuilds the AuditRequest from
    shards: tuple[PlannedShard, ...]

    def to_json(self) -> str:
        return json.dumps({"format": PLAN_FORMAT, "run_id": self.run_id, "started": self.started,
                           "request": dict(self.request),
                           "shards": [{"shard": s.shard_id, "segment": s.segment, "hosts": list(s.hosts)}
                                      for s in self.shards]}, indent=1, sort_keys=True) + "\n"


def _host_record(host: Host) -> dict[str, Any]:
    record = dataclasses.asdict(host)
    record["groups"] = list(host.groups)
    return record


# --------------------------------------------------------------------------
# Reading: every mistake is one line naming the file and the key
# --------------------------------------------------------------------------


def _field(data: Mapping[str, Any], key: str, types: tuple[type, ...], where: str, source: str) -> Any:
    if key not in data:
        raise InputError(source, None, f"{where}{key}", "missing")
    value = data[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise InputError(source, None, f"{where}{key}", f"expected {names}, got {type(value).__name__}")
    return value


def _object(text: str, source: str, expected: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(source, None, "", f"not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != expected:
        raise InputError(source, None, "format", f"not a {expected} document")
    return data


def run_id_ok(run_id: str, source: str) -> str:
    if not _RUN_ID.match(run_id):
        raise InputError(source, None, "run_id", "must be letters, digits, '.', '_' or '-' (a folder name)")
    return run_id


def read_shard(text: str, source: str) -> Shard:
    data = _object(text, source, SHARD_FORMAT)
    options = _field(data, "options", (dict,), "", source)
    hosts = []
    for index, entry in enumerate(_field(data, "hosts", (list,), "", source)):
        where = f"hosts[{index}]."
        if not isinstance(entry, dict):
            raise InputError(source, None, where[:-1], "expected an object")
        record = _field(entry, "host", (dict,), where, source)
        unknown = sorted(set(record) - set(_HOST_TYPES))
        if unknown:
            raise InputError(source, None, f"{where}host.{unknown[0]}", "unknown key")
        fields = {key: _field(record, key, types, f"{where}host.", source)
                  for key, types in _HOST_TYPES.items()}
        if not all(isinstance(g, str) for g in fields["groups"]):
            raise InputError(source, None, f"{where}host.groups", "expected a list of names")
        if not all(isinstance(v, dict) for v in fields["vars"].values()):
            raise InputError(source, None, f"{where}host.vars", "expected check id -> parameters")
        fields["groups"] = tuple(fields["groups"])
        checks = _field(entry, "checks", (list,), where, source)
        if not all(isinstance(c, str) for c in checks):
            raise InputError(source, None, f"{where}checks", "expected a list of check ids")
        hosts.append(ShardHost(Host(**fields), tuple(checks)))
    signing_key = _field(data, "signing_key", (str, type(None)), "", source)
    if isinstance(signing_key, str) and signing_key.startswith("-"):
        raise InputError(source, None, "signing_key", "must be a path, not start with '-'")
    return Shard(
        run_id=run_id_ok(_field(data, "run_id", (str,), "", source), source),
        shard_id=run_id_ok(_field(data, "shard", (str,), "", source), source),
        segment=_field(data, "segment", (str,), "", source),
        hosts=tuple(hosts),
        batched=_field(options, "batched", (bool,), "options.", source),
        jobs=max(1, _field(options, "jobs", (int,), "options.", source)),
        accept_new_host_keys=_field(options, "accept_new_host_keys", (bool,), "options.", source),
        signing_key=signing_key,
    )


def read_plan(path: Path) -> RunPlan:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise InputError(path, None, "", f"cannot read the run plan: {why}") from None
    data = _object(text, str(path), PLAN_FORMAT)
    shards = []
    for index, entry in enumerate(_field(data, "shards", (list,), "", str(path))):
        where = f"shards[{index}]."
        if not isinstance(entry, dict):
            raise InputError(path, None, where[:-1], "expected an object")
        shards.append(PlannedShard(_field(entry, "shard", (str,), where, str(path)),
                                   _field(entry, "segment", (str,), where, str(path)),
                                   tuple(str(h) for h in _field(entry, "hosts", (list,), where, str(path)))))
    return RunPlan(run_id_ok(_field(data, "run_id", (str,), "", str(path)), str(path)),
                   _field(data, "started", (str,), "", str(path)),
                   _field(data, "request", (dict,), "", str(path)), tuple(shards))


# --------------------------------------------------------------------------
# The request a plan records, and back (for `auditor merge --plan`)
# --------------------------------------------------------------------------


def request_record(request: AuditRequest) -> dict[str, Any]:
    """The request's selection and tracking, paths made absolute; alert targets are left out (they
    may hold tokens: the merge reads them from $AUDITOR_NOTIFY like any run)."""
    def path(value: Path | None) -> str | None:
        return None if value is None else str(value.absolute())

    tracking = request.tracking
    return {"inventory": path(request.inventory), "hosts": list(request.hosts),
            "groups": list(request.groups), "checks": list(request.checks), "policy": request.policy,
            "checks_dirs": [path(d) for d in request.checks_dirs],
            "batched": request.options.batched, "jobs": request.options.jobs,
            "tracking": {"history_file": path(tracking.history_file), "waivers": path(tracking.waivers),
                         "history_timeout": tracking.history_timeout, "no_waivers": tracking.no_waivers,
                         "baseline": tracking.baseline, "fail_on_new": tracking.fail_on_new,
                         "notify_always": tracking.notify_always}}


def request_from_record(record: Mapping[str, Any], output: Path, signer: Signer | None,
                        source: str) -> AuditRequest:
    """The AuditRequest a plan recorded, writing to `output` and signed by `signer`."""
    try:
        tracking = record["tracking"]
        history_file = tracking["history_file"]
        return AuditRequest(
            inventory=Path(record["inventory"]), hosts=tuple(record["hosts"]), groups=tuple(record["groups"]),
            checks=tuple(record["checks"]), policy=record["policy"],
            checks_dirs=tuple(Path(d) for d in record["checks_dirs"]), output=output,
            options=RunOptions(batched=bool(record["batched"]), jobs=int(record["jobs"])),
            tracking=TrackingOptions(
                history_file=Path(history_file) if history_file else None,
                history_timeout=float(tracking["history_timeout"]),
                waivers=Path(tracking["waivers"]) if tracking["waivers"] else None,
                no_waivers=bool(tracking["no_waivers"]), baseline=tracking["baseline"],
                fail_on_new=bool(tracking["fail_on_new"]), notify_always=bool(tracking["notify_always"])),
            signer=signer)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(source, None, "request", f"not a recorded request ({type(exc).__name__}: {exc})") \
            from None


# --------------------------------------------------------------------------
# Cutting a prepared run into shards
# --------------------------------------------------------------------------


def split(prepared: PreparedRun, shard_size: int, signing_key: str | None = None,
          accept_new_host_keys: bool = False) -> tuple[RunPlan, list[Shard]]:
    """Shards of at most `shard_size` hosts, each within one segment, in inventory order."""
    if shard_size < 1:
        raise UsageError("--shard-size must be at least 1")
    by_segment: dict[str, list[Host]] = {}
    for host in prepared.hosts:
        by_segment.setdefault(host.segment, []).append(host)
    shards: list[Shard] = []
    for segment, hosts in by_segment.items():
        for start in range(0, len(hosts), shard_size):
            chunk = hosts[start:start + shard_size]
            shards.append(Shard(
                run_id=prepared.run_id, shard_id=f"{segment}-{start // shard_size + 1:04d}", segment=segment,
                hosts=tuple(ShardHost(h, tuple(c.id for c in prepared.checks_for(h))) for h in chunk),
                batched=prepared.options.batched, jobs=prepared.options.jobs,
                accept_new_host_keys=accept_new_host_keys, signing_key=signing_key))
    plan = RunPlan(prepared.run_id, iso(prepared.started), request_record(prepared.request),
                   tuple(PlannedShard(s.shard_id, s.segment, tuple(h.host.name for h in s.hosts))
                         for s in shards))
    return plan, shards
