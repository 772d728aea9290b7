"""The service around a run that makes scheduled audits work: waivers, the baseline and
drift, alerts, trends and history.

A run goes: prepare (read waivers, resolve the baseline, parse the alert targets: all bad
input is refused before any host is contacted) -> audit -> finish (apply waivers, find
regressions, send alerts, read the trend of earlier runs) -> the reports and the manifest
are written -> record (the run enters the history with its manifest's SHA-256). A history
or alert failure is reported on stderr and never loses the run's report.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from auditor import inventory
from auditor.check import Check, Status
from auditor.errors import UsageError, warn
from auditor.evidence import pack, trust
from auditor.model import Notification, Regression, RunReport, Tracking, TrendPoint
from auditor.policy import claims
from auditor.report import json_report
from auditor.tracking import diff, history, notify, schedule, waivers

TREND_RUNS = 20  # runs drawn in each result's trend, this one included


class TrackingUsageError(UsageError):
    """A bad flag or file for waivers, baselines, history or alerts (exit 2)."""


@dataclass(frozen=True)
class TrackingOptions:
    """What a run is told about its tracking (the `run` flags of the same names)."""

    history_file: Path | None = None  # the history database; None: the run is not recorded
    history_timeout: float = history.BUSY_TIMEOUT_S
    waivers: Path | None = None  # None: waivers.yaml next to the inventory, when it exists
    no_waivers: bool = False
    baseline: str | None = None  # last, previous, a run id or a run folder
    # A baseline run folder's signer must be trusted by these (None: the verifier's default
    # trust, as `auditor verify` judges it), unless allow_untrusted_baseline.
    baseline_signers: trust.TrustStore | None = None
    allow_untrusted_baseline: bool = False
    fail_on_new: bool = False
    notify: tuple[str, ...] = ()  # alert targets; none given: $AUDITOR_NOTIFY
    notify_always: bool = False


# --------------------------------------------------------------------------
# A run
# --------------------------------------------------------------------------


@dataclass
class RunTracking:
    """What a run needs beyond auditing: created by `prepare`, used by `auditor.audit`."""

    checks: Sequence[Check]
    day: dt.date
    groups: Mapping[str, Sequence[str]]
    history_path: Path | None
    waiver_file: waivers.WaiverFile | None = None
    baseline: dict[str, Any] | None = None
    baseline_source: str | None = None
    fail_on_new: bool = False
    targets: list[notify.Target] = field(default_factory=list)
    notify_always: bool = False
    history_timeout: float = history.BUSY_TIMEOUT_S
    scope: history.Scope | None = None
    planned: Mapping[str, Sequence[Check]] | None = None  # host name -> its checks, when a policy plans them
    baseline_same_scope: bool = True  # False: the baseline audited another selection; compare shared results

    def checks_for(self, host: inventory.Host, planned: Sequence[Check]) -> Sequence[Check]:
        """The checks planned for a host, minus those an in-date `run: false` waiver stops."""
        if self.waiver_file is None:
            return planned
        stopped = waivers.not_run(self.waiver_file.waivers, host.name, host.groups, self.day)
        return [c for c in planned if c.id not in stopped]

    def finish(self, report: RunReport, run_dir: Path) -> RunReport:
        """Waive, compare with the baseline, alert and read trends; returns the report to write."""
        tracking = Tracking(baseline_source=self.baseline_source,
                            waiver_file=str(self.waiver_file.path) if self.waiver_file else None)
        if self.waiver_file is not None:
            applied = waivers.apply(report.hosts, self.groups, self.waiver_file.waivers, self.checks,
                                    self.day, self.planned)
            report = replace(report, hosts=applied.hosts)
            tracking = replace(tracking, expired_waivers=applied.expired, unused_waivers=applied.unused)
            for w in applied.expired:
                warn(f"{w.source}: waiver for {w.check_id} expired on {w.expires}; it waives nothing")
            for w in applied.unused:
                warn(f"{w.source}: waiver for {w.check_id} on {', '.join(w.hosts)} matches no result of "
                      "this run")
        if self.baseline is not None:
            keys = {c.id: c.trend_values for c in self.checks}
            drift = diff.drift(self.baseline, json_report.to_dict(report), keys,
                               restrict=not self.baseline_same_scope)
            for note in (drift.scope_note, drift.claims_note):
                if note:
                    warn(note)
            lost = tuple(Regression(c.host, c.check_id, Status.SKIP, Status.PASS, c.summary)
                         for c in drift.coverage_lost)
            tracking = replace(tracking, baseline=drift.base, regressions=drift.regressions,
                               claim_regressions=drift.claim_regressions, coverage_lost=lost)
        regressed = bool(tracking.regressions or tracking.claim_regressions)
        wanted = self.notify_always or (self.baseline is not None and regressed)
        if self.targets and wanted and not report.complete:
            # The unfinished hosts' "not checked: interrupted" errors are not regressions.
            warn("the run was interrupted: no alert sent")
        elif self.targets and wanted:
            tracking = replace(tracking, notifications=self._alert(report, tracking, run_dir))
        report = replace(report, tracking=tracking)
        return replace(report, tracking=replace(tracking, trends=self._trends(report)))

    def _alert(self, report: RunReport, tracking: Tracking, run_dir: Path) -> tuple[Notification, ...]:
        """Send the alerts; whatever goes wrong is reported and never loses the run."""
        try:
            payload = notify.summary(report, tracking.regressions, str((run_dir / "report.html").absolute()),
                                     tracking.baseline, tracking.claim_regressions)
            outcomes = tuple(notify.send(self.targets, payload))
        except Exception as exc:  # noqa: BLE001 - the run's report matters more than its alert
            reason = f"{type(exc).__name__}: {exc}"
            for target in self.targets:
                reason = notify.scrub(reason, target.url)
            outcomes = tuple(Notification(t.masked, False, 0, f"not sent: {reason}")
                             for t in self.targets)
        for outcome in outcomes:
            if not outcome.ok:
                warn(f"notification to {outcome.target} failed after {outcome.attempts} attempt(s): "
                      f"{outcome.detail}")
        return outcomes

    def _trends(self, report: RunReport) -> dict[tuple[str, str], tuple[TrendPoint, ...]]:
        earlier: dict[tuple[str, str], list[TrendPoint]] = {}
        if self.history_path is not None and self.history_path.exists():
            try:
                with history.History(self.history_path, self.history_timeout, readonly=True) as store:
                    earlier = store.trends(TREND_RUNS - 1)
            except history.HistoryError as exc:
                warn(f"no trends in this report: {exc}")
        keys = {c.id: c.trend_values for c in self.checks}
        trends = {}
        for host in report.hosts:
            for r in host.results:
                value = history.first_number(history.key_values(r, keys.get(r.check_id, ())))
                points = [*earlier.get((host.name, r.check_id), []),
                          TrendPoint(report.run_id, report.started, r.status, value)]
                trends[(host.name, r.check_id)] = tuple(points)
        return trends

    def record(self, report: RunReport, run_dir: Path) -> None:
        """Enter the run in the history, after its manifest exists; a failure is only reported."""
        if self.history_path is None:
            return
        manifest = run_dir / pack.MANIFEST
        digest = pack.sha256(manifest.read_bytes()) if manifest.exists() else None
        try:
            with history.History(self.history_path, self.history_timeout) as store:
                store.record(report, run_dir, digest, self.scope)
        except history.HistoryError as exc:
            warn(f"this run was NOT recorded in the history (its report is complete): {exc}")


def prepare(options: TrackingOptions, inv: inventory.Inventory, checks: Sequence[Check],
            registry_checks: Mapping[str, Check], started: dt.datetime, scope: history.Scope,
            plan: claims.Plan | None = None) -> RunTracking:
    """Read everything a run's tracking needs; refuses bad input before any host is contacted."""
    state = RunTracking(checks, started.date(), {h.name: h.groups for h in inv.hosts}, options.history_file,
                        fail_on_new=options.fail_on_new, notify_always=options.notify_always,
                        history_timeout=options.history_timeout, scope=scope,
                        planned=plan.checks_for if plan else None)
    if options.history_timeout < 0:
        raise TrackingUsageError("--history-timeout must be 0 or more seconds")
    waiver_path = options.waivers or waivers.default_path(Path(inv.path))
    if options.no_waivers and options.waivers:
        raise TrackingUsageError("--waivers and --no-waivers contradict each other: give one")
    if not options.no_waivers and (options.waivers or waiver_path.exists()):
        state.waiver_file = waivers.load(waiver_path, registry_checks, inv, state.day)
        for text in state.waiver_file.warnings:
            warn(text)
    # A scheduled run's targets come from its environment file: secrets stay out of unit and ps
    wanted = options.notify or tuple(os.environ.get(schedule.NOTIFY_ENV, "").split())
    try:
        state.targets = [notify.parse_target(t) for t in wanted]
    except notify.NotifyError as exc:
        where = "" if options.notify else f" (from ${schedule.NOTIFY_ENV})"
        raise TrackingUsageError(f"{exc}{where}") from None
    source = options.baseline or ("previous" if state.targets else None)
    if options.fail_on_new and source is None:
        raise TrackingUsageError("--fail-on new needs --baseline (last, previous, a run id or a run folder)")
    if source is not None:
        state.baseline_source = source
        state.baseline, state.baseline_same_scope = _baseline(source, state.history_path, scope, options)
        if state.baseline is None:
            warn("no earlier run in the history of this inventory and policy to compare with: this first "
                  "run counts every fail and error "
                  "(--fail-on new behaves like --fail-on any) and sends no regression alert")
            state.fail_on_new = False
    return state


def _baseline(source: str, path: Path | None, scope: history.Scope,
              options: TrackingOptions) -> tuple[dict[str, Any] | None, bool]:
    """The baseline run in report.json's shape (None: nothing recorded yet), and whether it
    audited the same scope as this run (otherwise only the results both have are compared)."""
    folder = Path(source)
    if source not in ("last", "previous") and (folder / "report.json").is_file():
        try:
            return diff.load_side(source, path, options.baseline_signers,
                                  options.allow_untrusted_baseline), True
        except diff.DiffError as exc:
            raise TrackingUsageError(f"--baseline: {exc}") from None
    if path is None:
        raise TrackingUsageError(f"--baseline {source}: needs the history (drop --no-history) "
                                 "or a run folder")
    if not path.exists():
        if source in ("last", "previous"):
            return None, True
        raise TrackingUsageError(f"--baseline {source}: no history database at {path}")
    try:
        with history.History(path, readonly=True) as store:
            if source in ("last", "previous"):
                # The previous run of this audit: the newest complete run of the same inventory
                # and policy (same --host/--check choice preferred). An interrupted run's "not
                # checked" errors would hide every regression; another inventory's run or an
                # ad-hoc `--host web1` would invent or hide them.
                found = store.baseline(scope)
                if found is None:
                    return None, True
                row, same_scope = found
            else:
                row = store.find(source)
                same_scope = row.scope == scope
            return diff.with_claims(store.snapshot(row), row.run_dir, row.manifest_sha256), same_scope
    except history.HistoryError as exc:
        raise TrackingUsageError(f"--baseline {source}: {exc}") from None
