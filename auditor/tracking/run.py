"""Scheduled audits on the command line: the run's waivers, baseline, alerts and history,
and the `history`, `diff` and `schedule` commands.

A run goes: prepare (read waivers, resolve the baseline, parse --notify: all bad input is
refused before any host is contacted) -> audit -> finish (apply waivers, find regressions,
send alerts, read the trend of earlier runs) -> the reports and the manifest are written ->
record (the run enters the history with its manifest's SHA-256). A history or alert
failure is reported on stderr and never loses the run's report.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from auditor import inventory
from auditor.check import Check, Status
from auditor.engine import registry
from auditor.errors import UsageError
from auditor.evidence import pack
from auditor.model import (
    EXIT_FAIL,
    EXIT_HOST_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Notification,
    Regression,
    RunReport,
    Tracking,
    TrendPoint,
    exit_code,
)
from auditor.policy import claims
from auditor.report import json_report
from auditor.tracking import diff, history, notify, schedule, waivers

TREND_RUNS = 20  # runs drawn in each result's trend, this one included


class TrackingUsageError(UsageError):
    """A bad flag or file for waivers, baselines, history or alerts (exit 2)."""


# --------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--history", type=Path, metavar="PATH",
                     help="history database (default: OUTPUT/history.sqlite)")
    run.add_argument("--no-history", action="store_true", help="do not record this run in the history")
    run.add_argument("--history-timeout", type=float, default=history.BUSY_TIMEOUT_S, metavar="SECONDS",
                     help="how long to wait for another run's write to the history (default 30)")
    run.add_argument("--waivers", type=Path, metavar="PATH",
                     help="waivers file (default: waivers.yaml next to the inventory, when it exists)")
    run.add_argument("--no-waivers", action="store_true",
                     help="apply no waivers, not even the waivers.yaml next to the inventory")
    run.add_argument("--baseline", metavar="RUN",
                     help="compare with a baseline: last/previous (the newest recorded run), a run id, "
                          "or a run folder")
    run.add_argument("--fail-on", choices=("any", "new"), default="any",
                     help="any (default): exit codes as usual; new: non-zero only for regressions "
                          "against --baseline")
    run.add_argument("--quiet", action="store_true",
                     help="print only regressions (with a baseline) or fails and errors; nothing when "
                          "all is well")
    run.add_argument("--exit-zero", action="store_true",
                     help="exit 0 whatever the findings (usage errors still exit 2); the report records "
                          "everything")
    run.add_argument("--notify", action="append", default=[], metavar="TARGET",
                     help="alert on regressions: webhook:https://… or smtp(s)://host:port?to=…&from=… "
                          "(repeatable; implies --baseline previous; default: $AUDITOR_NOTIFY, "
                          "space-separated)")
    run.add_argument("--notify-on", choices=("regression", "always"), default="regression",
                     help="regression (default): alert only when something regressed; always: every run")


def _history_arguments(parser: argparse.ArgumentParser, inherited: bool = False) -> None:
    # A subcommand's own defaults would overwrite what was given before its name
    # (`history -o X prune`), so there they are left out.
    parser.add_argument("--history", type=Path, metavar="PATH",
                        default=argparse.SUPPRESS if inherited else None,
                        help="history database (default: OUTPUT/history.sqlite)")
    parser.add_argument("-o", "--output", type=Path,
                        default=argparse.SUPPRESS if inherited else Path("reports"),
                        help="the runs' output folder, where the history lives (default: reports/)")


def add_commands(sub: Any) -> None:
    hist = sub.add_parser("history", help="list recorded runs, or one check's status and value over time")
    _history_arguments(hist)
    hist.add_argument("--check", metavar="ID", help="the series of this check, per run x host")
    hist.add_argument("--host", metavar="NAME", help="only this host (with --check)")
    hist.add_argument("--since", metavar="AGE", help="only runs since 90d, 12w, 6m, 1y or a date YYYY-MM-DD")
    hist.add_argument("--format", choices=("table", "csv", "json"), default="table")
    hist_sub = hist.add_subparsers(dest="history_command", metavar="[prune]")
    prune = hist_sub.add_parser("prune", help="delete old runs from the history (not their folders)")
    _history_arguments(prune, inherited=True)
    prune.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 400d, 56w, 13m, 1y")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be deleted")

    diff_cmd = sub.add_parser("diff", help="what changed between two runs (exit 1 when something regressed)")
    _history_arguments(diff_cmd)
    diff_cmd.add_argument("a", metavar="A", help="run id, run folder, last or previous")
    diff_cmd.add_argument("b", metavar="B", help="run id, run folder, last or previous")
    diff_cmd.add_argument("--format", choices=("text", "json"), default="text")

    sched = sub.add_parser("schedule",
                           help="print a systemd service + timer or a cron line for nightly audits")
    sched.add_argument("--print", dest="kind", required=True,
                       choices=("systemd", "systemd-service", "systemd-timer", "cron", "notify-env"),
                       help="systemd: service and timer, one after the other; or just one of them; or cron; "
                            "notify-env: the environment file with the --notify targets")
    sched.add_argument("-i", "--inventory", type=Path, default=Path("inventory.yaml"))
    sched.add_argument("-o", "--output", type=Path, default=Path("reports"))
    sched.add_argument("--user", default="auditor", help="the unprivileged user that runs the audit")
    sched.add_argument("--on-calendar", default="daily", help="systemd OnCalendar= (cron: hourly/daily/…)")
    sched.add_argument("--binary", default="", metavar="PATH",
                       help="absolute path of the auditor program the service runs (default: this one)")
    sched.add_argument("--notify", action="append", default=[], metavar="TARGET",
                       help="alert targets for the nightly run (repeatable); systemd: the unit reads "
                            "them from /etc/auditor/notify.env (--print notify-env), cron: in the cron file")
    sched.add_argument("--policy", metavar="NAME|PATH",
                       help="audit this claims file or shipped set every night "
                            "(or put policy: in the inventory)")
    sched.add_argument("--waivers", type=Path, metavar="PATH",
                       help="waivers file for the nightly run (default: waivers.yaml next to the inventory)")
    sched.add_argument("--checks-dir", type=Path, action="append", default=[], metavar="DIR",
                       help="extra checks the nightly run loads (repeatable)")
    sched.add_argument("--sign-key", type=Path, metavar="PATH",
                       help="the key that signs each nightly run's manifest (readable by --user; "
                            "default: that user's ~/.config/auditor/signing-key.pem when it exists)")


def history_path(args: argparse.Namespace) -> Path | None:
    if getattr(args, "no_history", False):
        return None
    chosen: Path | None = args.history
    return chosen if chosen else Path(args.output) / history.DEFAULT_NAME


# --------------------------------------------------------------------------
# A run
# --------------------------------------------------------------------------


@dataclass
class RunTracking:
    """What a run needs beyond auditing: created by `prepare`, used by cli.cmd_run."""

    checks: Sequence[Check]
    day: dt.date
    groups: Mapping[str, Sequence[str]]
    history_path: Path | None
    waiver_file: waivers.WaiverFile | None = None
    baseline: dict[str, Any] | None = None
    baseline_source: str | None = None
    fail_on_new: bool = False
    quiet: bool = False
    exit_zero: bool = False
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
                _warn(f"{w.source}: waiver for {w.check_id} expired on {w.expires}; it waives nothing")
            for w in applied.unused:
                _warn(f"{w.source}: waiver for {w.check_id} on {', '.join(w.hosts)} matches no result of "
                      "this run")
        if self.baseline is not None:
            keys = {c.id: c.trend_values for c in self.checks}
            drift = diff.drift(self.baseline, json_report.to_dict(report), keys,
                               restrict=not self.baseline_same_scope)
            for note in (drift.scope_note, drift.claims_note):
                if note:
                    _warn(note)
            lost = tuple(Regression(c.host, c.check_id, Status.SKIP, Status.PASS, c.summary)
                         for c in drift.coverage_lost)
            tracking = replace(tracking, baseline=drift.base, regressions=drift.regressions,
                               claim_regressions=drift.claim_regressions, coverage_lost=lost)
        regressed = bool(tracking.regressions or tracking.claim_regressions)
        wanted = self.notify_always or (self.baseline is not None and regressed)
        if self.targets and wanted and not report.complete:
            # The unfinished hosts' "not checked: interrupted" errors are not regressions.
            _warn("the run was interrupted: no alert sent")
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
                _warn(f"notification to {outcome.target} failed after {outcome.attempts} attempt(s): "
                      f"{outcome.detail}")
        return outcomes

    def _trends(self, report: RunReport) -> dict[tuple[str, str], tuple[TrendPoint, ...]]:
        earlier: dict[tuple[str, str], list[TrendPoint]] = {}
        if self.history_path is not None and self.history_path.exists():
            try:
                with history.History(self.history_path, self.history_timeout, readonly=True) as store:
                    earlier = store.trends(TREND_RUNS - 1)
            except history.HistoryError as exc:
                _warn(f"no trends in this report: {exc}")
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
            _warn(f"this run was NOT recorded in the history (its report is complete): {exc}")

    def exit_code(self, report: RunReport) -> int:
        code = exit_code(report)
        if code == EXIT_INTERRUPTED:
            return code
        if self.fail_on_new and report.tracking is not None and report.tracking.baseline is not None:
            # A claim that held and now fails counts like a new fail; one that can no longer be
            # verified (lost coverage, an error) like a new error: the promise is not shown to hold.
            regressions, claims = report.tracking.regressions, report.tracking.claim_regressions
            failed = (any(r.status is Status.FAIL for r in regressions)
                      or any(c.verdict == Status.FAIL.value for c in claims))
            code = EXIT_FAIL if failed else EXIT_HOST_ERROR if regressions or claims else EXIT_OK
        return EXIT_OK if self.exit_zero else code

    def print_quiet(self, report: RunReport, stream: TextIO) -> bool:
        """Regressions and every error (with a baseline), or fails and errors; returns whether
        anything was printed. An error that persists is still news: the control is not judged."""
        tracking = report.tracking
        lines = []
        baseline = tracking is not None and tracking.baseline is not None
        regressed = {(r.host, r.check_id) for r in tracking.regressions} if tracking is not None else set()
        if tracking is not None and baseline:
            lines = [_regression_line(r) for r in tracking.regressions]
            lines += [f"REGRESSION claim {c.claim_id}: {c.baseline_verdict} -> {c.verdict}: {c.summary}"
                      for c in tracking.claim_regressions]
            lines += [f"COVERAGE LOST {r.host} {r.check_id}: pass -> skip: {r.summary}"
                      for r in tracking.coverage_lost]
        shown = (Status.ERROR,) if baseline else (Status.FAIL, Status.ERROR)
        for host in report.hosts:
            if host.error and not (baseline and all((host.name, r.check_id) in regressed
                                                    for r in host.results)):
                lines.append(f"{host.name}: {host.error_kind}: {host.error}")
            # A host error stands for the results it kept from running, not for what the others found
            lines += [f"{host.name} {r.check_id}: {r.status.value}: {r.summary}" for r in host.own_results()
                      if r.status in shown and (host.name, r.check_id) not in regressed]
        for line in lines:
            stream.write(line + "\n")
        return bool(lines)


def _regression_line(r: Regression) -> str:
    before = r.baseline_status.value if r.baseline_status else "new"
    return f"REGRESSION {r.host} {r.check_id}: {before} -> {r.status.value}: {r.summary}"


def _warn(text: str) -> None:
    print(f"auditor: warning: {text}", file=sys.stderr)


def prepare(args: argparse.Namespace, inv: inventory.Inventory, checks: Sequence[Check],
            registry_checks: Mapping[str, Check], started: dt.datetime,
            plan: claims.Plan | None = None) -> RunTracking:
    """Read everything a run's tracking needs; refuses bad input before any host is contacted."""
    scope = history.Scope.of(args.inventory, plan.audited.policy.id if plan else None, args.host or (),
                             args.group or (), args.check or ())
    state = RunTracking(checks, started.date(), {h.name: h.groups for h in inv.hosts}, history_path(args),
                        fail_on_new=args.fail_on == "new", quiet=args.quiet, exit_zero=args.exit_zero,
                        notify_always=args.notify_on == "always", history_timeout=args.history_timeout,
                        scope=scope, planned=plan.checks_for if plan else None)
    if args.history_timeout < 0:
        raise TrackingUsageError("--history-timeout must be 0 or more seconds")
    waiver_path = args.waivers or waivers.default_path(args.inventory)
    if args.no_waivers and args.waivers:
        raise TrackingUsageError("--waivers and --no-waivers contradict each other: give one")
    if not args.no_waivers and (args.waivers or waiver_path.exists()):
        state.waiver_file = waivers.load(waiver_path, registry_checks, inv, state.day)
        for text in state.waiver_file.warnings:
            _warn(text)
    # A scheduled run's targets come from its environment file: secrets stay out of unit and ps
    wanted = args.notify or os.environ.get(schedule.NOTIFY_ENV, "").split()
    try:
        state.targets = [notify.parse_target(t) for t in wanted]
    except notify.NotifyError as exc:
        where = "" if args.notify else f" (from ${schedule.NOTIFY_ENV})"
        raise TrackingUsageError(f"{exc}{where}") from None
    source = args.baseline or ("previous" if state.targets else None)
    if args.fail_on == "new" and source is None:
        raise TrackingUsageError("--fail-on new needs --baseline (last, previous, a run id or a run folder)")
    if source is not None:
        state.baseline_source = source
        state.baseline, state.baseline_same_scope = _baseline(source, state.history_path, scope)
        if state.baseline is None:
            _warn("no earlier run in the history of this inventory and policy to compare with: this first "
                  "run counts every fail and error "
                  "(--fail-on new behaves like --fail-on any) and sends no regression alert")
            state.fail_on_new = False
    return state


def _baseline(source: str, path: Path | None, scope: history.Scope) -> tuple[dict[str, Any] | None, bool]:
    """The baseline run in report.json's shape (None: nothing recorded yet), and whether it
    audited the same scope as this run (otherwise only the results both have are compared)."""
    folder = Path(source)
    if source not in ("last", "previous") and (folder / "report.json").is_file():
        try:
            return diff.load_side(source, path), True
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


# --------------------------------------------------------------------------
# auditor history / diff / schedule
# --------------------------------------------------------------------------


def _open(args: argparse.Namespace, readonly: bool = True) -> history.History:
    path = history_path(args)
    assert path is not None
    try:
        return history.History(path, create=False, readonly=readonly)
    except history.HistoryError as exc:
        raise TrackingUsageError(str(exc)) from None


def _since(text: str | None, flag: str) -> str | None:
    if text is None:
        return None
    try:
        return history.since_to_iso(text, dt.datetime.now(dt.UTC))
    except ValueError as exc:
        raise TrackingUsageError(f"{flag}: {exc}") from None


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula (host output is hostile)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _value_text(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v, sort_keys=True)}"
                    for k, v in values.items())


def cmd_history(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if args.history_command == "prune":
        return _prune(args, out)
    since = _since(args.since, "--since")
    if args.host and not args.check:
        raise TrackingUsageError("--host needs --check ID: the run list covers every host "
                                 "(e.g. auditor history --check backups --host web1)")
    with _open(args) as store:
        try:
            if args.check:
                return _series(store, args, since, out)
            rows = store.runs(since=since)
        except history.HistoryError as exc:
            raise TrackingUsageError(str(exc)) from None
    statuses = [s.value for s in Status]
    records: list[dict[str, Any]] = [{"id": r.run_id, "started": r.started, "complete": r.complete,
                "hosts": r.totals.get("hosts", 0), **{s: r.totals.get(s, 0) for s in statuses},
                "signed": r.signed, "manifest_sha256": r.manifest_sha256, "baseline": r.baseline,
                "run_dir": r.run_dir}
               for r in rows]
    if args.format == "json":
        out.write(json.dumps(records, indent=2) + "\n")
    elif args.format == "csv":
        _csv(out, records)
    else:
        out.write(f"{'run':<24} {'started':<20} {'hosts':>5} " + " ".join(f"{s:>6}" for s in statuses)
                  + "  signed  manifest\n")
        for rec in records:
            out.write(f"{rec['id']:<24} {rec['started']:<20} {rec['hosts']:>5} "
                      + " ".join(f"{rec[s]:>6}" for s in statuses)
                      + f"  {'yes' if rec['signed'] else 'no':<6}  {(rec['manifest_sha256'] or '-')[:12]}"
                      + ("" if rec["complete"] else "  INCOMPLETE") + "\n")
        out.write(f"{len(records)} run(s)\n")
    return 0


def _series(store: history.History, args: argparse.Namespace, since: str | None, out: TextIO) -> int:
    rows = store.series(args.check, args.host, since)
    records: list[dict[str, Any]] = [
        {"run": r.run_id, "started": r.started, "host": r.host, "status": r.status.value,
         "original_status": r.original_status.value if r.original_status else None,
         "values": dict(r.key_values), "summary": r.summary} for r in rows]
    if args.format == "json":
        out.write(json.dumps(records, indent=2) + "\n")
    elif args.format == "csv":
        _csv(out, [{**rec, "values": _value_text(rec["values"])} for rec in records])
    else:
        width = max([len("host"), *(len(r["host"]) for r in records)])
        out.write(f"{'run':<24} {'started':<20} {'host':<{width}} {'status':<8} value\n")
        for rec in records:
            status = rec["status"] + (f" (was {rec['original_status']})" if rec["original_status"] else "")
            out.write(f"{rec['run']:<24} {rec['started']:<20} {rec['host']:<{width}} {status:<8} "
                      f"{_value_text(rec['values']) or '-'}\n")
        out.write(f"{len(records)} result(s) of {args.check}\n")
    return 0


def _csv(out: TextIO, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: csv_cell(v) for k, v in rec.items()})
    out.write(buffer.getvalue())


def _prune(args: argparse.Namespace, out: TextIO) -> int:
    before = _since(args.older_than, "--older-than")
    assert before is not None
    with _open(args, readonly=args.dry_run) as store:
        try:
            old, results = store.prune(before, args.dry_run)
        except history.HistoryError as exc:
            raise TrackingUsageError(str(exc)) from None
    verb = "would delete" if args.dry_run else "deleted"
    out.write(f"{verb} {len(old)} run(s) started before {before} ({results} result row(s))"
              + (" — dry run, nothing changed\n" if args.dry_run else "\n"))
    folders = [r.run_dir for r in old if Path(r.run_dir).is_dir()]
    if folders:
        out.write("their run folders are kept (evidence is yours to archive or delete); still on disk:\n")
        out.writelines(f"  {f}\n" for f in folders)
    return 0


def cmd_diff(args: argparse.Namespace, out: TextIO = sys.stdout,
             trend_keys: Mapping[str, tuple[str, ...]] | None = None) -> int:
    path = history_path(args)
    try:
        a, b = diff.load_side(args.a, path), diff.load_side(args.b, path)
    except diff.DiffError as exc:
        raise TrackingUsageError(str(exc)) from None
    if trend_keys is None:
        trend_keys = {c.id: c.trend_values for c in registry.load().checks.values()}
    result = diff.compare(a, b, trend_keys)
    if args.format == "json":
        out.write(json.dumps(diff.to_dict(result), indent=2, default=str) + "\n")
    else:
        out.write(diff.render_text(result))
    return EXIT_FAIL if result.regressed else EXIT_OK


def cmd_schedule(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        for target in args.notify:
            notify.parse_target(target)
    except notify.NotifyError as exc:
        raise TrackingUsageError(str(exc)) from None
    policy_file = None
    if args.policy is not None:
        try:
            policy_file = claims.locate(args.policy)
        except ValueError as exc:
            raise TrackingUsageError(f"--policy {args.policy}: {exc}") from None
    # A claims file by its absolute path (the service has another working directory); a shipped set by name
    by_path = policy_file is not None and Path(args.policy).expanduser().is_file()
    spec = str(policy_file.absolute()) if policy_file and by_path else args.policy
    plan = schedule.UnitPlan(args.inventory, args.output, args.user, args.on_calendar, args.binary,
                         tuple(args.notify), policy=spec, waivers=args.waivers,
                         checks_dirs=tuple(args.checks_dir), sign_key=args.sign_key)
    try:
        if args.kind == "cron":
            text = schedule.cron(plan)
        elif args.kind == "notify-env":
            if not plan.notify:
                raise TrackingUsageError("--print notify-env needs the targets: --notify TARGET (repeatable)")
            text = schedule.notify_env(plan)
        else:
            units = schedule.systemd(plan)
            wanted = {"systemd-service": ["auditor.service"], "systemd-timer": ["auditor.timer"]}
            text = "\n".join(units[name] for name in wanted.get(args.kind, list(units)))
    except schedule.UnitError as exc:
        raise TrackingUsageError(str(exc)) from None
    if args.kind in ("systemd", "systemd-service", "cron"):
        hosts = _check_scheduled_run(args, policy_file)
        if args.kind != "cron":
            for warning in schedule.service_warnings(plan, hosts, [policy_file] if policy_file else []):
                _warn(warning)
    out.write(text)
    if plan.notify and args.kind in ("systemd", "systemd-service"):
        _warn(f"the service reads its alert targets from {plan.env_file}: write it with "
              "`auditor schedule --print notify-env --notify …` and install it 0600 root")
    return 0


def _check_scheduled_run(args: argparse.Namespace, policy_file: Path | None) -> tuple[inventory.Host, ...]:
    """Load what the nightly run will load, so that a missing or broken inventory, claims file or
    waivers file is an error now (exit 2), not a failed unit at 02:17; returns the hosts."""
    if args.sign_key is not None and not args.sign_key.is_file():
        raise TrackingUsageError(f"--sign-key {args.sign_key}: no such file (make one with "
                                 f"`auditor keygen --out {args.sign_key}`)")
    loaded = registry.load(args.checks_dir)
    inv = inventory.load(args.inventory, loaded.checks)
    if policy_file is not None:
        claims.load(policy_file, loaded.checks)
    else:
        claims.from_inventory(inv, loaded.checks)
    waiver_path = args.waivers or waivers.default_path(args.inventory)
    if args.waivers or waiver_path.exists():
        for text in waivers.load(waiver_path, loaded.checks, inv).warnings:
            _warn(text)
    return inv.hosts


COMMANDS: Mapping[str, Callable[[argparse.Namespace], int]] = {
    "history": cmd_history, "diff": cmd_diff, "schedule": cmd_schedule,
}
