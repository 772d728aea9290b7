"""OS account passwords are stored as salted, slow hashes.

Reads the hash scheme of every account in /etc/shadow that can log in with a password
(locked and disabled accounts are ignored), and the schemes that new passwords will get:
ENCRYPT_METHOD in /etc/login.defs and the options of pam_unix in /etc/pam.d. Only the
user name, the scheme, its cost parameters and the salt length leave the host — never a
hash. yescrypt, bcrypt, scrypt, sha512crypt and sha256crypt pass; md5crypt, DES, an
empty or unknown field, a missing salt or a salt shared by two accounts fail.
"""

from __future__ import annotations

from auditor.check import Check, Outputs, Params, Result, Status, result
from auditor.parsers import crypt
from auditor.parsers.conf import whitespace_keys
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

LOGIN_DEFS = r"""
[ -r /etc/login.defs ] || { echo "#absent"; exit 0; }
grep -E '^[[:space:]]*(ENCRYPT_METHOD|MD5_CRYPT_ENAB|[A-Z_]*_ROUNDS|YESCRYPT_COST_FACTOR)([[:space:]]|$)' \
  /etc/login.defs
exit 0
"""

PAM_UNIX = r"""
grep -sHE '^[[:space:]]*-?password[[:space:]].*pam_unix\.so' /etc/pam.d/* 2>/dev/null
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


def parse_accounts(text: str) -> list[tuple[str, str, str, int, bool]]:
    accounts = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 5 or not parts[3].isdigit():
            raise ValueError(f"unexpected line from the shadow probe: {line[:80]!r}")
        user, scheme_id, cost, salt_length, shared = parts
        accounts.append((user, scheme_id, cost, int(salt_length), shared == "1"))
    return accounts


def evaluate(out: Outputs, params: Params) -> Result:
    shadow = out.require("shadow_schemes")
    try:
        accounts = parse_accounts(shadow.stdout)
    except ValueError as exc:
        return result(Status.ERROR, str(exc), evidence=["shadow_schemes"])
    problems: list[str] = []
    details: list[str] = []
    counts: dict[str, int] = {}
    usable = [a for a in accounts if a[1] != "locked"]
    for user, scheme_id, cost, salt_length, shared in usable:
        scheme = crypt.scheme(scheme_id)
        counts[scheme.name] = counts.get(scheme.name, 0) + 1
        cost_text = "" if cost == "-" else f", cost {cost}"
        details.append(f"{user}: {scheme.name}{cost_text}, salt {salt_length} chars")
        if not scheme.strong:
            problems.append(f"{user} uses {scheme.name} ({scheme.why})")
        elif salt_length == 0:
            problems.append(f"{user}: {scheme.name} hash without a salt")
        elif shared:
            problems.append(f"{user}: shares its salt with another account")

    defs = out.require("login_defs").stdout
    if "#absent" not in defs:
        method = whitespace_keys(defs).get("ENCRYPT_METHOD")
        if method is None:
            md5 = whitespace_keys(defs).get("MD5_CRYPT_ENAB", "no").lower() == "yes"
            problems.append("login.defs sets no ENCRYPT_METHOD: chpasswd and newusers fall back "
                            f"to {'MD5' if md5 else 'DES'}")
        elif not crypt.LOGIN_DEFS_METHODS.get(method.upper(), False):
            problems.append(f"login.defs ENCRYPT_METHOD {method} is not a strong scheme")
        else:
            details.append(f"login.defs: ENCRYPT_METHOD {method}")

    for line in out.require("pam_unix").stdout.splitlines():
        location, _, rule = line.partition(":")
        options = rule.split("pam_unix.so", 1)[-1].split()
        weak = [o for o in options if crypt.PAM_UNIX_METHODS.get(o) is False]
        strong = [o for o in options if crypt.PAM_UNIX_METHODS.get(o)]
        if weak:
            problems.append(f"{location}: pam_unix hashes new passwords with {', '.join(weak)}")
        elif strong:
            details.append(f"{location}: pam_unix {' '.join(strong)}")

    evidence = ["shadow_schemes", "login_defs", "pam_unix"]
    locked = len(accounts) - len(usable)
    scheme_counts = {name: n for name, n in sorted(counts.items())}
    if problems:
        return result(Status.FAIL, f"{len(problems)} problem(s): " + "; ".join(problems[:3])
                      + (" …" if len(problems) > 3 else ""), problems + details, evidence,
                      accounts_by_scheme=scheme_counts, locked_accounts=locked)
    if not usable:
        summary = f"no account has a usable password ({locked} locked); new passwords use strong schemes"
    else:
        summary = f"{len(usable)} account(s) with a password, all salted and slow: " + ", ".join(
            f"{n} {name}" for name, n in scheme_counts.items())
    return result(Status.PASS, summary, details, evidence,
                  accounts_by_scheme=scheme_counts, locked_accounts=locked)
