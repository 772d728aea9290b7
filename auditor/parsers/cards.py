"""Payment card numbers: the issuers' ranges and lengths, and the Luhn check."""

from __future__ import annotations

# Payment card schemes: name, issuer ranges (inclusive prefix pairs of equal length) and the
# lengths the scheme issues. Checked in this order; the first scheme whose range holds the
# number decides (a number in its range at a length it does not issue is no card). One table
# for the redaction safety net (auditor.evidence.redact) and for app_data_encryption's on-host scan
# (which generates its awk from it).
CARD_SCHEMES: tuple[tuple[str, tuple[tuple[str, str], ...], tuple[int, ...]], ...] = (
    ("Visa", (("4", "4"),), (13, 16, 19)),
    ("Mastercard", (("51", "55"), ("2221", "2720")), (16,)),
    ("American Express", (("34", "34"), ("37", "37")), (15,)),
    ("Discover", (("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")), (16, 17, 18, 19)),
    ("JCB", (("3528", "3589"),), (16, 17, 18, 19)),
    ("Diners Club", (("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")), (14, 15, 16, 17, 18, 19)),
    ("UnionPay", (("62", "62"),), (16, 17, 18, 19)),
    ("Mir", (("2200", "2204"),), (16, 17, 18, 19)),
    ("BORICA", (("2205", "2205"),), (16,)),
    ("Dankort", (("5019", "5019"),), (16,)),
    ("Verve", (("506099", "506198"), ("507865", "507964")), (16, 18, 19)),
    ("RuPay", (("508", "508"), ("60", "60"), ("81", "82")), (16,)),
    ("Maestro", (("5018", "5018"), ("5020", "5020"), ("5038", "5038"), ("5893", "5893"), ("6304", "6304"),
                 ("6759", "6759"), ("6761", "6763")), (12, 13, 14, 15, 16, 17, 18, 19)),
    ("InterPayment", (("636", "636"),), (16, 17, 18, 19)),
    ("Troy", (("9792", "9792"),), (16,)),
    ("UATP", (("1", "1"),), (15,)),
)
# A UUID (8-4-4-4-12 hex digits) is no card number, though its first three groups can make a
# Luhn-valid number in a card range. Spelled out, without {n}: old mawk has no intervals.
_HEX = "[0-9A-Fa-f]"
UUID_PATTERN = "-".join(_HEX * n for n in (8, 4, 4, 4, 12))
CARD_MIN_DIGITS = min(n for _, _, lengths in CARD_SCHEMES for n in lengths)
CARD_MAX_DIGITS = max(n for _, _, lengths in CARD_SCHEMES for n in lengths)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (the last digit is the check digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_scheme(digits: str) -> str:
    """The scheme whose range and length fit `digits` ("" for none); the Luhn check is separate."""
    for name, ranges, lengths in CARD_SCHEMES:
        for low, high in ranges:
            if low <= digits[:len(low)] <= high:
                return name if len(digits) in lengths else ""
    return ""
