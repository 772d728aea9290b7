"""Judging sshd's settings: login problems, weak algorithms and the severity of each (with its
references), Match blocks and each listening daemon's own settings.
"""

from __future__ import annotations

import fnmatch
import re
from typing import NamedTuple

from auditor.check import Findings, Params, Severity
from auditor.parsers import sshd
from auditor.parsers.conf import glob_pattern

from ._reading import (
    ALGORITHM_KEYWORDS,
    Effective,
    Setting,
    _daemon_label,
    _daemon_settings,
    _runs_installed,
    _second_factor_only,
    _value,
    _where,
)

NAMES = {"permitrootlogin": "PermitRootLogin", "passwordauthentication": "PasswordAuthentication",
         "kbdinteractiveauthentication": "KbdInteractiveAuthentication",
         "permitemptypasswords": "PermitEmptyPasswords", "usepam": "UsePAM",
         "authenticationmethods": "AuthenticationMethods", "x11forwarding": "X11Forwarding",
         "maxauthtries": "MaxAuthTries", "logingracetime": "LoginGraceTime", "allowusers": "AllowUsers",
         "allowgroups": "AllowGroups"}


# What each finding weighs, and who says so. Access-control holes and broken algorithms are high;
# SHA-1 HMACs and 64-bit-tag UMACs, which OpenSSH still enables by default, are low (advisories at
# the default fail_on); SHA-1 in key exchange is medium (it fails, as before severities).
ACCESS_REFS = {
    "permitrootlogin": "CIS Debian Linux 12 Benchmark: Ensure sshd PermitRootLogin is disabled",
    "passwordauthentication": "NIST SP 800-63B 5.1.1 (a password alone is a single factor); "
                              "Mozilla OpenSSH guidelines: AuthenticationMethods publickey",
    "permitemptypasswords": "CIS Debian Linux 12 Benchmark: Ensure sshd PermitEmptyPasswords is disabled",
    "kbdinteractiveauthentication": "NIST SP 800-63B 5.1.1 (PAM's password prompt is a password login)",
}
LOW_MACS = ("hmac-sha1", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com", "umac-64-etm@openssh.com")
LOW_MAC_REF = ("Mozilla OpenSSH guidelines (modern: SHA-2 ETM MACs and umac-128-etm only); CIS Debian "
               "Linux 12 Benchmark: Ensure sshd MACs are configured; not broken: HMAC-SHA1 has no practical "
               "attack, and OpenSSH 9.2 enables both by default")
MEDIUM_KEX_REF = "RFC 9142 (SHA-1 key exchange SHOULD NOT be used); OpenSSH 8.2 release notes"
CBC_REF = ("CVE-2008-5161 (CBC plaintext recovery with encrypt-and-MAC); OpenSSH 6.7 release notes "
           "(CBC and arcfour removed from the defaults)")
CBC_ETM_REF = "CVE-2023-48795 (Terrapin: CBC with ETM MACs, without strict kex before OpenSSH 9.6)"
HIGH_REFS = (
    ("arcfour*", "RFC 8758 (RC4 must not be used in SSH); OpenSSH 6.7 release notes"),
    ("3des-cbc", "SWEET32 (64-bit block); OpenSSH 7.4 release notes (3des-cbc out of the client defaults)"),
    ("blowfish-cbc", "SWEET32 (64-bit block); OpenSSH 7.4 release notes"),
    ("cast128-cbc", "SWEET32 (64-bit block); OpenSSH 7.4 release notes"),
    ("hmac-md5*", "RFC 6151 (MD5); OpenSSH 7.2 release notes (MD5 and truncated MACs out of the defaults)"),
    ("*-96*", "OpenSSH 7.2 release notes (truncated 96-bit MACs out of the defaults)"),
    ("hmac-ripemd160*", "OpenSSH 7.6 release notes (hmac-ripemd160 removed)"),
    ("diffie-hellman-group1-sha1", "Logjam (1024-bit group); OpenSSH 7.0 release notes (disabled)"),
    ("ssh-dss*", "OpenSSH 7.0 release notes (DSA keys disabled; removed in 10.0)"),
    ("ssh-rsa", "OpenSSH 8.8 release notes (RSA signatures with SHA-1 disabled: SHA-1 chosen-prefix "
                "collisions)"),
    ("ssh-rsa-cert-v01@openssh.com", "OpenSSH 8.8 release notes (RSA signatures with SHA-1 disabled)"),
)


def algorithm_severity(keyword: str, algorithm: str, macs: list[str]) -> tuple[Severity, str]:
    """The severity of offering a weak `algorithm` under `keyword`, and its reference. `macs` is
    the MAC list offered beside it: a CBC cipher is broken with encrypt-and-MAC, and still
    exposed (Terrapin) with ETM MACs only."""
    if keyword == "macs" and algorithm in LOW_MACS:
        return Severity.LOW, LOW_MAC_REF
    if keyword in ("kexalgorithms", "gssapikexalgorithms") and algorithm != "diffie-hellman-group1-sha1":
        return Severity.MEDIUM, MEDIUM_KEX_REF
    cbc = fnmatch.fnmatchcase(algorithm, "aes*-cbc") or algorithm.startswith("rijndael-cbc")
    if keyword == "ciphers" and cbc:
        if all(m.endswith("-etm@openssh.com") for m in macs):
            return Severity.MEDIUM, CBC_ETM_REF
        return Severity.HIGH, CBC_REF
    ref = next((r for pattern, r in HIGH_REFS if fnmatch.fnmatchcase(algorithm, pattern)), "")
    return Severity.HIGH, ref or "listed in this check's weak_* parameter"


class Problem(NamedTuple):
    text: str
    keyword: str


def _login_problems(settings: Effective, usepam: str, methods: str) -> list[Problem]:
    """The failing authentication settings among `settings`."""
    problems = []
    for keyword, bad in (("permitrootlogin", ("yes",)), ("passwordauthentication", ("yes",)),
                         ("permitemptypasswords", ("yes",))):
        if keyword in settings and settings[keyword].value.lower() in bad:
            value, location = settings[keyword]
            problems.append(Problem(f"{NAMES[keyword]} {value}{_where(location)}", keyword))
    kbd = settings.get("kbdinteractiveauthentication")
    if kbd and kbd.value.lower() == "yes" and usepam == "yes" and not _second_factor_only(methods):
        problems.append(Problem(f"KbdInteractiveAuthentication yes{_where(kbd.where)} with UsePAM yes: PAM "
                                "asks for the password", "kbdinteractiveauthentication"))
    return problems


def _judge_settings(effective: Effective, params: Params, findings: Findings, prefix: str = "") -> int:
    """Records the login and algorithm findings of one effective configuration; returns the number
    of weak algorithms it offers. `prefix` names the daemon when there are several."""
    usepam = _value(effective, "usepam", "no").lower()
    methods = _value(effective, "authenticationmethods", "any")
    for problem in _login_problems(effective, usepam, methods):
        findings.fail(prefix + problem.text, Severity.HIGH, ACCESS_REFS[problem.keyword])
    if _value(effective, "kbdinteractiveauthentication", "no").lower() == "yes":
        if usepam != "yes":
            findings.note(f"{prefix}KbdInteractiveAuthentication yes, but UsePAM no: no password prompt "
                          "behind it on Linux")
        elif _second_factor_only(methods):
            findings.note(f"{prefix}keyboard-interactive only after a public key (AuthenticationMethods "
                          f"{methods})")
    weak_count = 0
    gss_on = _value(effective, "gssapikeyexchange", "no").lower() == "yes"
    macs = _value(effective, "macs", "").split(",")
    for keyword, (label, param) in ALGORITHM_KEYWORDS.items():
        if keyword not in effective or (keyword == "gssapikexalgorithms" and not gss_on):
            continue
        value, location = effective[keyword]
        weak_pattern = glob_pattern(tuple(params[param]))
        weak = [a for a in value.split(",") if weak_pattern.match(a)]
        weak_count += len(weak)
        graded: dict[tuple[Severity, str], list[str]] = {}
        for algorithm in weak:
            graded.setdefault(algorithm_severity(keyword, algorithm, macs), []).append(algorithm)
        for (severity, ref), algorithms in sorted(graded.items(), key=lambda g: -g[0][0].rank):
            findings.fail(f"{prefix}{label} offers {', '.join(algorithms)}{_where(location)}", severity, ref)
    return weak_count


def _judge_matches(config: sshd.SshdConfig, effective: Effective, findings: Findings) -> None:
    usepam = _value(effective, "usepam", "no").lower()
    methods = _value(effective, "authenticationmethods", "any")
    for block in config.matches:
        inside = {s.keyword: Setting(s.value, s.where) for s in reversed(block.settings)}
        block_problems = _login_problems(inside, _value(inside, "usepam", usepam).lower(),
                                         _value(inside, "authenticationmethods", methods))
        for problem in block_problems:
            findings.fail(f"Match {block.criteria} ({block.where}) sets {problem.text}", Severity.HIGH,
                          ACCESS_REFS[problem.keyword])
        judged = sorted(k for k in inside if k in NAMES)
        if judged and not block_problems:
            findings.note(f"Match {block.criteria} ({block.where}) sets "
                          + ", ".join(f"{NAMES[k]} {inside[k].value}" for k in judged))


# The listener's title counts the connections it is authenticating at that instant ("[listener]
# 1 of 10-100 startups"): a count that only says when the look was taken, so two audits of the
# same daemon would differ (and drift) by whoever was logging in, the audit itself included.
# The probe cuts it since 2026-12; evidence recorded before still holds it.
_STARTUPS = re.compile(r"(\[listener\]) \d+ of \S+ startups")


def _steady_title(cmdline: str) -> str:
    return _STARTUPS.sub(r"\1", cmdline)


def _judge_daemons(daemons: sshd.Daemons, config: sshd.SshdConfig, params: Params,
                   findings: Findings, installed: str) -> int:
    """Each listening sshd started with its own -f or -o, or by a binary other than the installed
    one (`installed`): its findings, named by pid, options, binary and ports. Returns the number of
    weak algorithms they offer."""
    weak_count = 0
    for daemon in daemons.daemons:
        label = _daemon_label(daemons, daemon, installed)
        if daemon.not_judged:
            findings.unknown(f"{label}: not judged: {daemon.not_judged}")
            continue
        title = _steady_title(daemon.cmdline)
        if _runs_installed(daemon, installed):
            findings.note(f"{label}: runs the installed configuration ({title})")
            continue
        findings.note(f"{label}: {title}")
        if daemon.rc != 0:
            error = next((ln.strip() for ln in daemon.output if ln.strip()), "")
            findings.unknown(f"{label}: sshd -T with its options exited {daemon.rc}"
                             + (f": {error}" if error else ""))
            continue
        try:
            settings = _daemon_settings(daemon, config, installed)
        except ValueError as exc:
            findings.unknown(f"{label}: cannot read its sshd -T output: {exc}")
            continue
        weak_count += _judge_settings(settings, params, findings, f"{label}: ")
    return weak_count


def _note_access(effective: Effective, config: sshd.SshdConfig, findings: Findings) -> None:
    """Notes the settings reported but not judged: X11, tries, grace time, who may log in, Protocol."""
    for keyword in ("x11forwarding", "maxauthtries", "logingracetime"):
        if keyword in effective:
            findings.note(f"{NAMES[keyword]} {effective[keyword].value}{_where(effective[keyword].where)}")
    allow = [f"{NAMES[k]} {effective[k].value}" for k in ("allowusers", "allowgroups") if k in effective]
    findings.note("login restricted by " + "; ".join(allow) if allow
                  else "no AllowUsers/AllowGroups: every account with valid credentials may log in")
    for setting in config.settings.get("protocol", []):
        findings.note(f"obsolete Protocol {setting.value} ({setting.where}): ignored since OpenSSH 7.4, "
                      "which dropped SSH-1")
