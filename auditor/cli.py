"""Command line: `auditor run`, `list`, `keygen`, `verify`, `pack`, `evaluate`, `claims`.

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
import shlex
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import paramiko

from auditor import __version__, inventory
from auditor.check import Check
from auditor.engine import registry, runner
from auditor.evidence import pack, rejudge, signing
from auditor.model import ALL, EXIT_USAGE, CheckInfo, Policy, RunReport
from auditor.policy import claims
from auditor.policy import verdicts as claim_verdicts
from auditor.report import catalogue, console, controls_csv, html, json_report, junit
from auditor.tracking import run as tracking_run
from auditor.transports.ssh import SshOptions, needs_passphrase

DEFAULT_INVENTORY = Path("inventory.yaml")
PASSPHRASE_ENV = "AUDITOR_SSH_PASSPHRASE"


class UsageError(Exception):
    """A mistake on the command line or in an input file; printed without a traceback."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: an unknown flag is refused with the subcommand's own usage
    (argparse would hand it up to the top-level parser, whose usage lists only COMMAND)."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditor",
        description="Collect evidence that promised security controls hold on your servers.",
        epilog="exit codes: 0 all pass/skip/manual, 1 a check failed, 2 usage or inventory "
               "error, 3 a host unreachable or a result error, 130 interrupted; with --fail-on new 1 and 3 "
               "count only regressions against --baseline; --exit-zero makes all but 2 exit 0",
    )
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)

    common = _CommandParser(add_help=False)  # a parent only: typed like the parsers it feeds
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
    run.add_argument("--format", choices=("table", "json", "junit", "csv", "none"), default="table",
                     help="what to print on stdout (the run folder always gets all reports); "
                          "csv: the ISO 27001 controls matrix")
    run.add_argument("--policy", metavar="NAME|PATH",
                     help="audit a claims file: a shipped set (`auditor claims show`) or a path; "
                          "overrides the inventory's policy:")
    run.add_argument("-j", "--jobs", type=int, default=16, help="hosts audited at once (default 16)")
    run.add_argument("--no-batch", action="store_true",
                     help="one SSH exec per probe instead of one per host (slow; for benchmarks)")
    run.add_argument("--accept-new-host-keys", action="store_true",
                     help="add unknown host keys to known_hosts, like OpenSSH's accept-new; "
                          "a changed key is still refused")
    run.add_argument("--ssh-config", type=Path, help="ssh config file (default: ~/.ssh/config)")
    run.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    signing_group = run.add_mutually_exclusive_group()
    signing_group.add_argument("--sign-key", type=Path, metavar="PATH",
                               help=f"sign the run's manifest with this key (default: ${signing.ENV_KEY}, "
                                    "else ~/.config/auditor/signing-key.pem when it exists)")
    signing_group.add_argument("--no-sign", action="store_true", help="do not sign, even if a key is set up")
    tracking_run.add_run_arguments(run)

    lst = sub.add_parser("list", parents=[common], help="list checks (or hosts with --hosts)")
    lst.add_argument("--hosts", action="store_true", help="list the inventory's hosts instead")
    lst.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                     help="markdown prints the check catalogue as docs/checks.md holds it")

    keygen = sub.add_parser("keygen", help="make an Ed25519 key that signs evidence packs")
    keygen.add_argument("--out", type=Path, default=None,
                        help="private key file (default: ~/.config/auditor/signing-key.pem); "
                             "the public key goes to PATH.pub")
    keygen.add_argument("--passphrase", action="store_true",
                        help=f"encrypt the key: asks on the terminal, or reads ${signing.ENV_PASSPHRASE}")

    verify = sub.add_parser("verify", help="check a run folder or pack archive: hashes and signature")
    verify.add_argument("pack", type=Path, metavar="PACK", help="run folder, .tar.gz or .zip")
    verify.add_argument("--key-fingerprint", metavar="SHA256:...",
                        help="accept only a signature by this key (as `auditor keygen` printed it)")
    verify.add_argument("--allow-unsigned", action="store_true",
                        help="accept an unsigned pack whose hashes all match")

    pack_cmd = sub.add_parser("pack", help="archive a run folder for hand-over (reproducible bytes)")
    pack_cmd.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    pack_cmd.add_argument("-o", "--out", type=Path, required=True, help="archive to write (.tar.gz or .zip)")
    pack_cmd.add_argument("--zip", action="store_true", help="write a zip instead of a tar.gz")

    evaluate = sub.add_parser("evaluate", parents=[common],
                              help="re-judge a pack's evidence with today's checks, offline")
    evaluate.add_argument("pack", type=Path, metavar="PACK", help="run folder, .tar.gz or .zip")
    evaluate.add_argument("--skip-verify", action="store_true",
                          help="judge even when the pack does not verify (its verdicts prove nothing then)")

    claims = sub.add_parser("claims", help="claims files: draft one from a policy text, or show a set")
    claims_sub = claims.add_subparsers(dest="claims_command", metavar="SUBCOMMAND", required=True)
    extract = claims_sub.add_parser("extract", help="draft a claims file from a privacy policy's text")
    extract.add_argument("text", type=Path, metavar="POLICY.txt", help="the policy as plain text (UTF-8)")
    extract.add_argument("-o", "--out", type=Path, help="write the draft here instead of stdout")
    show = claims_sub.add_parser("show", parents=[common], help="list a claims set's claims "
                                 "(without NAME|PATH: the shipped sets)")
    show.add_argument("policy", nargs="?", metavar="NAME|PATH", help="a shipped set's id, or a claims file")
    tracking_run.add_commands(sub)
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


def _signer(args: argparse.Namespace) -> signing.Signer | None:
    """The run's signing key: --sign-key, else $AUDITOR_SIGNING_KEY, else the default file."""
    if args.no_sign:
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
    try:
        return signing.Signer(signing.load(path, passphrase.encode() if passphrase else None))
    except signing.SigningError as exc:
        raise UsageError(str(exc)) from None


def _manifest_run(report: RunReport, hosts: Sequence[inventory.Host],
                  checks: Sequence[Check]) -> dict[str, object]:
    """The run metadata the manifest signs: who, when, what, with which parameters, where."""
    ran = {h.name: {r.check_id for r in h.results} for h in report.hosts}  # a policy narrows checks per host
    run: dict[str, object] = {
        "id": report.run_id,
        "started": report.started,
        "finished": report.finished,
        "complete": report.complete,
        "operator": report.operator,
        "tool": {"name": "auditor", "version": report.tool_version},
        "inventory": {"path": report.inventory_path, "sha256": report.inventory_sha256},
        "checks": [{"id": c.id, "title": c.title} for c in checks],
        "hosts": [{"name": h.name, "address": h.address, "transport": h.transport,
                   "params": {c.id: h.params_for(c) for c in checks if c.id in ran.get(h.name, ())}}
                  for h in hosts],
    }
    if report.policy is not None:  # the signed pack says which policy was audited
        run["policy"] = report.policy.policy.record()
    return run


def cmd_keygen(args: argparse.Namespace) -> int:
    path = args.out or signing.default_key_path()
    passphrase = None
    if args.passphrase:
        passphrase = os.environ.get(signing.ENV_PASSPHRASE)
        if passphrase is None:
            if not sys.stdin.isatty():
                raise UsageError(f"--passphrase needs a terminal or ${signing.ENV_PASSPHRASE}")
            passphrase = getpass.getpass("Passphrase for the new key: ")
            if passphrase != getpass.getpass("Again: "):
                raise UsageError("the passphrases differ")
        if not passphrase:
            raise UsageError("an empty passphrase encrypts nothing; leave out --passphrase instead")
    try:
        key = signing.generate(path, passphrase.encode() if passphrase else None)
    except signing.SigningError as exc:
        raise UsageError(str(exc)) from None
    print(f"private key: {path} (mode 0600{', encrypted' if passphrase else ''})")
    print(f"public key:  {path}.pub")
    print(f"fingerprint: {signing.fingerprint(key.public_key())}")
    if path == signing.default_key_path():
        print(f"auditor run signs with it by default (unless ${signing.ENV_KEY} names another key)")
    else:
        print(f"sign runs with it: auditor run --sign-key {shlex.quote(str(path))} ..., "
              f"or export {signing.ENV_KEY}={shlex.quote(str(path))}")
    print(f"check a signed run: auditor verify RUN --key-fingerprint {signing.fingerprint(key.public_key())}")
    return 0


def _read_pack(path: Path) -> pack.PackContents:
    try:
        return pack.read(path)
    except pack.PackError as exc:
        raise UsageError(str(exc)) from None


def _print_verification(result: pack.Verification, where: Path) -> None:
    for line in result.problems:
        print(f"PROBLEM  {line}")
    for path in result.missing:
        print(f"MISSING  {path}")
    for path in result.added:
        print(f"ADDED    {path} (not in the manifest)")
    for line in result.altered:
        print(f"ALTERED  {line}")
    run = result.manifest.get("run", {}) if isinstance(result.manifest.get("run"), dict) else {}
    print(f"pack:      {where}")
    print(f"run:       {run.get('id', '?')} by {run.get('operator', '?')}, {run.get('started', '?')} .. "
          f"{run.get('finished', '?')}, auditor {run.get('tool', {}).get('version', '?')}")
    print(f"files:     {result.artefacts} listed, {len(result.missing)} missing, {len(result.added)} added, "
          f"{len(result.altered)} altered")
    print(f"signature: {result.signature}")


def cmd_verify(args: argparse.Namespace) -> int:
    contents = _read_pack(args.pack)
    try:
        result = pack.verify(contents, args.key_fingerprint)
    except pack.PackError as exc:
        raise UsageError(f"{args.pack}: {exc}") from None
    _print_verification(result, args.pack)
    ok = result.ok(allow_unsigned=args.allow_unsigned)
    print("VERIFIED" if ok else "NOT VERIFIED")
    return 0 if ok else 1


def cmd_pack(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if not (run_dir / pack.MANIFEST).is_file():
        raise UsageError(f"{run_dir} is not a run folder (no {pack.MANIFEST})")
    result = pack.verify(_read_pack(run_dir))
    if result.missing or result.added or result.altered or result.problems or (
            result.signed and not result.signature_ok):
        _print_verification(result, run_dir)
        raise UsageError(f"{run_dir} does not verify; refusing to pack it")
    started = str(result.manifest.get("run", {}).get("started", ""))
    try:
        mtime = int(dt.datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp())
    except ValueError:
        mtime = 0
    count = pack.write_archive(run_dir, args.out, as_zip=args.zip, mtime=mtime)
    print(f"{args.out}: {count} files, {args.out.stat().st_size} bytes, "
          f"SHA-256 {pack.sha256(args.out.read_bytes())}")
    if not result.signed:
        print("auditor: note: the pack is NOT signed", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    loaded = _load_registry(args.checks_dir)
    contents = _read_pack(args.pack)
    try:
        verification = pack.verify(contents)
    except pack.PackError as exc:
        raise UsageError(f"{args.pack}: {exc}") from None
    if not verification.ok(allow_unsigned=True):
        _print_verification(verification, args.pack)
        if not args.skip_verify:
            print("NOT VERIFIED: not re-judging evidence that may have been altered (--skip-verify to "
                  "judge anyway)")
            return 1
    try:
        verdicts = rejudge.rejudge(contents, loaded.checks)
    except (pack.PackError, ValueError, KeyError) as exc:
        raise UsageError(f"{args.pack}: cannot read its report: {exc}") from None
    changed = [v for v in verdicts if v.differs]
    for v in changed:
        print(f"CHANGED  {v.host} {v.check_id}: recorded {v.recorded} -> today {v.today or 'not judged'}")
        print(f"         recorded: {v.recorded_summary}")
        print(f"         today:    {v.today_summary}")
    print(f"{len(verdicts) - len(changed)} of {len(verdicts)} verdicts reproduced from the evidence"
          + ("" if verification.signed else " (the pack is not signed)"))
    return 1 if changed else 0


def _policy(args: argparse.Namespace, inv: inventory.Inventory,
            loaded: registry.Registry) -> Policy | None:
    """--policy NAME|PATH, else the inventory's policy: key, else none."""
    if args.policy is None:
        return claims.from_inventory(inv, loaded.checks)
    try:
        return claims.load(claims.locate(args.policy), loaded.checks)
    except ValueError as exc:
        raise UsageError(f"--policy {args.policy}: {exc}") from None


def cmd_run(args: argparse.Namespace) -> int:
    loaded = _load_registry(args.checks_dir)
    checks = _select_checks(loaded, args.check)
    inv = inventory.load(args.inventory, loaded.checks)
    hosts = inv.select(args.host, args.group)
    audited = _policy(args, inv, loaded)
    plan = claims.plan(audited, inv, hosts, loaded.checks, args.check) if audited else None
    if plan is not None and args.check and not plan.checks:  # a run that could verify no claim
        used = sorted({check_id for claim in plan.audited.policy.claims for check_id in claim.checks})
        raise UsageError(f"--check {', '.join(args.check)} selects no check of policy "
                         f"{plan.audited.policy.id} (its checks: {', '.join(used) or 'none'}); "
                         "drop --check or name one of them")
    nothing = claims.nothing_to_verify(plan) if plan is not None else ""
    if nothing:  # no check at all, e.g. only manual claims
        raise UsageError(nothing)
    if plan is not None:  # each host runs the checks of the claims that apply to it
        for warning in plan.warnings:
            print(f"auditor: warning: {warning}", file=sys.stderr)
        hosts, checks = list(plan.hosts), list(plan.checks)
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    signer = _signer(args)
    started = _utc_now()
    tracked = tracking_run.prepare(args, inv, checks, loaded.checks, started, plan)
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

    def checks_for(host: inventory.Host) -> list[Check]:
        """The checks of the claims that apply to the host (all without a policy), minus waived ones."""
        return list(tracked.checks_for(host, plan.checks_for[host.name] if plan else checks))

    results, complete = runner.run(hosts, checks, run_dir, options, on_done=progress, checks_for=checks_for)
    progress.finish()
    report = RunReport(
        run_id=run_id,
        started=_iso(started),
        finished=_iso(_utc_now()),
        tool_version=__version__,
        operator=f"{getpass.getuser()}@{socket.gethostname()}",
        inventory_path=str(args.inventory),
        inventory_sha256=inv.sha256,
        checks=tuple(CheckInfo(c.id, c.title, c.claims, c.controls, c.description, c.trend_values)
                     for c in checks),
        hosts=tuple(results),
        complete=complete,
        batched=options.batched,
        signer_fingerprint=signer.fingerprint if signer else None,
        policy=plan.audited if plan else None,
    )
    report = tracked.finish(report, run_dir)
    verdicts = claim_verdicts.judged(report)  # final once waivers are applied; every reporter reads them
    report_json = write_reports(report, run_dir, verdicts)
    pack.write_manifest(run_dir, _manifest_run(report, hosts, checks), signer)
    tracked.record(report, run_dir)
    if args.quiet:
        if tracked.print_quiet(report, sys.stdout):
            print(f"report: {run_dir / 'report.html'}", file=sys.stderr)
        return tracked.exit_code(report)
    if signer is None:
        print("auditor: note: this run is NOT signed (make a key with `auditor keygen`)", file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(report_json)
    elif args.format == "junit":
        sys.stdout.write(junit.render(report))
    elif args.format == "csv":
        sys.stdout.flush()  # the bytes as written, CRLF line ends included (text mode would translate them)
        sys.stdout.buffer.write((run_dir / "controls.csv").read_bytes())
    elif args.format == "table":
        colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty()
                                            and "NO_COLOR" not in os.environ)
        console.summary(report, sys.stdout, colour)
        if verdicts is not None:
            console.policy_summary(verdicts, sys.stdout, colour)
    print(f"report: {run_dir / 'report.html'}", file=sys.stderr)
    return tracked.exit_code(report)


def write_reports(report: RunReport, run_dir: Path, verdicts: claim_verdicts.PolicyVerdicts | None) -> str:
    """Writes report.json, junit.xml, report.html and controls.csv; returns report.json's text."""
    report_json = json_report.render(report, verdicts)
    (run_dir / "report.json").write_text(report_json, encoding="utf-8")
    (run_dir / "junit.xml").write_text(junit.render(report), encoding="utf-8")
    matrix = claim_verdicts.controls_matrix(report, verdicts)
    (run_dir / "report.html").write_text(html.render(report, verdicts, matrix), encoding="utf-8")
    # newline="" keeps the CSV's own CRLF line ends (RFC 4180) on every platform
    with (run_dir / "controls.csv").open("w", encoding="utf-8", newline="") as out:
        out.write(controls_csv.render(matrix))
    return report_json


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


def _show_claims(args: argparse.Namespace) -> int:
    loaded = _load_registry(args.checks_dir)
    if args.policy is None:
        broken = 0
        for set_id, path in claims.shipped().items():
            try:
                listed = claims.load(path, loaded.checks)
            except inventory.InventoryError as exc:  # one broken set must not hide the others
                print(f"auditor: error: {exc}", file=sys.stderr)
                broken += 1
                continue
            print(f"{set_id:<16} {len(listed.claims):>3} claims  {listed.title}")
        return EXIT_USAGE if broken else 0
    try:
        shown = claims.load(claims.locate(args.policy), loaded.checks)
    except ValueError as exc:
        raise UsageError(f"{args.policy}: {exc}") from None
    print(f"{shown.id}: {shown.title}" + (f" ({shown.document})" if shown.document else ""))
    print(f"file: {shown.path}")
    for claim in shown.claims:
        print(f"\n{claim.id}" + ("" if claim.applies_to == (ALL,) else
                                 f"  (applies to {', '.join(claim.applies_to)})"))
        print(f"  quote: {claim.quote}")
        if claim.gloss:
            print(f"  gloss: {claim.gloss}")
        for check_id, params in claim.checks.items():
            shown_params = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in params.items())
            print(f"  check: {check_id}" + (f" ({shown_params})" if shown_params else ""))
        if claim.manual:
            print(f"  manual: {claim.manual}")
        if not claim.checks and not claim.manual:
            print("  not covered: no check and no manual note")
    for warning in shown.warnings:
        print(f"auditor: warning: {warning}", file=sys.stderr)
    return 0


def _extract_claims(args: argparse.Namespace) -> int:
    from auditor.policy import extract  # the rules are only needed by this command

    try:
        text = args.text.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{args.text}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{args.text}: cannot read it as UTF-8 text: {exc}") from None
    draft = extract.draft(text, args.text.name)
    if args.out is None:
        sys.stdout.write(draft)
    else:
        try:
            args.out.write_text(draft, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {args.out}: cannot write the draft: {exc.strerror or exc}; "
                             "name a file in an existing, writable folder") from None
        print(f"draft claims file: {args.out} (review every claim before auditing with it)", file=sys.stderr)
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    return _extract_claims(args) if args.claims_command == "extract" else _show_claims(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        commands = {"run": cmd_run, "list": cmd_list, "keygen": cmd_keygen, "verify": cmd_verify,
                    "pack": cmd_pack, "evaluate": cmd_evaluate, "claims": cmd_claims, **tracking_run.COMMANDS}
        return int(commands[args.command](args))
    except (UsageError, inventory.InventoryError, tracking_run.TrackingUsageError) as exc:
        print(f"auditor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`auditor claims show x | head`): not our error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
