"""The `tls` collector: what an HTTPS endpoint offers, seen from the auditor's machine.

For each endpoint of the check's `endpoints` parameter it records, as JSON:

- `protocols`: SSLv3, TLS 1.0, 1.1, 1.2 and 1.3, each tried on its own connection with a
  ClientHello built here by hand (so the local OpenSSL, which refuses TLS 1.0/1.1, has no
  say); the server's first answer is parsed: a ServerHello (or a TLS 1.3
  HelloRetryRequest) for that version means supported; an alert, a ServerHello for
  another version or a closed connection means not. No handshake is ever completed with
  hand-made cryptography.
- `suites`: the TLS 1.0–1.2 cipher suites the server accepts, out of the CATALOGUE of
  suites named here (every weak class included), each with the highest of TLS 1.2, 1.1, 1.0
  that accepted it and, for (EC)DH suites, the DH prime's size or the named curve of the
  ServerKeyExchange; whether the server follows its own order or the client's; how many
  handshakes it took and whether it was cut short (MAX_SUITE_HANDSHAKES, SUITE_SECONDS or
  the collector's budget). See `enumerate_suites`.
- `tls`: the certificate chain the server sends (PEM, public) from a handshake with
  verification off, so even a bad certificate is seen; then, on that connection,
  `GET /` with the endpoint's Host header: status line, `Strict-Transport-Security` and
  `Location` headers only (no cookies, no body).
- `verification`: a second handshake with `ssl.create_default_context(cafile=ca_file)`
  (the system store without `ca_file`), hostname checking on: ok, or OpenSSL's verify code
  and message.
- `http`: plain HTTP `GET /` on `http_port` (default 80): status line and `Location`, or
  why there was no answer (connection refused, timeout).

Endpoint syntax (a string, or a mapping with `address` and optional `sni`, `ca_file`,
`http_port`, `name`):

- `address`: `host:port`, `[v6]:port`, `host` (port 443), `:port` or a bare port (the audited
  host's own inventory address). `host` is an IP address or a DNS name; a name is
  resolved here with `getaddrinfo` and the first address is used for every connection.
- `sni`: the name sent as SNI and Host header and checked against the certificate; by
  default the address's host when it is a name, else none (the certificate is then
  checked against the IP address).
- `ca_file`: a PEM bundle on the auditor's machine to verify the chain against.
- `http_port`: the plain-HTTP port to test for the redirect; 0 or false skips it.

Every connection gets `timeout_seconds`, and the whole collector stays within the
engine's budget; a per-endpoint problem (refused, timed out, not TLS) is recorded in the
JSON, never raised. Output is sorted JSON; only durations and the random parts of
handshakes vary between runs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import struct
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from auditor.collectors import CollectorContext
from auditor.parsers import tls_facts as facts
from auditor.parsers.tls_facts import SCHEMA_VERSION

MAX_WORKERS = 8
RECV_LIMIT = 64 * 1024  # bytes read while waiting for a ServerHello or an HTTP header
HTTP_HEAD_LIMIT = 32 * 1024
KEPT_HEADER_CHARS = 500

# Version names as the report shows them, with their wire values.
VERSIONS: dict[str, int] = {"SSLv3": 0x0300, "TLSv1.0": 0x0301, "TLSv1.1": 0x0302,
                            "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
VERSION_NAMES = {code: name for name, code in VERSIONS.items()}

# Broad enough for any server of the last twenty years to find a suite it would pick for
# SSLv3 to TLS 1.2 (a server ignores what its version cannot use).
LEGACY_SUITES: dict[int, str] = {
    0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256", 0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
    0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384", 0xC030: "ECDHE-RSA-AES256-GCM-SHA384",
    0xCCA9: "ECDHE-ECDSA-CHACHA20-POLY1305", 0xCCA8: "ECDHE-RSA-CHACHA20-POLY1305",
    0xC023: "ECDHE-ECDSA-AES128-SHA256", 0xC027: "ECDHE-RSA-AES128-SHA256",
    0xC024: "ECDHE-ECDSA-AES256-SHA384", 0xC028: "ECDHE-RSA-AES256-SHA384",
    0xC009: "ECDHE-ECDSA-AES128-SHA", 0xC013: "ECDHE-RSA-AES128-SHA",
    0xC00A: "ECDHE-ECDSA-AES256-SHA", 0xC014: "ECDHE-RSA-AES256-SHA",
    0x009E: "DHE-RSA-AES128-GCM-SHA256", 0x009F: "DHE-RSA-AES256-GCM-SHA384",
    0x0067: "DHE-RSA-AES128-SHA256", 0x006B: "DHE-RSA-AES256-SHA256",
    0x0033: "DHE-RSA-AES128-SHA", 0x0039: "DHE-RSA-AES256-SHA",
    0x009C: "AES128-GCM-SHA256", 0x009D: "AES256-GCM-SHA384",
    0x003C: "AES128-SHA256", 0x003D: "AES256-SHA256",
    0x002F: "AES128-SHA", 0x0035: "AES256-SHA",
    0x000A: "DES-CBC3-SHA", 0x0016: "EDH-RSA-DES-CBC3-SHA",
    0x0005: "RC4-SHA", 0x0004: "RC4-MD5",
}
# Offered, besides LEGACY_SUITES, only when the suites a server accepts are enumerated: the
# weak classes the check judges (NULL, anonymous, export, DES, RC4, 3DES) and other suites a
# server may still be configured with. Names are OpenSSL's, as nginx and Apache spell them.
MORE_SUITES: dict[int, str] = {
    0x0001: "NULL-MD5", 0x0002: "NULL-SHA", 0x003B: "NULL-SHA256",
    0xC006: "ECDHE-ECDSA-NULL-SHA", 0xC010: "ECDHE-RSA-NULL-SHA", 0xC015: "AECDH-NULL-SHA",
    0x0018: "ADH-RC4-MD5", 0x001B: "ADH-DES-CBC3-SHA", 0x0034: "ADH-AES128-SHA", 0x003A: "ADH-AES256-SHA",
    0x006C: "ADH-AES128-SHA256", 0x006D: "ADH-AES256-SHA256", 0x00A6: "ADH-AES128-GCM-SHA256",
    0x00A7: "ADH-AES256-GCM-SHA384", 0xC016: "AECDH-RC4-SHA", 0xC017: "AECDH-DES-CBC3-SHA",
    0xC018: "AECDH-AES128-SHA", 0xC019: "AECDH-AES256-SHA",
    0x0003: "EXP-RC4-MD5", 0x0006: "EXP-RC2-CBC-MD5", 0x0008: "EXP-DES-CBC-SHA",
    0x0011: "EXP-EDH-DSS-DES-CBC-SHA", 0x0014: "EXP-EDH-RSA-DES-CBC-SHA", 0x0017: "EXP-ADH-RC4-MD5",
    0x0019: "EXP-ADH-DES-CBC-SHA", 0x0062: "EXP1024-DES-CBC-SHA", 0x0064: "EXP1024-RC4-SHA",
    0x0009: "DES-CBC-SHA", 0x0012: "EDH-DSS-DES-CBC-SHA", 0x0015: "EDH-RSA-DES-CBC-SHA",
    0x001A: "ADH-DES-CBC-SHA",
    0x0013: "EDH-DSS-DES-CBC3-SHA", 0xC008: "ECDHE-ECDSA-DES-CBC3-SHA", 0xC012: "ECDHE-RSA-DES-CBC3-SHA",
    0xC007: "ECDHE-ECDSA-RC4-SHA", 0xC011: "ECDHE-RSA-RC4-SHA",
    0x0032: "DHE-DSS-AES128-SHA", 0x0038: "DHE-DSS-AES256-SHA", 0x00A2: "DHE-DSS-AES128-GCM-SHA256",
    0x00A3: "DHE-DSS-AES256-GCM-SHA384", 0xCCAA: "DHE-RSA-CHACHA20-POLY1305",
    0xC0AC: "ECDHE-ECDSA-AES128-CCM", 0xC0AD: "ECDHE-ECDSA-AES256-CCM",
    0xC09E: "DHE-RSA-AES128-CCM", 0xC09F: "DHE-RSA-AES256-CCM", 0xC09C: "AES128-CCM", 0xC09D: "AES256-CCM",
    0x0041: "CAMELLIA128-SHA", 0x0084: "CAMELLIA256-SHA", 0x0045: "DHE-RSA-CAMELLIA128-SHA",
    0x0088: "DHE-RSA-CAMELLIA256-SHA", 0x0096: "SEED-SHA", 0x0007: "IDEA-CBC-SHA",
}
EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF
TLS13_SUITES: dict[int, str] = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
                                0x1303: "TLS_CHACHA20_POLY1305_SHA256"}
SUITE_NAMES = {**LEGACY_SUITES, **MORE_SUITES, **TLS13_SUITES}
# Every suite an enumeration offers, in the order offered: modern first, so that a server
# that follows the client's order shows its best.
CATALOGUE = (*LEGACY_SUITES, *MORE_SUITES)
ENUMERATED_VERSIONS = ("TLSv1.2", "TLSv1.1", "TLSv1.0")  # highest first
MAX_SUITE_HANDSHAKES = 64  # per endpoint: every accepted suite costs one, each version one more
SUITE_SECONDS = 20.0  # per endpoint, within the collector's own budget

GROUPS = (0x001D, 0x0017, 0x0018, 0x0019, 0x0100)  # x25519, P-256, P-384, P-521, ffdhe2048
# The enumeration offers elliptic curves only: a client that offers ffdhe2048 (RFC 7919) may
# be given that group instead of the one the server gives every older client.
EC_GROUPS = GROUPS[:4]
CURVE_NAMES = {0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1", 0x001D: "x25519",
               0x001E: "x448"}
SIGNATURE_ALGORITHMS = (0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806,
                        0x0401, 0x0501, 0x0601, 0x0203, 0x0201)
X25519 = 0x001D

# Extension and message numbers (RFC 8446 section 4).
EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_EC_POINT_FORMATS = 0, 10, 11
EXT_SIGNATURE_ALGORITHMS, EXT_SUPPORTED_VERSIONS = 13, 43
EXT_PSK_KEY_EXCHANGE_MODES, EXT_KEY_SHARE = 45, 51
RECORD_HANDSHAKE, RECORD_ALERT = 22, 21
HANDSHAKE_SERVER_HELLO, HANDSHAKE_SERVER_KEY_EXCHANGE, HANDSHAKE_SERVER_HELLO_DONE = 2, 12, 14
NAMED_CURVE = 3  # ECParameters.curve_type (RFC 8422 5.4)
# A ServerHello whose random is this value is a HelloRetryRequest (RFC 8446 4.1.3).
HELLO_RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
          42: "bad_certificate", 47: "illegal_parameter", 50: "decode_error", 51: "decrypt_error",
          70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
          86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
          112: "unrecognized_name", 120: "no_application_protocol"}


# --------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str  # how the report names it
    address: str  # as the inventory gave it
    host: str  # IP address or DNS name to connect to
    port: int
    sni: str | None  # SNI, Host header and the name the certificate must match
    ca_file: str | None
    http_port: int | None  # plain-HTTP port to test for the redirect; None: not tested

    @property
    def hostname(self) -> str:
        """The name (or IP address) the certificate must match."""
        return self.sni or self.host


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def split_address(address: str, default_host: str) -> tuple[str, int]:
    """(host, port) of `host:port`, `[v6]:port`, `host`, `:port` or `port`."""
    text = address.strip()
    if text.isdigit():
        host, port_text = "", text
    elif text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"bad address {address!r}: expected [v6]:port")
        host, port_text = inside, rest[1:] or "443"
    elif text.count(":") > 1:
        if not is_ip(text):
            raise ValueError(f"bad address {address!r}: write an IPv6 address and port as [v6]:port")
        host, port_text = text, "443"  # a bare IPv6 address
    else:
        host, _, port_text = text.partition(":")
        port_text = port_text or ("" if text.endswith(":") else "443")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad address {address!r}: the port must be a number from 1 to 65535")
    host = host or default_host
    if not host:
        raise ValueError(f"bad address {address!r}: no host, and the inventory host has no address")
    return host, int(port_text)


def parse_endpoint(item: object, default_host: str, default_http_port: int) -> Endpoint:
    """One item of the `endpoints` parameter; ValueError names what is wrong with it."""
    spec: Mapping[str, Any] = item if isinstance(item, Mapping) else {"address": item}
    address = spec.get("address")
    if isinstance(address, bool) or not isinstance(address, str | int):
        raise ValueError(f"endpoint {item!r}: address must be host:port")
    host, port = split_address(str(address), default_host)
    sni = spec.get("sni")
    if sni is not None and (not isinstance(sni, str) or not sni.strip()):
        raise ValueError(f"endpoint {address}: sni must be a host name")
    sni = sni.strip() if sni else (None if is_ip(host) else host)
    ca_file = spec.get("ca_file")
    if ca_file is not None and not isinstance(ca_file, str):
        raise ValueError(f"endpoint {address}: ca_file must be a path")
    http_port = spec.get("http_port", default_http_port)
    if http_port is None or http_port is False or http_port == 0:
        http_port = None
    elif isinstance(http_port, bool) or not isinstance(http_port, int) or not 0 < http_port < 65536:
        raise ValueError(f"endpoint {address}: http_port must be a port number, or 0 to skip")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    name = spec.get("name") or (f"{sni} ({where})" if sni and sni != host else where)
    return Endpoint(str(name), str(address), host, port, sni, ca_file or None, http_port)


# --------------------------------------------------------------------------
# ClientHello and the server's first answer
# --------------------------------------------------------------------------


def _vector(data: bytes, length_bytes: int) -> bytes:
    return len(data).to_bytes(length_bytes, "big") + data


def _u16s(values: tuple[int, ...] | list[int]) -> bytes:
    return b"".join(struct.pack("!H", v) for v in values)


def _extension(kind: int, body: bytes) -> bytes:
    return struct.pack("!H", kind) + _vector(body, 2)


def client_hello(version: str, server_name: str | None, suites: tuple[int, ...] | list[int] | None = None,
                 groups: tuple[int, ...] = GROUPS) -> bytes:
    """A TLS record holding a ClientHello that offers exactly `version`.

    Up to TLS 1.2 the version is the ClientHello's own; TLS 1.3 is offered through
    supported_versions (0x0304 only) with an x25519 key share of random bytes: enough for a
    server to answer with a ServerHello or HelloRetryRequest, which is all we read.
    `suites` (default: LEGACY_SUITES, or the TLS 1.3 suites) are offered in the order given.
    """
    wire = VERSIONS[version]
    modern = wire == VERSIONS["TLSv1.3"]
    if suites is None:
        suites = list(TLS13_SUITES) if modern else list(LEGACY_SUITES)
    suites = [*suites] if modern else [*suites, EMPTY_RENEGOTIATION_INFO_SCSV]
    extensions = b""
    if server_name and not is_ip(server_name):
        name = server_name.encode("idna")
        extensions += _extension(EXT_SERVER_NAME, _vector(b"\x00" + _vector(name, 2), 2))
    extensions += _extension(EXT_SUPPORTED_GROUPS, _vector(_u16s(groups), 2))
    extensions += _extension(EXT_EC_POINT_FORMATS, _vector(b"\x00", 1))
    extensions += _extension(EXT_SIGNATURE_ALGORITHMS, _vector(_u16s(SIGNATURE_ALGORITHMS), 2))
    if modern:
        extensions += _extension(EXT_SUPPORTED_VERSIONS, _vector(_u16s([wire]), 1))
        extensions += _extension(EXT_PSK_KEY_EXCHANGE_MODES, _vector(b"\x01", 1))
        share = struct.pack("!H", X25519) + _vector(os.urandom(32), 2)
        extensions += _extension(EXT_KEY_SHARE, _vector(share, 2))
    body = (struct.pack("!H", min(wire, VERSIONS["TLSv1.2"])) + os.urandom(32)
            + _vector(os.urandom(32) if modern else b"", 1)  # 1.3 wants a legacy session id
            + _vector(_u16s(suites), 2) + _vector(b"\x00", 1) + _vector(extensions, 2))
    handshake = bytes([1]) + _vector(body, 3)
    record_version = VERSIONS["SSLv3"] if wire == VERSIONS["SSLv3"] else VERSIONS["TLSv1.0"]
    return struct.pack("!BH", RECORD_HANDSHAKE, record_version) + _vector(handshake, 2)


@dataclass(frozen=True)
class ServerAnswer:
    """The server's first answer to a ClientHello."""

    kind: str  # server_hello | hello_retry_request | alert | closed | not_tls | incomplete
    version: str | None = None  # negotiated, for a ServerHello / HelloRetryRequest
    cipher: str | None = None
    cipher_code: int | None = None
    alert: str | None = None
    detail: str = ""


def _version_name(code: int) -> str:
    return VERSION_NAMES.get(code, f"0x{code:04x}")


def _parse_server_hello(message: bytes) -> ServerAnswer:
    """ServerHello body (after the 4-byte handshake header)."""
    try:
        legacy = struct.unpack_from("!H", message, 0)[0]
        random = message[2:34]
        session_length = message[34]
        offset = 35 + session_length
        cipher = struct.unpack_from("!H", message, offset)[0]
        offset += 3  # cipher suite, compression method
        negotiated = legacy
        if offset + 2 <= len(message):
            end = offset + 2 + struct.unpack_from("!H", message, offset)[0]
            offset += 2
            while offset + 4 <= min(end, len(message)):
                kind, length = struct.unpack_from("!HH", message, offset)
                if kind == EXT_SUPPORTED_VERSIONS and length == 2:
                    negotiated = struct.unpack_from("!H", message, offset + 4)[0]
                offset += 4 + length
    except (struct.error, IndexError):
        return ServerAnswer("not_tls", detail="malformed ServerHello")
    retry = random == HELLO_RETRY_RANDOM
    return ServerAnswer("hello_retry_request" if retry else "server_hello", _version_name(negotiated),
                        suite_name(cipher), cipher)


def suite_name(code: int) -> str:
    return SUITE_NAMES.get(code, f"0x{code:04x}")


def handshake_messages(data: bytes) -> tuple[list[tuple[int, bytes]], ServerAnswer | None]:
    """The whole handshake messages (type, body) in the records received so far, joined across
    records (a message may be fragmented over several), and what ended them: an alert or
    bytes that are not TLS (None while more may come)."""
    messages: list[tuple[int, bytes]] = []
    handshake = b""
    offset = 0
    while offset + 5 <= len(data):
        content_type, _, length = struct.unpack_from("!BHH", data, offset)
        if content_type not in (RECORD_HANDSHAKE, RECORD_ALERT) or data[offset + 1] != 3:
            shown = data[offset:offset + 16].decode("latin-1")
            return messages, ServerAnswer("not_tls", detail=f"not a TLS record: {shown!r}")
        if offset + 5 + length > len(data):
            break
        payload = data[offset + 5:offset + 5 + length]
        offset += 5 + length
        if content_type == RECORD_ALERT:
            if len(payload) < 2:
                return messages, ServerAnswer("not_tls", detail="short alert record")
            name = ALERTS.get(payload[1], "unknown")
            return messages, ServerAnswer("alert", alert=f"{name} ({payload[1]})")
        handshake += payload
        while len(handshake) >= 4 and len(handshake) >= 4 + (size := int.from_bytes(handshake[1:4], "big")):
            messages.append((handshake[0], handshake[4:4 + size]))
            handshake = handshake[4 + size:]
    return messages, None


def parse_server_answer(data: bytes, closed: bool = False) -> ServerAnswer:
    """What the first bytes a server sent say; `incomplete` when more must be read first."""
    messages, ended = handshake_messages(data)
    if messages:
        kind, body = messages[0]
        if kind != HANDSHAKE_SERVER_HELLO:
            return ServerAnswer("not_tls", detail=f"handshake message {kind}, not a ServerHello")
        return _parse_server_hello(body)
    if ended is not None:
        return ended
    if not closed:
        return ServerAnswer("incomplete")
    if not data:
        return ServerAnswer("closed", detail="connection closed without an answer")
    return ServerAnswer("closed", detail=f"connection closed after {len(data)} byte(s) of a record")


def parse_key_exchange(body: bytes, suite: str) -> facts.KeyExchange:
    """The group of a ServerKeyExchange: the DH prime's size for (EDH|DHE|ADH) suites, the named
    curve for ECDHE and AECDH ones (RFC 5246 7.4.3, RFC 8422 5.4)."""
    unreadable: facts.Failed = {"error": f"malformed ServerKeyExchange ({len(body)} bytes)"}
    if "ECDH" in suite:
        if len(body) < 3:
            return unreadable
        if body[0] != NAMED_CURVE:
            return {"curve": f"explicit curve (type {body[0]})"}
        code = struct.unpack_from("!H", body, 1)[0]
        return {"curve": CURVE_NAMES.get(code, f"0x{code:04x}")}
    length = int.from_bytes(body[:2], "big") if len(body) >= 2 else 0
    if length == 0 or 2 + length > len(body):
        return unreadable
    return {"dh_bits": int.from_bytes(body[2:2 + length], "big").bit_length()}


# --------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------


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


def ephemeral(suite: str) -> bool:
    """Whether a suite's key exchange sends a ServerKeyExchange with a (EC)DH group."""
    return any(part in ("DHE", "EDH", "ADH", "ECDHE", "AECDH") for part in suite.split("-"))


def read_flight(sock: socket.socket, data: bytes) -> bytes:
    """Keep reading the server's first flight until its ServerKeyExchange or ServerHelloDone is
    whole, an alert or non-TLS bytes end it, the connection closes or RECV_LIMIT is reached."""
    while len(data) < RECV_LIMIT:
        messages, ended = handshake_messages(data)
        kinds = {kind for kind, _ in messages[1:]}
        if ended is not None or kinds & {HANDSHAKE_SERVER_KEY_EXCHANGE, HANDSHAKE_SERVER_HELLO_DONE}:
            break
        chunk = sock.recv(16384)
        if not chunk:
            break
        data += chunk
    return data


def key_exchange(data: bytes, suite: str) -> facts.KeyExchange:
    """The group in the ServerKeyExchange of a flight that `read_flight` returned."""
    messages, ended = handshake_messages(data)
    for kind, body in messages[1:]:
        if kind == HANDSHAKE_SERVER_KEY_EXCHANGE:
            return parse_key_exchange(body, suite)
        if kind == HANDSHAKE_SERVER_HELLO_DONE:
            return {"error": "no ServerKeyExchange before ServerHelloDone"}
    if ended is not None:
        return {"error": f"no ServerKeyExchange: {ended.alert or ended.detail}"}
    return {"error": f"no ServerKeyExchange in {len(data)} bytes"}


def offer_suites(ip: str, endpoint: Endpoint, version: str, suites: list[int],
                 budget: Budget) -> tuple[ServerAnswer, facts.KeyExchange | None]:
    """Offer `suites` (in that order) with `version`; the server's answer and, for an
    ephemeral (EC)DH suite it picked, the group of its ServerKeyExchange."""
    with _connect(ip, endpoint.port, budget) as sock:
        data, answer = exchange_hello(sock, client_hello(version, endpoint.sni, suites, EC_GROUPS))
        suite = answer.cipher or ""
        if answer.kind != "server_hello" or answer.version != version or not ephemeral(suite):
            return answer, None
        return answer, key_exchange(read_flight(sock, data), suite)


class _CutShort(Exception):
    """Why an enumeration stopped before the server refused every remaining suite."""


def enumerate_suites(ip: str, endpoint: Endpoint, budget: Budget) -> facts.Suites:
    """The TLS 1.0–1.2 suites of CATALOGUE the server accepts, found by offering them all and
    taking away the one it picked until it refuses the rest; TLS 1.2 first, then each lower
    version for the suites not yet found. A suite is recorded with the highest version that
    accepted it and, for (EC)DH suites, the group the server used. The first version's suites
    are then offered in reverse: picking the same first suite means the server has its own
    order (the accepted list is it), picking the other end means it follows the client's.
    At most MAX_SUITE_HANDSHAKES handshakes and SUITE_SECONDS; when cut short, says why."""
    started = time.perf_counter()
    limit = budget.within(SUITE_SECONDS, f"the {SUITE_SECONDS:.0f} s given to enumerating suites")
    accepted: list[facts.AcceptedSuite] = []
    found: list[int] = []
    handshakes = 0
    cut_short = ""

    def offer(version: str, suites: list[int]) -> tuple[ServerAnswer, facts.KeyExchange | None]:
        nonlocal handshakes
        if handshakes >= MAX_SUITE_HANDSHAKES:
            raise _CutShort(f"stopped at the limit of {MAX_SUITE_HANDSHAKES} handshakes")
        handshakes += 1
        return offer_suites(ip, endpoint, version, suites, limit)

    preference: facts.Preference = "untested"
    try:
        for version in ENUMERATED_VERSIONS:
            while remaining := [code for code in CATALOGUE if code not in found]:
                answer, group = offer(version, remaining)
                if answer.kind == "not_tls":
                    raise _CutShort(f"not a TLS server: {answer.detail}")
                if answer.kind != "server_hello" or answer.version != version or answer.cipher_code is None:
                    break  # refused the rest (alert, close, or a lower version)
                if answer.cipher_code not in remaining:
                    raise _CutShort(f"the server chose {answer.cipher}, which was not offered")
                found.append(answer.cipher_code)
                suite: facts.AcceptedSuite = {"name": suite_name(answer.cipher_code), "version": version}
                if group is not None:
                    suite["key_exchange"] = group
                accepted.append(suite)
        first = [code for code, suite in zip(found, accepted, strict=True)
                 if suite["version"] == accepted[0]["version"]] if accepted else []
        if len(first) > 1 and handshakes < MAX_SUITE_HANDSHAKES:
            answer, _ = offer(accepted[0]["version"], first[::-1])
            preference = ("server" if answer.cipher_code == first[0]
                          else "client" if answer.cipher_code == first[-1] else "unclear")
    except _CutShort as stop:
        cut_short = str(stop)
    except (OSError, ValueError) as exc:
        cut_short = _error_text(exc)
    enumerated: facts.Suites = {
        "accepted": accepted, "preference": preference, "offered": len(CATALOGUE), "handshakes": handshakes,
        "complete": not cut_short, "duration_ms": round((time.perf_counter() - started) * 1000, 1)}
    if cut_short:
        enumerated["cut_short"] = cut_short
    return enumerated


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


# --------------------------------------------------------------------------
# The collector
# --------------------------------------------------------------------------


def _examine(endpoint: Endpoint, pool: ThreadPoolExecutor, budget: Budget) -> facts.EndpointRecord:
    """Everything about one endpoint; its own problems are recorded, never raised."""
    started = time.perf_counter()

    def took() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    ip = None
    try:
        ip = resolve(endpoint.host, endpoint.port)
        _connect(ip, endpoint.port, budget).close()
    except (OSError, UnicodeError) as exc:
        unreachable: facts.Unreachable = {
            "name": endpoint.name, "address": endpoint.address, "host": endpoint.host, "port": endpoint.port,
            "sni": endpoint.sni, "hostname": endpoint.hostname, "ca_file": endpoint.ca_file,
            "http_port": endpoint.http_port, "connect_error": _error_text(exc), "duration_ms": took()}
        if ip is not None:
            unreachable["ip"] = ip
        return unreachable
    protocols = {v: pool.submit(probe_version, ip, endpoint, v, budget) for v in VERSIONS}
    suites = pool.submit(enumerate_suites, ip, endpoint, budget)
    fetched = pool.submit(fetch, ip, endpoint, budget)
    verified = pool.submit(verify, ip, endpoint, budget)
    http = (pool.submit(plain_http, ip, endpoint, endpoint.http_port, budget)
            if endpoint.http_port is not None else None)
    answers = {v: future.result() for v, future in protocols.items()}
    return {
        "name": endpoint.name, "address": endpoint.address, "host": endpoint.host, "port": endpoint.port,
        "sni": endpoint.sni, "hostname": endpoint.hostname, "ca_file": endpoint.ca_file,
        "http_port": endpoint.http_port, "ip": ip,
        "protocols": {"SSLv3": answers["SSLv3"], "TLSv1.0": answers["TLSv1.0"], "TLSv1.1": answers["TLSv1.1"],
                      "TLSv1.2": answers["TLSv1.2"], "TLSv1.3": answers["TLSv1.3"]},
        "suites": suites.result(), "tls": fetched.result(), "verification": verified.result(),
        "http": http.result() if http is not None else None, "duration_ms": took()}


def collect(context: CollectorContext) -> str:
    """The collector the engine calls: JSON describing every configured endpoint."""
    params = context.params
    collected_at = dt.datetime.now(dt.UTC).strftime(facts.TIME_FORMAT)
    budget = Budget(float(params.get("timeout_seconds", 5)), max(context.timeout - 1.0, 1.0))
    default_http_port = int(params.get("http_port", 80) or 0)
    endpoints: list[facts.EndpointRecord] = []
    with ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="tls") as pool:
        for item in params.get("endpoints") or []:
            try:
                endpoint = parse_endpoint(item, context.address, default_http_port)
            except ValueError as exc:
                endpoints.append({"name": str(item), "config_error": str(exc)})
                continue
            endpoints.append(_examine(endpoint, pool, budget))
    document: facts.Document = {"schema_version": SCHEMA_VERSION, "collector": "tls",
                                "collected_at": collected_at, "endpoints": endpoints}
    return json.dumps(document, sort_keys=True, indent=1)
