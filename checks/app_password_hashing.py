"""Application user passwords are stored as salted, slow hashes.

Reads: a sample of the password column of each configured application database, with the
host's own CLI, read-only (`sqlite3 -readonly -safe`; `psql` with
`default_transaction_read_only=on`; `mysql` with `SET SESSION TRANSACTION READ ONLY`), and
classifies every value on the host with an awk program (`auditor.parsers.app_hashes`).

Sources (`vars.app_password_hashing.sources`), one mapping each:

    - {name: shop users, kind: sqlite, path: /srv/shop/app.db,
       query: "SELECT email, password FROM users"}
    - {name: crm, kind: postgres, database: crm, user: postgres, path: /var/run/postgresql,
       query: "SELECT username, password_hash FROM accounts"}
    - {kind: mysql, database: wp, query: "SELECT user_login, user_pass FROM wp_users"}

`kind` is sqlite, postgres or mysql; `query` returns the password as its last column, and
optionally a login name first (named in the report for failing rows where that is safe).
sqlite: `path` is the database file. postgres: `database` is psql's -d (a name or a
connection string without a password: use peer auth or ~/.pgpass) and `path` the socket
directory or host. mysql: `database`, and `path` the socket. `user` runs the CLI as that
OS account (`runuser`), for peer/socket authentication. The query is wrapped as
`SELECT * FROM (query) AS audited_rows LIMIT max_rows+1`, so it must be a plain SELECT.

Passes when: every value is argon2, bcrypt, scrypt, pbkdf2 (Django, passlib, werkzeug, LDAP
`{PBKDF2*}`, Dovecot, Atlassian `{PKCS5S2}`) with at least `min_pbkdf2_iterations`, or a
salted slow crypt(3) scheme (yescrypt, sha512crypt, sha256crypt, scrypt), and no two
rows hold the same value.

Fails when: values are unsalted MD5/SHA digests, salted single fast hashes
(Django md5$/sha1$, LDAP {SSHA}), md5crypt, DES, MySQL PASSWORD(), PBKDF2 values that do
not store their iteration count (werkzeug `pbkdf2:sha256$` without `:N`: its strength is
the library default, unknown), empty values, values cut short, plaintext or any
unrecognised format, or two rows share one value (a salt would make them differ). NULL
and unusable-password markers (`!`, Django's `!`+40) are counted as "no password set".

Error/Manual: a source that cannot be read (file missing, CLI missing, query error,
timeout) → error naming it; a fail elsewhere still fails. No source configured, or no
source holding a single password value → skip.

Secrets: only counts per scheme, the number of values identical to another row's value,
the lowest PBKDF2 iteration count and the row numbers of failing rows leave the host —
never a hash, never a password.

Blind spots: only the first `max_rows` rows are judged (the summary says when there were
more); a hash format this tool does not know fails as "unrecognised"; a column that holds
encrypted (not hashed) passwords in base64 looks like plaintext; the strength of bcrypt,
argon2 and scrypt cost parameters is not judged; a sqlite database in WAL mode is opened
immutable when no -wal or -shm file is beside it (so nothing is written), and as usual when
they are (the application has it open; the open writes to its -shm); MySQL sources have not been tested
against a real server here (NULL and the string 'NULL' look alike in its batch output).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import app_hashes, app_sources
from auditor.probes import shell

SHOWN_ROWS = 5  # failing rows named per scheme and source


def _script(params: Params) -> str:
    max_rows = int(params["max_rows"])
    return app_sources.reader_script(params["sources"], max_rows, int(params["query_timeout"]), "classify",
                                     app_hashes.classify_function(max_rows, SHOWN_ROWS))


CHECK = Check(
    id="app_password_hashing",
    trend_values=("weak_values", "values_by_scheme"),
    title="Application passwords are stored as salted, slow hashes",
    claims=("salted-password-hashing",),
    controls=("ISO27001:2022 A.8.5", "ISO27001:2022 A.5.17", "ISO27001:2022 A.8.24"),
    params=(
        app_sources.sources_param("application databases to sample: mappings of kind (sqlite, postgres, "
                                  "mysql), query (a SELECT returning [login,] password), path, database, "
                                  "user, name"),
        Param("max_rows", int, 10000, "rows sampled per source", minimum=1),
        Param("min_pbkdf2_iterations", int, 10000,
              "lowest PBKDF2 iteration count accepted (NIST SP 800-63B's floor)", minimum=1),
        app_sources.QUERY_TIMEOUT,
    ),
    probes=(shell("classify", _script, root=True),),
)


def _counted(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _named(report: app_hashes.SourceReport) -> dict[str, int]:
    """A source's counts by scheme name."""
    return {app_hashes.scheme(t).name: n for t, n in report.counts.items()}


def _judge_source(report: app_hashes.SourceReport, name: str, floor: int, findings: Findings) -> None:
    """The rules on one source that was read: weak schemes, shared values, PBKDF2 iterations."""
    named = _named(report)
    more = f" (first {report.rows} rows sampled; there are more)" if report.more_rows else ""
    findings.note(f"{name}: {report.rows} row(s){more}: {_counted(named) or 'no rows'}")
    weak = {t: n for t, n in report.counts.items() if not app_hashes.scheme(t).strong}
    if weak:
        findings.fail(f"{name}: " + _counted({app_hashes.scheme(t).name: n for t, n in weak.items()}))
    for token, n in sorted(weak.items()):
        scheme = app_hashes.scheme(token)
        rows = [r.label for r in report.failing_rows if r.token == token]
        findings.note(f"{name}: {n} {scheme.name} ({scheme.why}): " + ", ".join(rows)
                      + (" …" if n > len(rows) else ""))
    if report.duplicate_values:
        findings.fail(f"{name}: {report.duplicate_values} values identical to another row's")
        findings.note(f"{name}: {report.duplicate_groups} group(s) of identical values: no per-row "
                      "salt, or one hash copied to several accounts")
        for _, labels in sorted(report.duplicate_rows.items()):
            findings.note(f"{name}: identical values in " + ", ".join(labels))
    if report.pbkdf2_min_iterations is not None:
        line = f"{name}: lowest PBKDF2 iteration count {report.pbkdf2_min_iterations}"
        if report.pbkdf2_min_iterations < floor:
            findings.fail(f"{line}, below {floor}")
        else:
            findings.note(line)


def evaluate(out: Outputs, params: Params) -> Result:
    sources = list(params["sources"])
    if not sources:
        return result(Status.SKIP,
                      "no application database configured; set vars.app_password_hashing.sources")
    evidence = ["classify"]
    try:
        reports = app_hashes.parse(out.require("classify").stdout)
    except ValueError as exc:
        return result(Status.ERROR, f"could not read the classifier's output: {exc}", evidence=evidence)
    if missing := app_sources.missing_sources([r.index for r in reports], len(sources)):
        return result(Status.ERROR, missing, evidence=evidence)

    findings = Findings()
    read: list[app_hashes.SourceReport] = []
    partial: list[str] = []  # sources with more rows than max_rows
    for report, source in zip(reports, sources, strict=True):
        name = app_sources.source_name(source, report.index)
        if report.status != "ok":
            findings.unknown(report.unreadable_reason(name))
            continue
        read.append(report)
        partial += [name] if report.more_rows else []
        _judge_source(report, name, int(params["min_pbkdf2_iterations"]), findings)

    by_scheme: dict[str, int] = {}
    for report in read:
        for scheme_name, n in _named(report).items():
            by_scheme[scheme_name] = by_scheme.get(scheme_name, 0) + n
    sampled = sum(r.rows for r in read)
    stored = sum(n for r in read for t, n in r.counts.items() if not app_hashes.scheme(t).no_password)
    values: dict[str, Any] = {
        "values_by_scheme": dict(sorted(by_scheme.items())),
        "weak_values": sum(n for r in read for t, n in r.counts.items() if not app_hashes.scheme(t).strong),
        "duplicate_values": sum(r.duplicate_values for r in read), "rows_sampled": sampled,
        "unreadable_sources": len(findings.errors)}
    if findings.status() is Status.PASS and not stored:
        return result(Status.SKIP, f"no password values in the configured source(s): {sampled} row(s), none "
                      "holding a password", findings.notes, evidence, **values)
    no_password = {app_hashes.scheme(t).name for t in ("null", "unusable")}
    strong = {n: c for n, c in by_scheme.items() if n not in no_password}
    return findings.result(
        evidence=evidence,
        ok_summary=f"{stored} password value(s) in {len(sources)} source(s), all salted slow hashes, none "
                   f"repeated: {_counted(strong)}"
                   + app_sources.sampled_note(params["max_rows"], partial, "sampled"),
        fail_prefix="{n} problem(s): ",
        error_prefix=f"{{n}} of {len(sources)} source(s) could not be read: ",
        fail_suffix=app_sources.unjudged_note(findings.errors),
        **values)
