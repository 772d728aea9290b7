"""Application database sources: reading a configured query, read-only, with the host's own client.

Checks that look inside application tables (app_password_hashing, app_data_encryption,
data_retention) take the same `sources` parameter and read it the same way; this module is
that one way. Each source is a mapping:

    {name: shop users, kind: sqlite, path: /srv/shop/app.db, query: "SELECT ..."}
    {name: crm, kind: postgres, database: crm, user: postgres, path: /var/run/postgresql, query: ...}
    {kind: mysql, database: wp, path: /run/mysqld/mysqld.sock, query: ...}

sqlite: `path` is the database file, opened with `sqlite3 -readonly` (and `-safe` where
the CLI has it); a WAL-mode file with no -wal or -shm file beside it is opened as
`file:PATH?immutable=1`, because a read-only open of it would create both (with them
present, the application has it open and the open is as usual, writing to its -shm).
postgres: `database` is psql's -d (a name or a connection string without a password: use
peer auth or ~/.pgpass), `path` the socket directory or host, and the session runs with
`default_transaction_read_only=on`, `DateStyle=ISO`, `TimeZone=UTC` and
`statement_timeout` set to the query timeout. mysql: `database`, `path` the socket, in a
`SET SESSION TRANSACTION READ ONLY` session with `time_zone = '+00:00'`. `user` runs the
client as that OS account (`runuser`), for peer/socket authentication. The query is
wrapped as `SELECT * FROM (query) AS audited_rows LIMIT max_rows+1`, so it must be a plain
SELECT.

The rows never reach the probe's output: the client's stdout is piped into a *consumer*,
a shell function the check defines (an awk program that reduces them on the host), called
as `CONSUMER FS RS NULL` with the awk escapes of the client's field and record separators
and NULL marker. The probe prints, per source, `source\\tINDEX`, then whatever the
consumer prints, then `status\\tSTATUS\\tRC\\tFIRST-STDERR-LINE` with STATUS one of ok,
missing, unreadable, no-cli, failed, timeout.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.check import Param
from auditor.probes import quote

KINDS = ("sqlite", "postgres", "mysql")
SOURCE_KEYS = ("name", "kind", "path", "database", "query", "user")
# 12 or more digits, together or split by single spaces or dashes: what a card number (or any
# other long number) in a client's error message looks like. POSIX ERE, for sed -E.
DIGIT_RUN_ERE = "[0-9]([ -]?[0-9]){11,}"
# A syntax error may come from the wrapping, not the query: say how the query is run.
_SYNTAX_ERROR = re.compile(r"syntax error|error in your SQL syntax", re.IGNORECASE)
SYNTAX_HINT = (" (the query runs as a subquery, SELECT * FROM (query) AS audited_rows ...: it must be one "
               "SELECT, with no ';' inside or before a trailing comment)")
STATUS_TEXT = {"missing": "database file not found", "unreadable": "database file not readable",
               "no-cli": "client not installed", "failed": "query failed", "timeout": "query timed out"}


def sources_param(doc: str, extra_keys: Mapping[str, type] | None = None) -> Param:
    """The `sources` parameter, with the keys every source may carry (plus typed `extra_keys`)."""
    extra = dict(extra_keys or {})
    return Param("sources", list, [], doc, item_keys=SOURCE_KEYS + tuple(extra),
                 required_item_keys=("kind", "query"),
                 item_types={**dict.fromkeys(SOURCE_KEYS, str), **extra}, item_choices={"kind": KINDS},
                 secret=True)  # `database` may be a connection string with a password


QUERY_TIMEOUT = Param("query_timeout", int, 120,
                      "seconds each query may take (with timeout(1), where present)", minimum=1)


def source_name(source: Any, index: int) -> str:
    """The name a report uses for a source: its `name`, else kind and file or database."""
    if not isinstance(source, Mapping):
        return f"source {index + 1}"
    where = source.get("path") if source.get("kind") == "sqlite" else source.get("database")
    return str(source.get("name") or f"{source.get('kind')}:{where or '?'}")


def statement(query: str, max_rows: int, order_by_first: bool = False) -> str:
    """The operator's SELECT wrapped in a row limit (and, if asked, sorted by its first column)."""
    body = query.strip().rstrip(";").strip()
    order = " ORDER BY 1" if order_by_first else ""
    # Newlines, so that a trailing -- comment in the query cannot swallow the wrapper.
    return f"SELECT * FROM (\n{body}\n) AS audited_rows{order} LIMIT {max_rows + 1}"  # noqa: S608 -- operator's own query


def source_lines(index: int, source: Any, max_rows: int, *, order_by_first: bool = False,
                 query_timeout: int = 120) -> list[str]:
    """Shell lines reading one source into the consumer; ValueError for a malformed source."""
    if not isinstance(source, Mapping):
        raise ValueError(f"sources[{index}] must be a mapping with kind and query, got {source!r}")
    kind, query = source.get("kind"), source.get("query")
    if kind not in KINDS:
        raise ValueError(f"sources[{index}].kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"sources[{index}].query must be a SELECT statement")
    path, database, user = source.get("path"), source.get("database"), source.get("user")
    for key, value in (("path", path), ("database", database), ("user", user)):
        # sqlite3's file and mysql's database are positional: "--init-command=..." would be an option.
        if value is not None and str(value).startswith("-"):
            raise ValueError(f"sources[{index}].{key} must not start with '-' (the client would read it as "
                             f"an option), got {value!r}")
    sql = quote(statement(query, max_rows, order_by_first))
    as_user = f"runuser -u {quote(str(user))} -- " if user else ""
    lines = [f"printf 'source\\t%s\\n' {index}"]
    if kind == "sqlite":
        if not path:
            raise ValueError(f"sources[{index}]: a sqlite source needs path")
        db = quote(str(path))
        immutable = quote(f"file:{urllib.parse.quote(str(path), safe='/')}?immutable=1")
        lines += [
            "if ! command -v sqlite3 >/dev/null 2>&1; then no_cli sqlite3",
            f"elif [ ! -e {db} ]; then printf 'status\\tmissing\\t\\t\\n'",
            f"elif [ ! -r {db} ]; then printf 'status\\tunreadable\\t\\t\\n'",
            # A WAL-mode database (header bytes 18-19 = 2) opened even read-only gets its -wal and
            # -shm files created. With neither there, every change is in the file itself: open it
            # immutable, which writes nothing. With them there, the application has it open.
            f"else sqlite_db={db}; if [ \"$(od -An -tu1 -j18 -N2 {db} 2>/dev/null | tr -d ' \\n')\" = 22 ] "
            f"&& [ ! -e {quote(str(path) + '-wal')} ] && [ ! -e {quote(str(path) + '-shm')} ]; "
            f"then sqlite_db={immutable}; fi",
            f"run '\\037' '\\036' '\\035' $TO {as_user}sqlite3 $SAFE -readonly -batch -bail -noheader "
            f"-list -separator \"$US\" -newline \"$RS\" -nullvalue \"$NUL\" -cmd '.timeout 5000' "
            f"\"$sqlite_db\" {sql}",
            "fi",
        ]
    elif kind == "postgres":
        target = (f" -h {quote(str(path))}" if path else "") \
            + (f" -d {quote(str(database))}" if database else "")
        lines += [
            "if ! command -v psql >/dev/null 2>&1; then no_cli psql",
            # ISO dates in UTC whatever the server's or role's DateStyle and TimeZone, and the
            # server's own statement timeout too (timeout(1) may be missing).
            f"else run '\\037' '\\036' '\\035' $TO {as_user}env "
            f"PGOPTIONS='-c default_transaction_read_only=on -c DateStyle=ISO -c TimeZone=UTC "
            f"-c statement_timeout={int(query_timeout)}s' psql -X -w -q -A -t -F \"$US\" -R \"$RS\" "
            f"-P \"null=$NUL\" -v ON_ERROR_STOP=1{target} -c {sql}",
            "fi",
        ]
    else:
        target = (f" --socket={quote(str(path))}" if path else "") \
            + (f" {quote(str(database))}" if database else "")
        # DATETIME and TIMESTAMP values in UTC whatever the server's time zone.
        sql = quote("SET time_zone = '+00:00';\n" + statement(query, max_rows, order_by_first))
        lines += [
            "if ! command -v mysql >/dev/null 2>&1; then no_cli mysql",
            # Batch output escapes tabs and newlines in values and prints NULL as NULL.
            f"else run '\\t' '\\n' NULL $TO {as_user}mysql --batch --skip-column-names "
            f"--init-command='SET SESSION TRANSACTION READ ONLY'{target} -e {sql}",
            "fi",
        ]
    return lines


def reader_prelude(consumer: str, consumer_definition: str, query_timeout: int) -> list[str]:
    """Shell lines defining the client settings, `no_cli` and `run`, which pipes into `consumer`."""
    return [
        "export LC_ALL=C",
        "US=$(printf '\\037'); RS=$(printf '\\036'); NUL=$(printf '\\035')",
        f"TO=; if command -v timeout >/dev/null 2>&1; then TO='timeout {int(query_timeout)}'; fi",
        "SAFE=; if command -v sqlite3 >/dev/null 2>&1 && sqlite3 -safe :memory: 'SELECT 1' >/dev/null 2>&1; "
        "then SAFE=-safe; fi",
        consumer_definition,
        "no_cli() { printf 'status\\tno-cli\\t\\t%s is not installed\\n' \"$1\"; }",
        # run FS RS NULL CMD...: the client's rows go through the consumer (to fd 3, the probe's
        # stdout); its stderr and exit code come back through fd 4 into $res.
        "run() {",
        "  fs=$1 rs=$2 nul=$3; shift 3",
        "  res=$( { { \"$@\" 2>&4; printf '\\nrc=%s\\n' \"$?\" >&4; } "
        f"| {consumer} \"$fs\" \"$rs\" \"$nul\" >&3; }} 4>&1 )",
        "  rc=${res##*rc=}",
        # The client's error line may quote a value of the row it stopped at (psql: invalid
        # input syntax for type bigint: "4111 1111 ..."): digit runs of card length are masked
        # here, before anything leaves the host.
        "  err=$(printf '%s\\n' \"${res%rc=*}\" | grep -v '^[[:space:]]*$' | head -n 1 "
        f"| sed -E 's/{DIGIT_RUN_ERE}/<digits>/g' | cut -c1-200 | tr '\\t' ' ')",
        "  case $rc in 0) st=ok ;; 124) st=timeout ;; *) st=failed ;; esac",
        "  printf 'status\\t%s\\t%s\\t%s\\n' \"$st\" \"$rc\" \"$err\"",
        "}",
        "exec 3>&1",
    ]


def reader_script(sources: Sequence[Any], max_rows: int, query_timeout: int, consumer: str,
                  consumer_definition: str, *, order_by_first: bool = False,
                  before_source: Sequence[str] = ()) -> str:
    """The whole probe: prelude, then each source's lines (each preceded by `before_source[i]`).

    ValueError for max_rows or query_timeout below 1: no row read would pass as "nothing
    found", and sqlite reads LIMIT -1 as no limit at all.
    """
    for key, value in (("max_rows", max_rows), ("query_timeout", query_timeout)):
        if value < 1:
            raise ValueError(f"{key} must be at least 1, got {value}")
    if not sources:  # the checks skip unread: no sqlite3 -safe test, no clock, no process
        return "exit 0"
    lines = reader_prelude(consumer, consumer_definition, query_timeout)
    for index, source in enumerate(sources):
        if before_source:
            lines.append(before_source[index])
        lines += source_lines(index, source, max_rows, order_by_first=order_by_first,
                              query_timeout=query_timeout)
    lines.append("exit 0")
    return "\n".join(lines)


@dataclass
class SourceBlock:
    """One source's part of the probe output: its status and the consumer's lines."""

    index: int
    status: str = ""  # ok | missing | unreadable | no-cli | failed | timeout
    rc: int | None = None
    message: str = ""
    lines: list[list[str]] = field(default_factory=list)  # the consumer's lines, split on tabs

    def unreadable_reason(self, name: str) -> str:
        return unreadable_reason(name, self.status, self.rc, self.message)


def unreadable_reason(name: str, status: str, rc: int | None, message: str) -> str:
    """Why a source could not be read, for a report: "NAME: query failed, exit 1: MESSAGE"."""
    reason = STATUS_TEXT.get(status, status)
    exit_text = f", exit {rc}" if rc not in (None, 0) else ""
    hint = SYNTAX_HINT if status == "failed" and _SYNTAX_ERROR.search(message) else ""
    return f"{name}: {reason}{exit_text}" + (f": {message}" if message else "") + hint


def missing_sources(reported: Sequence[int], configured: int) -> str:
    """The error when the probe did not report each configured source in order; "" when it did."""
    if list(reported) == list(range(configured)):
        return ""
    return f"the probe reported {len(reported)} of {configured} source(s) (cut short?)"


def unjudged_note(problems: Sequence[str], verb: str = "read") -> str:
    """The summary's tail naming the first source that could not be read (or judged)."""
    return f"; {len(problems)} source(s) could not be {verb}: {problems[0]}" if problems else ""


def sampled_note(max_rows: int, partial: Sequence[str], verb: str) -> str:
    """The summary's tail naming the sources with more rows than max_rows."""
    return f"; only the first {max_rows} rows of {', '.join(partial)} were {verb}" if partial else ""


def parse_blocks(text: str, preamble_keys: tuple[str, ...] = ()
                 ) -> tuple[dict[str, list[str]], list[SourceBlock]]:
    """Lines before the first source whose key is in `preamble_keys`, and each source's block.

    ValueError on output before the first source that is not a preamble line, and on a
    source with no status line (the probe was cut short).
    """
    preamble: dict[str, list[str]] = {}
    blocks: list[SourceBlock] = []
    for line in text.splitlines():
        if not line:
            continue
        kind, _, rest = line.partition("\t")
        parts = rest.split("\t")
        if kind == "source":
            if not parts[0].isdigit():
                raise ValueError(f"unexpected source line {line[:80]!r}")
            blocks.append(SourceBlock(int(parts[0])))
        elif not blocks:
            if kind not in preamble_keys:
                raise ValueError(f"output before the first source: {line[:80]!r}")
            preamble[kind] = parts
        elif kind == "status":
            block = blocks[-1]
            block.status = parts[0]
            block.rc = int(parts[1]) if len(parts) > 1 and parts[1].lstrip("-").isdigit() else None
            block.message = "\t".join(parts[2:]).strip()
        else:
            blocks[-1].lines.append([kind, *parts])
    for block in blocks:
        if not block.status:
            raise ValueError(f"source {block.index}: no status line (probe cut short?)")
    return preamble, blocks
