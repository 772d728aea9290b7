"""`auditor run`: the flags become an `AuditRequest`, `audit()` does the work, and the outcome
becomes what stdout shows and the exit code."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from auditor.check import Severity, Status
from auditor.cli.exits import run_exit_code
from auditor.cli.history import signers_of
from auditor.defaults import DEFAULT_INVENTORY
from auditor.engine.runner import RunOptions
from auditor.errors import UsageError
from auditor.evidence import oscal, signing
from auditor.inputs import targets
from auditor.inventory import Host
from auditor.model import Regression, RunReport
from auditor.pipeline import AuditOutcome, AuditRequest, audit
from auditor.report import console, junit
from auditor.report.visible import json_escaped, one_line
from auditor.tracking import history
from auditor.tracking.run import TrackingOptions
from auditor.transports import debuglog
from auditor.transports.ssh_options import SshOptions

PASSPHRASE_ENV = "AUDITOR_SSH_PASSPHRASE"


def cmd_run(args: argparse.Namespace) -> int:
    progress = console.Progress()
    stop = threading.Event()
    with debuglog.enabled(args.verbose, args.debug_log), sigterm_stops(stop) as terminated:
        outcome = audit(audit_request(args, progress, stop))
    progress.finish()
    return show_outcome(args, outcome, signal.SIGTERM if terminated.is_set() else signal.SIGINT)


@contextlib.contextmanager
def sigterm_stops(stop: threading.Event) -> Iterator[threading.Event]:
    """While the block runs, SIGTERM (timeout(1), systemctl stop, docker stop, Kubernetes) sets
    `stop`, which the runner treats as Ctrl-C: no new host, a partial report, signed. It raises
    nothing, so a SIGTERM that comes while the reports are written cannot cut one in half.
    Yields an event set when SIGTERM came (Ctrl-C sets `stop` too, and exits 130, not 143)."""
    terminated = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        terminated.set()
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield terminated
    finally:
        signal.signal(signal.SIGTERM, previous)


def audit_request(args: argparse.Namespace, on_done: console.Progress | None,
                  stop: threading.Event | None = None) -> AuditRequest:
    given = targets.from_flags(args.target, args.sudo, args.identity_file)
    if given is not None and args.inventory != DEFAULT_INVENTORY:
        raise UsageError("-t names the hosts itself; drop -i/--inventory (or the -t targets)")
    return AuditRequest(
        inventory=args.inventory, inventory_format=args.inventory_format, targets=given,
        hosts=tuple(args.host), groups=tuple(args.group), checks=tuple(args.check),
        policy=args.policy, checks_dirs=tuple(args.checks_dir), output=args.output,
        fail_on=Severity(args.fail_on_severity) if args.fail_on_severity else None,
        options=RunOptions(batched=not args.no_batch, jobs=args.jobs,
                           ssh=SshOptions(accept_new_host_keys=args.accept_new_host_keys,
                                          ssh_config=args.ssh_config), stop=stop),
        tracking=tracking_options(args), signer=signer_of(args), timestamp_url=args.timestamp_url,
        ssh_passphrase=_passphrase, on_done=on_done,
    )


def show_outcome(args: argparse.Namespace, outcome: AuditOutcome,
                 stopped_by: signal.Signals = signal.SIGINT) -> int:
    """What stdout shows of a finished run, and its exit code (`stopped_by`: what stopped a run
    that did not finish)."""
    code = run_exit_code(outcome.report, args.fail_on == "new", args.exit_zero, stopped_by)
    if args.quiet:
        if print_quiet(outcome.report, sys.stdout):
            print(f"report: {outcome.run_dir / 'report.html'}", file=sys.stderr)
        return code
    if outcome.report.signer_fingerprint is None:
        print("auditor: note: this run is NOT signed (make a key with `auditor keygen`)", file=sys.stderr)
    _print(outcome, args.format, args.color)
    print(f"report: {outcome.run_dir / 'report.html'}", file=sys.stderr)
    return code


def tracking_options(args: argparse.Namespace) -> TrackingOptions:
    return TrackingOptions(
        history_file=None if args.no_history else args.history or args.output / history.DEFAULT_NAME,
        history_timeout=args.history_timeout, waivers=args.waivers, no_waivers=args.no_waivers,
        baseline=args.baseline, fail_on_new=args.fail_on == "new", notify=tuple(args.notify),
        notify_always=args.notify_on == "always", baseline_signers=signers_of(args),
        allow_untrusted_baseline=args.allow_untrusted,
    )



def _print(outcome: AuditOutcome, what: str, color: str) -> None:
    if what == "json":
        sys.stdout.write(outcome.report_json)
    elif what == "junit":
        sys.stdout.write(junit.render(outcome.report))
    elif what == "oscal":
        # as report.json is: a host's control or bidi characters reach the terminal as JSON escapes
        sys.stdout.write(json_escaped((outcome.run_dir / oscal.FILE).read_text(encoding="utf-8")))
    elif what == "csv":
        sys.stdout.flush()  # the bytes as written, CRLF line ends included (text mode would translate them)
        sys.stdout.buffer.write((outcome.run_dir / "controls.csv").read_bytes())
    elif what == "table":
        colour = color == "always" or (color == "auto" and sys.stdout.isatty()
                                       and "NO_COLOR" not in os.environ)
        console.summary(outcome.report, sys.stdout, colour)
        if outcome.verdicts is not None:
            console.policy_summary(outcome.verdicts, sys.stdout, colour)


def print_quiet(report: RunReport, stream: TextIO) -> bool:
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
        if host.error and not (baseline and all((host.name, r.check_id) in regressed for r in host.results)):
            lines.append(f"{host.name}: {host.error_kind}: {host.error}")
        # A host error stands for the results it kept from running, not for what the others found
        lines += [f"{host.name} {r.check_id}: {r.status.value}: {r.summary}" for r in host.own_results()
                  if r.status in shown and (host.name, r.check_id) not in regressed]
    for line in lines:  # summaries and errors are the host's words: shown, never acted on
        stream.write(one_line(line) + "\n")
    return bool(lines)


def _regression_line(r: Regression) -> str:
    before = r.baseline_status.value if r.baseline_status else "new"
    return f"REGRESSION {r.host} {r.check_id}: {before} -> {r.status.value}: {r.summary}"


def _passphrase(hosts: Sequence[Host]) -> str | None:
    """Ask once for a passphrase when an identity file in use is encrypted."""
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    paths = sorted({os.path.expanduser(h.identity_file) for h in hosts if h.identity_file})
    if not paths:
        return None
    import paramiko  # only to read an SSH key: a run of local hosts never loads it

    from auditor.transports.ssh import needs_passphrase

    for path in paths:
        try:
            paramiko.PKey.from_path(path)
        except Exception as exc:
            if not needs_passphrase(exc):
                continue  # unreadable or unusual keys are reported per host by the transport
            if sys.stdin.isatty():
                return getpass.getpass(f"Passphrase for {path}: ")
            return None  # the host reports the encrypted key as its error
    return None


def signer_of(args: argparse.Namespace) -> signing.Signer | None:
    """The run's signing key: --sign-key, else $AUDITOR_SIGNING_KEY, else the default file."""
    if getattr(args, "no_sign", False):
        return None
    path = args.sign_key or (Path(os.environ[signing.ENV_KEY]) if os.environ.get(signing.ENV_KEY) else None)
    if path is None:
        path = signing.default_key_path()
        if not path.exists():
            return None
    elif not path.exists():
        raise UsageError(f"signing key {path} does not exist (make one with `auditor keygen --out {path}`)")
    passphrase = os.environ.get(signing.ENV_PASSPHRASE)
    if passphrase is None and signing.needs_passphrase(path) and sys.stdin.isatty():
        passphrase = getpass.getpass(f"Passphrase for signing key {path}: ")
    return signing.Signer(signing.load(path, passphrase.encode() if passphrase else None))
