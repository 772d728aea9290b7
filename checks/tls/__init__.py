"""Data in transit is protected by HTTPS done right, seen from the auditor's machine.

Reads: every endpoint listed in `vars.tls.endpoints` (`host:port`, `[v6]:port`, `:port` for
the host's own address, or a mapping with `address`, `sni`, `ca_file`, `http_port`, `name`)
through the engine's `tls` collector, run from the auditor: SSLv3 and TLS 1.0, 1.1, 1.2 and
1.3 each offered alone with a hand-built ClientHello (so the auditor's OpenSSL, which no
longer speaks TLS 1.0/1.1, cannot hide them); the TLS 1.0–1.2 cipher suites the server
accepts, enumerated with hand-built ClientHellos (all the collector's 83 suites offered, the
one the server picks taken away, until it refuses the rest; at most 64 handshakes and 20 s
per endpoint), whether it imposes its own order (the accepted suites offered again in
reverse), the DH prime size of its DHE suites and the curve of its ECDHE suites (from the
ServerKeyExchange); the certificate chain the server sends (stored as PEM in the evidence
and parsed here, so a saved evidence pack can be re-judged); a verifying handshake against
`ca_file` or the system store with the SNI name; `GET /` over HTTPS for
`Strict-Transport-Security`; `GET /` over plain HTTP on `http_port` (default 80) for the
redirect. The collector's JSON is checked against its shape (`auditor/parsers/tls_facts.py`)
before any rule reads it.

Passes when: every endpoint passes every rule below. A closed or silent plain-HTTP port is
fine and noted; so are low-severity advisories (CBC-SHA1-only suites). Expiry is counted
from the time of collection recorded in the evidence, so a re-judged pack gives the same
verdict.

Fails when: an endpoint accepts SSLv3, TLS 1.0 or TLS 1.1, or neither TLS 1.2 nor 1.3; when
it accepts a suite of a weak class, named with its severity and reference: NULL encryption,
anonymous (aNULL) and EXPORT suites (critical; Mozilla Server Side TLS, NIST SP 800-52r2
3.3.1, FREAK/Logjam), RC4 (high; RFC 7465), single DES and 3DES (high; Sweet32, NIST SP
800-131Ar2), or a DHE group under 2048 bits (high; under 1024 critical; Logjam, NIST SP
800-52r2, Mozilla); an endpoint whose TLS 1.0–1.2 suites are nothing but CBC with SHA-1 MACs
and that has no TLS 1.3 gets a low-severity advisory, which does not fail it. TLS 1.3 suites
are all strong (RFC 8446) and not enumerated. Also fails when its chain does not verify;
when its certificate does not name the SNI name (or the IP address when no name is given);
when any certificate it sends has expired, is not yet valid or expires within
`cert_min_days`; when a key is weaker than `min_rsa_bits` (RSA, DSA) or `min_ec_bits` (EC);
when a certificate other than a self-signed root is signed with MD5 or SHA-1; when HSTS is
missing or its max-age is below `hsts_min_age` (0 turns the HSTS rule off); when plain HTTP
answers without a redirect to an https:// URL.

Error/Manual: fail when any endpoint fails; else error when an endpoint could not be judged
(unreachable, not TLS, unreadable output, a collector record without the shape it writes, a
suite enumeration cut short by its limits); skip when no endpoint is configured.

Secrets: none are read: the certificates are public, and of each HTTP answer only the status
line and the Strict-Transport-Security and Location headers are kept (no cookies, no body).

Blind spots: only the first address of a DNS name is probed; only the 83 TLS 1.0–1.2 suites
the collector names are offered (ARIA, PSK, SRP, GOST and static-DH suites are not); the
ECDHE curve is the one the server picks from x25519, P-256, P-384 and P-521, so weaker
curves it would also accept are not seen; a DHE group is seen as a client without RFC 7919
groups gets it; SSLv3 suites are not enumerated (SSLv3 fails on its own); OCSP/CRL
revocation, certificate transparency and HTTP paths other than `/` are not examined; the
chain is verified by the auditor's OpenSSL at its default security level, from the auditor's
network position (a server behind a load balancer may answer differently elsewhere).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import tls_facts as facts
from auditor.parsers import x509
from auditor.probes import network

OLD_PROTOCOLS = ("SSLv3", "TLSv1.0", "TLSv1.1")
MODERN_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
REDIRECTS = (301, 302, 307, 308)
# OpenSSL verify codes that this check's own certificate rules explain in their own words.
VALIDITY_CODES = (9, 10)  # not yet valid, expired
HOSTNAME_CODES = (62, 64)  # hostname mismatch, IP address mismatch
STRENGTH_CODES = (66, 67, 68)  # EE key too small, CA key too small, CA md too weak

CHECK = Check(
    id="tls",
    trend_values=("min_days_to_expiry",),
    title="HTTPS endpoints use current TLS, a valid certificate, HSTS and an HTTP redirect",
    claims=("https-in-transit", "encryption-and-access-control"),
    controls=("ISO27001:2022 A.8.24", "ISO27001:2022 A.8.21", "ISO27001:2022 A.5.14"),
    params=(
        Param("endpoints", list, [],
              "HTTPS endpoints to probe from the auditor: 'host:port', '[v6]:port', ':port' (this "
              "host's address), or {address, sni, ca_file, http_port, name}",
              item_keys=("address", "sni", "ca_file", "http_port", "name"),
              required_item_keys=("address",)),
        Param("cert_min_days", int, 14, "days a certificate must still be valid", minimum=0),
        Param("min_rsa_bits", int, 2048, "smallest acceptable RSA (and DSA) key", minimum=0),
        Param("min_ec_bits", int, 256, "smallest acceptable elliptic-curve key", minimum=0),
        Param("hsts_min_age", int, 15552000,
              "smallest acceptable Strict-Transport-Security max-age, seconds (180 days); "
              "0: HSTS not required", minimum=0),
        Param("http_port", int, 80,
              "plain-HTTP port that must redirect to https, unless an endpoint says; 0: none",
              minimum=0),
        Param("timeout_seconds", float, 5.0, "timeout of each connection the collector makes",
              minimum=0.1),
    ),
    probes=(network("handshakes", "tls"),),
)


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


def _judge_certificates(handshake: facts.Handshake, hostname: str, params: Params, at: dt.datetime,
                        verdict: Endpoint) -> set[str]:
    """Rules on the certificates the server sent; returns the kinds of fault found."""
    found: set[str] = set()
    if not handshake["chain_pem"]:
        verdict.unknown("the server sent no certificate")
        return found
    try:
        chain = [x509.parse_pem(pem) for pem in handshake["chain_pem"]]
    except ValueError as exc:
        verdict.unknown(f"certificate cannot be parsed: {exc}")
        return found
    leaf = chain[0]
    verdict.note(f"certificate: subject {leaf.subject}, issuer {leaf.issuer}, names {leaf.names()}, "
                 f"valid {leaf.not_before:%Y-%m-%d} to {leaf.not_after:%Y-%m-%d}, "
                 f"{leaf.key_type} {leaf.key_bits} bits, signed with {leaf.signature_hash}, "
                 f"SHA-256 {leaf.sha256}; {len(chain)} certificate(s) sent ({handshake['chain_source']})")
    if leaf.self_signed:
        verdict.note("the certificate is self-signed")
    if not x509.hostname_matches(leaf, hostname):
        verdict.fail(f"certificate names {leaf.names()}, not {hostname}")
        found.add("hostname")
    verdict.days_to_expiry = round(min(c.days_left(at) for c in chain), 1)
    for index, cert in enumerate(chain):
        which = "certificate" if index == 0 else f"chain certificate {index} ({cert.subject})"
        days = cert.days_left(at)
        if days < 0:
            verdict.fail(f"{which} expired {-days:.0f} days ago ({cert.not_after:%Y-%m-%d})")
            found.add("validity")
        elif days < params["cert_min_days"]:
            verdict.fail(f"{which} expires in {days:.0f} days ({cert.not_after:%Y-%m-%d}), "
                         f"less than {params['cert_min_days']}")
            found.add("validity")
        if cert.not_before > at:
            verdict.fail(f"{which} is not valid before {cert.not_before:%Y-%m-%d %H:%M} UTC")
            found.add("validity")
        minimum = params["min_ec_bits"] if cert.key_type == "EC" else params["min_rsa_bits"]
        if cert.key_type in ("RSA", "DSA", "EC") and cert.key_bits < minimum:
            verdict.fail(f"{which} has a {cert.key_bits}-bit {cert.key_type} key (less than {minimum})")
            found.add("strength")
        # A root's signature on itself proves nothing, so only it may use any hash.
        root = cert.self_signed and index > 0
        if cert.signature_hash in x509.WEAK_SIGNATURE_HASHES and not root:
            verdict.fail(f"{which} is signed with {cert.signature_hash.upper()}")
            found.add("strength")
    return found


def _judge_verification(checked: facts.Verification, hostname: str,
                        found: set[str], verdict: Endpoint) -> None:
    if "error" in checked:
        verdict.unknown(f"chain could not be verified: {checked['error']}")
    elif "verify_code" not in checked:
        verdict.note(f"chain verifies against {checked['trusted_by']} for {hostname}")
    else:
        code = checked["verify_code"]
        explained = ((code in VALIDITY_CODES and "validity" in found)
                     or (code in HOSTNAME_CODES and "hostname" in found)
                     or (code in STRENGTH_CODES and "strength" in found))
        text = (f"chain not trusted by {checked['trusted_by']}: {checked['verify_message']} "
                f"(verify code {code})")
        (verdict.note if explained else verdict.fail)(text)


def _hsts_max_age(header: str) -> int | None:
    for directive in header.split(";"):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            value = value.strip().strip('"')
            return int(value) if value.isdigit() else None
    return None


def _judge_https(https: facts.HttpsAnswer, params: Params, verdict: Endpoint) -> None:
    minimum = params["hsts_min_age"]
    if "error" in https:
        if minimum:
            verdict.unknown(f"GET / over HTTPS failed, HSTS unknown: {https['error']}")
        return
    verdict.note(f"HTTPS GET / answered {https['status_line']}")
    if not minimum:
        return
    if not https["hsts"]:
        verdict.fail("no Strict-Transport-Security header")
        return
    header = https["hsts"][0]  # browsers heed only the first (RFC 6797 8.1)
    max_age = _hsts_max_age(header)
    if max_age is None:
        verdict.fail(f"Strict-Transport-Security without a valid max-age: {header!r}")
    elif max_age < minimum:
        verdict.fail(f"HSTS max-age={max_age} is less than {minimum} seconds")
    else:
        sub = "includeSubDomains" if "includesubdomains" in header.lower() else "without includeSubDomains"
        verdict.note(f"HSTS max-age={max_age}, {sub}")


def _judge_http(http: facts.PlainHttpAnswer | None,
                verdict: Endpoint) -> None:
    if http is None:
        verdict.note("plain HTTP not tested (http_port 0)")
    elif "refused" in http:
        verdict.note(f"port {http['port']} closed (no plain HTTP)")
    elif "error" in http:
        verdict.note(f"port {http['port']}: no plain-HTTP answer ({http['error']})")
    else:
        location = http["location"][0] if http["location"] else ""
        if http["status"] in REDIRECTS and location.lower().startswith("https://"):
            verdict.note(f"port {http['port']} redirects ({http['status']}) to {location}")
        else:
            where = f" to {location}" if location else ""
            verdict.fail(f"port {http['port']} serves plain HTTP ({http['status_line']}{where}) "
                         "without redirecting to https")


def judge(endpoint: facts.EndpointFacts, params: Params, at: dt.datetime) -> Endpoint:
    """Every rule on one endpoint's recorded facts."""
    verdict = Endpoint(name=endpoint.name)
    record = endpoint.record
    if record is None:
        verdict.unknown(f"the collector's record of this endpoint is incomplete: {endpoint.incomplete}")
    elif "config_error" in record:
        verdict.unknown(f"endpoint not usable: {record['config_error']}")
    elif "connect_error" in record:
        verdict.unknown(f"unreachable: {record['connect_error']}")
    else:
        _judge_protocols(record["protocols"], verdict)
        if "suites" in record:
            _judge_suites(record["suites"], verdict.protocols, verdict)
        else:
            verdict.note("cipher suites not enumerated (evidence from a collector before they were)")
        handshake = record["tls"]
        if "error" in handshake:
            verdict.unknown(f"TLS handshake to read the certificate failed: {handshake['error']}")
            found: set[str] = set()
        else:
            found = _judge_certificates(handshake, record["hostname"], params, at, verdict)
        _judge_verification(record["verification"], record["hostname"], found, verdict)
        if "error" not in handshake:  # no handshake: already a problem
            _judge_https(handshake["https"], params, verdict)
        _judge_http(record["http"], verdict)
    return verdict


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["handshakes"]
    try:
        collected = facts.read(out.require("handshakes").stdout)
    except facts.Garbled as exc:
        return result(Status.ERROR, f"the tls collector's output cannot be read: {exc}", evidence=evidence)
    if not collected.endpoints:
        return result(Status.SKIP, "no TLS endpoint configured for this host; set vars.tls.endpoints",
                      evidence=evidence)
    verdicts = [judge(e, params, collected.collected_at) for e in collected.endpoints]
    # The endpoints' verdicts, one finding each, so the summary reads "N of M endpoint(s) fail: ...".
    findings = Findings(limit=len(verdicts))
    for v in verdicts:
        if v.status() is Status.FAIL:
            findings.fail(f"{v.name}: {', '.join(v.failures)}")
        elif v.status() is Status.ERROR:
            findings.unknown(f"{v.name}: {', '.join(v.errors)}")
    # Every endpoint that passes has a certificate, hence a days_to_expiry.
    served = "" if findings.items else f"{len(verdicts)} endpoint(s) serve HTTPS as promised: " + "; ".join(
        f"{v.name}: {' and '.join(v.protocols)}, certificate valid {v.days_to_expiry:.0f} more days"
        for v in verdicts)
    outcome = findings.result(
        evidence=evidence,
        ok_summary=served,
        fail_prefix=f"{{n}} of {len(verdicts)} endpoint(s) fail: ",
        error_prefix=f"{{n}} of {len(verdicts)} endpoint(s) could not be judged: ",
        endpoints=len(verdicts), endpoints_failing=len(findings.failures),
        endpoints_unknown=len(findings.errors),
        endpoints_with_old_tls=sum(1 for v in verdicts if set(v.protocols) & set(OLD_PROTOCOLS)),
        endpoints_with_weak_suites=sum(1 for v in verdicts if v.weak_suites),
        min_days_to_expiry=min((v.days_to_expiry for v in verdicts if v.days_to_expiry is not None),
                               default=None),
        # One shape whatever the number of endpoints, so that a series of runs stays comparable.
        protocols={v.name: ",".join(v.protocols) for v in verdicts},
        weak_suites={v.name: ",".join(v.weak_suites) for v in verdicts})
    # The details are each endpoint's own, every line named by its endpoint.
    return replace(outcome, details=tuple(f"{v.name}: {line}" for v in verdicts for line in v.details()))
