"""OS account passwords are stored as salted, slow hashes.

Reads: the hash scheme of every account in /etc/shadow that can log in with a password
(locked and disabled accounts are ignored), and the schemes that new passwords will get:
ENCRYPT_METHOD in /etc/login.defs and the options of pam_unix in /etc/pam.d: Debian's and
Ubuntu's common-password (yescrypt since Debian 11 and Ubuntu 22.04), the RHEL family's
system-auth and password-auth, which authselect writes (sha512 on RHEL 8 and 9, yescrypt in
authselect's upstream profiles); the profile named in /etc/authselect/authselect.conf is
reported. A pam_unix line naming no scheme uses ENCRYPT_METHOD (Linux-PAM 1.4 and later).

Passes when: every such account uses yescrypt, bcrypt, scrypt, sha512crypt or sha256crypt,
and new passwords get a strong scheme.

Fails when: an account uses md5crypt, DES, an empty or unknown field, a missing salt or a
salt shared by two accounts; login.defs sets no or a weak ENCRYPT_METHOD; pam_unix hashes
new passwords with a weak scheme.

Error/Manual: a probe that fails or a shadow line that cannot be read is an `error`; so is a
named pipe (FIFO), a device or a socket where /etc/login.defs or a file of /etc/pam.d should
be: it is not opened (reading it would block), so the scheme of new passwords is unknown.

Secrets: only the user name, the scheme, its cost parameters and the salt length leave the
host — never a hash.

Blind spots: accounts outside /etc/shadow (LDAP, SSSD) are not seen.
"""

from __future__ import annotations

from typing import NamedTuple

from auditor.check import Check, Findings, Outputs, Params, Result, Status, result
from auditor.parsers import crypt
from auditor.parsers.conf import whitespace_keys
from auditor.parsers.not_a_file import NOT_A_FILE_SH, read_not_a_file
from auditor.parsers.rows import UnexpectedLine, rows, unexpected
from auditor.probes import shell

# Runs on the host; prints user, scheme id, cost parameters, salt length and whether
# another account uses the same salt. The hash itself is never printed.
SHADOW_SCHEMES = r"""
awk -F: '
NF >= 2 && $1 !~ /^#/ {
  u = $1; h = $2; params = "-"; salt = ""
  if (h ~ /^[!*]/) { scheme = "locked" }
  else if (h == "") { scheme = "empty" }
  else if (h ~ /^\$/) {
    n = split(h, f, "$"); scheme = f[2]
    if (scheme ~ /^md5,/) { params = substr(scheme, 5); scheme = "md5" }  # $md5,rounds=N$
    if (scheme ~ /^2[abxy]?$/) { params = f[3]; salt = substr(f[4], 1, 22) }
    else if (scheme == "y" || scheme == "gy") { params = f[3]; salt = f[4] }
    else if (scheme == "7") { params = substr(f[3], 1, 11); salt = substr(f[3], 12) }
    else if (f[3] ~ /^rounds=/) { params = f[3]; salt = f[4] }
    else if (n >= 4) { salt = f[3] }
  }
  else if (length(h) == 13 && h ~ /^[.\/0-9A-Za-z]+$/) { scheme = "des"; salt = substr(h, 1, 2) }
  else if (length(h) == 20 && h ~ /^_/) { scheme = "bsdi"; params = substr(h, 2, 4); salt = substr(h, 6, 4) }
  else { scheme = "plain" }
  users[++count] = u; schemes[count] = scheme; costs[count] = params
  salts[count] = salt; if (salt != "") seen[salt]++
}
END {
  for (i = 1; i <= count; i++) {
    shared = (salts[i] != "" && seen[salts[i]] > 1) ? 1 : 0
    printf "%s\t%s\t%s\t%d\t%d\n", users[i], schemes[i], costs[i], length(salts[i]), shared
  }
}' /etc/shadow
"""

# A FIFO or a device there is not opened (it would block until the probe's deadline): the
# probe says what it is (NOT_A_FILE), which is not the same as no login.defs.
LOGIN_DEFS = rf"""
{NOT_A_FILE_SH}
say_not_a_file /etc/login.defs && exit 0
[ -r /etc/login.defs ] || {{ echo "#absent"; exit 0; }}
grep -E '^[[:space:]]*(ENCRYPT_METHOD|MD5_CRYPT_ENAB|[A-Z_]*_ROUNDS|YESCRYPT_COST_FACTOR)([[:space:]]|$)' \
  /etc/login.defs
exit 0
"""

# The pam_unix password lines of every PAM service, and (RHEL family) the authselect profile
# that writes /etc/pam.d/system-auth and password-auth, from the first line of its state file.
# grep reads the regular files of /etc/pam.d only: a FIFO or a device there is named
# (NOT_A_FILE), not opened; a directory or a link to /dev/null is skipped, as grep -s did.
AUTHSELECT_LINE = "#authselect "
AUTHSELECT_CONF = "/etc/authselect/authselect.conf"
AUTHSELECT_FILES = ("/etc/pam.d/system-auth", "/etc/pam.d/password-auth")
PAM_UNIX = rf"""
{NOT_A_FILE_SH}
set --
for f in /etc/pam.d/*; do
  if [ -f "$f" ]; then set -- "$@" "$f"
  elif [ ! -d "$f" ]; then say_not_a_file "$f"; fi
done
[ "$#" -eq 0 ] || grep -sHE '^[[:space:]]*-?password[[:space:]].*pam_unix\.so' "$@" 2>/dev/null
say_not_a_file {AUTHSELECT_CONF} || if [ -r {AUTHSELECT_CONF} ]; then
  sed -n '/^[[:space:]]*[^#[:space:]]/{{s/^/{AUTHSELECT_LINE}/p;q;}}' {AUTHSELECT_CONF}
fi
exit 0
"""

CHECK = Check(
    id="password_hashing",
    trend_values=("accounts_by_scheme",),
    title="Account passwords use a salted, slow hash",
    claims=("salted-password-hashing",),
    controls=("ISO27001:2022 A.8.5", "ISO27001:2022 A.5.17", "ISO27001:2022 A.8.24"),
    probes=(
        shell("shadow_schemes", SHADOW_SCHEMES, root=True),
        shell("login_defs", LOGIN_DEFS),
        shell("pam_unix", PAM_UNIX),
    ),
)


class Account(NamedTuple):
    user: str
    scheme_id: str
    cost: str  # "-" when the scheme has none
    salt_length: int
    shared_salt: bool


def parse_accounts(text: str) -> list[Account]:
    found = rows(text, "shadow", untagged=5)
    if bad := next((r for r in found if not r.fields[3].isdigit()), None):
        raise unexpected("shadow", "\t".join(bad.fields))
    return [Account(user, scheme_id, cost, int(salt), shared == "1")
            for user, scheme_id, cost, salt, shared in (r.fields for r in found)]


def _judge_pam_unix(text: str, login_defs_method: str | None,
                    findings: Findings) -> tuple[str, dict[str, str]]:
    """The hashing option of each pam_unix password line. A line naming none hashes with
    login.defs' ENCRYPT_METHOD (Linux-PAM 1.4 and later), already judged above. Returns the
    authselect profile ("" without authselect) and each file's scheme options."""
    lines = text.splitlines()
    schemes: dict[str, str] = {}
    profile = next((ln[len(AUTHSELECT_LINE):].strip() for ln in lines if ln.startswith(AUTHSELECT_LINE)), "")
    for line in lines:
        if line.startswith(AUTHSELECT_LINE):
            continue
        if (odd := read_not_a_file(line)) is not None:
            if odd.path == AUTHSELECT_CONF:
                findings.note(f"{odd}: not read, so the authselect profile is not named")
            else:  # PAM would block on it too, or read what a writer feeds it
                findings.unknown(f"{odd}: not read, so the pam_unix options it may set are unknown")
            continue
        location, _, rule = line.partition(":")
        options = rule.split("pam_unix.so", 1)[-1].split()
        weak = [o for o in options if crypt.PAM_UNIX_METHODS.get(o) is False]
        strong = [o for o in options if crypt.PAM_UNIX_METHODS.get(o)]
        schemes[location] = " ".join(weak + strong) or f"login.defs {login_defs_method or '?'}"
        managed = (f" (written by authselect profile {profile}: change it with authselect, not by hand)"
                   if profile and location in AUTHSELECT_FILES else "")
        if weak:
            findings.fail(f"{location}: pam_unix hashes new passwords with {', '.join(weak)}{managed}")
        elif strong:
            findings.note(f"{location}: pam_unix {' '.join(strong)}{managed}")
        elif login_defs_method:
            findings.note(f"{location}: pam_unix names no scheme, so it uses login.defs ENCRYPT_METHOD "
                          f"{login_defs_method}{managed}")
    if profile:
        findings.note(f"authselect profile {profile} manages {' and '.join(AUTHSELECT_FILES)}")
    return profile, schemes


def evaluate(out: Outputs, params: Params) -> Result:
    try:
        accounts = parse_accounts(out.require("shadow_schemes").stdout)
    except UnexpectedLine as exc:
        return result(Status.ERROR, str(exc), evidence=["shadow_schemes"])
    findings = Findings()
    counts: dict[str, int] = {}
    usable = [a for a in accounts if a.scheme_id != "locked"]
    for a in usable:
        scheme = crypt.scheme(a.scheme_id)
        counts[scheme.name] = counts.get(scheme.name, 0) + 1
        cost_text = "" if a.cost == "-" else f", cost {a.cost}"
        findings.note(f"{a.user}: {scheme.name}{cost_text}, salt {a.salt_length} chars")
        if not scheme.strong:
            findings.fail(f"{a.user} uses {scheme.name} ({scheme.why})")
        elif a.salt_length == 0:
            findings.fail(f"{a.user}: {scheme.name} hash without a salt")
        elif a.shared_salt:
            findings.fail(f"{a.user}: shares its salt with another account")

    defs = out.require("login_defs").stdout
    method: str | None = None
    if (odd := read_not_a_file(defs.partition("\n")[0])) is not None:
        findings.unknown(f"{odd}: not read, so the scheme chpasswd, newusers and pam_unix without "
                         "a scheme of its own give new passwords is unknown")
    elif "#absent" not in defs:
        method = whitespace_keys(defs).get("ENCRYPT_METHOD")
        if method is None:
            md5 = whitespace_keys(defs).get("MD5_CRYPT_ENAB", "no").lower() == "yes"
            findings.fail("login.defs sets no ENCRYPT_METHOD: chpasswd and newusers fall back "
                          f"to {'MD5' if md5 else 'DES'}")
        elif not crypt.LOGIN_DEFS_METHODS.get(method.upper(), False):
            findings.fail(f"login.defs ENCRYPT_METHOD {method} is not a strong scheme")
        else:
            findings.note(f"login.defs: ENCRYPT_METHOD {method}")

    profile, pam_schemes = _judge_pam_unix(out.require("pam_unix").stdout, method, findings)

    locked = len(accounts) - len(usable)
    scheme_counts = {name: n for name, n in sorted(counts.items())}
    if not usable:
        ok = f"no account has a usable password ({locked} locked); new passwords use strong schemes"
    else:
        ok = f"{len(usable)} account(s) with a password, all salted and slow: " + ", ".join(
            f"{n} {name}" for name, n in scheme_counts.items())
    return findings.result(evidence=["shadow_schemes", "login_defs", "pam_unix"], ok_summary=ok,
                           fail_prefix="{n} problem(s): ", accounts_by_scheme=scheme_counts,
                           locked_accounts=locked, pam_unix_schemes=dict(sorted(pam_schemes.items())),
                           authselect_profile=profile or None)
