"""SSH through paramiko, behaving the way OpenSSH users expect, and bounded in time and memory.

ssh_config (with Include and the system-wide file: see ssh_config.py), ssh-agent, default keys,
and known_hosts with strict host-key checking, `@cert-authority` and `@revoked` (known_hosts.py):
an unknown key is refused unless the user opts in to `accept-new`, and a changed key is always
refused.

Every phase has a deadline, enforced by a watchdog that closes the connection when it passes (a
paramiko call blocked on a peer that never answers then returns at once): TCP connect, banner
and key exchange, and authentication get `connect_timeout` each; opening the channel, the exec
request, sending the script, reading the output and closing share `command_timeout`. Output is
read at most `limit` bytes per stream: past it the command is stopped, so a host that prints
without end costs its cap and paramiko's channel window, never more.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import select
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import paramiko

from auditor.transports import ssh_config
from auditor.transports.base import (
    AuthenticationFailed,
    CommandResult,
    CommandTimeout,
    HostKeyError,
    HostUnreachable,
    KeyFileError,
    Peer,
    ProtocolError,
    Transport,
    TransportError,
)
from auditor.transports.known_hosts import KnownHosts
from auditor.transports.ssh_io import _close_quietly, _drain, _Timings, _Watchdog
from auditor.transports.ssh_keys import (
    _check_key_file,
    _host_key_order,
    _HostKeyPolicy,
    _reason,
    _stamp,
    known_hosts_name,
    needs_passphrase,
)
from auditor.transports.ssh_options import SshOptions, SshTarget

# Every public name this module had before it was split, for its callers.
__all__ = [
    "SYSTEM_KNOWN_HOSTS", "SshOptions", "SshTarget", "SshTransport", "known_hosts_name",
    "needs_passphrase",
]


SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
# paramiko logs socket errors of connections we already gave up on; our errors say it better.
# --debug-log attaches its own (redacting) handler to this logger.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


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
        self._sock: Any = None
        self._jump: SshTransport | None = None
        self._peer: Peer | None = None
        self._watchdog = _Watchdog(self._kill)
        self._timings = _Timings()

    @property
    def timings(self) -> dict[str, float]:
        return dict(self._timings.phases)

    # -- connection ---------------------------------------------------------------

    def _resolved(self) -> ssh_config.Resolved:
        """Inventory values win; ssh_config fills in the rest, as `ssh` would."""
        target = self.target
        return ssh_config.resolve(target.address, self.options.ssh_config, target.port, target.user)

    def _identities(self, settings: ssh_config.Resolved) -> list[str]:
        if self.target.identity_file:
            path = os.path.expanduser(self.target.identity_file)
            if not os.path.isfile(path):
                raise KeyFileError(f"identity file {path} does not exist (the inventory's identity_file)")
            identities = [path]
        else:
            # ssh skips configured identity files that do not exist, and so do we.
            identities = [i for i in settings.identities if os.path.isfile(i)]
        for path in identities:
            _check_key_file(path, self.options.passphrase, *_stamp(path))
        return identities

    def _open_socket(self, settings: ssh_config.Resolved, proxyjump: str | None) -> Any:
        timeout = self.target.connect_timeout
        hostname, port = settings.hostname, settings.port
        if proxyjump:
            if self._depth > 5:
                raise HostUnreachable("ProxyJump chain is longer than 5 hops")
            hops = [h.strip() for h in proxyjump.split(",") if h.strip()]
            *_, last = hops
            # Jumping through "a,b" means reaching b through a: recurse on the chain.
            user, _, hostport = last.rpartition("@")
            jump_host, _, jump_port = hostport.partition(":")
            jump = SshTransport(
                SshTarget(address=jump_host, port=int(jump_port) if jump_port else None, user=user or None,
                          connect_timeout=timeout),
                self.options,
                jump_chain=",".join(hops[:-1]) or "none",
                _depth=self._depth + 1,
            )
            self._jump = jump
            jump.connect()
            assert jump._client is not None
            jump_transport = jump._client.get_transport()
            assert jump_transport is not None
            try:
                return jump_transport.open_channel(
                    "direct-tcpip", (hostname, port), ("127.0.0.1", 0), timeout=timeout
                )
            except (paramiko.SSHException, OSError) as exc:
                raise HostUnreachable(f"jump host {last} could not reach {hostname}:{port}: {exc}") from exc
        if settings.proxycommand:
            try:
                return paramiko.ProxyCommand(settings.proxycommand)
            except paramiko.SSHException as exc:
                raise HostUnreachable(f"ProxyCommand for {hostname} could not start: {exc}") from exc
        try:
            sock = socket.create_connection((hostname, port), timeout=timeout)
        except OSError as exc:
            raise HostUnreachable(f"cannot connect to {hostname}:{port}: {_reason(exc)}") from exc
        # paramiko leaves Nagle on; with it every small SSH packet waits for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def connect(self) -> None:
        try:
            self._connect()
        except TransportError:
            self.close()
            raise
        finally:
            self._watchdog.disarm()

    def _connect(self) -> None:
        timeout = self.target.connect_timeout
        settings = self._resolved()
        proxyjump = settings.proxyjump if self._jump_chain is None else (
            None if self._jump_chain == "none" else self._jump_chain)
        identities = self._identities(settings)
        known_paths = [Path(p) for p in ([self.target.known_hosts] if self.target.known_hosts
                                         else settings.user_known_hosts or ["~/.ssh/known_hosts"])]
        known_paths = [Path(os.path.expanduser(p)) for p in known_paths]
        system_paths = [Path(p) for p in settings.global_known_hosts] or [SYSTEM_KNOWN_HOSTS]
        known = KnownHosts.load(known_paths + system_paths)
        # Keys are looked up under the HostName, and a certificate must name it, as OpenSSH does.
        name = known_hosts_name(settings.hostname, settings.port)

        self._watchdog.arm("connect", timeout)
        self._sock = self._open_socket(settings, proxyjump)
        self._timings.lap("connect")

        self._watchdog.arm("handshake", timeout)
        client = paramiko.SSHClient()
        client.set_log_channel(f"paramiko.transport.{self.target.address}")

        def handshake_done() -> None:
            self._timings.lap("handshake")
            self._watchdog.arm("auth", timeout)

        client.set_missing_host_key_policy(_HostKeyPolicy(
            known, settings.hostname, known_paths[0] if self.options.accept_new_host_keys else None,
            handshake_done))
        key_types = _host_key_order(known, name)

        def transport_factory(sock: Any, **kwargs: Any) -> paramiko.Transport:
            transport = paramiko.Transport(sock, **kwargs)
            options = transport.get_security_options()
            options.key_types = key_types
            options.ciphers = _cipher_order(options.ciphers)
            return transport

        self._client = client
        # paramiko's own timeouts a little later than the watchdog's, so that ours names the phase.
        late = timeout + 1
        try:
            client.connect(
                hostname=settings.hostname, port=settings.port, username=settings.user,
                key_filename=cast(Any, identities or None), passphrase=self.options.passphrase,
                sock=self._sock,
                timeout=late, banner_timeout=late, auth_timeout=late, channel_timeout=late,
                allow_agent=True, look_for_keys=True,
                transport_factory=transport_factory,
            )
        except Exception as exc:
            raise self._connect_error(exc, settings) from exc
        self._timings.lap("auth")
        self._peer = _peer_of(client, settings.hostname, settings.port)

    @property
    def peer(self) -> Peer | None:
        return self._peer

    def _connect_error(self, exc: Exception, settings: ssh_config.Resolved) -> TransportError:
        """What a failed login means to the user, as one of our TransportErrors."""
        expired = self._watchdog.expired
        seconds = f"{self.target.connect_timeout:g} s"
        where = f"{settings.hostname}:{settings.port}"
        if expired == "handshake":
            transport = self._client.get_transport() if self._client else None
            if transport is None or not transport.remote_version:
                return CommandTimeout(f"no SSH banner from {where} within {seconds}: the port accepts "
                                      "connections but does not speak SSH (or is very slow)")
            return CommandTimeout(f"the SSH key exchange with {where} did not finish within {seconds}")
        if expired is not None:
            return CommandTimeout(f"SSH {expired} with {where} did not finish within {seconds}")
        if isinstance(exc, TransportError):
            return exc
        if isinstance(exc, paramiko.BadHostKeyException):  # not raised with our policy; kept for safety
            return HostKeyError(f"host key for {where} has CHANGED: {exc}")
        # PasswordRequiredException is a kind of AuthenticationException: test it first.
        if needs_passphrase(exc):
            return AuthenticationFailed(
                "the private key is encrypted; set AUDITOR_SSH_PASSPHRASE or run on a terminal")
        if isinstance(exc, paramiko.AuthenticationException):
            return AuthenticationFailed(f"authentication as {settings.user} failed ({exc}); check "
                                        "identity_file, ssh-agent and authorized_keys")
        text = str(exc)
        if "protocol banner" in text or "Error reading SSH protocol banner" in text:
            return ProtocolError(f"{where} does not speak SSH: {_reason(exc)}")
        if "No existing session" in text:
            return ProtocolError(f"{where} closed the connection before authentication finished")
        if isinstance(exc, paramiko.SSHException | EOFError):
            return ProtocolError(f"SSH handshake with {where} failed: {_reason(exc)}")
        if isinstance(exc, OSError):
            return HostUnreachable(f"SSH connection to {where} failed: {_reason(exc)}")
        return TransportError(f"SSH connection to {where} failed: {type(exc).__name__}: {exc}")

    # -- commands -----------------------------------------------------------------

    def run(self, command: str, stdin: bytes, timeout: float, limit: int | None = None) -> CommandResult:
        if self._client is None:
            raise TransportError("not connected")
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise ProtocolError("the SSH connection was closed by the host")
        self._watchdog.arm("channel open", timeout)
        stdout, stderr = bytearray(), bytearray()
        try:
            return self._run(transport, command, stdin, timeout, limit, stdout, stderr)
        except TransportError:
            raise
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if self._watchdog.expired:
                raise self._timed_out(timeout, stdout, stderr) from exc
            phase = self._watchdog.phase
            if isinstance(exc, EOFError) or not transport.is_active():
                raise ProtocolError(f"the host closed the connection during the {phase}") from exc
            raise ProtocolError(f"the SSH session failed during the {phase}: {_reason(exc)}") from exc
        finally:
            self._watchdog.disarm()

    def _timed_out(self, timeout: float, stdout: bytearray, stderr: bytearray) -> CommandTimeout:
        phase = self._watchdog.expired or "reading"
        what = {"channel open": "the host did not open a session channel",
                "exec request": "the host did not answer the exec request",
                "sending the script": "the host did not accept the script (its channel window stayed shut)",
                "reading output": f"the commands were still running ({len(stdout)}+{len(stderr)} bytes read)",
                "closing": "the host did not close the channel"}.get(phase, phase)
        return CommandTimeout(f"commands did not finish within {timeout:g} s: {what}")

    def _run(self, transport: paramiko.Transport, command: str, stdin: bytes, timeout: float,
             limit: int | None, stdout: bytearray, stderr: bytearray) -> CommandResult:
        channel = transport.open_session(timeout=timeout + 1)  # the watchdog's deadline comes first
        self._watchdog.step("exec request")
        channel.exec_command(command)
        self._timings.lap("exec")
        self._watchdog.step("sending the script")
        channel.sendall(stdin)
        channel.shutdown_write()
        self._watchdog.step("reading output")
        cut_at = None
        while True:
            if self._watchdog.expired:
                raise self._timed_out(timeout, stdout, stderr)
            cut_at = _drain(channel, stdout, stderr, limit)
            if cut_at is not None:
                channel.close()  # the rest is never read: the cap holds while reading
                break
            if channel.closed or not transport.is_active():
                # paramiko's exit_status_ready() is also true for a channel closed under it: an
                # orderly end has an EOF or an exit status, a dropped connection neither.
                if channel.eof_received or channel.exit_status >= 0:
                    break
                raise ProtocolError(f"the host closed the connection in the middle of the output "
                                    f"(after {len(stdout)} + {len(stderr)} bytes)")
            if channel.eof_received and not channel.recv_ready() and not channel.recv_stderr_ready():
                # After EOF paramiko keeps the fileno readable, so select() would spin:
                # wait for the exit status on its event instead.
                if channel.status_event.wait(0.5) and channel.exit_status_ready():
                    break
                continue
            # The channel's fileno is signalled for data on either stream.
            select.select([channel], [], [], 0.5)
        self._timings.lap("read")
        self._watchdog.step("closing")
        rc = channel.exit_status
        channel.close()
        return CommandResult(bytes(stdout), bytes(stderr), rc if rc >= 0 and cut_at is None else None, cut_at)

    def _kill(self) -> None:
        """From the watchdog's thread: end the connection so that whatever waits on it returns."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        if self._sock is not None:
            _close_quietly(self._sock)

    def close(self) -> None:
        self._watchdog.disarm()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._sock is not None:
            _close_quietly(self._sock)
            self._sock = None
        if self._jump is not None:
            self._jump.close()
            self._jump = None


# AES-GCM first (OpenSSH offers it too): an AEAD cipher needs no separate MAC, which paramiko
# computes and compares in Python for every packet; the others stay as paramiko orders them.
_AEAD_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _cipher_order(offered: Sequence[str]) -> tuple[str, ...]:
    return tuple(c for c in _AEAD_FIRST if c in offered) + tuple(c for c in offered if c not in _AEAD_FIRST)


def _peer_of(client: paramiko.SSHClient, hostname: str, port: int) -> Peer:
    """The address connected to and the host key that proved itself (checked against known_hosts)."""
    transport = client.get_transport()
    key = transport.get_remote_server_key() if transport is not None else None
    if key is None:
        return Peer("ssh", hostname, port)
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return Peer("ssh", hostname, port, key.get_name(), f"SHA256:{digest}")
