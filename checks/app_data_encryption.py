"""Payment card numbers are not stored in plaintext in application databases.

Reads the configured columns of each application database with the host's own client,
read-only (`auditor.parsers.app_sources`: `sqlite3 -readonly`, psql in a read-only
transaction, a READ ONLY mysql session), and scans every value of every returned column on
the host with an awk program for primary account numbers (PANs): 13–19 digits, written
together or in groups separated by single spaces or dashes (`dddd dddd dddd dddd`,
`dddd-dddd-dddd-dddd`), that pass the Luhn check and start with the issuer range of a real
card scheme at a length that scheme issues: Visa (4; 13, 16, 19 digits), Mastercard
(51–55, 2221–2720; 16), American Express (34, 37; 15), Discover (6011, 644–649, 65,
622126–622925; 16–19), JCB (3528–3589; 16–19), Diners Club (300–305, 3095, 36, 38, 39;
14–19), UnionPay (62; 16–19), Mir (2200–2204; 16–19) and Maestro (5018, 5020, 5038,
5893, 6304, 6759, 6761–6763; 13–19). A longer unbroken digit run (an order id, an IBAN's
digits) is not a card number; in a grouped run every span of whole groups is tried.

Only counts, row and column numbers, the scheme and the last four digits leave the host
(PCI DSS 3.4 allows showing at most the first six and last four; this shows less) — never a
card number.

Sources (`vars.app_data_encryption.sources`), the same shape as app_password_hashing's:

    - {name: orders, kind: sqlite, path: /srv/shop/app.db,
       query: "SELECT card_number, notes FROM payments"}
    - {name: billing, kind: postgres, database: billing, user: postgres,
       query: "SELECT pan FROM cards"}

Pass: no card number in any configured source (the summary states how many rows were
scanned). Fail: card numbers found, per source with their count and rows; a source that
could not be read is named too; a query that fails or times out after card numbers were
seen fails with "at least N" and the reason it stopped. Error: a source that cannot be
read (file missing, client missing, query error, timeout), when nothing else fails.
Skip: no source configured.

Blind spots: only the first `max_rows` rows of each source are scanned (the summary says
when there were more); a column that stores card numbers encrypted, tokenised or
truncated passes, which is the point — but so does one that stores them in a format this
scan does not read (base64 of the digits, digits split across columns, separators other
than one space or dash); test card numbers in a development table fail like real ones;
a Luhn-valid number in a card range that is not a card (some 16-digit ids are) fails: name
such columns out of the query.
"""

from __future__ import annotations

from typing import Any

from auditor.check import Check, Outputs, Param, Params, Result, Status, result
from auditor.parsers import app_sources
from auditor.probes import quote, shell

SHOWN_ROWS = 10  # rows named per source

# A POSIX awk program (mawk, gawk, busybox): reads the client's rows, prints per source
# `rows N`, `more 0|1`, `cards N`, `card_rows N`, `scheme NAME N` and, for the first
# `show` card numbers, `card ROW COLUMN SCHEME LAST4`. Never a card number.
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
function scheme(d,   l, p2, p3, p4, p6) {
  l = length(d); p2 = substr(d, 1, 2) + 0; p3 = substr(d, 1, 3) + 0
  p4 = substr(d, 1, 4) + 0; p6 = substr(d, 1, 6) + 0
  if (substr(d, 1, 1) == "4") return (l == 13 || l == 16 || l == 19) ? "Visa" : ""
  if (within(p2, 51, 55) || within(p4, 2221, 2720)) return l == 16 ? "Mastercard" : ""
  if (p2 == 34 || p2 == 37) return l == 15 ? "American Express" : ""
  if (p4 == 6011 || within(p3, 644, 649) || p2 == 65 || within(p6, 622126, 622925))
    return within(l, 16, 19) ? "Discover" : ""
  if (within(p4, 3528, 3589)) return within(l, 16, 19) ? "JCB" : ""
  if (within(p3, 300, 305) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39)
    return within(l, 14, 19) ? "Diners Club" : ""
  if (p2 == 62) return within(l, 16, 19) ? "UnionPay" : ""
  if (within(p4, 2200, 2204)) return within(l, 16, 19) ? "Mir" : ""
  if (p4 == 5018 || p4 == 5020 || p4 == 5038 || p4 == 5893 || p4 == 6304 || p4 == 6759 || \
      within(p4, 6761, 6763)) return within(l, 13, 19) ? "Maestro" : ""
  return ""
}
function found(d, col, s) {
  cards++; per[s]++
  if (!(rows in hit)) { hit[rows] = 1; card_rows++ }
  if (shown++ < show) printf "card\t%d\t%d\t%s\t%s\n", rows, col, s, substr(d, length(d) - 3)
}
function scan(v, col,   run, n, g, i, j, d, s) {
  while (match(v, /[0-9]+([ -][0-9]+)*/)) {
    run = substr(v, RSTART, RLENGTH); v = substr(v, RSTART + RLENGTH)
    n = split(run, g, /[ -]/)
    for (i = 1; i <= n; i++) {
      d = ""
      for (j = i; j <= n; j++) {
        d = d g[j]
        if (length(d) > 19) break
        if (length(d) >= 13 && luhn(d) && (s = scheme(d)) != "") { found(d, col, s); i = j; break }
      }
    }
  }
}
BEGIN { FS = fs; RS = rs }
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
    params=(
        app_sources.sources_param("application database columns to scan: mappings of kind (sqlite, "
                                  "postgres, mysql), query (a SELECT of the columns that might hold card "
                                  "data), path, database, user, name"),
        Param("max_rows", int, 100000, "rows scanned per source"),
        Param("query_timeout", int, 120, "seconds each query may take (with timeout(1), where present)"),
    ),
    probes=(shell("card_scan", _script, root=True),),
)


def _count(line: list[str], where: str) -> int:
    try:
        return int(line[1])
    except (IndexError, ValueError) as exc:
        raise ValueError(f"{where}: unexpected line {chr(9).join(line)[:80]!r}") from exc


def evaluate(out: Outputs, params: Params) -> Result:
    sources = list(params["sources"])
    if not sources:
        return result(Status.SKIP, "no application database configured; set vars.app_data_encryption.sources")
    evidence = ["card_scan"]
    try:
        _, blocks = app_sources.parse_blocks(out.require("card_scan").stdout)
        if [b.index for b in blocks] != list(range(len(sources))):
            return result(Status.ERROR, f"the probe reported {len(blocks)} of {len(sources)} source(s) "
                          "(cut short?)", evidence=evidence)
        found: list[str] = []
        unreadable: list[str] = []
        partial: list[str] = []
        details: list[str] = []
        by_scheme: dict[str, int] = {}
        rows_scanned = cards_total = card_rows_total = 0
        for block, source in zip(blocks, sources, strict=True):
            name = app_sources.source_name(source, block.index)
            stopped = block.unreadable_reason(name) if block.status != "ok" else ""
            if stopped and not block.lines:  # the client never ran: nothing was scanned
                unreadable.append(stopped)
                continue
            facts: dict[str, int] = {}
            shown: list[str] = []
            for line in block.lines:
                if line[0] in ("rows", "more", "cards", "card_rows"):
                    facts[line[0]] = _count(line, name)
                elif line[0] == "scheme" and len(line) == 3 and line[2].isdigit():
                    by_scheme[line[1]] = by_scheme.get(line[1], 0) + int(line[2])
                elif line[0] == "card" and len(line) == 5 and line[1].isdigit() and line[2].isdigit():
                    shown.append(f"row {line[1]} column {line[2]}: {line[3]} ending {line[4]}")
                else:
                    raise ValueError(f"{name}: unexpected line {chr(9).join(line)[:80]!r}")
            if "rows" not in facts or "cards" not in facts:
                raise ValueError(f"{name}: no row count (scanner cut short?)")
            rows, cards, card_rows = facts["rows"], facts["cards"], facts.get("card_rows", 0)
            rows_scanned += rows
            cards_total += cards
            card_rows_total += card_rows
            if stopped and not cards:
                unreadable.append(stopped)
                continue
            if facts.get("more") and not rows:
                unreadable.append(f"{name}: no row scanned although the query returned rows")
                continue
            if facts.get("more"):
                partial.append(name)
            more = f" (first {rows} rows scanned; there are more)" if facts.get("more") else ""
            details.append(f"{name}: {rows} row(s) scanned{more}, {cards} card number(s)")
            if cards:
                # A query that failed or timed out after some rows: what was found stands, as a floor.
                at_least = "at least " if stopped else ""
                rows_named = sorted({int(s.split()[1]) for s in shown})
                found.append(f"{name}: {at_least}{cards} card number(s) in plaintext in {card_rows} row(s) "
                             "(rows " + ", ".join(map(str, rows_named))
                             + (" …" if card_rows > len(rows_named) else "") + ")"
                             + (f" (query stopped: {stopped.removeprefix(name + ': ')})" if stopped else ""))
                details += [f"{name}: {s}" for s in shown]
    except ValueError as exc:
        return result(Status.ERROR, f"could not read the scanner's output: {exc}", evidence=evidence)

    values: dict[str, Any] = {"card_numbers": cards_total, "rows_with_card_numbers": card_rows_total,
                              "rows_scanned": rows_scanned,
                              "card_numbers_by_scheme": dict(sorted(by_scheme.items())),
                              "unreadable_sources": len(unreadable)}
    unread_note = f"; {len(unreadable)} source(s) could not be read: {unreadable[0]}" if unreadable else ""
    if found:
        at_least = "at least " if any("(query stopped: " in f for f in found) else ""
        return result(Status.FAIL, f"{at_least}{cards_total} payment card number(s) stored in plaintext: "
                      + "; ".join(found[:3]) + (" …" if len(found) > 3 else "") + unread_note,
                      found + unreadable + details, evidence, **values)
    if unreadable:
        return result(Status.ERROR, f"{len(unreadable)} of {len(sources)} source(s) could not be read: "
                      + "; ".join(unreadable[:3]), unreadable + details, evidence, **values)
    sampled_note = (f"; only the first {params['max_rows']} rows of {', '.join(partial)} were scanned"
                    if partial else "")
    return result(Status.PASS, f"no payment card number in {rows_scanned} row(s) of {len(sources)} "
                  f"source(s){sampled_note}", details, evidence, **values)
