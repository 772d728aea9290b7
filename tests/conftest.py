"""Shared test helpers: run the real CLI in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> CliResult:
    # A developer's own signing key (~/.config/auditor) must not change what tests see.
    full_env = {**os.environ, "NO_COLOR": "1", "XDG_CONFIG_HOME": str(NO_CONFIG)}
    full_env.pop("AUDITOR_SIGNING_KEY", None)
    full_env.update(env or {})
    done = subprocess.run([sys.executable, "-m", "auditor", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli():
    return run_cli


def run_folder(output: Path) -> Path:
    """The one run folder a run wrote under its output folder (which also holds history.sqlite)."""
    folders = [p for p in output.iterdir() if p.is_dir()]
    assert len(folders) == 1, f"expected one run folder in {output}, found {[p.name for p in folders]}"
    return folders[0]
