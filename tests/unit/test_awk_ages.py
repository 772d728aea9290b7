"""data_retention's on-host date reader (AGES_AWK), run with the awks of this machine.

The recorded cases replay the counts awk printed when they were recorded, so a change to
the awk program would pass them unnoticed; these tests run the program itself and compare
it with Python's datetime over thousands of random timestamps in every format the check's
docstring promises, and the whole program's counts with a reference written here.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import subprocess

import pytest

from checks.data_retention import AGES_AWK

AWKS = [awk for awk in ("mawk", "nawk", "gawk") if shutil.which(awk)]
pytestmark = pytest.mark.skipif(not AWKS, reason="no awk")
NOW = 1795261049  # the host clock the probe would record
# The program's functions (epoch() and what it calls), with a driver printing one epoch per line.
EPOCH_DRIVER = AGES_AWK[:AGES_AWK.index("BEGIN {")] + \
    '{ print epoch($0) == "" ? "none" : sprintf("%.0f", epoch($0)) }'


def epochs(awk: str, values: list[str]) -> list[str]:
    data = "".join(v + "\n" for v in values).encode()
    out = subprocess.run([awk, EPOCH_DRIVER], input=data, capture_output=True, check=True, timeout=60)
    return out.stdout.decode().splitlines()


def random_timestamp(rng: random.Random) -> tuple[str, int]:
    """A timestamp written in one of the promised formats, and its epoch seconds."""
    t = rng.randint(-2208988800, 4102444800)  # 1900..2100
    offset = rng.choice([0, 3600, -18000, 19800, 7200, -34200, 50400])
    local = dt.datetime.fromtimestamp(t, dt.timezone(dt.timedelta(seconds=offset)))
    utc = dt.datetime.fromtimestamp(t, dt.UTC)
    fmt = rng.choice(["iso", "isoZ", "space", "psql", "compact", "frac", "date", "epoch"])
    if fmt == "iso":
        return local.isoformat(), t
    if fmt == "isoZ":
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ"), t
    if fmt == "space":
        return utc.strftime("%Y-%m-%d %H:%M:%S"), t
    if fmt == "psql":
        sign = "+" if offset >= 0 else "-"
        minutes = f":{abs(offset) % 3600 // 60:02d}" if offset % 3600 else ""
        return local.strftime("%Y-%m-%d %H:%M:%S") + f"{sign}{abs(offset) // 3600:02d}{minutes}", t
    if fmt == "compact":
        return local.strftime("%Y-%m-%dT%H:%M:%S%z"), t
    if fmt == "frac":
        return local.strftime("%Y-%m-%dT%H:%M:%S.%f%z"), t
    if fmt == "date":
        day = utc.strftime("%Y-%m-%d")
        return day, int(dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp())
    t = abs(t)
    return str(t), t


@pytest.mark.parametrize("awk", AWKS)
def test_the_awk_date_reader_agrees_with_python_on_random_timestamps(awk):
    # Given 3,000 random instants from 1900 to 2100 in ISO 8601, SQL, psql and epoch formats
    rng = random.Random(1)
    cases = [random_timestamp(rng) for _ in range(3000)]
    # When awk's epoch() reads them, Then every one is the instant Python wrote
    got = epochs(awk, [v for v, _ in cases])
    mismatches = [(v, t, g) for (v, t), g in zip(cases, got, strict=True) if g != str(t)]
    assert mismatches == []


@pytest.mark.parametrize("value", [
    "2024-02-30x", "01/03/2024", "yesterday", "2024-03-01 12:00:00 UTC", "2024-13-01", "1700000000123",
    "2024-03-01T12:00:00+05:30:00", "", "infinity",
])
def test_what_is_no_promised_format_is_not_read(value):
    assert epochs(AWKS[0], [value]) == ["none"]


def run_ages(awk: str, rows: list[list[str | None]], days: int, max_rows: int = 100000) -> dict[str, str]:
    data = "".join("\x1f".join("\x1d" if v is None else v for v in row) + "\x1e" for row in rows).encode()
    command = [awk, "-v", "fs=\\037", "-v", "rs=\\036", "-v", "nullmark=\\035", "-v", f"max={max_rows}",
               "-v", "show=5", "-v", f"now={NOW}", "-v", f"days={days}", AGES_AWK]
    out = subprocess.run(command, input=data, capture_output=True, check=True, timeout=60).stdout.decode()
    facts: dict[str, str] = {}
    for line in out.splitlines():
        key, value = line.split("\t")
        facts[key] = f"{facts[key]},{value}" if key in facts else value
    return facts


@pytest.mark.parametrize("awk", AWKS)
def test_the_whole_program_counts_as_the_reference_does(awk):
    # Given 2,000 rows: random timestamps, NULLs and words
    rng = random.Random(2)
    rows: list[list[str | None]] = []
    instants: list[int] = []  # what Python wrote, for the rows that hold a timestamp
    for _ in range(2000):
        pick = rng.random()
        if pick < 0.05:
            rows.append([None])
        elif pick < 0.07:
            rows.append(["soon"])
        else:
            value, instant = random_timestamp(rng)
            rows.append([value])
            instants.append(instant)
    days = 90
    # When the program reads them
    facts = run_ages(awk, rows, days)
    # Then its counts are the reference's
    read = [row[0] for row in rows]
    cutoff = NOW - days * 86400
    assert facts["rows"] == "2000" and facts["more"] == "0" and facts["columns"] == "1"
    assert facts["null"] == str(read.count(None))
    assert facts["unparsed"] == str(read.count("soon"))
    assert facts["over"] == str(sum(t < cutoff for t in instants))
    assert facts["oldest"] == str(min(instants))
    bad_rows = [str(i) for i, v in enumerate(read, 1) if v == "soon"][:5]
    assert facts["bad"].split(",") == bad_rows


def test_max_rows_and_columns_are_reported():
    # Given three rows of two columns, read with max_rows 2
    facts = run_ages(AWKS[0], [["2020-01-01", "x"], ["2020-01-02", "y"], ["2020-01-03", "z"]], 90, max_rows=2)
    # Then two rows are read, more are announced, and the second column is seen
    assert (facts["rows"], facts["more"], facts["columns"]) == ("2", "1", "2")
