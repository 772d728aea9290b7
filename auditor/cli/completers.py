"""The completers that offer check ids, host and group names while a command line is typed,
and the hook that answers a TAB press (argcomplete's). They swallow every error: a half-typed
line must never print a traceback into the shell. The parser names them on its arguments."""

from __future__ import annotations

import argparse
import contextlib
import io
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
