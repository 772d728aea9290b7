"""`auditor history`, `diff` and `schedule`: recorded runs and series, what changed between
two runs, and the systemd units or cron line for nightly audits."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from auditor import inventory
from auditor.check import Status
from auditor.cli.exits import EXIT_FAIL, EXIT_OK, EXIT_UNTRUSTED
from auditor.engine import registry
from auditor.errors import warn
from auditor.evidence import timestamp, trust
from auditor.inputs import load_inventory
from auditor.policy import claims
from auditor.tracking import diff, history, notify, schedule, waivers
from auditor.tracking.run import TrackingUsageError
from auditor.yamlfile import suggest


def history_path(args: argparse.Namespace) -> Path | None:
    if getattr(args, "no_history", False):
        return None
    chosen: Path | None = args.history
    return chosen if chosen else Path(args.output) / history.DEFAULT_NAME


def signers_of(args: argparse.Namespace) -> trust.TrustStore | None:
    """The signers named by --key-fingerprint / --trusted-signers; None: the default trust, read
    only when a signed run folder is compared (a broken default file spoils no other run)."""
    if args.key_fingerprint or args.trusted_signers:
        return trust.for_verifier(args.key_fingerprint, args.trusted_signers)
    return None


def _open(args: argparse.Namespace, readonly: bool = True) -> history.History:
    path = history_path(args)
    assert path is not None
    return history.History(path, create=False, readonly=readonly)


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
        if args.results:
            return _population(store, args, since, out)
        if args.check:
            return _series(store, args, since, out)
        rows = store.runs(since=since)
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
    if not rows:
        known = registry.load().checks  # a retired check's recorded series is still shown above
        if args.check not in known:  # the same refusal, and exit code 2, as `run --check nosuch`
            raise TrackingUsageError(f"unknown check id {args.check}{suggest(args.check, known)} "
                                     "(see `auditor list`)")
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


def _population(store: history.History, args: argparse.Namespace, since: str | None, out: TextIO) -> int:
    if args.check or args.host:
        raise TrackingUsageError("--results lists every run x host x check; leave out --check and --host")
    records: list[dict[str, Any]] = [
        {"run": r.run_id, "started": r.started, "host": r.host, "check": r.check_id, "status": r.status,
         "original_status": r.original_status, "complete": r.complete, "policy": r.policy,
         "signer_fingerprint": r.signer_fingerprint, "manifest_sha256": r.manifest_sha256}
        for r in store.population(since)]
    if args.format == "json":
        out.write(json.dumps(records, indent=2) + "\n")
    elif args.format == "csv":
        _csv(out, records)
    else:
        for rec in records:
            out.write(f"{rec['run']:<24} {rec['host']} {rec['check']} {rec['status']} "
                      f"{(rec['manifest_sha256'] or '-')[:12]}\n")
        out.write(f"{len(records)} result(s)\n")
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
        old, results = store.prune(before, args.dry_run)
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
    signers = signers_of(args)
    try:
        a, b = (diff.load_side(side, path, signers, args.allow_untrusted) for side in (args.a, args.b))
    except diff.UntrustedSide as exc:
        print(f"auditor: error: {exc}", file=sys.stderr)
        return EXIT_UNTRUSTED
    if trend_keys is None:
        trend_keys = {c.id: c.trend_values for c in registry.load().checks.values()}
    result = diff.compare(a, b, trend_keys)
    if args.format == "json":
        out.write(json.dumps(diff.to_dict(result), indent=2, default=str) + "\n")
    else:
        out.write(diff.render_text(result))
    return EXIT_FAIL if result.regressed else EXIT_OK


def cmd_schedule(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    for target in args.notify:
        notify.parse_target(target)
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
                             checks_dirs=tuple(args.checks_dir), sign_key=args.sign_key,
                             timestamp_url=args.timestamp_url, key_fingerprints=tuple(args.key_fingerprint),
                             trusted_signers=tuple(args.trusted_signers))
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
    if args.kind in ("systemd", "systemd-service", "cron"):
        hosts = _check_scheduled_run(args, policy_file)
        if args.kind != "cron":
            for warning in schedule.service_warnings(plan, hosts, [policy_file] if policy_file else []):
                warn(warning)
    out.write(text)
    if plan.notify and args.kind in ("systemd", "systemd-service"):
        warn(f"the service reads its alert targets from {plan.env_file}: write it with "
              "`auditor schedule --print notify-env --notify …` and install it 0600 root")
    return 0


def _check_scheduled_run(args: argparse.Namespace, policy_file: Path | None) -> tuple[inventory.Host, ...]:
    """Load what the nightly run will load, so that a missing or broken inventory, claims file or
    waivers file is an error now (exit 2), not a failed unit at 02:17; returns the hosts."""
    if args.sign_key is not None and not args.sign_key.is_file():
        raise TrackingUsageError(f"--sign-key {args.sign_key}: no such file (make one with "
                                 f"`auditor keygen --out {args.sign_key}`)")
    if args.timestamp_url is not None:
        timestamp.check_url(args.timestamp_url)
    if args.key_fingerprint or args.trusted_signers:
        signers_of(args)  # a bad fingerprint or signers file is an error now, not at 02:17
    loaded = registry.load(args.checks_dir)
    inv = load_inventory(args.inventory, loaded.checks)
    if policy_file is not None:
        claims.load(policy_file, loaded.checks)
    else:
        claims.from_inventory(inv, loaded.checks)
    waiver_path = args.waivers or waivers.default_path(args.inventory)
    if args.waivers or waiver_path.exists():
        for text in waivers.load(waiver_path, loaded.checks, inv).warnings:
            warn(text)
    return inv.hosts
