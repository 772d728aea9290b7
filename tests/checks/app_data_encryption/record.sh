# shellcheck shell=bash
# Sourced by tests/checks/record_all.sh (uses record, $W; text_db and start_pg of
# record_lib.sh). Real sqlite databases made with Python's sqlite3, holding the
# card-industry test numbers that every payment provider documents (Visa's ending 1111,
# Mastercard's ending 4444, ...) and numbers generated here with a valid Luhn digit. No
# recorded case may contain one, not even in its source text.

# card_db FILE ROW...: a sqlite database with payments(id, card, note); each ROW is
# CARD|NOTE (either may be @NULL); values go in as bytes, so non-UTF-8 stays.
card_db() {
  text_db "$1" "CREATE TABLE payments (id INTEGER PRIMARY KEY, card TEXT, note TEXT)" \
    "INSERT INTO payments (card, note) VALUES (CAST(? AS TEXT), CAST(? AS TEXT))" "|" "${@:2}"
}

# luhn PREFIX LENGTH: a random number of LENGTH digits starting with PREFIX, Luhn-valid.
luhn() {
  python3 - "$@" <<'PY'
import secrets, sys
prefix, length = sys.argv[1], int(sys.argv[2])
body = prefix + "".join(secrets.choice("0123456789") for _ in range(length - len(prefix) - 1))
total = 0
for i, ch in enumerate(reversed(body)):
    d = int(ch)
    if i % 2 == 0:
        d = d * 2 - 9 if d > 4 else d * 2
    total += d
print(body + str((10 - total % 10) % 10))
PY
}

CARD_SRC='sources=[{name: payments, kind: sqlite, path: /srv/shop/app.db, query: "SELECT card, note FROM payments ORDER BY id"}]'
CARD_PLANT="planted read-only at /srv/shop/app.db (an overlay of /srv in the namespace), judged with sources=[{name: payments, kind: sqlite, path: /srv/shop/app.db, query: SELECT card, note FROM payments ORDER BY id}]"

if command -v sqlite3 >/dev/null; then

card_db "$W/cards.clean.db" "tok_1MqLX2LkdIwHu7ixu4R9|paid 2024-03-01 12:00" \
  "**** **** **** 1111|Visa ending 1111, masked" "411111******1111|first six, last four" \
  "4111 1111 1111 1112|a 16-digit number that fails the Luhn check" \
  "@NULL|order 100234567, phone +48 123 456 789" \
  "DE89370400440532013000|an IBAN" "9876543210123456|Luhn-valid? no scheme starts with 98" \
  "41111111111111110000|20 digits in one run: an id, not a card"
record app_data_encryption pass_no_card_numbers --plant /srv/shop/app.db="$W/cards.clean.db" \
  --param "$CARD_SRC" \
  --source "A sqlite payments table (Python's sqlite3) with a Stripe-style token, masked numbers (last four only; first six and last four), a 16-digit number that fails the Luhn check, a NULL, an order id and a phone number, a German IBAN, a 16-digit number in no scheme's range and a 20-digit run; $CARD_PLANT" \
  --expect-status pass --expect-summary "no payment card number in 8 row(s) of 1 source(s)" \
  --expect-value card_numbers=0 --expect-value rows_scanned=8

card_db "$W/cards.plain.db" "4111 1111 1111 1111|test Visa, spaced" "tok_abc|fine" \
  "5555-5555-5555-4444|test Mastercard, dashed" "@NULL|customer said: use 378282246310005 next time" \
  "$(luhn 6011 16)|generated Discover" "$(luhn 3530 16)|generated JCB, and $(luhn 2221 16) in the note" \
  "ref 12345 $(luhn 4 16 | sed 's/\(....\)/\1 /g; s/ $//')|a grouped Visa after an order number"
record app_data_encryption fail_card_numbers_plaintext --plant /srv/shop/app.db="$W/cards.plain.db" \
  --param "$CARD_SRC" \
  --source "A sqlite payments table holding the industry test numbers of Visa (ending 1111, grouped by spaces) and Mastercard (ending 4444, grouped by dashes), the American Express test number (ending 0005) inside a free-text note, and Luhn-valid numbers generated here with Discover (6011), JCB (3530), Mastercard 2-series (2221) and Visa prefixes, one of them grouped in fours after an order number; $CARD_PLANT" \
  --expect-status fail --expect-summary "7 payment card number(s) stored in plaintext: payments: 7 card number(s) in plaintext in 6 row(s) (rows 1, 3, 4, 5, 6, 7)" \
  --expect-value card_numbers=7 --expect-value rows_with_card_numbers=6 \
  --expect-value 'card_numbers_by_scheme={American Express: 1, Discover: 1, JCB: 1, Mastercard: 2, Visa: 2}'

card_db "$W/cards.many.db" $(for i in 1 2 3 4 5 6; do printf '%s|row%s ' "$(luhn 4 16)" "$i"; done)
record app_data_encryption fail_card_numbers_sampled --plant /srv/shop/app.db="$W/cards.many.db" \
  --param "$CARD_SRC" --param max_rows=4 \
  --source "A sqlite payments table of six generated Luhn-valid Visa numbers, judged with max_rows=4: the query is wrapped in LIMIT 5 and four rows are scanned; $CARD_PLANT" \
  --expect-status fail --expect-summary "4 payment card number(s) stored in plaintext" \
  --expect-value rows_scanned=4

card_db "$W/cards.latin1.db" "$(printf 'caf\351 \377\376 ')$(luhn 51 16)|$(printf 'binary \001\002 note')" \
  "$(printf '\351\351\351')|$(printf 'tab\there')"
record app_data_encryption garbled_card_non_utf8 --plant /srv/shop/app.db="$W/cards.latin1.db" \
  --param "$CARD_SRC" \
  --source "A sqlite payments table whose values hold Latin-1 and invalid UTF-8 bytes (caf\\xe9 \\xff\\xfe), control characters and a tab, with one generated Mastercard number after the odd bytes; $CARD_PLANT" \
  --expect-status fail --expect-summary "1 payment card number(s) stored in plaintext: payments: 1 card number(s) in plaintext in 1 row(s) (rows 1)"

record app_data_encryption skip_card_no_sources \
  --source "No sources configured (the default), so the probe queries nothing" \
  --expect-status skip --expect-summary "no application database configured; set vars.app_data_encryption.sources"

record app_data_encryption error_card_database_missing \
  --param 'sources=[{name: payments, kind: sqlite, path: /srv/shop/missing.db, query: "SELECT card FROM payments"}]' \
  --source "A sqlite source whose file /srv/shop/missing.db does not exist on this machine; nothing planted" \
  --expect-status error --expect-summary "1 of 1 source(s) could not be read: payments: database file not found"

record app_data_encryption error_card_query_fails --plant /srv/shop/app.db="$W/cards.clean.db" \
  --param 'sources=[{name: payments, kind: sqlite, path: /srv/shop/app.db, query: "SELECT pan FROM cards"}]' \
  --source "The database of pass_no_card_numbers queried for a table it does not have (cards); sqlite3 reports the error" \
  --expect-status error --expect-summary "payments: query failed, exit 1: Error: in prepare, no such table: cards"

record app_data_encryption fail_card_query_fails_after_cards --plant /srv/shop/app.db="$W/cards.plain.db" \
  --param 'sources=[{name: payments, kind: sqlite, path: /srv/shop/app.db, query: "SELECT card, CASE WHEN id = 3 THEN abs(-9223372036854775807 - 1) ELSE 1 END FROM payments ORDER BY id"}]' \
  --source "The database of fail_card_numbers_plaintext, read with a query that makes sqlite fail with an integer overflow at row 3, after the test Visa number of row 1 was printed: what was seen before the failure stands" \
  --expect-status fail --expect-summary "at least 1 payment card number(s) stored in plaintext" \
  --expect-summary "(query stopped: query failed, exit 1: Error: stepping, integer overflow)" \
  --expect-value card_numbers=1

record app_data_encryption fail_card_beats_unreadable_source --plant /srv/shop/app.db="$W/cards.plain.db" \
  --param 'sources=[{name: payments, kind: sqlite, path: /srv/shop/app.db, query: "SELECT card FROM payments ORDER BY id"}, {name: old shop, kind: sqlite, path: /srv/old/shop.db, query: "SELECT card FROM payments"}]' \
  --source "Two sources: the card column only of fail_card_numbers_plaintext's database, and /srv/old/shop.db, which does not exist; the card numbers fail the check and the unreadable source is named too" \
  --expect-status fail --expect-summary "payments: 5 card number(s) in plaintext" \
  --expect-summary "1 source(s) could not be read: old shop: database file not found" \
  --expect-value unreadable_sources=1

# PostgreSQL: a throw-away cluster on a unix socket (start_pg, record_lib.sh).
if have_pg && [[ fail_card_numbers_postgres == $ONLY ]]; then
  (
    start_pg
    pg -d postgres -c 'CREATE DATABASE billing'
    pg -d billing -c 'CREATE TABLE cards (id serial PRIMARY KEY, holder text, pan text, pan_encrypted bytea)'
    # psql interpolates :'var' (as a quoted literal) only in what it reads, not in -c.
    echo "INSERT INTO cards (holder, pan, pan_encrypted) VALUES ('A. Nowak', NULL, decode(:'blob', 'hex')), ('B. Kowalska', :'pan', NULL), ('C. Wiśniewski', '**** 4444', NULL)" |
      pg -d billing -v pan="$(luhn 4 16)" -v blob="$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')" || exit 1
    record app_data_encryption fail_card_numbers_postgres \
      --param "sources=[{name: billing, kind: postgres, database: billing, user: postgres, path: $PGD, query: \"SELECT holder, pan, pan_encrypted FROM cards ORDER BY id\"}]" \
      --source "A throw-away PostgreSQL 15 cluster (initdb as postgres, peer auth, socket in a temporary directory) with database billing, table cards: one row with the PAN column NULL and 48 random bytes in a bytea column (as an application encrypting it would store it), one with a generated Luhn-valid Visa number in plaintext, one masked; read by psql as OS user postgres with default_transaction_read_only=on" \
      --expect-status fail --expect-summary "1 payment card number(s) stored in plaintext: billing: 1 card number(s) in plaintext in 1 row(s) (rows 2)" \
      --expect-value rows_scanned=3 || exit 1
  ) || FAILED+=("app_data_encryption/postgres")
fi

else
  echo "record_all: sqlite3 missing; app_data_encryption cases not recorded" >&2
  FAILED+=("app_data_encryption/*")
fi
