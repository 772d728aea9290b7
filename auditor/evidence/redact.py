"""The local safety net: masks anything that looks like a secret before it is stored.

Probes reduce secrets on the host already (the shadow probe sends schemes, not hashes);
this pass catches what a probe did not foresee. Each rule keeps enough context to show
*where* a secret was (the key name, the scheme) and replaces the secret itself.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from auditor.check import Check
from auditor.parsers.cards import CARD_MAX_DIGITS, CARD_MIN_DIGITS, UUID_PATTERN, card_scheme, luhn_valid
from auditor.parsers.credentials import HINT, folded, mask_credentials, mask_folded

MASK = "[REDACTED]"

# A card-shaped run: 12-19 digits, together or in groups split by single spaces or dashes, with
# no letter or digit directly before or after (so a hex string or an IBAN is no card).
# The first digit comes before its look-behind (which then spans it) so that the regex engine can
# skip to the next digit at C speed instead of trying the look-behind at every character.
_CARD_CANDIDATE = re.compile(
    rf"[0-9](?<![0-9A-Za-z][0-9])(?:[ -]?[0-9]){{{CARD_MIN_DIGITS - 1},{CARD_MAX_DIGITS - 1}}}"
    r"(?![0-9A-Za-z])")
# Nor is a run within a UUID: its first three groups can make a Luhn-valid number in a card range
# (35771902-7136-4511-...: about 1 UUID in 5,000), and its last group can start one.
_UUID = re.compile(UUID_PATTERN)


def _outside(spans: list[tuple[int, int]], matches: list[re.Match[str]]) -> list[re.Match[str]]:
    """The matches that overlap no span; both lists in text order (one pass over each)."""
    kept, i = [], 0
    for match in matches:
        while i < len(spans) and spans[i][1] <= match.start():
            i += 1
        if i == len(spans) or spans[i][0] >= match.end():
            kept.append(match)
    return kept


def _is_card(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return luhn_valid(digits) and bool(card_scheme(digits))

# Values that are already masked need no second mask and are not secrets.
_ALREADY_MASKED = r"(?!\*{3}|\[REDACTED\]|<redacted>|xxx+\b)"


def _after_command(command: str) -> str:
    """`command` as a word, then the rest of its line up to what the caller matches next.

    The span never runs over a later `command` word on the line: a line of `mysql mysql mysql ...`
    would otherwise make every occurrence rescan the line to its end (quadratic: 25 s for 160 KiB).
    Starting at the last occurrence before the option finds the same option, so nothing changes.
    """
    return rf"\b{command}\b(?:(?!\b{command}\b)[^\n])*?"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys, whole block.
    (re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)",
                re.DOTALL), f"-----BEGIN \\1PRIVATE KEY----- {MASK} -----END \\1PRIVATE KEY-----"),
    # crypt(3) and PHC hashes: keep the scheme, drop salt and hash.
    (re.compile(r"(\$(?:1|2[abxy]?|5|6|7|y|gy|sha1|md5|argon2(?:id|i|d)|scrypt|pbkdf2[-_a-z0-9]*)\$)"
                r"[A-Za-z0-9./+=$,-]{8,}"), f"\\1{MASK}"),
    # Authorization headers.
    (re.compile(r"\b(Bearer|Basic)\s+" + _ALREADY_MASKED + r"[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE),
     f"\\1 {MASK}"),
    # user:password@ in URLs.
    # The scheme starts where a run of scheme characters starts (not at every letter of "a.a.a...").
    (re.compile(r"((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*+://[^\s:/@]+:)" + _ALREADY_MASKED + r"[^\s@/]+@",
                re.IGNORECASE),
     f"\\1{MASK}@"),
    # JSON "password": "value".
    (re.compile(r'("(?:password|passwd|pwd|secret|token|api_?key|access_?key)"\s*:\s*")'
                + _ALREADY_MASKED + r'[^"]+(")', re.IGNORECASE), f"\\1{MASK}\\2"),
    # key=value and key: value assignments.
    # The key must stand alone: "common-password:" is a file name, not an assignment.
    (re.compile(r"(?<![-/.A-Za-z0-9])((?:password|passwd|pwd|secret|token|api_?key|access_?key)\s*[=:]\s*)"
                + _ALREADY_MASKED + r"(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s&,;\"']+)", re.IGNORECASE),
     f"\\1{MASK}"),
    # Passwords on command lines: mysql -pSECRET, sshpass -p SECRET.
    (re.compile("(" + _after_command("mysql(?:dump|admin)?") + r"\s-p)" + _ALREADY_MASKED + r"(\S+)"),
     f"\\1{MASK}"),
    (re.compile(r"(\bsshpass\s+-p\s*)" + _ALREADY_MASKED + r"\S+"), f"\\1{MASK}"),
    # Transfer tools' credentials: curl -u user:pw, lftp -u user,pw, smbclient -U user%pw.
    (re.compile("(" + _after_command("curl") + r"\s(?:-u|--user|--proxy-user|-U)\s*['\"]?[^\s:'\"]+:)"
                + _ALREADY_MASKED + r"(?:'[^'\n]*'|\"[^\"\n]*\"|[^\s'\"]+)"), f"\\1{MASK}"),
    (re.compile("(" + _after_command("lftp") + r"\s-u\s*['\"]?[^\s,'\"]+,)" + _ALREADY_MASKED + r"[^\s'\"]+"),
     f"\\1{MASK}"),
    (re.compile("(" + _after_command("smbclient") + r"\s(?:-U|--user)\s*['\"]?[^\s%'\"]+%)" + _ALREADY_MASKED
                + r"[^\s'\"]+"), f"\\1{MASK}"),
)


_KEY_WORDS = ("passw", "pwd", "secret", "token", "api_key", "apikey", "access_key", "accesskey")
# Per rule, words (lower case) without one of which in the text folded (credentials.folded: what
# IGNORECASE takes for an ASCII letter is that letter) the rule cannot match: most probe output holds
# none, and a substring test costs far less than a regex scan (the pass was ~11 ms a host).
_NEEDLES: tuple[tuple[str, ...], ...] = (
    ("private key",), ("$",), ("bearer", "basic"), ("://",), _KEY_WORDS, _KEY_WORDS,
    ("mysql",), ("sshpass",), ("curl",), ("lftp",), ("smbclient",),
)


# Every rule's words, each tested once per text by a substring search (a C scan): a rule none of
# whose words is in the text is not run, and most outputs and result texts hold none at all.
_ALL_NEEDLES = tuple(dict.fromkeys(needle for needles in _NEEDLES for needle in needles))


# The words that hold no HINT of the credential rules, which a text without one may still hold.
_UNHINTED_NEEDLES = tuple(needle for needle in _ALL_NEEDLES if not HINT.search(needle))


def _words_in(folded_text: str, hinted: bool) -> frozenset[str]:
    """The rules' words that `folded_text` (a text folded) holds; not `hinted`: it holds no HINT."""
    return frozenset(filter(folded_text.__contains__, _ALL_NEEDLES if hinted else _UNHINTED_NEEDLES))


class _CleanTexts:
    """Texts redacted lately in which nothing was masked, up to `budget` bytes of them (the least
    recently seen go first). The hosts of a fleet send the same texts (a configuration dump, the
    empty stderr of a probe, a check's summary): finding one here costs a hash and a compare instead
    of every rule's scan. Only texts that hold nothing to mask are kept, so no secret is kept here."""

    def __init__(self, budget: int, largest: int) -> None:
        self._texts: OrderedDict[str, int] = OrderedDict()  # text -> its size in bytes
        self._budget, self._largest, self._held = budget, largest, 0
        self._lock = threading.Lock()

    def __contains__(self, text: str) -> bool:
        with self._lock:
            if text not in self._texts:
                return False
            self._texts.move_to_end(text)
            return True

    _ENTRY = 128  # bytes the ordered dict spends on an entry besides the text: tiny texts count too

    def add(self, text: str) -> None:
        size = sys.getsizeof(text) + self._ENTRY
        if size > self._largest:
            return
        with self._lock:
            if text in self._texts:
                return
            self._texts[text] = size
            self._held += size
            while self._held > self._budget:
                self._held -= self._texts.popitem(last=False)[1]


# 8 MiB: a few hundred distinct hosts' worth of the catalogue's outputs and results (~35 KB a host)
_CLEAN = _CleanTexts(budget=8 << 20, largest=256 << 10)


def redact(text: str) -> tuple[str, int]:
    """`text` with secrets masked, and how many were masked."""
    if not text or text in _CLEAN:
        return text, 0
    masked, total = _redact(text)
    if not total:  # `text` itself: a caller can tell "unchanged" by identity
        _CLEAN.add(text)
        return text, 0
    return masked, total


def _redact(text: str) -> tuple[str, int]:
    folded_text = folded(text)
    text, total, hinted = mask_folded(text, folded_text, MASK)
    present = _words_in(folded(text) if total else folded_text, hinted or bool(total))
    for (pattern, replacement), needles in zip(_RULES, _NEEDLES, strict=True) if present else ():
        if present.isdisjoint(needles):
            continue
        text, count = pattern.subn(replacement, text)
        if count:
            total += count
            present = _words_in(folded(text), True)
    cards = [m for m in _CARD_CANDIDATE.finditer(text) if _is_card(m.group())]
    if cards and "-" in text:
        cards = _outside([m.span() for m in _UUID.finditer(text)], cards)
    if cards:  # one join: re-slicing the text per card would be quadratic in a page of card numbers
        pieces, at = [], 0
        for match in cards:
            pieces += [text[at:match.start()], MASK]
            at = match.end()
        text = "".join([*pieces, text[at:]])
    return text, total + len(cards)


_SCALARS = (int, float, bool, type(None))  # nothing in them to walk


def redact_value(value: Any) -> tuple[Any, int]:
    """`value` (str, or lists/tuples/mappings of them) with every string redacted. A value in which
    nothing changed is returned itself (str, and lists, tuples and dicts of them): callers may keep
    what they hold; other sequences and mappings come back as their type, and as a dict."""
    if isinstance(value, str):
        return redact(value)
    if type(value) in _SCALARS:
        return value, 0
    if isinstance(value, list | tuple):
        items = [redact_value(v) for v in value]
        if type(value) in (list, tuple) and all(new is v for (new, _), v in zip(items, value, strict=True)):
            return value, 0
        return type(value)(v for v, _ in items), sum(n for _, n in items)
    if isinstance(value, Mapping):
        pairs = {k: redact_value(v) for k, v in value.items()}
        if type(value) is dict and all(new is value[k] for k, (new, _) in pairs.items()):
            return value, 0
        return {k: v for k, (v, _) in pairs.items()}, sum(n for _, n in pairs.values())
    return value, 0


def recorded_params(check: Check, params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` as the run records them: every string of a parameter the check declares
    secret (a connection string) with each credential in it masked."""
    secret = {p.name for p in check.params if p.secret}
    return {name: mask_all(value) if name in secret else value for name, value in params.items()}


def mask_all(value: Any) -> Any:
    """`value` with each credential in every string in it masked, at any depth."""
    if isinstance(value, str):
        return redact(mask_credentials(value, MASK)[0])[0]
    if isinstance(value, list | tuple):
        return type(value)(mask_all(v) for v in value)
    if isinstance(value, Mapping):
        return {k: mask_all(v) for k, v in value.items()}
    return value
