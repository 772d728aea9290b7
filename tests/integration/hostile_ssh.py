"""A hostile SSH server for tests: accepts the test key (or password) and then misbehaves.

paramiko's server side, on 127.0.0.1:<free port>, served from threads of the test process;
`stop()` (or leaving the `with` block, or `hostile_servers`' end) closes the
listener and every connection and joins the threads. The auditor reaches it the normal way:
`entry()` is an inventory host with strict host-key checking against `known_hosts`.

    with HostileSshServer(tmp_path, Behaviour.NO_EXEC_REPLY) as server:
        inventory = {"hosts": {"evil": server.entry()}}

Behaviours, each after a successful login unless said otherwise:

* NO_BANNER: accept TCP and never send the SSH banner (no login at all);
* NO_EXEC_REPLY: never answer the exec request;
* ZERO_WINDOW: answer the exec request but give the channel a window of 0 bytes, so the client
  can never send its script;
* ENDLESS: print without end (as fast as the client reads);
* HUGE: print `huge_bytes` (200 MB by default), then exit 0;
* FORGED_MARKERS: print thousands of lines that look like the batch's frame markers, then exit 0;
* ESCAPES: print terminal escape sequences, C1 controls and NUL, then exit 0;
* DISCONNECT: print 64 KiB, then drop the connection without an exit status or channel close.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PASSWORD = "hostile-test-password"  # noqa: S105 - a test server's password, on loopback only
ESCAPE_OUTPUT = b"\x1b]0;pwned\x07\x1b[2J\xc2\x9b31m\x00\x1b[31mred\x1b[0m\n"


class Behaviour(StrEnum):
    NO_BANNER = "no-banner"
    NO_EXEC_REPLY = "no-exec-reply"
    ZERO_WINDOW = "zero-window"
    ENDLESS = "endless"
    HUGE = "huge"
    FORGED_MARKERS = "forged-markers"
    ESCAPES = "escapes"
    DISCONNECT = "disconnect"


def write_ed25519_key(path: Path) -> paramiko.Ed25519Key:
    """A fresh Ed25519 private key in OpenSSH format at `path` (and its .pub)."""
    private = Ed25519PrivateKey.generate()
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    path.chmod(0o600)
    key = paramiko.Ed25519Key(filename=str(path))
    path.with_suffix(".pub").write_text(f"{key.get_name()} {key.get_base64()} hostile-test\n")
    return key


class _Server(paramiko.ServerInterface):
    def __init__(self, owner: HostileSshServer) -> None:
        self.owner = owner

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = key.asbytes() == self.owner.client_key.asbytes()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.AUTH_SUCCESSFUL if password == PASSWORD else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        behaviour = self.owner.behaviour
        if behaviour is Behaviour.NO_EXEC_REPLY:
            # This runs in the transport's thread: blocking here means no reply is ever sent.
            self.owner.stopping.wait()
            return False
        if behaviour is Behaviour.ZERO_WINDOW:
            return True  # the channel was opened with a window of 0: the client may send nothing
        self.owner.spawn(self.owner.misbehave, channel)
        return True


class HostileSshServer:
    """One misbehaving SSH server on 127.0.0.1; see the module docstring."""

    def __init__(self, workdir: Path, behaviour: Behaviour, huge_bytes: int = 200 * 10**6) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.behaviour = behaviour
        self.huge_bytes = huge_bytes
        self.host_key = write_ed25519_key(self.dir / f"host_key_{behaviour}")
        self.client_key_path = self.dir / f"client_key_{behaviour}"
        self.client_key = write_ed25519_key(self.client_key_path)
        self.stopping = threading.Event()
        self.bytes_sent = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.address, self.port = self._listener.getsockname()[:2]
        self.known_hosts = self.dir / f"known_hosts_{behaviour}"
        self.known_hosts.write_text(f"[{self.address}]:{self.port} {self.host_key.get_name()} "
                                    f"{self.host_key.get_base64()}\n")
        self._threads: list[threading.Thread] = []
        self._closables: list[Any] = []
        self._lock = threading.Lock()

    def entry(self, **overrides: Any) -> dict[str, Any]:
        """This server as an inventory host."""
        return {"address": self.address, "port": self.port, "user": "root",
                "identity_file": str(self.client_key_path), "known_hosts": str(self.known_hosts), **overrides}

    def __enter__(self) -> HostileSshServer:
        self.spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._closables.append(conn)
            if self.behaviour is Behaviour.NO_BANNER:
                continue  # hold the socket open, say nothing
            transport = paramiko.Transport(conn)
            if self.behaviour is Behaviour.ZERO_WINDOW:
                transport.default_window_size = 0  # (the constructor would raise it to the minimum)
            transport.add_server_key(self.host_key)
            with self._lock:
                self._closables.append(transport)
            try:
                transport.start_server(server=_Server(self))
            except (paramiko.SSHException, EOFError, OSError):
                continue

    def misbehave(self, channel: paramiko.Channel) -> None:
        # This thread starts before paramiko sends the exec reply: let the reply go first.
        time.sleep(0.2)
        try:
            if self.behaviour is Behaviour.ENDLESS:
                self._send(channel, None)
            elif self.behaviour is Behaviour.HUGE:
                self._send(channel, self.huge_bytes)
            elif self.behaviour is Behaviour.DISCONNECT:
                self._send(channel, 64 * 1024)
                channel.get_transport().close()  # no exit status, no channel close: the TCP just ends
                return
            elif self.behaviour is Behaviour.FORGED_MARKERS:
                fake = b"".join(b"\nAUDITOR-%032x B %d\n" % (n, n % 7) for n in range(15000))
                channel.sendall(fake)
            elif self.behaviour is Behaviour.ESCAPES:
                channel.sendall(ESCAPE_OUTPUT * 8)
                channel.sendall_stderr(ESCAPE_OUTPUT)
            channel.send_exit_status(0)
            channel.close()
        except (OSError, EOFError, paramiko.SSHException):
            return  # the client went away: that is what it should do

    def _send(self, channel: paramiko.Channel, total: int | None) -> None:
        chunk = b"x" * 65535 + b"\n"
        while not self.stopping.is_set() and (total is None or self.bytes_sent < total):
            piece = chunk if total is None else chunk[:total - self.bytes_sent]
            channel.settimeout(0.5)
            try:
                sent = channel.send(piece)
            except TimeoutError:
                continue  # the client's window is shut; try again unless stopping
            if sent == 0:
                return  # the channel is closed
            self.bytes_sent += sent

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            closables, threads = list(self._closables), list(self._threads)
        for item in closables:
            with contextlib.suppress(Exception):
                item.close()
        for thread in threads:
            thread.join(timeout=10)


@contextlib.contextmanager
def hostile_servers(workdir: Path) -> Iterator[Callable[..., HostileSshServer]]:
    """Starts hostile servers on demand (``start(Behaviour.ENDLESS)``); stops them all at the end,
    also when the block raises. Tests use it through their ``hostile_ssh`` fixture."""
    servers: list[HostileSshServer] = []

    def start(behaviour: Behaviour, **kwargs: Any) -> HostileSshServer:
        server = HostileSshServer(workdir / "hostile", behaviour, **kwargs).__enter__()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
