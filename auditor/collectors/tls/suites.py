"""The `tls` collector's cipher-suite enumeration: which TLS 1.0-1.2 suites of the CATALOGUE a
server accepts, with each (EC)DH key exchange's size, and whose order it follows.
"""

from __future__ import annotations

import socket
import time

from auditor.collectors.tls.endpoints import Endpoint
from auditor.collectors.tls.hello import (
    CATALOGUE,
    EC_GROUPS,
    HANDSHAKE_SERVER_HELLO_DONE,
    HANDSHAKE_SERVER_KEY_EXCHANGE,
    ServerAnswer,
    client_hello,
    handshake_messages,
    parse_key_exchange,
    suite_name,
)
from auditor.collectors.tls.network import RECV_LIMIT, Budget, _connect, _error_text, exchange_hello
from auditor.parsers import tls_facts as facts

ENUMERATED_VERSIONS = ("TLSv1.2", "TLSv1.1", "TLSv1.0")  # highest first
MAX_SUITE_HANDSHAKES = 64  # per endpoint: every accepted suite costs one, each version one more
SUITE_SECONDS = 20.0  # per endpoint, within the collector's own budget


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
