"""X.509 certificates as an auditor judges them: names, validity, key, signature.

Pure functions over PEM text (no I/O), so a check can re-judge certificates saved in the
evidence. Hostname matching follows what Python's `ssl` asks of OpenSSL: subjectAltName
DNS names, a wildcard only as the whole left-most label and matching exactly one label,
IP addresses only against IP-address SANs, and the subject's common name only when the
certificate has no DNS or IP SAN at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

WEAK_SIGNATURE_HASHES = ("md5", "sha1")


@dataclass(frozen=True)
class CertFacts:
    subject: str
    issuer: str
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: dt.datetime  # UTC
    not_after: dt.datetime  # UTC
    key_type: str  # RSA, EC, Ed25519, Ed448, DSA, or the key class's name
    key_bits: int
    signature_hash: str | None  # e.g. sha256; None for Ed25519/Ed448
    self_signed: bool  # issuer == subject and its own key verifies its signature
    is_ca: bool
    sha256: str  # fingerprint of the DER, hex

    def names(self) -> str:
        """The names the certificate is valid for, as a person would list them."""
        sans = [*self.dns_names, *self.ip_addresses]
        return ", ".join(sans) if sans else f"CN={self.common_name} (no subjectAltName)"

    def days_left(self, at: dt.datetime) -> float:
        return (self.not_after - at).total_seconds() / 86400


def _key(cert: x509.Certificate) -> tuple[str, int]:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return "unsupported", 0
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, 0


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def parse_pem(pem: str) -> CertFacts:
    """The facts of one PEM certificate; ValueError when it is not one, or is malformed."""
    try:
        return _facts(x509.load_pem_x509_certificate(pem.encode("ascii")))
    except (TypeError, UnsupportedAlgorithm, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc


def _facts(cert: x509.Certificate) -> CertFacts:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(sans.get_values_for_type(x509.DNSName))
        ip_addresses = tuple(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns_names, ip_addresses = (), ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        signature_hash = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        signature_hash = None
    key_type, key_bits = _key(cert)
    return CertFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=str(common_names[0].value) if common_names else None,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_bits=key_bits,
        signature_hash=signature_hash.name if signature_hash is not None else None,
        self_signed=_self_signed(cert),
        is_ca=is_ca,
        sha256=hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
    )


def _dns_matches(pattern: str, hostname: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern == hostname:
        return True
    if not pattern.startswith("*.") or "*" in pattern[1:]:
        return False  # partial wildcards (f*o.example) are not honoured
    suffix = pattern[1:]  # ".example.com"
    if suffix.count(".") < 2:
        return False  # "*.com" names a whole top-level domain: never valid
    head, _, tail = hostname.partition(".")
    return bool(head) and "." + tail == suffix


def hostname_matches(facts: CertFacts, hostname: str) -> bool:
    """Whether the certificate is valid for `hostname` (a DNS name or an IP address)."""
    name = hostname.strip().lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return any(ipaddress.ip_address(a) == ip for a in facts.ip_addresses)
    if facts.dns_names or facts.ip_addresses:
        return any(_dns_matches(pattern, name) for pattern in facts.dns_names)
    return facts.common_name is not None and _dns_matches(facts.common_name, name)
