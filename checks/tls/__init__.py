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
from dataclasses import replace

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import tls_facts as facts
from auditor.probes import network

from ._certificates import (
    HOSTNAME_CODES,
    REDIRECTS,
    STRENGTH_CODES,
    VALIDITY_CODES,
    _judge_certificates,
    _judge_http,
    _judge_https,
    _judge_verification,
)
from ._suites import (
    CBC_SHA1_ONLY,
    DH_CRITICAL_BITS,
    DH_MIN_BITS,
    DH_REFERENCE,
    FAILING_SEVERITIES,
    MODERN_PROTOCOLS,
    OLD_PROTOCOLS,
    ORDERS,
    SUITE_CLASSES,
    Endpoint,
    SuiteClass,
    _judge_protocols,
    _judge_suites,
)

# Every public name this module had before it was split, for its callers.
__all__ = [
    "CBC_SHA1_ONLY", "CHECK", "DH_CRITICAL_BITS", "DH_MIN_BITS", "DH_REFERENCE", "Endpoint",
    "FAILING_SEVERITIES", "HOSTNAME_CODES", "MODERN_PROTOCOLS", "OLD_PROTOCOLS", "ORDERS",
    "REDIRECTS", "STRENGTH_CODES", "SUITE_CLASSES", "SuiteClass", "VALIDITY_CODES", "evaluate",
    "judge",
]


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
