"""The small interface every transport implements, and the errors it may raise."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum


class HostErrorKind(StrEnum):
    """Why a host's results are missing or in doubt: a report's `error_kind` (its value, as a string)."""

    TRANSPORT = "transport"  # any other failure to talk to the host
    UNREACHABLE = "unreachable"  # no connection (refused, no route, DNS, connect timeout)
    HOST_KEY = "host-key"  # the host's key is unknown, changed, revoked or wrongly certified
    KEY_FILE = "key-file"  # a local identity file is missing, unreadable, or its passphrase is wrong
    PROTOCOL = "protocol"  # the peer does not speak SSH, or broke the protocol or the connection mid-way
    AUTHENTICATION = "authentication"  # the login was refused; or, once logged in, sudo was
    TIMEOUT = "timeout"  # a phase ran past its deadline (connect_timeout, command_timeout)
    OUTPUT_LIMIT = "output-limit"  # the host sent more than the per-host cap; the rest was not read
    INTERNAL = "internal"  # an engine bug on this host; the other hosts carry on
    INTERRUPTED = "interrupted"  # Ctrl-C before this host finished

    @property
    def before_login(self) -> bool:
        """A transport error of this kind means the run never logged in: the host was not reached."""
        return self in _BEFORE_LOGIN


_BEFORE_LOGIN = frozenset({HostErrorKind.UNREACHABLE, HostErrorKind.HOST_KEY, HostErrorKind.AUTHENTICATION,
                           HostErrorKind.KEY_FILE})


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


@dataclass(frozen=True)
class Peer:
    """The host that answered, as connected: the evidence says which machine spoke."""

    transport: str
    address: str = ""  # the address and port actually connected to (after ~/.ssh/config)
    port: int | None = None
    host_key_algorithm: str = ""  # e.g. ssh-ed25519
    host_key_sha256: str = ""  # "SHA256:<base64>", as OpenSSH prints it


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
