"""The local safety net: masks anything that looks like a secret before it is stored.

Probes reduce secrets on the host already (the shadow probe sends schemes, not hashes);
this pass catches what a probe did not foresee. Each rule keeps enough context to show
*where* a secret was (the key name, the scheme) and replaces the secret itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from auditor.check import Check
from auditor.parsers.cards import CARD_MAX_DIGITS, CARD_MIN_DIGITS, card_scheme, luhn_valid
from auditor.parsers.credentials import mask_credentials

MASK = "[REDACTED]"

# A card-shaped run: 12-19 digits, together or in groups split by single spaces or dashes, with
# no letter or digit directly before or after (so a hex string, a UUID or an IBAN is no card).
# The first digit comes before its look-behind (which then spans it) so that the regex engine can
# skip to the next digit at C speed instead of trying the look-behind at every character.
_CARD_CANDIDATE = re.compile(
    rf"[0-9](?<![0-9A-Za-z][0-9])(?:[ -]?[0-9]){{{CARD_MIN_DIGITS - 1},{CARD_MAX_DIGITS - 1}}}"
    r"(?![0-9A-Za-z])")


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
# Per rule, words (lower case) without one of which in the text the rule cannot match: most probe
# output holds none, and a substring test costs far less than a regex scan (the pass was ~11 ms a host).
# Only for ASCII text: under IGNORECASE "ſ" matches "s" and "ı" matches "i", which lower() keeps apart.
_NEEDLES: tuple[tuple[str, ...], ...] = (
    ("private key",), ("$",), ("bearer", "basic"), ("://",), _KEY_WORDS, _KEY_WORDS,
    ("mysql",), ("sshpass",), ("curl",), ("lftp",), ("smbclient",),
)


# Every rule's words, each tested once per text by a substring search (a C scan): a rule none of
# whose words is in the text is not run, and most outputs and result texts hold none at all.
_ALL_NEEDLES = tuple(dict.fromkeys(needle for needles in _NEEDLES for needle in needles))


def _words_in(text: str) -> frozenset[str] | None:
    """The rules' words that `text` holds; None (every rule may match) when it is not ASCII."""
    if not text.isascii():
        return None
    lowered = text.lower()
    return frozenset(needle for needle in _ALL_NEEDLES if needle in lowered)


def redact(text: str) -> tuple[str, int]:
    """`text` with secrets masked, and how many were masked."""
    text, total = mask_credentials(text, MASK, strict=False)
    present = _words_in(text)
    rules = zip(_RULES, _NEEDLES, strict=True) if present != frozenset() else ()
    for (pattern, replacement), needles in rules:
        if present is not None and present.isdisjoint(needles):
            continue
        text, count = pattern.subn(replacement, text)
        if count:
            total += count
            present = _words_in(text)
    cards = [m for m in _CARD_CANDIDATE.finditer(text) if _is_card(m.group())]
    if cards:  # one join: re-slicing the text per card would be quadratic in a page of card numbers
        pieces, at = [], 0
        for match in cards:
            pieces += [text[at:match.start()], MASK]
            at = match.end()
        text = "".join([*pieces, text[at:]])
    return text, total + len(cards)


def redact_value(value: Any) -> tuple[Any, int]:
    """`value` (str, or lists/tuples/mappings of them) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        items = [redact_value(v) for v in value]
        return type(value)(v for v, _ in items), sum(n for _, n in items)
    if isinstance(value, Mapping):
        pairs = {k: redact_value(v) for k, v in value.items()}
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
