"""crypt(3) hash formats: which schemes are salted, slow hashes, and which are not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scheme:
    id: str  # as printed by the shadow probe: the $id$, or des / bsdi / empty / plain
    name: str
    strong: bool  # salted and deliberately slow: acceptable for stored passwords
    why: str = ""


SCHEMES: dict[str, Scheme] = {s.id: s for s in (
    Scheme("y", "yescrypt", True),
    Scheme("gy", "gost-yescrypt", True),
    Scheme("7", "scrypt", True),
    Scheme("2b", "bcrypt", True),
    Scheme("2a", "bcrypt", True),
    Scheme("2y", "bcrypt", True),
    Scheme("2x", "bcrypt (buggy $2x$ variant)", False, "marks hashes made by a known-buggy bcrypt"),
    Scheme("6", "sha512crypt", True),
    Scheme("5", "sha256crypt", True),
    Scheme("1", "md5crypt", False, "MD5-based, fast to brute-force"),
    Scheme("md5", "Sun md5crypt", False, "MD5-based, fast to brute-force"),
    Scheme("sha1", "sha1crypt", False, "SHA-1-based, not accepted as a modern scheme"),
    Scheme("3", "NT hash", False, "unsalted MD4"),
    Scheme("des", "DES crypt", False, "8-character limit and a 12-bit salt"),
    Scheme("bsdi", "BSDi extended DES", False, "DES-based"),
    Scheme("empty", "no password", False, "the account has an empty password field"),
    Scheme("plain", "not a hash", False, "the field is not in any crypt format: plaintext?"),
)}

# ENCRYPT_METHOD in login.defs, and the hashing options of pam_unix.
LOGIN_DEFS_METHODS = {"YESCRYPT": True, "SHA512": True, "SHA256": True, "BCRYPT": True,
                      "MD5": False, "DES": False}
PAM_UNIX_METHODS = {"yescrypt": True, "gost_yescrypt": True, "sha512": True, "sha256": True,
                    "blowfish": True, "md5": False, "bigcrypt": False, "descrypt": False}


def scheme(scheme_id: str) -> Scheme:
    return SCHEMES.get(scheme_id) or Scheme(scheme_id, f"unknown scheme ${scheme_id}$", False,
                                            "not a scheme this tool knows to be strong")
