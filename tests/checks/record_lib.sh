# shellcheck shell=bash
# Sourced by tests/checks/record_all.sh before the checks' record.sh: helpers more than one
# of them needs to plant application databases.

# text_db FILE SCHEMA INSERT SEP ROW...: a sqlite database (Python's sqlite3) made with the
# statement SCHEMA, one INSERT (two ? parameters) per ROW, each ROW split in two at the first
# SEP; a value @NULL is SQL NULL. Values go in as bytes, so non-UTF-8 stays. Mode 640.
text_db() {
  python3 - "$@" <<'PY'
import os, sqlite3, sys
path, schema, insert, sep = sys.argv[1:5]
db = sqlite3.connect(path)
db.execute(schema)
for row in sys.argv[5:]:
    first, _, second = row.partition(sep)
    db.execute(insert, tuple(None if v == "@NULL" else os.fsencode(v) for v in (first, second)))
db.commit()
PY
  chmod 640 "$1"
}

# PostgreSQL: a throw-away cluster owned by postgres, listening only on a unix socket in a
# temporary directory $PGD. Call start_pg in the subshell that records the cases: it stops
# and removes the cluster when that subshell exits.
PG_BIN=/usr/lib/postgresql/15/bin
have_pg() { [ -x "$PG_BIN/initdb" ] && id postgres >/dev/null 2>&1; }
stop_pg() { runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGD/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PGD"; }
start_pg() {  # start_pg [SERVER_OPTIONS]: more "-c name=value" options for the server
  PGD=$(mktemp -d /tmp/auditor-pg.XXXXXX)
  chown postgres "$PGD"
  chmod 755 "$PGD"
  trap stop_pg EXIT
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PGD/data" -A peer -U postgres >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w \
    -o "-c listen_addresses='' -c unix_socket_directories=$PGD${1:+ $1}" start >/dev/null
}
pg() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$PGD" "$@"; }

# An inert busybox syslogd, run as Alpine runs it (a link named syslogd, `-n -t`), for cases
# whose probes must see it running: in a mount namespace of its own with tmpfs on /dev and
# /var/log, so that it replaces neither this machine's /dev/log nor writes its logs.
# start_busybox_syslogd DIR (DIR holds the link); stop_busybox_syslogd kills it by its PID.
BB_SYSLOGD_PID=
start_busybox_syslogd() {
  [ -e "$1/syslogd" ] || ln -s "$(command -v busybox)" "$1/syslogd"
  unshare --mount --propagation private -- sh -c \
    'mount -t tmpfs tmpfs /dev && mount -t tmpfs tmpfs /var/log && exec "$1" -n -t' sh "$1/syslogd" &
  BB_SYSLOGD_PID=$!
  sleep 1
  kill -0 "$BB_SYSLOGD_PID"
}
stop_busybox_syslogd() {
  if [ -n "$BB_SYSLOGD_PID" ]; then kill "$BB_SYSLOGD_PID" 2>/dev/null || true; wait "$BB_SYSLOGD_PID" 2>/dev/null || true; fi
  BB_SYSLOGD_PID=
}
