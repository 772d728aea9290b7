"""app_data_encryption end to end: real sqlite application databases on real sshd hosts.

Each host is an OpenSSH server in its own mount namespace (sshhosts) with /srv replaced
by a directory holding a sqlite database made here with Python's sqlite3: one with
tokenised and masked card data only, one with plaintext card numbers (the industry test
numbers and Luhn-valid numbers generated here). The check runs through the CLI over SSH;
the verdict is read from report.json, and no planted card number may reach the run folder.
"""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.fleetrun import assert_nowhere_in, audit, fleet_hosts, write_inventory
from tests.integration.sshhosts import HostSpec, Planted

pytestmark = pytest.mark.integration
DB_PATH = "/srv/shop/app.db"
QUERY = "SELECT card, note FROM payments ORDER BY id"


def luhn_number(prefix: str, length: int) -> str:
    """A random card-shaped number with a valid Luhn check digit."""
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(length - len(prefix) - 1))
    total = sum((d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d
                for i, d in enumerate(int(c) for c in reversed(body)))
    return body + str((10 - total % 10) % 10)


def sqlite_db(path: Path, rows: list[tuple[str | None, str | None]]) -> bytes:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE payments (id INTEGER PRIMARY KEY, card TEXT, note TEXT)")
        db.executemany("INSERT INTO payments (card, note) VALUES (?, ?)", rows)
    db.close()
    return path.read_bytes()


@pytest.fixture(scope="module")
def planted() -> dict[str, str]:
    """Every card number planted on the bad host, by a name for messages."""
    return {"visa_test": "4111111111111111", "mastercard_test": "5555555555554444",
            "amex_test": "378282246310005", "visa_generated": luhn_number("4", 16),
            "jcb_generated": luhn_number("3530", 16)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, planted, sshd_fleet):
    tmp = tmp_path_factory.mktemp("dbs")
    clean = sqlite_db(tmp / "clean.db", [("tok_1MqLX2LkdIwHu7ixu4R9", "paid"),
                                         ("**** **** **** 1111", None),
                                         ("411111******1111", "first six, last four"),
                                         (None, "+48 123 456 789")])
    spaced = " ".join(planted["visa_test"][i:i + 4] for i in range(0, 16, 4))
    dashed = "-".join(planted["mastercard_test"][i:i + 4] for i in range(0, 16, 4))
    plain = sqlite_db(tmp / "plain.db", [
        (spaced, "test Visa"), ("tok_abc", "fine"), (dashed, None),
        (None, f"customer said: use {planted['amex_test']} next time"),
        (planted["visa_generated"], f"and {planted['jcb_generated']}"),
    ])
    with sshd_fleet("fleet") as (fleet, _):
        for name, db in (("cards-clean", clean), ("cards-plain", plain)):
            fleet.start(HostSpec(name, files={DB_PATH: Planted(db, mode=0o640)}, replace_dirs=("/srv",)))
        yield fleet


CARD_IN_ERROR = "4012 8888 8888 1881"  # Visa's documented test number, grouped


def source(**changes: str) -> dict[str, object]:
    return {"sources": [{"name": "payments", "kind": "sqlite", "path": DB_PATH, "query": QUERY, **changes}]}


@pytest.fixture(scope="module")
def run(fleet, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    hosts = fleet_hosts(fleet, vars={"app_data_encryption": source()})
    # The clean host under two more names: no source configured, and a missing file.
    hosts["cards-unset"] = {**hosts["cards-clean"], "vars": {}}
    hosts["cards-missing"] = {**hosts["cards-clean"],
                              "vars": {"app_data_encryption": source(path="/srv/shop/gone.db")}}
    # The plaintext host with a query whose error message quotes a card number (psql, sqlite and
    # mysql all quote values or names in their errors): a table named by one.
    hosts["cards-error"] = {**hosts["cards-plain"], "vars": {"app_data_encryption": source(
        query=f'SELECT card FROM "{CARD_IN_ERROR}"')}}
    done = audit(write_inventory(tmp / "inventory.yaml", hosts), tmp / "reports", "app_data_encryption")
    return done.result, done.by_host, done.run_dir


def test_tokens_and_masked_numbers_pass(run):
    # Given a host whose payments table holds a token, masked numbers, a NULL and a phone number
    _, by_host, _ = run
    # When the check scans it over SSH
    clean = by_host["cards-clean"]
    # Then it passes, saying how many rows it scanned
    assert clean["status"] == "pass", clean
    assert clean["summary"] == "no payment card number in 4 row(s) of 1 source(s)"
    assert clean["values"]["card_numbers"] == 0 and clean["values"]["rows_scanned"] == 4


def test_plaintext_card_numbers_fail_with_rows_scheme_and_last_four(run, planted):
    # Given a host with five card numbers in plaintext: spaced, dashed, inside a note, two in one row
    result, by_host, _ = run
    bad = by_host["cards-plain"]
    # Then the check fails, naming the source, the count and the rows
    assert bad["status"] == "fail", bad
    expected = ("5 payment card number(s) stored in plaintext: "
                "payments: 5 card number(s) in plaintext in 4 row(s) (rows 1, 3, 4, 5)")
    assert bad["summary"] == expected, bad["summary"]
    details = "\n".join(bad["details"])
    assert "payments: row 1 column 1: Visa ending 1111" in details
    assert "payments: row 3 column 1: Mastercard ending 4444" in details
    assert "payments: row 4 column 2: American Express ending 0005" in details
    assert f"payments: row 5 column 2: JCB ending {planted['jcb_generated'][-4:]}" in details
    assert bad["values"]["card_numbers_by_scheme"] == {"American Express": 1, "JCB": 1, "Mastercard": 1,
                                                       "Visa": 2}
    assert result.rc == 1, result.stderr


def test_no_source_is_skip_and_a_missing_database_is_error(run):
    _, by_host, _ = run
    assert by_host["cards-unset"]["status"] == "skip"
    assert "set vars.app_data_encryption.sources" in by_host["cards-unset"]["summary"]
    missing = by_host["cards-missing"]
    assert missing["status"] == "error", missing
    assert "payments: database file not found" in missing["summary"]


def test_max_rows_zero_is_refused_not_passed(tmp_path):
    # Given an inventory asking to scan 0 rows: scanning nothing must never pass
    inventory = write_inventory(tmp_path / "inventory.yaml", {"cards-no-rows": {
        "transport": "local", "vars": {"app_data_encryption": {**source(), "max_rows": 0}}}})
    # When it is used for a run
    result = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "reports"), "--check",
                     "app_data_encryption")
    # Then it is refused before any host is audited, naming the file, line and key
    assert result.rc == 2, result.stderr
    assert "vars.app_data_encryption.max_rows: must be at least 1, got 0" in result.stderr, result.stderr
    assert not (tmp_path / "reports").exists()


def test_a_card_number_in_a_query_error_is_masked(run):
    # Given a query failing with an error that quotes a card number
    failed = run[1]["cards-error"]
    # Then the error is reported with the digits masked on the host (the query itself, the
    # operator's configuration, is shown with the parameters, as any parameter is)
    assert failed["status"] == "error", failed
    assert "no such table: <digits>" in failed["summary"], failed["summary"]
    assert CARD_IN_ERROR not in "\n".join([failed["summary"], *failed["details"]])


def test_no_card_number_reaches_the_run_folder(run, planted):
    # Given every file the run wrote (reports, evidence)
    _, _, run_dir = run
    # Then no planted card number is there: whole, grouped as planted, or by its first twelve digits
    for number in planted.values():
        grouped = [sep.join(number[i:i + 4] for i in range(0, len(number), 4)) for sep in (" ", "-")]
        files = assert_nowhere_in(run_dir, number, number[:12], *grouped)
    assert any("evidence" in p.parts for p in files)
