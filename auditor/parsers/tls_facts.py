"""The `tls` collector's JSON: its shape, written by `auditor.collectors.tls`, read by `checks/tls.py`.

The collector builds these records and the check reads them, so both sides are typed by
the same definitions; the check imports this module, never the collector's network code.
(No `from __future__ import annotations` here: TypedDict must see `NotRequired` at run time
for `read` to know which keys a record must have.)
`read` validates a document once, at the boundary: a document that is not the collector's
raises `Garbled`; an endpoint record that does not have the shape below (a saved evidence
pack edited or cut) is returned as an `EndpointFacts` naming what is wrong, so the rules
that judge an endpoint never meet a missing key.
"""

import datetime as dt
import json
import types
from typing import (
    Any,
    Literal,
    NamedTuple,
    NotRequired,
    TypedDict,
    Union,
    final,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

SCHEMA_VERSION = 1
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
VERSIONS = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")


@final
class ProtocolAnswer(TypedDict):
    """One protocol version offered alone: accepted (True), refused (False) or untested (None)."""

    supported: bool | None
    answer: NotRequired[str]  # what the server said: "ServerHello TLSv1.2", "alert protocol_version (70)"
    error: NotRequired[str]  # why it could not be tested
    cipher: NotRequired[str]


# Keyed by the names in VERSIONS (not identifiers, hence this form).
Protocols = TypedDict("Protocols", {"SSLv3": ProtocolAnswer, "TLSv1.0": ProtocolAnswer,
                                    "TLSv1.1": ProtocolAnswer, "TLSv1.2": ProtocolAnswer,
                                    "TLSv1.3": ProtocolAnswer})


@final
class HttpAnswer(TypedDict):
    """`GET /`: the status line and the only headers kept (no cookies, no body)."""

    status: int
    status_line: str
    hsts: list[str]  # every Strict-Transport-Security header, in order
    location: list[str]


@final
class Failed(TypedDict):
    error: str


HttpsAnswer = HttpAnswer | Failed


@final
class Handshake(TypedDict):
    """A handshake with verification off, then `GET /` over it."""

    version: str | None
    cipher: str | None
    chain_pem: list[str]  # leaf first
    chain_source: str  # "chain as sent by the server" or "leaf only"
    https: HttpsAnswer


@final
class Verified(TypedDict):
    ok: Literal[True]
    trusted_by: str


@final
class NotTrusted(TypedDict):
    ok: Literal[False]
    verify_code: int
    verify_message: str
    trusted_by: str


@final
class NotVerified(TypedDict):
    ok: None
    error: str


@final
class PortRefused(TypedDict):
    port: int
    refused: Literal[True]


@final
class PortFailed(TypedDict):
    port: int
    error: str


@final
class PlainHttp(TypedDict):
    port: int
    status: int
    status_line: str
    hsts: list[str]
    location: list[str]


@final
class DhGroup(TypedDict):
    dh_bits: int  # size of the DH prime p the server sent in its ServerKeyExchange


@final
class EcCurve(TypedDict):
    curve: str  # the named curve of its ServerKeyExchange: "x25519", "secp256r1", ...


KeyExchange = DhGroup | EcCurve | Failed
Preference = Literal["server", "client", "unclear", "untested"]


@final
class AcceptedSuite(TypedDict):
    name: str  # OpenSSL's name ("DES-CBC3-SHA"), or "0x...." for a code without one
    version: str  # the highest of TLS 1.2, 1.1, 1.0 that accepted it
    key_exchange: NotRequired[KeyExchange]  # (EC)DH suites: the group the server used


@final
class Suites(TypedDict):
    """The TLS 1.0–1.2 suites the server accepts, out of the `offered` the collector knows."""

    accepted: list[AcceptedSuite]  # in the order the server chose them: its own when preference is "server"
    preference: Preference  # whose order the server follows; "untested" with fewer than two suites
    offered: int
    handshakes: int
    duration_ms: float
    complete: bool  # False: stopped early, see cut_short (the accepted list may lack suites)
    cut_short: NotRequired[str]


Fetched = Handshake | Failed
Verification = Verified | NotTrusted | NotVerified
PlainHttpAnswer = PlainHttp | PortRefused | PortFailed


@final
class ConfigError(TypedDict):
    """An `endpoints` item the collector could not use."""

    name: str
    config_error: str


@final
class Unreachable(TypedDict):
    name: str
    address: str
    host: str
    port: int
    sni: str | None
    hostname: str
    ca_file: str | None
    http_port: int | None
    ip: NotRequired[str]  # when the name resolved
    connect_error: str
    duration_ms: float


@final
class Examined(TypedDict):
    name: str
    address: str
    host: str
    port: int
    sni: str | None
    hostname: str  # the name (or IP address) the certificate must match
    ca_file: str | None
    http_port: int | None
    ip: str
    protocols: Protocols
    suites: NotRequired[Suites]  # absent in evidence from collectors before suites were enumerated
    tls: Fetched
    verification: Verification
    http: PlainHttpAnswer | None  # None: plain HTTP not tested
    duration_ms: float


EndpointRecord = ConfigError | Unreachable | Examined


@final
class Document(TypedDict):
    schema_version: int
    collector: Literal["tls"]
    collected_at: str  # TIME_FORMAT, UTC
    endpoints: list[EndpointRecord]


class Garbled(ValueError):
    """The text is not a document the collector writes."""


class EndpointFacts(NamedTuple):
    name: str
    record: EndpointRecord | None  # None when the record does not have the shape above
    incomplete: str  # what is wrong with it then


class Facts(NamedTuple):
    collected_at: dt.datetime
    endpoints: list[EndpointFacts]


def problem(value: object, expected: object, where: str = "") -> str | None:
    """What keeps `value` from having the type `expected` (a TypedDict, list, union, literal or
    plain type), or None. For a union, the last alternative's complaint is given."""
    origin = get_origin(expected)
    if origin in (Union, types.UnionType):
        alternatives = get_args(expected)
        complaints = [problem(value, alternative, where) for alternative in alternatives]
        if None in complaints:
            return None
        records = [a for a in alternatives if is_typeddict(a)]
        if not records or not isinstance(value, dict):
            names = " or ".join(_name(a) for a in alternatives)
            return f"{where or 'the value'} is {_shown(value)}, not {names}"
        # The complaint of the record the value looks most like: the most fields right, the fewest missing.
        def likeness(record: Any) -> int:
            hints = get_type_hints(record)
            right = sum(1 for key in hints if key in value and problem(value[key], hints[key]) is None)
            return right - len(record.__required_keys__ - value.keys())
        closest = max(records, key=likeness)
        return complaints[alternatives.index(closest)]
    if origin is Literal:
        allowed = get_args(expected)
        if any(value is a or (value == a and type(value) is type(a)) for a in allowed):
            return None
        return f"{where or 'the value'} is {_shown(value)}, not {' or '.join(map(_shown, allowed))}"
    if origin is list:
        if not isinstance(value, list):
            return f"{where or 'the value'} is not a list"
        (item,) = get_args(expected)
        return next((p for i, v in enumerate(value) if (p := problem(v, item, f"{where}[{i}]"))), None)
    if is_typeddict(expected):
        if not isinstance(value, dict):
            return f"{where or 'the record'} is not a mapping"
        missing = sorted(expected.__required_keys__ - value.keys())  # type: ignore[attr-defined]
        if missing:
            return f"{where + ': ' if where else ''}no {', '.join(missing)}"
        inside = f"{where}." if where else ""
        return next((p for key, hint in get_type_hints(expected).items()
                     if key in value and (p := problem(value[key], hint, inside + key))), None)
    if expected is None or expected is type(None):
        return None if value is None else f"{where or 'the value'} is {_shown(value)}, not null"
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected)  # type: ignore[arg-type]
    return None if ok else f"{where or 'the value'} is {_shown(value)}, not {_name(expected)}"


def _name(expected: object) -> str:
    if expected is None or expected is type(None):
        return "null"
    return getattr(expected, "__name__", str(expected))


def _shown(value: object) -> str:
    """A value in a complaint: JSON's spelling, cut short."""
    return json.dumps(value)[:60]


def read(text: str) -> Facts:
    """The collector's document, checked; Garbled when it is not one."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Garbled(f"not JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("collector") != "tls":
        raise Garbled("not the tls collector's JSON")
    endpoints = document.get("endpoints")
    if not isinstance(endpoints, list) or not all(isinstance(e, dict) for e in endpoints):
        raise Garbled("no endpoint list")
    try:
        collected_at = dt.datetime.strptime(document["collected_at"], TIME_FORMAT).replace(tzinfo=dt.UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise Garbled(f"no valid collected_at ({exc})") from exc
    found = []
    for raw in endpoints:
        name = str(raw.get("name", "?"))
        complaint = problem(raw, EndpointRecord)
        found.append(EndpointFacts(name, None, complaint) if complaint else EndpointFacts(name, raw, ""))
    return Facts(collected_at, found)
