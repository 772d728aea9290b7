"""How often app_data_encryption's on-host scan takes a value that is no card for a card number.

    python bench/card_false_positives.py [--values 20000] [--awk mawk]

Feeds SCAN_AWK (as the probe runs it, one value per record) with `--values` random values of
each kind an application stores where card data might be: hex ciphertext, psql's bytea
text (\\x...), UUIDs, IBANs written in groups (Polish, 28 characters, and German), Polish
account numbers without the country code (NRB, 26 digits in groups), and 13-digit
epoch-millisecond timestamps. Prints, per kind, how many the scan counted as card numbers
(none of them is one) and how long the scan took.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checks.app_data_encryption import SCAN_AWK  # noqa: E402


def iban(rng: random.Random, country: str, digits: int) -> str:
    """A valid IBAN (ISO 13616 check digits) with a random all-digit BBAN, in groups of four."""
    bban = "".join(rng.choice("0123456789") for _ in range(digits))
    letters = "".join(str(ord(c) - 55) for c in country)
    check = 98 - int(bban + letters + "00") % 97
    text = f"{country}{check:02d}{bban}"
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def kinds(rng: random.Random, n: int) -> dict[str, list[str]]:
    return {
        "hex ciphertext (32 bytes)": [rng.randbytes(32).hex() for _ in range(n)],
        "psql bytea (\\x, 48 bytes)": ["\\x" + rng.randbytes(48).hex() for _ in range(n)],
        "uuid4": [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)],
        "Polish IBAN in groups": [iban(rng, "PL", 24) for _ in range(n)],
        "German IBAN in groups": [iban(rng, "DE", 18) for _ in range(n)],
        "Polish NRB (no country code)": [iban(rng, "PL", 24)[2:].lstrip() for _ in range(n)],
        "epoch milliseconds": [str(rng.randrange(1_000_000_000_000, 2_000_000_000_000)) for _ in range(n)],
    }


def scan(awk: str, values: list[str]) -> tuple[int, float]:
    data = "".join(v + "\x1e" for v in values).encode()
    started = time.perf_counter()
    command = [awk, "-v", "fs=\\037", "-v", "rs=\\036", "-v", "nullmark=\\035", "-v", "max=100000000",
               "-v", "show=0", SCAN_AWK]
    out = subprocess.run(command, input=data, capture_output=True, check=True).stdout.decode()
    took = time.perf_counter() - started
    counts = dict(line.split("\t")[:2] for line in out.splitlines() if line.count("\t") == 1)
    return int(counts["cards"]), took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=20000)
    parser.add_argument("--awk", default="awk")
    args = parser.parse_args()
    for kind, values in kinds(random.Random(4), args.values).items():
        cards, took = scan(args.awk, values)
        print(f"{kind:32} {cards:6} of {len(values)} taken for card numbers ({took * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
