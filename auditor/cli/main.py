"""`auditor COMMAND`: parse the flags, run the command, and turn every user mistake into one
line on stderr and exit code 2. Command modules are imported only when their command runs."""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence

from auditor.cli import completers
from auditor.cli import parser as flags
from auditor.cli.exits import EXIT_INTERRUPTED, EXIT_USAGE
from auditor.errors import AuditorError
from auditor.evidence.atomic import NoSpaceError
from auditor.report.visible import visible

# command -> "module:function" under auditor.cli
COMMANDS = {
    "run": "run:cmd_run",
    "list": "listing:cmd_list",
    "keygen": "evidence:cmd_keygen",
    "verify": "evidence:cmd_verify",
    "pack": "evidence:cmd_pack",
    "evaluate": "evidence:cmd_evaluate",
    "attest": "evidence:cmd_attest",
    "claims": "claims:cmd_claims",
    "history": "history:cmd_history",
    "diff": "history:cmd_diff",
    "schedule": "history:cmd_schedule",
    "worker": "worker:cmd_worker",
    "merge": "worker:cmd_merge",
    "init": "init:cmd_init",
    "schema": "init:cmd_schema",
    "completion": "completion:cmd_completion",
    "manpage": "completion:cmd_manpage",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = flags.build()
    completers.complete(parser)  # a TAB press: answers and exits
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    # `run --dispatch/--shards-out` goes past one machine: the distributed command, not cmd_run
    distributed = args.command == "run" and (args.dispatch or args.shards_out)
    module, function = ("worker:cmd_run_distributed" if distributed else COMMANDS[args.command]).split(":")
    try:
        command = getattr(importlib.import_module(f"auditor.cli.{module}"), function)
        # What the imports made lives as long as the process: the collector's full passes skip it
        # from here on (at 100 hosts they took ~160 ms of a run's CPU; ~100 ms with this).
        gc.freeze()
        return int(command(args))
    except AuditorError as exc:  # it may quote an input file's value: shown, never acted on
        print(f"auditor: error: {visible(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except NoSpaceError as exc:  # the run is incomplete: what it wrote so far is kept, never signed as whole
        print(f"auditor: error: {visible(str(exc))}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`auditor claims show x | head`): not our error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
