"""The small interface every transport implements, and the errors it may raise."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from auditor.model import HostErrorKind as HostErrorKind  # the vocabulary reports share, re-exported
from auditor.model import Peer as Peer


class TransportError(Exception):
    """Anything that stops the engine from talking to a host. `kind` goes in the report."""

    kind = HostErrorKind.TRANSPORT


class HostUnreachable(TransportError):
    kind = HostErrorKind.UNREACHABLE


class HostKeyError(TransportError):
    kind = HostErrorKind.HOST_KEY


class AuthenticationFailed(TransportError):
    kind = HostErrorKind.AUTHENTICATION


class CommandTimeout(TransportError):
    kind = HostErrorKind.TIMEOUT


class KeyFileError(TransportError):
    kind = HostErrorKind.KEY_FILE


class ProtocolError(TransportError):
    kind = HostErrorKind.PROTOCOL


@dataclass(frozen=True)
class CommandResult:
    stdout: bytes
    stderr: bytes
    rc: int | None
    cut_at: int | None = None  # the per-stream byte limit the output reached; the rest was never read


class Transport(ABC):
    name: str

    @property
    def peer(self) -> Peer | None:
        """Who answered the last connect() (None before one succeeded); kept after close()."""
        return None

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def run(self, command: str, stdin: bytes, timeout: float, limit: int | None = None) -> CommandResult:
        """Run `command` once with `stdin`; raise CommandTimeout past `timeout` seconds. Each of
        stdout and stderr is read up to `limit` bytes; past it the command is stopped and the
        result says where it was cut."""

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
