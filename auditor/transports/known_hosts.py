"""known_hosts as OpenSSH reads it: plain and hashed names, wildcards and negation,
`@cert-authority` lines that vouch for host certificates, and `@revoked` keys.

paramiko's own reader stops at the first marker line (`InvalidHostKey`), which made every
host fail for anyone with an SSH CA. Here a line we cannot read is skipped (as `ssh` does),
and a host's key is judged the way sshconnect.c judges it: a revoked key (plain, certified,
or the CA that signed it) is refused naming its line; a certificate signed by a CA trusted
for the host is accepted when it is a host certificate, names the host, is within its
validity and its signature verifies; otherwise the plain key decides.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import hashlib
import hmac
import shlex
import struct
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import paramiko

from auditor.transports.base import HostKeyError

CERT_SUFFIX = "-cert-v01@openssh.com"
_HOST_CERT = 2  # SSH2_CERT_TYPE_HOST
# How many SSH strings/mpints the public key holds inside a certificate, after the nonce.
_CERT_KEY_FIELDS = {"ssh-ed25519": 1, "ssh-rsa": 2, "ssh-dss": 4, "ecdsa-sha2-nistp256": 2,
                    "ecdsa-sha2-nistp384": 2, "ecdsa-sha2-nistp521": 2}


class Marker(StrEnum):
    NONE = ""
    CERT_AUTHORITY = "@cert-authority"
    REVOKED = "@revoked"


@dataclass(frozen=True)
class KnownHostLine:
    path: Path
    line: int
    marker: Marker
    patterns: str
    key_type: str
    blob: bytes  # the public key as SSH wire bytes

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def matches(self, name: str) -> bool:
        return host_matches(self.patterns, name)


def host_matches(patterns: str, name: str) -> bool:
    """Whether `name` matches a known_hosts host field: comma-separated patterns, `!` negates
    (a negated match wins), `*`/`?` wildcards, or one `|1|salt|hash` hashed name. As OpenSSH's
    match_pattern_list, only the pattern is lowered: callers pass names already lowered."""
    if patterns.startswith("|1|"):
        _, _, salt, digest = (patterns.split("|") + ["", ""])[:4]
        try:
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except (binascii.Error, ValueError):
            return False
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if _glob(pattern[1:] if negated else pattern, name):
            if negated:
                return False
            matched = True
    return matched


def _glob(pattern: str, name: str) -> bool:
    # OpenSSH's match_pattern knows only * and ?; fnmatch's [...] classes must stay literal.
    return fnmatch.fnmatchcase(name, pattern.lower().replace("[", "[[]"))


def _parsed(path: Path) -> tuple[KnownHostLine, ...]:
    """parse(path), once per file version: a fleet's known_hosts has a line per host and every
    connection loads it, so parsing it each time would cost hosts x lines (quadratic)."""
    try:
        stat = path.stat()
    except OSError:
        return ()
    return _parsed_version(path, (stat.st_mtime_ns, stat.st_size, stat.st_ino))


@functools.lru_cache(maxsize=8)
def _parsed_version(path: Path, stamp: tuple[int, int, int]) -> tuple[KnownHostLine, ...]:
    return tuple(parse(path))


def parse(path: Path) -> list[KnownHostLine]:
    """Every readable line of one known_hosts file; others are skipped, as `ssh` skips them."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = Marker.NONE
        if fields[0].startswith("@"):
            if fields[0] not in (Marker.CERT_AUTHORITY, Marker.REVOKED):
                continue
            marker = Marker(fields[0])
            fields = fields[1:]
        if len(fields) < 3:
            continue
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except (binascii.Error, ValueError):
            continue
        if _ssh_string(blob, 0)[0] != fields[1].encode():
            continue
        lines.append(KnownHostLine(path, number, marker, fields[0], fields[1], blob))
    return lines


def _ssh_string(data: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(data):
        raise ValueError("truncated")
    (size,) = struct.unpack(">I", data[offset:offset + 4])
    end = offset + 4 + size
    if end > len(data):
        raise ValueError("truncated")
    return data[offset + 4:end], end


def _ssh_string_or_empty(data: bytes, offset: int) -> bytes:
    try:
        return _ssh_string(data, offset)[0]
    except ValueError:
        return b""


@dataclass(frozen=True)
class HostCertificate:
    """The parts of an OpenSSH certificate (PROTOCOL.certkeys) that a client checks."""

    key_type: str
    key_blob: bytes  # the certified public key, as a plain key's wire bytes
    serial: int
    cert_type: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical_options: bytes
    ca_blob: bytes
    signed: bytes  # everything the signature covers
    signature: bytes

    @classmethod
    def parse(cls, blob: bytes) -> HostCertificate:
        cert_type_name, offset = _ssh_string(blob, 0)
        key_type = cert_type_name.decode().removesuffix(CERT_SUFFIX)
        if key_type not in _CERT_KEY_FIELDS:
            raise ValueError(f"unsupported certificate type {cert_type_name!r}")
        _, offset = _ssh_string(blob, offset)  # nonce
        key_start = offset
        for _ in range(_CERT_KEY_FIELDS[key_type]):
            _, offset = _ssh_string(blob, offset)
        key_fields = blob[key_start:offset]
        serial, cert_type = struct.unpack(">QI", blob[offset:offset + 12])
        offset += 12
        key_id, offset = _ssh_string(blob, offset)
        principals_blob, offset = _ssh_string(blob, offset)
        valid_after, valid_before = struct.unpack(">QQ", blob[offset:offset + 16])
        offset += 16
        critical, offset = _ssh_string(blob, offset)
        _, offset = _ssh_string(blob, offset)  # extensions
        _, offset = _ssh_string(blob, offset)  # reserved
        ca_blob, offset = _ssh_string(blob, offset)
        signed = blob[:offset]
        signature, offset = _ssh_string(blob, offset)
        principals, at = [], 0
        while at < len(principals_blob):
            principal, at = _ssh_string(principals_blob, at)
            principals.append(principal.decode(errors="replace"))
        plain = struct.pack(">I", len(key_type)) + key_type.encode() + key_fields
        return cls(key_type, plain, serial, cert_type, key_id.decode(errors="replace"), tuple(principals),
                   valid_after, valid_before, critical, ca_blob, signed, signature)

    def problem(self, principal: str, now: float) -> str | None:
        """Why this certificate does not vouch for `principal` now (signature aside), or None."""
        if self.cert_type != _HOST_CERT:
            return "it is a user certificate, not a host certificate"
        if self.principals and principal not in self.principals:
            return f"it names {', '.join(self.principals)}, not {principal}"
        if not self.valid_after <= now < self.valid_before:
            return "it is outside its validity period"
        if self.critical_options:
            return "it carries critical options, which host certificates may not"
        return None

    def signature_verifies(self) -> bool:
        try:
            ca_type = _ssh_string(self.ca_blob, 0)[0].decode()
            ca_key = paramiko.PKey.from_type_string(ca_type, self.ca_blob)
            return bool(ca_key.verify_ssh_sig(self.signed, paramiko.Message(self.signature)))
        except Exception:  # noqa: BLE001 - any malformed CA key or signature is simply not valid
            return False


class Verdict(StrEnum):
    KNOWN = "known"  # a known_hosts line vouches for this key
    UNKNOWN = "unknown"  # no line names this host: the missing-key policy decides


@dataclass(frozen=True)
class KnownHosts:
    """The lines of a host's known_hosts files, user files first, as `ssh` reads them."""

    lines: tuple[KnownHostLine, ...]
    # A connection asks for its host's lines three times (CA?, key types, the key itself); each
    # time is a pattern match, or an HMAC for a hashed name, per line of a file that lists the fleet.
    _matched: dict[str, tuple[KnownHostLine, ...]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, paths: list[Path]) -> KnownHosts:
        return cls(tuple(line for path in paths for line in _parsed(path)))

    def for_name(self, name: str) -> list[KnownHostLine]:
        if name not in self._matched:
            self._matched[name] = tuple(line for line in self.lines if line.matches(name))
        return list(self._matched[name])

    def trusts_a_ca(self, name: str) -> bool:
        return any(line.marker is Marker.CERT_AUTHORITY for line in self.for_name(name))

    def known_key_types(self, name: str) -> list[str]:
        return [line.key_type for line in self.for_name(name) if line.marker is Marker.NONE]

    def judge(self, name: str, principal: str, key: paramiko.PKey, now: float | None = None) -> Verdict:
        """KNOWN or UNKNOWN; raises HostKeyError for a revoked, changed or wrongly certified key.

        `name` is the known_hosts name (`host` or `[host]:port`); `principal` is the host name a
        certificate must list (OpenSSH checks the name without the port).
        """
        lines = self.for_name(name)
        cert_blob = key.public_blob.key_blob if key.public_blob is not None else None
        plain_blob = key.asbytes()
        cert = HostCertificate.parse(cert_blob) if cert_blob else None
        if cert is not None:
            plain_blob = cert.key_blob
        fingerprint = _fingerprint(plain_blob)
        revoked_blobs = {line.blob: line for line in lines if line.marker is Marker.REVOKED}
        for blob in (plain_blob, cert_blob, cert.ca_blob if cert else None):
            if blob is not None and blob in revoked_blobs:
                what = "the certificate authority that signed its key" if cert and blob == cert.ca_blob \
                    else "its key"
                raise HostKeyError(f"host key for {name} ({fingerprint}) is refused: {what} is marked "
                                   f"@revoked at {revoked_blobs[blob].where}")
        cert_problem = None
        if cert is not None:
            authorities = [line for line in lines if line.marker is Marker.CERT_AUTHORITY]
            trusted = next((line for line in authorities if line.blob == cert.ca_blob), None)
            if trusted is not None:
                cert_problem = cert.problem(principal, time.time() if now is None else now)
                if cert_problem is None and not cert.signature_verifies():
                    cert_problem = "its signature does not verify"
                if cert_problem is None:
                    return Verdict.KNOWN
                cert_problem = (f"the host certificate {cert.key_id!r} from the CA at {trusted.where} "
                                f"is not valid for {principal}: {cert_problem}")
        plain = [line for line in lines if line.marker is Marker.NONE]
        if any(line.blob == plain_blob for line in plain):
            return Verdict.KNOWN
        if cert_problem is not None:
            raise HostKeyError(cert_problem)
        if plain:
            raise changed_key_error(name, key.get_name(), fingerprint, plain[0].path)
        return Verdict.UNKNOWN


def _fingerprint(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def fingerprint(key: paramiko.PKey) -> str:
    return _fingerprint(key.asbytes())


def changed_key_error(name: str, key_type: str, fingerprint: str, holder: Path) -> HostKeyError:
    return HostKeyError(
        f"host key for {name} has CHANGED (got {key_type} {fingerprint}); this may be an attack. "
        f"If the change is expected, remove the old key with `ssh-keygen -R {shlex.quote(name)} "
        f"-f {shlex.quote(str(holder))}` and run again (with --accept-new-host-keys to learn the new one)"
    )
