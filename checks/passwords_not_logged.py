"""Passwords are never written to logs or shell histories.

Reads: on the host, every file under `paths` (default /var/log, recursively, rotated
`.gz`/`.xz`/`.bz2`/`.zst` files decompressed on the fly; wtmp, btmp, lastlog, faillog and
journal files skipped as binary databases) and, with `histories`, the shell and client
histories in every home directory of /etc/passwd (.bash_history, .zsh_history,
.sh_history, .mysql_history, .psql_history). grep prefilters the lines (one grep per plain
file) and one awk program reads them all and finds password-bearing patterns; the listing
uses only what busybox find has too (no -printf or -readable), so it runs on Alpine. Only
the first `max_file_mb` MiB of a file are scanned; the summary says when a file was
longer. Every line is scanned whole, at a cost linear in its length: a long line is read through
windows of a few kB, so one line of many MB with a hundred thousand hits costs seconds, not the
probe's deadline. Patterns: `--password=VALUE`; `mysql`/`mariadb` `-pVALUE`; `sshpass -p VALUE`;
`curl -u user:VALUE` (also quoted); URLs with `user:VALUE@`; `Authorization: Basic VALUE`;
`Bearer VALUE` (12+ characters with a letter and a digit); JSON or Python-dict
`"password": "VALUE"` (also `'password': "VALUE"`, escaped `\\"password\\"`, and keys like
new_password, pwd, pass); `password=`, `passwd=`, `pwd=`, `pass=` parameters (query
strings, key=value logs; `pwd`/`pass` only as a whole word or after `_`, `-`, `.`; the
`PWD=`/`OLDPWD=` that sudo logs are directories); sshd "invalid user NAME" and login's
"FAILED LOGIN ... FOR 'NAME'" where NAME looks like a password: 8+ characters from at
least 3 of lower case, upper case, digits and symbols. Values that are masked already do
not count: empty, `***`, `xxx`, `[REDACTED]`, `<redacted>`, `[FILTERED]`, `%2A%2A%2A`,
`null`, `None`, and shell variable references (`-p"$DB_PASS"`).

Passes when: no finding in the files scanned, every configured path exists and every
directory and home could be read.

Fails when: any finding; the summary counts them and names the first few
`file:line (kind)`.

Error/Manual: `error` when there is no finding, but a configured path does not exist (a
mistyped path audits nothing), some files could not be read (permission, a corrupt
archive, no decompressor) or were not reached within `time_limit` seconds, or a directory
under `paths` could not be listed or entered, or a home directory could not be searched
(its histories unseen): there the check cannot tell. The scan reports the uid it ran as;
an error caused by missing permissions says so when it was not root (the probe needs
root: give the host `become`). `error` too for a probe line it does not understand or a
scan cut short (no totals line). `skip` when the paths exist but hold no file, and no
history was found.

Secrets: every value is replaced by `***` on the host, before anything leaves it. Only
`file:line`, the kind of pattern and that masked excerpt are reported, never the value. A
value is masked whole, and when in doubt the mask runs longer: URL user info up to the
last `@` before the next `/` or blank; quoted strings with their backslash escapes (after
an escaped JSON key, to the end of the enclosing string); command-line words with escaped
blanks, quoted parts and unterminated quotes (to the end of the line); `key=value` up to
the next blank, quote or `&` (so `;` and `,` are masked too).

Blind spots: a password logged in a format not listed (a custom key name,
`password: value`, a positional argument) is not found; a bot that tries user names like
`Admin123!` is reported as a password typed as a user name (a false positive); values cut
by a line break, systemd's journal (binary; read `journalctl` output into a file to scan
it) and logs outside `paths` are not seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers.awk import without_comments
from auditor.parsers.credentials import MASK_AWK
from auditor.parsers.rows import Arity, UnexpectedLine, rows, unexpected
from auditor.probes import CLOCK_SH, effective_uid, path_args, quote, shell

# Consecutive plain files up to this size (in the sorted listing) are grepped up to BATCH_FILES
# at a time (one process for many logs); larger and compressed ones one by one, so that the
# time limit is checked between them.
BATCH_BYTES = 1024 * 1024
BATCH_FILES = 64
HISTORIES = (".bash_history", ".zsh_history", ".sh_history", ".mysql_history", ".psql_history")
BINARY_NAMES = ("wtmp", "wtmp.*", "btmp", "btmp.*", "lastlog", "faillog", "*.journal", "*.journal~")
# Labels avoid the shapes the local redaction pass masks (`password=x`, `-p x`), so that
# the report can name them.
KINDS = {
    "cmdline": "--password option", "mysql": "mysql -p option", "sshpass": "sshpass password option",
    "curl": "curl -u credentials", "url": "URL user:password@", "basic": "Basic auth header",
    "bearer": "Bearer token", "json": "JSON password", "param": "password parameter",
    "invalid_user": "password as sshd user name", "login_name": "password as login name",
}

# grep -E -i prefilter: every line a pattern below could match, and few others.
PREFILTER = ("pass|pwd|authorization|bearer|sshpass|(mysql|mariadb)[^ ]* .*-p[^ ]|curl .*(-u|--user)"
             "|://[^/ @]*:[^/ @]*@|invalid user|failed login")

# One awk for the whole scan. Reads `scan\tFILE` rows (the files grep reads next, in order),
# then grep -n's `LINENO:text` lines of one file's stream or grep -n -H's `FILE:LINENO:text`
# lines of a batch of them; prints `find\tFILE\tLINE\tKIND\tEXCERPT` for at most
# `left` lines in all and `hits\tFILE\tCOUNT\tKIND...` once per file; passes every other row of
# the shell loop through. Values are replaced by *** before print. Its comments are for us:
# without_comments keeps them off the wire (about 1.2 kB of every batch, compressed).
SCAN_AWK = without_comments(r"""
function masked(v,   u) {
  u = tolower(v)
  if (u ~ /^".*"$/ || u ~ /^'.*'$/) u = substr(u, 2, length(u) - 2)
  if (u == "" || u ~ /^(\*+|xxx+|(%2a)+|null|none|nil|undefined)$/) return 1
  if (u ~ /^\[?(redacted|filtered|hidden|masked|removed)\]?$/) return 1
  if (u ~ /^<(redacted|filtered|hidden|masked|password|secret)>$/) return 1
  return u ~ /^\$\{?[a-z_][a-z0-9_]*\}?$/  # a shell variable: the value is not in the log
}
function classes(v,   n) {
  n = (v ~ /[a-z]/) + (v ~ /[A-Z]/) + (v ~ /[0-9]/) + (v ~ /[^A-Za-z0-9]/)
  return n
}
function accept(i, key, v,   kw, head) {
  if (kind[i] == "invalid_user" || kind[i] == "login_name") return length(v) >= 8 && classes(v) >= 3
  if (kind[i] == "bearer") return length(v) >= 12 && v ~ /[0-9]/ && v ~ /[A-Za-z]/ && !masked(v)
  if (kind[i] == "param") {
    if (key ~ /(^|[^A-Za-z])(OLD)?PWD[=]$/) return 0  # sudo's working directory, not a password
    kw = tolower(key)
    if (kw !~ /(password|passwd)=$/) {
      sub(/(pwd|pass)=$/, "", kw)
      if (kw != "" && kw !~ /[_.-]$/) return 0  # bypass=, compass=, ...
    }
    # The whole value up to a blank is masked, but `password=***;user=bob` was masked already.
    head = v; sub(/[;,].*$/, "", head)
    if (masked(head)) return 0
  }
  return !masked(v)
}
BEGIN {
  n = 0
  # A shell word: escaped characters, quoted strings and plain characters up to a blank;
  # an unterminated quote runs to the end of the line, as it would in the shell.
  word = "(\\\\.|\"(\\\\.|[^\"\\\\])*(\"|$)|'[^']*('|$)|[^ \t\\\\\"'])+"
  dq = "(\\\\.|[^\"\\\\])*"  # the inside of a double-quoted string with backslash escapes
  kind[++n] = "cmdline";  key[n] = "--password="; val[n] = word
  kind[++n] = "mysql";    key[n] = "[ \t]-p"; val[n] = word; exact[n] = 1
  need[n] = "(mysql|mariadb)"
  kind[++n] = "sshpass";  key[n] = "sshpass[ \t]+-p[ \t]*"; val[n] = word; exact[n] = 1; margin[n] = 1
  # .* is longest: the key runs to the last user option of the line (scanned for as `tail` below)
  kind[++n] = "curl";     key[n] = "curl[ \t].*(-u[ \t]*|--user[ \t=])[^ \t:'\"]+:"
  val[n] = "(\\\\.|[^ \t\\\\])+"; tail[n] = "[^ \t:'\"]+"
  kind[++n] = "curl";     key[n] = "curl[ \t].*(-u[ \t]*|--user[ \t=])\"[^\":]*:"; val[n] = dq
  tail[n] = "\"[^\":]*"
  kind[++n] = "curl";     key[n] = "curl[ \t].*(-u[ \t]*|--user[ \t=])'[^':]*:"; val[n] = "[^']*"
  tail[n] = "'[^':]*"
  # userinfo runs to the LAST @ before the next / or blank: an unencoded @ in a password
  kind[++n] = "url";      key[n] = "[a-z][a-z0-9+.-]*://[^ \t/@:\"']+:"; val[n] = "[^ \t/\"']*@"; trim[n] = 1
  how[n] = "url"
  kind[++n] = "basic";    key[n] = "authorization\"?[ \t]*[:=][ \t]*\"?basic[ \t]+"
  val[n] = "[A-Za-z0-9+/=]+"; margin[n] = 1
  kind[++n] = "bearer";   key[n] = "bearer[ \t]+"; val[n] = "[A-Za-z0-9._~+/=-]+"; margin[n] = 1
  kw = "([a-z0-9_-]*(password|passwd)|([a-z0-9-]*_)?(pwd|pass))"
  # After an escaped key (JSON inside a JSON string) this runs to the end of the outer string.
  kind[++n] = "json";     key[n] = "\\\\?\"" kw "\\\\?\"[ \t]*:[ \t]*\\\\?\""; val[n] = dq
  kind[++n] = "json";     key[n] = "'" kw "'[ \t]*:[ \t]*'"; val[n] = "(\\\\.|[^'\\\\])*"
  kind[++n] = "json";     key[n] = "'" kw "'[ \t]*:[ \t]*\""; val[n] = dq
  # key=value: up to the next blank, quote or & (`;` and `,` are masked too: when in doubt, more)
  kind[++n] = "param";    key[n] = "[a-z0-9_.-]*(password|passwd|pwd|pass)="
  val[n] = "(\"" dq "\"|'[^']*'|[\"']?(\\\\.|[^&\"' \t\\\\])*)"; how[n] = "param"
  kind[++n] = "invalid_user"; key[n] = "invalid user "; val[n] = "[^ \t]+"; only[n] = 1
  kind[++n] = "login_name"; key[n] = "failed login[^']* for '"; val[n] = "[^']+"; only[n] = 1
  how[n] = "login"
  for (i = 1; i <= n; i++)  # a user option's end, as the end of a piece of the line split at :
    if (tail[i] != "") { how[i] = "curl"; tail[i] = "(-u[ \t]*|--user[ \t=])" tail[i] "$" }
  kinds = n
  WIN = 4096; CHUNK = 16384  # bytes: a window, and the pieces a long line is cut into
}
function upto(i) { while (at < i) { flush(); file = queued[++at] } }  # files before i are done
substr($0, 1, 5) == "scan\t" { queued[++queue] = substr($0, 6); next }  # in the order grep reads them
/^[0-9]+:/ { upto(queue) }  # grep on one file's stream: the newest queued file
/^\.?\// {  # grep -H over a batch of queued files: FILE:LINE:text
  for (i = at > 0 ? at : 1; i <= queue; i++) {
    p = queued[i] ":"
    if (substr($0, 1, length(p)) == p && substr($0, length(p) + 1) ~ /^[0-9]+:/) break
  }
  if (i <= queue) { upto(i); $0 = substr($0, length(p) + 1) }
}
!/^[0-9]+:/ { print; next }  # the shell loop's other rows pass through
# A line is scanned through windows of WIN bytes (of CHUNK-byte pieces of it): the work per hit is
# bounded, not the length of the rest of the line (copying and lowercasing it per hit was quadratic).
# A window's answer is used only where the rest of the line cannot change it; else the window grows.
function win(s0, len,   c, off, s) {  # substr(src, s0, len); busybox's substr reads the whole string
  if (len >= CHUNK || nc <= 1) return substr(src, s0, len)
  c = int((s0 - 1) / CHUNK) + 1; off = s0 - (c - 1) * CHUNK
  s = substr(chunk[c], off, len)
  if (length(s) < len && c < nc) s = s substr(chunk[c + 1], 1, len - length(s))
  return s
}
function chunks(   j) {
  src = line; srclen = length(src); nc = 0
  if (srclen > CHUNK) for (j = 1; j <= srclen; j += CHUNK) chunk[++nc] = substr(src, j, CHUNK)
}
# Where key i matches first in R (a window, lower case unless exact): 1 with KO, KL; 0 when it does not;
# -d when no match starts before R's d+1st byte. param and url find their fixed part first, then
# the name's run before it: the patterns' leading [...]* costs mawk a rescan of the run per byte.
function keyin(i, R,   a, q, r, P, j, m) {
  if (how[i] == "curl") {  # from the first `curl `: a later one has no other -u after it
    if (!match(R, /curl[ \t]/)) return 0
    a = RSTART; m = split(substr(R, a + 5), part, ":"); r = a + 4; q = 0
    for (j = 1; j < m; j++) { r += length(part[j]) + 1; if (part[j] ~ tail[i]) q = r }  # the last -u NAME:
    if (!q) return 0
    KO = a; KL = q - a + 1; return 1
  }
  if (how[i] == "param") {
    if (!match(R, /(password|passwd|pwd|pass)=/)) return 0
    q = RSTART + RLENGTH; P = substr(R, 1, RSTART - 1)
    KO = match(P, /[^a-z0-9_.-][a-z0-9_.-]*$/) ? RSTART + 1 : 1; KL = q - KO; return 1
  }
  if (how[i] == "url") {
    if (!match(R, /:\/\/[^ \t\/@:"']+:/)) return 0
    a = RSTART; q = RSTART + RLENGTH; P = substr(R, 1, a - 1)
    r = match(P, /[^a-z0-9+.-][a-z0-9+.-]*$/) ? RSTART + 1 : 1
    if (!match(substr(P, r), /[a-z]/)) return -(a + 2)  # no scheme: no key uses this ://
    KO = r + RSTART - 1; KL = q - KO; return 1
  }
  if (how[i] == "login") {
    if (!(a = index(R, "failed login"))) return 0
    if (!(q = index(substr(R, a + 12), "'"))) return 0
    q += a + 11
    if (q - 5 >= a + 12 && substr(R, q - 5, 5) == " for ") { KO = a; KL = q - a + 1; return 1 }
    return -q  # every `failed login` before this quote ends here without ` for `
  }
  if (!match(R, key[i])) return 0
  KO = RSTART; KL = RLENGTH; return 1
}
function findkey(i, p,   sp, b, R, r, whole) {  # sets KS, KL: key i's first match at or after p
  sp = p; b = WIN
  while (sp <= srclen) {
    whole = how[i] == "curl" || srclen - sp + 1 <= b
    R = whole ? substr(src, sp) : win(sp, b)
    r = keyin(i, exact[i] ? R : tolower(R))
    if (r > 0 && (whole || KO + KL - 1 <= length(R) - margin[i])) { KS = sp + KO - 1; return 1 }
    if (r < 0) { sp -= r; b = WIN; continue }
    if (whole) return 0
    b *= 2
  }
  return 0
}
# The length of value i at vs: what match(substr(src, vs), "^" val[i]) gives, minus trim[i].
# Whether s ends inside an escape: an odd run of backslashes (or one as long as the 64 bytes looked at).
function cutescape(s,   t) {
  t = substr(s, length(s) - 63)
  return match(t, /\\+$/) && (RLENGTH == length(t) || RLENGTH % 2)
}
function findval(i, vs,   b, V, whole, m, cut) {
  b = WIN
  for (;;) {
    whole = srclen - vs + 1 <= b
    V = whole ? substr(src, vs) : win(vs, b)
    cut = !whole && cutescape(V)  # before the match below: the result is read from RLENGTH
    m = match(V, "^" val[i]); if (m) m = RLENGTH
    if (whole) break
    # A value that ends 2 bytes before the window's end (an escape is 2) is whole, but for a URL's
    # userinfo (the last @ before a blank or /) and a quoted parameter: their end must be in it.
    # A window that ends inside an escape can stop a quoted string (whose end may be the
    # window's) before it, and the word with it.
    if (!cut && m <= length(V) - 2 && (how[i] != "url" || V ~ /[ \t\/"']/) && \
        (how[i] != "param" || V !~ /^["']/ || V ~ /^("(\\.|[^"\\])*"|'[^']*')/)) break
    b *= 2
  }
  return m ? RLENGTH - trim[i] : 0
}
function joined(a, m,   w, j) {  # a[1] a[2] ... a[m] in O(length log m), not O(length * m)
  for (w = 1; w < m; w *= 2) for (j = 1; j + w <= m; j += 2 * w) a[j] = a[j] a[j + w]
  return a[1]
}
{
  c = index($0, ":"); lineno = substr($0, 1, c - 1); line = substr($0, c + 1)
  found = 0; first = 0; kl = ""; split("", seen)
  chunks()
  for (i = 1; i <= kinds; i++) {
    if (need[i] != "" && tolower(line) !~ need[i]) continue
    p = 1; cp = 1; np = 0; shift = 0
    while (p <= srclen && findkey(i, p)) {
      ks = KS; vs = ks + KL
      vl = findval(i, vs)
      k = win(ks, vs - ks); v = win(vs, vl)
      ok = accept(i, k, v)
      if (ok) {
        found = 1; if (!first) first = ks - shift  # where the line, masked so far, has it
        if (!(kind[i] in seen)) { seen[kind[i]] = 1; kl = kl (kl == "" ? "" : ",") kind[i] }
      }
      if (vl > 0 && (ok || !only[i])) {
        piece[++np] = win(cp, vs - cp); piece[++np] = "***"; cp = vs + vl; shift += vl - 3
      }
      p = vs + vl
    }
    if (np) { piece[++np] = win(cp, srclen - cp + 1); line = joined(piece, np); chunks() }
  }
  if (!found) next
  total++
  for (t in seen) counts[t]++
  if (printed < left) {
    start = first > 60 ? first - 60 : 1
    ex = substr(line, start, 200); gsub(/[[:cntrl:]]/, "?", ex); ex = mask_credentials(ex, "***", 1)
    printf "find\t%s\t%s\t%s\t%s%s\n", file, lineno, kl, (start > 1 ? "…" : ""), ex
    printed++
  }
}
function flush(   t, sep) {  # the previous file's totals
  if (total) { printf "hits\t%s\t%d\t", file, total; sep = ""
    for (t in counts) { printf "%s%s=%d", sep, t, counts[t]; sep = "," }
    printf "\n" }
  total = 0; split("", counts)
}
END { flush() }
""")


def _names(patterns: Iterable[str]) -> str:
    return " ".join(f"! -name {quote(p)}" for p in patterns)


def _script(params: Params) -> str:
    paths = path_args(params["paths"])
    max_bytes = int(params["max_file_mb"]) * 1024 * 1024
    names = _names(BINARY_NAMES)
    # Homes the scanner cannot search hide their histories: reported, never skipped quietly.
    histories = "\n".join([
        "awk -F: '!seen[$6]++ {print $6}' /etc/passwd 2>/dev/null | while IFS= read -r h; do",
        '  case $h in /|/nonexistent) continue ;; /*) ;; *) continue ;; esac',
        '  [ -d "$h" ] || continue',
        "  if [ ! -x \"$h\" ]; then",
        "    printf 'unreadable_dir\\t%s\\thome directory not searchable\\n' \"$h\"; continue",
        "  fi",
        f"  for n in {' '.join(HISTORIES)}; do [ -f \"$h/$n\" ] && printf '%s\\n' \"$h/$n\"; done",
        "done",
    ]) if params["histories"] else ":"
    return "\n".join([
        "export LC_ALL=C",
        "TAB='\t'",  # a literal tab: no process for it
        f"SCAN={quote(MASK_AWK + SCAN_AWK)}",
        f"PRE={quote(PREFILTER)}",
        f"MAXB={max_bytes}",
        CLOCK_SH,
        f"clock; deadline=$((now + {int(params['time_limit'])}))",
        effective_uid(),
        "printf 'uid\\t%s\\n' \"$uid\"",
        f"for p in {paths}; do [ -e \"$p\" ] || printf 'missing\\t%s\\n' \"$p\"; done",
        # Portable to busybox find (no -printf, no -readable): directories and files up to
        # BATCH_BYTES come back by their (absolute or ./) path, the loop tests which is which
        # and whether a directory can be read; larger files as `one\tPATH`, files over MAXB
        # bytes as `big\tPATH`; rows of other tags pass through.
        "list() {",
        # (no parentheses: busybox find never runs an `-exec … {} +` batch inside them)
        f"  find {paths} -xdev -type d -print -o -type f {names} ! -size +{BATCH_BYTES}c -print"
        f" -o -type f {names} ! -size +{max_bytes}c -exec printf 'one\\t%s\\n' {{}} +"
        f" -o -type f {names} -exec printf 'big\\t%s\\n' {{}} + 2>/dev/null",
        histories,
        "}",
        "files=0; compressed=0; cut=0; late=0; over=",
        # Small plain files are read BATCH_FILES at a time by one grep (-H names each line's file).
        "batch() {",
        "  [ -n \"$over\" ] || { clock; [ \"$now\" -lt \"$deadline\" ]; } || over=1",
        "  if [ -n \"$over\" ]; then late=$((late + $#)); return; fi",
        "  printf 'scan\\t%s\\n' \"$@\"",
        "  grep -a -n -H -i -E \"$PRE\" -- \"$@\"; rc=$?; files=$((files + $#))",
        "  [ $rc -gt 1 ] || return 0",  # 1: no line matched
        "  bad=; for g in \"$@\"; do [ -r \"$g\" ] && continue",
        "    bad=1; files=$((files - 1)); printf 'unreadable\\t%s\\tgone or unreadable\\n' \"$g\"; done",
        "  [ -n \"$bad\" ] || printf 'unreadable\\t%s\\tgrep exited %s on it and %s other file(s)\\n' "
        "\"$1\" \"$rc\" \"$(($# - 1))\"",
        "}",
        # The loop and the totals share one subshell, so the counters survive the loop; one
        # awk reads what every file's grep printed (cheap: one grep per plain file).
        "list | sort -u | {",
        "exec 3>&1",
        "set --",
        "while IFS= read -r f; do",
        "  big= one=",
        "  case $f in",
        "    big\"$TAB\"*) f=${f#big\"$TAB\"} big=1 ;;",
        "    one\"$TAB\"*) f=${f#one\"$TAB\"} one=1 ;;",
        "    /*|./*) if [ -d \"$f\" ]; then",
        "        [ -r \"$f\" ] && [ -x \"$f\" ] ||",
        "          printf 'unreadable_dir\\t%s\\tdirectory not readable\\n' \"$f\"",
        "        continue",
        "      fi ;;",
        "    *) printf '%s\\n' \"$f\"; continue ;;",
        "  esac",
        "  case $f in",
        "    *.gz) r='gzip -cd' t=gzip ;; *.xz) r='xz -cd' t=xz ;; *.bz2) r='bzip2 -cd' t=bzip2 ;;",
        "    *.zst) r='zstd -cdq' t=zstd ;; *) r= t=cat ;;",
        "  esac",
        "  if [ ! -r \"$f\" ]; then printf 'unreadable\\t%s\\tpermission denied\\n' \"$f\"; continue; fi",
        "  if [ -z \"$r$big$one\" ]; then",
        f"    set -- \"$@\" \"$f\"; [ $# -lt {BATCH_FILES} ] || {{ batch \"$@\"; set --; }}; continue",
        "  fi",
        # Files are scanned in the listing's (sorted) order: the batch so far goes first.
        "  [ $# -eq 0 ] || { batch \"$@\"; set --; }",
        # The clock (no process: /proc/uptime) is read before each batch and each file read on its own.
        "  [ -n \"$over\" ] || { clock; [ \"$now\" -lt \"$deadline\" ]; } || over=1",
        "  if [ -n \"$over\" ]; then late=$((late + 1)); continue; fi",
        "  if [ -n \"$r\" ] && ! command -v $t >/dev/null 2>&1; then",
        "    printf 'unreadable\\t%s\\tno %s\\n' \"$f\" \"$t\"; continue",
        "  fi",
        "  printf 'scan\\t%s\\n' \"$f\"",
        # The reader's exit code comes back through fd 4: 141 (SIGPIPE) means head cut the
        # file at MAXB; anything else but 0 means it could not be read to the end.
        "  rc=$( { { ${r:-cat} \"$f\" 2>/dev/null; echo $? >&4; } | head -c \"$MAXB\" "
        "| grep -a -n -i -E \"$PRE\" >&3; } 4>&1 )",
        "  [ $t = cat ] || compressed=$((compressed + 1))",
        "  files=$((files + 1))",
        "  case $rc in 0) ;; 141) cut=$((cut + 1)); printf 'cut\\t%s\\n' \"$f\" ;;",
        "    *) printf 'unreadable\\t%s\\t%s exited %s\\n' \"$f\" \"$t\" \"$rc\"",
        "       files=$((files - 1)); [ $t = cat ] || compressed=$((compressed - 1)) ;;",
        "  esac",
        "done",
        "[ $# -eq 0 ] || batch \"$@\"",
        "printf 'files\\t%s\\t%s\\t%s\\t%s\\n' \"$files\" \"$compressed\" \"$cut\" \"$late\"",
        f"}} | awk -v left={int(params['max_findings'])} \"$SCAN\"",
        "exit 0",
    ])


CHECK = Check(
    id="passwords_not_logged",
    trend_values=("findings",),
    title="No passwords in logs or shell histories",
    claims=("passwords-not-logged",),
    controls=("ISO27001:2022 A.8.15", "ISO27001:2022 A.5.17", "ISO27001:2022 A.8.11",
              "ISO27001:2022 A.8.12"),
    params=(
        Param("paths", list, ["/var/log"], "files or directories scanned recursively (rotated .gz too)",
              path=True),
        Param("histories", bool, True, "also scan shell and client histories in every home directory"),
        Param("max_findings", int, 50, "findings reported with file:line and a masked excerpt",
              minimum=1),
        Param("max_file_mb", int, 256, "MiB scanned at most per file (decompressed)", minimum=1),
        Param("time_limit", int, 300, "seconds after which no further file is started", minimum=1),
    ),
    probes=(shell("scan", _script, root=True),),
)


class Found(NamedTuple):
    place: str  # file:line
    kinds: str  # the pattern kinds' labels
    excerpt: str  # masked on the host


class Totals(NamedTuple):
    files: int
    compressed: int
    cut: int
    late: int  # files not reached within time_limit


@dataclass
class Scan:
    """What the scan probe printed."""

    uid: int | None = None
    found: list[Found] = field(default_factory=list)  # at most max_findings
    per_file: dict[str, int] = field(default_factory=dict)  # lines with a password, by file
    by_kind: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # "path (why)"
    unreadable_dirs: list[str] = field(default_factory=list)  # "path (why)"
    cut: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    totals: Totals | None = None  # None: the scan did not finish


SCAN_ARITY: dict[str, Arity] = {"find": (4, None), "hits": 3, "unreadable": (2, None),
                                "unreadable_dir": (2, None), "cut": 1, "missing": 1, "uid": 1, "files": 4}


def read_scan(text: str) -> Scan:
    scan = Scan()
    for row in rows(text, "scan", SCAN_ARITY):
        f = row.fields
        try:
            if row.tag == "find":
                labels = ", ".join(KINDS.get(k, k) for k in f[2].split(","))
                scan.found.append(Found(f"{f[0]}:{int(f[1])}", labels, f[3]))
            elif row.tag == "hits":
                scan.per_file[f[0]] = int(f[1])
                for item in f[2].split(","):
                    name, _, n = item.partition("=")
                    label = KINDS.get(name, name)
                    scan.by_kind[label] = scan.by_kind.get(label, 0) + int(n)
            elif row.tag in ("unreadable", "unreadable_dir"):
                unread = scan.unreadable if row.tag == "unreadable" else scan.unreadable_dirs
                unread.append(f"{f[0]} ({f[1]})")
            elif row.tag in ("cut", "missing"):
                (scan.cut if row.tag == "cut" else scan.missing).append(f[0])
            elif row.tag == "uid":
                scan.uid = int(f[0])
            else:
                scan.totals = Totals(*(int(n) for n in f))
        except ValueError:
            raise unexpected("scan", "\t".join((row.tag, *f))) from None
    return scan


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["scan"]
    try:
        scan = read_scan(out.require("scan").stdout)
    except UnexpectedLine as exc:
        return result(Status.ERROR, str(exc), evidence=evidence)
    if scan.totals is None:
        return result(Status.ERROR, "the scan did not finish (no totals line; cut short?)", evidence=evidence)
    files, compressed, cut_count, late = scan.totals
    total = sum(scan.per_file.values())
    findings = Findings()
    for path, n in sorted(scan.per_file.items()):
        findings.fail(f"{path}: {n} line(s) with a password")
    for found in scan.found:
        findings.fail(f"{found.place} ({found.kinds}): {found.excerpt}")
    if total > len(scan.found):
        findings.note(f"… {total - len(scan.found)} more line(s) not listed "
                      f"(max_findings={params['max_findings']})")

    # What could not be scanned may hold a password: the check cannot tell.
    privilege = (f" (scanned as uid {scan.uid}, not root: give the host become)"
                 if scan.uid and (scan.unreadable or scan.unreadable_dirs) else "")
    gaps = []
    if scan.missing:
        gaps.append(f"{len(scan.missing)} configured path(s) do not exist: " + ", ".join(scan.missing[:3]))
    if scan.unreadable or late:
        unscanned = scan.unreadable + ([f"{late} not reached within the time limit"] if late else [])
        gaps.append(f"{len(scan.unreadable) + late} file(s) could not be scanned: "
                    + ", ".join(unscanned[:3]))
    if scan.unreadable_dirs:
        gaps.append(f"{len(scan.unreadable_dirs)} director(ies) could not be read: "
                    + ", ".join(scan.unreadable_dirs[:3]))
    for n, gap in enumerate(gaps, 1):
        findings.unknown(gap + (privilege if n == len(gaps) else ""))  # the permissions explain them all
    for line in ([f"path does not exist: {m}" for m in scan.missing]
                 + [f"could not read {u}" for u in scan.unreadable]
                 + [f"could not read directory {d}: nothing under it was scanned"
                    for d in scan.unreadable_dirs]
                 + ([f"{late} file(s) not scanned: the time limit of {params['time_limit']} s was reached"]
                    if late else [])
                 + [f"only the first {params['max_file_mb']} MiB scanned of {c}" for c in scan.cut]):
        findings.note(line)

    values: dict[str, Any] = {
        "files_scanned": files, "compressed_files": compressed, "findings": total,
        "files_with_findings": len(scan.per_file), "unreadable_files": len(scan.unreadable),
        "unreadable_directories": len(scan.unreadable_dirs), "missing_paths": len(scan.missing),
        "files_not_reached": late, "findings_by_kind": dict(sorted(scan.by_kind.items())),
        **({"uid": scan.uid} if scan.uid is not None else {})}
    scanned = f"scanned {files} file(s) ({compressed} compressed)"
    if findings.failures:  # the places, comma-separated, and "…" when the scan found more than three
        where = ", ".join(f"{f.place} ({f.kinds})" for f in scan.found[:3]) + (" …" if total > 3 else "")
        return result(Status.FAIL, f"{total} password(s) in logs: {where}", findings.details(), evidence,
                      **values)
    if not files and findings.status() is Status.PASS:
        return result(Status.SKIP, "no log file or shell history found to scan", findings.details(), evidence,
                      **values)
    partial = (f"; {cut_count} file(s) scanned only in their first {params['max_file_mb']} MiB"
               if cut_count else "")
    return findings.result(evidence=evidence, ok_summary=f"{scanned}, no password found{partial}",
                           error_prefix=f"{scanned}, no password found, but ", **values)
