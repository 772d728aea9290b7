# shellcheck shell=bash
# Sourced by tests/checks/record_all.sh (uses record, $W, $NOW, $DAY; start_pg of
# record_lib.sh). Real sqlite databases made with Python's sqlite3 whose timestamps are set
# a number of days before $NOW (this machine's clock, which the probe records too), and a
# throw-away PostgreSQL 15 cluster.

# dated_db FILE TABLE DAYS_AGO...: a sqlite table TABLE(id, created_at) with one row per
# DAYS_AGO, in the format $FORMAT: iso (2024-03-01T12:00:00Z), sql (2024-03-01 12:00:00),
# offset (2024-03-01T14:00:00+02:00), epoch (an INTEGER column) or raw (the words as given).
dated_db() {
  FORMAT=${FORMAT:-iso} NOW=$NOW python3 - "$@" <<'PY'
import datetime as dt, os, sqlite3, sys
path, table, ages = sys.argv[1], sys.argv[2], sys.argv[3:]
fmt, now = os.environ["FORMAT"], int(os.environ["NOW"])
db = sqlite3.connect(path)
db.execute(f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, created_at "
           f"{'INTEGER' if fmt == 'epoch' else 'TEXT'})")
for age in ages:
    if fmt == "raw":
        value = None if age == "@NULL" else os.fsencode(age)
        db.execute(f"INSERT INTO {table} (created_at) VALUES (CAST(? AS TEXT))", (value,))
        continue
    when = dt.datetime.fromtimestamp(now - float(age) * 86400, dt.UTC)
    value = {"iso": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "sql": when.strftime("%Y-%m-%d %H:%M:%S"),
             "offset": when.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(timespec="seconds"),
             "epoch": int(when.timestamp())}[fmt]
    db.execute(f"INSERT INTO {table} (created_at) VALUES (?)", (value,))
db.commit()
PY
  chmod 640 "$1"
}

RET_SRC='sources=[{name: marketing consents, kind: sqlite, path: /srv/shop/app.db, query: "SELECT created_at FROM consents", max_age_days: 90}]'
RET_PLANT="planted read-only at /srv/shop/app.db (an overlay of /srv in the namespace), judged with sources=[{name: marketing consents, kind: sqlite, path: /srv/shop/app.db, query: SELECT created_at FROM consents, max_age_days: 90}]"

if command -v sqlite3 >/dev/null; then

dated_db "$W/ret.fresh.db" consents 1 10 45 89.5
record data_retention pass_retention_within_period --plant /srv/shop/app.db="$W/ret.fresh.db" \
  --param "$RET_SRC" \
  --source "A sqlite consents table (Python's sqlite3) with ISO 8601 UTC timestamps (2024-03-01T12:00:00Z form) 1, 10, 45 and 89.5 days before the recording machine's clock; $RET_PLANT" \
  --expect-status pass --expect-summary "no row older than its retention period in 1 source(s) (4 row(s) read)" \
  --expect-value rows_over_period=0 --expect-value oldest_age_days=89.5

dated_db "$W/ret.old.db" consents 10 100 200 400.4 && FORMAT=raw dated_db "$W/ret.old.db" consents @NULL
record data_retention fail_retention_rows_too_old --plant /srv/shop/app.db="$W/ret.old.db" \
  --param "$RET_SRC" \
  --source "A sqlite consents table with ISO 8601 UTC timestamps 10, 100, 200 and 400.4 days before the recording machine's clock, and one NULL; $RET_PLANT" \
  --expect-status fail --expect-summary "marketing consents: 3 row(s) older than 90 days (oldest " \
  --expect-summary ", 400 days)" \
  --expect-value rows_over_period=3 --expect-value oldest_age_days=400.4 --expect-value rows_read=5

FORMAT=epoch dated_db "$W/ret.two.db" accounts 5 700 && FORMAT=offset dated_db "$W/ret.two.db" consents 3 60 \
  && FORMAT=sql dated_db "$W/ret.two.db" tickets 20 29
record data_retention pass_retention_formats_and_periods --plant /srv/shop/app.db="$W/ret.two.db" \
  --param 'sources=[{name: paid accounts, kind: sqlite, path: /srv/shop/app.db, query: "SELECT created_at FROM accounts"}, {name: marketing consents, kind: sqlite, path: /srv/shop/app.db, query: "SELECT created_at FROM consents", max_age_days: 90}, {name: tickets, kind: sqlite, path: /srv/shop/app.db, query: "SELECT created_at FROM tickets", max_age_days: 30}]' \
  --param max_age_days=730 \
  --source "One sqlite database with three tables: accounts with INTEGER Unix epoch seconds 5 and 700 days old (the check's max_age_days=730, the longest period a source may have), consents with ISO 8601 +02:00 offsets 3 and 60 days old (own period 90 days), tickets with SQL DATETIME text (2024-03-01 12:00:00) 20 and 29 days old (own period 30 days); planted read-only at /srv/shop/app.db" \
  --expect-status pass --expect-summary "no row older than its retention period in 3 source(s) (6 row(s) read)" \
  --expect-value oldest_age_days=700.0

# Review R4 finding 1: a source's own period longer than the check's (a claim's) is capped by it
dated_db "$W/ret.capped.db" consents 10 500
record data_retention fail_retention_source_period_over_the_checks --plant /srv/shop/app.db="$W/ret.capped.db" \
  --param 'sources=[{name: marketing consents, kind: sqlite, path: /srv/shop/app.db, query: "SELECT created_at FROM consents", max_age_days: 731}]' \
  --param max_age_days=365 \
  --source "A sqlite consents table with ISO 8601 UTC timestamps 10 and 500 days old, the source's own max_age_days 731 and the check's 365 (as a policy claim sets it); planted read-only at /srv/shop/app.db" \
  --expect-status fail --expect-summary "marketing consents: 1 row(s) older than 365 days (oldest " \
  --expect-value rows_over_period=1 --expect-value oldest_age_days=500.0

dated_db "$W/ret.many.db" consents 400 300 200 100 10
record data_retention fail_retention_sampled_oldest_first --plant /srv/shop/app.db="$W/ret.many.db" \
  --param "$RET_SRC" --param max_rows=2 \
  --source "A sqlite consents table with ISO timestamps 400, 300, 200, 100 and 10 days old (inserted newest last), judged with max_rows=2: the query is wrapped in ORDER BY 1 LIMIT 3, so the two oldest are read; $RET_PLANT" \
  --expect-status fail --expect-summary "marketing consents: at least 2 row(s) older than 90 days" \
  --expect-value rows_read=2 --expect-value oldest_age_days=400.0

FORMAT=raw dated_db "$W/ret.words.db" consents "yesterday" "01/03/2024" "2024-02-30x" && \
  dated_db "$W/ret.words.db" consents 5
record data_retention error_retention_unparseable --plant /srv/shop/app.db="$W/ret.words.db" \
  --param "$RET_SRC" \
  --source "A sqlite consents table whose created_at text holds 'yesterday', '01/03/2024' (no ISO date), '2024-02-30x' (trailing garbage) and one ISO timestamp 5 days old; $RET_PLANT" \
  --expect-status error --expect-summary "marketing consents: 3 timestamp(s) neither ISO 8601 nor epoch seconds (rows "

FORMAT=raw dated_db "$W/ret.nulls.db" consents @NULL @NULL @NULL
record data_retention error_retention_all_null --plant /srv/shop/app.db="$W/ret.nulls.db" \
  --param "$RET_SRC" \
  --source "A sqlite consents table whose three rows all have created_at NULL: nothing can be dated, so nothing was judged; $RET_PLANT" \
  --expect-status error --expect-summary "marketing consents: no dated row among the 3 read, all NULL"

FORMAT=raw dated_db "$W/ret.nullsfirst.db" consents @NULL @NULL @NULL @NULL @NULL && \
  dated_db "$W/ret.nullsfirst.db" consents 2000 2001 2002
record data_retention error_retention_nulls_sort_first --plant /srv/shop/app.db="$W/ret.nullsfirst.db" \
  --param "$RET_SRC" --param max_rows=4 \
  --source "A sqlite consents table with five NULL created_at and three ISO timestamps about 2000 days old, judged with max_rows=4: sqlite sorts NULLs first, so the four rows read are NULL and the old rows are never reached; $RET_PLANT" \
  --expect-status error --expect-summary "no dated row among the 4 read, all NULL (NULLs sort first; there are more rows)"

dated_db "$W/ret.stops.db" consents 400 300 200 10 && sqlite3 "$W/ret.stops.db" 'CREATE INDEX consents_created ON consents (created_at)'
record data_retention fail_retention_query_fails_midway --plant /srv/shop/app.db="$W/ret.stops.db" \
  --param 'sources=[{name: marketing consents, kind: sqlite, path: /srv/shop/app.db, query: "SELECT created_at FROM consents WHERE CASE WHEN id = 3 THEN abs(-9223372036854775807 - 1) ELSE 1 END", max_age_days: 90}]' \
  --source "A sqlite consents table with ISO timestamps 400, 300, 200 and 10 days old and an index on created_at (so sqlite streams rows oldest first), read with a WHERE clause that makes sqlite fail with an integer overflow at the row with id 3 (200 days old), after the two older rows were printed; planted read-only at /srv/shop/app.db" \
  --expect-status fail --expect-summary "marketing consents: at least 2 row(s) older than 90 days" \
  --expect-summary "(query stopped: query failed, exit 1: Error: stepping, integer overflow)"

record data_retention error_retention_two_columns --plant /srv/shop/app.db="$W/ret.fresh.db" \
  --param 'sources=[{name: marketing consents, kind: sqlite, path: /srv/shop/app.db, query: "SELECT id, created_at FROM consents", max_age_days: 90}]' \
  --source "The database of pass_retention_within_period (timestamps 1 to 89.5 days old) read with a query selecting id before created_at: the ids 1-4 would read as epoch seconds in 1970, so the check asks for one column instead of failing" \
  --expect-status error --expect-summary "marketing consents: the query returns 2 columns; select exactly one timestamp column"

FORMAT=raw dated_db "$W/ret.latin1.db" consents "$(printf '2024-03-01\351')" "$(printf '\377\376')" && \
  dated_db "$W/ret.latin1.db" consents 200
record data_retention garbled_retention_non_utf8 --plant /srv/shop/app.db="$W/ret.latin1.db" \
  --param "$RET_SRC" \
  --source "A sqlite consents table with a date followed by a Latin-1 byte, the bytes ff fe, and one ISO timestamp 200 days old: the old row fails, the two garbled ones are named; $RET_PLANT" \
  --expect-status fail --expect-summary "marketing consents: 1 row(s) older than 90 days" \
  --expect-summary "could not be judged: marketing consents: 2 timestamp(s) neither ISO 8601 nor epoch seconds"

record data_retention error_retention_no_period --plant /srv/shop/app.db="$W/ret.fresh.db" \
  --param 'sources=[{name: marketing consents, kind: sqlite, path: /srv/shop/app.db, query: "SELECT created_at FROM consents"}]' \
  --source "The database of pass_retention_within_period with neither the source's max_age_days nor the check's (default 0) set" \
  --expect-status error --expect-summary "no retention period for marketing consents"

record data_retention error_retention_database_missing \
  --param 'sources=[{name: marketing consents, kind: sqlite, path: /srv/shop/missing.db, query: "SELECT created_at FROM consents", max_age_days: 90}]' \
  --source "A sqlite source whose file /srv/shop/missing.db does not exist on this machine; nothing planted" \
  --expect-status error --expect-summary "1 source(s) could not be judged: marketing consents: database file not found"

record data_retention skip_retention_no_sources \
  --source "No sources configured (the default), so the probe queries nothing" \
  --expect-status skip --expect-summary "no application table configured; set vars.data_retention.sources"

# PostgreSQL: a throw-away cluster on a unix socket (start_pg, record_lib.sh).
if have_pg && [[ fail_retention_postgres_timestamptz == $ONLY ]]; then
  (
    start_pg "-c TimeZone=Europe/Warsaw -c DateStyle='SQL, DMY'"
    pg -d postgres -c 'CREATE DATABASE crm'
    pg -d crm -c 'CREATE TABLE trials (id serial PRIMARY KEY, last_login timestamptz)'
    pg -d crm -c "INSERT INTO trials (last_login) VALUES (now() - interval '5 days'), (now() - interval '120 days'), (now() - interval '95 days 12 hours'), (NULL)"
    record data_retention fail_retention_postgres_timestamptz \
      --param "sources=[{name: trial accounts, kind: postgres, database: crm, user: postgres, path: $PGD, query: \"SELECT last_login FROM trials\", max_age_days: 91}]" \
      --source "A throw-away PostgreSQL 15 cluster (initdb as postgres, peer auth, socket in a temporary directory, server TimeZone=Europe/Warsaw and DateStyle SQL, DMY, which the probe overrides with ISO in UTC) with a timestamptz column set with now() - interval '5 days', '120 days', '95 days 12 hours' and a NULL; read by psql as OS user postgres with default_transaction_read_only=on, max_age_days 91" \
      --expect-status fail --expect-summary "trial accounts: 2 row(s) older than 91 days" --expect-summary ", 120 days)" \
      --expect-value rows_read=4 || exit 1
  ) || FAILED+=("data_retention/postgres")
fi

else
  echo "record_all: sqlite3 missing; data_retention cases not recorded" >&2
  FAILED+=("data_retention/*")
fi
