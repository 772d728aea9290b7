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

from auditor.errors import UsageError
from auditor.evidence import pack, rejudge, signing
from auditor.pipeline import load_checks


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


def _read_pack(path: Path) -> pack.PackContents:
    return pack.read(path)


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
    loaded = load_checks(args.checks_dir)
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
