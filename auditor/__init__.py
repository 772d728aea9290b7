"""auditor: collects evidence that promised security controls hold on real servers.

    from auditor import AuditRequest, audit
    outcome = audit(AuditRequest(inventory=Path("fleet.yaml"), checks=("ssh_hardening",)))

`audit`, `AuditRequest` and `AuditOutcome` are loaded on first use, so importing the
package (or the command line, for `auditor --version`) stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

DEFAULT_INVENTORY = Path("inventory.yaml")  # what `auditor run` audits when given no -i
DEFAULT_OUTPUT = Path("reports")  # where run folders and the history go when given no -o

__all__ = ["DEFAULT_INVENTORY", "DEFAULT_OUTPUT", "AuditOutcome", "AuditRequest", "__version__", "audit"]

if TYPE_CHECKING:
    from auditor.pipeline import AuditOutcome, AuditRequest, audit


def __getattr__(name: str) -> Any:
    if name in ("audit", "AuditRequest", "AuditOutcome"):
        from auditor import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'auditor' has no attribute {name!r}")
