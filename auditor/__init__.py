"""auditor: collects evidence that promised security controls hold on real servers.

    from auditor import AuditRequest, audit
    outcome = audit(AuditRequest(inventory=Path("fleet.yaml"), checks=("ssh_hardening",)))

`audit`, `AuditRequest` and `AuditOutcome` are loaded on first use, so importing the
package (or the command line, for `auditor --version`) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditor.defaults import DEFAULT_INVENTORY, DEFAULT_OUTPUT, __version__

__all__ = ["DEFAULT_INVENTORY", "DEFAULT_OUTPUT", "AuditOutcome", "AuditRequest", "__version__", "audit"]

if TYPE_CHECKING:
    from auditor.pipeline import AuditOutcome, AuditRequest, audit


def __getattr__(name: str) -> Any:
    if name in ("audit", "AuditRequest", "AuditOutcome"):
        from auditor import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'auditor' has no attribute {name!r}")
