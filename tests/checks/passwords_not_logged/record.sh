# shellcheck shell=bash
# Sourced by tests/checks/record_all.sh (uses record, ago, $W). Logs written by real servers
# (sshd -E after real password logins, nginx's access_log after real HTTP requests: see
# real_logs.py), a JSON log written by Python's logging, real shell-history lines, and this
# machine's own /var/log; all planted read-only in record.py's mount namespace.

PNL_DIR=tests/checks/passwords_not_logged
PNL_PY=${PNL_PY:-.venv/bin/python}
[ -x "$PNL_PY" ] || PNL_PY=python3
NO_HIST=(--param histories=false)
PNL_SSHD_NAMES=("Tr0ub4dor&3x" oracle)

# /var/log with a real sshd log in which one invalid user name is a password.
mkdir -p "$W/pnl.sshd"
"$PNL_PY" "$PNL_DIR/real_logs.py" sshd "$W/pnl.sshd/auth.log" "${PNL_SSHD_NAMES[@]}"
record passwords_not_logged fail_sshd_password_as_user --plant-dir /var/log="$W/pnl.sshd" "${NO_HIST[@]}" \
  --source "/var/log holding only auth.log, written by a real sshd (OpenSSH, -D -E auth.log, LogLevel INFO, PasswordAuthentication yes) while tests/checks/passwords_not_logged/real_logs.py made two paramiko password logins, one with a password-like user name (12 characters: upper, lower, digits and a symbol; a password typed into the user field; not quoted here) and one as 'oracle'; sshd wrote Invalid user / Failed password for invalid user / Connection closed by invalid user lines for both. histories=false" \
  --expect-status fail --expect-summary "3 password(s) in logs: /var/log/auth.log:" \
  --expect-summary "(password as sshd user name)" --expect-value findings=3

mkdir -p "$W/pnl.sshd.ok"
"$PNL_PY" "$PNL_DIR/real_logs.py" sshd "$W/pnl.sshd.ok/auth.log" oracle admin test123 ubuntu
record passwords_not_logged pass_sshd_ordinary_invalid_users --plant-dir /var/log="$W/pnl.sshd.ok" "${NO_HIST[@]}" \
  --source "/var/log holding only auth.log from a real sshd as in fail_sshd_password_as_user, after failed password logins as the unknown users oracle, admin, test123 and ubuntu (what scanning bots try): user names that do not look like passwords" \
  --expect-status pass --expect-summary "scanned 1 file(s) (0 compressed), no password found"

# nginx access log with a password in a query string, and masked ones.
mkdir -p "$W/pnl.nginx/nginx"
"$PNL_PY" "$PNL_DIR/real_logs.py" nginx "$W/pnl.nginx/nginx/access.log" '/' \
  '/login?user=bob&password=Hunter2-nginx&next=/cart' '/login?user=bob&password=%2A%2A%2A' '/static/app.css'
record passwords_not_logged fail_nginx_query_password --plant-dir /var/log="$W/pnl.nginx" "${NO_HIST[@]}" \
  --source "/var/log holding nginx/access.log written by a real nginx 1.22 (access_log, default combined format) serving four GET requests on 127.0.0.1, one of them /login?user=bob&password=<a planted password, not quoted here>&next=/cart and one with the masked password=%2A%2A%2A" \
  --expect-status fail --expect-summary "1 password(s) in logs: /var/log/nginx/access.log:2 (password parameter)"

# Masked values everywhere: nothing to report.
mkdir -p "$W/pnl.masked/nginx" "$W/pnl.masked/app"
"$PNL_PY" "$PNL_DIR/real_logs.py" nginx "$W/pnl.masked/nginx/access.log" \
  '/login?user=bob&password=%2A%2A%2A' '/login?user=bob&password=***' '/login?user=bob&password=[REDACTED]' \
  '/login?user=bob&password=' '/api?token_type=Bearer&pass=xxxx'
"$PNL_PY" - "$W/pnl.masked/app/app.log" <<'PY'
import json, logging, sys
logging.basicConfig(filename=sys.argv[1], format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
log = logging.getLogger("shop")
for masked in ("***", "[REDACTED]", "<redacted>", "*****", "", "xxxx"):
    log.info("login request %s", json.dumps({"user": "bob", "password": masked}))
log.info("headers %s", {"Authorization": "Bearer [REDACTED]", "password": None})
log.info("db url postgres://shop:***@10.0.0.5/shop")
PY
printf 'ls -la\nmysql -u shop -p shop\nmysql -u shop -p"$DB_PASS" shop\nsshpass -p "$SSHPASS" ssh backup@10.0.0.9\n' \
  >"$W/pnl.masked.history"
record passwords_not_logged pass_masked_values --plant-dir /var/log="$W/pnl.masked" \
  --plant /root/.bash_history="$W/pnl.masked.history" \
  --source "/var/log with nginx/access.log from a real nginx (requests whose password is %2A%2A%2A, ***, [REDACTED], empty, and pass=xxxx) and app/app.log written by Python's logging with JSON bodies whose password is ***, [REDACTED], <redacted>, *****, empty or xxxx, a dict with Bearer [REDACTED] and password None, and a URL with :***@; /root/.bash_history with mysql -p (prompting), mysql -p\"\$DB_PASS\" and sshpass -p \"\$SSHPASS\" (variables, not values); histories=true, no other history on this machine" \
  --expect-status pass --expect-summary "scanned 3 file(s) (0 compressed), no password found"

# Shell history with a password on the command line.
printf 'cd /srv/shop\nmysql -uroot -pS3cretRoot shop\nsystemctl restart shop\n' >"$W/pnl.history"
mkdir -p "$W/pnl.empty"
record passwords_not_logged fail_bash_history_mysql --plant-dir /var/log="$W/pnl.empty" \
  --plant /root/.bash_history="$W/pnl.history" \
  --source "An empty /var/log and /root/.bash_history holding 'mysql -uroot -p<password> shop' with a real password on its line 2 (as typed by an admin; the value is not quoted here); histories=true, no other history on this machine" \
  --expect-status fail --expect-summary "1 password(s) in logs: /root/.bash_history:2 (mysql -p option)"

# A rotated, gzipped JSON log.
mkdir -p "$W/pnl.gz/app"
"$PNL_PY" - "$W/pnl.gz/app/app.log.2" <<'PY'
import json, logging, sys
logging.basicConfig(filename=sys.argv[1], format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
log = logging.getLogger("shop")
log.info("start")
log.info("login request %s", json.dumps({"user": "alice", "password": "x"}))
log.info("login request %s", json.dumps({"user": "bob", "password": "Gz-Secret-7"}))
PY
gzip -9 "$W/pnl.gz/app/app.log.2"
printf '%s INFO start\n' "$(date '+%Y-%m-%d %H:%M:%S')" >"$W/pnl.gz/app/app.log"
record passwords_not_logged fail_gzip_rotated_json --plant-dir /var/log="$W/pnl.gz" "${NO_HIST[@]}" \
  --source "/var/log/app with app.log (clean) and app.log.2.gz: a log written by Python's logging with JSON request bodies carrying a password on line 2 (the single character x) and on line 3 (an 11-character password, not quoted here), then gzip -9" \
  --expect-status fail --expect-summary "2 password(s) in logs: /var/log/app/app.log.2.gz:2 (JSON password), /var/log/app/app.log.2.gz:3 (JSON password)" \
  --expect-value compressed_files=1

# Many findings: only max_findings are listed, all are counted.
mkdir -p "$W/pnl.many/nginx"
"$PNL_PY" "$PNL_DIR/real_logs.py" nginx "$W/pnl.many/nginx/access.log" \
  $(for i in 1 2 3 4 5 6 7 8; do printf '/login?user=u%s&password=Pw-%s-secret ' "$i" "$i"; done)
record passwords_not_logged fail_max_findings --plant-dir /var/log="$W/pnl.many" "${NO_HIST[@]}" \
  --param max_findings=3 \
  --source "/var/log/nginx/access.log from a real nginx after eight GET /login?user=uN&password=<a distinct planted password each, not quoted here> requests, judged with max_findings=3: three lines are listed, eight counted" \
  --expect-status fail --expect-summary "8 password(s) in logs: /var/log/nginx/access.log:1 (password parameter)" \
  --expect-value findings=8

# Non-UTF-8 bytes, a binary file, an empty file, comments.
mkdir -p "$W/pnl.garbled/app"
cp "$W/pnl.sshd/auth.log" "$W/pnl.garbled/auth.log"
printf 'caf\351 \377\376 r\351sum\351\nuser=ren\351e password=Mot-de-p\342sse!\n# password=*** in a comment line\n' \
  >"$W/pnl.garbled/app/latin1.log"
head -c 4096 /dev/urandom >"$W/pnl.garbled/app/cache.bin"
: >"$W/pnl.garbled/app/empty.log"
cp /var/log/wtmp "$W/pnl.garbled/wtmp" 2>/dev/null || head -c 384 /dev/zero >"$W/pnl.garbled/wtmp"
record passwords_not_logged garbled_non_utf8_and_binary --plant-dir /var/log="$W/pnl.garbled" "${NO_HIST[@]}" \
  --source "/var/log with the real sshd auth.log of fail_sshd_password_as_user, app/latin1.log holding Latin-1 bytes (caf\\xe9, \\xff\\xfe) and on line 2 a password= parameter whose value holds a Latin-1 byte (not quoted here), then a comment with password=***, app/cache.bin of 4096 random bytes, an empty app/empty.log, and this machine's wtmp (binary, skipped by name)" \
  --expect-status fail --expect-summary "4 password(s) in logs: /var/log/app/latin1.log:2 (password parameter)" \
  --expect-value files_scanned=4

# A corrupt rotated archive: that file cannot be read, so the check cannot tell.
mkdir -p "$W/pnl.corrupt"
cp "$W/pnl.nginx/nginx/access.log" "$W/pnl.corrupt/access.log.1"
sed -i '/password=Hunter2/d' "$W/pnl.corrupt/access.log.1"
gzip -9 "$W/pnl.corrupt/access.log.1"
head -c 40 "$W/pnl.corrupt/access.log.1.gz" >"$W/pnl.corrupt/access.log.2.gz"
record passwords_not_logged error_corrupt_archive --plant-dir /var/log="$W/pnl.corrupt" "${NO_HIST[@]}" \
  --source "/var/log with access.log.1.gz (the nginx log of fail_nginx_query_password without its password line, gzipped) and access.log.2.gz cut to its first 40 bytes (a truncated archive: gzip -cd fails)" \
  --expect-status error --expect-summary "no password found, but 1 file(s) could not be scanned: /var/log/access.log.2.gz (gzip exited 1)"

# No privilege: run as nobody, the log is root's 0640.
mkdir -p "$W/pnl.private"
cp "$W/pnl.nginx/nginx/access.log" "$W/pnl.private/secure.log"
sed -i '/password=Hunter2/d' "$W/pnl.private/secure.log"
chmod 640 "$W/pnl.private/secure.log"
record passwords_not_logged error_no_privilege --plant-dir /var/log="$W/pnl.private" "${NO_HIST[@]}" \
  --run-as nobody \
  --source "/var/log with secure.log (root:root 0640, no password in it), scanned as the user nobody (no become): the file cannot be read, so the check cannot tell" \
  --expect-status error --expect-summary "1 file(s) could not be scanned: /var/log/secure.log (permission denied)"

# A huge log, cut at max_file_mb.
mkdir -p "$W/pnl.huge"
while [ "$(stat -c %s "$W/pnl.huge/syslog" 2>/dev/null || echo 0)" -lt $((24 * 1024 * 1024)) ]; do
  cat /var/log/dpkg.log "$W/pnl.sshd.ok/auth.log" >>"$W/pnl.huge/syslog"
done
record passwords_not_logged pass_huge_log_cut --plant-dir /var/log="$W/pnl.huge" "${NO_HIST[@]}" \
  --param max_file_mb=8 \
  --source "/var/log/syslog of about 24 MiB: this machine's /var/log/dpkg.log and the real sshd log of pass_sshd_ordinary_invalid_users appended over and over, judged with max_file_mb=8: only the first 8 MiB are read, and the summary says so" \
  --expect-status pass --expect-summary "scanned 1 file(s) (0 compressed), no password found; 1 file(s) scanned only in their first 8 MiB"

record passwords_not_logged pass_this_machine \
  --source "This machine's own /var/log (Debian 12 test VM: dpkg, apt, alternatives, postgresql, nginx, journal skipped) and its home directories from /etc/passwd (none holds a history); nothing planted" \
  --expect-status pass --expect-summary "no password found"

# A directory the scanner cannot enter hides its files: error, never pass. /var/log/audit
# holds a password here, so a pass would be wrong.
mkdir -p "$W/pnl.dark/audit"
printf '%s INFO shop started\n' "$(date '+%Y-%m-%d %H:%M:%S')" >"$W/pnl.dark/app.log"
printf 'type=USER_CMD msg=audit(1700000000.000:1): cmd=mysql -uroot -pDark-Audit-57 shop\n' >"$W/pnl.dark/audit/audit.log"
chgrp adm "$W/pnl.dark/audit" && chmod 750 "$W/pnl.dark/audit" && chmod 640 "$W/pnl.dark/audit/audit.log"
record passwords_not_logged error_unreadable_directory_as_nobody --plant-dir /var/log="$W/pnl.dark" "${NO_HIST[@]}" \
  --run-as nobody \
  --source "/var/log with app.log (0644, no password) and audit/ (root:adm 0750, as Debian's auditd makes it) holding audit.log with a password on a mysql command line (not quoted here), scanned as the user nobody (no become, no supplementary groups): find cannot enter /var/log/audit; histories=false" \
  --expect-status error --expect-summary "1 director(ies) could not be read: /var/log/audit (directory not readable)" \
  --expect-summary "scanned as uid 65534, not root" --expect-value unreadable_directories=1 --expect-value files_scanned=1

mkdir -p "$W/pnl.home"
printf '%s INFO shop started\n' "$(date '+%Y-%m-%d %H:%M:%S')" >"$W/pnl.home/app.log"
# Nothing is planted in /root: a planted file there would need an overlay of /root, whose
# root directory takes the overlay's mode (0755), and nobody could search it after all.
record passwords_not_logged error_unsearchable_home_as_nobody --plant-dir /var/log="$W/pnl.home" --run-as nobody \
  --source "/var/log with app.log (0644, no password); this machine's real /root (root:root 0700), and its other homes from /etc/passwd; scanned as the user nobody with histories=true: /root cannot be searched (nor can any other 0700 home, e.g. /var/lib/bacula here), so a history in it would go unseen" \
  --expect-status error --expect-summary "/root (home directory not searchable)" \
  --expect-summary "scanned as uid 65534, not root"

# A mistyped path audits nothing: error, naming it, even though the histories were scanned.
printf 'ls -la\ncd /srv/shop\n' >"$W/pnl.clean.history"
record passwords_not_logged error_missing_path --param 'paths=["/var/log/no-such-app"]' \
  --plant /root/.bash_history="$W/pnl.clean.history" \
  --source "paths=[/var/log/no-such-app], a directory that does not exist on this machine, histories=true with /root/.bash_history planted holding ls and cd lines (no other history on this machine): the history is scanned, the configured path is not there" \
  --expect-status error --expect-summary "1 configured path(s) do not exist: /var/log/no-such-app" \
  --expect-value files_scanned=1 --expect-value missing_paths=1

mkdir -p "$W/pnl.void"
record passwords_not_logged skip_nothing_to_scan --plant-dir /var/log="$W/pnl.void" "${NO_HIST[@]}" \
  --source "An empty /var/log (it exists, holds no file) and histories=false: nothing to scan" \
  --expect-status skip --expect-summary "no log file or shell history found to scan"

# Values with @, escaped quotes, escaped blanks and ; must be masked whole: no fragment of a
# planted secret may be in the case (each one's last characters are checked below).
mkdir -p "$W/pnl.mask/app"
{
  printf '%s INFO db connect https://bob:p@ss@w0rdQx81@db.internal/shop ok\n' "$(date '+%Y-%m-%d %H:%M:%S')"
  printf '%s INFO login %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" '{"user": "bob", "password": "ab\"cdefQy92"}'
  printf '%s INFO backup ran mysqldump --password=pa\\ sswoQz73 shop\n' "$(date '+%Y-%m-%d %H:%M:%S')"
  printf '%s INFO login password=hunt3r;exQw64 user=bob\n' "$(date '+%Y-%m-%d %H:%M:%S')"
} >"$W/pnl.mask/app/app.log"
record passwords_not_logged fail_masking_whole_secret --plant-dir /var/log="$W/pnl.mask" "${NO_HIST[@]}" \
  --source "/var/log/app/app.log with four planted lines whose passwords hold characters that once cut the mask short (values not quoted here): a URL whose password holds two @, a JSON password holding an escaped quote, --password= with a backslash-escaped blank, and password= whose value holds a ;. Every value must be masked whole" \
  --expect-status fail --expect-summary "4 password(s) in logs: /var/log/app/app.log:1 (URL user:password@)" \
  --expect-value findings=4
if [[ fail_masking_whole_secret == $ONLY ]]; then
  for tail in Qx81 rdQx81 efQy92 woQz73 exQw64; do
    if grep -q -F -e "$tail" "$PNL_DIR/fail_masking_whole_secret.yaml"; then
      echo "passwords_not_logged: fail_masking_whole_secret holds the secret fragment $tail; removed" >&2
      rm -f "$PNL_DIR/fail_masking_whole_secret.yaml"
      FAILED+=(passwords_not_logged/fail_masking_whole_secret)
      break
    fi
  done
fi
