# shellcheck shell=bash
# Sourced by tests/checks/record_all.sh (uses record, $W; text_db and start_pg of
# record_lib.sh). Real sqlite databases filled with real hashes: mkpasswd (bcrypt, yescrypt,
# sha512crypt, md5crypt), the argon2 CLI, Python's hashlib in Django's and werkzeug's
# formats, sha1sum/md5sum/sha256sum for unsalted digests; and a throw-away PostgreSQL 15
# cluster on a unix socket.

# app_db FILE USER=VALUE...: a sqlite database with users(id, username, password), rows in
# order; VALUE @NULL is SQL NULL. Values go in as bytes (CAST AS TEXT), so non-UTF-8 stays.
app_db() {
  text_db "$1" "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL, password TEXT)" \
    "INSERT INTO users (username, password) VALUES (CAST(? AS TEXT), CAST(? AS TEXT))" = "${@:2}"
}

# pyhash KIND PASSWORD [ITERATIONS]: a hash in a framework's real format, from hashlib.
pyhash() {
  python3 - "$@" <<'PY'
import base64, hashlib, secrets, sys
kind, pw = sys.argv[1], sys.argv[2].encode()
salt = secrets.token_urlsafe(16).replace("-", "a").replace("_", "b")
b64 = lambda b: base64.b64encode(b).decode()
if kind == "django-pbkdf2":
    it = int(sys.argv[3]) if len(sys.argv) > 3 else 870000
    print(f"pbkdf2_sha256${it}${salt}${b64(hashlib.pbkdf2_hmac('sha256', pw, salt.encode(), it))}")
elif kind == "werkzeug-pbkdf2":
    print(f"pbkdf2:sha256:600000${salt}${hashlib.pbkdf2_hmac('sha256', pw, salt.encode(), 600000).hex()}")
elif kind == "werkzeug-scrypt":
    d = hashlib.scrypt(pw, salt=salt.encode(), n=32768, r=8, p=1, maxmem=64 << 20)
    print(f"scrypt:32768:8:1${salt}${d.hex()}")
elif kind == "django-scrypt":
    d = hashlib.scrypt(pw, salt=salt.encode(), n=16384, r=8, p=1, dklen=64)
    print(f"scrypt$16384${salt}$8$1${b64(d)}")
elif kind == "django-sha1":
    print(f"sha1${salt}${hashlib.sha1(salt.encode() + pw).hexdigest()}")
else:
    raise SystemExit(f"pyhash: unknown kind {kind}")
PY
}
argon() { printf '%s' "$1" | argon2 "$(head -c 12 /dev/urandom | base64)" -id -e; }
digest() { printf '%s' "$2" | "$1" | cut -d' ' -f1; }  # digest sha1sum PASSWORD

APP_SRC='sources=[{name: shop users, kind: sqlite, path: /srv/shop/app.db, query: "SELECT username, password FROM users ORDER BY id"}]'
APP_PLANT="planted read-only at /srv/shop/app.db (a path that does not exist on this machine: an overlay of /srv in the namespace), judged with sources=[{name: shop users, kind: sqlite, path: /srv/shop/app.db, query: SELECT username, password FROM users ORDER BY id}]"

if command -v argon2 >/dev/null && command -v sqlite3 >/dev/null; then

app_db "$W/app.strong.db" alice="$(mkpasswd -m bcrypt 'Alice-shop-1')" bob="$(argon 'Bob-shop-2')" \
  carol="$(mkpasswd -m yescrypt 'Carol-shop-3')" dave="$(mkpasswd -m sha512crypt 'Dave-shop-4')" \
  erin="$(pyhash django-pbkdf2 'Erin-shop-5')" frank="$(pyhash werkzeug-pbkdf2 'Frank-shop-6')" \
  grace="$(pyhash werkzeug-scrypt 'Grace-shop-7')" heidi="$(pyhash django-scrypt 'Heidi-shop-8')" \
  ivan="argon2$(argon 'Ivan-shop-9')" sso-user=@NULL
record app_password_hashing pass_salted_slow_formats --plant /srv/shop/app.db="$W/app.strong.db" \
  --param "$APP_SRC" \
  --source "A sqlite database (made with Python's sqlite3) whose users table holds: bcrypt (mkpasswd -m bcrypt), argon2id (argon2 CLI, -id -e, random 16-character salt), yescrypt and sha512crypt (mkpasswd), Django pbkdf2_sha256\$870000\$ and scrypt\$16384\$ and argon2\$argon2id\$ values, werkzeug pbkdf2:sha256:600000\$ and scrypt:32768:8:1\$ values (hashlib.pbkdf2_hmac / hashlib.scrypt in those formats, random salts), and one NULL password (an SSO user); $APP_PLANT" \
  --expect-status pass --expect-summary "9 password value(s) in 1 source(s), all salted slow hashes, none repeated" \
  --expect-value weak_values=0 --expect-value duplicate_values=0 --expect-value rows_sampled=10 \
  --expect-value 'values_by_scheme={argon2: 2, bcrypt: 1, pbkdf2: 2, scrypt: 2, yescrypt: 1, sha512crypt: 1, "NULL (no password set)": 1}'

app_db "$W/app.sha1.db" alice="$(mkpasswd -m bcrypt 'Alice-shop-1')" bob="$(digest sha1sum 'Bob-shop-2')" \
  carol="$(digest md5sum 'Carol-shop-3')" dave="$(digest sha256sum 'Dave-shop-4')"
record app_password_hashing fail_unsalted_digests --plant /srv/shop/app.db="$W/app.sha1.db" \
  --param "$APP_SRC" \
  --source "A sqlite users table with one bcrypt value (mkpasswd) and three unsalted hex digests made with sha1sum, md5sum and sha256sum of different passwords; $APP_PLANT" \
  --expect-status fail --expect-summary "shop users: 1 unsalted MD5, 1 unsalted SHA-1, 1 unsalted SHA-256" \
  --expect-value weak_values=3 --expect-value duplicate_values=0

SHARED=$(mkpasswd -m bcrypt 'Same-for-both')
app_db "$W/app.shared.db" alice="$(mkpasswd -m bcrypt 'Alice-shop-1')" bob="$SHARED" carol="$SHARED" \
  dave="$(argon 'Dave-shop-4')"
record app_password_hashing fail_shared_hash --plant /srv/shop/app.db="$W/app.shared.db" \
  --param "$APP_SRC" \
  --source "A sqlite users table of bcrypt and argon2id values in which bob and carol hold the very same bcrypt string (one mkpasswd -m bcrypt output copied to both rows, as a seeding script does); $APP_PLANT" \
  --expect-status fail --expect-summary "shop users: 2 values identical to another row's" \
  --expect-value weak_values=0 --expect-value duplicate_values=2

SHA_SHARED=$(digest sha1sum 'Winter2024')
app_db "$W/app.sha1shared.db" alice="$SHA_SHARED" bob="$SHA_SHARED" carol="$(digest sha1sum 'Other-pw')"
record app_password_hashing fail_unsalted_and_shared --plant /srv/shop/app.db="$W/app.sha1shared.db" \
  --param "$APP_SRC" \
  --source "A sqlite users table of unsalted sha1sum digests where alice and bob chose the same password, so their digests are equal; $APP_PLANT" \
  --expect-status fail --expect-summary "shop users: 3 unsalted SHA-1" \
  --expect-summary "shop users: 2 values identical to another row's" \
  --expect-value weak_values=3 --expect-value duplicate_values=2

app_db "$W/app.plain.db" alice="$(mkpasswd -m bcrypt 'Alice-shop-1')" bob='Sommer2024!' carol='' \
  dave='hunter2' erin=@NULL
record app_password_hashing fail_plaintext_and_empty --plant /srv/shop/app.db="$W/app.plain.db" \
  --param "$APP_SRC" \
  --source "A sqlite users table with one bcrypt value, two plaintext passwords (11 and 7 characters, not quoted here), an empty string and a NULL; $APP_PLANT. Plaintext rows are named by row number only (a swapped identifier column could be a password)" \
  --expect-status fail --expect-summary "shop users: 2 plaintext or unrecognised, 1 empty" \
  --expect-value weak_values=3

app_db "$W/app.fast.db" alice="$(mkpasswd -m md5crypt 'Alice-shop-1')" bob="$(pyhash django-sha1 'Bob-shop-2')" \
  carol="$(mkpasswd -m descrypt 'Carol-3')" dave="$(mkpasswd -m bcrypt 'Dave-shop-4' | cut -c1-50)"
record app_password_hashing fail_weak_salted_and_cut --plant /srv/shop/app.db="$W/app.fast.db" \
  --param "$APP_SRC" \
  --source "A sqlite users table with md5crypt (mkpasswd -m md5crypt), a Django-format salted single SHA-1 (sha1\$salt\$hex, hashlib), DES crypt (mkpasswd -m descrypt) and a bcrypt value cut to 50 characters (as a VARCHAR(50) column stores it); $APP_PLANT" \
  --expect-status fail --expect-summary "1 DES crypt (or 13-character plaintext), 1 malformed hash, 1 md5crypt, 1 salted single hash" \
  --expect-value weak_values=4

app_db "$W/app.pbkdf2low.db" alice="$(pyhash django-pbkdf2 'Alice-shop-1' 1000)" \
  bob="$(pyhash django-pbkdf2 'Bob-shop-2' 870000)"
record app_password_hashing fail_pbkdf2_few_iterations --plant /srv/shop/app.db="$W/app.pbkdf2low.db" \
  --param "$APP_SRC" \
  --source "A sqlite users table with Django pbkdf2_sha256 values (hashlib.pbkdf2_hmac), one with 1000 iterations (Django 1.3's count) and one with 870000; $APP_PLANT" \
  --expect-status fail --expect-summary "shop users: lowest PBKDF2 iteration count 1000, below 10000"

app_db "$W/app.empty.db"
record app_password_hashing skip_empty_table --plant /srv/shop/app.db="$W/app.empty.db" \
  --param "$APP_SRC" \
  --source "A sqlite database whose users table has no rows; $APP_PLANT" \
  --expect-status skip --expect-summary "no password values in the configured source(s): 0 row(s)"

record app_password_hashing skip_no_sources \
  --source "No sources configured (the default), so the probe queries nothing" \
  --expect-status skip --expect-summary "no application database configured; set vars.app_password_hashing.sources"

record app_password_hashing error_missing_database \
  --param 'sources=[{name: shop users, kind: sqlite, path: /srv/shop/missing.db, query: "SELECT password FROM users"}]' \
  --source "A sqlite source whose file /srv/shop/missing.db does not exist on this machine; nothing planted" \
  --expect-status error --expect-summary "1 of 1 source(s) could not be read: shop users: database file not found"

record app_password_hashing error_query_fails --plant /srv/shop/app.db="$W/app.strong.db" \
  --param 'sources=[{name: shop users, kind: sqlite, path: /srv/shop/app.db, query: "SELECT password FROM customers"}]' \
  --source "The database of pass_salted_slow_formats queried for a table it does not have (customers); sqlite3 reports the error" \
  --expect-status error --expect-summary "shop users: query failed, exit 1: Error: in prepare, no such table: customers"

record app_password_hashing fail_beats_unreadable_source --plant /srv/shop/app.db="$W/app.sha1.db" \
  --param 'sources=[{name: shop users, kind: sqlite, path: /srv/shop/app.db, query: "SELECT username, password FROM users"}, {name: old shop, kind: sqlite, path: /srv/old/shop.db, query: "SELECT password FROM users"}]' \
  --source "Two sources: the unsalted-digest database of fail_unsalted_digests planted at /srv/shop/app.db, and /srv/old/shop.db which does not exist; the weak values fail the check, the unreadable source is named too" \
  --expect-status fail --expect-summary "shop users: 1 unsalted MD5" \
  --expect-summary "1 source(s) could not be read: old shop: database file not found" \
  --expect-value unreadable_sources=1

app_db "$W/app.many.db" $(for i in 1 2 3 4 5 6; do printf 'user%s=%s ' "$i" "$(mkpasswd -m bcrypt "pw-$i")"; done)
record app_password_hashing pass_sampled_rows --plant /srv/shop/app.db="$W/app.many.db" \
  --param "$APP_SRC" --param max_rows=4 \
  --source "A sqlite users table of six bcrypt values (mkpasswd), judged with max_rows=4: the query is wrapped in LIMIT 5 and four rows are classified; $APP_PLANT" \
  --expect-status pass --expect-summary "4 password value(s) in 1 source(s)" \
  --expect-summary "only the first 4 rows of shop users were sampled" --expect-value rows_sampled=4

app_db "$W/app.latin1.db" "$(printf 'j\351r\364me')=$(printf 'caf\351-secret')" \
  alice="$(mkpasswd -m bcrypt 'Alice-shop-1')" "$(printf 'ren\351e')=$(digest md5sum 'Renee-pw')"
record app_password_hashing garbled_non_utf8 --plant /srv/shop/app.db="$W/app.latin1.db" \
  --param "$APP_SRC" \
  --source "A sqlite users table with Latin-1 bytes (not UTF-8): user j\\xe9r\\xf4me with a plaintext password holding a Latin-1 byte (not quoted here), alice with bcrypt, and ren\\xe9e with an unsalted md5sum digest; the engine renders the bytes as \\xNN; $APP_PLANT" \
  --expect-status fail --expect-summary "shop users: 1 plaintext or unrecognised, 1 unsalted MD5"

# PostgreSQL: a throw-away cluster (start_pg, record_lib.sh), stopped and removed when the
# two cases are recorded.
if have_pg && [[ pass_postgres == $ONLY || fail_postgres_unsalted == $ONLY ]]; then
  (
    start_pg
    pg -d postgres -c 'CREATE DATABASE shop'
    pg -d shop -c 'CREATE TABLE accounts (id serial PRIMARY KEY, login text NOT NULL, password_hash text)'
    # psql interpolates :'var' (as a quoted literal) only in what it reads, not in -c.
    insert() {
      echo "INSERT INTO accounts (login, password_hash) VALUES (:'login', :'hash')" |
        pg -d shop -v login="$1" -v hash="$2" || exit 1
    }
    insert alice "$(mkpasswd -m bcrypt 'Alice-pg-1')"
    insert bob "$(argon 'Bob-pg-2')"
    insert carol "$(pyhash django-pbkdf2 'Carol-pg-3')"
    PG_SRC="sources=[{name: crm, kind: postgres, database: shop, user: postgres, path: $PGD, query: \"SELECT login, password_hash FROM accounts ORDER BY id\"}]"
    PG_DESC="A throw-away PostgreSQL 15 cluster (initdb as postgres, peer auth, listen_addresses='', socket in a temporary directory) with database shop, table accounts"
    failed=0
    record app_password_hashing pass_postgres --param "$PG_SRC" \
      --source "$PG_DESC holding bcrypt (mkpasswd), argon2id (argon2 CLI) and Django pbkdf2_sha256 values; read by psql as OS user postgres (runuser) with default_transaction_read_only=on" \
      --expect-status pass --expect-summary "3 password value(s) in 1 source(s), all salted slow hashes" || failed=1
    insert dave "$(digest md5sum 'Dave-pg-4')"
    insert erin ''
    pg -d shop -c "INSERT INTO accounts (login, password_hash) VALUES ('frank', NULL)"
    record app_password_hashing fail_postgres_unsalted --param "$PG_SRC" \
      --source "$PG_DESC as in pass_postgres plus dave with an unsalted md5sum digest, erin with an empty string and frank with NULL (psql prints NULL as the marker -P null= sets)" \
      --expect-status fail --expect-summary "crm: 1 empty, 1 unsalted MD5" --expect-value rows_sampled=6 || failed=1
    [ ${#FAILED[@]} -eq 0 ] && [ $failed -eq 0 ]
  ) || FAILED+=("app_password_hashing/postgres")
fi

else
  echo "record_all: argon2 or sqlite3 missing; app_password_hashing cases not recorded" >&2
  FAILED+=("app_password_hashing/*")
fi
