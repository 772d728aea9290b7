"""Transports: how the engine reaches a host. Errors are caught once, in the runner."""

from auditor.transports.base import (
    AuthenticationFailed,
    CommandResult,
    CommandTimeout,
    HostErrorKind,
    HostKeyError,
    HostUnreachable,
    Transport,
    TransportError,
)

__all__ = [
    "AuthenticationFailed",
    "CommandResult",
    "CommandTimeout",
    "HostErrorKind",
    "HostKeyError",
    "HostUnreachable",
    "Transport",
    "TransportError",
]
