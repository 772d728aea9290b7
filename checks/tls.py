"""Data in transit is protected by HTTPS done right, seen from the auditor's machine.

Inspects every endpoint listed in `vars.tls.endpoints` (`host:port`, `[v6]:port`, `:port`
for the host's own address, or a mapping with `address`, `sni`, `ca_file`, `http_port`,
`name`) through the engine's `tls` collector, run from the auditor: SSLv3 and TLS 1.0,
1.1, 1.2 and 1.3 each offered alone with a hand-built ClientHello (so the auditor's
OpenSSL, which no longer speaks TLS 1.0/1.1, cannot hide them); the certificate chain
the server sends (stored as PEM in the evidence and parsed here, so a saved evidence
pack can be re-judged); a verifying handshake against `ca_file` or the system store with
the SNI name; `GET /` over HTTPS for `Strict-Transport-Security`; `GET /` over plain HTTP
on `http_port` (default 80) for the redirect.

An endpoint fails when it accepts SSLv3, TLS 1.0 or TLS 1.1, or neither TLS 1.2 nor 1.3;
when its chain does not verify; when its certificate does not name the SNI name (or the
IP address when no name is given); when any certificate it sends has expired, is not yet
valid or expires within `cert_min_days`; when a key is weaker than `min_rsa_bits` (RSA,
DSA) or `min_ec_bits` (EC); when a certificate other than a self-signed root is signed
with MD5 or SHA-1; when HSTS is missing or its max-age is below `hsts_min_age` (0 turns
the HSTS rule off); when plain HTTP answers without a redirect to an https:// URL. A
closed or silent plain-HTTP port is fine and noted. Expiry is counted from the time of
collection recorded in the evidence, so a re-judged pack gives the same verdict.

Status: fail when any endpoint fails; else error when an endpoint could not be judged
(unreachable, not TLS, unreadable output); skip when no endpoint is configured.

Blind spots: only the first address of a DNS name is probed; cipher suites beyond the
protocol versions, OCSP/CRL revocation, certificate transparency and HTTP paths other
than `/` are not examined; the chain is verified by the auditor's OpenSSL at its default
security level, from the auditor's network position (a server behind a load balancer
may answer differently elsewhere).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
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


class Garbled(ValueError):
    """The collector's output is not what it writes."""


@dataclass
class Endpoint(Findings):
    """What was found about one endpoint: its findings, and the values the report keeps."""

    name: str = "?"
    protocols: list[str] = field(default_factory=list)
    days_to_expiry: float | None = None


def _collected_at(document: dict[str, Any]) -> dt.datetime:
    try:
        return dt.datetime.strptime(document["collected_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise Garbled(f"no valid collected_at ({exc})") from exc


def _judge_protocols(endpoint: dict[str, Any], verdict: Endpoint) -> None:
    offered = endpoint["protocols"]
    why_untested: dict[str, list[str]] = {}
    for version, answer in offered.items():
        if answer["supported"] is None:
            why_untested.setdefault(answer.get("error", "no answer"), []).append(version)
    untested = [f"{', '.join(versions)} ({why})" for why, versions in why_untested.items()]
    verdict.protocols = [v for v in (*OLD_PROTOCOLS, *MODERN_PROTOCOLS) if offered[v]["supported"] is True]
    old = [v for v in OLD_PROTOCOLS if offered[v]["supported"] is True]
    if old:
        verdict.fail(f"accepts {', '.join(old)}")
    if untested:
        verdict.unknown(f"could not test {'; '.join(untested)}")
    elif not any(offered[v]["supported"] for v in MODERN_PROTOCOLS):
        verdict.fail("supports neither TLS 1.2 nor TLS 1.3")
    answers = ", ".join(f"{v}: {offered[v].get('answer') or offered[v].get('error')}" for v in offered)
    verdict.note(f"protocols offered one by one: {answers}")


def _judge_certificates(endpoint: dict[str, Any], params: Params, at: dt.datetime,
                        verdict: Endpoint) -> set[str]:
    """Rules on the certificates the server sent; returns the kinds of fault found."""
    tls = endpoint["tls"]
    found: set[str] = set()
    if tls.get("error"):
        verdict.unknown(f"TLS handshake to read the certificate failed: {tls['error']}")
        return found
    pems: list[str] = tls["chain_pem"]
    if not pems:
        verdict.unknown("the server sent no certificate")
        return found
    try:
        chain = [x509.parse_pem(pem) for pem in pems]
    except ValueError as exc:
        verdict.unknown(f"certificate cannot be parsed: {exc}")
        return found
    leaf = chain[0]
    hostname = endpoint["hostname"]
    verdict.note(f"certificate: subject {leaf.subject}, issuer {leaf.issuer}, names {leaf.names()}, "
                         f"valid {leaf.not_before:%Y-%m-%d} to {leaf.not_after:%Y-%m-%d}, "
                         f"{leaf.key_type} {leaf.key_bits} bits, signed with {leaf.signature_hash}, "
                         f"SHA-256 {leaf.sha256}; {len(chain)} certificate(s) sent ({tls['chain_source']})")
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
            verdict.fail(f"{which} has a {cert.key_bits}-bit {cert.key_type} key "
                                    f"(less than {minimum})")
            found.add("strength")
        # A root's signature on itself proves nothing, so only it may use any hash.
        root = cert.self_signed and index > 0
        if cert.signature_hash in x509.WEAK_SIGNATURE_HASHES and not root:
            verdict.fail(f"{which} is signed with {cert.signature_hash.upper()}")
            found.add("strength")
    return found


def _judge_verification(endpoint: dict[str, Any], found: set[str], verdict: Endpoint) -> None:
    checked = endpoint["verification"]
    if checked["ok"] is True:
        verdict.note(f"chain verifies against {checked['trusted_by']} for {endpoint['hostname']}")
        return
    if checked["ok"] is None:
        verdict.unknown(f"chain could not be verified: {checked['error']}")
        return
    code = checked["verify_code"]
    explained = ((code in VALIDITY_CODES and "validity" in found)
                 or (code in HOSTNAME_CODES and "hostname" in found)
                 or (code in STRENGTH_CODES and "strength" in found))
    text = f"chain not trusted by {checked['trusted_by']}: {checked['verify_message']} (verify code {code})"
    (verdict.note if explained else verdict.fail)(text)


def _hsts_max_age(header: str) -> int | None:
    for directive in header.split(";"):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            value = value.strip().strip('"')
            return int(value) if value.isdigit() else None
    return None


def _judge_https(endpoint: dict[str, Any], params: Params, verdict: Endpoint) -> None:
    https = endpoint["tls"].get("https")
    minimum = params["hsts_min_age"]
    if https is None:
        return  # no handshake: already a problem
    if https.get("error"):
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


def _judge_http(endpoint: dict[str, Any], verdict: Endpoint) -> None:
    http = endpoint.get("http")
    if http is None:
        verdict.note("plain HTTP not tested (http_port 0)")
        return
    port = http["port"]
    if http.get("refused"):
        verdict.note(f"port {port} closed (no plain HTTP)")
    elif http.get("error"):
        verdict.note(f"port {port}: no plain-HTTP answer ({http['error']})")
    else:
        location = http["location"][0] if http["location"] else ""
        if http["status"] in REDIRECTS and location.lower().startswith("https://"):
            verdict.note(f"port {port} redirects ({http['status']}) to {location}")
        else:
            where = f" to {location}" if location else ""
            verdict.fail(f"port {port} serves plain HTTP ({http['status_line']}{where}) "
                                    "without redirecting to https")


def judge(endpoint: dict[str, Any], params: Params, at: dt.datetime) -> Endpoint:
    """Every rule on one endpoint's recorded facts."""
    verdict = Endpoint(name=str(endpoint.get("name", "?")))
    if endpoint.get("config_error"):
        verdict.unknown(f"endpoint not usable: {endpoint['config_error']}")
        return verdict
    if endpoint.get("connect_error"):
        verdict.unknown(f"unreachable: {endpoint['connect_error']}")
        return verdict
    try:
        _judge_protocols(endpoint, verdict)
        found = _judge_certificates(endpoint, params, at, verdict)
        _judge_verification(endpoint, found, verdict)
        _judge_https(endpoint, params, verdict)
        _judge_http(endpoint, verdict)
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        verdict.unknown(f"the collector's record of this endpoint is incomplete: "
                                f"{type(exc).__name__}: {exc}")
    return verdict


def _parse(text: str) -> tuple[list[dict[str, Any]], dt.datetime]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Garbled(f"not JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("collector") != "tls":
        raise Garbled("not the tls collector's JSON")
    endpoints = document.get("endpoints")
    if not isinstance(endpoints, list) or not all(isinstance(e, dict) for e in endpoints):
        raise Garbled("no endpoint list")
    return endpoints, _collected_at(document)


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["handshakes"]
    try:
        endpoints, at = _parse(out.require("handshakes").stdout)
    except Garbled as exc:
        return result(Status.ERROR, f"the tls collector's output cannot be read: {exc}", evidence=evidence)
    if not endpoints:
        return result(Status.SKIP, "no TLS endpoint configured for this host; set vars.tls.endpoints",
                      evidence=evidence)
    verdicts = [judge(e, params, at) for e in endpoints]
    details = [f"{v.name}: {line}" for v in verdicts for line in v.details()]
    failing = [v for v in verdicts if v.status() is Status.FAIL]
    unknown = [v for v in verdicts if v.status() is Status.ERROR]
    expiries = [v.days_to_expiry for v in verdicts if v.days_to_expiry is not None]
    # One shape whatever the number of endpoints, so that a series of runs stays comparable.
    protocols = {v.name: ",".join(v.protocols) for v in verdicts}
    old_tls = [v for v in verdicts if set(v.protocols) & set(OLD_PROTOCOLS)]
    values = {"endpoints": len(verdicts), "endpoints_failing": len(failing),
              "endpoints_unknown": len(unknown), "endpoints_with_old_tls": len(old_tls),
              "min_days_to_expiry": min(expiries, default=None), "protocols": protocols}
    count = len(verdicts)
    if failing:
        summary = f"{len(failing)} of {count} endpoint(s) fail: " + "; ".join(
            f"{v.name}: {', '.join(v.failures)}" for v in failing)
        return result(Status.FAIL, summary, details, evidence, **values)
    if unknown:
        summary = f"{len(unknown)} of {count} endpoint(s) could not be judged: " + "; ".join(
            f"{v.name}: {', '.join(v.errors)}" for v in unknown)
        return result(Status.ERROR, summary, details, evidence, **values)
    summary = f"{count} endpoint(s) serve HTTPS as promised: " + "; ".join(
        f"{v.name}: {' and '.join(v.protocols)}, certificate valid {v.days_to_expiry:.0f} more days"
        for v in verdicts)
    return result(Status.PASS, summary, details, evidence, **values)
