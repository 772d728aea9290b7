"""The SSH transport's keys: host keys checked against known_hosts (strict, or accept-new written
under a lock) in the order known_hosts prefers, and key files checked before paramiko reads
them (passphrase, permissions), with the reason an exception gives.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from pathlib import Path
from typing import Any, cast

import paramiko

from auditor.transports.base import HostKeyError, KeyFileError
from auditor.transports.known_hosts import CERT_SUFFIX, KnownHosts, Verdict, fingerprint, parse

_known_hosts_lock = threading.Lock()  # accept-new writes the file from many threads


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH files a host's key under: `host` on port 22, else `[host]:port`."""
    return host if port == 22 else f"[{host}]:{port}"


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Judges every server key (paramiko is given no keys of its own, so it always asks here)."""

    def __init__(self, known: KnownHosts, principal: str, accept_new_into: Path | None,
                 on_judged: Any) -> None:
        self.known = known
        self.principal = principal
        self.accept_new_into = accept_new_into
        self.on_judged = on_judged

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        self.on_judged()
        if self.known.judge(hostname, self.principal, key) is Verdict.KNOWN:
            return
        if self.accept_new_into is None:
            raise HostKeyError(
                f"host key for {hostname} is not in known_hosts ({key.get_name()} {fingerprint(key)}); "
                "add it with ssh-keyscan after checking the fingerprint, "
                "or run once with --accept-new-host-keys")
        _learn(self.accept_new_into, hostname, self.principal, key)


def _learn(save_to: Path, hostname: str, principal: str, key: paramiko.PKey) -> None:
    """OpenSSH's StrictHostKeyChecking=accept-new: learn unknown keys, never changed ones."""
    with _known_hosts_lock:
        # Another host of this run on the same address:port may have learned it since the file
        # was read: write each key once, and refuse a different one like a changed key.
        if KnownHosts(tuple(parse(save_to))).judge(hostname, principal, key) is Verdict.KNOWN:
            return
        save_to.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with save_to.open("a") as handle:
            handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def _host_key_order(known: KnownHosts, name: str) -> list[str]:
    """Host key algorithms to offer: certificates first where a CA is trusted for the host, then
    the types known_hosts holds for it, then paramiko's defaults (as OpenSSH orders them)."""
    defaults: list[str] = list(getattr(paramiko.Transport, "_preferred_keys"))  # noqa: B009 - untyped in the stubs
    plain_known = [t for t in known.known_key_types(name) if t in defaults or t == "ssh-rsa"]
    plain_known = [t2 for t in plain_known
                   for t2 in (["rsa-sha2-512", "rsa-sha2-256"] if t == "ssh-rsa" else [t])]
    order = [t for t in plain_known if t in defaults] + defaults
    if known.trusts_a_ca(name):
        supported = getattr(paramiko.Transport, "_key_info")  # noqa: B009 - untyped in the stubs
        certs = [t + CERT_SUFFIX for t in order if t + CERT_SUFFIX in supported]
        order = certs + order
    return list(dict.fromkeys(order))


def _stamp(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=32)
def _check_key_file(path: str, passphrase: str | None, mtime_ns: int, size: int) -> None:
    """Raise KeyFileError when a local key file cannot be used; once per file version."""
    try:
        secret = passphrase.encode() if passphrase else None  # bytes, whatever the stubs say
        try:
            paramiko.PKey.from_path(path, cast(Any, secret))
        except TypeError as exc:
            if "not encrypted" not in str(exc):
                raise
            paramiko.PKey.from_path(path)  # the passphrase was for another key: this one needs none
    except Exception as exc:
        if needs_passphrase(exc) and not passphrase:
            return  # paramiko's auth reports it (AuthenticationFailed, naming AUDITOR_SSH_PASSPHRASE)
        if passphrase and _wrong_passphrase(exc):
            raise KeyFileError(f"identity file {path} could not be decrypted: wrong passphrase "
                               "(AUDITOR_SSH_PASSPHRASE or the one typed)") from None
        if isinstance(exc, OSError):
            raise KeyFileError(f"identity file {path} cannot be read: {exc.strerror or exc}") from None
        raise KeyFileError(f"identity file {path} is not a private key paramiko can use: {exc}") from None


def _wrong_passphrase(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, ValueError | paramiko.SSHException) and any(
        word in text
        for word in ("bad decrypt", "incorrect", "invalid key", "password", "passphrase", "checkints"))


def needs_passphrase(exc: BaseException) -> bool:
    """Whether loading a key failed only because it is encrypted and no passphrase was given.

    paramiko says PasswordRequiredException; for OpenSSH-format keys cryptography says TypeError.
    """
    if isinstance(exc, paramiko.PasswordRequiredException):
        return True
    return isinstance(exc, TypeError) and "password" in str(exc).lower()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
