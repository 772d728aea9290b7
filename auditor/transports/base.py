"""The small interface every transport implements, and the errors it may raise."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


class TransportError(Exception):
    """Anything that stops the engine from talking to a host. `kind` goes in the report."""

    kind = "transport"


class HostUnreachable(TransportError):
    kind = "unreachable"


class HostKeyError(TransportError):
    kind = "host-key"


class AuthenticationFailed(TransportError):
    kind = "authentication"


class CommandTimeout(TransportError):
    kind = "timeout"


@dataclass(frozen=True)
class CommandResult:
    stdout: bytes
    stderr: bytes
    rc: int | None


class Transport(ABC):
    name: str

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def run(self, command: str, stdin: bytes, timeout: float) -> CommandResult:
        """Run `command` once with `stdin`; raise CommandTimeout past `timeout` seconds."""

    @abstractmethod
    def close(self) -> None: ...

    def abort(self) -> None:
        """Stop whatever is running now, from another thread (used on Ctrl-C)."""
        self.close()

    def __enter__(self) -> Transport:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
