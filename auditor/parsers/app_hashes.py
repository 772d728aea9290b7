"""Application password columns: the on-host classifier and what its scheme tokens mean.

`CLASSIFY_AWK` is a POSIX awk program (mawk, gawk and busybox awk run it; python3 may not
exist on a host) that reads the rows an application database's CLI prints and names the
format of each password value with a token: `argon2`, `bcrypt`, `scrypt`, `pbkdf2`,
`pbkdf2-unknown-iterations`,
`crypt:<id>` (a crypt(3) string; its verdict comes from `auditor.parsers.crypt`),
`salted-fast`, `md5`/`sha1`/`sha224`/`sha256`/`sha384`/`sha512` (unsalted digests, hex or
LDAP base64), `mysql41`, `malformed`, `unknown`, `plain`, `empty`, `null`, `unusable`.
It prints only counts per token, how many values equal another row's value, the lowest
PBKDF2 iteration count, and for failing rows their row number and, where that is safe,
the row's identifier (see below). Never a value, nor any part of one beyond a scheme id
from a fixed list.

Formats recognised: PHC strings (`$argon2id$`, `$scrypt$`), passlib (`$pbkdf2-sha256$`,
`$bcrypt-sha256$`), Django (`pbkdf2_sha256$`, `argon2$argon2id$`, `bcrypt$`,
`bcrypt_sha256$`, `scrypt$`, `md5$`/`sha1$` salted single hashes, `unsalted_md5$$`,
`crypt$$`, and its unusable password `!` + 40 characters), werkzeug (`pbkdf2:sha256:N$`,
`scrypt:N:r:p$`, the old `sha256$salt$hex`, `plain$$`), crypt(3) (`$y$`, `$2b$`, `$6$`,
`$5$`, `$1$`, 13-character DES, ...), LDAP/Dovecot `{SCHEME}` prefixes, MySQL's
`*`+40 hex, and bare hex digests of 32/40/56/64/96/128 characters.

PBKDF2 iteration counts are read from every format that stores one: passlib
`$pbkdf2-sha256$N$`, Django `pbkdf2_sha256$N$`, werkzeug `pbkdf2:sha256:N$`, passlib's
LDAP `{PBKDF2-SHA256}N$salt$hash` and Dovecot's `{PBKDF2}$1$salt$N$hash`; Atlassian
`{PKCS5S2}` always uses 10000. A PBKDF2 value with no readable count (werkzeug
`pbkdf2:sha256$` without `:N`, an LDAP `{PBKDF2}` in another layout) is
`pbkdf2-unknown-iterations` and fails: its strength cannot be checked against
`min_pbkdf2_iterations`.

Decisions: md5crypt (`$1$`) and the framework "salted single hash" formats (Django `md5$`,
`sha1$`, werkzeug `sha256$`, LDAP `{SSHA}`) are salted but one fast hash (or 1000 MD5
rounds): they fail, as in `password_hashing`. A value in no known format fails as
`plain` (plaintext, or a scheme this tool does not know: either way not shown to be a
salted hash). NULL and the unusable-password markers mean "no password set": counted,
neither pass nor fail. A 13-character crypt-alphabet value is DES crypt or a plaintext
password; it fails either way.

Row identifiers: a query may return two columns, an identifier (a login name: not a
secret, it is in every auth log) and then the password. The identifier of a failing row
is printed only when the row's value is in a recognised hash format and the identifier
itself is not: if the query's columns were swapped, the "identifier" would be the
password, and a plaintext or empty password column is exactly when that cannot be ruled
out, so such rows are named by row number only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from shlex import quote

from auditor.parsers import app_sources, crypt

CLASSIFY_AWK = r"""
function allin(s, set) { return s != "" && s !~ ("[^" set "]") }
function iter(n) { if (n ~ /^[0-9]+$/ && (minit == "" || n + 0 < minit + 0)) minit = n + 0 }
function pbkdf2(n) {  # a PBKDF2 value whose iteration count is the text n
  if (n !~ /^[0-9]+$/) return "pbkdf2-unknown-iterations"
  iter(n); return "pbkdf2"
}
function ldappbkdf2(id, rest,   n, f) {  # {PBKDF2...}: passlib N$salt$hash, Dovecot $1$salt$N$hash
  if (id == "PKCS5S2") return pbkdf2("10000")  # Atlassian: always 10000 rounds of HMAC-SHA1
  n = split(rest, f, "$")
  if (n >= 5 && f[1] == "" && f[2] == "1") return f[n] != "" ? pbkdf2(f[4]) : "malformed"
  if (n >= 3 && f[1] ~ /^[0-9]+$/) return f[n] != "" ? pbkdf2(f[1]) : "malformed"
  return "pbkdf2-unknown-iterations"
}
function hexlen(l) { return l == 32 || l == 40 || l == 56 || l == 64 || l == 96 || l == 128 }
function hexname(l) {
  return l == 32 ? "md5" : l == 40 ? "sha1" : l == 56 ? "sha224" : \
         l == 64 ? "sha256" : l == 96 ? "sha384" : "sha512"
}
function dollar(v,   n, f, id) {  # a value starting with "$"
  n = split(v, f, "$"); id = f[2]
  if (id == "argon2id" || id == "argon2i" || id == "argon2d")
    return n >= 6 && f[n] != "" ? "argon2" : "malformed"
  if (id == "scrypt") return n >= 5 && f[n] != "" ? "scrypt" : "malformed"
  if (id == "pbkdf2" || id == "pbkdf2-sha1" || id == "pbkdf2-sha256" || id == "pbkdf2-sha512") {
    return n >= 5 && f[n] != "" ? pbkdf2(f[3]) : "malformed"
  }
  if (id == "bcrypt-sha256") return n >= 5 && f[n] != "" ? "bcrypt" : "malformed"
  if (id == "2a" || id == "2b" || id == "2y" || id == "2x")
    return length(v) == 60 && allin(f[4], "./A-Za-z0-9") ? "crypt:" id : "malformed"
  if (id ~ /^md5,/) id = "md5"
  if (id in cryptid)
    return n >= 4 && length(f[n]) >= 16 ? "crypt:" id : "malformed"
  return "unknown"
}
function classify(v,   l, n, id, rest, f, c) {
  if (v == nullmark) return "null"
  if (v == "") return "empty"
  l = length(v)
  c = substr(v, 1, 1)
  if (c == "$") return dollar(v)
  if (c == "{") {  # LDAP / Dovecot {SCHEME}value
    n = index(v, "}"); id = toupper(substr(v, 2, n - 2)); rest = substr(v, n + 1)
    if (n < 3) return "plain"
    if (id == "CRYPT" || id ~ /-CRYPT$/ || id ~ /^ARGON2/) return classify(rest)
    if (id == "SSHA" || id == "SSHA256" || id == "SSHA512" || id == "SMD5") return "salted-fast"
    if (id == "SHA" || id == "SHA1") return "sha1"
    if (id == "SHA256" || id == "SHA512" || id == "MD5") return tolower(id)
    if (id == "PLAIN" || id == "CLEAR" || id == "CLEARTEXT") return "plain"
    if (id ~ /^PBKDF2/ || id == "PKCS5S2") return ldappbkdf2(id, rest)
    return "unknown"
  }
  if (v == "!" || v == "*" || (c == "!" && l == 41 && allin(substr(v, 2), "A-Za-z0-9"))) return "unusable"
  n = index(v, "$")
  if (n > 1) {
    id = substr(v, 1, n - 1); rest = substr(v, n + 1)
    if (id == "argon2") return rest ~ /^argon2(id|i|d)\$/ ? dollar("$" rest) : "malformed"
    if (id == "bcrypt" || id == "bcrypt_sha256") return rest ~ /^\$2[aby]\$/ ? dollar(rest) : "malformed"
    if (id == "crypt") return rest ~ /^\$/ ? classify(substr(rest, 2)) : "malformed"
    if (id == "pbkdf2_sha256" || id == "pbkdf2_sha1") { split(rest, f, "$"); return pbkdf2(f[1]) }
    if (id == "scrypt" || id ~ /^scrypt:[0-9]+:[0-9]+:[0-9]+$/) return "scrypt"
    if (id ~ /^pbkdf2:sha(1|256|512)(:[0-9]+)?$/) { split(id, f, ":"); return pbkdf2(f[3]) }
    if (id == "unsalted_md5") return "md5"
    if (id == "unsalted_sha1") return "sha1"
    if (id == "md5" || id == "sha1" || id == "sha224" || id == "sha256" || id == "sha384" || id == "sha512")
      return "salted-fast"
    if (id == "plain") return "plain"
  }
  if (c == "*" && l == 41 && allin(substr(v, 2), "0-9A-F")) return "mysql41"
  if (hexlen(l) && allin(v, "0-9a-fA-F")) return hexname(l)
  if (l == 13 && allin(v, "./0-9A-Za-z")) return "crypt:des"
  return "plain"
}
function proven(t) {  # a recognised hash format: the column really holds hashes
  return t != "plain" && t != "unknown" && t != "empty" && t != "null" && t != "unusable" && t != "crypt:des"
}
function clean(s) { gsub(/[[:cntrl:]]/, "?", s); return substr(s, 1, 64) }
BEGIN {
  FS = fs; RS = rs; minit = ""
  n = split(strongs, f, " "); for (i = 1; i <= n; i++) strong[f[i]] = 1
  n = split("y gy 7 6 5 1 md5 sha1 3", f, " "); for (i = 1; i <= n; i++) cryptid[f[i]] = 1
}
{
  sub(/\n$/, "")  # psql ends its last record with a newline instead of the record separator
  if (NR > max) { more = 1; next }
  rows++
  v = $NF
  t = classify(v)
  count[t]++
  label = "-"
  if (NF >= 2 && proven(t) && !proven(classify($1))) label = clean($1)
  ident[rows] = label
  if (!(t in strong) && t != "null" && t != "unusable" && shown[t]++ < show)
    printf "row\t%s\t%d\t%s\n", t, rows, label
  if (t != "null" && t != "unusable" && t != "empty") {
    if (v in seen) { seen[v] = seen[v] " " rows } else seen[v] = rows
    hits[v]++
  }
}
END {
  printf "rows\t%d\n", rows
  printf "more\t%d\n", more ? 1 : 0
  for (t in count) printf "scheme\t%s\t%d\n", t, count[t]
  if (minit != "") printf "pbkdf2_min_iterations\t%d\n", minit
  dups = 0; groups = 0; listed = 0
  for (v in hits) if (hits[v] > 1) {
    dups += hits[v]; groups++
    n = split(seen[v], f, " ")  # a group is numbered by its first row, so the output is stable
    for (i = 1; i <= n && listed < show * 2; i++) {
      printf "dup\t%d\t%d\t%s\n", f[1], f[i], ident[f[i]]; listed++
    }
  }
  printf "duplicates\t%d\t%d\n", dups, groups
}
"""

# Tokens of salted, slow hashes: their rows are not listed one by one (the awk program gets
# this list in `strongs`); everything else but NULL and unusable markers fails.
STRONG_TOKENS = ("argon2", "bcrypt", "scrypt", "pbkdf2", "crypt:y", "crypt:gy", "crypt:7", "crypt:2a",
                 "crypt:2b", "crypt:2y", "crypt:6", "crypt:5")


@dataclass(frozen=True)
class AppScheme:
    token: str
    name: str
    strong: bool  # a salted, deliberately slow hash
    why: str = ""
    no_password: bool = False  # NULL or an unusable-password marker: nothing stored


_SCHEMES: dict[str, AppScheme] = {s.token: s for s in (
    AppScheme("argon2", "argon2", True),
    AppScheme("bcrypt", "bcrypt", True),
    AppScheme("scrypt", "scrypt", True),
    AppScheme("pbkdf2", "pbkdf2", True),
    AppScheme("pbkdf2-unknown-iterations", "pbkdf2 without an iteration count", False,
              "the value does not store its iteration count (it is whatever the library's default "
              "is), so min_pbkdf2_iterations cannot be checked"),
    AppScheme("salted-fast", "salted single hash", False,
              "salted, but one fast MD5/SHA hash: cheap to brute-force"),
    AppScheme("md5", "unsalted MD5", False, "no salt, fast"),
    AppScheme("sha1", "unsalted SHA-1", False, "no salt, fast"),
    AppScheme("sha224", "unsalted SHA-224", False, "no salt, fast"),
    AppScheme("sha256", "unsalted SHA-256", False, "no salt, fast"),
    AppScheme("sha384", "unsalted SHA-384", False, "no salt, fast"),
    AppScheme("sha512", "unsalted SHA-512", False, "no salt, fast"),
    AppScheme("mysql41", "MySQL 4.1 PASSWORD()", False, "unsalted double SHA-1"),
    AppScheme("malformed", "malformed hash", False,
              "starts like a hash but is cut short or broken (a column too narrow?)"),
    AppScheme("unknown", "unknown hash scheme", False, "not a scheme this tool knows to be salted"),
    AppScheme("plain", "plaintext or unrecognised", False,
              "in no known hash format: a plaintext password, or a scheme this tool does not know"),
    AppScheme("empty", "empty", False, "an empty password value"),
    AppScheme("crypt:des", "DES crypt (or 13-character plaintext)", False,
              "8-character limit and a 12-bit salt, if it is a hash at all"),
    AppScheme("null", "NULL (no password set)", True, no_password=True),
    AppScheme("unusable", "unusable-password marker", True, no_password=True),
)}


def scheme(token: str) -> AppScheme:
    """What a classifier token means; crypt(3) tokens are judged by `auditor.parsers.crypt`."""
    if token in _SCHEMES:
        return _SCHEMES[token]
    if token.startswith("crypt:"):
        found = crypt.scheme(token[len("crypt:"):])
        return AppScheme(token, found.name, found.strong, found.why)
    return AppScheme(token, f"unrecognised token {token!r}", False, "the classifier printed an unknown token")


def classify_function(max_rows: int, show: int) -> str:
    """Shell text defining `classify FS RS NULL`: the classifier over stdin, for rows whose
    fields, records and NULLs are marked by those awk escapes (e.g. '\\037' '\\036' '\\035')."""
    strong = quote("strongs=" + " ".join(STRONG_TOKENS))
    return (f"classify() {{ awk -v \"fs=$1\" -v \"rs=$2\" -v \"nullmark=$3\" -v max={int(max_rows)} "
            f"-v show={int(show)} -v {strong} {quote(CLASSIFY_AWK)} "
            # Sorted, so that the evidence is the same for the same table.
            "| sort -t \"$(printf '\\t')\" -k1,1 -k2,2n -k3,3n; }")


@dataclass(frozen=True)
class FailingRow:
    token: str
    row: int
    label: str  # "row N", with the identifier in brackets where it may be shown


@dataclass
class SourceReport(app_sources.SourceBlock):
    """What the classifier printed for one configured source, on top of its status."""

    rows: int = 0
    more_rows: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    pbkdf2_min_iterations: int | None = None
    duplicate_values: int = 0
    duplicate_groups: int = 0
    failing_rows: list[FailingRow] = field(default_factory=list)
    duplicate_rows: dict[int, list[str]] = field(default_factory=dict)  # first row -> row labels


def _label(row: str, ident: str) -> str:
    return f"row {row}" if ident == "-" else f"row {row} ({ident})"


def parse(text: str) -> list[SourceReport]:
    """Per-source reports from the probe output; ValueError on a line it does not know."""
    _, blocks = app_sources.parse_blocks(text)
    reports: list[SourceReport] = []
    for block in blocks:
        report = SourceReport(block.index, block.status, block.rc, block.message)
        reports.append(report)
        for kind, *parts in block.lines:
            try:
                _read_line(report, kind, parts)
            except (IndexError, ValueError) as exc:
                line = "\t".join([kind, *parts])
                raise ValueError(f"unexpected line from the classifier: {line[:80]!r}") from exc
    return reports


def _read_line(report: SourceReport, kind: str, parts: list[str]) -> None:
    if kind == "rows":
        report.rows = int(parts[0])
    elif kind == "more":
        report.more_rows = parts[0] == "1"
    elif kind == "scheme":
        report.counts[parts[0]] = int(parts[1])
    elif kind == "pbkdf2_min_iterations":
        report.pbkdf2_min_iterations = int(parts[0])
    elif kind == "duplicates":
        report.duplicate_values, report.duplicate_groups = int(parts[0]), int(parts[1])
    elif kind == "row":
        report.failing_rows.append(FailingRow(parts[0], int(parts[1]), _label(parts[1], parts[2])))
    elif kind == "dup":
        report.duplicate_rows.setdefault(int(parts[0]), []).append(_label(parts[1], parts[2]))
    else:
        raise ValueError(kind)
