"""Application data older than its retention period is deleted.

Reads: for each configured source (an application table whose query selects one timestamp
column — a creation or last-activity date; a query returning more columns is an error), the
timestamps with the host's own client, read-only (`auditor.parsers.app_sources`: `sqlite3
-readonly`, psql in a read-only transaction, a READ ONLY mysql session), oldest first, and
an awk program on the host counts the rows older than the source's period and finds the
oldest timestamp. Ages are measured against the host's own clock (`date +%s`, recorded in
the evidence), so re-judging the evidence years later gives the same verdict.

Sources (`vars.data_retention.sources`), the shape of app_password_hashing's plus an
optional per-source period. The check's own `max_age_days` is the longest period any source
may have: a source's own value may be shorter, never longer — a longer one is judged by the
check's value, and the details say so (`period 365 days (its own max_age_days 731 is longer
than the check's 365 …)`). So a policy claim `data_retention: {max_age_days: 365}` binds every
source the inventory lists; 0 (the default) sets no cap, and each source must then set its own:

    - {name: marketing consents, kind: sqlite, path: /srv/shop/app.db,
       query: "SELECT created_at FROM marketing_consents", max_age_days: 90}
    - {name: trial accounts, kind: postgres, database: crm, user: postgres,
       query: "SELECT last_login FROM accounts WHERE plan = 'trial'", max_age_days: 92}

Timestamps read: ISO 8601 / SQL text (`2024-03-01`, `2024-03-01 12:00:00`,
`2024-03-01T12:00:00.123Z`, with an offset `+02:00`, `+0200` or psql's `+02`) and Unix
epoch seconds (up to 11 digits, optionally with a fraction) — so a whole-number date such as
20190101 reads as epoch seconds (1970-08-22): convert such columns in the query. A timestamp without an offset
is taken as UTC (at most a day's error on periods counted in days). NULL is counted and
otherwise ignored (a row with no date cannot be judged by its age); a source whose rows read
are all NULL is an error, not a pass (nothing was judged).

The query is wrapped as `SELECT * FROM (query) AS audited_rows ORDER BY 1 LIMIT max_rows+1`:
the database sorts by the timestamp, so the first `max_rows` rows are the oldest and the
oldest timestamp is exact even when there are more rows; the count of rows over the period
is then a lower bound ("at least"), which still fails. Row numbers in the report count in
that order, oldest first.

Why the rows are judged on the host, not with `SELECT count(*) ... WHERE ts < now() - ...`
in each database: one date parser and one clock (the host's, recorded) for sqlite text,
integer epochs, PostgreSQL timestamptz and MySQL DATETIME alike, instead of three SQL
dialects and three column types; the database still does the sorting.

Passes when: no row is older than its period in any source.

Fails when: a source holds rows older than its period: "S: 1204 rows older than 90 days
(oldest 2024-03-01, 612 days)"; a query that fails or times out after rows over the period
were seen fails with "at least N" and the reason it stopped.

Error/Manual: `error` for a source that cannot be read, a timestamp that is neither ISO 8601
nor epoch seconds (named by row number), no period for a source (neither its own
`max_age_days` nor the check's), no host clock in the evidence. Skip: no source configured.

Secrets: only counts, the oldest timestamp and the row numbers of unparseable values leave
the host — never a row.

Blind spots: only what the query selects is judged (soft-deleted rows, other tables,
backups and logs holding the same data are not); NULLs sort first in sqlite and MySQL, so
a table with more than `max_rows` NULL timestamps reads no date (an error, see above) and one
with fewer reads fewer dated rows (the oldest is still exact) — filter them out in the query
(`WHERE created_at IS NOT NULL`); a text column mixing formats sorts as text. A sqlite
database in WAL mode is opened immutable when no -wal or -shm file is beside it (so nothing
is written), and as usual when they are (the application has it open; the open writes to
its -shm).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import app_sources
from auditor.parsers.rows import UnexpectedLine, rows, unexpected
from auditor.probes import quote, shell

DAY = 86400
SHOWN_ROWS = 5  # unparseable rows named per source

# A POSIX awk program (mawk, gawk, busybox; no mktime needed): reads the first column of
# each row, converts it to epoch seconds, and prints `rows N`, `more 0|1`, `null N`,
# `over N` (older than now - days), `oldest EPOCH`, `unparsed N`, `columns N` (the most
# columns a row had) and `bad ROW` lines.
AGES_AWK = r"""
function days_from_civil(y, m, d,   era, yoe, doy, doe) {  # days since 1970-01-01 (H. Hinnant)
  y -= (m <= 2)
  era = int((y >= 0 ? y : y - 399) / 400); yoe = y - era * 400
  doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
  return era * 146097 + doe - 719468
}
function epoch(v,   y, mo, d, h, mi, s, rest, off, sign) {
  if (v ~ /^[0-9]+(\.[0-9]+)?$/) {
    sub(/\..*/, "", v)
    return length(v) <= 11 ? v + 0 : ""
  }
  if (v !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]/) return ""
  y = substr(v, 1, 4) + 0; mo = substr(v, 6, 2) + 0; d = substr(v, 9, 2) + 0
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return ""
  rest = substr(v, 11); h = 0; mi = 0; s = 0; off = 0
  if (rest ~ /^[T ][0-9][0-9]:[0-9][0-9]/) {
    h = substr(rest, 2, 2) + 0; mi = substr(rest, 5, 2) + 0; rest = substr(rest, 7)
    if (rest ~ /^:[0-9][0-9]/) { s = substr(rest, 2, 2) + 0; rest = substr(rest, 4) }
    if (match(rest, /^[.,][0-9]+/)) rest = substr(rest, RLENGTH + 1)
    if (h > 24 || mi > 59 || s > 60) return ""
  }
  if (rest == "Z" || rest == "") off = 0
  else if (rest ~ /^[+-][0-9][0-9](:?[0-9][0-9])?$/) {
    sign = substr(rest, 1, 1) == "-" ? -1 : 1
    off = sign * (substr(rest, 2, 2) * 3600 + (length(rest) > 3 ? substr(rest, length(rest) - 1, 2) * 60 : 0))
  } else return ""
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off
}
BEGIN { FS = fs; RS = rs; cutoff = now - days * 86400 }
{
  sub(/\n$/, "")  # psql ends its last record with a newline instead of the record separator
  if (NR > max) { more = 1; next }
  rows++
  if (NF > columns) columns = NF
  if ($1 == nullmark) { nulls++; next }
  t = epoch($1)
  if (t == "") { if (unparsed++ < show) printf "bad\t%d\n", rows; next }
  if (oldest == "" || t < oldest) oldest = t
  if (t < cutoff) over++
}
END {
  printf "rows\t%d\nmore\t%d\nnull\t%d\nover\t%d\n", rows, more ? 1 : 0, nulls, over
  printf "unparsed\t%d\ncolumns\t%d\n", unparsed, columns
  if (oldest != "") printf "oldest\t%.0f\n", oldest  # %d is 32-bit in mawk
}
"""


def _ages_function(max_rows: int) -> str:
    # $DAYS is set before each source (its own period); $NOW once, from the host's clock.
    return (f"ages() {{ awk -v \"fs=$1\" -v \"rs=$2\" -v \"nullmark=$3\" -v max={int(max_rows)} "
            f"-v show={SHOWN_ROWS} -v \"now=$NOW\" -v \"days=$DAYS\" {quote(AGES_AWK)}; }}")


def period_days(source: Any, params: Params) -> int:
    """The period a source is judged by: its own max_age_days, capped by the check's; 0 when neither is set.

    The check's max_age_days is the longest period any source may have (0: no cap, every source sets
    its own), so a policy's claim `data_retention: {max_age_days: 365}` binds every source — an
    inventory source's own 731 is judged at 365, and its details say so.
    """
    own = source.get("max_age_days") if isinstance(source, Mapping) else None
    ceiling = int(params["max_age_days"])
    if own is None:
        return ceiling
    if isinstance(own, bool) or not isinstance(own, int) or own < 0:
        raise ValueError(f"max_age_days must be a whole number of days, got {own!r}")
    return min(own, ceiling) if ceiling else own


def _capped(source: Any, days: int) -> str:
    """Why a source is judged by the check's period rather than its own longer one ("" if it is not)."""
    own = source.get("max_age_days") if isinstance(source, Mapping) else None
    if isinstance(own, int) and not isinstance(own, bool) and own > days:
        return (f" (its own max_age_days {own} is longer than the check's {days}, the longest period "
                "any source may have)")
    return ""


def _script(params: Params) -> str:
    max_rows = int(params["max_rows"])
    sources = list(params["sources"])
    periods = []
    for index, source in enumerate(sources):
        try:
            periods.append(f"DAYS={period_days(source, params)}")
        except ValueError as exc:
            raise ValueError(f"sources[{index}].{exc}") from exc
    clock = "NOW=$(date +%s); printf 'now\\t%s\\n' \"$NOW\"\n" if sources else ""  # evaluate() skips
    return clock + app_sources.reader_script(
        sources, max_rows, int(params["query_timeout"]), "ages", _ages_function(max_rows),
        order_by_first=True, before_source=periods)


CHECK = Check(
    id="data_retention",
    title="Application data older than its retention period is deleted",
    claims=("data-retention-periods",),
    controls=("ISO27001:2022 A.8.10", "ISO27001:2022 A.5.34"),
    trend_values=("oldest_age_days", "rows_over_period"),
    params=(
        app_sources.sources_param("application tables with a retention period: mappings of kind (sqlite, "
                                  "postgres, mysql), query (a SELECT of one timestamp column), path, "
                                  "database, user, name, max_age_days", extra_keys={"max_age_days": int}),
        Param("max_age_days", int, 0, "the longest retention period any source may have, and the period of "
              "sources without their own max_age_days (0: no cap; every source must set its own)", minimum=0),
        Param("max_rows", int, 100000, "rows read per source, oldest first", minimum=1),
        app_sources.QUERY_TIMEOUT,
    ),
    probes=(shell("ages", _script, root=True),),
)


def _date(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d")


class Ages(NamedTuple):
    """What the ages program printed for one source."""

    rows: int  # rows read
    over: int  # rows older than the period
    more: bool  # the query returned more rows than were read
    null: int  # rows without a date
    unparsed: int  # timestamps neither ISO 8601 nor epoch seconds
    oldest: int | None  # the oldest timestamp, epoch seconds
    columns: int  # columns the query returns
    bad_rows: list[int]  # row numbers of (the first) unparseable timestamps


AGES_ROWS = {key: 1 for key in ("rows", "more", "null", "over", "unparsed", "oldest", "columns", "bad")}


def read_ages(block: app_sources.SourceBlock, name: str) -> Ages:
    """One source's lines; ValueError names the source and the line it does not understand."""
    text = "\n".join("\t".join(line) for line in block.lines)
    try:
        found = rows(text, "ages", AGES_ROWS)
        if bad := next((r for r in found if not r.fields[0].lstrip("-").isdigit()), None):
            raise unexpected("ages", "\t".join((bad.tag, *bad.fields)))
    except UnexpectedLine as exc:
        raise ValueError(f"{name}: {exc}") from exc
    facts = {r.tag: int(r.fields[0]) for r in found if r.tag != "bad"}
    if "rows" not in facts or "over" not in facts:
        raise ValueError(f"{name}: no row count (cut short?)")
    return Ages(facts["rows"], facts["over"], bool(facts.get("more")), facts.get("null", 0),
                facts.get("unparsed", 0), facts.get("oldest"), facts.get("columns", 1),
                [int(r.fields[0]) for r in found if r.tag == "bad"])


def _judge_source(ages: Ages, name: str, source: Any, params: Params, stopped: str, now: int,
                  findings: Findings) -> None:
    """The rules on one source that was read: its rows over the period, and what it could not date."""
    days = period_days(source, params)
    oldest_text = ("no dated row" if ages.oldest is None
                   else f"oldest {_date(ages.oldest)}, {(now - ages.oldest) / DAY:.0f} days")
    more = f", first {ages.rows} oldest read; there are more" if ages.more else ""
    nulls = f", {ages.null} without a date" if ages.null else ""
    findings.note(f"{name}: {ages.rows} row(s){more}{nulls}; period {days} days{_capped(source, days)}; "
                  f"{oldest_text}")
    # More rows than read, or a query that failed or timed out after some: a floor.
    at_least = "at least " if ages.more or stopped else ""
    if ages.rows and ages.oldest is None and not ages.unparsed:
        # Every row read was NULL: nothing was judged (and NULLs sort first in sqlite and
        # MySQL, so with more rows the dated ones may just not have been reached).
        findings.unknown(f"{name}: no dated row among the {ages.rows} read, all NULL"
                         + (" (NULLs sort first; there are more rows)" if ages.more else "")
                         + ": select the timestamp column, and filter NULLs out (WHERE column IS NOT NULL)")
    if ages.unparsed:
        findings.unknown(f"{name}: {ages.unparsed} timestamp(s) neither ISO 8601 nor epoch seconds (rows "
                         + ", ".join(map(str, ages.bad_rows))
                         + (" …" if ages.unparsed > len(ages.bad_rows) else "") + ")")
    if ages.over:
        why = f" (query stopped: {stopped.removeprefix(name + ': ')})" if stopped else ""
        findings.fail(f"{name}: {at_least}{ages.over} row(s) older than {days} days ({oldest_text}){why}")


def evaluate(out: Outputs, params: Params) -> Result:
    sources = list(params["sources"])
    if not sources:
        return result(Status.SKIP, "no application table configured; set vars.data_retention.sources")
    no_period = [app_sources.source_name(s, i) for i, s in enumerate(sources)
                 if isinstance(s, Mapping) and s.get("max_age_days") is None and not params["max_age_days"]]
    if no_period:
        return result(Status.ERROR, "no retention period for " + ", ".join(no_period)
                      + ": set max_age_days on the source or vars.data_retention.max_age_days")
    evidence = ["ages"]
    try:
        preamble, blocks = app_sources.parse_blocks(out.require("ages").stdout, preamble_keys=("now",))
        now_text = preamble.get("now", [""])[0]
        if not now_text.isdigit():
            return result(Status.ERROR, "the ages probe did not report the host's clock (date +%s)",
                          evidence=evidence)
        if missing := app_sources.missing_sources([b.index for b in blocks], len(sources)):
            return result(Status.ERROR, missing, evidence=evidence)
        now = int(now_text)
        findings = Findings()
        unreadable = 0  # sources not read at all (the other errors are sources read but not judged)
        findings.note(f"host clock: {dt.datetime.fromtimestamp(now, dt.UTC):%Y-%m-%d %H:%M} UTC")
        ages_read = []
        for block, source in zip(blocks, sources, strict=True):
            name = app_sources.source_name(source, block.index)
            stopped = block.unreadable_reason(name) if block.status != "ok" else ""
            if stopped and not block.lines:  # the client never ran: nothing was read
                findings.unknown(stopped)
                unreadable += 1
                continue
            ages = read_ages(block, name)
            if ages.columns > 1:
                # Only the first column is read as the date: an id there reads as epoch seconds.
                findings.unknown(f"{name}: the query returns {ages.columns} columns; select exactly one "
                                 "timestamp column")
                continue
            if stopped and not ages.over:
                findings.unknown(stopped)
                unreadable += 1
                continue
            if ages.more and not ages.rows:
                findings.unknown(f"{name}: no row read although the query returned rows")
                unreadable += 1
                continue
            ages_read.append(ages)
            _judge_source(ages, name, source, params, stopped, now, findings)
    except ValueError as exc:
        return result(Status.ERROR, f"could not read the probe's output: {exc}", evidence=evidence)

    oldest_age = max(((now - a.oldest) / DAY for a in ages_read if a.oldest is not None), default=None)
    rows_read = sum(a.rows for a in ages_read)
    return findings.result(
        evidence=evidence,
        ok_summary=f"no row older than its retention period in {len(sources)} source(s) "
                   f"({rows_read} row(s) read)",
        error_prefix="{n} source(s) could not be judged: ",
        fail_suffix=app_sources.unjudged_note(findings.errors, "judged"),
        oldest_age_days=round(oldest_age, 1) if oldest_age is not None else None,
        rows_over_period=sum(a.over for a in ages_read), rows_read=rows_read,
        unreadable_sources=unreadable)
