"""The one family of errors a user sees: a mistake in what they gave auditor, never a bug.

    AuditorError
    ├── InputError    a file they wrote (inventory, claims, waivers, a pack, a history database);
    │                 the message names the file, the line and the key when there are some
    └── UsageError    a flag, or a combination of flags, that cannot work as given

The command line catches `AuditorError` once, prints `auditor: error: <message>` and exits 2.
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path


class AuditorError(Exception):
    """A mistake the user can fix; the message says what to do (exit 2)."""


class UsageError(AuditorError):
    """A flag, or a combination of flags, that cannot work as given."""


class InputError(AuditorError):
    """A mistake in an input file: `path:line: key: message` (the line and key when known).

    With one argument the message is whole and names its own subject (a pack, a database):
    `PackError(f"{path}: not a pack")`.
    """

    def __init__(self, path: Path | str, line: int | None = None, key: str = "",
                 message: str | None = None) -> None:
        if message is None:
            path, message = "", str(path)
        self.path, self.line, self.key, self.message = path, line, key, message
        where = f"{path}:{line}" if path and line else str(path)
        super().__init__(": ".join(part for part in (where, key, message) if part))


def warn(text: str) -> None:
    """A warning for the person running auditor: on stderr, never in a report."""
    print(f"auditor: warning: {text}", file=sys.stderr)
