"""SSH logins need a key, root cannot log in with a password, and no weak algorithm is offered.

Reads: the host's configured OpenSSH server: the effective global configuration from
`sshd -T` (as root: sshd must read its host keys), and /etc/ssh/sshd_config with every file
its `Include` lines pull in (read in place, first value wins, globs relative to /etc/ssh).
When `sshd -T` cannot run (no root, no host keys, a config error), the check falls back to
the parsed files plus OpenSSH 9.2's compiled-in defaults for what they do not set, and the
summary says which source was used. Both probes run as root when the inventory grants it
(`become`). X11Forwarding, MaxAuthTries, LoginGraceTime, AllowUsers/AllowGroups and an
obsolete `Protocol` line are reported as details.

Passes when: none of the failures below is found; the summary names the source and
PermitRootLogin.

Fails when: PermitRootLogin yes; PasswordAuthentication not no; PermitEmptyPasswords yes;
KbdInteractiveAuthentication (ChallengeResponseAuthentication) yes while UsePAM yes, since
PAM then asks for the password — unless AuthenticationMethods requires publickey in every
method list, which makes keyboard-interactive a second factor only (with UsePAM no there is
no password prompt behind it on Linux: a detail); any Ciphers, MACs, KexAlgorithms,
HostKeyAlgorithms or PubkeyAcceptedAlgorithms entry matching the weak patterns (the
`weak_*` parameters; GSSAPI kex algorithms only when GSSAPIKeyExchange is on). Note that
OpenSSH's default MACs include hmac-sha1 and umac-64, so a stock Debian sshd fails until
MACs is set. Each problem names the directive, its value and the file:line that set it.
`Match` blocks are not evaluated (they depend on the connection) but every one that sets a
judged directive to a failing value fails the check, naming the block.

Error/Manual: as a plain login user the fallback is what remains, and it is an `error`
when sshd_config, any file its Include lines match, or the directory of an Include glob
(not listable or searchable) cannot be read — such a drop-in (cloud images ship
50-cloud-init.conf as 0600) may set anything, and being read first it would win. `error`
too when the sshd -T output cannot be read. No sshd installed → `skip`.

Secrets: none: sshd's configuration holds no credentials (host keys are never read by the
probes; `sshd -T` prints settings only).

Blind spots: an sshd started with another config (`-f`, command-line `-o`) or a second
sshd instance; what a Match block really applies to; include paths containing spaces; in
the fallback, defaults of OpenSSH versions other than 9.2; PAM's own configuration.
"""

from __future__ import annotations

import fnmatch
import shlex
from typing import NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import sshd
from auditor.parsers.files import HEADER, UNREADABLE, parse_dump
from auditor.probes import shell

NO_SSHD = "#no-sshd"
SSHD_LINE = "#sshd "
RC_LINE = "#sshd-T-rc "

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


def _login_problems(settings: Effective, usepam: str, methods: str) -> list[str]:
    """The failing authentication settings among `settings`."""
    problems = []
    for keyword, bad in (("permitrootlogin", ("yes",)), ("passwordauthentication", ("yes",)),
                         ("permitemptypasswords", ("yes",))):
        if keyword in settings and settings[keyword].value.lower() in bad:
            value, location = settings[keyword]
            problems.append(f"{NAMES[keyword]} {value}{_where(location)}")
    kbd = settings.get("kbdinteractiveauthentication")
    if kbd and kbd.value.lower() == "yes" and usepam == "yes" and not _second_factor_only(methods):
        problems.append(f"KbdInteractiveAuthentication yes{_where(kbd.where)} with UsePAM yes: PAM asks "
                        "for the password")
    return problems


def _effective(out: Outputs, config: sshd.SshdConfig,
               unreadable: list[str]) -> Judged:
    text = out.require("sshd_t").stdout
    lines = text.splitlines()
    rc_line = next((ln for ln in reversed(lines) if ln.startswith(RC_LINE)), None)
    if rc_line is None:
        raise ValueError("the sshd -T probe printed no exit status line")
    located = {k: v[0].where for k, v in config.settings.items()}
    rc = rc_line[len(RC_LINE):].strip()
    if rc == "0":
        body = "\n".join(ln for ln in lines if not ln.startswith("#sshd"))
        values = sshd.parse_sshd_t(body)
        if "permitrootlogin" not in values or "ciphers" not in values:
            raise ValueError("sshd -T output lacks PermitRootLogin or Ciphers")
        effective = {k: Setting(_joined(k, v), located.get(k, "")) for k, v in values.items()}
        return Judged(effective, "sshd -T", [])
    first_error = next((ln.strip() for ln in out["sshd_t"].stderr.splitlines() if ln.strip()), "")
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


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["sshd_t", "sshd_config"]
    first = next((ln for ln in out.require("sshd_t").stdout.splitlines() if ln.strip()), "")
    if first.strip() == NO_SSHD:
        return result(Status.SKIP, "no OpenSSH server (sshd) installed", evidence=["sshd_t"])
    config_probe = out.get("sshd_config")
    files: dict[str, str] = {}
    unreadable: list[str] = []
    if config_probe is not None and config_probe.ok:
        files, unreadable = parse_dump(config_probe.stdout)
    config = sshd.parse_config(files)
    try:
        effective, source, notes = _effective(out, config, unreadable)
    except SshdUnreadable as exc:
        return result(Status.ERROR, str(exc), evidence=evidence)
    except ValueError as exc:
        return result(Status.ERROR, f"cannot read the sshd -T output: {exc}", evidence=evidence)
    findings = Findings(limit=4)
    version = first[len(SSHD_LINE):].strip() if first.startswith(SSHD_LINE) else ""
    notes += [f"sshd: {version}"] if version else []
    for note in notes + [f"cannot read {path}" for path in unreadable] + config.problems:
        findings.note(note)

    usepam = _value(effective, "usepam", "no").lower()
    methods = _value(effective, "authenticationmethods", "any")
    for problem in _login_problems(effective, usepam, methods):
        findings.fail(problem)
    if _value(effective, "kbdinteractiveauthentication", "no").lower() == "yes":
        if usepam != "yes":
            findings.note("KbdInteractiveAuthentication yes, but UsePAM no: no password prompt behind it "
                          "on Linux")
        elif _second_factor_only(methods):
            findings.note(f"keyboard-interactive only after a public key (AuthenticationMethods {methods})")

    weak_count = 0
    gss_on = _value(effective, "gssapikeyexchange", "no").lower() == "yes"
    for keyword, (label, param) in ALGORITHM_KEYWORDS.items():
        if keyword not in effective or (keyword == "gssapikexalgorithms" and not gss_on):
            continue
        value, location = effective[keyword]
        weak = [a for a in value.split(",") if any(fnmatch.fnmatchcase(a, p) for p in params[param])]
        if weak:
            weak_count += len(weak)
            findings.fail(f"{label} offers {', '.join(weak)}{_where(location)}")

    for block in config.matches:
        inside = {s.keyword: Setting(s.value, s.where) for s in reversed(block.settings)}
        block_problems = _login_problems(inside, _value(inside, "usepam", usepam).lower(),
                                         _value(inside, "authenticationmethods", methods))
        for problem in block_problems:
            findings.fail(f"Match {block.criteria} ({block.where}) sets {problem}")
        judged = sorted(k for k in inside if k in NAMES)
        if judged and not block_problems:
            findings.note(f"Match {block.criteria} ({block.where}) sets "
                          + ", ".join(f"{NAMES[k]} {inside[k].value}" for k in judged))
    _note_access(effective, config, findings)

    root = _value(effective, "permitrootlogin", "?")
    return findings.result(evidence=evidence, ok_summary=f"sshd (from {source}): PermitRootLogin {root}, "
                           "password and keyboard-interactive logins off, no weak algorithms offered",
                           fail_prefix=f"{{n}} problem(s) (from {source}): ", source=source,
                           weak_algorithms=weak_count, problems=len(findings.failures),
                           match_blocks=len(config.matches))


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
