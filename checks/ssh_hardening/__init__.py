"""SSH logins need a key, root cannot log in with a password, and no weak algorithm is offered.

Reads: the host's configured OpenSSH server: the effective global configuration from
`sshd -T` (as root: sshd must read its host keys), and /etc/ssh/sshd_config with every file
its `Include` lines pull in (read in place, first value wins, globs relative to /etc/ssh).
When `sshd -T` cannot run (no root, no host keys, a config error), the check falls back to
the parsed files plus OpenSSH 9.2's compiled-in defaults for what they do not set, and the
summary says which source was used. Then what listens: every running sshd holding a
listening TCP socket, found from /proc alone (`comm`, `cmdline` or the title sshd gives its
listener, /proc/net/tcp and tcp6 socket inodes matched to /proc/<pid>/fd links; no `ps`, no
`ss`), and for each one started with its own `-f FILE` or `-o key=value`, or by a binary
other than the installed one (a build of its own may read another file), `sshd -T` run by its
own binary with those options. On RHEL-family hosts the crypto-policies include
(/etc/crypto-policies/back-ends/opensshserver.config, pulled in by RHEL 9's
sshd_config.d/50-redhat.conf) is part of what `sshd -T` prints, so the algorithms judged are
the policy's: the policy named in /etc/crypto-policies/config is reported (`crypto_policy`),
and each finding a policy line caused names the back-end's file:line and the policy
("crypto-policies policy LEGACY"). RHEL 8's back-end is `CRYPTO_POLICY='-o...'` for
sshd.service's command line: a running sshd is judged with those options, and a note says
the installed configuration's `sshd -T` shows the compiled-in algorithms instead. Both
probes run as root when the inventory grants it (`become`). X11Forwarding, MaxAuthTries,
LoginGraceTime, AllowUsers/AllowGroups and an obsolete `Protocol` line are reported as details.

Passes when: no finding reaches `fail_on` (default `medium`); the summary names the source
and PermitRootLogin, and ends with the advisories: a stock Debian 12 sshd with root login
and password logins off passes with one `low` advisory naming OpenSSH's default MACs.

Fails when: a finding at or above `fail_on`, each with its severity and reference:
PermitRootLogin yes (high; CIS Debian Linux 12 Benchmark: Ensure sshd PermitRootLogin is
disabled); PasswordAuthentication not no (high; NIST SP 800-63B 5.1.1: a password alone is
one factor); PermitEmptyPasswords yes (high; CIS: Ensure sshd PermitEmptyPasswords is
disabled); KbdInteractiveAuthentication (ChallengeResponseAuthentication) yes while UsePAM
yes, since PAM then asks for the password (high) — unless AuthenticationMethods requires
publickey in every method list, which makes keyboard-interactive a second factor only (with
UsePAM no there is no password prompt behind it on Linux: a detail); any Ciphers, MACs,
KexAlgorithms, HostKeyAlgorithms or PubkeyAcceptedAlgorithms entry matching the weak
patterns (the `weak_*` parameters; GSSAPI kex algorithms only when GSSAPIKeyExchange is on),
graded: arcfour (RFC 8758), 3des-cbc, blowfish-cbc, cast128-cbc (SWEET32), CBC ciphers with
an encrypt-and-MAC MAC offered (CVE-2008-5161), MD5 and 96-bit MACs (OpenSSH 7.2 release
notes), hmac-ripemd160, diffie-hellman-group1-sha1 (Logjam; OpenSSH 7.0), ssh-dss (OpenSSH
7.0) and ssh-rsa SHA-1 signatures (OpenSSH 8.8 release notes) are high; CBC ciphers with ETM
MACs only (CVE-2023-48795, Terrapin) and SHA-1 key exchange (diffie-hellman-group14-sha1,
group-exchange-sha1, gss-*-sha1; RFC 9142) are medium; hmac-sha1, hmac-sha1-etm, umac-64
and umac-64-etm, which OpenSSH still enables by default and which have no practical attack,
are low (Mozilla OpenSSH guidelines, modern; CIS: Ensure sshd MACs are configured): an
advisory at the default `fail_on`; a pattern of your own that matches none of these is high.
Each finding names the directive, its value and the file:line that set it (or "-o on its
command line"). A listening sshd started with its own -f or -o is judged the same way, its
findings named by its pid, config file, options and ports ("sshd pid 812
(/etc/ssh/sshd_config_internal, -o PasswordAuthentication=yes) on 0.0.0.0:2222"). `Match`
blocks are not evaluated (they depend on the connection) but every one that sets a judged
login directive to a failing value fails the check (high), naming the block.

Error/Manual: as a plain login user the fallback is what remains, and it is an `error`
when sshd_config, any file its Include lines match, or the directory of an Include glob
(not listable or searchable) cannot be read — such a drop-in (cloud images ship
50-cloud-init.conf as 0600) may set anything, and being read first it would win. `error`
too when the sshd -T output cannot be read, when a listening daemon's `sshd -T` with its
options fails, and for a listening sshd another user started (its config file is theirs:
root does not run `sshd -T` on it). No sshd installed → `skip`.

Secrets: none: sshd's configuration holds no credentials (host keys are never read by the
probes; `sshd -T` prints settings only).

Blind spots: what a Match block really applies to (no connection spec is passed to `sshd
-T`); include paths containing spaces; in the fallback, defaults of OpenSSH versions other
than 9.2; PAM's own configuration; a listener's title splits its arguments on blanks, so a
-f path with a blank is misread; a daemon's -p, -h and -c arguments are not passed to `sshd
-T` (ports come from /proc instead); a socket-activated sshd (systemd ssh.socket) that has
not started yet is judged by its installed configuration only; more than 16 listeners are
named but not judged.
"""

from __future__ import annotations

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import sshd
from auditor.parsers.files import parse_dump
from auditor.probes import shell

from . import _crypto_policies as crypto_policies
from ._judging import (
    ACCESS_REFS,
    CBC_ETM_REF,
    CBC_REF,
    HIGH_REFS,
    LOW_MAC_REF,
    LOW_MACS,
    MEDIUM_KEX_REF,
    NAMES,
    Problem,
    _judge_daemons,
    _judge_matches,
    _judge_settings,
    _note_access,
    algorithm_severity,
)
from ._probes import DAEMONS_SCRIPT, NO_SSHD, RC_LINE, SSHD_CONFIG, SSHD_LINE, SSHD_T
from ._reading import (
    ALGORITHM_KEYWORDS,
    Effective,
    Judged,
    Setting,
    SshdUnreadable,
    _effective,
    _value,
    own_count,
)

# Every public name this module had before it was split, for its callers.
__all__ = [
    "ACCESS_REFS", "ALGORITHM_KEYWORDS", "CBC_ETM_REF", "CBC_REF", "CHECK", "DAEMONS_SCRIPT",
    "Effective", "HIGH_REFS", "Judged", "LOW_MACS", "LOW_MAC_REF", "MEDIUM_KEX_REF", "NAMES",
    "NO_SSHD", "Problem", "RC_LINE", "SSHD_CONFIG", "SSHD_LINE", "SSHD_T", "Setting",
    "SshdUnreadable", "algorithm_severity", "evaluate", "own_count",
]


CHECK = Check(
    id="ssh_hardening",
    trend_values=("weak_algorithms",),
    title="SSH needs keys, refuses root passwords and weak algorithms",
    claims=("encryption-and-access-control",),
    controls=("ISO27001:2022 A.8.5", "ISO27001:2022 A.8.2", "ISO27001:2022 A.8.9"),
    params=(
        Param("weak_ciphers", list, ["3des-cbc", "aes*-cbc", "rijndael-cbc*", "arcfour*", "blowfish-cbc",
                                     "cast128-cbc"], "cipher patterns (fnmatch) that must not be offered"),
        Param("weak_macs", list, ["hmac-md5*", "hmac-sha1*", "umac-64*", "hmac-ripemd160*", "*-96*"],
              "MAC patterns (fnmatch) that must not be offered"),
        Param("weak_kex", list, ["diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
                                 "diffie-hellman-group-exchange-sha1", "gss-*-sha1-*"],
              "key exchange patterns (fnmatch) that must not be offered"),
        Param("weak_host_key_algorithms", list, ["ssh-dss*", "ssh-rsa", "ssh-rsa-cert-v01@openssh.com"],
              "host and user key signature algorithms (fnmatch) that must not be accepted (ssh-rsa "
              "means RSA with SHA-1)"),
    ),
    probes=(
        shell("sshd_t", SSHD_T, root=True),
        shell("sshd_config", SSHD_CONFIG, root=True),
    ),
)


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["sshd_t", "sshd_config"]
    stdout = out.require("sshd_t").stdout
    first = next((ln for ln in stdout.splitlines() if ln.strip()), "")
    if first.strip() == NO_SSHD:
        return result(Status.SKIP, "no OpenSSH server (sshd) installed", evidence=["sshd_t"])
    installed_text, daemons_text = sshd.split_daemons(stdout)
    config_probe = out.get("sshd_config")
    files: dict[str, str] = {}
    unreadable: list[str] = []
    if config_probe is not None and config_probe.ok:
        files, unreadable = parse_dump(config_probe.stdout)
    config = sshd.parse_config(files)
    try:
        daemons = sshd.parse_daemons(daemons_text) if daemons_text is not None else sshd.Daemons()
    except ValueError as exc:
        return result(Status.ERROR, f"cannot read the list of running sshd daemons: {exc}", evidence=evidence)
    listening = daemons.daemons
    try:
        effective, source, notes = _effective(installed_text, out["sshd_t"].stderr, config, unreadable)
    except SshdUnreadable as exc:
        return result(Status.ERROR, str(exc), evidence=evidence)
    except ValueError as exc:
        return result(Status.ERROR, f"cannot read the sshd -T output: {exc}", evidence=evidence)
    effective, policy = crypto_policies.attribute(effective, files, config)
    notes += policy.notes
    findings = Findings(limit=4)
    version = first[len(SSHD_LINE):].strip() if first.startswith(SSHD_LINE) else ""
    installed = version.split(" ", 1)[0]  # the binary that printed the installed configuration
    notes += [f"sshd: {version}"] if version else []
    for note in notes + [f"cannot read {path}" for path in unreadable] + config.problems:
        findings.note(note)

    # The installed configuration: what sshd starts with (and what a daemon without options runs).
    weak_count = _judge_settings(effective, params, findings)
    _judge_matches(config, effective, findings)
    _note_access(effective, config, findings)
    own = _judge_daemons(daemons, config, params, findings, installed) if daemons_text is not None else None
    weak_count += own or 0
    if daemons_text is not None and not listening:
        findings.note("no running sshd listens here (stopped, or started by socket activation): the "
                      "configuration sshd starts with is what was judged")

    root = _value(effective, "permitrootlogin", "?")
    own_listeners = own_count(listening, installed)
    where = f"sshd (from {source})" + (f" and {own_listeners} listener(s) with their own options"
                                       if own_listeners else "")
    algorithms = "no broken algorithms offered" if findings.advisories else "no weak algorithms offered"
    return findings.result(evidence=evidence, ok_summary=f"{where}: PermitRootLogin {root}, "
                           f"password and keyboard-interactive logins off, {algorithms}",
                           fail_prefix=f"{{n}} problem(s) (from {source}): ", source=source,
                           weak_algorithms=weak_count, problems=len(findings.failures),
                           match_blocks=len(config.matches), listeners=len(listening),
                           crypto_policy=policy.name or None)
