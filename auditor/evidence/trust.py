"""Which signers the verifier trusts: a valid signature proves who signed only for a key the
verifier chose to trust beforehand.

A signer is trusted through a pinned fingerprint (`--key-fingerprint`), a trusted-signers
file, or the verifier's own `auditor keygen` key (the default key's `.pub`). The file is
modelled on OpenSSH's allowed_signers, one key per line:

    # who signs our nightly packs
    SHA256:Jx3S…k4  nightly@audit1                  valid-after=2026-01-01
    Ed25519 MCowBQYDK2VwAyEA…  ops-laptop  valid-before=2027-06-30T00:00:00Z

A key is a `SHA256:` fingerprint or `Ed25519 <base64>` as `auditor keygen` writes it in
`PATH.pub`; then a name; then optional `valid-after=` / `valid-before=` (a date or an ISO
8601 instant, UTC), judged at the run's `started` time. A pinned fingerprint replaces the
other sources: it says "this key and no other".
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import InputError
from auditor.evidence import signing

FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
_OPTIONS = ("valid-after", "valid-before")


class TrustError(InputError):
    """A trusted-signers file or a pin that cannot be read: `file:line: what to do`."""


def default_signers_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "auditor" / "trusted-signers"


@dataclass(frozen=True)
class TrustedSigner:
    fingerprint: str
    name: str
    source: str  # where the trust comes from: "FILE:LINE", "--key-fingerprint", the local .pub
    valid_after: dt.datetime | None = None
    valid_before: dt.datetime | None = None

    def outside_validity(self, at: dt.datetime | None) -> str:
        """Why the key is not valid at `at` ("" when it is, or when `at` is unknown)."""
        if at is None:
            dated = self.valid_after is not None or self.valid_before is not None
            return "the run's time is unknown" if dated else ""
        if self.valid_after is not None and at < self.valid_after:
            return f"{self.name} is trusted only from {_text(self.valid_after)} ({self.source})"
        if self.valid_before is not None and at >= self.valid_before:
            return f"{self.name} was trusted only until {_text(self.valid_before)} ({self.source})"
        return ""


@dataclass(frozen=True)
class Trust:
    trusted: bool
    reason: str  # one line: by whom the key is trusted, or why not


@dataclass(frozen=True)
class TrustStore:
    signers: tuple[TrustedSigner, ...] = ()
    pinned: bool = False  # the signers came from --key-fingerprint alone

    def judge(self, fingerprint: str, at: dt.datetime | None) -> Trust:
        matching = [s for s in self.signers if s.fingerprint == fingerprint]
        if not matching:
            if self.pinned:
                pins = ", ".join(s.fingerprint for s in self.signers)
                return Trust(False, f"signed by {fingerprint}, NOT by the pinned key {pins}")
            sources = sorted({s.source.rsplit(":", 1)[0] for s in self.signers}) or ["none"]
            return Trust(False, f"{fingerprint} is in no trusted source ({', '.join(sources)}); "
                         "pin it with --key-fingerprint or add it to a --trusted-signers file")
        reasons = []
        for signer in matching:
            why = signer.outside_validity(at)
            if not why:
                return Trust(True, f"trusted as {signer.name} ({signer.source})")
            reasons.append(why)
        return Trust(False, "; ".join(reasons))


def _text(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse_instant(text: str) -> dt.datetime:
    """A date (midnight UTC) or an ISO 8601 instant; a time without zone is UTC."""
    moment = dt.datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _key_of(words: list[str]) -> tuple[str, list[str]]:
    """The fingerprint a line names, and the words after the key."""
    if FINGERPRINT.match(words[0]):
        return words[0], words[1:]
    if words[0] == signing.ALGORITHM and len(words) > 1:
        return signing.fingerprint(signing.public_from_text(words[1])), words[2:]
    raise ValueError(f"{words[0][:60]!r} is not a key: write a SHA256:… fingerprint or "
                     f"`{signing.ALGORITHM} <base64>` as `auditor keygen` wrote it in PATH.pub")


def parse_signers(text: str, source: str) -> list[TrustedSigner]:
    signers = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}:{number}"
        try:
            fingerprint, rest = _key_of(line.split())
            if not rest or "=" in rest[0]:
                raise ValueError("a name for the key must follow it (e.g. nightly@audit1)")
            options: dict[str, dt.datetime] = {}
            for word in rest[1:]:
                name, equals, value = word.partition("=")
                if not equals or name not in _OPTIONS:
                    raise ValueError(f"unknown option {word[:60]!r} (options: valid-after=DATE, "
                                     "valid-before=DATE)")
                try:
                    options[name] = parse_instant(value)
                except ValueError:
                    raise ValueError(f"{name}: {value[:60]!r} is not a date YYYY-MM-DD or an ISO 8601 "
                                     "time") from None
        except (ValueError, signing.SigningError) as exc:
            raise TrustError(f"{where}: {exc}") from None
        signers.append(TrustedSigner(fingerprint, rest[0], where, options.get("valid-after"),
                                     options.get("valid-before")))
    return signers


def _local_key(pub: Path) -> list[TrustedSigner]:
    """The verifier's own `auditor keygen` key, from its .pub ("Ed25519 <base64> SHA256:…")."""
    try:
        words = pub.read_text(encoding="utf-8").split()
        fingerprint = signing.fingerprint(signing.public_from_text(words[1]))
    except (OSError, IndexError, UnicodeDecodeError, signing.SigningError):
        return []
    return [TrustedSigner(fingerprint, "your auditor keygen key", str(pub))]


def load(pins: Sequence[str] = (), files: Sequence[Path] = (), local_pub: Path | None = None,
         default_file: Path | None = None) -> TrustStore:
    """The verifier's trust: the pins alone when given; else the files (the default file when
    none is named and it exists) and the local keygen key."""
    for pin in pins:
        if not FINGERPRINT.match(pin):
            raise TrustError(f"--key-fingerprint {pin[:60]!r}: not a fingerprint; copy the SHA256:… "
                             "that `auditor keygen` (or `auditor keygen --show`) printed")
    if pins:
        return TrustStore(tuple(TrustedSigner(p, "the pinned key", "--key-fingerprint") for p in pins),
                          pinned=True)
    signers: list[TrustedSigner] = []
    chosen = list(files) or ([default_file] if default_file is not None and default_file.is_file() else [])
    for path in chosen:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TrustError(f"{path}: cannot read the trusted-signers file: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
        signers += parse_signers(text, str(path))
    if local_pub is not None:
        signers += _local_key(local_pub)
    return TrustStore(tuple(signers))


def for_verifier(pins: Sequence[str], files: Sequence[Path]) -> TrustStore:
    """The CLI's trust: --key-fingerprint, else --trusted-signers (or the default file) and the
    default keygen key's .pub."""
    key = signing.default_key_path()
    return load(pins, files, key.with_name(key.name + ".pub"), default_signers_path())
