"""The command line. It only translates: flags into an `AuditRequest` (or a command's
arguments), and an outcome into stdout and an exit code; `auditor.audit()`
(auditor/pipeline.py) does the work."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from auditor.cli.main import main as run_main

    return run_main(argv)
