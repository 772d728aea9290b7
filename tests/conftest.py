"""Shared test helpers: run the real CLI in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
NO_CONFIG = Path(tempfile.gettempdir()) / f"auditor-tests-no-config-{os.getuid()}"


@dataclass
class CliResult:
    rc: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def _cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    # A developer's own signing key (~/.config/auditor) must not change what tests see.
    full_env = {**os.environ, "NO_COLOR": "1", "XDG_CONFIG_HOME": str(NO_CONFIG)}
    full_env.pop("AUDITOR_SIGNING_KEY", None)
    full_env.update(env or {})
    return full_env


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> CliResult:
    done = subprocess.run([sys.executable, "-m", "auditor", *args], cwd=cwd or REPO, env=_cli_env(env),
                          capture_output=True, text=True, timeout=timeout, check=False)
    return CliResult(done.returncode, done.stdout, done.stderr)


@contextmanager
def cli_process(*args: str) -> Iterator[subprocess.Popen[str]]:
    """The CLI running in the background (as `run_cli` runs it), for a test that signals it;
    killed by its PID when the block ends if it is still running."""
    proc = subprocess.Popen([sys.executable, "-m", "auditor", *args], cwd=REPO, env=_cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def signal_cli(proc: subprocess.Popen[str], sig: int, timeout: float) -> CliResult:
    """Send `sig` to a CLI from `cli_process` and wait at most `timeout` seconds for it to exit."""
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=timeout)
    return CliResult(proc.returncode, stdout, stderr)


@pytest.fixture
def cli():
    return run_cli


def run_folder(output: Path) -> Path:
    """The one run folder a run wrote under its output folder (which also holds history.sqlite)."""
    folders = [p for p in output.iterdir() if p.is_dir()]
    assert len(folders) == 1, f"expected one run folder in {output}, found {[p.name for p in folders]}"
    return folders[0]
