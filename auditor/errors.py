"""The one family of errors a user can cause. The command line catches `AuditorError` once
and prints it as `auditor: error: …` with exit code 2, without a traceback."""

from __future__ import annotations

import sys


class AuditorError(Exception):
    """A mistake the user can fix: a flag, a file, a folder."""


class UsageError(AuditorError):
    """A flag or argument that cannot be used as given."""


class InputError(AuditorError):
    """An input file (inventory, claims, waivers) that cannot be read as given."""


def warn(text: str) -> None:
    """A warning for the person running auditor: on stderr, never in a report."""
    print(f"auditor: warning: {text}", file=sys.stderr)
