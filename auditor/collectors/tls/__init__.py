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
import json
import time
from concurrent.futures import ThreadPoolExecutor

from auditor.collectors import CollectorContext
from auditor.collectors.tls.certificates import HTTP_HEAD_LIMIT, KEPT_HEADER_CHARS, fetch, plain_http, verify
from auditor.collectors.tls.endpoints import Endpoint, is_ip, parse_endpoint, split_address
from auditor.collectors.tls.hello import (
    ALERTS,
    CATALOGUE,
    CURVE_NAMES,
    EC_GROUPS,
    EMPTY_RENEGOTIATION_INFO_SCSV,
    EXT_EC_POINT_FORMATS,
    EXT_KEY_SHARE,
    EXT_PSK_KEY_EXCHANGE_MODES,
    EXT_SERVER_NAME,
    EXT_SIGNATURE_ALGORITHMS,
    EXT_SUPPORTED_GROUPS,
    EXT_SUPPORTED_VERSIONS,
    GROUPS,
    HANDSHAKE_SERVER_HELLO,
    HANDSHAKE_SERVER_HELLO_DONE,
    HANDSHAKE_SERVER_KEY_EXCHANGE,
    HELLO_RETRY_RANDOM,
    LEGACY_SUITES,
    MORE_SUITES,
    NAMED_CURVE,
    RECORD_ALERT,
    RECORD_HANDSHAKE,
    SIGNATURE_ALGORITHMS,
    SUITE_NAMES,
    TLS13_SUITES,
    VERSION_NAMES,
    VERSIONS,
    X25519,
    ServerAnswer,
    client_hello,
    handshake_messages,
    parse_key_exchange,
    parse_server_answer,
    suite_name,
)
from auditor.collectors.tls.network import (
    RECV_LIMIT,
    Budget,
    _connect,
    _error_text,
    exchange_hello,
    probe_version,
    resolve,
)
from auditor.collectors.tls.suites import (
    ENUMERATED_VERSIONS,
    MAX_SUITE_HANDSHAKES,
    SUITE_SECONDS,
    enumerate_suites,
    ephemeral,
    key_exchange,
    offer_suites,
    read_flight,
)
from auditor.parsers import tls_facts as facts
from auditor.parsers.tls_facts import SCHEMA_VERSION

# Every public name of the module this package replaced, for its callers and tests.
__all__ = [
    "ALERTS", "Budget", "CATALOGUE", "CURVE_NAMES", "EC_GROUPS", "EMPTY_RENEGOTIATION_INFO_SCSV",
    "ENUMERATED_VERSIONS", "EXT_EC_POINT_FORMATS", "EXT_KEY_SHARE", "EXT_PSK_KEY_EXCHANGE_MODES",
    "EXT_SERVER_NAME", "EXT_SIGNATURE_ALGORITHMS", "EXT_SUPPORTED_GROUPS", "EXT_SUPPORTED_VERSIONS",
    "Endpoint", "GROUPS", "HANDSHAKE_SERVER_HELLO", "HANDSHAKE_SERVER_HELLO_DONE",
    "HANDSHAKE_SERVER_KEY_EXCHANGE", "HELLO_RETRY_RANDOM", "HTTP_HEAD_LIMIT", "KEPT_HEADER_CHARS",
    "LEGACY_SUITES", "MAX_SUITE_HANDSHAKES", "MAX_WORKERS", "MORE_SUITES", "NAMED_CURVE",
    "RECORD_ALERT", "RECORD_HANDSHAKE", "RECV_LIMIT", "SIGNATURE_ALGORITHMS", "SUITE_NAMES",
    "SUITE_SECONDS", "ServerAnswer", "TLS13_SUITES", "VERSIONS", "VERSION_NAMES", "X25519",
    "client_hello", "collect", "enumerate_suites", "ephemeral", "exchange_hello", "fetch",
    "handshake_messages", "is_ip", "key_exchange", "offer_suites", "parse_endpoint",
    "parse_key_exchange", "parse_server_answer", "plain_http", "probe_version", "read_flight",
    "resolve", "split_address", "suite_name", "verify",
]


MAX_WORKERS = 8


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
