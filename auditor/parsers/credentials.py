"""Deny by default: every value in a line that could be a credential, masked.

One set of rules, written twice from the same constants: `MASK_AWK` (an awk function,
`mask_credentials(s, mask)`, for probes that send log or job lines off the host) and
`mask_credentials` (the same rules here, for the local safety net and for parameters the
run records). What counts as a credential:

- the value of any key, option or header whose name says key, token, secret, password, passphrase,
  passwd, pwd, auth, credential, session, cookie or signature (`SECRET_KEY=v`,
  `"client_secret": "v"`, `X-Api-Key: v`, `Authorization: Bearer v`, `--api-token v`);
  a header's value runs to the closing quote or the end of the line;
- every value after `-p` (`mysqldump -p'two words'`, `sshpass -p v`; a spaced value that
  starts with `/` or `-` is a path or an option, not a password), and the password after
  `user:` in `-u`/`-U`/`--user`/`--proxy-user` (`user%pw`, `user,pw` too);
- a URL's password (`scheme://user:pw@`, up to the last `@` before the next `/` or blank);
- the name login(1) logs for a failed login (`FAILED LOGIN (1) on '/dev/tty1' FOR 'NAME'`:
  often a password typed at the user prompt);
- a long high-entropy token: 32 or more of `[A-Za-z0-9+/=_-]` with upper case, lower case
  and a digit; a name and `=` before a path are judged apart from it (base64 holds `=` only at
  its end), so that `ExecStart=-/usr/lib/polkit-1/polkitd` is a unit's command, not a token.

Values masked already (`***`, `[REDACTED]`, `<redacted>`, `xxx`, a shell variable) are left, and so
are switches that hold no secret (`yes`, `no`, `true`, `false`, `on`, `off`).
Every rule scans the line once, left to right: linear in the input.

`strict=False` is the local pass over all evidence, whose configuration dumps and JSON the
checks judge: it masks assignments (`name=v`), JSON string values and HTTP-header-shaped
names (`X-Api-Key:`, `PRIVATE-TOKEN:`, `Authorization:`, `Cookie:`), `-p` only before a
quote, and leaves out the bare name `key` (nftables' `"key": "l4proto"`, auditctl's
`key=`), other `name: value` lines, numbers after a JSON name (`"key_bits": 2048`), and
high-entropy tokens (host key fingerprints).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

WORDS = ("key", "token", "secret", "passw", "passphrase", "pwd", "auth", "credential", "session", "cookie",
         "signature")
NAME_CHARS = "A-Za-z0-9_.-"
TOKEN_CHARS = "A-Za-z0-9+/=_-"
MIN_TOKEN = 32
USER_OPTIONS = ("-u", "-U", "--user", "--proxy-user")
# A shell word: escaped characters, quoted strings (an unterminated quote runs to the end of
# the line, as in the shell) and plain characters up to a blank.
SHELL_WORD = "(\\\\.|\"(\\\\.|[^\"\\\\])*(\"|$)|'[^']*('|$)|[^ \t\\\\\"'])+"
# Masked already, a shell expansion (the value is not in the text), or a switch that holds no
# secret (sshd's `-o PasswordAuthentication=yes`): ***, [REDACTED], $VAR, $(...), yes, no, ...
_ALREADY_MASKED = re.compile(r"(\*+|\[redacted\]|<redacted>|xxx+|\$\{?[a-z_][a-z0-9_]*\}?|\$\(.*"
                             r"|yes|no|true|false|on|off|)", re.IGNORECASE)
_SWITCH = re.compile("yes|no|true|false|on|off", re.IGNORECASE)
_WORD = re.compile("|".join(WORDS), re.IGNORECASE)
_SEPARATOR = re.compile(r"(\\?[\"'])?[ \t]*([:=])[ \t]*")
# A whole name (possessive, and not begun inside another) right before a separator: one search finds
# the next name that could be assigned, instead of a search and a match for every word of the line.
_NAME_BEFORE_SEPARATOR = re.compile(f"(?<![{NAME_CHARS}])[{NAME_CHARS}]++(?={_SEPARATOR.pattern})")
# Patterns shared with awk: no backslash inside a bracket but the one for a backslash, blanks as
# a real tab, so that every awk (busybox's too) reads them as Python does.
_QUOTED = re.compile("\"(\\\\.|[^\"\\\\])*(\"|$)|'[^']*('|$)")
_BARE = re.compile("(\\\\.|[^ \t&\"'\\\\])+")
_BARE_LOCAL = re.compile("(\\\\.|[^ \t&,;\"'\\\\])+")
_JSON_BARE = re.compile("[^] \t,}\"'{[][^] \t,}\"']*")
_TO_QUOTE = re.compile("[^\"']+")
# An option starts a word: the `-` comes first so that the engine skips to the next `-` at C speed,
# and the look-behind then says no other character than a blank is right before it.
_OPTION = re.compile(r"-(?<![^ \t]-)-?[A-Za-z0-9_-]+")
_SHELL_WORD = re.compile(SHELL_WORD)
URL_ERE = "[a-zA-Z][a-zA-Z0-9+.-]*://[^ \t/@:\"']+:"
# A scheme starts where a run of scheme characters starts, and the run is never re-scanned.
_URL = re.compile(r"(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*+://[^ \t/@:\"']++:")
_USERINFO = re.compile(r"[^ \t/\"']*@")
FAILED_LOGIN_ERE = "failed login( \\([0-9]+\\))? on '[^']*'( from '[^']*')? for '"
_FAILED_LOGIN = re.compile(FAILED_LOGIN_ERE, re.IGNORECASE)
_LOGIN_NAME = re.compile(r"[^']+")
_USER_NAME = re.compile("[A-Za-z0-9._@-]+")
_USER_VALUE = {"'": re.compile("[^']*"), '"': re.compile('[^"]*'), "": re.compile("[^ \t\"']*")}
_TOKEN = re.compile(f"[{TOKEN_CHARS}]+")
# Where a token's value is a path: after `=` and systemd's Exec prefixes that are token characters
# (`-`, `+`; `@ : !` end a token already). Base64 holds `=` only as padding at its end.
PATH_VALUE_ERE = "=[-+]*/"
_PATH_VALUE = re.compile(r"=(?=[-+]*/)")
_HEADER = re.compile(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)+|authorization|cookie", re.IGNORECASE)
# What a line holds wherever a rule but the token rule can match in it: a credential word (names,
# `--api-token`), `-p`/`-u` options (`--user` and `--proxy-user` hold `-u`), a URL, a failed login.
# Most evidence lines hold none. Searched without IGNORECASE in the text `folded`: the regex engine
# scans that several times faster.
HINT = re.compile("|".join(WORDS) + r"|-[pu]|://|failed login")
# Under IGNORECASE Python's re matches an ASCII letter to its other case and to four letters beyond
# ASCII (its documentation says which): İ and ı to i, ſ to s, K (the Kelvin sign) to k.
_ASCII_FOLDS = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def folded(text: str) -> str:
    """`text` in lower case, one character for one, where each of the four letters beyond ASCII that
    IGNORECASE takes for an ASCII letter is that letter and every other one beyond ASCII is `?`: a
    pattern of ASCII characters (no `?`) matches it at the places where it matches `text` ignoring case."""
    if text.isascii():
        return text.lower()
    return text.translate(_ASCII_FOLDS).encode("ascii", "replace").decode("ascii").lower()


def is_credential_name(name: str, strict: bool = True) -> bool:
    return bool(_WORD.search(name)) and (strict or name.lower() != "key")


def _masked(value: str) -> bool:
    bare = value[1:-1] if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'" else value
    # a switch closing a parenthesis or a sentence ("(-o PasswordAuthentication=yes)") is still one
    return bool(_ALREADY_MASKED.fullmatch(bare) or _SWITCH.fullmatch(bare.rstrip(")].,;")))


def _high_entropy(token: str) -> bool:
    return (len(token) >= MIN_TOKEN and any(c.isupper() for c in token) and any(c.islower() for c in token)
            and any(c.isdigit() for c in token))


class _Line:
    """A line being masked. A rule marks spans left to right in one pass over the text; `commit`
    then joins the pieces once (replacing spans one by one would copy the line per mask)."""

    def __init__(self, text: str, mask: str) -> None:
        self.text, self.mask, self.count = text, mask, 0
        self._spans: list[tuple[int, int]] = []

    def replace(self, start: int, end: int) -> int:
        """Marks text[start:end] for masking unless empty or masked already; the position after it."""
        if end > start and not _masked(self.text[start:end]):
            self._spans.append((start, end))
        return max(end, start)

    def commit(self) -> None:
        if not self._spans:
            return
        pieces, at = [], 0
        for start, end in self._spans:
            pieces += [self.text[at:start], self.mask]
            at = end
        self.text = "".join([*pieces, self.text[at:]])
        self.count += len(self._spans)
        self._spans = []


def _span(pattern: re.Pattern[str], text: str, at: int) -> int:
    found = pattern.match(text, at)
    return found.end() if found else at


def _assignments(line: _Line, strict: bool) -> None:
    at = 0  # only ever where no name goes on (after a name, a separator or a value): each name is whole
    while (name := _NAME_BEFORE_SEPARATOR.search(line.text, at)) is not None:
        at = name.end()
        sep = _SEPARATOR.match(line.text, at)
        if sep is None or not is_credential_name(name.group(), strict):
            continue
        if line.text.startswith("//", sep.end()) or line.text[name.start() - 1:name.start()] == "/":
            continue  # a URL's scheme, or a file's name (/etc/pam.d/common-password:...)
        text, start = line.text, sep.end()
        quoted_name = name.start() > 0 and text[name.start() - 1] in "\"'" and sep.group(1) is not None
        if start < len(text) and text[start] in "\"'":
            end = _span(_QUOTED, text, start)
            if end - start > 1 and text[end - 1] == text[start]:  # keep the quotes: JSON stays JSON
                start, end = start + 1, end - 1
            elif not strict:  # an unterminated quote: in a script, the end of a string, not a value
                continue
        elif not strict and (quoted_name or (sep.group(2) == ":" and not (
                _HEADER.fullmatch(name.group()) and sep.group().endswith((" ", "\t"))))):
            continue
        elif quoted_name:
            end = _span(_JSON_BARE, text, start)
        elif sep.group(2) == ":":
            end = _span(_TO_QUOTE, text, start)
            while end > start and text[end - 1] in " \t":
                end -= 1
            if not strict and text[start:end].isdigit():  # a TTL or a size, not a credential
                continue
        else:
            end = _span(_BARE if strict else _BARE_LOCAL, text, start)
        at = line.replace(start, end)


def _options(line: _Line, strict: bool) -> None:
    at = 0
    while (option := _OPTION.search(line.text, at)) is not None:
        text, at = line.text, option.end()
        flag = option.group()
        if flag.startswith("-p") and not flag.startswith("--"):
            start = option.start() + 2
            if not strict and not text.startswith(("'", '"'), start):
                continue
            if start == len(text) or text[start] in " \t":
                while start < len(text) and text[start] in " \t":
                    start += 1
                if start == len(text) or text[start] in "-/":
                    continue
            at = line.replace(start, _span(_SHELL_WORD, text, start))
        elif flag in USER_OPTIONS or (flag[:2] in ("-u", "-U") and not flag.startswith("--")):
            start = option.start() + (2 if flag not in USER_OPTIONS else len(flag))
            while start < len(text) and text[start] in " \t=":
                start += 1
            quote = text[start] if start < len(text) and text[start] in "\"'" else ""
            stop = _USER_VALUE[quote].match(text, start + len(quote))
            value = stop.group() if stop else ""
            cut = min((i for i in (value.find(":"), value.find("%"), value.find(",")) if i >= 0), default=-1)
            if cut > 0 and _USER_NAME.fullmatch(value[:cut]):  # `date -u +%H:%M` has no user
                first = start + len(quote) + cut + 1
                at = line.replace(first, start + len(quote) + len(value))
        elif flag.startswith("--") and is_credential_name(flag[2:], strict) or (
                is_credential_name(flag[1:], strict) and not flag.startswith("--") and len(flag) > 2):
            start = at
            if start < len(text) and text[start] == "=":
                start += 1
            else:
                while start < len(text) and text[start] in " \t":
                    start += 1
                if start == at or (start < len(text) and text[start] == "-"):
                    continue
            at = line.replace(start, _span(_SHELL_WORD, text, start))


def _after(line: _Line, head: re.Pattern[str], value: re.Pattern[str], trim: int = 0) -> None:
    at = 0
    while (found := head.search(line.text, at)) is not None:
        end = _span(value, line.text, found.end())
        at = line.replace(found.end(), end - trim) if end - trim > found.end() else found.end()


def _tokens(line: _Line) -> None:
    at = 0
    while (token := _TOKEN.search(line.text, at)) is not None:
        # A name and `=` before a path are judged apart from the path: `ExecStart=-/tmp/pytest-3/x`
        # is a unit's command, whose name's capitals made a lower-case path with digits "entropic".
        start = token.start()
        for end in [*(cut.end() for cut in _PATH_VALUE.finditer(line.text, start, token.end())), token.end()]:
            if _high_entropy(line.text[start:end]):
                line.replace(start, end)
            start = end
        at = token.end()


def _rules(strict: bool) -> list[tuple[Callable[[str], bool], Callable[[_Line], None]]]:
    """The rules in their order, each after a test that a line holds what it cannot match without
    (a substring test skips it on most lines)."""
    rules: list[tuple[Callable[[str], bool], Callable[[_Line], None]]] = [
        (lambda text: "://" in text, lambda line: _after(line, _URL, _USERINFO, trim=1)),
        (lambda text: ":" in text or "=" in text, lambda line: _assignments(line, strict)),  # name, `:`/`=`
        (lambda text: "-" in text, lambda line: _options(line, strict)),
        (lambda text: "'" in text, lambda line: _after(line, _FAILED_LOGIN, _LOGIN_NAME)),  # FOR 'NAME'
    ]
    return [*rules, (lambda text: True, _tokens)] if strict else rules


def mask_credentials(text: str, mask: str = "***", strict: bool = True) -> tuple[str, int]:
    """`text` with every value that could be a credential replaced by `mask`, and how many."""
    if strict:
        lines = text.split("\n")
        return _masked_lines(lines, range(len(lines)), mask, strict)
    return mask_folded(text, folded(text), mask)[:2]


def mask_folded(text: str, folded_text: str, mask: str) -> tuple[str, int, bool]:
    """The local pass (`strict=False`) over `text`, given `folded(text)` (for a caller that scans it
    too): the text, how many were masked, and whether a line held a HINT (none: no word of it is in
    the text)."""
    hinted = _hinted(text, folded_text)
    if hinted is None:  # no line holds a hint: the text is not even split
        return text, 0, False
    return *_masked_lines(*hinted, mask, strict=False), True


def _masked_lines(lines: list[str], indexes: Iterable[int], mask: str, strict: bool) -> tuple[str, int]:
    rules = _rules(strict)
    total = 0
    for index in indexes:
        line = _Line(lines[index], mask)
        for may_match, rule in rules:
            if may_match(line.text):
                rule(line)
                line.commit()
        lines[index] = line.text
        total += line.count
    return "\n".join(lines), total


def _hinted(text: str, subject: str) -> tuple[list[str], list[int]] | None:
    """`text` split at newlines and the indexes of the lines that hold a hint (one scan of
    `subject`, the text folded), or None when none does."""
    match = HINT.search(subject)
    if match is None:
        return None
    found: list[int] = []
    index = at = 0
    while match is not None:
        index += subject.count("\n", at, match.start())
        found.append(index)
        at = subject.find("\n", match.end())  # the end of the line: a line is looked at once
        match = HINT.search(subject, at + 1) if at >= 0 else None
    return text.split("\n"), found


def _awk_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The same rules as awk functions for probes: `line = mask_credentials(line, "***", 1)`.
# Globals start with mc_, so that they cannot clash with the probe's own names.
MASK_AWK = r"""
function mc_masked(v,   u, q, s) {
  u = v; q = substr(u, 1, 1)
  if (length(u) > 1 && (q == "\"" || q == "'") && substr(u, length(u), 1) == q)
    u = substr(u, 2, length(u) - 2)
  s = tolower(u); sub(/[]).,;]+$/, "", s)
  if (s ~ /^(yes|no|true|false|on|off)$/) return 1  # a switch holds no secret
  return tolower(u) ~ /^(\*+|\[redacted\]|<redacted>|xxx+|\$\{?[a-z_][a-z0-9_]*\}?|\$\(.*)?$/
}
function mc_put(start, end) {
  if (end <= start) return start
  if (mc_masked(substr(mc_s, start, end - start))) return end
  mc_s = substr(mc_s, 1, start - 1) mc_mask substr(mc_s, end); mc_n++
  return start + length(mc_mask)
}
function mc_span(re, at) { return match(substr(mc_s, at), "^(" re ")") ? at + RLENGTH : at }
function mc_name(n) { n = tolower(n); return n ~ @WORDS@ && (mc_strict || n != "key") }
function mc_blank(at) { return substr(mc_s, at, 1) == " " || substr(mc_s, at, 1) == "\t" }
function mc_assignments(   at, ns, ne, sep, start, end, c, qn) {
  at = 1
  while (match(substr(mc_s, at), /[A-Za-z0-9_.-]+/)) {
    ns = at + RSTART - 1; ne = ns + RLENGTH; at = ne
    if (!match(substr(mc_s, ne), /^(\\?["'])?[ \t]*[:=][ \t]*/)) continue
    sep = substr(mc_s, ne, RLENGTH); start = ne + RLENGTH
    if (!mc_name(substr(mc_s, ns, ne - ns)) || substr(mc_s, start, 2) == "//") continue
    if (ns > 1 && substr(mc_s, ns - 1, 1) == "/") continue
    qn = ns > 1 && index("\"'", substr(mc_s, ns - 1, 1)) > 0 && sep ~ /^\\?["']/
    c = substr(mc_s, start, 1)
    if (c == "\"" || c == "'") {
      end = mc_span(@QUOTED@, start)
      if (end - start > 1 && substr(mc_s, end - 1, 1) == c) { start++; end-- }
      else if (!mc_strict) continue
    } else if (!mc_strict && (qn || (sep ~ /:/ && \
               (tolower(substr(mc_s, ns, ne - ns)) !~ @HEADER@ || sep !~ /[ \t]$/)))) continue
    else if (qn) end = mc_span(@JSON_BARE@, start)
    else if (sep ~ /:/) {
      end = mc_span("[^\"']+", start); while (end > start && mc_blank(end - 1)) end--
      if (!mc_strict && substr(mc_s, start, end - start) ~ /^[0-9]+$/) continue
    }
    else end = mc_span(mc_strict ? @BARE@ : @BARE_LOCAL@, start)
    at = mc_put(start, end)
  }
}
function mc_options(   at, os, flag, start, c, q, v, i, cut, whole) {
  at = 1
  while (match(substr(mc_s, at), /--?[A-Za-z0-9_-]+/)) {
    os = at + RSTART - 1; flag = substr(mc_s, os, RLENGTH); at = os + RLENGTH
    if (os > 1 && !mc_blank(os - 1)) continue
    whole = flag == "-u" || flag == "-U" || flag == "--user" || flag == "--proxy-user"
    if (flag ~ /^-p/) {
      start = os + 2; c = substr(mc_s, start, 1)
      if (!mc_strict && c != "\"" && c != "'") continue
      if (c == "" || c == " " || c == "\t") {
        while (mc_blank(start)) start++
        c = substr(mc_s, start, 1)
        if (c == "" || c == "-" || c == "/") continue
      }
      at = mc_put(start, mc_span(@SHELL_WORD@, start))
    } else if (whole || flag ~ /^-[uU]/) {
      start = os + (whole ? length(flag) : 2)
      while (mc_blank(start) || substr(mc_s, start, 1) == "=") start++
      q = substr(mc_s, start, 1); if (q != "\"" && q != "'") q = ""
      v = substr(mc_s, start + length(q))
      if (q != "") { i = index(v, q); if (i) v = substr(v, 1, i - 1) }
      else { match(v, /^[^ \t"']*/); v = substr(v, 1, RLENGTH) }
      cut = 0
      for (i = 1; i <= length(v) && !cut; i++) if (index(":%,", substr(v, i, 1))) cut = i
      if (cut > 1 && substr(v, 1, cut - 1) ~ /^[A-Za-z0-9._@-]+$/)
        at = mc_put(start + length(q) + cut, start + length(q) + length(v))
    } else if ((flag ~ /^--/ && mc_name(substr(flag, 3))) ||
               (flag !~ /^--/ && length(flag) > 2 && mc_name(substr(flag, 2)))) {
      start = at
      if (substr(mc_s, start, 1) == "=") start++
      else {
        while (mc_blank(start)) start++
        if (start == at || substr(mc_s, start, 1) == "-") continue
      }
      at = mc_put(start, mc_span(@SHELL_WORD@, start))
    }
  }
}
function mc_after(head, value, trim, lower,   at, s0, e) {
  at = 1
  while (match(lower ? tolower(substr(mc_s, at)) : substr(mc_s, at), head)) {
    s0 = at + RSTART - 1 + RLENGTH; e = mc_span(value, s0) - trim
    at = e > s0 ? mc_put(s0, e) : s0
  }
}
function mc_tokens(   at, t, p, piece) {
  at = 1
  while (match(substr(mc_s, at), /[A-Za-z0-9+\/=_-]+/)) {
    t = substr(mc_s, at + RSTART - 1, RLENGTH); at = at + RSTART - 1
    while (t != "") {
      p = match(t, @PATH_VALUE@) ? RSTART : length(t)
      piece = substr(t, 1, p); t = substr(t, p + 1)
      if (length(piece) >= @MIN_TOKEN@ && piece ~ /[A-Z]/ && piece ~ /[a-z]/ && piece ~ /[0-9]/)
        at = mc_put(at, at + p)
      else at = at + p
    }
  }
}
function mask_credentials(s, mask, strict) {
  mc_s = s; mc_mask = mask; mc_strict = strict
  mc_after(@URL@, "[^ \t/\"']*@", 1, 0)
  mc_assignments()
  mc_options()
  mc_after(@FAILED_LOGIN@, "[^']+", 0, 1)
  if (strict) mc_tokens()
  return mc_s
}
"""
for _name, _value in (("WORDS", "|".join(WORDS)), ("QUOTED", _QUOTED.pattern),
                      ("JSON_BARE", _JSON_BARE.pattern), ("BARE", _BARE.pattern),
                      ("BARE_LOCAL", _BARE_LOCAL.pattern),
                      ("HEADER", "^(" + _HEADER.pattern.lower() + ")$"),
                      ("SHELL_WORD", SHELL_WORD), ("URL", URL_ERE), ("FAILED_LOGIN", FAILED_LOGIN_ERE),
                      ("PATH_VALUE", PATH_VALUE_ERE),
                      ("MIN_TOKEN", str(MIN_TOKEN))):
    MASK_AWK = MASK_AWK.replace(f"@{_name}@", _value if _name == "MIN_TOKEN" else _awk_string(_value))
