"""SSH through paramiko, behaving the way OpenSSH users expect.

`~/.ssh/config` (HostName, User, Port, IdentityFile, ProxyJump, ProxyCommand,
UserKnownHostsFile), ssh-agent, default keys, and known_hosts with strict host-key
checking: an unknown key is refused unless the user opts in to `accept-new`, and a
changed key is always refused.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import logging
import os
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from auditor.transports.base import (
    AuthenticationFailed,
    CommandResult,
    CommandTimeout,
    HostKeyError,
    HostUnreachable,
    Peer,
    Transport,
    TransportError,
)

SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
# paramiko logs socket errors of connections we already gave up on; our errors say it better.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False
_known_hosts_lock = threading.Lock()  # accept-new writes the file from many threads


@dataclass(frozen=True)
class SshTarget:
    """Where and how to connect, before ~/.ssh/config fills in what is not set."""

    address: str
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class SshOptions:
    accept_new_host_keys: bool = False
    ssh_config: Path | None = None  # None: ~/.ssh/config when it exists
    passphrase: str | None = None


def _load_ssh_config(path: Path | None) -> paramiko.SSHConfig:
    path = path or Path.home() / ".ssh" / "config"
    try:
        stat = path.stat()
    except OSError:
        return paramiko.SSHConfig()
    return _parsed_ssh_config(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _parsed_ssh_config(path: str, mtime_ns: int, size: int) -> paramiko.SSHConfig:
    # One parse per file version, shared by every host's lookup (lookup does not mutate it).
    return paramiko.SSHConfig.from_path(path)


class _AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """OpenSSH's StrictHostKeyChecking=accept-new: learn unknown keys, never changed ones.

    A changed key never reaches a policy: paramiko raises BadHostKeyException first.
    """

    def __init__(self, save_to: Path) -> None:
        self.save_to = save_to

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        with _known_hosts_lock:
            # Another host of this run on the same address:port may have learned it since the
            # file was loaded: write each key once, and refuse a different one like a changed key.
            learned = _file_host_keys(self.save_to).lookup(hostname)
            if learned is not None and learned.get(key.get_name()) == key:
                return
            if learned:
                raise _changed_key_error(hostname, key, self.save_to)
            self.save_to.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self.save_to.open("a") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def _file_host_keys(path: Path) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    if path.is_file():
        keys.load(str(path))
    return keys


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH files a host's key under: `host` on port 22, else `[host]:port`."""
    return host if port == 22 else f"[{host}]:{port}"


def _changed_key_error(name: str, key: paramiko.PKey, known_hosts: Path) -> HostKeyError:
    # The key may come from the system file rather than the user's.
    holder = known_hosts if _file_host_keys(known_hosts).lookup(name) else SYSTEM_KNOWN_HOSTS
    return HostKeyError(
        f"host key for {name} has CHANGED (got {key.get_name()} {key.fingerprint}); this may be an attack. "
        f"If the change is expected, remove the old key with `ssh-keygen -R {shlex.quote(name)} "
        f"-f {shlex.quote(str(holder))}` and run again (with --accept-new-host-keys to learn the new one)"
    )


class _RejectPolicy(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        fingerprint = key.fingerprint if hasattr(key, "fingerprint") else key.get_name()
        raise HostKeyError(
            f"host key for {hostname} is not in known_hosts ({key.get_name()} {fingerprint}); "
            "add it with ssh-keyscan after checking the fingerprint, "
            "or run once with --accept-new-host-keys"
        )


class SshTransport(Transport):
    name = "ssh"

    def __init__(
        self, target: SshTarget, options: SshOptions, jump_chain: str | None = None, _depth: int = 0
    ) -> None:
        self.target = target
        self.options = options
        # A jump host is reached through the hops before it in the chain, not its own config.
        self._jump_chain = jump_chain
        self._depth = _depth
        self._client: paramiko.SSHClient | None = None
        self._jump: SshTransport | None = None
        self._peer: Peer | None = None

    # -- connection ---------------------------------------------------------------

    def _resolved(self) -> dict[str, Any]:
        """Inventory values win; ~/.ssh/config fills in the rest, as `ssh` would."""
        config = _load_ssh_config(self.options.ssh_config).lookup(self.target.address)
        identity = self.target.identity_file or None
        identities = [identity] if identity else list(config.get("identityfile", []))
        return {
            "hostname": config.get("hostname", self.target.address),
            "port": self.target.port or int(config.get("port", 22)),
            "user": self.target.user or config.get("user") or _local_user(),
            "identities": [os.path.expanduser(i) for i in identities],
            "proxyjump": config.get("proxyjump"),
            "proxycommand": config.get("proxycommand"),
            "known_hosts": self.target.known_hosts
            or (config.get("userknownhostsfile") or "").split(" ")[0]
            or None,
        }

    def _open_socket(self, hostname: str, port: int, proxyjump: str | None) -> Any:
        timeout = self.target.connect_timeout
        if proxyjump and proxyjump.lower() != "none":
            if self._depth > 5:
                raise HostUnreachable("ProxyJump chain is longer than 5 hops")
            hops = [h.strip() for h in proxyjump.split(",") if h.strip()]
            *_, last = hops
            # Jumping through "a,b" means reaching b through a: recurse on the chain.
            user, _, hostport = last.rpartition("@")
            jump_host, _, jump_port = hostport.partition(":")
            jump = SshTransport(
                SshTarget(
                    address=jump_host,
                    port=int(jump_port) if jump_port else None,
                    user=user or None,
                    connect_timeout=timeout,
                ),
                self.options,
                jump_chain=",".join(hops[:-1]) or "none",
                _depth=self._depth + 1,
            )
            jump.connect()
            self._jump = jump
            assert jump._client is not None
            jump_transport = jump._client.get_transport()
            assert jump_transport is not None
            try:
                return jump_transport.open_channel(
                    "direct-tcpip", (hostname, port), ("127.0.0.1", 0), timeout=timeout
                )
            except (paramiko.SSHException, OSError) as exc:
                raise HostUnreachable(f"jump host {last} could not reach {hostname}:{port}: {exc}") from exc
        try:
            sock = socket.create_connection((hostname, port), timeout=timeout)
        except OSError as exc:
            raise HostUnreachable(f"cannot connect to {hostname}:{port}: {_reason(exc)}") from exc
        # paramiko leaves Nagle on; with it every small SSH packet waits for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def connect(self) -> None:
        settings = self._resolved()
        proxyjump = self._jump_chain or settings["proxyjump"]
        client = paramiko.SSHClient()
        known_hosts = Path(os.path.expanduser(settings["known_hosts"] or "~/.ssh/known_hosts"))
        if SYSTEM_KNOWN_HOSTS.is_file():
            client.load_system_host_keys(str(SYSTEM_KNOWN_HOSTS))
        if known_hosts.is_file():
            client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(
            _AcceptNewPolicy(known_hosts) if self.options.accept_new_host_keys else _RejectPolicy()
        )
        if settings["proxycommand"] and not (proxyjump and proxyjump.lower() != "none"):
            sock: Any = paramiko.ProxyCommand(settings["proxycommand"])
        else:
            sock = self._open_socket(settings["hostname"], settings["port"], proxyjump)
        # Keys are looked up under the name the user gave, as OpenSSH does with HostName.
        lookup_name = settings["hostname"]
        try:
            client.connect(
                hostname=lookup_name,
                port=settings["port"],
                username=settings["user"],
                key_filename=settings["identities"] or None,
                passphrase=self.options.passphrase,
                sock=sock,
                timeout=self.target.connect_timeout,
                banner_timeout=self.target.connect_timeout,
                auth_timeout=self.target.connect_timeout,
                allow_agent=True,
                look_for_keys=True,
            )
        except Exception as exc:
            client.close()
            _close_quietly(sock)
            raise _connect_error(exc, lookup_name, settings["port"], settings["user"], known_hosts) from exc
        self._client = client
        self._peer = _peer_of(client, settings["hostname"], settings["port"])

    @property
    def peer(self) -> Peer | None:
        return self._peer

    # -- commands -----------------------------------------------------------------

    def run(self, command: str, stdin: bytes, timeout: float) -> CommandResult:
        if self._client is None:
            raise TransportError("not connected")
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise HostUnreachable("SSH connection dropped")
        deadline = time.monotonic() + timeout
        try:
            channel = transport.open_session(timeout=timeout)
            channel.exec_command(command)
            channel.sendall(stdin)
            channel.shutdown_write()
            stdout, stderr = bytearray(), bytearray()
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    channel.close()
                    raise CommandTimeout(f"commands did not finish within {timeout:g} s")
                drained = not channel.recv_ready() and not channel.recv_stderr_ready()
                if drained and channel.eof_received:
                    # After EOF paramiko keeps the fileno readable, so select() would spin:
                    # wait for the exit status on its event instead.
                    if channel.status_event.wait(min(remaining, 1.0)):
                        break
                    continue
                # The channel's fileno is signalled for data on either stream.
                select.select([channel], [], [], min(remaining, 1.0))
                while channel.recv_ready():
                    stdout += channel.recv(65536)
                while channel.recv_stderr_ready():
                    stderr += channel.recv_stderr(65536)
            rc = channel.recv_exit_status()
            channel.close()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise HostUnreachable(f"SSH session failed: {_reason(exc)}") from exc
        return CommandResult(bytes(stdout), bytes(stderr), rc if rc >= 0 else None)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._jump is not None:
            self._jump.close()
            self._jump = None


def _peer_of(client: paramiko.SSHClient, hostname: str, port: int) -> Peer:
    """The address connected to and the host key that proved itself (checked against known_hosts)."""
    transport = client.get_transport()
    key = transport.get_remote_server_key() if transport is not None else None
    if key is None:
        return Peer("ssh", hostname, port)
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return Peer("ssh", hostname, port, key.get_name(), f"SHA256:{digest}")


def needs_passphrase(exc: BaseException) -> bool:
    """Whether loading a key failed only because it is encrypted and no passphrase was given.

    paramiko says PasswordRequiredException; for OpenSSH-format keys cryptography says TypeError.
    """
    if isinstance(exc, paramiko.PasswordRequiredException):
        return True
    return isinstance(exc, TypeError) and "password" in str(exc).lower()


def _connect_error(exc: Exception, host: str, port: int, user: str, known_hosts: Path) -> Exception:
    """What a failed handshake means to the user, as one of our TransportErrors."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        return _changed_key_error(known_hosts_name(host, port), exc.key, known_hosts)
    # PasswordRequiredException is a kind of AuthenticationException: test it first.
    if needs_passphrase(exc):
        return AuthenticationFailed(
            "the private key is encrypted; set AUDITOR_SSH_PASSPHRASE or run on a terminal"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return AuthenticationFailed(
            f"authentication as {user} failed ({exc}); check identity_file, ssh-agent and authorized_keys"
        )
    if isinstance(exc, paramiko.SSHException | EOFError | OSError):
        return HostUnreachable(f"SSH handshake with {host} failed: {_reason(exc)}")
    return TransportError(f"SSH connection to {host} failed: {type(exc).__name__}: {exc}")


def _local_user() -> str:
    import getpass

    return getpass.getuser()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _close_quietly(sock: Any) -> None:
    with contextlib.suppress(Exception):  # best effort on an already failed connection
        sock.close()
