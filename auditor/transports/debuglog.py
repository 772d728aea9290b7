"""`-v` and `--debug-log FILE`: per-host phase timings, and paramiko's transport log, redacted.

-v prints each host's timings (logger `auditor.timings`) on stderr. --debug-log writes those and
paramiko's own DEBUG log (one logger per host: `paramiko.transport.<address>`) to a file, every
line passed through the evidence redaction and with the run's known secrets (the key passphrase)
masked, so the file can be attached to a bug report.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from auditor.evidence.redact import MASK, redact


class _Redacting(logging.Formatter):
    def __init__(self, fmt: str, secrets: Sequence[str]) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return redact(text)[0]


@contextlib.contextmanager
def enabled(verbose: bool, path: Path | None, secrets: Sequence[str] = ()) -> Iterator[None]:
    """Attach the handlers for the duration of one run."""
    secrets = [*secrets, *(os.environ.get(name, "") for name in ("AUDITOR_SSH_PASSPHRASE",
                                                                   "AUDITOR_SIGNING_PASSPHRASE"))]
    attached: list[tuple[logging.Logger, logging.Handler, int]] = []

    def attach(logger: logging.Logger, handler: logging.Handler, level: int) -> None:
        attached.append((logger, handler, logger.level))
        logger.addHandler(handler)
        logger.setLevel(level)

    timings = logging.getLogger("auditor.timings")
    if verbose:
        console = logging.StreamHandler()
        console.setFormatter(_Redacting("auditor: %(message)s", secrets))
        attach(timings, console, logging.INFO)
    if path is not None:
        file_handler = logging.FileHandler(path, mode="w", encoding="utf-8")
        os.chmod(path, 0o600)
        file_handler.setFormatter(_Redacting("%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s",
                                             secrets))
        attach(timings, file_handler, logging.INFO)
        attach(logging.getLogger("paramiko"), file_handler, logging.DEBUG)
    try:
        yield
    finally:
        for logger, handler, level in attached:
            logger.removeHandler(handler)
            logger.setLevel(level)
            if isinstance(handler, logging.FileHandler):
                handler.close()
