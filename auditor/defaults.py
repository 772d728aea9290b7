"""The tool's version and the defaults every entry point shares (one place for each)."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

DEFAULT_INVENTORY = Path("inventory.yaml")  # what `auditor run` audits when given no -i
DEFAULT_OUTPUT = Path("reports")  # where run folders and the history go when given no -o
# The signing key and its passphrase from the environment (auditor.evidence.signing reads them);
# here so that the command line's help names them without loading the cryptography.
SIGNING_KEY_ENV = "AUDITOR_SIGNING_KEY"
SIGNING_PASSPHRASE_ENV = "AUDITOR_SIGNING_PASSPHRASE"
