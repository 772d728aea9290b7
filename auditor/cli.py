"""Command line: `auditor run`, `auditor list`.

Exit codes: 0 every result pass/skip/manual; 1 at least one fail; 2 usage or inventory
error; 3 a host unreachable or a result error, and no fail; 130 interrupted (a partial
report marked incomplete is still written).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import paramiko

from auditor import __version__, inventory, registry, runner
from auditor.check import Check
from auditor.model import EXIT_USAGE, CheckInfo, RunReport, exit_code
from auditor.report import catalogue, console, html, json_report, junit
from auditor.transports.ssh import SshOptions, needs_passphrase

DEFAULT_INVENTORY = Path("inventory.yaml")
PASSPHRASE_ENV = "AUDITOR_SSH_PASSPHRASE"


class UsageError(Exception):
    """A mistake on the command line or in an input file; printed without a traceback."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditor",
        description="Collect evidence that promised security controls hold on your servers.",
        epilog="exit codes: 0 all pass/skip/manual, 1 a check failed, 2 usage or inventory "
               "error, 3 a host unreachable or a result error, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-i", "--inventory", type=Path, default=DEFAULT_INVENTORY,
                        help="inventory file (default: ./inventory.yaml)")
    common.add_argument("--checks-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="also load check modules (*.py) from DIR; may be repeated")

    run = sub.add_parser("run", parents=[common], help="audit hosts and write a report")
    run.add_argument("--host", action="append", default=[], help="only this host (repeatable)")
    run.add_argument("--group", action="append", default=[], help="only hosts of this group (repeatable)")
    run.add_argument("--check", action="append", default=[], help="only this check id (repeatable)")
    run.add_argument("-o", "--output", type=Path, default=Path("reports"),
                     help="folder that receives the run folder (default: reports/)")
    run.add_argument("--format", choices=("table", "json", "junit", "none"), default="table",
                     help="what to print on stdout (the run folder always gets all reports)")
    run.add_argument("-j", "--jobs", type=int, default=16, help="hosts audited at once (default 16)")
    run.add_argument("--no-batch", action="store_true",
                     help="one SSH exec per probe instead of one per host (slow; for benchmarks)")
    run.add_argument("--accept-new-host-keys", action="store_true",
                     help="add unknown host keys to known_hosts, like OpenSSH's accept-new; "
                          "a changed key is still refused")
    run.add_argument("--ssh-config", type=Path, help="ssh config file (default: ~/.ssh/config)")
    run.add_argument("--color", choices=("auto", "always", "never"), default="auto")

    lst = sub.add_parser("list", parents=[common], help="list checks (or hosts with --hosts)")
    lst.add_argument("--hosts", action="store_true", help="list the inventory's hosts instead")
    lst.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                     help="markdown prints the check catalogue as docs/checks.md holds it")
    return parser


def _load_registry(checks_dirs: Sequence[Path]) -> registry.Registry:
    loaded = registry.load(checks_dirs)
    for error in loaded.errors:
        print(f"auditor: warning: check not loaded: {error}", file=sys.stderr)
    return loaded


def _select_checks(loaded: registry.Registry, ids: Sequence[str]) -> list[Check]:
    try:
        return loaded.select(ids)
    except KeyError as exc:
        raise UsageError(f"unknown check id {exc.args[0]} (see `auditor list`)") from None


def _passphrase(hosts: Sequence[inventory.Host]) -> str | None:
    """Ask once for a passphrase when an identity file in use is encrypted."""
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    for path in sorted({os.path.expanduser(h.identity_file) for h in hosts if h.identity_file}):
        try:
            paramiko.PKey.from_path(path)
        except Exception as exc:
            if not needs_passphrase(exc):
                continue  # unreadable or unusual keys are reported per host by the transport
            if sys.stdin.isatty():
                return getpass.getpass(f"Passphrase for {path}: ")
            return None  # the host reports the encrypted key as its error
    return None


def cmd_run(args: argparse.Namespace) -> int:
    loaded = _load_registry(args.checks_dir)
    checks = _select_checks(loaded, args.check)
    inv = inventory.load(args.inventory, loaded.checks)
    hosts = inv.select(args.host, args.group)
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    started = _utc_now()
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    run_dir = args.output / run_id
    try:
        run_dir.mkdir(parents=True, mode=0o750)
    except OSError as exc:
        raise UsageError(f"cannot create the run folder {run_dir}: {exc.strerror}") from None
    options = runner.RunOptions(
        batched=not args.no_batch,
        jobs=args.jobs,
        ssh=SshOptions(accept_new_host_keys=args.accept_new_host_keys, ssh_config=args.ssh_config,
                       passphrase=_passphrase(hosts)),
    )
    progress = console.Progress()
    results, complete = runner.run(hosts, checks, run_dir, options, on_done=progress)
    progress.finish()
    report = RunReport(
        run_id=run_id,
        started=_iso(started),
        finished=_iso(_utc_now()),
        tool_version=__version__,
        operator=f"{getpass.getuser()}@{socket.gethostname()}",
        inventory_path=str(args.inventory),
        inventory_sha256=inv.sha256,
        checks=tuple(CheckInfo(c.id, c.title, c.claims, c.controls, c.description) for c in checks),
        hosts=tuple(results),
        complete=complete,
        batched=options.batched,
    )
    write_reports(report, run_dir)
    if args.format == "json":
        sys.stdout.write(json_report.render(report))
    elif args.format == "junit":
        sys.stdout.write(junit.render(report))
    elif args.format == "table":
        colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty()
                                            and "NO_COLOR" not in os.environ)
        console.summary(report, sys.stdout, colour)
    print(f"report: {run_dir / 'report.html'}", file=sys.stderr)
    return exit_code(report)


def write_reports(report: RunReport, run_dir: Path) -> None:
    (run_dir / "report.json").write_text(json_report.render(report), encoding="utf-8")
    (run_dir / "junit.xml").write_text(junit.render(report), encoding="utf-8")
    (run_dir / "report.html").write_text(html.render(report), encoding="utf-8")


def cmd_list(args: argparse.Namespace) -> int:
    loaded = _load_registry(args.checks_dir)
    if args.hosts:
        inv = inventory.load(args.inventory, loaded.checks)
        if args.format == "json":
            print(json.dumps([{"name": h.name, "address": h.address, "transport": h.transport,
                               "port": h.port, "user": h.user, "groups": list(h.groups)}
                              for h in inv.hosts], indent=2))
            return 0
        for h in inv.hosts:
            user = f"{h.user}@" if h.user else ""
            port = f":{h.port}" if h.port else ""
            target = "local" if h.transport == "local" else f"{user}{h.address}{port}"
            print(f"{h.name:<24} {target:<32} groups: {','.join(h.groups) or '-'}")
        return 0
    checks = [loaded.checks[i] for i in sorted(loaded.checks)]
    if args.format == "markdown":
        print(catalogue.render(checks), end="")
        return 0
    if args.format == "json":
        print(json.dumps([{
            "id": c.id, "title": c.title, "claims": list(c.claims), "controls": list(c.controls),
            "params": [{"name": p.name, "type": p.type_name(), "default": p.default, "doc": p.doc}
                       for p in c.params],
            "description": c.description, "source": c.source,
        } for c in checks], indent=2))
        return 0
    for c in checks:
        print(f"{c.id}  —  {c.title}")
        print(f"    claims: {', '.join(c.claims)}")
        print(f"    controls: {', '.join(c.controls)}")
        for p in c.params:
            print(f"    param {p.name} ({p.type_name()}, default {p.default!r}): {p.doc}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(cmd_run(args) if args.command == "run" else cmd_list(args))
    except (UsageError, inventory.InventoryError) as exc:
        print(f"auditor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return 130
