"""The `tls` collector's connections: the time Budget, connecting and resolving, one
ClientHello exchanged, and the per-version probe (SSLv3 to TLS 1.3).
"""

from __future__ import annotations

import socket
import ssl
import time

from auditor.collectors.tls.endpoints import Endpoint, is_ip
from auditor.collectors.tls.hello import ServerAnswer, client_hello, parse_server_answer
from auditor.parsers import tls_facts as facts

RECV_LIMIT = 64 * 1024  # bytes read while waiting for a ServerHello or an HTTP header


class Budget:
    """Per-connection timeouts that never exceed the collector's overall deadline."""

    def __init__(self, per_connection: float, total: float,
                 what: str = "the collector's time budget") -> None:
        self.per_connection = per_connection
        self.deadline = time.monotonic() + total
        self.what = what

    def timeout(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0.05:
            raise TimeoutError(f"{self.what} is used up")
        return min(self.per_connection, left)

    def within(self, seconds: float, what: str) -> Budget:
        """A budget of at most `seconds` that also ends with this one."""
        inner = Budget(self.per_connection, 0.0, what)
        inner.deadline = min(self.deadline, time.monotonic() + seconds)
        if inner.deadline == self.deadline:
            inner.what = self.what
        return inner


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"timed out{': ' + str(exc) if str(exc) and str(exc) != 'timed out' else ''}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return f"{type(exc).__name__}: {exc}"


def _connect(ip: str, port: int, budget: Budget) -> socket.socket:
    timeout = budget.timeout()
    sock = socket.create_connection((ip, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(timeout)
    return sock


def resolve(host: str, port: int) -> str:
    """The IP address to connect to. IP literals are used as they are; names are resolved
    (production inventories may name hosts; tests always give IP addresses)."""
    if is_ip(host):
        return host
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return str(infos[0][4][0])


def exchange_hello(sock: socket.socket, hello: bytes) -> tuple[bytes, ServerAnswer]:
    """Send a ClientHello; read until the server's first answer is whole (or it closes)."""
    sock.sendall(hello)
    data = b""
    answer = ServerAnswer("incomplete")
    while answer.kind == "incomplete" and len(data) < RECV_LIMIT:
        chunk = sock.recv(16384)
        data += chunk
        answer = parse_server_answer(data, closed=not chunk)
    if answer.kind == "incomplete":
        answer = ServerAnswer("not_tls", detail=f"no complete TLS message in {len(data)} bytes")
    return data, answer


def probe_version(ip: str, endpoint: Endpoint, version: str, budget: Budget) -> facts.ProtocolAnswer:
    """Offer only `version`; report whether the server accepted it."""
    try:
        with _connect(ip, endpoint.port, budget) as sock:
            _, answer = exchange_hello(sock, client_hello(version, endpoint.sni))
    except (OSError, ValueError) as exc:
        return {"supported": None, "error": _error_text(exc)}
    if answer.kind == "not_tls":
        return {"supported": None, "error": f"not a TLS server: {answer.detail}"}
    supported = answer.kind in ("server_hello", "hello_retry_request") and answer.version == version
    said = {"server_hello": f"ServerHello {answer.version}",
            "hello_retry_request": f"HelloRetryRequest {answer.version}",
            "alert": f"alert {answer.alert}"}.get(answer.kind, answer.detail)
    recorded: facts.ProtocolAnswer = {"supported": supported, "answer": said}
    if answer.cipher and supported:
        recorded["cipher"] = answer.cipher
    return recorded
