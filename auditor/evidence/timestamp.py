"""An optional RFC 3161 trusted timestamp over manifest.json: a time-stamping authority (TSA)
signs "this SHA-256 existed at this time", which a signature made with the run's own key
cannot prove (its clock is the operator's).

Off by default: the tool stays air-gapped and sends nothing but SSH and TLS to the audited
hosts unless `--timestamp-url URL` is given. Then, once the manifest is written and signed,
the run sends the TSA the manifest's SHA-256 (never a file), checks the answer stamps that
hash with the nonce it sent, and stores the TSA's whole response as `manifest.tsr` next to
manifest.json. It is not in the manifest it stamps; `auditor verify` checks it as a fact of
its own, and so does `openssl ts -verify -in manifest.tsr -data manifest.json -CAfile …`.

The ASN.1 and the CMS signature are `rfc3161-client`'s (Trail of Bits, used by
sigstore-python; a Rust core over the `cryptography` types): a well-kept implementation of
exactly this protocol, where asn1crypto would leave the signed-attribute and certificate
chain checks to us.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from auditor.errors import InputError, UsageError
from auditor.evidence import atomic, pack

TOKEN = pack.TIMESTAMP
FACT = "timestamp"
CONTENT_TYPE = "application/timestamp-query"
TIMEOUT_S = 30.0
MAX_RESPONSE = 1 << 20  # a token with its certificate chain is a few KiB; a hostile TSA costs at most this


class TimestampError(InputError):
    """No usable token came back; the run keeps its report, only the timestamp is missing."""


def check_url(url: str) -> None:
    """Refuse, before any host is contacted, a URL that is not http(s)://host/…."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--timestamp-url {url[:80]!r}: give the TSA's http:// or https:// URL "
                         "(e.g. https://freetsa.org/tsr)")


def request_token(manifest: bytes, url: str, timeout: float = TIMEOUT_S) -> bytes:
    """Ask the TSA at `url` to stamp manifest.json's SHA-256; returns its DER response, checked
    to be granted, over that hash, with our nonce."""
    check_url(url)
    query = (TimestampRequestBuilder().data(manifest).hash_algorithm(HashAlgorithm.SHA256)
             .nonce(nonce=True).cert_request(cert_request=True).build())
    post = urllib.request.Request(url, data=query.as_bytes(), method="POST",  # noqa: S310 - http(s) only
                                  headers={"Content-Type": CONTENT_TYPE})
    try:
        with urllib.request.urlopen(post, timeout=timeout) as answer:  # noqa: S310 - scheme checked above
            data: bytes = answer.read(MAX_RESPONSE + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TimestampError(f"{url}: no timestamp: {getattr(exc, 'reason', None) or exc}") from None
    if len(data) > MAX_RESPONSE:
        raise TimestampError(f"{url}: the answer is larger than {MAX_RESPONSE} bytes; not a timestamp")
    try:
        response = decode_timestamp_response(data)
    except ValueError as exc:
        raise TimestampError(f"{url}: the answer is not an RFC 3161 timestamp response ({exc})") from None
    if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        why = "; ".join(response.status_string) or f"status {response.status}"
        raise TimestampError(f"{url}: the TSA refused to stamp: {why}")
    if response.tst_info.message_imprint.message != hashlib.sha256(manifest).digest():
        raise TimestampError(f"{url}: the token stamps another hash than manifest.json's")
    if response.tst_info.nonce != query.nonce:
        raise TimestampError(f"{url}: the token does not carry the nonce we sent (a replayed answer?)")
    return data


def stamp(run_dir: Path, url: str, timeout: float = TIMEOUT_S) -> str:
    """Write manifest.tsr for run_dir's manifest.json; returns the stamped time (ISO 8601)."""
    data = request_token((run_dir / pack.MANIFEST).read_bytes(), url, timeout)
    atomic.write_bytes(run_dir / TOKEN, data)
    return decode_timestamp_response(data).tst_info.gen_time.isoformat()


def load_certificates(path: Path) -> list[x509.Certificate]:
    """The TSA certificate and the CA certificates that issued it, PEM, from one file."""
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable PEM certificate file "
                         f"({getattr(exc, 'strerror', None) or exc})") from None
    return certificates


def _self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _stamps_time(certificate: x509.Certificate) -> bool:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.TIME_STAMPING in usage


def _verified(response: TimeStampResponse, manifest: bytes, certificates: Sequence[x509.Certificate]) -> None:
    """The token's CMS signature, by a time-stamping certificate that chains to `certificates`
    (their self-signed ones are the roots; with none, the certificates themselves are pinned)."""
    roots = [c for c in certificates if _self_signed(c)] or list(certificates)
    builder = VerifierBuilder(roots=roots, intermediates=[c for c in certificates if c not in roots])
    leaves = [c for c in certificates if _stamps_time(c) and not _self_signed(c)]
    if len(leaves) == 1:
        builder = builder.tsa_certificate(leaves[0])
    builder.build().verify_message(response, manifest)


def check(contents: pack.PackContents, tsa_certificates: Sequence[x509.Certificate] = (),
          tsa_source: str = "") -> pack.Fact | None:
    """The `timestamp` fact of a pack with a manifest.tsr (None without one): the token stamps
    this manifest.json and is signed by the TSA of `tsa_certificates` (`--tsa-cert`), or, with
    none given, by the certificates it embeds (which proves less: anyone can make those)."""
    token = contents.files.get(TOKEN)
    if token is None:
        return None
    manifest = contents.files.get(pack.MANIFEST, b"")
    try:
        response = decode_timestamp_response(token)
    except ValueError as exc:
        return pack.Fact(FACT, False, f"{TOKEN} is not an RFC 3161 timestamp response ({exc})")
    stamped = response.tst_info.gen_time.isoformat().replace("+00:00", "Z")
    if response.tst_info.message_imprint.message != hashlib.sha256(manifest).digest():
        return pack.Fact(FACT, False, f"{TOKEN} stamps another manifest.json (stamped {stamped}): the "
                                      "manifest was changed or replaced after it was stamped")
    embedded = [x509.load_der_x509_certificate(c) for c in sorted(response.signed_data.certificates)]
    chosen = list(tsa_certificates) or embedded
    signer = next((c for c in [*embedded, *chosen] if _stamps_time(c)), None)
    if not tsa_certificates and not any(_self_signed(c) for c in embedded):
        # A TSA certificate alone cannot anchor a chain: its signature is checked only against a CA
        named = f" {signer.subject.rfc4514_string()}" if signer is not None else ""
        return pack.Fact(FACT, False, f"{TOKEN} stamps this manifest.json at {stamped}, but its signature by "
                                      f"the TSA{named} can be checked only against the CA that issued the "
                                      "TSA's certificate: give it with --tsa-cert FILE")
    try:
        _verified(response, manifest, chosen)
    except (VerificationError, ValueError) as exc:
        return pack.Fact(FACT, False, f"{TOKEN}: BAD timestamp signature for the TSA "
                                      f"{'of ' + tsa_source if tsa_certificates else 'it names'}: {exc}")
    name = (signer or chosen[0]).subject.rfc4514_string()
    how = (f"its TSA checked against {tsa_source}" if tsa_certificates else
           "checked against the certificates it embeds only; give --tsa-cert FILE to check the TSA you trust")
    return pack.Fact(FACT, True, f"manifest.json existed at {stamped}, stamped by {name} ({how})")
