"""controls.csv: the ISO 27001:2022 controls matrix, for a Statement of Applicability annex.

Opens cleanly in a spreadsheet: UTF-8 with a BOM (so Excel reads the encoding), a header
row, RFC 4180 quoting and CRLF line ends, one line per control (multi-valued cells joined
with "; ", line breaks inside a cell flattened). A list longer than a spreadsheet cell holds
(32,767 characters: about 800 evidence files) is replaced by its count and a pointer to
the same row in report.html, which lists it whole. Control characters (NUL, tab, escape, C1,
bidi overrides: `visible.UNSAFE`) are dropped, and a cell that a spreadsheet would read as a
formula (starting with = + - @ after any leading blanks) gets a leading single quote, because
host names, claim ids and paths are not ours to trust.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

from auditor.policy.verdicts import REPORT_HTML, ControlRow
from auditor.report.visible import UNSAFE

BOM = "\ufeff"
HEADER = ("control", "name", "result", "claims", "checks", "hosts_passed", "hosts_failed", "hosts_error",
          "hosts_manual", "hosts_waived", "hosts_not_applicable", "failed_on", "error_on", "evidence",
          "report", "advisories", "advisory_on", "checks_not_applicable")
_FORMULA_STARTS = ("=", "+", "-", "@")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\t]")  # a tab becomes a blank too: it would split the cell on paste
CELL_LIMIT = 32767  # characters in one Excel / LibreOffice cell


def cell(value: object) -> str:
    """A value as a spreadsheet-safe cell: one line, no control characters, never a formula."""
    # visible's characters (C0, C1, bidi overrides, lone surrogates...) are dropped: a cell has no escapes
    text = UNSAFE.sub("", _LINE_BREAKS.sub(" ", str(value)))
    # Spreadsheets skip leading blanks before deciding that a cell is a formula
    return "'" + text if text.lstrip().startswith(_FORMULA_STARTS) else text


def row(control: ControlRow) -> tuple[str, ...]:
    where = f"{REPORT_HTML}#{control.anchor}"

    def joined(values: Sequence[str], what: str) -> str:
        text = "; ".join(values)
        return text if len(text) < CELL_LIMIT else f"{len(values)} {what}, too many for one cell: see {where}"

    hosts = control.hosts
    values: tuple[object, ...] = (
        control.control, control.title, control.result, joined(control.claims, "claims"),
        joined(control.checks, "checks"),
        hosts["pass"], hosts["fail"], hosts["error"], hosts["manual"], hosts["waived"], hosts["skip"],
        joined(control.failed_on, "hosts"), joined(control.error_on, "hosts"),
        joined(control.evidence, "evidence files"), where,
        control.advisories_text(), joined(control.advisory_on, "hosts"), joined(control.not_judged, "checks"),
    )
    return tuple(cell(v) for v in values)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A spreadsheet file's text: the BOM, the header, the rows (cells already through `cell`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180: CRLF, quotes doubled
    writer.writerow(header)
    writer.writerows(rows)
    return BOM + buffer.getvalue()


def render(rows: Sequence[ControlRow]) -> str:
    return table(HEADER, (row(r) for r in rows))
