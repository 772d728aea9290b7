"""One audit, the whole pipeline, exported as `auditor.audit()`: the command line, a scheduler,
a worker and a test all call it.

    inventory + checks (+ policy) -> plan -> collect on every host -> evaluate
      -> waive, compare with the baseline, alert, trends -> claim verdicts
      -> report.json, junit.xml, report.html, controls.csv -> signed manifest -> history

Bad input (an unknown check id, a broken inventory, claims or waivers file, an output
folder that cannot be made) raises an `auditor.errors.AuditorError` before any host is
contacted. Whatever a host does, the run goes on; an interrupted run (Ctrl-C) still writes
its partial report, marked incomplete, signed and recorded.

Every file is written whole or not at all (`evidence.atomic`), the manifest last. A disk that fills
raises `atomic.NoSpaceError`: the reports already written are withdrawn, no manifest is written, and
the evidence written so far stays, unsigned; the previous runs and the history are not touched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psutil

from auditor import inventory
from auditor.check import FAIL_ON, Check, Severity
from auditor.defaults import DEFAULT_INVENTORY, DEFAULT_OUTPUT, __version__
from auditor.engine import registry, runner
from auditor.engine.registry import load_checks as load_checks  # re-exported for the pipeline's callers
from auditor.engine.registry import select_checks
from auditor.errors import UsageError, warn
from auditor.evidence import atomic, oscal, pack, signing, store, timestamp
from auditor.inputs import load_inventory
from auditor.inputs.targets import Targets
from auditor.inventory import Host, InventoryError
from auditor.model import CheckInfo, HostReport, Policy, RunReport, RunResources
from auditor.policy import claims
from auditor.policy import verdicts as claim_verdicts
from auditor.report import controls_csv, html, json_report, junit, results_csv
from auditor.tracking import history
from auditor.tracking.run import RunTracking, TrackingOptions
from auditor.tracking.run import prepare as prepare_tracking


@dataclass(frozen=True)
class AuditRequest:
    """What to audit, how, and where the run folder goes."""

    inventory: Path = DEFAULT_INVENTORY
    inventory_format: str = "auto"  # auto, auditor or ansible (auditor.inputs.FORMATS)
    targets: Targets | None = None  # -t ssh://user@host:port, local: hosts without an inventory file
    hosts: tuple[str, ...] = ()  # only these hosts (names); none: every host
    groups: tuple[str, ...] = ()  # only hosts of these groups
    checks: tuple[str, ...] = ()  # only these check ids; none: every check (or the policy's)
    policy: str | None = None  # a shipped claims set's id or a claims file; None: the inventory's policy:
    checks_dirs: tuple[Path, ...] = ()  # extra check modules to load
    output: Path = DEFAULT_OUTPUT  # the run folder is made inside
    fail_on: Severity | None = None  # every check's fail_on where the inventory or a claim sets none
    options: runner.RunOptions = runner.RunOptions()
    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    signer: signing.Signer | None = None  # None: the run is not signed
    timestamp_url: str | None = None  # an RFC 3161 TSA to stamp the manifest; None: nothing is sent
    # Called once the hosts are known, for an SSH key passphrase (the CLI asks on the terminal).
    ssh_passphrase: Callable[[Sequence[Host]], str | None] | None = None
    on_done: Callable[[HostReport, int, int], None] | None = None  # progress: a host finished


@dataclass(frozen=True)
class AuditOutcome:
    report: RunReport
    verdicts: claim_verdicts.PolicyVerdicts | None  # the policy's claim verdicts, when one was audited
    run_dir: Path

    @property
    def report_json(self) -> str:
        """report.json's text as written; read when asked (tens of MB at 1,000 hosts)."""
        return (self.run_dir / REPORT_JSON).read_text(encoding="utf-8")


def load_policy(spec: str | None, inv: inventory.Inventory, loaded: registry.Registry) -> Policy | None:
    """A claims set named or given by path, else the inventory's policy: key, else none."""
    if spec is None:
        return claims.from_inventory(inv, loaded.checks)
    try:
        return claims.load(claims.locate(spec), loaded.checks)
    except ValueError as exc:
        raise UsageError(f"--policy {spec}: {exc}") from None


@dataclass(frozen=True)
class PreparedRun:
    """A run decided and not yet collected: everything `audit()` settles before it contacts a host
    (the hosts, each host's checks, the policy's plan, waivers and baseline, the run folder). A
    distributed run prepares once on the coordinator, collects on workers, and finishes here."""

    request: AuditRequest
    inventory: inventory.Inventory
    hosts: tuple[Host, ...]
    checks: tuple[Check, ...]
    plan: claims.Plan | None
    tracked: RunTracking
    scope: history.Scope
    started: dt.datetime
    run_dir: Path
    options: runner.RunOptions
    cpu_before: tuple[float, float] = (0.0, 0.0)  # the process's CPU when collection began

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    def checks_for(self, host: Host) -> list[Check]:
        """The checks of the claims that apply to the host (all without a policy), minus waived ones."""
        planned = self.plan.checks_for[host.name] if self.plan else self.checks
        return list(self.tracked.checks_for(host, planned))


def _own_cpu() -> tuple[float, float]:
    times = psutil.Process().cpu_times()
    return times.user + times.system, times.children_user + times.children_system


def _resources(before: tuple[float, float]) -> RunResources:
    """The CPU the collection and judging took (since `before`) and the memory held now."""
    own, children = _own_cpu()
    return RunResources(round(own - before[0], 3), round(children - before[1], 3),
                        psutil.Process().memory_info().rss)


def audit(request: AuditRequest, loaded: registry.Registry | None = None) -> AuditOutcome:
    """Run the whole audit and write its run folder; see the module docstring."""
    prepared = prepare(request, loaded)
    options = prepared.options
    if request.ssh_passphrase is not None:
        ssh = dataclasses.replace(options.ssh, passphrase=request.ssh_passphrase(prepared.hosts))
        options = dataclasses.replace(options, ssh=ssh)
    results, complete = runner.run(prepared.hosts, prepared.checks, prepared.run_dir, options,
                                   on_done=request.on_done, checks_for=prepared.checks_for)
    return finish(prepared, results, complete)


def prepare(request: AuditRequest, loaded: registry.Registry | None = None,
            started: dt.datetime | None = None, run_id: str | None = None,
            make_run_dir: bool = True) -> PreparedRun:
    """Everything before the first host is contacted; refuses bad input. `started` and `run_id`
    are given when a run prepared elsewhere is finished here (a merge of workers' sub-packs);
    `make_run_dir=False` only plans (the shards of a run that another command will merge)."""
    loaded = loaded or load_checks(request.checks_dirs)
    checks = select_checks(loaded, request.checks)
    inv = load_inventory(request.inventory, loaded.checks, request.inventory_format, request.targets)
    hosts = inv.select(list(request.hosts), list(request.groups))
    audited = load_policy(request.policy, inv, loaded)
    plan = claims.plan(audited, inv, hosts, loaded.checks, list(request.checks)) if audited else None
    if plan is not None and request.checks and not plan.checks:  # a run that could verify no claim
        used = sorted({check_id for claim in plan.audited.policy.claims for check_id in claim.checks})
        raise UsageError(f"--check {', '.join(request.checks)} selects no check of policy "
                         f"{plan.audited.policy.id} (its checks: {', '.join(used) or 'none'}); "
                         "drop --check or name one of them")
    nothing = claims.nothing_to_verify(plan) if plan is not None else ""
    if nothing:  # no check at all, e.g. only manual claims
        raise UsageError(nothing)
    if plan is not None:  # each host runs the checks of the claims that apply to it
        for text in plan.warnings:
            warn(text)
        hosts, checks = list(plan.hosts), list(plan.checks)
    if request.fail_on is not None:
        hosts = [with_fail_on(host, checks, request.fail_on) for host in hosts]
    try:  # two hosts whose evidence would share a folder (a/b and a_b-c14cddc0, Web and web) never run
        store.check_unique(h.name for h in hosts)
    except ValueError as exc:
        raise InventoryError(inv.path, None, "hosts", str(exc)) from None
    if request.options.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if request.timestamp_url is not None:
        timestamp.check_url(request.timestamp_url)
    started = started or _utc_now()
    scope = history.Scope.of(inv.path, plan.audited.policy.id if plan else None, request.hosts,
                             request.groups, request.checks)
    tracked = prepare_tracking(request.tracking, inv, checks, loaded.checks, started, scope, plan)
    run_dir = _make_run_dir(request.output, started, run_id, make_run_dir)
    return PreparedRun(request, inv, tuple(hosts), tuple(checks), plan, tracked, scope, started, run_dir,
                       request.options, _own_cpu())


def finish(prepared: PreparedRun, results: Sequence[HostReport], complete: bool,
           shards: Sequence[Mapping[str, Any]] = ()) -> AuditOutcome:
    """The run after collection: waive, compare, alert, judge the claims, write the reports and the
    signed manifest (with `shards`: which worker signed which part), record it in the history."""
    request, checks = prepared.request, prepared.checks
    report = RunReport(
        run_id=prepared.run_id,
        started=_iso(prepared.started),
        finished=_iso(_utc_now()),
        tool_version=__version__,
        operator=f"{getpass.getuser()}@{socket.gethostname()}",
        inventory_path=str(prepared.inventory.path),
        inventory_sha256=prepared.inventory.sha256,
        checks=tuple(CheckInfo(c.id, c.title, c.claims, c.controls, c.description, c.trend_values)
                     for c in checks),
        hosts=tuple(results),
        complete=complete,
        batched=prepared.options.batched,
        signer_fingerprint=request.signer.fingerprint if request.signer else None,
        policy=prepared.plan.audited if prepared.plan else None,
        resources=_resources(prepared.cpu_before),
    )
    tracked, run_dir = prepared.tracked, prepared.run_dir
    report = tracked.finish(report, run_dir)
    verdicts = claim_verdicts.judged(report)  # final once waivers are applied; every reporter reads them
    run = pack.manifest_run(report, prepared.hosts, checks, chain_link(tracked.history_path, prepared.scope))
    run["evidence_folders"] = store.check_unique(h.name for h in prepared.hosts)  # which is whose, signed
    if shards:
        run["shards"] = [dict(shard) for shard in shards]
    try:  # the reports, then the manifest that lists and signs them: a run is signed complete or not at all
        write_reports(report, run_dir, verdicts)
        pack.write_manifest(run_dir, run, request.signer)
    except atomic.NoSpaceError as exc:
        raise _withdrawn(run_dir, exc) from None
    if request.timestamp_url is not None:
        try:  # after the manifest it stamps; a TSA that fails costs the timestamp, not the run
            timestamp.stamp(run_dir, request.timestamp_url)
        except (timestamp.TimestampError, atomic.NoSpaceError) as exc:
            warn(f"this run's manifest is NOT timestamped: {exc}")
    tracked.record(report, run_dir)
    return AuditOutcome(report, verdicts, run_dir)


def with_fail_on(host: Host, checks: Sequence[Check], level: Severity) -> Host:
    """The host with `fail_on: level` for every check whose vars (inventory or claim) set none.

    Written into the host's parameters, so the report records it and a re-judged pack grades alike."""
    vars_ = {check_id: dict(params) for check_id, params in host.vars.items()}
    for check in checks:
        vars_.setdefault(check.id, {}).setdefault(FAIL_ON.name, level.value)
    return dataclasses.replace(host, vars=vars_)


def chain_link(history_path: Path | None, scope: history.Scope) -> dict[str, object] | None:
    """The run's place in its history: its scope and the previous manifest recorded for it."""
    if history_path is None:
        return None
    previous = None
    if history_path.exists():
        try:
            with history.History(history_path, readonly=True) as store:
                previous = store.previous_manifest(scope.inventory, scope.policy)
        except history.HistoryError as exc:
            warn(f"this run's manifest names no previous run (the chain restarts here): {exc}")
    return {"scope": {"inventory": scope.inventory, "policy": scope.policy},
            "previous_manifest_sha256": previous}


REPORT_JSON = "report.json"
REPORTS = (REPORT_JSON, "junit.xml", "report.html", "controls.csv", results_csv.FILE, oscal.FILE)
# What a full disk's message counts for manifest.json (a line per file) and manifest.sig
MANIFEST_BASE, MANIFEST_PER_FILE, SIGNATURE_SIZE = 4096, 200, 100


def _withdrawn(run_dir: Path, exc: atomic.NoSpaceError) -> atomic.NoSpaceError:
    """A run the disk could not hold: none of its reports, nor a manifest or signature, may stand for
    it; returns the error to raise, which says what the reports and manifest would have taken at
    least (the reports are streamed: the one cut short counts as far as it got)."""
    written = [(run_dir / name).stat().st_size for name in REPORTS if (run_dir / name).is_file()]
    for name in (*REPORTS, pack.MANIFEST, pack.SIGNATURE):
        (run_dir / name).unlink(missing_ok=True)
    evidence = sum(1 for _ in (run_dir / store.EVIDENCE_DIR).rglob("*.json"))
    manifest = MANIFEST_BASE + MANIFEST_PER_FILE * (evidence + len(REPORTS))
    needed = atomic.space_for(run_dir, [*written, exc.needed, manifest, SIGNATURE_SIZE])
    return atomic.NoSpaceError(exc.folder, "writing the run's reports and signed manifest", needed,
                               f" at least (it stopped {exc.what}); the run is not finished: its evidence "
                               "so far is kept, no report or manifest was written")


def write_reports(report: RunReport, run_dir: Path, verdicts: claim_verdicts.PolicyVerdicts | None) -> None:
    """Writes report.json, junit.xml, report.html, the CSVs and oscal.json, each streamed into its
    temporary file and renamed when whole: memory stays flat however many hosts."""
    matrix = claim_verdicts.controls_matrix(report, verdicts)
    writers: dict[str, Callable[[TextIO], object]] = {
        REPORT_JSON: lambda out: json_report.write(report, verdicts, out),
        "junit.xml": lambda out: out.write(junit.render(report)),
        "report.html": lambda out: html.write(report, verdicts, matrix, out),
        "controls.csv": lambda out: out.write(controls_csv.render(matrix)),  # CRLF line ends (RFC 4180)
        results_csv.FILE: lambda out: out.write(results_csv.render(report)),
        oscal.FILE: lambda out: oscal.write(run_dir, report, verdicts, out),  # reads the evidence now there
    }
    for name, write in writers.items():
        with atomic.streamed(run_dir / name) as out:
            write(out)


def _make_run_dir(output: Path, started: dt.datetime, run_id: str | None = None, make: bool = True) -> Path:
    run_dir = output / (run_id or f"{started.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}")
    if not make:
        return run_dir
    try:
        atomic.make_folder(run_dir, new=True)
    except OSError as exc:
        raise UsageError(f"cannot create the run folder {run_dir}: {exc.strerror}") from None
    except atomic.NoSpaceError as exc:
        raise UsageError(f"cannot create the run folder {run_dir}: {exc}") from None
    return run_dir


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
