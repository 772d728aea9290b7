"""Ed25519 signing keys for evidence packs: make, load, fingerprint, sign, verify.

The private key is a PKCS#8 PEM file (mode 0600, encrypted when a passphrase is given);
the public key travels inside every signed manifest, and people compare fingerprints
(`SHA256:<base64>` of the raw 32-byte public key, as OpenSSH prints them).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditor.defaults import SIGNING_KEY_ENV, SIGNING_PASSPHRASE_ENV
from auditor.errors import InputError
from auditor.evidence import atomic

ALGORITHM = "Ed25519"
ENV_KEY, ENV_PASSPHRASE = SIGNING_KEY_ENV, SIGNING_PASSPHRASE_ENV
KEY_FOLDER_MODE = 0o700  # a key folder that did not exist: only its owner lists it
PUBLIC_KEY_MODE = 0o644  # a public key is for anyone who verifies


class SigningError(InputError):
    """A key that cannot be made, read or used; the message says what to do."""


def default_key_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "auditor" / "signing-key.pem"


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public: Ed25519PublicKey | bytes) -> str:
    raw = public if isinstance(public, bytes) else raw_public(public)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def public_from_text(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError as exc:
        raise SigningError(f"not an Ed25519 public key: {exc}") from None


def public_text(public: Ed25519PublicKey) -> str:
    return base64.b64encode(raw_public(public)).decode()


def generate(path: Path, passphrase: bytes | None) -> Ed25519PrivateKey:
    """Write a new key to `path` (0600, never over an existing file) and `path`.pub."""
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    atomic.make_folder(path.parent, KEY_FOLDER_MODE)
    try:  # never over a key that may already sign packs; 0600 from the first byte
        atomic.write_bytes(path, pem, atomic.KEY_MODE, exclusive=True)
    except FileExistsError:
        raise SigningError(f"{path} already exists; choose another --out or remove it first") from None
    public_path = path.with_name(path.name + ".pub")
    public = key.public_key()
    line = f"{ALGORITHM} {public_text(public)} {fingerprint(public)}\n"
    atomic.write_text(public_path, line, PUBLIC_KEY_MODE)
    return key


def needs_passphrase(path: Path) -> bool:
    try:
        serialization.load_pem_private_key(path.read_bytes(), password=None)
    except TypeError:
        return True
    except (OSError, ValueError):
        return False
    return False


def load(path: Path, passphrase: bytes | None) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read the signing key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        raise SigningError(f"the signing key {path} is encrypted: set {ENV_PASSPHRASE} or run on a "
                           "terminal to be asked") from None
    except ValueError:
        raise SigningError(f"cannot load the signing key {path}: wrong passphrase or not a PEM "
                           "private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path} is not an Ed25519 key (make one with `auditor keygen`)")
    return key


@dataclass(frozen=True)
class Signer:
    key: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.key.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)


def verify(public: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True
