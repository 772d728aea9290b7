"""app_data_encryption's on-host scanner (SCAN_AWK), run with the awks of this machine.

The recorded cases replay the counts awk printed when they were recorded, so a change to
the awk program would pass them unnoticed; these tests run the program itself — as the
probe does, with `-v fs=\\037 ...` — and compare it with a reference written here in Python
from the rules the check's docstring states, over thousands of random values.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import uuid
from collections import Counter

import pytest

from auditor.parsers.cards import (
    CARD_MAX_DIGITS,
    CARD_MIN_DIGITS,
    CARD_SCHEMES,
    UUID_PATTERN,
    card_scheme,
    luhn_valid,
)
from checks.app_data_encryption import SCAN_AWK

AWKS = [awk for awk in ("mawk", "nawk", "gawk", "busybox") if shutil.which(awk)]
pytestmark = pytest.mark.skipif(not AWKS, reason="no awk")


Found = tuple[Counter[str], list[tuple[int, int, str, str]]]


def run_awk(awk: str, records: list[list[str]], show: int = 1000) -> Found:
    """(counts, card lines) SCAN_AWK prints for `records`, each a list of column values."""
    data = "".join("\x1f".join(columns) + "\x1e" for columns in records).encode("latin-1")
    command = [awk, "-v", "fs=\\037", "-v", "rs=\\036", "-v", "nullmark=\\035", "-v", "max=1000000",
               "-v", f"show={show}", SCAN_AWK]
    if awk == "busybox":
        command.insert(1, "awk")
    out = subprocess.run(command, input=data, capture_output=True, check=True, timeout=60).stdout.decode()
    counts: Counter[str] = Counter()
    cards = []
    for line in out.splitlines():
        kind, *rest = line.split("\t")
        if kind == "card":
            cards.append((int(rest[0]), int(rest[1]), rest[2], rest[3]))
        elif kind == "scheme":
            counts[f"scheme {rest[0]}"] = int(rest[1])
        else:
            counts[kind] = int(rest[0])
    return counts, cards


# --- the reference -------------------------------------------------------------------------

RUN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")


def reference_cards(value: str) -> list[tuple[str, str]]:
    """(scheme, digits) of every card number in `value`, by the rules in the docstring."""
    found = []
    value = re.sub(UUID_PATTERN, "u", value)  # a UUID is no card, nor part of one: a letter
    for match in RUN.finditer(value):
        before = value[match.start() - 1] if match.start() else ""
        after = value[match.end()] if match.end() < len(value) else ""
        if re.fullmatch(r"[A-Za-z]", before) or re.fullmatch(r"[A-Za-z]", after):
            continue
        groups = re.split(r"[ -]", match.group())
        long_run = sum(map(len, groups)) > CARD_MAX_DIGITS

        def cuts_fours(k: int, direction: int, groups: list[str] = groups, long_run: bool = long_run) -> bool:
            """Whether group k and its neighbour that way are both 4 digits, in a run too long for a card."""
            other = k + direction
            return long_run and 0 <= other < len(groups) and len(groups[k]) == 4 and len(groups[other]) == 4

        i = 0
        while i < len(groups):
            hit = None
            if not cuts_fours(i, -1):
                for j in range(i, len(groups)):
                    digits = "".join(groups[i:j + 1])
                    if len(digits) > CARD_MAX_DIGITS:
                        break
                    if len(digits) >= CARD_MIN_DIGITS and not cuts_fours(j, +1) \
                            and luhn_valid(digits) and card_scheme(digits):
                        hit = j
                        found.append((card_scheme(digits), digits))
                        break
            i = (hit if hit is not None else i) + 1
    return found


def reference(records: list[list[str]]) -> Found:
    counts: Counter[str] = Counter(rows=len(records), more=0, cards=0, card_rows=0)
    cards = []
    for row, columns in enumerate(records, 1):
        in_row = [(col, scheme, digits) for col, value in enumerate(columns, 1)
                  for scheme, digits in reference_cards(value)]
        counts["cards"] += len(in_row)
        counts["card_rows"] += bool(in_row)
        for col, scheme, digits in in_row:
            counts[f"scheme {scheme}"] += 1
            cards.append((row, col, scheme, digits[-4:]))
    return counts, cards


# --- random values ----------------------------------------------------------------------------

def luhn_number(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def card(rng: random.Random) -> str:
    _, ranges, lengths = rng.choice(CARD_SCHEMES)
    low, high = rng.choice(ranges)
    prefix = str(rng.randint(int(low), int(high))).zfill(len(low))
    number = luhn_number(rng, prefix, rng.choice(lengths))
    style = rng.choice(["plain", "fours", "dashes", "amex"])
    if style == "fours":
        return " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    if style == "dashes":
        return "-".join(number[i:i + 4] for i in range(0, len(number), 4))
    if style == "amex":
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    return number


def noise(rng: random.Random) -> str:
    return rng.choice([
        lambda: rng.randbytes(rng.randint(4, 40)).hex(),
        lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        lambda: str(rng.randrange(10 ** rng.randint(1, 25))),
        lambda: " ".join(str(rng.randrange(10000)).zfill(4) for _ in range(rng.randint(2, 8))),
        lambda: rng.choice(["PL", "DE", "GB", "x", "ref ", "#", "(", "tok_", "-", " ", "  ", "\xe9", "\t"]),
        lambda: "".join(rng.choice("0123456789 -abcXYZ.,") for _ in range(rng.randint(1, 30))),
    ])()


def value(rng: random.Random) -> str:
    parts = [card(rng) if rng.random() < 0.3 else noise(rng) for _ in range(rng.randint(1, 5))]
    return rng.choice(["", " ", "-"]).join(parts)


@pytest.mark.parametrize("awk", AWKS)
def test_the_awk_scan_agrees_with_the_reference_on_random_values(awk):
    # Given 3,000 rows of two columns mixing card numbers of every scheme and style with hex,
    # UUIDs, digit groups, letters and separators glued to them in every order
    rng = random.Random(20261121)
    records = [[value(rng).replace("\t", " "), value(rng).replace("\t", " ")] for _ in range(3000)]
    # When awk scans them, Then it finds exactly what the reference finds, row by row
    expected_counts, expected_cards = reference(records)
    counts, cards = run_awk(awk, records, show=100000)
    assert expected_counts["cards"] > 500  # the random values do hold many card numbers
    assert sorted(cards) == sorted(expected_cards)
    assert counts == expected_counts


def iban(rng: random.Random, country: str, digits: int) -> str:
    bban = "".join(rng.choice("0123456789") for _ in range(digits))
    check = 98 - int(bban + "".join(str(ord(c) - 55) for c in country) + "00") % 97
    text = f"{country}{check:02d}{bban}"
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


@pytest.mark.parametrize("kind", ["hex", "bytea", "uuid", "iban_pl", "iban_de", "nrb"])
def test_encrypted_and_tokenised_values_and_ibans_are_no_card_numbers(kind):
    # Given 5,000 values of a kind that holds no card number (before the boundary rule, 8 in
    # 20,000 hex strings, 10 bytea, 11 UUIDs and 8.5% of Polish IBANs were taken for cards)
    rng = random.Random(kind)
    make = {"hex": lambda: rng.randbytes(32).hex(), "bytea": lambda: "\\x" + rng.randbytes(48).hex(),
            "uuid": lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "iban_pl": lambda: iban(rng, "PL", 24), "iban_de": lambda: iban(rng, "DE", 18),
            "nrb": lambda: iban(rng, "PL", 24)[2:].lstrip()}[kind]
    records = [[make()] for _ in range(5000)]
    # When awk scans them, Then it finds no card number
    counts, cards = run_awk(AWKS[0], records)
    assert counts["cards"] == 0, cards[:5]


@pytest.mark.parametrize("text, expected", [
    ("ref 12345 4111 1111 1111 1111", [(1, 1, "Visa", "1111")]),  # a chain of fours after an id
    ("ref 100234 3782 822463 10005", [(1, 1, "American Express", "0005")]),
    ("a2466025-1565-4783-8ed5-7a5c6adc9649", []),  # the reviewer's UUID ("Mastercard 7838")
    ("35771902-7136-4511-bc4a-4f6a2b1e9d3c", []),  # a UUID whose first three groups make a JCB number
    ("0f1e2d3c-4b5a-4978-8a1b-123456789012 3456", []),  # a UUID's last group is no card's start
    ("card-4111111111111111", [(1, 1, "Visa", "1111")]),  # a label joined by a dash
    ("PAN 4111-1111-1111-1111-A", [(1, 1, "Visa", "1111")]),
    ("4111-1111-1111-1111 exp 12/25", [(1, 1, "Visa", "1111")]),  # a card in dashes, then words
    ("PL84 9441 1771 5162 0466 1099 0695", []),
    ("visa4111111111111111", []),  # glued to a letter: a blind spot the docstring names
    ("(4111111111111111).", [(1, 1, "Visa", "1111")]),
    ("5019 7170 1010 3742", [(1, 1, "Dankort", "3742")]),  # a scheme added with the shared table
    ("6759 6498 2648", [(1, 1, "Maestro", "2648")]),  # Maestro at 12 digits
])
def test_examples(text, expected):
    expected_rows = [(r, c, s, last4) for r, c, s, last4 in expected]
    _, cards = run_awk(AWKS[0], [[text]])
    assert cards == expected_rows
    assert [(1, 1, s, d[-4:]) for s, d in reference_cards(text)] == expected_rows
