"""Judging a TLS endpoint's certificate chain and verification, and its HTTPS and plain-HTTP
answers (HSTS, the redirect to HTTPS).
"""

from __future__ import annotations

import datetime as dt

from auditor.check import Params
from auditor.parsers import tls_facts as facts
from auditor.parsers import x509

from ._suites import Endpoint

REDIRECTS = (301, 302, 307, 308)
# OpenSSL verify codes that this check's own certificate rules explain in their own words.
VALIDITY_CODES = (9, 10)  # not yet valid, expired
HOSTNAME_CODES = (62, 64)  # hostname mismatch, IP address mismatch
STRENGTH_CODES = (66, 67, 68)  # EE key too small, CA key too small, CA md too weak


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
