"""Runs an audit: plan each host's probes, collect them in one round trip, store the
evidence, judge every check, and carry on whatever one host does.

Transport errors are caught here and nowhere else: they make the host `unreachable`
(or `error`) and the run goes on with the others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from auditor import collectors
from auditor.check import EVIDENCE_DAYS, Check, Outputs, ProbeOutput, ProbeSite, Result, Status
from auditor.engine import batch
from auditor.engine.plan import FACTS_KEY, Planned, parse_facts, plan
from auditor.errors import warn
from auditor.evidence.atomic import NoSpaceError
from auditor.evidence.redact import recorded_params
from auditor.evidence.store import Observation, ProbeRun, redact_outputs, redact_results, store_evidence
from auditor.inventory import Host
from auditor.model import NOT_CHECKED, CheckResult, EvidenceRef, HostReport
from auditor.transports import HostErrorKind, Transport, TransportError
from auditor.transports.local import LocalTransport
from auditor.transports.ssh_options import SshOptions, SshTarget

_timings_log = logging.getLogger("auditor.timings")  # -v and --debug-log show it
HOST_STREAM_CAP = 32 << 20  # bytes per stream per host, whatever the probes' caps add up to


def host_limit(cap: int, probes: int) -> int:
    """How much of one stream a batch may bring back: every probe's cap plus its markers, at most
    HOST_STREAM_CAP; the transport stops reading there, so a host printing without end costs this."""
    return min((cap + 4096) * (probes + 1), max(HOST_STREAM_CAP, 2 * cap))


@dataclass(frozen=True)
class RunOptions:
    batched: bool = True
    jobs: int = 16
    ssh: SshOptions = SshOptions()
    cap: int = batch.DEFAULT_CAP
    # Set it (from a signal handler, a scheduler, another thread) to stop the run as Ctrl-C does.
    stop: threading.Event | None = field(default=None, compare=False)


def make_transport(host: Host, options: SshOptions) -> Transport:
    if host.transport == "local":
        return LocalTransport()
    from auditor.transports.ssh import SshTransport  # paramiko: only when a host is reached over SSH

    target = SshTarget(
        address=host.address,
        port=host.port,
        user=host.user,
        identity_file=host.identity_file,
        known_hosts=host.known_hosts,
        connect_timeout=host.connect_timeout,
    )
    return SshTransport(target, options)


def collect(
    transport: Transport,
    probes: Sequence[Planned],
    sudo: bool,
    timeout: float,
    batched: bool,
    cap: int,
    on_cut: Callable[[int], None] | None = None,
) -> dict[str, ProbeOutput]:
    """Every probe's output: the host's in one batch, the auditor's collectors meanwhile.
    `on_cut(limit)` is told when the host sent more than `host_limit` and the rest was not read."""
    on_host = [p for p in probes if isinstance(p, batch.PlannedProbe)]
    from_auditor = [p for p in probes if isinstance(p, collectors.PlannedCollector)]
    collected: dict[str, ProbeOutput] = {}

    def run_collectors() -> None:
        for planned in from_auditor:
            collected[planned.key] = collectors.run(planned)

    # Collectors wait on the network, not on the host: overlap them with its round trip.
    side = threading.Thread(target=run_collectors, daemon=True)
    if from_auditor:
        side.start()
    outputs = collect_on_host(transport, on_host, sudo, timeout, batched, cap, on_cut)
    if from_auditor:
        side.join()
    return {**outputs, **collected}


def collect_on_host(
    transport: Transport,
    probes: list[batch.PlannedProbe],
    sudo: bool,
    timeout: float,
    batched: bool,
    cap: int,
    on_cut: Callable[[int], None] | None = None,
) -> dict[str, ProbeOutput]:
    if batched:
        planned = batch.build(probes, sudo=sudo, cap=cap, probe_timeout=batch.probe_timeout_for(timeout))
        started = time.monotonic()
        limit = host_limit(cap, len(probes))
        done = transport.run(batch.COMPRESSED_COMMAND, planned.payload, timeout, limit)
        if done.rc == batch.NO_GZIP_RC and not done.stdout:  # no gzip(1) there: the plain text
            left = max(timeout - (time.monotonic() - started), 0.1)
            done = transport.run(batch.PLAIN_COMMAND, planned.script, left, limit)
        parsed = batch.parse(planned, done.stdout, done.stderr, cap=cap)
        if done.cut_at is None:
            return parsed
        if on_cut is not None:
            on_cut(done.cut_at)
        # Probes whose end marker never arrived were cut off with the stream.
        return {key: dataclasses.replace(out, truncated=True) if out.rc is None else out
                for key, out in parsed.items()}
    # One exec channel per probe: kept only to measure what batching saves (--no-batch).
    outputs: dict[str, ProbeOutput] = {}
    deadline = time.monotonic() + timeout
    for probe in probes:
        started = time.perf_counter()
        done = transport.run(batch.probe_command(probe, sudo), b"", max(deadline - time.monotonic(), 0.1),
                             host_limit(cap, 1))
        out, err = done.stdout[:cap], done.stderr[:cap]
        outputs[probe.key] = ProbeOutput(
            name=probe.key,
            stdout=batch.decode(out),
            stderr=batch.decode(err),
            rc=done.rc,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            truncated=len(done.stdout) > cap or len(done.stderr) > cap,
            ok_rc=probe.ok_rc,
        )
    return outputs


def _probe_run(planned: Planned) -> ProbeRun:
    site = ProbeSite.AUDITOR if isinstance(planned, collectors.PlannedCollector) else ProbeSite.HOST
    return ProbeRun(planned.key, planned.script, planned.root, site.value)


def evaluate_host(
    host: Host,
    checks: Sequence[Check],
    outputs: dict[str, ProbeOutput],
    refs: dict[str, EvidenceRef],
    broken: dict[str, str],
    facts: dict[str, str],
) -> list[CheckResult]:
    results = []
    for check in checks:
        params = host.params_for(check)
        if check.id in broken:
            outcome = Result(Status.ERROR, broken[check.id])
        else:
            mine = Outputs({p.name: outputs[f"{check.id}.{p.name}"] for p in check.probes
                            if f"{check.id}.{p.name}" in outputs})
            outcome = check.judge(mine, params)
            if (outcome.status is Status.ERROR and any(p.root for p in check.probes)
                    and facts.get("uid") not in (None, "0") and host.become is None):
                outcome = Result(outcome.status, outcome.summary + " (this check reads root-only "
                                 "files: set become: sudo for this host)", outcome.details,
                                 outcome.evidence, outcome.values, outcome.findings, outcome.fail_on)
        evidence = tuple(
            refs[f"{check.id}.{name}"] for name in outcome.evidence if f"{check.id}.{name}" in refs
        )
        results.append(CheckResult(
            check_id=check.id, title=check.title, status=outcome.status, summary=outcome.summary,
            details=outcome.details, claims=check.claims, controls=check.controls,
            evidence=evidence, values=dict(outcome.values), params=recorded_params(check, params),
            findings=outcome.findings, fail_on=outcome.fail_on,
        ))
    return results


def host_failed(host: Host, checks: Sequence[Check], error: str, kind: HostErrorKind, started: float,
                reachable: bool) -> HostReport:
    summary = f"{NOT_CHECKED}{error}"
    results = tuple(
        CheckResult(c.id, c.title, Status.ERROR, summary, claims=c.claims, controls=c.controls,
                    params=recorded_params(c, host.params_for(c)))
        for c in checks
    )
    return HostReport(host.name, host.address, host.transport, reachable, error, kind, {}, results,
                      round((time.perf_counter() - started) * 1000, 1))


class _LiveTransports:
    """Transports in use right now, so that Ctrl-C can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[Transport] = set()
        self._aborted = False

    def add(self, transport: Transport) -> bool:
        """Track `transport`; False once the run is stopping: a host that a worker took just
        before the stop is not started at all."""
        with self._lock:
            if self._aborted:
                return False
            self._live.add(transport)
            return True

    def discard(self, transport: Transport) -> None:
        with self._lock:
            self._live.discard(transport)

    def abort_all(self) -> None:
        with self._lock:
            self._aborted = True
            live = list(self._live)
        for transport in live:
            try:
                transport.abort()
            except Exception:  # noqa: S112 - aborting is best effort; the process is exiting
                continue


def audit_host(host: Host, checks: Sequence[Check], run_dir: Path, options: RunOptions,
               live: _LiveTransports | None = None) -> HostReport:
    started = time.perf_counter()
    probes, broken = plan(host, checks)
    transport = make_transport(host, options.ssh)
    if live is not None and not live.add(transport):
        return host_failed(host, checks, "interrupted before this host started", HostErrorKind.INTERRUPTED,
                           started, False)
    cut: list[int] = []
    try:
        with transport:
            raw = collect(transport, probes, sudo=host.become == "sudo", timeout=host.command_timeout,
                          batched=options.batched, cap=options.cap, on_cut=cut.append)
    except TransportError as exc:
        _log_timings(host, transport, started, exc.kind)
        return host_failed(host, checks, str(exc), exc.kind, started, not exc.kind.before_login)
    finally:
        if live is not None:
            live.discard(transport)
    observed = Observation(host.name, transport.peer, dt.datetime.now(dt.UTC),
                           {c.id: float(host.params_for(c).get(EVIDENCE_DAYS.name, EVIDENCE_DAYS.default))
                            for c in checks})
    evaluating = time.perf_counter()
    outputs, redactions = redact_outputs(raw)
    refs = store_evidence(run_dir, host.name, (_probe_run(p) for p in probes), outputs, observed)
    facts = parse_facts(outputs.get(FACTS_KEY))
    results, masked_in_results = redact_results(evaluate_host(host, checks, outputs, refs, broken, facts))
    results, sudo_error = sudo_refused(host, checks, outputs, results, facts)
    error, kind = sudo_error, HostErrorKind.AUTHENTICATION if sudo_error else None
    if cut:
        error = (f"the host sent more than {cut[0]} bytes on one stream, so its output was cut at {cut[0]} "
                 "bytes and the rest never read; checks whose probes were cut are in error")
        kind = HostErrorKind.OUTPUT_LIMIT
    _log_timings(host, transport, started, kind, evaluate_ms=(time.perf_counter() - evaluating) * 1000)
    return HostReport(host.name, host.address, host.transport, True, error, kind, facts, tuple(results),
                      round((time.perf_counter() - started) * 1000, 1), redactions + masked_in_results)


def _log_timings(host: Host, transport: Transport, started: float, kind: HostErrorKind | None,
                 evaluate_ms: float | None = None) -> None:
    phases = dict(getattr(transport, "timings", {}))
    if evaluate_ms is not None:
        phases["evaluate"] = round(evaluate_ms, 1)
    total = (time.perf_counter() - started) * 1000
    _timings_log.info("%s: %s; total %.1f ms%s", host.name,
                      ", ".join(f"{phase} {ms:g} ms" for phase, ms in phases.items()) or "no phase timed",
                      total, f" ({kind})" if kind else "")


SUDO_REFUSED_SUMMARY = f"{NOT_CHECKED}it needs root, and sudo was refused on this host (see the host's error)"
_SUDO_REFUSAL = re.compile(r"^sudo: .*(password is required|terminal is required|not in the sudoers|"
                           r"not allowed|may not run sudo|no tty present|must have a tty).*", re.MULTILINE)
# sudoers' requiretty (RHEL 6 and 7 set it): the rule allows sudo, a default refuses it.
_REQUIRETTY = "must have a tty"


def sudo_refused(host: Host, checks: Sequence[Check], outputs: dict[str, ProbeOutput],
                 results: list[CheckResult], facts: dict[str, str]) -> tuple[list[CheckResult], str | None]:
    """When `sudo -n` refused the root probes: one host error saying what to do, and the checks
    that erred for it summarised as such (still `error`) instead of each quoting sudo's stderr."""
    if host.become != "sudo":
        return results, None
    refusals: dict[str, str] = {}
    for check in checks:
        for probe in check.probes:
            out = outputs.get(f"{check.id}.{probe.name}")
            refused = probe.root and out is not None and not out.ok
            match = _SUDO_REFUSAL.search(out.stderr) if refused and out is not None else None
            if match:
                refusals.setdefault(check.id, match.group(0).strip())
    affected = [r.check_id for r in results if r.status is Status.ERROR and r.check_id in refusals]
    if not affected:
        return results, None
    user = facts.get("user") or host.user or "the login user"
    refusal = refusals[affected[0]]
    if _REQUIRETTY in refusal:
        remedy = f"lift it for this user with the sudoers line `Defaults:{user} !requiretty`"
    else:
        remedy = f"allow it with the sudoers rule `{user} ALL=(root) NOPASSWD: /bin/sh`"
    error = (f"sudo -n was refused for {user} ({refusal}), so {len(affected)} check(s) that "
             f"read root-only files could not run ({', '.join(affected)}); {remedy} "
             "(README, \"SSH, the way OpenSSH does it\"), or audit as root")
    return [dataclasses.replace(r, summary=SUDO_REFUSED_SUMMARY, details=(refusals[r.check_id], *r.details))
            if r.check_id in affected else r for r in results], error


STOP_POLL_S = 0.2  # how often the run looks at `RunOptions.stop` while it waits for hosts
SETTLE_S = 5.0  # after a stop, how long hosts in flight get to let go before the report is written


def run(
    hosts: Sequence[Host],
    checks: Sequence[Check],
    run_dir: Path,
    options: RunOptions,
    on_done: Callable[[HostReport, int, int], None] | None = None,
    checks_for: Callable[[Host], Sequence[Check]] | None = None,
) -> tuple[list[HostReport], bool]:
    """Audit hosts in parallel; returns the reports in inventory order and whether all finished.

    `checks_for` narrows the checks per host (a policy's claims apply to some hosts, a
    waiver may stop a check from running); by default every host gets `checks`.

    Ctrl-C (KeyboardInterrupt) and `options.stop` stop the run the same way (`_stopped`): no
    host is started after it, the hosts in flight are cut, and what finished before is kept;
    the caller writes a partial report.
    """
    def selected(host: Host) -> Sequence[Check]:
        return checks_for(host) if checks_for is not None else checks

    todo: queue.Queue[Host] = queue.Queue()
    for host in hosts:
        todo.put(host)
    done: queue.Queue[HostReport] = queue.Queue()
    live = _LiveTransports()
    stop = options.stop or threading.Event()
    unwritten: list[NoSpaceError] = []  # hosts whose evidence the auditor's full disk could not hold

    def worker() -> None:
        while not stop.is_set():
            try:
                host = todo.get_nowait()
            except queue.Empty:
                return
            host_checks = selected(host)
            try:
                report = audit_host(host, host_checks, run_dir, options, live)
            except NoSpaceError as exc:  # the auditor's disk, not the host: the run ends incomplete
                unwritten.append(exc)
                report = host_failed(host, host_checks, f"evidence not written: {exc}",
                                     HostErrorKind.INTERNAL, time.perf_counter(), True)
            except Exception as exc:  # an engine bug on one host must not lose the others
                report = host_failed(host, host_checks, f"internal error: {type(exc).__name__}: {exc}",
                                     HostErrorKind.INTERNAL, time.perf_counter(), True)
            done.put(report)

    # Daemon threads: a host that ignores the stop dies with the process, not after it.
    jobs = max(1, min(options.jobs, len(hosts)))
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(jobs)]
    for thread in workers:
        thread.start()
    finished: dict[str, HostReport] = {}
    try:
        while len(finished) < len(hosts) and not stop.is_set():
            try:  # a timed wait, so that a stop set from elsewhere is seen within STOP_POLL_S
                report = done.get(timeout=STOP_POLL_S)
            except queue.Empty:
                continue
            finished[report.name] = report
            if on_done:
                on_done(report, len(finished), len(hosts))
    except KeyboardInterrupt:
        stop.set()
    if len(finished) < len(hosts):
        _stopped(done, finished, live, workers)
    # every host may have finished just before the stop; one whose evidence is lost did not
    complete = len(finished) == len(hosts) and not unwritten
    if unwritten:
        warn(f"this run is incomplete: {unwritten[0]}")
    ordered = []
    for host in hosts:
        if host.name in finished:
            ordered.append(finished[host.name])
        else:
            ordered.append(host_failed(host, selected(host), "interrupted before this host finished",
                                       HostErrorKind.INTERRUPTED, time.perf_counter(), False))
    return ordered, complete


def _stopped(done: queue.Queue[HostReport], finished: dict[str, HostReport], live: _LiveTransports,
             workers: Sequence[threading.Thread]) -> None:
    """The one way a run stops early (Ctrl-C, SIGTERM, `RunOptions.stop`): keep the hosts that
    finished before it, cut those in flight, and give their threads SETTLE_S to let go, so that
    no evidence file lands in the run folder after its manifest is written. A host cut here is
    reported as interrupted, whatever its thread makes of the cut."""
    while True:
        try:
            report = done.get_nowait()
        except queue.Empty:
            break
        finished[report.name] = report
    live.abort_all()
    deadline = time.monotonic() + SETTLE_S
    for thread in workers:
        thread.join(max(deadline - time.monotonic(), 0.0))
