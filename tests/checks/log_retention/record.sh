# shellcheck shell=bash
# log_retention cases; sourced by tests/checks/record_all.sh (uses record, ago, $W, $NOW, $DAY).
# Debian's own logrotate files (rsyslog's taken from its .deb, or $RSYSLOG_LOGROTATE), logs
# copied from this machine's /var/log and aged with touch -d; logrotate and systemd-analyze,
# when present, run in each case's namespace as oracles of the correct verdict.

LOGROTATE_ORACLE="logrotate -d /etc/logrotate.conf 2>&1 | grep -a -E '^(reading config|including|Ignoring|rotating pattern|error)'"
JOURNALD_ORACLE="systemd-analyze cat-config systemd/journald.conf 2>&1 | grep -a -E '^(# /|MaxRetentionSec|Storage)'"
LR=() JD=()  # the oracles' record.py arguments, when the tools are here
if command -v logrotate >/dev/null; then LR=(--oracle "$LOGROTATE_ORACLE"); fi
if command -v systemd-analyze >/dev/null; then JD=(--oracle "$JOURNALD_ORACLE"); fi

if [ -n "${RSYSLOG_LOGROTATE:-}" ]; then
  cp "$RSYSLOG_LOGROTATE" "$W/rsyslog"
elif [ -f /etc/logrotate.d/rsyslog ]; then
  cp /etc/logrotate.d/rsyslog "$W/rsyslog"
else
  (cd "$W" && apt-get download rsyslog >/dev/null 2>&1 && dpkg-deb -x rsyslog_*.deb deb)
  cp "$W/deb/etc/logrotate.d/rsyslog" "$W/rsyslog"
fi
RSYSLOG_FROM="Debian's /etc/logrotate.d/rsyslog (from the rsyslog .deb: /var/log/syslog, mail.log, kern.log, auth.log, user.log, cron.log; weekly, rotate 4)"

# Debian's defaults: the machine's logrotate.conf and logrotate.d, and rsyslog's file.
mkdir "$W/lr.debian"
cp /etc/logrotate.d/* "$W/lr.debian/"
cp "$W/rsyslog" "$W/lr.debian/rsyslog"

# Long enough everywhere: rotate 13 weekly (91 days) for rsyslog and as the global
# default, rotate 3 monthly (90 days) for btmp and wtmp; the others as Debian ships them
# (postgresql-common weekly rotate 10 = 70 days, apt/dpkg/alternatives monthly rotate 12).
sed 's/^rotate 4$/rotate 13/' /etc/logrotate.conf >"$W/logrotate.conf.long"
grep -q '^rotate 13$' "$W/logrotate.conf.long"
mkdir "$W/lr.long"
cp /etc/logrotate.d/* "$W/lr.long/"
sed -i 's/rotate 1$/rotate 3/' "$W/lr.long/btmp" "$W/lr.long/wtmp"
sed 's/rotate 4$/rotate 13/' "$W/rsyslog" >"$W/lr.long/rsyslog"
grep -q 'rotate 13' "$W/lr.long/rsyslog"
LONG_FROM="logrotate.conf from this machine with 'rotate 4' made 'rotate 13' (weekly); logrotate.d from this machine with btmp and wtmp at rotate 3 monthly, plus $RSYSLOG_FROM at rotate 13"

# make_logs DIR OLDEST_DAYS: a /var/log with rotated logs whose mtimes go back
# OLDEST_DAYS days; contents copied from this machine's dpkg.log and alternatives.log.
make_logs() {
  local dir=$1 oldest=$2 i age
  mkdir -p "$dir/apt" "$dir/journal" "$dir/postgresql" "$dir/private"
  head -n 200 /var/log/dpkg.log >"$dir/syslog"
  head -n 200 /var/log/alternatives.log >"$dir/auth.log"
  cp "$dir/syslog" "$dir/dpkg.log"
  cp "$dir/auth.log" "$dir/apt/history.log"
  : >"$dir/btmp"; : >"$dir/wtmp"; : >"$dir/lastlog"; : >"$dir/faillog"
  for i in 1 2 3 4; do
    age=$((oldest * i / 4))
    sed -n "$((i * 30)),$((i * 30 + 40))p" /var/log/dpkg.log | gzip -n >"$dir/syslog.$i.gz"
    touch -d "$(ago "$age")" "$dir/syslog.$i.gz"
  done
  cp "$dir/syslog.1.gz" "$dir/auth.log.1.gz"
  touch -d "$(ago $((oldest / 4)))" "$dir/auth.log.1.gz"
  touch -d "$(ago 1)" "$dir/btmp" "$dir/wtmp" "$dir/lastlog" "$dir/faillog"
}
make_logs "$W/log.120" 120

machine_id() {  # machine_id OUT DAYS: this machine's /etc/machine-id, aged DAYS days
  cp /etc/machine-id "$1"
  touch -d "$(ago "$2")" "$1"
}

record log_retention pass_long_rotation --plant /etc/logrotate.conf="$W/logrotate.conf.long" \
  --plant-dir /etc/logrotate.d="$W/lr.long" --plant-dir /var/log="$W/log.120" "${LR[@]}" \
  --source "$LONG_FROM; /var/log planted with rotated logs (copies of this machine's dpkg.log) whose oldest, syslog.4.gz, has its mtime set 120 days back with touch -d; the machine's own /etc/machine-id and journald.conf" \
  --expect-status pass --expect-summary "configuration keeps every log set at least 60 days" \
  --expect-summary "the oldest log on disk is 120 days old" \
  --expect-value config_min_days=70 --expect-value oldest_log_days=120.0

record log_retention fail_min_days_param --param min_days=100 \
  --plant /etc/logrotate.conf="$W/logrotate.conf.long" \
  --plant-dir /etc/logrotate.d="$W/lr.long" --plant-dir /var/log="$W/log.120" \
  --source "As pass_long_rotation, judged with min_days=100: postgresql-common (weekly rotate 10 = 70 days), btmp and wtmp (monthly rotate 3 = 90) and rsyslog (weekly rotate 13 = 91) keep less" \
  --expect-status fail --expect-summary "4 log set(s) kept less than 100 days" \
  --expect-summary "/var/log/btmp" --expect-value min_days=100 --expect-value config_min_days=70

record log_retention fail_debian_default --plant-dir /etc/logrotate.d="$W/lr.debian" "${LR[@]}" \
  --source "Debian 12's defaults: this machine's own /etc/logrotate.conf (weekly, rotate 4) and /etc/logrotate.d (btmp and wtmp monthly rotate 1) plus $RSYSLOG_FROM; the machine's own /var/log, machine-id and journald.conf" \
  --expect-status fail --expect-summary "3 log set(s) kept less than 60 days" \
  --expect-summary "/var/log/syslog" --expect-summary "rotate 4 × weekly = 28 days" \
  --expect-summary "/var/log/btmp" --expect-summary "rotate 1 × monthly = 30 days" \
  --expect-value config_min_days=28

cp -a "$W/lr.debian" "$W/lr.exclude"
cp "$W/lr.long/rsyslog" "$W/lr.exclude/rsyslog"
record log_retention pass_exclude_param --param 'exclude=["/var/log/btmp", "/var/log/wtmp"]' \
  --plant /etc/logrotate.conf="$W/logrotate.conf.long" --plant-dir /etc/logrotate.d="$W/lr.exclude" \
  --plant-dir /var/log="$W/log.120" \
  --source "This machine's logrotate.d as Debian ships it (btmp and wtmp monthly rotate 1 = 30 days) plus rsyslog at rotate 13 weekly, under the long logrotate.conf of pass_long_rotation, judged with exclude=[/var/log/btmp, /var/log/wtmp]; /var/log as in pass_long_rotation" \
  --expect-status pass --expect-summary "configuration keeps every log set at least 60 days" \
  --expect-summary "the oldest log on disk is 120 days old"

cp -a "$W/lr.long" "$W/lr.maxage"
sed 's/rotate 4$/rotate 52\n\tmaxage 30/' "$W/rsyslog" >"$W/lr.maxage/rsyslog"
grep -q 'maxage 30' "$W/lr.maxage/rsyslog"
record log_retention fail_maxage --plant /etc/logrotate.conf="$W/logrotate.conf.long" \
  --plant-dir /etc/logrotate.d="$W/lr.maxage" --plant-dir /var/log="$W/log.120" "${LR[@]}" \
  --source "As pass_long_rotation, but rsyslog's block says rotate 52 (weekly) and maxage 30" \
  --expect-status fail --expect-summary "1 log set(s) kept less than 60 days" \
  --expect-summary "rotate 52 × weekly, maxage 30 = 30 days" --expect-value config_min_days=30

cp -a "$W/lr.long" "$W/lr.size"
sed 's/rotate 4$/rotate 10\n\tsize 100M/' "$W/rsyslog" >"$W/lr.size/rsyslog"
record log_retention fail_size_based --plant /etc/logrotate.conf="$W/logrotate.conf.long" \
  --plant-dir /etc/logrotate.d="$W/lr.size" --plant-dir /var/log="$W/log.120" "${LR[@]}" \
  --source "As pass_long_rotation, but rsyslog's block says rotate 10 and size 100M (with its weekly): logrotate then rotates by size, on any daily run" \
  --expect-status fail --expect-summary "rotate 10 × by size or with no period, counted as daily = 10 days" \
  --expect-value config_min_days=10

sed 's/^#MaxRetentionSec=.*/MaxRetentionSec=1month/' /etc/systemd/journald.conf >"$W/journald.month"
grep -q '^MaxRetentionSec=1month' "$W/journald.month"
record log_retention fail_journald_retention --plant /etc/systemd/journald.conf="$W/journald.month" \
  --plant /etc/logrotate.conf="$W/logrotate.conf.long" --plant-dir /etc/logrotate.d="$W/lr.long" \
  --plant-dir /var/log="$W/log.120" "${JD[@]}" \
  --source "As pass_long_rotation, plus this machine's /etc/systemd/journald.conf with '#MaxRetentionSec=' made 'MaxRetentionSec=1month' (systemd's month: 30.44 days)" \
  --expect-status fail --expect-summary "journald MaxRetentionSec=1month (= 30 days)"

mkdir -p "$W/jd.order.etc" "$W/jd.order.usr"
printf '[Journal]\nMaxRetentionSec=1week\n' >"$W/jd.order.etc/50-local.conf"
printf '[Journal]\nMaxRetentionSec=1year\n' >"$W/jd.order.usr/05-vendor.conf"
record log_retention fail_journald_dropin_order \
  --plant /etc/systemd/journald.conf.d/50-local.conf="$W/jd.order.etc/50-local.conf" \
  --plant /usr/lib/systemd/journald.conf.d/05-vendor.conf="$W/jd.order.usr/05-vendor.conf" \
  --plant /etc/logrotate.conf="$W/logrotate.conf.long" --plant-dir /etc/logrotate.d="$W/lr.long" \
  --plant-dir /var/log="$W/log.120" "${JD[@]}" \
  --source "As pass_long_rotation, plus journald drop-ins /usr/lib/systemd/journald.conf.d/05-vendor.conf (MaxRetentionSec=1year) and /etc/systemd/journald.conf.d/50-local.conf (MaxRetentionSec=1week), both in directories that do not exist on this machine (overlays in the namespace). journald.conf(5): drop-ins are sorted by file name regardless of directory and the last wins, so 50-local's 1week is in force, although a sort by full path would put /usr/lib's file last" \
  --expect-status fail --expect-summary "journald MaxRetentionSec=1week (= 7 days)"

mkdir -p "$W/jd.disabled"
printf '[Journal]\nMaxRetentionSec=1week\n' >"$W/jd.disabled/10-short.conf.disabled"
record log_retention pass_journald_dropin_not_conf \
  --plant /etc/systemd/journald.conf.d/10-short.conf.disabled="$W/jd.disabled/10-short.conf.disabled" \
  --plant /etc/logrotate.conf="$W/logrotate.conf.long" --plant-dir /etc/logrotate.d="$W/lr.long" \
  --plant-dir /var/log="$W/log.120" "${JD[@]}" \
  --source "As pass_long_rotation, plus /etc/systemd/journald.conf.d/10-short.conf.disabled saying MaxRetentionSec=1week: systemd reads only *.conf drop-ins, so it is not in force" \
  --expect-status pass --expect-summary "configuration keeps every log set at least 60 days"

mkdir -p "$W/jd.masked"
printf '[Journal]\nMaxRetentionSec=1week\n' >"$W/jd.masked/60-vendor.conf"
record log_retention pass_journald_dropin_masked \
  --plant /usr/lib/systemd/journald.conf.d/60-vendor.conf="$W/jd.masked/60-vendor.conf" \
  --plant-symlink /etc/systemd/journald.conf.d/60-vendor.conf=/dev/null \
  --plant /etc/logrotate.conf="$W/logrotate.conf.long" --plant-dir /etc/logrotate.d="$W/lr.long" \
  --plant-dir /var/log="$W/log.120" "${JD[@]}" \
  --source "As pass_long_rotation, plus a vendor drop-in /usr/lib/systemd/journald.conf.d/60-vendor.conf (MaxRetentionSec=1week) masked the way journald.conf(5) says: a symlink of the same name in /etc/systemd/journald.conf.d pointing to /dev/null. The vendor file is then not read" \
  --expect-status pass --expect-summary "configuration keeps every log set at least 60 days"

make_logs "$W/log.10" 10
machine_id "$W/machine-id.10" 10
record log_retention pass_young_host --plant /etc/machine-id="$W/machine-id.10" \
  --plant /etc/logrotate.conf="$W/logrotate.conf.long" --plant-dir /etc/logrotate.d="$W/lr.long" \
  --plant-dir /var/log="$W/log.10" \
  --source "Long configuration as in pass_long_rotation; /var/log planted with logs whose oldest is 10 days old; this machine's /etc/machine-id copied with its mtime set 10 days back (the root file system reports no birth time here)" \
  --expect-status pass --expect-summary "the host is only 10 days old, so no log can be older yet" \
  --expect-value host_age_days=10.0 --expect-value oldest_log_days=10.0

make_logs "$W/log.20" 20
machine_id "$W/machine-id.400" 400
record log_retention fail_old_host_missing_logs --plant /etc/machine-id="$W/machine-id.400" \
  --plant /etc/logrotate.conf="$W/logrotate.conf.long" --plant-dir /etc/logrotate.d="$W/lr.long" \
  --plant-dir /var/log="$W/log.20" \
  --source "Long configuration as in pass_long_rotation; /var/log planted with logs whose oldest is 20 days old; this machine's /etc/machine-id copied with its mtime set 400 days back" \
  --expect-status fail --expect-summary "the oldest log on disk is 20 days old although the host is 400 days old" \
  --expect-value host_age_days=400.0 --expect-value oldest_log_days=20.0

cp -a "$W/log.20" "$W/log.20.empty"
: >"$W/log.20.empty/postgresql/postgresql-15-main.log"
touch -d "$(ago 400)" "$W/log.20.empty/postgresql/postgresql-15-main.log"
record log_retention fail_old_host_empty_old_log --plant /etc/machine-id="$W/machine-id.400" \
  --plant /etc/logrotate.conf="$W/logrotate.conf.long" --plant-dir /etc/logrotate.d="$W/lr.long" \
  --plant-dir /var/log="$W/log.20.empty" \
  --source "As fail_old_host_missing_logs (host 400 days old, every log with content at most 20 days old), plus an empty /var/log/postgresql/postgresql-15-main.log last modified 400 days ago, as PostgreSQL leaves at install time (logrotate's notifempty never touches it; this machine has one from its image build). An empty file holds no log entry, so its age shows nothing about retention" \
  --expect-status fail --expect-summary "logs are removed sooner than 60 days"

sed 's|^include /etc/logrotate.d$|include /etc/logrotate.d\ninclude /etc/logrotate.local.d|' \
  "$W/logrotate.conf.long" >"$W/logrotate.conf.include"
grep -q '^include /etc/logrotate.local.d$' "$W/logrotate.conf.include"
mkdir "$W/lr.local"
printf '/var/log/myapp/*.log {\n\tweekly\n\trotate 2\n\tmissingok\n\tcompress\n}\n' >"$W/lr.local/myapp"
record log_retention include_directive --plant /etc/logrotate.conf="$W/logrotate.conf.include" \
  --plant-dir /etc/logrotate.d="$W/lr.long" --plant-dir /etc/logrotate.local.d="$W/lr.local" \
  --plant-dir /var/log="$W/log.120" "${LR[@]}" \
  --source "As pass_long_rotation, but logrotate.conf also says 'include /etc/logrotate.local.d' (a directory that does not exist on this machine, planted through an overlay of /etc in the namespace) whose file myapp rotates /var/log/myapp/*.log weekly, rotate 2" \
  --expect-status fail --expect-summary "1 log set(s) kept less than 60 days" \
  --expect-summary "/var/log/myapp/*.log (/etc/logrotate.local.d/myapp:1): rotate 2 × weekly = 14 days"

cp -a "$W/lr.long" "$W/lr.orig"
printf '# disabled 2026-03-02, see ticket 4411\n/var/log/myapp/*.log {\n\tdaily\n\trotate 7\n\tmissingok\n}\n' >"$W/lr.orig/myapp.orig"
record log_retention fail_taboo_orig --plant /etc/logrotate.conf="$W/logrotate.conf.long" \
  --plant-dir /etc/logrotate.d="$W/lr.orig" --plant-dir /var/log="$W/log.120" "${LR[@]}" \
  --source "As pass_long_rotation, plus /etc/logrotate.d/myapp.orig (daily, rotate 7 for /var/log/myapp/*.log), as left by an admin who meant to disable it by renaming. .orig is not one of logrotate's taboo extensions: logrotate 3.21 reads it" \
  --expect-status fail --expect-summary "/var/log/myapp/*.log" --expect-summary "rotate 7 × daily = 7 days"

cp -a "$W/lr.long" "$W/lr.dot"
printf '/var/log/myapp/*.log {\n\tdaily\n\trotate 7\n\tmissingok\n}\n' >"$W/lr.dot/.myapp"
record log_retention fail_taboo_dotfile --plant /etc/logrotate.conf="$W/logrotate.conf.long" \
  --plant-dir /etc/logrotate.d="$W/lr.dot" --plant-dir /var/log="$W/log.120" "${LR[@]}" \
  --source "As pass_long_rotation, plus /etc/logrotate.d/.myapp (daily, rotate 7 for /var/log/myapp/*.log): logrotate 3.21 reads files whose names start with a dot" \
  --expect-status fail --expect-summary "/var/log/myapp/*.log" --expect-summary "rotate 7 × daily = 7 days"

cp -a "$W/lr.long" "$W/lr.latin1"
printf '/var/log/caf\351/*.log {\n\tdaily\n\trotate 7\n}\n' >"$W/lr.latin1/cafe"
record log_retention fail_non_utf8_path --plant /etc/logrotate.conf="$W/logrotate.conf.long" \
  --plant-dir /etc/logrotate.d="$W/lr.latin1" --plant-dir /var/log="$W/log.120" "${LR[@]}" \
  --source "As pass_long_rotation, plus /etc/logrotate.d/cafe rotating /var/log/caf\\xe9/*.log (a Latin-1 byte in the path) daily, rotate 7. The engine renders the byte as \\xe9; the summary must name the path as the engine shows it, so that it can be found and excluded" \
  --expect-status fail --expect-summary "/var/log/caf\\xe9/*.log" --expect-summary "rotate 7 × daily = 7 days"

cp -a "$W/lr.long" "$W/lr.ucf"
sed 's/rotate 4$/rotate 4\n\tdaily/' "$W/rsyslog" >"$W/lr.ucf/rsyslog.ucf-dist"
record log_retention pass_taboo_ucf --plant /etc/logrotate.conf="$W/logrotate.conf.long" \
  --plant-dir /etc/logrotate.d="$W/lr.ucf" --plant-dir /var/log="$W/log.120" "${LR[@]}" \
  --source "As pass_long_rotation, plus /etc/logrotate.d/rsyslog.ucf-dist (rsyslog's block at daily, rotate 4), as ucf leaves a new upstream version next to a changed conffile. .ucf-dist is one of logrotate's taboo extensions: logrotate ignores it" \
  --expect-status pass --expect-summary "configuration keeps every log set at least 60 days"

# Odd but valid: a postrotate script with braces (and a lone '}' line) inside, comments,
# non-UTF-8 bytes, an empty file, CRLF line ends, a path list spread over lines.
cp -a "$W/lr.long" "$W/lr.garbled"
cat >"$W/lr.garbled/rsyslog" <<'EOF'
# rsyslog, with a hand-written postrotate
/var/log/syslog
/var/log/mail.log
/var/log/kern.log
/var/log/auth.log
{
	rotate 13
	weekly
	missingok
	sharedscripts
	postrotate
		for f in /run/rsyslogd.pid; do { [ -s "$f" ] && kill -HUP "$(cat "$f")"; } || true; done
		awk '{ n++ } END { print n }' /dev/null >/dev/null
	}
	endscript
}
EOF
printf '# caf\351 \377 logs\n/var/log/caf\351/*.log {\n\tmonthly # kept a year\n\trotate 12\n}\n' >"$W/lr.garbled/latin1"
printf '/var/log/crlf.log {\r\n\tweekly\r\n\trotate 20\r\n}\r\n' >"$W/lr.garbled/crlf"
: >"$W/lr.garbled/empty"
printf '# only comments here\n# /var/log/old.log {\n#   rotate 1\n# }\n' >"$W/lr.garbled/comments"
record log_retention garbled --plant /etc/logrotate.conf="$W/logrotate.conf.long" \
  --plant-dir /etc/logrotate.d="$W/lr.garbled" --plant-dir /var/log="$W/log.120" "${LR[@]}" \
  --source "As pass_long_rotation, with odd but valid logrotate.d files: rsyslog with its paths on separate lines before '{' and a postrotate script holding braces and a lone '}' line; latin1 with non-UTF-8 bytes in a comment and a path and a trailing comment; crlf with CRLF line ends (weekly, rotate 20); an empty file; a file of comments only (a commented-out rotate 1 block)" \
  --expect-status pass --expect-summary "configuration keeps every log set at least 60 days" \
  --expect-value config_min_days=70

cp -a "$W/lr.long" "$W/lr.unterminated"
printf '/var/log/myapp/*.log {\n\tdaily\n\trotate 3\n\tmissingok\n' >"$W/lr.unterminated/myapp"
record log_retention garbled_unterminated_block --plant /etc/logrotate.conf="$W/logrotate.conf.long" \
  --plant-dir /etc/logrotate.d="$W/lr.unterminated" --plant-dir /var/log="$W/log.120" "${LR[@]}" \
  --source "As pass_long_rotation, plus /etc/logrotate.d/myapp whose block (daily, rotate 3) is never closed with '}' before the end of the file: logrotate 3.21 accepts it without a word and rotates /var/log/myapp/*.log daily, keeping 3" \
  --expect-status fail --expect-summary "/var/log/myapp/*.log" --expect-summary "rotate 3 × daily = 3 days"

# Other families (tests/checks/log_retention/stock/README.md says where each file is from).
record log_retention fail_rhel8_default --plant /etc/logrotate.conf=tests/checks/log_retention/stock/rhel8-logrotate.conf \
  --plant-dir /etc/logrotate.d=tests/checks/log_retention/stock/rhel8-logrotate.d --plant-dir /var/log="$W/log.120" \
  "${LR[@]}" \
  --source "RHEL 8's stock /etc/logrotate.conf (weekly, rotate 4) and rsyslog's /etc/logrotate.d/syslog (/var/log/cron, maillog, messages, secure, spooler; nothing of its own), written from a public copy (no RHEL binary here: Debian 12's logrotate is the oracle); /var/log as in pass_long_rotation (oldest 120 days); the machine's own /etc/machine-id and journald.conf" \
  --expect-status fail --expect-summary "1 log set(s) kept less than 60 days" \
  --expect-summary "/var/log/secure" --expect-value config_min_days=28

# Alpine 3.20: no logrotate (an empty /etc/logrotate.conf stands for the missing one, so the
# minirootfs's own /etc/logrotate.d, acpid only, is included by nothing), and busybox syslogd running with Alpine's
# SYSLOGD_OPTS="-t": a real busybox syslogd (start_busybox_syslogd, record_lib.sh).
ALPINE_FIXTURE=/work/shared/fixtures/alpine-minirootfs-3.20.3-x86_64.tar.gz
if [[ fail_alpine_busybox_syslogd == $ONLY ]] && [ -f "$ALPINE_FIXTURE" ] && command -v busybox >/dev/null; then  # shellcheck disable=SC2053
  mkdir -p "$W/alpine" "$W/log.alpine"
  tar -xzf "$ALPINE_FIXTURE" -C "$W/alpine" ./etc/logrotate.d
  : >"$W/alpine-logrotate.conf"
  head -n 200 /var/log/dpkg.log >"$W/log.alpine/messages"
  head -n 100 /var/log/dpkg.log >"$W/log.alpine/messages.0"
  touch -d "$(ago 3)" "$W/log.alpine/messages.0"
  machine_id "$W/machine-id.alpine" 400
  start_busybox_syslogd "$W"
  record log_retention fail_alpine_busybox_syslogd --plant /etc/logrotate.conf="$W/alpine-logrotate.conf" \
    --plant-dir /etc/logrotate.d="$W/alpine/etc/logrotate.d" --plant-dir /var/log="$W/log.alpine" \
    --plant /etc/machine-id="$W/machine-id.alpine" \
    --source "Alpine 3.20's logging: /etc/logrotate.d from the minirootfs ($ALPINE_FIXTURE: acpid only), an empty /etc/logrotate.conf for the missing logrotate, and a real busybox syslogd (Debian's busybox $(busybox | head -n 1 | cut -d' ' -f2), run as syslogd -n -t) with its default rotation, -s 200 -b 1; /var/log holding messages (now) and messages.0 (3 days old), copies of this machine's dpkg.log; /etc/machine-id dated 400 days ago; this machine's journald.conf (journald has no place on Alpine; no /var/log/journal)" \
    --expect-status fail --expect-summary "rotates it at 200 KB and keeps 1 old copy (-s 200 -b 1)" \
    --expect-summary "/var/log/messages: busybox syslogd"
  stop_busybox_syslogd
fi

# /etc/logrotate.conf a link to a named pipe that nothing writes to (logrotate itself would hang
# on it): the probe names it instead of opening it, and the defaults it sets are unknown.
mkfifo "$W/lr-fifo"
mkdir -p "$W/lr.fifo" "$W/log.fifo"
printf '/var/log/app.log {\n  daily\n  rotate 90\n}\n' >"$W/lr.fifo/app"
head -n 100 /var/log/dpkg.log >"$W/log.fifo/app.log"
machine_id "$W/machine-id.fifo" 10
record log_retention error_logrotate_conf_fifo --plant-symlink /etc/logrotate.conf="$W/lr-fifo" \
  --plant-dir /etc/logrotate.d="$W/lr.fifo" --plant-dir /var/log="$W/log.fifo" \
  --plant /etc/machine-id="$W/machine-id.fifo" \
  --source "/etc/logrotate.conf a link to a named pipe (mkfifo) that no process writes to, so that reading it would block; /etc/logrotate.d holding one block (/var/log/app.log: daily, rotate 90); /var/log holding app.log (a copy of this machine's dpkg.log, written now); /etc/machine-id dated 10 days ago; this machine's journald.conf" \
  --expect-status error --expect-summary "/etc/logrotate.conf is a named pipe (FIFO), not a regular file: not read"
