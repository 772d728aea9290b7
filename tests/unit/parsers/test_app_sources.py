"""The shared application-source reader: its SQL wrapper, its shell, and its output parser."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from auditor.parsers import app_sources

CASES = Path(__file__).resolve().parents[2] / "checks"


def test_the_query_is_wrapped_in_a_row_limit_and_may_be_sorted_by_its_first_column():
    # Given an operator's query with a trailing semicolon and a trailing comment
    query = "SELECT created_at FROM orders -- the orders\n;"
    # When it is wrapped
    plain = app_sources.statement(query, 100)
    ordered = app_sources.statement(query, 100, order_by_first=True)
    # Then the comment cannot swallow the wrapper, and the limit is one more than max_rows
    assert plain == ("SELECT * FROM (\nSELECT created_at FROM orders -- the orders\n"
                     ") AS audited_rows LIMIT 101")
    assert ordered.endswith(") AS audited_rows ORDER BY 1 LIMIT 101")


def test_every_inventory_value_reaches_the_shell_quoted():
    # Given a source whose every value holds shell syntax
    hostile = "x'; touch /tmp/pwned; echo '"
    source = {"kind": "postgres", "query": f"SELECT '{hostile}'", "path": hostile, "database": hostile,
              "user": hostile}
    # When its lines are rendered
    client = next(ln for ln in app_sources.source_lines(0, source, 10) if "psql -X" in ln)
    # Then the shell splits each value back into exactly one word, unchanged
    words = shlex.split(client)
    assert words[words.index("-u") + 1] == hostile
    assert words[words.index("-h") + 1] == hostile
    assert words[words.index("-d") + 1] == hostile
    assert words[-1] == app_sources.statement(f"SELECT '{hostile}'", 10)


@pytest.mark.parametrize(("source", "message"), [
    ("SELECT 1", "sources[0] must be a mapping"),
    ({"kind": "oracle", "query": "SELECT 1"}, "sources[0].kind must be one of sqlite, postgres, mysql"),
    ({"kind": "sqlite", "query": "  "}, "sources[0].query must be a SELECT statement"),
    ({"kind": "sqlite", "query": "SELECT 1"}, "sources[0]: a sqlite source needs path"),
])
def test_a_malformed_source_is_refused_with_its_index(source, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        app_sources.source_lines(0, source, 10)


def test_blocks_carry_status_and_the_consumers_lines():
    # Given what the reader prints for two sources, after a preamble line
    text = ("now\t1700000000\nsource\t0\nrows\t3\nstatus\tok\t0\t\n"
            "source\t1\nstatus\tfailed\t1\tError: in prepare, no such table: x\n")
    # When it is parsed
    preamble, blocks = app_sources.parse_blocks(text, preamble_keys=("now",))
    # Then each source has its status, and the consumer's lines split on tabs
    assert preamble == {"now": ["1700000000"]}
    assert [(b.index, b.status, b.rc) for b in blocks] == [(0, "ok", 0), (1, "failed", 1)]
    assert blocks[0].lines == [["rows", "3"]]
    assert blocks[1].unreadable_reason("shop") == \
        "shop: query failed, exit 1: Error: in prepare, no such table: x"


@pytest.mark.parametrize(("text", "message"), [
    ("rows\t3\n", "output before the first source"),
    ("source\tx\n", "unexpected source line"),
    ("source\t0\nrows\t3\n", "source 0: no status line"),
])
def test_garbled_output_is_a_value_error(text, message):
    with pytest.raises(ValueError, match=message):
        app_sources.parse_blocks(text)


def _luhn_valid(digits: str) -> bool:
    digits_from_right = enumerate(map(int, reversed(digits)))
    total = sum((d * 2 - 9 if d > 4 else d * 2) if i % 2 else d for i, d in digits_from_right)
    return total % 10 == 0


def test_no_recorded_case_holds_a_card_number():
    # Given every recorded case of the checks that read application tables
    files = sorted(CASES.glob("app_*/*.yaml")) + sorted(CASES.glob("data_retention/*.yaml"))
    assert any(p.parent.name == "app_data_encryption" for p in files)
    # Then none holds a Luhn-valid 13-19 digit number, written together or grouped in fours
    for path in files:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"(?<!\d)\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,7}(?!\d)", text):
            digits = re.sub(r"\D", "", match.group())
            if 13 <= len(digits) <= 19 and digits[0] in "23456":
                assert not _luhn_valid(digits), f"{path.name}: a card-shaped number"


def test_clients_are_asked_for_iso_dates_in_utc_and_the_servers_own_timeout():
    # Given a postgres and a mysql source, with a 45-second query timeout
    pg = {"kind": "postgres", "database": "crm", "query": "SELECT ts FROM t"}
    my = {"kind": "mysql", "database": "crm", "query": "SELECT ts FROM t"}
    # When their lines are rendered
    pg_line = next(ln for ln in app_sources.source_lines(0, pg, 10, query_timeout=45) if "psql -X" in ln)
    my_line = next(ln for ln in app_sources.source_lines(0, my, 10, query_timeout=45) if "--batch" in ln)
    # Then psql's session uses ISO dates in UTC and a 45 s statement timeout, and mysql's UTC
    assert ("PGOPTIONS='-c default_transaction_read_only=on -c DateStyle=ISO -c TimeZone=UTC "
            "-c statement_timeout=45s'") in pg_line
    assert shlex.split(my_line)[-1].startswith("SET time_zone = '+00:00';\nSELECT * FROM (")


@pytest.mark.parametrize("kind, key, value", [
    ("mysql", "database", "--init-command=SET SESSION TRANSACTION READ WRITE"),
    ("sqlite", "path", "-cmd"),
    ("postgres", "database", "-c"),
    ("postgres", "user", "-x"),
])
def test_a_value_starting_with_a_dash_is_refused(kind, key, value):
    # Given a source whose path, database or user starts with '-' (a positional argument would
    # become an option: mysql's database could override the read-only init command)
    source = {"kind": kind, "query": "SELECT 1", "path": "/srv/app.db", key: value}
    # When its lines are rendered, Then it is refused, naming the key
    with pytest.raises(ValueError, match=rf"sources\[0\]\.{key} must not start with '-'"):
        app_sources.source_lines(0, source, 10)


def test_the_report_texts_the_three_checks_share():
    # Given a failed source, a probe that reported 1 of 2 sources, and sources with more rows
    reason = app_sources.unreadable_reason("crm", "failed", 1, 'ERROR:  syntax error at or near ";"')
    # Then each text is written once, here
    assert reason.startswith('crm: query failed, exit 1: ERROR:  syntax error at or near ";" (the query runs '
                             "as a subquery")
    assert app_sources.unreadable_reason("shop", "missing", None, "") == "shop: database file not found"
    assert app_sources.missing_sources([0], 2) == "the probe reported 1 of 2 source(s) (cut short?)"
    assert app_sources.missing_sources([0, 1], 2) == ""
    assert app_sources.unjudged_note(["a: x", "b: y"], "judged") == "; 2 source(s) could not be judged: a: x"
    assert app_sources.unjudged_note([]) == ""
    sampled = app_sources.sampled_note(10, ["a", "b"], "scanned")
    assert sampled == "; only the first 10 rows of a, b were scanned"
