"""SSH logins need a key, root cannot log in with a password, and no weak algorithm is offered.

Reads: the host's configured OpenSSH server: the effective global configuration from
`sshd -T` (as root: sshd must read its host keys), and /etc/ssh/sshd_config with every file
its `Include` lines pull in (read in place, first value wins, globs relative to /etc/ssh).
When `sshd -T` cannot run (no root, no host keys, a config error), the check falls back to
the parsed files plus OpenSSH 9.2's compiled-in defaults for what they do not set, and the
summary says which source was used. Then what listens: every running sshd holding a
listening TCP socket, found from /proc alone (`comm`, `cmdline` or the title sshd gives its
listener, /proc/net/tcp and tcp6 socket inodes matched to /proc/<pid>/fd links; no `ps`, no
`ss`), and for each one started with its own `-f FILE` or `-o key=value`, `sshd -T` run by
its own binary with those options. On RHEL-family hosts the crypto-policies include
(/etc/crypto-policies/back-ends/opensshserver.config) is part of what `sshd -T` prints, so
the algorithms judged are the policy's. Both probes run as root when the inventory grants it
(`become`). X11Forwarding, MaxAuthTries, LoginGraceTime, AllowUsers/AllowGroups and an
obsolete `Protocol` line are reported as details.

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

import fnmatch
import shlex
from typing import NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Severity, Status, result
from auditor.parsers import sshd
from auditor.parsers.files import HEADER, UNREADABLE, parse_dump
from auditor.parsers.sockets import PROC_NET_LISTEN
from auditor.probes import shell

NO_SSHD = "#no-sshd"
SSHD_LINE = "#sshd "
RC_LINE = "#sshd-T-rc "

# The sshd processes that hold a listening TCP socket, read from /proc only (no ps, no ss):
# /proc/net/tcp{,6} LISTEN inodes, matched to /proc/<pid>/fd/* socket links (root sees every
# process's). Each one's arguments come from /proc/<pid>/cmdline: its argv, or the title sshd
# gives its listener ("sshd: /usr/sbin/sshd -D -f FILE [listener] ..."), whose words are split
# on blanks (`-o Key value` is joined back). POSIX getopts with sshd's own option string picks
# its -f and -o arguments, and its own binary (/proc/<pid>/exe) runs `sshd -T` with them; values
# pass as separate arguments, never through eval. Only a daemon root started is judged: running
# `sshd -T -f FILE` as root on a file another user controls could print that file's lines.
DAEMONS_SCRIPT = rf"""
echo '{sshd.DAEMONS_LINE}'
listening=" $(awk '$4 == "{PROC_NET_LISTEN}" {{ printf "%s ", $10 }}' /proc/net/tcp /proc/net/tcp6 \
  2>/dev/null)"
for t in tcp tcp6; do
  [ -r /proc/net/$t ] &&
    awk -v t=$t '$4 == "{PROC_NET_LISTEN}" {{ print "#listen " t " " $2 " " $10 }}' /proc/net/$t
done
words() {{
  tr '\000' '\n' < "/proc/$1/cmdline" | awk '
    NR == 1 && /^sshd: / {{ title = 1; sub(/^sshd: /, ""); sub(/ \[listener\].*$/, ""); n = split($0, w, " ")
      for (i = 2; i <= n; i++) {{
        if (w[i] == "-o" && i + 2 <= n && w[i + 1] !~ /=/) {{
          print w[i]; print w[i + 1] " " w[i + 2]; i += 2 }}
        else print w[i] }} }}
    NR > 1 && !title {{ print }}'
}}
options() {{
  OPTIND=1
  while getopts ':46C:Ddeiqrtf:h:k:o:p:QRTc:E:g:' opt; do
    case $opt in f|o) printf '%s\n%s\n' "-$opt" "$OPTARG" ;; esac
  done
}}
judge() {{
  set --  # the heredoc below is expanded after this: it reads $pid, not $1
  while IFS= read -r w; do [ -n "$w" ] && set -- "$@" "$w"; done <<EOF
$(words "$pid")
EOF
  opts=$(options "$@")
  set --
  while IFS= read -r w; do [ -n "$w" ] && set -- "$@" "$w"; done <<EOF
$opts
EOF
  for w in "$@"; do printf '#option %s\n' "$w"; done
  out=$("$exe" -T "$@" 2>&1); rc=$?
  printf '%s\n#sshd-T-rc %s\n' "$out" "$rc"
}}
count=0
for d in /proc/[0-9]*; do
  [ "$(cat "$d/comm" 2>/dev/null)" = sshd ] || continue
  inodes=""
  for i in $(ls -l "$d/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p'); do
    case "$listening" in *" $i "*) inodes="$inodes,$i" ;; esac
  done
  [ -n "$inodes" ] || continue
  pid=${{d##*/}}
  uid=$(awk '/^Uid:/ {{ print $2 }}' "$d/status" 2>/dev/null)
  exe=$(readlink "$d/exe" 2>/dev/null)
  case "$exe" in ""|*" (deleted)") exe=$bin ;; esac
  echo "#daemon $pid uid=$uid inodes=${{inodes#,}} exe=$exe"
  echo "#cmdline $(tr '\000\n\t' '   ' < "$d/cmdline")"
  count=$((count + 1))
  if [ "$count" -gt {sshd.MAX_DAEMONS} ]; then echo "#not-judged more than {sshd.MAX_DAEMONS} listeners"
  elif [ "$uid" != 0 ]; then echo "#not-judged started by uid $uid, not root"
  elif [ ! -x "$exe" ]; then echo "#not-judged its binary $exe cannot be run"
  else judge; fi
done
"""

# Finds sshd (also outside a non-root PATH), prints its path and version, then `sshd -T`
# and its exit code; sshd -T's own error goes to stderr.
SSHD_T = rf"""
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"
bin=""
for p in /usr/sbin/sshd /usr/local/sbin/sshd /sbin/sshd "$(command -v sshd 2>/dev/null)"; do
  if [ -n "$p" ] && [ -x "$p" ]; then bin=$p; break; fi
done
if [ -z "$bin" ]; then echo '{NO_SSHD}'; exit 0; fi
echo "{SSHD_LINE}$bin $("$bin" -V 2>&1 | head -n 1)"
"$bin" -T
echo "{RC_LINE}$?"
{DAEMONS_SCRIPT}
exit 0
"""

# sshd_config and, recursively, every file its Include lines name (globs, relative to
# /etc/ssh), in the files.py dump format. Include arguments are split on blanks. Comment
# lines are blanked on the host (line numbers stay right): whatever someone noted there
# never leaves it. A matched file that cannot be read, and the directory of a glob that
# cannot be listed or searched (the glob then stays literal), are reported unreadable (a
# directory with a trailing /): the files read are then not all that sshd reads.
SSHD_CONFIG = rf"""
H={shlex.quote(HEADER)}; U={shlex.quote(UNREADABLE)}
emit() {{ if [ -r "$1" ]; then printf '\n%s%s\n' "$H" "$1"; sed 's/^[[:space:]]*#.*$//' -- "$1"
  else printf '\n%s%s\n' "$U" "$1"; fi; }}
includes() {{ awk '{{ sub(/^[ \t]+/, ""); if (tolower($0) ~ /^include([ \t]|=)/) {{
  sub(/^[^ \t=]+[ \t]*=?[ \t]*/, ""); gsub(/"/, ""); print }} }}' "$1" 2>/dev/null; }}
todo={sshd.MAIN_CONFIG}; seen=" "; depth=0
[ -e {sshd.MAIN_CONFIG} ] || exit 0
while [ -n "$todo" ] && [ "$depth" -le {sshd.MAX_INCLUDE_DEPTH} ]; do
  next=""
  for f in $todo; do
    case "$seen" in *" $f "*) continue ;; esac
    seen="$seen$f "
    emit "$f"
    set -f; patterns=$(includes "$f")
    for pattern in $patterns; do
      case "$pattern" in /*) ;; *) pattern="{sshd.CONFIG_DIR}/$pattern" ;; esac
      set +f
      for g in $pattern; do
        if [ -f "$g" ]; then next="$next $g"
        elif [ ! -e "$g" ]; then d=${{g%/*}}
          if [ -d "$d" ] && {{ [ ! -r "$d" ] || [ ! -x "$d" ]; }}; then printf '\n%s%s/\n' "$U" "$d"; fi
        fi
      done
      set -f
    done
    set +f
  done
  todo=$next; depth=$((depth + 1))
done
exit 0
"""

ALGORITHM_KEYWORDS = {
    "ciphers": ("Ciphers", "weak_ciphers"),
    "macs": ("MACs", "weak_macs"),
    "kexalgorithms": ("KexAlgorithms", "weak_kex"),
    "gssapikexalgorithms": ("GSSAPIKexAlgorithms", "weak_kex"),
    "hostkeyalgorithms": ("HostKeyAlgorithms", "weak_host_key_algorithms"),
    "pubkeyacceptedalgorithms": ("PubkeyAcceptedAlgorithms", "weak_host_key_algorithms"),
}
NAMES = {"permitrootlogin": "PermitRootLogin", "passwordauthentication": "PasswordAuthentication",
         "kbdinteractiveauthentication": "KbdInteractiveAuthentication",
         "permitemptypasswords": "PermitEmptyPasswords", "usepam": "UsePAM",
         "authenticationmethods": "AuthenticationMethods", "x11forwarding": "X11Forwarding",
         "maxauthtries": "MaxAuthTries", "logingracetime": "LoginGraceTime", "allowusers": "AllowUsers",
         "allowgroups": "AllowGroups"}

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

class Setting(NamedTuple):
    value: str
    where: str  # "file:line", "default", or "" (sshd -T for a setting no file sets)


Effective = dict[str, Setting]  # by lower-case keyword


def _value(settings: Effective, keyword: str, default: str) -> str:
    found = settings.get(keyword)
    return found.value if found else default


class Judged(NamedTuple):
    """The settings judged, the source they came from, and notes about that source."""

    effective: Effective
    source: str  # "sshd -T" or "sshd_config"
    notes: list[str]


class SshdUnreadable(Exception):
    """Neither sshd -T nor the configuration files could be read."""


def _joined(keyword: str, values: list[str]) -> str:
    return " ".join(values) if keyword in sshd.ACCUMULATING else values[0]


def _where(location: str) -> str:
    return f" ({location})" if location else ""


def _second_factor_only(methods: str) -> bool:
    """AuthenticationMethods makes every login start with a public key."""
    lists = methods.split()
    return bool(lists) and methods != "any" and all(
        any(m.split(":")[0] == "publickey" for m in one.split(",")) for one in lists)


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


def _sshd_t_settings(lines: list[str], located: dict[str, str]) -> Effective:
    values = sshd.parse_sshd_t("\n".join(ln for ln in lines if not ln.startswith("#sshd")))
    if "permitrootlogin" not in values or "ciphers" not in values:
        raise ValueError("sshd -T output lacks PermitRootLogin or Ciphers")
    return {k: Setting(_joined(k, v), located.get(k, "")) for k, v in values.items()}


def _effective(text: str, stderr: str, config: sshd.SshdConfig, unreadable: list[str]) -> Judged:
    lines = text.splitlines()
    rc_line = next((ln for ln in reversed(lines) if ln.startswith(RC_LINE)), None)
    if rc_line is None:
        raise ValueError("the sshd -T probe printed no exit status line")
    located = {k: v[0].where for k, v in config.settings.items()}
    rc = rc_line[len(RC_LINE):].strip()
    if rc == "0":
        return Judged(_sshd_t_settings(lines, located), "sshd -T", [])
    first_error = next((ln.strip() for ln in stderr.splitlines() if ln.strip()), "")
    note = f"sshd -T exited {rc}" + (f": {first_error}" if first_error else "")
    if not config.files_read:
        raise SshdUnreadable(f"{note}, and the configuration could not be read: "
                             + ("; ".join(config.problems) or "no sshd_config"))
    if unreadable:  # an unread drop-in may set anything, and one read earlier wins
        raise SshdUnreadable(f"{note}, and the configuration could not be read in full: cannot read "
                             + ", ".join(unreadable) + "; what sshd applies is unknown")
    effective = {}
    for keyword, default in sshd.COMPILED_DEFAULTS.items():
        setting = config.first(keyword)
        if keyword in ALGORITHM_KEYWORDS:
            resolved = sshd.resolve_algorithms(setting.value if setting else None, default)
            effective[keyword] = Setting(",".join(resolved), setting.where if setting else "")
        else:
            effective[keyword] = Setting(setting.value if setting else default,
                                         setting.where if setting else "default")
    for keyword, found in config.settings.items():
        effective.setdefault(keyword, Setting(_joined(keyword, [s.value for s in found]), found[0].where))
    notes = [f"{note}; judged from the configuration files, with {sshd.COMPILED_DEFAULTS_VERSION}'s "
             "compiled-in defaults for what they do not set"]
    return Judged(effective, "sshd_config", notes)


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
        weak = [a for a in value.split(",") if any(fnmatch.fnmatchcase(a, p) for p in params[param])]
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


def _daemon_label(daemons: sshd.Daemons, daemon: sshd.Daemon) -> str:
    """"sshd pid 812 (/etc/ssh/sshd_config_internal, -o PasswordAuthentication=yes) on 0.0.0.0:2222"."""
    how = ", ".join([daemon.config_file] + [f"-o {o}" for o in daemon.command_line_options])
    return f"sshd pid {daemon.pid} ({how}) on {', '.join(daemons.endpoints(daemon)) or 'no port'}"


def _daemon_settings(daemon: sshd.Daemon, config: sshd.SshdConfig) -> Effective:
    """A daemon's sshd -T settings, located in sshd_config when it reads that file, or on its command line."""
    located = ({k: v[0].where for k, v in config.settings.items()}
               if daemon.config_file == sshd.MAIN_CONFIG else {})
    located.update({k: "-o on its command line" for k in daemon.option_keywords()})
    return _sshd_t_settings(daemon.output, located)


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
    findings = Findings(limit=4)
    version = first[len(SSHD_LINE):].strip() if first.startswith(SSHD_LINE) else ""
    notes += [f"sshd: {version}"] if version else []
    for note in notes + [f"cannot read {path}" for path in unreadable] + config.problems:
        findings.note(note)

    # The installed configuration: what sshd starts with (and what a daemon without options runs).
    weak_count = _judge_settings(effective, params, findings)
    _judge_matches(config, effective, findings)
    _note_access(effective, config, findings)
    own = _judge_daemons(daemons, config, params, findings) if daemons_text is not None else None
    weak_count += own or 0
    if daemons_text is not None and not listening:
        findings.note("no running sshd listens here (stopped, or started by socket activation): the "
                      "configuration sshd starts with is what was judged")

    root = _value(effective, "permitrootlogin", "?")
    where = f"sshd (from {source})" + (f" and {own_count(listening)} listener(s) with their own options"
                                       if own_count(listening) else "")
    algorithms = "no broken algorithms offered" if findings.advisories else "no weak algorithms offered"
    return findings.result(evidence=evidence, ok_summary=f"{where}: PermitRootLogin {root}, "
                           f"password and keyboard-interactive logins off, {algorithms}",
                           fail_prefix=f"{{n}} problem(s) (from {source}): ", source=source,
                           weak_algorithms=weak_count, problems=len(findings.failures),
                           match_blocks=len(config.matches), listeners=len(listening))


def _runs_installed(daemon: sshd.Daemon) -> bool:
    """A daemon started without -f or -o runs the installed configuration, judged already."""
    return not daemon.options


def own_count(listening: list[sshd.Daemon]) -> int:
    return sum(1 for d in listening if not _runs_installed(d))


def _judge_daemons(daemons: sshd.Daemons, config: sshd.SshdConfig, params: Params,
                   findings: Findings) -> int:
    """Each listening sshd started with its own -f or -o: its findings, named by pid, options and ports.
    Returns the number of weak algorithms they offer."""
    weak_count = 0
    for daemon in daemons.daemons:
        label = _daemon_label(daemons, daemon)
        if daemon.not_judged:
            findings.unknown(f"{label}: not judged: {daemon.not_judged}")
            continue
        if _runs_installed(daemon):
            findings.note(f"{label}: runs the installed configuration ({daemon.cmdline})")
            continue
        findings.note(f"{label}: {daemon.cmdline}")
        if daemon.rc != 0:
            error = next((ln.strip() for ln in daemon.output if ln.strip()), "")
            findings.unknown(f"{label}: sshd -T with its options exited {daemon.rc}"
                             + (f": {error}" if error else ""))
            continue
        try:
            settings = _daemon_settings(daemon, config)
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
