"""`auditor worker`, `auditor merge` and the distributed forms of `auditor run` (--shards-out,
--dispatch): the flags become shards, sub-packs and a merge (auditor.distributed)."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from types import ModuleType

from auditor.cli.exits import EXIT_TERMINATED
from auditor.cli.run import audit_request, show_outcome, signer_of, sigterm_stops
from auditor.distributed import merge, shards, worker
from auditor.errors import UsageError
from auditor.evidence import atomic, pack, trust
from auditor.evidence.store import iso
from auditor.pipeline import load_checks, prepare
from auditor.report import console

PLAN_FILE = "plan.json"


def cmd_worker(args: argparse.Namespace) -> int:
    if args.celery:
        celery_app = _celery()
        if not args.broker or not args.segment:
            raise UsageError("--celery needs --broker redis://HOST:PORT/DB and --segment NAME")
        celery_app.serve(args.broker, args.segment, args.name, args.redeliver_after, args.checks_dir)
        return 0
    if args.shard is None or args.output is None:
        raise UsageError("give a SHARD file (or - for stdin) and -o FOLDER; or --celery")
    source = "stdin" if str(args.shard) == "-" else str(args.shard)
    try:
        text = sys.stdin.read() if source == "stdin" else args.shard.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise UsageError(f"{source}: cannot read the shard: {why}") from None
    shard = shards.read_shard(text, source)
    key = str(args.sign_key) if args.sign_key else shard.signing_key
    signer = None if args.no_sign else worker.signer_for(key)
    stop = threading.Event()
    with sigterm_stops(stop) as terminated:  # SIGTERM, like Ctrl-C, writes the partial sub-pack
        folder = worker.run_shard(shard, args.output, signer, load_checks(tuple(args.checks_dir)), args.name,
                                  args.jobs, console.Progress(), stop)
    if signer is None:
        print("auditor: note: this sub-pack is NOT signed; a merge refuses it without --allow-unsigned",
              file=sys.stderr)
    print(folder)
    return EXIT_TERMINATED if terminated.is_set() else 0


def cmd_merge(args: argparse.Namespace) -> int:
    plan = shards.read_plan(args.plan)
    request = shards.request_from_record(plan.request, args.output, signer_of(args), str(args.plan))
    try:
        started = trust.parse_instant(plan.started)
    except ValueError:
        raise UsageError(f"{args.plan}: started: not an ISO 8601 time") from None
    prepared = prepare(request, started=started, run_id=plan.run_id)
    subpacks = [merge.SubPack(pack.read(path), str(path)) for path in args.subpacks]
    signers = None if args.allow_untrusted else trust.for_verifier(args.key_fingerprint, args.trusted_signers)
    outcome = merge.merge(prepared, plan.shards, subpacks, signers, args.allow_unsigned)
    return show_outcome(args, outcome)


def cmd_run_distributed(args: argparse.Namespace) -> int:
    """--shards-out: plan and write the shards for `auditor worker`, contact no host;
    --dispatch: send them over Celery, one queue per segment, and merge what comes back."""
    request = audit_request(args, None)
    if args.shards_out:
        prepared = prepare(request, make_run_dir=False)
        plan, cut = shards.split(prepared, args.shard_size, accept_new_host_keys=args.accept_new_host_keys)
        atomic.make_folder(args.shards_out)
        for shard in cut:  # the plan last: a folder with a plan holds all its shards
            atomic.write_text(args.shards_out / f"{shard.shard_id}.json", shard.to_json() + "\n")
        atomic.write_text(args.shards_out / PLAN_FILE, plan.to_json())
        print(f"{len(cut)} shard(s) of run {plan.run_id} in {args.shards_out}; run "
              f"`auditor worker SHARD -o DIR` for each, then "
              f"`auditor merge --plan {args.shards_out / PLAN_FILE} SUBPACK... -o OUT`",
              file=sys.stderr)
        return 0
    celery_app = _celery()
    signers = trust.for_verifier(args.key_fingerprint, args.trusted_signers)
    prepared = prepare(request)
    plan, cut = shards.split(prepared, args.shard_size, accept_new_host_keys=args.accept_new_host_keys)
    def dispatched() -> None:
        print(f"run {plan.run_id}: {len(cut)} shard(s) dispatched at {iso(prepared.started)}; waiting "
              f"for them (at most {args.shard_deadline:g} s)", file=sys.stderr, flush=True)

    stop = threading.Event()
    with sigterm_stops(stop) as terminated:  # SIGTERM, like Ctrl-C, writes the merged partial report
        outcome = celery_app.dispatch(prepared, plan, cut, args.dispatch, args.shard_deadline, signers,
                                      dispatched, stop)
    return show_outcome(args, outcome, signal.SIGTERM if terminated.is_set() else signal.SIGINT)


def _celery() -> ModuleType:
    """The Celery transport, from the optional extra, loaded only when asked for."""
    try:
        return importlib.import_module("auditor.distributed.celery_app")
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith(("celery", "kombu", "redis")):
            raise
        raise UsageError("distributed runs over Celery need the celery extra: "
                         "pip install 'auditor[celery]'") from None
