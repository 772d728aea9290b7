"""Data in transit is protected by HTTPS done right, seen from the auditor's machine.

Reads: every endpoint listed in `vars.tls.endpoints` (`host:port`, `[v6]:port`, `:port`
for the host's own address, or a mapping with `address`, `sni`, `ca_file`, `http_port`,
`name`) through the engine's `tls` collector, run from the auditor: SSLv3 and TLS 1.0,
1.1, 1.2 and 1.3 each offered alone with a hand-built ClientHello (so the auditor's
OpenSSL, which no longer speaks TLS 1.0/1.1, cannot hide them); the certificate chain
the server sends (stored as PEM in the evidence and parsed here, so a saved evidence
pack can be re-judged); a verifying handshake against `ca_file` or the system store with
the SNI name; `GET /` over HTTPS for `Strict-Transport-Security`; `GET /` over plain HTTP
on `http_port` (default 80) for the redirect. The collector's JSON is checked against its
shape (`auditor/parsers/tls_facts.py`) before any rule reads it.

Passes when: every endpoint passes every rule below. A closed or silent plain-HTTP port is
fine and noted. Expiry is counted from the time of collection recorded in the evidence, so a
re-judged pack gives the same verdict.

Fails when: an endpoint accepts SSLv3, TLS 1.0 or TLS 1.1, or neither TLS 1.2 nor 1.3;
when its chain does not verify; when its certificate does not name the SNI name (or the
IP address when no name is given); when any certificate it sends has expired, is not yet
valid or expires within `cert_min_days`; when a key is weaker than `min_rsa_bits` (RSA,
DSA) or `min_ec_bits` (EC); when a certificate other than a self-signed root is signed
with MD5 or SHA-1; when HSTS is missing or its max-age is below `hsts_min_age` (0 turns
the HSTS rule off); when plain HTTP answers without a redirect to an https:// URL.

Error/Manual: fail when any endpoint fails; else error when an endpoint could not be judged
(unreachable, not TLS, unreadable output, a collector record without the shape it writes);
skip when no endpoint is configured.

Secrets: none are read: the certificates are public, and of each HTTP answer only the status
line and the Strict-Transport-Security and Location headers are kept (no cookies, no body).

Blind spots: only the first address of a DNS name is probed; cipher suites beyond the
protocol versions, OCSP/CRL revocation, certificate transparency and HTTP paths other
than `/` are not examined; the chain is verified by the auditor's OpenSSL at its default
security level, from the auditor's network position (a server behind a load balancer
may answer differently elsewhere).
"""

from __future__ import annotations

import datetime as dt
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


@dataclass
class Endpoint(Findings):
    """What was found about one endpoint: its findings, and the values the report keeps."""

    name: str = "?"
    protocols: list[str] = field(default_factory=list)
    days_to_expiry: float | None = None


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
        min_days_to_expiry=min((v.days_to_expiry for v in verdicts if v.days_to_expiry is not None),
                               default=None),
        # One shape whatever the number of endpoints, so that a series of runs stays comparable.
        protocols={v.name: ",".join(v.protocols) for v in verdicts})
    # The details are each endpoint's own, every line named by its endpoint.
    return replace(outcome, details=tuple(f"{v.name}: {line}" for v in verdicts for line in v.details()))
