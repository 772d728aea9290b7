"""`auditor completion bash|zsh|fish` and `auditor manpage`, both generated from the parser, and
the completers that offer check ids, host and group names while a command line is typed.

Completion is argcomplete's: one source for bash, zsh and fish (shtab has no fish), and its
completers read the checks and the inventory named on the line being completed. Each TAB runs
`auditor` with argcomplete's variables set; `cli.main` answers before parsing. The completers
swallow every error: a half-typed line must never print a traceback into the shell.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "fish")


def check_ids(parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    with contextlib.suppress(Exception), contextlib.redirect_stderr(io.StringIO()):
        from auditor.engine import registry

        return sorted(registry.load(getattr(parsed_args, "checks_dir", None) or ()).checks)
    return []


def _inventory(parsed_args: argparse.Namespace) -> Any:
    from auditor.defaults import DEFAULT_INVENTORY
    from auditor.engine import registry
    from auditor.inputs import load_inventory

    checks = registry.load(getattr(parsed_args, "checks_dir", None) or ()).checks
    return load_inventory(Path(getattr(parsed_args, "inventory", None) or DEFAULT_INVENTORY), checks,
                          getattr(parsed_args, "inventory_format", "auto"))


def host_names(parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    with contextlib.suppress(Exception), contextlib.redirect_stderr(io.StringIO()):
        return [h.name for h in _inventory(parsed_args).hosts]
    return []


def group_names(parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    with contextlib.suppress(Exception), contextlib.redirect_stderr(io.StringIO()):
        return list(_inventory(parsed_args).groups)
    return []


def policy_names(**_: Any) -> list[str]:
    with contextlib.suppress(Exception):
        from auditor.policy import claims

        return sorted(claims.shipped())
    return []


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer a TAB press and exit, when the shell asked (argcomplete's variables are set)."""
    import os

    if "_ARGCOMPLETE" in os.environ:
        import argcomplete

        argcomplete.autocomplete(parser)


def cmd_completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["auditor"], shell=args.shell))
    return 0


def cmd_manpage(args: argparse.Namespace) -> int:
    from argparse_manpage.manpage import Manpage

    from auditor.cli import parser as flags
    from auditor.defaults import __version__

    page = Manpage(flags.build())
    page.source, page.manual = f"auditor {__version__}", "auditor manual"
    sys.stdout.write(str(page))
    return 0
