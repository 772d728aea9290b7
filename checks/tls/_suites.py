"""Judging what a TLS endpoint negotiates: the protocol versions it accepts, its cipher suites
by weak class, their (EC)DH key exchanges and whose order it follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auditor.check import Findings
from auditor.parsers import tls_facts as facts

OLD_PROTOCOLS = ("SSLv3", "TLSv1.0", "TLSv1.1")
MODERN_PROTOCOLS = ("TLSv1.2", "TLSv1.3")


@dataclass(frozen=True)
class SuiteClass:
    """A class of TLS 1.0–1.2 cipher suites the check judges, with the severity it carries and
    the reference that sets it. Until findings carry a severity (issue 12, item 2), a class at
    or above `medium` fails the check and a `low` one is an advisory note."""

    label: str
    severity: str  # critical | high | medium | low
    reference: str
    matches: Callable[[str], bool]  # on the suite's OpenSSL name


def _parts(name: str) -> list[str]:
    return name.split("-")


def _cbc_sha1(name: str) -> bool:
    """A CBC suite with an HMAC-SHA1 record MAC: OpenSSL names end in -SHA (RC4-SHA and the NULL
    suites do too, but are no block cipher)."""
    return name.endswith("-SHA") and "RC4" not in name and "NULL" not in _parts(name)


SUITE_CLASSES = (
    SuiteClass("NULL-encryption suites", "critical",
               "Mozilla Server Side TLS (no configuration allows eNULL); NIST SP 800-52r2 3.3.1",
               lambda n: "NULL" in _parts(n)),
    SuiteClass("anonymous (aNULL) suites", "critical",
               "Mozilla Server Side TLS (aNULL never); NIST SP 800-52r2 3.3.1: no server authentication",
               lambda n: _parts(n)[0] in ("ADH", "AECDH") or n.startswith("EXP-ADH-")),
    SuiteClass("EXPORT suites", "critical",
               "FREAK (CVE-2015-0204) and Logjam (CVE-2015-4000); NIST SP 800-52r2 3.3.1",
               lambda n: n.startswith(("EXP-", "EXP1024-"))),
    SuiteClass("RC4 suites", "high", "RFC 7465 (RC4 prohibited in TLS); NIST SP 800-52r2 3.3.1",
               lambda n: "RC4" in n),
    SuiteClass("single-DES suites", "high", "56-bit DES (FIPS 46-3 withdrawn 2005); NIST SP 800-52r2 3.3.1",
               lambda n: "DES-CBC" in n and "DES-CBC3" not in n),
    SuiteClass("3DES suites", "high",
               "Sweet32 (CVE-2016-2183, 64-bit block); NIST SP 800-131Ar2 (3DES disallowed after 2023); "
               "Mozilla Server Side TLS (intermediate drops 3DES)", lambda n: "DES-CBC3" in n),
)
# Ephemeral DH groups (DHE, EDH, ADH suites), by the size of the prime the server sent.
DH_CRITICAL_BITS = 1024  # below: Logjam's precomputation is practical (512-bit export groups fell)
DH_MIN_BITS = 2048  # below: Logjam (weakdh.org) puts 1024 within a state's reach
DH_REFERENCE = ("Logjam (weakdh.org, CVE-2015-4000); NIST SP 800-52r2 3.3.1; "
                "Mozilla Server Side TLS (2048 bits)")
CBC_SHA1_ONLY = SuiteClass("nothing but CBC suites with SHA-1 MACs", "low",
                           "Mozilla Server Side TLS (intermediate prefers AEAD suites); NIST SP 800-52r2 "
                           "3.3.1 (AEAD preferred); Lucky13-class padding oracles", _cbc_sha1)
FAILING_SEVERITIES = ("critical", "high", "medium")


@dataclass
class Endpoint(Findings):
    """What was found about one endpoint: its findings, and the values the report keeps."""

    name: str = "?"
    protocols: list[str] = field(default_factory=list)
    days_to_expiry: float | None = None
    weak_suites: list[str] = field(default_factory=list)  # accepted suites of a failing class


def _suite_finding(verdict: Endpoint, severity: str, reference: str, text: str) -> None:
    """One suite finding: fails the check at `medium` or above, else an advisory note.
    (When findings carry a severity and a reference, they go there instead of the text.)"""
    line = f"{text} [{severity}; {reference}]"
    (verdict.fail if severity in FAILING_SEVERITIES else verdict.note)(line)


ORDERS = {"server": "in the server's order of preference", "client": "the server follows the client's order",
          "unclear": "the server's order is unclear", "untested": "order not tested"}


def _judge_key_exchanges(accepted: list[facts.AcceptedSuite], verdict: Endpoint) -> None:
    """The DH groups (by size) and the curves the server used in its ServerKeyExchanges."""
    dh_groups: list[tuple[int, str]] = []
    curves: set[str] = set()
    unread: list[str] = []
    for suite in accepted:
        exchange = suite.get("key_exchange")
        if exchange is None:
            continue
        if "dh_bits" in exchange:
            dh_groups.append((exchange["dh_bits"], suite["name"]))
        elif "curve" in exchange:
            curves.add(exchange["curve"])
        else:
            unread.append(f"{suite['name']}: {exchange['error']}")
    weak = sorted((bits, name) for bits, name in dh_groups if bits < DH_MIN_BITS)
    if weak:
        smallest = weak[0][0]
        shown = ", ".join(f"{name} ({bits} bits)" for bits, name in weak)
        verdict.weak_suites += [name for _, name in weak if name not in verdict.weak_suites]
        _suite_finding(verdict, "critical" if smallest < DH_CRITICAL_BITS else "high", DH_REFERENCE,
                       f"DHE group of {smallest} bits (less than {DH_MIN_BITS}): {shown}")
    elif dh_groups:
        verdict.note(f"DHE group size: {', '.join(sorted({f'{bits} bits' for bits, _ in dh_groups}))}")
    if curves:
        chosen = ", ".join(sorted(curves))
        verdict.note(f"ECDHE curve chosen from the client's x25519, P-256, P-384, P-521: {chosen}")
    if unread:
        verdict.note(f"key exchange not read: {'; '.join(unread)}")


def _judge_suites(suites: facts.Suites, protocols: list[str], verdict: Endpoint) -> None:
    """The TLS 1.0–1.2 suites the server accepted: weak classes, DH groups, CBC-SHA1-only."""
    accepted = suites["accepted"]
    names = [suite["name"] for suite in accepted]
    for kind in SUITE_CLASSES:
        found = [name for name in names if kind.matches(name)]
        if found:
            verdict.weak_suites += [name for name in found if name not in verdict.weak_suites]
            text = f"accepts {kind.label}: {', '.join(found)}"
            _suite_finding(verdict, kind.severity, kind.reference, text)
    if names:
        shown = [name if suite["version"] == "TLSv1.2" else f"{name} ({suite['version']})"
                 for name, suite in zip(names, accepted, strict=True)]
        verdict.note(f"TLS 1.0–1.2 suites accepted ({ORDERS[suites['preference']]}; {suites['handshakes']} "
                     f"handshakes, {suites['duration_ms']:.0f} ms): {', '.join(shown)}")
    _judge_key_exchanges(accepted, verdict)
    if names and "TLSv1.3" not in protocols and all(CBC_SHA1_ONLY.matches(name) for name in names):
        _suite_finding(verdict, CBC_SHA1_ONLY.severity, CBC_SHA1_ONLY.reference,
                       f"offers {CBC_SHA1_ONLY.label} and no TLS 1.3: {', '.join(names)}")
    legacy = [p for p in protocols if p != "TLSv1.3"]
    if not suites["complete"]:
        why = suites.get("cut_short", "no reason given")
        verdict.unknown(f"cipher suite enumeration cut short after {suites['handshakes']} handshake(s) "
                        f"({why}): suites not yet found are not judged")
    elif not names and legacy:
        verdict.unknown(f"accepts {', '.join(legacy)} but none of the {suites['offered']} TLS 1.0–1.2 "
                        "suites the collector knows")
    if "TLSv1.3" in protocols:
        verdict.note("TLS 1.3 suites are all AEAD with ephemeral key exchange (RFC 8446): not enumerated")


def _judge_protocols(offered: facts.Protocols, verdict: Endpoint) -> None:
    # `read` checked that every version is there; mypy cannot see that a name from VERSIONS is a key.
    answers = [(version, offered[version]) for version in facts.VERSIONS]  # type: ignore[literal-required]
    why_untested: dict[str, list[str]] = {}
    for version, answer in answers:
        if answer["supported"] is None:
            why_untested.setdefault(answer.get("error", "no answer"), []).append(version)
    untested = [f"{', '.join(versions)} ({why})" for why, versions in why_untested.items()]
    verdict.protocols = [v for v, answer in answers if answer["supported"] is True]
    old = [v for v in OLD_PROTOCOLS if v in verdict.protocols]
    if old:
        verdict.fail(f"accepts {', '.join(old)}")
    if untested:
        verdict.unknown(f"could not test {'; '.join(untested)}")
    elif not set(MODERN_PROTOCOLS) & set(verdict.protocols):
        verdict.fail("supports neither TLS 1.2 nor TLS 1.3")
    said = ", ".join(f"{v}: {answer.get('answer') or answer.get('error')}" for v, answer in answers)
    verdict.note(f"protocols offered one by one: {said}")
