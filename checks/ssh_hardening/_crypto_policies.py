"""RHEL-family crypto-policies: where sshd's algorithms come from when a system-wide policy sets them.

RHEL 9 (and Fedora, CentOS Stream 9+) include the policy's OpenSSH server back-end from
/etc/ssh/sshd_config.d/50-redhat.conf; sshd keeps the first value of a keyword, so the policy's
Ciphers, MACs, KexAlgorithms, ... win over any later line. RHEL 8 writes the same back-end as a
shell variable (CRYPTO_POLICY='-oCiphers=... -oMACs=...') that sshd.service passes on sshd's
command line: `sshd -T` on the installed files then shows OpenSSH's compiled-in algorithms, and
only a running daemon (judged with its own -o options) shows the policy's.
"""

from __future__ import annotations

from typing import NamedTuple

from auditor.parsers import sshd

from ._probes import POLICY_CONFIG, SERVER_BACKEND
from ._reading import ALGORITHM_KEYWORDS, Effective, Setting

ENVIRONMENT_FORM = "CRYPTO_POLICY="


class CryptoPolicy(NamedTuple):
    name: str  # "DEFAULT", "LEGACY", "DEFAULT:SHA1", or "" without crypto-policies
    notes: list[str]


def _policy_name(files: dict[str, str]) -> str:
    text = files.get(POLICY_CONFIG)
    if text is None:
        return "?" if SERVER_BACKEND in files else ""
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "?")


def _included_at(files: dict[str, str], config: sshd.SshdConfig) -> str:
    """The file:line of the Include that pulls the back-end in (the first one sshd reads)."""
    for path in config.files_read:
        for number, raw in enumerate(files.get(path, "").splitlines(), 1):
            parsed = sshd.split_line(raw)
            if parsed and sshd.keyword_name(parsed[0]) == "include" and SERVER_BACKEND in parsed[1]:
                return f"{path}:{number}"
    return ""


def attribute(effective: Effective, files: dict[str, str],
              config: sshd.SshdConfig) -> tuple[Effective, CryptoPolicy]:
    """`effective` with each setting the policy's back-end made named after the policy, and notes
    saying where the algorithms came from."""
    name = _policy_name(files)
    if not name:
        return effective, CryptoPolicy("", [])
    label = f"crypto-policies policy {name}"
    backend = files.get(SERVER_BACKEND, "")
    if SERVER_BACKEND in config.files_read:
        from_policy = sorted(k for k, s in effective.items() if s.where.startswith(SERVER_BACKEND + ":"))
        attributed = {k: Setting(s.value, f"{s.where}, {label}") if k in from_policy else s
                      for k, s in effective.items()}
        keywords = ", ".join(ALGORITHM_KEYWORDS[k][0] if k in ALGORITHM_KEYWORDS else k
                             for k in from_policy) or "nothing judged"
        return attributed, CryptoPolicy(name, [
            f"{label}: {SERVER_BACKEND} (included at {_included_at(files, config) or '?'}) sets {keywords}; "
            "sshd keeps a keyword's first value, so the policy's wins over later lines (change it with "
            "update-crypto-policies, or set a keyword in a drop-in read before the Include)"])
    if ENVIRONMENT_FORM in backend:
        return effective, CryptoPolicy(name, [
            f"{label}: {SERVER_BACKEND} holds {ENVIRONMENT_FORM}'-o...' (the RHEL 8 form), which "
            "sshd.service passes on sshd's command line: a running sshd is judged with those options; "
            "the installed configuration's `sshd -T` shows the compiled-in algorithms, not the policy's"])
    return effective, CryptoPolicy(name, [
        f"{label}: sshd_config does not include {SERVER_BACKEND}: the algorithms judged are sshd's own"])
