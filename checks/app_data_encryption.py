"""Payment card numbers are not stored in plaintext in application databases.

Reads: the configured columns of each application database with the host's own client,
read-only (`auditor.parsers.app_sources`: `sqlite3 -readonly`, psql in a read-only
transaction, a READ ONLY mysql session), and scans every value of every returned column on
the host with an awk program for primary account numbers (PANs): 12–19 digits, written
together or in groups separated by single spaces or dashes (`dddd dddd dddd dddd`,
`dddd-dddd-dddd-dddd`), with no letter or digit directly before or after, that pass the
Luhn check and start with the issuer range of a card scheme at a length that scheme issues:
Visa (4; 13, 16, 19 digits), Mastercard (51–55, 2221–2720; 16), American Express (34, 37;
15), Discover (6011, 644–649, 65, 622126–622925; 16–19), JCB (3528–3589; 16–19), Diners
Club (300–305, 3095, 36, 38, 39; 14–19), UnionPay (62; 16–19), Mir (2200–2204; 16–19),
BORICA (2205; 16), Dankort (5019; 16), Verve (506099–506198, 507865–507964; 16, 18, 19),
RuPay (508, 60, 81, 82; 16), Maestro (5018, 5020, 5038, 5893, 6304, 6759, 6761–6763;
12–19), InterPayment (636; 16–19), Troy (9792; 16) and UATP (1; 15) — the table is
`auditor.parsers.cards.CARD_SCHEMES`, shared with the redaction pass. In a grouped run every span
of whole groups is tried, except, in a run of more than 19 digits, spans that cut through a
chain of 4-digit groups. So these are not card numbers: a longer unbroken digit run (an
order id), digits inside a hex string (a letter touches them) or a UUID (8-4-4-4-12 hex
digits: its first three groups can make a Luhn-valid number), an IBAN (its country code
touches its digits) or an account number written in fours without one.

Sources (`vars.app_data_encryption.sources`), the same shape as app_password_hashing's:

    - {name: orders, kind: sqlite, path: /srv/shop/app.db,
       query: "SELECT card_number, notes FROM payments"}
    - {name: billing, kind: postgres, database: billing, user: postgres,
       query: "SELECT pan FROM cards"}

Passes when: no card number is in any configured source (the summary states how many rows
were scanned).

Fails when: card numbers are found, per source with their count and rows; a source that
could not be read is named too; a query that fails or times out after card numbers were
seen fails with "at least N" and the reason it stopped.

Error/Manual: `error` for a source that cannot be read (file missing, client missing, query
error, timeout), when nothing else fails. Skip: no source configured.

Secrets: only counts, row and column numbers, the scheme and the last four digits leave the
host (PCI DSS 3.4 allows showing at most the first six and last four; this shows less) —
never a card number.

Blind spots: only the first `max_rows` rows of each source are scanned (the summary says
when there were more); a column that stores card numbers encrypted, tokenised or
truncated passes, which is the point — but so does one that stores them in a format this
scan does not read (base64 of the digits, digits split across columns, separators other
than one space or dash, a number glued to a letter as in `visa4111…`, two numbers written
in fours one after the other with single spaces); test card numbers in a development table
fail like real ones;
a Luhn-valid number in a card range that is not a card (some 16-digit ids are) fails: name
such columns out of the query. A sqlite database in WAL mode is opened immutable when no
-wal or -shm file is beside it (so nothing is written), and as usual when they are (the
application has it open; the open writes to its -shm).
"""

from __future__ import annotations

from typing import NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import app_sources
from auditor.parsers.cards import CARD_MAX_DIGITS, CARD_MIN_DIGITS, CARD_SCHEMES, UUID_PATTERN
from auditor.parsers.rows import UnexpectedLine, rows, unexpected
from auditor.probes import quote, shell

SHOWN_ROWS = 10  # rows named per source

def _scheme_function() -> str:
    """awk's scheme(d): the card scheme of a digit string, generated from cards.CARD_SCHEMES."""
    lines = ["function scheme(d,   l) {", "  l = length(d)"]
    for name, ranges, lengths in CARD_SCHEMES:
        in_range = " || ".join(f"within(substr(d, 1, {len(low)}) + 0, {int(low)}, {int(high)})"
                               for low, high in ranges)
        issued = " || ".join(f"l == {n}" for n in lengths)
        lines.append(f'  if ({in_range}) return ({issued}) ? "{name}" : ""')
    return "\n".join([*lines, '  return ""', "}"])


# A POSIX awk program (mawk, gawk, busybox): reads the client's rows, prints per source
# `rows N`, `more 0|1`, `cards N`, `card_rows N`, `scheme NAME N` and, for the first
# `show` card numbers, `card ROW COLUMN SCHEME LAST4`. Never a card number. Linear in a
# value's length: a value is split once into pieces of digits, spaces and dashes.
SCAN_AWK = r"""
function luhn(d,   i, s, x, dbl) {
  s = 0; dbl = 0
  for (i = length(d); i >= 1; i--) {
    x = substr(d, i, 1) + 0
    if (dbl) { x *= 2; if (x > 9) x -= 9 }
    s += x; dbl = !dbl
  }
  return s % 10 == 0
}
function within(l, lo, hi) { return l >= lo && l <= hi }
""" + _scheme_function() + r"""
function found(d, col, s) {
  cards++; per[s]++
  if (!(rows in hit)) { hit[rows] = 1; card_rows++ }
  if (shown++ < show) printf "card\t%d\t%d\t%s\t%s\n", rows, col, s, substr(d, length(d) - 3)
}
# try_run(g, a, b, col): the digit groups g[a..b] written with single spaces or dashes between.
# Every span of whole groups of MIN..MAX digits is tried, first from the left; in a run of more
# than MAX digits a span that cuts through a chain of 4-digit groups is not (it is a piece of
# a longer number written in fours: an account number, an IBAN without its country code).
function try_run(g, a, b, col,   i, j, d, s, total, k) {
  total = 0
  for (k = a; k <= b; k++) { total += length(g[k]); four[k] = length(g[k]) == 4 }
  for (i = a; i <= b; i++) {
    if (total > MAX && i > a && four[i] && four[i - 1]) continue
    d = ""
    for (j = i; j <= b; j++) {
      d = d g[j]
      if (length(d) > MAX) break
      if (length(d) < MIN || (total > MAX && j < b && four[j] && four[j + 1])) continue
      if (luhn(d) && (s = scheme(d)) != "") { found(d, col, s); i = j; break }
    }
  }
}
# scan(v, col): the digit runs of v that have no letter or digit directly before or after (so
# none inside a hex string or an IBAN after its country code), once each UUID is a letter.
function scan(v, col,   digits, n, piece, k, pos, len, before, after, m, g, a, b) {
  digits = v
  if (gsub(/[0-9]/, "", digits) < MIN) return
  if (index(v, "-")) gsub(UUID, "u", v)
  n = split(v, piece, /[^0-9 -]/)
  pos = 1
  for (k = 1; k <= n; k++) {
    len = length(piece[k])
    if (len >= MIN) {
      before = k > 1 ? substr(v, pos - 1, 1) : ""
      after = k < n ? substr(v, pos + len, 1) : ""
      m = split(piece[k], g, /[ -]/)
      for (a = 1; a <= m; a = b + 1) {
        if (g[a] == "") { b = a; continue }
        for (b = a; b < m && g[b + 1] != ""; b++) ;
        if ((a == 1 && before ~ /[A-Za-z]/) || (b == m && after ~ /[A-Za-z]/)) continue
        try_run(g, a, b, col)
      }
    }
    pos += len + 1
  }
}
BEGIN { FS = fs; RS = rs; MIN = """ + str(CARD_MIN_DIGITS) + "; MAX = " + str(CARD_MAX_DIGITS) + r"""
  UUID = """ + f'"{UUID_PATTERN}"' + r""" }
{
  sub(/\n$/, "")  # psql ends its last record with a newline instead of the record separator
  if (NR > max) { more = 1; next }
  rows++
  for (c = 1; c <= NF; c++) if ($c != nullmark) scan($c, c)
}
END {
  printf "rows\t%d\nmore\t%d\ncards\t%d\ncard_rows\t%d\n", rows, more ? 1 : 0, cards, card_rows
  for (s in per) printf "scheme\t%s\t%d\n", s, per[s]
}
"""


def _scan_function(max_rows: int) -> str:
    return (f"scan() {{ awk -v \"fs=$1\" -v \"rs=$2\" -v \"nullmark=$3\" -v max={int(max_rows)} "
            f"-v show={SHOWN_ROWS} {quote(SCAN_AWK)} "
            # Sorted, so that the evidence is the same for the same table.
            "| sort -t \"$(printf '\\t')\" -k1,1 -k2,2n -k3,3n; }")


def _script(params: Params) -> str:
    max_rows = int(params["max_rows"])
    return app_sources.reader_script(params["sources"], max_rows, int(params["query_timeout"]), "scan",
                                     _scan_function(max_rows))


CHECK = Check(
    id="app_data_encryption",
    title="No plaintext payment card numbers in application databases",
    claims=("card-data-encrypted",),
    controls=("ISO27001:2022 A.8.24", "ISO27001:2022 A.5.34", "ISO27001:2022 A.8.11"),
    trend_values=("card_numbers",),
    params=(
        app_sources.sources_param("application database columns to scan: mappings of kind (sqlite, "
                                  "postgres, mysql), query (a SELECT of the columns that might hold card "
                                  "data), path, database, user, name"),
        Param("max_rows", int, 100000, "rows scanned per source", minimum=1),
        app_sources.QUERY_TIMEOUT,
    ),
    probes=(shell("card_scan", _script, root=True),),
)


class Card(NamedTuple):
    """A card number the scanner found: where, which scheme, and its last four digits only."""

    row: int
    column: int
    scheme: str
    last4: str


class Scan(NamedTuple):
    """What the scanner printed for one source."""

    rows: int  # rows scanned
    more: bool  # the query returned more rows than were scanned
    cards: int  # card numbers found
    card_rows: int  # rows holding one
    by_scheme: dict[str, int]
    shown: list[Card]  # the first few, by row


SCAN_ROWS = {"rows": 1, "more": 1, "cards": 1, "card_rows": 1, "scheme": 2, "card": 4}
_NUMBERS = {"rows": (0,), "more": (0,), "cards": (0,), "card_rows": (0,), "scheme": (1,), "card": (0, 1)}


def read_scan(block: app_sources.SourceBlock, name: str) -> Scan:
    """One source's lines; ValueError names the source and the line it does not understand."""
    text = "\n".join("\t".join(line) for line in block.lines)
    try:
        found = rows(text, "card_scan", SCAN_ROWS)
        if bad := next((r for r in found if not all(r.fields[i].isdigit() for i in _NUMBERS[r.tag])), None):
            raise unexpected("card_scan", "\t".join((bad.tag, *bad.fields)))
    except UnexpectedLine as exc:
        raise ValueError(f"{name}: {exc}") from exc
    facts = {r.tag: int(r.fields[0]) for r in found if r.tag in ("rows", "more", "cards", "card_rows")}
    if "rows" not in facts or "cards" not in facts:
        raise ValueError(f"{name}: no row count (scanner cut short?)")
    by_scheme: dict[str, int] = {}
    for r in found:
        if r.tag == "scheme":
            by_scheme[r.fields[0]] = by_scheme.get(r.fields[0], 0) + int(r.fields[1])
    return Scan(facts["rows"], bool(facts.get("more")), facts["cards"], facts.get("card_rows", 0), by_scheme,
                [Card(int(r.fields[0]), int(r.fields[1]), r.fields[2], r.fields[3])
                 for r in found if r.tag == "card"])


def _judge_source(scan: Scan, name: str, stopped: str, findings: Findings) -> None:
    """The card numbers found in one source that was read."""
    more = f" (first {scan.rows} rows scanned; there are more)" if scan.more else ""
    findings.note(f"{name}: {scan.rows} row(s) scanned{more}, {scan.cards} card number(s)")
    if not scan.cards:
        return
    # A query that failed or timed out after some rows: what was found stands, as a floor.
    at_least = "at least " if stopped else ""
    rows_named = sorted({card.row for card in scan.shown})
    listed = ", ".join(map(str, rows_named)) + (" …" if scan.card_rows > len(rows_named) else "")
    why = f" (query stopped: {stopped.removeprefix(name + ': ')})" if stopped else ""
    findings.fail(f"{name}: {at_least}{scan.cards} card number(s) in plaintext in {scan.card_rows} row(s) "
                  f"(rows {listed}){why}")
    for card in scan.shown:
        findings.note(f"{name}: row {card.row} column {card.column}: {card.scheme} ending {card.last4}")


def evaluate(out: Outputs, params: Params) -> Result:
    sources = list(params["sources"])
    if not sources:
        return result(Status.SKIP, "no application database configured; set vars.app_data_encryption.sources")
    evidence = ["card_scan"]
    try:
        _, blocks = app_sources.parse_blocks(out.require("card_scan").stdout)
        if missing := app_sources.missing_sources([b.index for b in blocks], len(sources)):
            return result(Status.ERROR, missing, evidence=evidence)
        findings = Findings()
        scans: list[Scan] = []
        partial: list[str] = []  # sources with more rows than max_rows
        stopped_with_cards = False
        for block, source in zip(blocks, sources, strict=True):
            name = app_sources.source_name(source, block.index)
            stopped = block.unreadable_reason(name) if block.status != "ok" else ""
            if stopped and not block.lines:  # the client never ran: nothing was scanned
                findings.unknown(stopped)
                continue
            scan = read_scan(block, name)
            scans.append(scan)
            if stopped and not scan.cards:
                findings.unknown(stopped)
            elif scan.more and not scan.rows:
                findings.unknown(f"{name}: no row scanned although the query returned rows")
            else:
                partial += [name] if scan.more else []
                stopped_with_cards = stopped_with_cards or bool(stopped)
                _judge_source(scan, name, stopped, findings)
    except ValueError as exc:
        return result(Status.ERROR, f"could not read the scanner's output: {exc}", evidence=evidence)

    by_scheme: dict[str, int] = {}
    for scan in scans:
        for scheme, n in scan.by_scheme.items():
            by_scheme[scheme] = by_scheme.get(scheme, 0) + n
    cards, rows_scanned = sum(s.cards for s in scans), sum(s.rows for s in scans)
    at_least = "at least " if stopped_with_cards else ""
    return findings.result(
        evidence=evidence,
        ok_summary=f"no payment card number in {rows_scanned} row(s) of {len(sources)} source(s)"
                   + app_sources.sampled_note(params["max_rows"], partial, "scanned"),
        fail_prefix=f"{at_least}{cards} payment card number(s) stored in plaintext: ",
        error_prefix=f"{{n}} of {len(sources)} source(s) could not be read: ",
        fail_suffix=app_sources.unjudged_note(findings.errors),
        card_numbers=cards, rows_with_card_numbers=sum(s.card_rows for s in scans), rows_scanned=rows_scanned,
        card_numbers_by_scheme=dict(sorted(by_scheme.items())), unreadable_sources=len(findings.errors))
