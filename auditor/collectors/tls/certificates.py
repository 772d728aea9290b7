"""The `tls` collector's certificate checks: the chain the server sends and `GET /` on that
connection, verification against the system store or a `ca_file`, and plain HTTP's answer.
"""

from __future__ import annotations

import socket
import ssl

from auditor.collectors.tls.endpoints import Endpoint
from auditor.collectors.tls.network import Budget, _connect, _error_text
from auditor.parsers import tls_facts as facts

HTTP_HEAD_LIMIT = 32 * 1024
KEPT_HEADER_CHARS = 500


def _http_get(sock: socket.socket | ssl.SSLSocket, host_header: str) -> facts.HttpsAnswer:
    """`GET /`: the status line and the headers an auditor needs (no cookies, no body)."""
    request = f"GET / HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: auditor-tls\r\n" \
              "Accept: */*\r\nConnection: close\r\n\r\n"
    sock.sendall(request.encode("ascii"))
    head = b""
    while b"\r\n\r\n" not in head and len(head) < HTTP_HEAD_LIMIT:
        chunk = sock.recv(8192)
        if not chunk:
            break
        head += chunk
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status_line = lines[0][:200]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        shown = status_line[:60]
        return {"error": f"not an HTTP answer: {shown!r}" if head else "connection closed without an answer"}
    kept: dict[str, list[str]] = {"strict-transport-security": [], "location": []}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() in kept:
            kept[name.strip().lower()].append(value.strip()[:KEPT_HEADER_CHARS])
    return {"status": int(parts[1]), "status_line": status_line,
            "hsts": kept["strict-transport-security"], "location": kept["location"]}


def _host_header(endpoint: Endpoint, port: int, default_port: int) -> str:
    host = endpoint.sni or endpoint.host
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return host if port == default_port else f"{host}:{port}"


def _chain_pem(sock: ssl.SSLSocket) -> tuple[list[str], str]:
    """The certificates the server sent. Python 3.11 has no public API for an unverified
    chain; its private `_sslobj.get_unverified_chain()` (3.10+) is used when present,
    else the leaf alone."""
    chain_of = getattr(getattr(sock, "_sslobj", None), "get_unverified_chain", None)
    der_encoding = getattr(getattr(ssl, "_ssl", None), "ENCODING_DER", None)
    if callable(chain_of) and der_encoding is not None:
        try:
            ders = [c.public_bytes(der_encoding) for c in chain_of() or []]
        except (AttributeError, TypeError, ValueError, ssl.SSLError):
            ders = []  # the private API changed: the leaf alone, below
        if ders:
            return [ssl.DER_cert_to_PEM_cert(d) for d in ders], "chain as sent by the server"
    leaf = sock.getpeercert(binary_form=True)
    return ([ssl.DER_cert_to_PEM_cert(leaf)] if leaf else []), "leaf only"


def fetch(ip: str, endpoint: Endpoint, budget: Budget) -> facts.Fetched:
    """Handshake with verification off (any version, any certificate), then GET /."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("ALL:@SECLEVEL=0")  # see even a weak server's certificate
    try:
        with _connect(ip, endpoint.port, budget) as raw, \
                context.wrap_socket(raw, server_hostname=endpoint.sni) as sock:
            cipher = sock.cipher()
            chain_pem, chain_source = _chain_pem(sock)
            https: facts.HttpsAnswer
            try:
                https = _http_get(sock, _host_header(endpoint, endpoint.port, 443))
            except (OSError, ValueError) as exc:
                https = {"error": _error_text(exc)}
            return {"version": sock.version(), "cipher": cipher[0] if cipher else None,
                    "chain_pem": chain_pem, "chain_source": chain_source, "https": https}
    except (OSError, ValueError) as exc:
        return {"error": _error_text(exc)}


def verify(ip: str, endpoint: Endpoint, budget: Budget) -> facts.Verification:
    """Handshake as a browser would: chain against ca_file (or the system store), hostname."""
    try:
        context = ssl.create_default_context(cafile=endpoint.ca_file)
        # OpenSSL's default suites, not Python's narrower list (no CBC-SHA1): the suites are
        # judged from the enumeration; this handshake judges the chain.
        context.set_ciphers("DEFAULT")
    except (OSError, ssl.SSLError) as exc:
        return {"ok": None, "error": f"cannot load ca_file {endpoint.ca_file}: {_error_text(exc)}"}
    try:
        with _connect(ip, endpoint.port, budget) as raw, \
                context.wrap_socket(raw, server_hostname=endpoint.hostname):
            return {"ok": True, "trusted_by": endpoint.ca_file or "system store"}
    except ssl.SSLCertVerificationError as exc:
        return {"ok": False, "verify_code": exc.verify_code, "verify_message": exc.verify_message,
                "trusted_by": endpoint.ca_file or "system store"}
    except (OSError, ValueError) as exc:
        return {"ok": None, "error": _error_text(exc)}


def plain_http(ip: str, endpoint: Endpoint, port: int,
               budget: Budget) -> facts.PlainHttpAnswer:
    """GET / over plain HTTP, to see whether it redirects to https://."""
    try:
        with _connect(ip, port, budget) as sock:
            answer = _http_get(sock, _host_header(endpoint, port, 80))
    except ConnectionRefusedError:
        return {"port": port, "refused": True}
    except (OSError, ValueError) as exc:
        return {"port": port, "error": _error_text(exc)}
    if "error" in answer:
        return {"port": port, "error": answer["error"]}
    return {"port": port, "status": answer["status"], "status_line": answer["status_line"],
            "hsts": answer["hsts"], "location": answer["location"]}
