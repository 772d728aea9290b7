"""`auditor claims show` and `claims extract`: the shipped claim sets, a claims file's
claims, and a draft claims file from a privacy policy's text."""

from __future__ import annotations

import argparse
import json
import sys

from auditor.cli.exits import EXIT_USAGE
from auditor.engine.registry import load_checks
from auditor.errors import InputError, UsageError
from auditor.model import ALL
from auditor.policy import claims
from auditor.report.visible import one_line


def _show_claims(args: argparse.Namespace) -> int:
    loaded = load_checks(args.checks_dir)
    if args.policy is None:
        broken = 0
        for set_id, path in claims.shipped().items():
            try:
                listed = claims.load(path, loaded.checks)
            except InputError as exc:  # one broken set must not hide the others
                print(f"auditor: error: {exc}", file=sys.stderr)
                broken += 1
                continue
            print(f"{set_id:<16} {len(listed.claims):>3} claims  {listed.title}")
        return EXIT_USAGE if broken else 0
    try:
        shown = claims.load(claims.locate(args.policy), loaded.checks)
    except ValueError as exc:
        raise UsageError(f"{args.policy}: {exc}") from None
    # The claims file's words: shown (one_line), never acted on by the terminal
    print(one_line(f"{shown.id}: {shown.title}" + (f" ({shown.document})" if shown.document else "")))
    print(f"file: {one_line(str(shown.path))}")
    for claim in shown.claims:
        print("\n" + one_line(claim.id + ("" if claim.applies_to == (ALL,) else
                                          f"  (applies to {', '.join(claim.applies_to)})")))
        print(f"  quote: {one_line(claim.quote)}")
        if claim.gloss:
            print(f"  gloss: {one_line(claim.gloss)}")
        for check_id, params in claim.checks.items():
            shown_params = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in params.items())
            print(one_line(f"  check: {check_id}" + (f" ({shown_params})" if shown_params else "")))
        if claim.manual:
            print(f"  manual: {one_line(claim.manual)}")
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
            # "x": a reviewed draft is never replaced by a fresh one unless --force says so
            with args.out.open("w" if args.force else "x", encoding="utf-8") as out:
                out.write(draft)
        except FileExistsError:
            raise UsageError(f"-o {args.out}: the file exists (a draft you may have reviewed); "
                             "pass --force to overwrite it, or name another file") from None
        except OSError as exc:
            raise UsageError(f"-o {args.out}: cannot write the draft: {exc.strerror or exc}; "
                             "name a file in an existing, writable folder") from None
        print(f"draft claims file: {args.out} (review every claim before auditing with it)", file=sys.stderr)
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    return _extract_claims(args) if args.claims_command == "extract" else _show_claims(args)
