"""The TLS wire format the `tls` collector speaks: versions, the suite table, groups and
extension numbers, a hand-built ClientHello and the parsing of the server's first answer
(ServerHello, HelloRetryRequest, alert, ServerKeyExchange). No sockets here.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from auditor.collectors.tls.endpoints import is_ip
from auditor.parsers import tls_facts as facts

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
