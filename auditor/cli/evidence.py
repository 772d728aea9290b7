"""`auditor keygen`, `verify`, `pack` and `evaluate`: signing keys, and checking, archiving and
re-judging a run's evidence."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import shlex
import sys
from pathlib import Path

from auditor.cli.exits import EXIT_FAIL, EXIT_OK, EXIT_UNTRUSTED
from auditor.engine.registry import load_checks
from auditor.errors import UsageError
from auditor.evidence import atomic, attest, pack, rejudge, signing, timestamp, trust
from auditor.report.visible import one_line
from auditor.tracking import chain


def cmd_keygen(args: argparse.Namespace) -> int:
    path = args.out or signing.default_key_path()
    if args.show:
        return _show_key(path)
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
    key = signing.generate(path, passphrase.encode() if passphrase else None)
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


def _show_key(path: Path) -> int:
    """The existing key's fingerprint and where it is; never makes one."""
    public_path = path.with_name(path.name + ".pub")
    try:
        public = signing.public_from_text(public_path.read_text(encoding="utf-8").split()[1])
    except (OSError, IndexError, UnicodeDecodeError, signing.SigningError):
        if not path.exists():
            out = "" if path == signing.default_key_path() else f" --out {shlex.quote(str(path))}"
            raise UsageError(f"no signing key at {path}; make one with `auditor keygen{out}`") from None
        passphrase = os.environ.get(signing.ENV_PASSPHRASE)
        public = signing.load(path, passphrase.encode() if passphrase else None).public_key()
    print(f"private key: {path}")
    print(f"public key:  {public_path}" + ("" if public_path.exists() else " (missing)"))
    print(f"fingerprint: {signing.fingerprint(public)}")
    return 0




def _shown(text: str) -> str:
    """Text from a pack (file names, host names, summaries) as the terminal may get it: on one
    line, by the one rule for host text (no control character, escape sequence or bidi override)."""
    return one_line(text)


def _say(line: str) -> None:
    print(_shown(line))


def _read_pack(path: Path) -> pack.PackContents:
    return pack.read(path)


def _refused(exc: pack.ArchiveRefused) -> int:
    _say(f"REFUSED  {exc}")
    print("NOT VERIFIED")
    return EXIT_FAIL


def _print_verification(result: pack.Verification, where: Path) -> None:
    # File names and run fields are the pack's words: shown (one_line), never acted on by the terminal
    for line in result.problems:
        _say(f"PROBLEM  {line}")
    for path in result.missing:
        _say(f"MISSING  {path}")
    for path in result.added:
        _say(f"ADDED    {path} (not in the manifest)")
    for line in result.altered:
        _say(f"ALTERED  {line}")
    run = result.manifest.get("run", {}) if isinstance(result.manifest.get("run"), dict) else {}
    tool = run.get("tool")
    version = tool.get("version", "?") if isinstance(tool, dict) else "?"
    _say(f"pack:      {where}")
    _say(f"run:       {run.get('id', '?')} by {run.get('operator', '?')}, {run.get('started', '?')} .. "
         f"{run.get('finished', '?')}, auditor {version}")
    _say(f"files:     {result.artefacts} listed, {len(result.missing)} missing, {len(result.added)} added, "
         f"{len(result.altered)} altered")
    for fact in result.facts():
        _say(f"{fact.name + ':':<10} {'ok' if fact.ok else 'NO'}  {fact.text}")


def _untrusted_line(result: pack.Verification) -> str:
    return f"signature valid, signer NOT trusted: {result.fingerprint} ({result.trust})"


def trust_of(args: argparse.Namespace) -> trust.TrustStore:
    """The verifier's trusted signers from --key-fingerprint / --trusted-signers (see trust.py)."""
    return trust.for_verifier(args.key_fingerprint, args.trusted_signers)


def checked(contents: pack.PackContents, args: argparse.Namespace, where: Path) -> pack.Verification:
    try:
        return pack.verify(contents, trust_of(args))
    except pack.PackError as exc:
        raise UsageError(f"{where}: {exc}") from None


def cmd_verify(args: argparse.Namespace) -> int:
    if args.chain is not None:
        return _verify_chain(args)
    if args.pack is None:
        raise UsageError("verify needs PACK (a run folder or archive), or --chain FOLDER_OR_HISTORY")
    try:
        contents = _read_pack(args.pack)
    except pack.ArchiveRefused as exc:
        return _refused(exc)
    result = checked(contents, args, args.pack)
    certificates = timestamp.load_certificates(args.tsa_cert) if args.tsa_cert else []
    stamped = timestamp.check(contents, certificates, f"--tsa-cert {args.tsa_cert}")
    if stamped is not None:
        result.extra.append(stamped)
    _print_verification(result, args.pack)
    if result.ok(allow_unsigned=args.allow_unsigned):
        print("VERIFIED")
        return EXIT_OK
    if result.untrusted_only:
        print(_untrusted_line(result))
        print("NOT VERIFIED")
        return EXIT_UNTRUSTED
    print("NOT VERIFIED")
    return EXIT_FAIL


def _verify_chain(args: argparse.Namespace) -> int:
    report = chain.walk(args.chain, trust_of(args))
    for line in report.lines():
        print(one_line(line))
    return EXIT_OK if report.ok else EXIT_FAIL


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
    try:  # what is handed over must verify where it is received: within the bounds, unambiguous
        pack.read(args.out)
    except pack.ArchiveRefused as exc:
        args.out.unlink()
        raise UsageError(_shown(f"{exc}; the archive was not kept")) from None
    print(f"{args.out}: {count} files, {args.out.stat().st_size} bytes, "
          f"SHA-256 {pack.sha256(args.out.read_bytes())}")
    if not result.signed:
        print("auditor: note: the pack is NOT signed", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    loaded = load_checks(args.checks_dir)
    try:
        contents = _read_pack(args.pack)
    except pack.ArchiveRefused as exc:  # never judged, not even with --skip-verify
        return _refused(exc)
    verification = checked(contents, args, args.pack)
    if verification.untrusted_only and not args.allow_untrusted:
        _print_verification(verification, args.pack)
        print(_untrusted_line(verification))
        print("NOT TRUSTED: not re-judging a pack whose signer you do not trust (--allow-untrusted to judge "
              "anyway; its verdicts then prove nothing about who collected them)")
        return EXIT_UNTRUSTED
    if not (verification.ok(allow_unsigned=True) or verification.untrusted_only):
        _print_verification(verification, args.pack)
        if not args.skip_verify:
            print("NOT VERIFIED: not re-judging evidence that may have been altered (--skip-verify to "
                  "judge anyway)")
            return EXIT_FAIL
    at = _moment(args.at)
    try:
        verdicts = rejudge.rejudge(contents, loaded.checks, at or dt.datetime.now(dt.UTC))
    except (pack.PackError, ValueError, KeyError, RecursionError) as exc:
        raise UsageError(_shown(f"{args.pack}: cannot read its report: {exc}")) from None
    changed = [v for v in verdicts if v.differs]
    for v in changed:
        _say(f"CHANGED  {v.host} {v.check_id}: recorded {v.recorded} -> today {v.today or 'not judged'}")
        _say(f"         recorded: {v.recorded_summary}")
        _say(f"         today:    {v.today_summary}")
    print(f"{len(verdicts) - len(changed)} of {len(verdicts)} verdicts reproduced from the evidence"
          + ("" if verification.signed else " (the pack is not signed)")
          + (f" (judged as of {args.at})" if at else ""))
    return EXIT_FAIL if changed else EXIT_OK


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return trust.parse_instant(text)
    except ValueError:
        raise UsageError(f"--at {text!r}: not a date YYYY-MM-DD or an ISO 8601 time "
                         "(e.g. 2026-11-21T10:15:00Z)") from None


def cmd_attest(args: argparse.Namespace) -> int:
    from auditor.cli.run import signer_of  # the run's key, found as `auditor run` finds it

    signer = signer_of(args)
    if signer is None:
        raise UsageError("attest signs with the run's key: give --sign-key PATH (or make one with "
                         "`auditor keygen`)")
    contents = _read_pack(args.pack)
    result = pack.verify(contents)
    if not result.intact or (result.signed and not result.signature_ok):
        _print_verification(result, args.pack)
        raise UsageError(f"{args.pack} does not verify; refusing to attest it")
    if result.signed and result.fingerprint != signer.fingerprint:
        raise UsageError(f"{args.pack} was signed by {result.fingerprint}, not by the key given "
                         f"({signer.fingerprint}); attest with the run's own key")
    statement = attest.of_pack(contents, signer)
    text = atomic.json_text(statement, where="the attestation", indent=1, sort_keys=True) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic.write_text(args.out, text)
        print(f"{args.out}: in-toto statement ({attest.PREDICATE_TYPE}) over {result.artefacts} files, "
              f"DSSE-signed by {signer.fingerprint}", file=sys.stderr)
    if not result.signed:
        print("auditor: note: the run itself is NOT signed; only the attestation is", file=sys.stderr)
    return EXIT_OK
