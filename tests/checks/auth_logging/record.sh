# shellcheck shell=bash
# auth_logging cases; sourced by tests/checks/record_all.sh (uses record, ago, $W, $NOW, $DAY).
#
# The login records are real: make_auth_logs.py runs a real sshd, rsyslogd, PAM, su and sudo
# in a private namespace and logs in with paramiko (accepted and failed key and password
# logins over IPv4 and IPv6, an unknown user whose name is a password). Whether rsyslogd
# *runs* cannot be planted in a mount namespace, so for the cases that need it a real
# rsyslogd -n runs on this machine while they are recorded: in a private mount namespace,
# with a configuration that loads no input and writes nothing (no /dev/log, no imklog),
# its pid file in $W; it is killed by its PID afterwards. Likewise, for the journald-only
# cases, a real systemd-journald runs in a private mount namespace with its own tmpfs /run
# (sockets nobody else sees), Storage=volatile, ReadKMsg=no and no log output of its own.

AL_GEN=tests/checks/auth_logging/make_auth_logs.py
AL_PY=${AL_PY:-.venv/bin/python}
AL_DEBIAN="Debian 12's stock /etc/rsyslog.conf (this machine's, from the rsyslog 8.2302 package)"
AL_RSYSLOGD_PID=
AL_JOURNALD_PID=

al_start_rsyslogd() {
  printf 'module(load="imuxsock" SysSock.Use="off")\n*.* %s\n' "$W/inert.log" >"$W/inert-rsyslog.conf"
  unshare --mount --propagation private -- rsyslogd -n -f "$W/inert-rsyslog.conf" -i "$W/inert-rsyslogd.pid" &
  AL_RSYSLOGD_PID=$!
  sleep 1
  kill -0 "$AL_RSYSLOGD_PID"
}
al_start_journald() {
  printf '[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToWall=no\n' >"$W/inert-journald.conf"
  SYSTEMD_LOG_TARGET=null unshare --mount --propagation private -- sh -c \
    'mount -t tmpfs tmpfs /run && mount --bind "$1" /etc/systemd/journald.conf && exec /lib/systemd/systemd-journald' \
    sh "$W/inert-journald.conf" &
  AL_JOURNALD_PID=$!
  sleep 1
  kill -0 "$AL_JOURNALD_PID"
}
al_stop_journald() {
  if [ -n "$AL_JOURNALD_PID" ]; then kill "$AL_JOURNALD_PID" 2>/dev/null || true; wait "$AL_JOURNALD_PID" 2>/dev/null || true; fi
  AL_JOURNALD_PID=
}
al_stop_rsyslogd() {
  if [ -n "$AL_RSYSLOGD_PID" ]; then kill "$AL_RSYSLOGD_PID" 2>/dev/null || true; wait "$AL_RSYSLOGD_PID" 2>/dev/null || true; fi
  AL_RSYSLOGD_PID=
AL_JOURNALD_PID=
}

AL_CASES=(pass_debian_rsyslog pass_traditional_include fail_no_logger fail_not_routed fail_no_timestamp
  fail_sshd_stderr fail_quiet_sshd fail_no_login_records pass_young_host_no_records garbled_auth_records
  error_not_root pass_journald_only error_journal_not_root pass_rhel9_rsyslog fail_journald_volatile_only)
al_wanted() { local c; for c in "${AL_CASES[@]}"; do [[ $c == $ONLY ]] && return 0; done; return 1; }  # shellcheck disable=SC2053

if al_wanted; then
  trap 'al_stop_rsyslogd; al_stop_journald; rm -rf "$W"' EXIT
  "$AL_PY" "$AL_GEN" "$W/al-info"
  "$AL_PY" "$AL_GEN" "$W/al-quiet" --variant quiet
  "$AL_PY" "$AL_GEN" "$W/al-stderr" --variant stderr
  "$AL_PY" "$AL_GEN" "$W/al-journal" --variant journal
  GEN_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
  mk_varlog() {  # mk_varlog DIR NAME=FILE...: a /var/log with those files, 640 root:adm
    local dir=$1
    shift
    mkdir -p "$dir"
    for pair in "$@"; do
      cp "${pair#*=}" "$dir/${pair%%=*}"
      chown root:adm "$dir/${pair%%=*}"
      chmod 640 "$dir/${pair%%=*}"
    done
  }
  mk_varlog "$W/al-log.info" auth.log="$W/al-info/auth.log"
  mk_varlog "$W/al-log.secure" secure="$W/al-info/auth-traditional.log"
  mk_varlog "$W/al-log.nostamp" auth.log="$W/al-info/auth-nostamp.log"
  mk_varlog "$W/al-log.stderr" auth.log="$W/al-stderr/sshd-E.log"
  mk_varlog "$W/al-log.quiet" auth.log="$W/al-quiet/auth.log"
  # A journald-only /var/log: the journal, owned and moded as journald and Debian's tmpfiles
  # leave it (directories 2755 root:systemd-journal, files 0640), and no auth.log.
  mkdir -p "$W/al-log.journal"
  cp -a "$W/al-journal/journal" "$W/al-log.journal/journal"
  chown -R root:systemd-journal "$W/al-log.journal/journal"
  find "$W/al-log.journal/journal" -type d -exec chmod 2755 {} +
  find "$W/al-log.journal/journal" -type f -exec chmod 0640 {} +
  : >"$W/al-empty"
  mk_varlog "$W/al-log.empty" auth.log="$W/al-empty"
  # Odd input: real records with CRLF ends, Latin-1 bytes, a 5000-character line and a line
  # cut in the middle, around the real records.
  { printf 'Nov 21 09:00:00 vm sshd[9]: Accepted publickey for caf\351 from 10.1.2.3 port 22 ssh2\r\n'
    head -c 5000 /dev/zero | tr '\0' 'x'; printf ' Accepted password for \n'
    printf 'Nov 21 09:00:01 vm sshd[9]: Failed password for\n'
    cat "$W/al-info/auth.log"; } >"$W/al-garbled"
  mk_varlog "$W/al-log.garbled" auth.log="$W/al-garbled"
  cp -a /etc/rsyslog.conf "$W/al-rsyslog.conf"
  mkdir -p "$W/al-rsyslog.d"
  printf '# local additions\n$RepeatedMsgReduction on\n' >"$W/al-rsyslog.d/00-local.conf"
  # RainerScript style, as RHEL writes it, with the rules in an included file.
  cat >"$W/al-rsyslog-rainer.conf" <<'EOF'
module(load="imuxsock")
module(load="imjournal" StateFile="imjournal.state")
global(workDirectory="/var/lib/rsyslog")
include(file="/etc/rsyslog.d/*.conf" mode="optional")
*.info;mail.none;authpriv.none;cron.none                /var/log/messages
EOF
  mkdir -p "$W/al-rsyslog-rainer.d"
  cat >"$W/al-rsyslog-rainer.d/10-auth.conf" <<'EOF'
# Authentication records
if prifilt("auth,authpriv.*") then {
    action(type="omfile"
           file="/var/log/secure")
}
EOF
  # Only the catch-all line: auth and authpriv are excluded from it and go nowhere else.
  grep -v -E '^auth,authpriv\.\*' /etc/rsyslog.conf >"$W/al-rsyslog-noauth.conf"
  touch -d "$(ago 400)" "$W/al-log.empty/auth.log"
  cp -p /etc/machine-id "$W/al-machine-id.young"
  touch -d "@$((NOW - 2 * 3600))" "$W/al-machine-id.young"
  cp -p /etc/machine-id "$W/al-machine-id.old"
  touch -d "$(ago 400)" "$W/al-machine-id.old"
  OLD_HOST=(--plant /etc/machine-id="$W/al-machine-id.old")
  RECORDS="records made $GEN_AT by tests/checks/auth_logging/make_auth_logs.py (real sshd 9.2 with UsePAM, rsyslogd 8.2302, su and sudo in a private namespace; paramiko logins: root by key, root with a wrong key and a wrong password, alice by password and with a wrong one over IPv4 and IPv6, an unknown user whose name is a password)"
  RUNNING="a real rsyslogd -n was running on this machine while it was recorded (inert configuration, started and killed by record.sh)"
  STD_CONF=(--plant /etc/rsyslog.conf="$W/al-rsyslog.conf" --plant-dir /etc/rsyslog.d="$W/al-rsyslog.d")

  al_start_rsyslogd
  record auth_logging pass_debian_rsyslog "${STD_CONF[@]}" --plant-dir /var/log="$W/al-log.info" "${OLD_HOST[@]}" \
    --source "$AL_DEBIAN plus rsyslog.d/00-local.conf (a comment and a legacy directive); /var/log/auth.log holding the $RECORDS, written by rsyslog's default file format (RFC 3339); $RUNNING" \
    --expect-status pass --expect-summary "rsyslogd → /var/log/auth.log (auth,authpriv)" \
    --expect-summary "carry the date, time, user and source IP" --expect-value records_missing_fields=0
  record auth_logging pass_traditional_include --plant /etc/rsyslog.conf="$W/al-rsyslog-rainer.conf" \
    --plant-dir /etc/rsyslog.d="$W/al-rsyslog-rainer.d" --plant-dir /var/log="$W/al-log.secure" "${OLD_HOST[@]}" \
    --source "RHEL-style RainerScript rsyslog.conf: include(file=\"/etc/rsyslog.d/*.conf\"), and rsyslog.d/10-auth.conf routing if prifilt(\"auth,authpriv.*\") to action(type=\"omfile\" file=\"/var/log/secure\") over two lines; /var/log/secure holding the $RECORDS in RSYSLOG_TraditionalFileFormat (RFC 3164, no year); $RUNNING" \
    --expect-status pass --expect-summary "/var/log/secure (auth,authpriv)" \
    --expect-summary "carry the date, time, user and source IP"
  record auth_logging fail_not_routed --plant /etc/rsyslog.conf="$W/al-rsyslog-noauth.conf" \
    --plant-dir /etc/rsyslog.d="$W/al-rsyslog.d" --plant-dir /var/log="$W/al-log.info" "${OLD_HOST[@]}" \
    --source "$AL_DEBIAN without its 'auth,authpriv.* /var/log/auth.log' line: the catch-all *.*;auth,authpriv.none excludes them, so they go to no file; /var/log/auth.log still holds older $RECORDS; $RUNNING" \
    --expect-status fail --expect-summary "rsyslogd runs but routes auth,authpriv.info to no file"
  record auth_logging fail_no_timestamp "${STD_CONF[@]}" --plant-dir /var/log="$W/al-log.nostamp" "${OLD_HOST[@]}" \
    --source "$AL_DEBIAN; /var/log/auth.log holding the $RECORDS written through an rsyslog template without any timestamp (\"%HOSTNAME% %syslogtag%%msg%\"); $RUNNING" \
    --expect-status fail --expect-summary "login records lack the date, time"
  record auth_logging fail_sshd_stderr "${STD_CONF[@]}" --plant-dir /var/log="$W/al-log.stderr" "${OLD_HOST[@]}" \
    --source "$AL_DEBIAN; /var/log/auth.log is what sshd -E wrote (sshd's own log file: no timestamp, no program tag), from the same logins as the other cases; $RUNNING" \
    --expect-status fail --expect-summary "login records lack the date, time"
  record auth_logging fail_quiet_sshd "${STD_CONF[@]}" --plant-dir /var/log="$W/al-log.quiet" "${OLD_HOST[@]}" \
    --source "$AL_DEBIAN; /var/log/auth.log from the same logins with sshd at LogLevel ERROR (as the test harness runs it): only PAM's session and failure lines and su/sudo are recorded, no Accepted line names a source; $RUNNING" \
    --expect-status fail --expect-summary "login records lack the source IP"
  record auth_logging fail_no_login_records "${STD_CONF[@]}" --plant-dir /var/log="$W/al-log.empty" "${OLD_HOST[@]}" \
    --source "$AL_DEBIAN; /var/log/auth.log empty (400 days old); /etc/machine-id dated 400 days ago; $RUNNING" \
    --expect-status fail --expect-summary "no login records found in /var/log/auth.log"
  record auth_logging pass_young_host_no_records "${STD_CONF[@]}" --plant-dir /var/log="$W/al-log.empty" \
    --plant /etc/machine-id="$W/al-machine-id.young" \
    --source "$AL_DEBIAN; /var/log/auth.log empty; this machine's /etc/machine-id with its mtime set 2 hours back (a host installed 2 hours ago); $RUNNING" \
    --expect-status pass --expect-summary "no login record yet" --expect-summary "only 2 hours old"
  record auth_logging garbled_auth_records "${STD_CONF[@]}" --plant-dir /var/log="$W/al-log.garbled" "${OLD_HOST[@]}" \
    --source "$AL_DEBIAN; /var/log/auth.log holding the $RECORDS, preceded by a CRLF-terminated RFC 3164 record whose user name has a Latin-1 byte (caf\\xe9), a 5000-character line ending in 'Accepted password for ' and a record cut after 'Failed password for'; $RUNNING" \
    --expect-status pass --expect-summary "carry the date, time, user and source IP"
  record auth_logging error_not_root "${STD_CONF[@]}" --plant-dir /var/log="$W/al-log.info" "${OLD_HOST[@]}" \
    --run-as nobody \
    --source "As pass_debian_rsyslog, but the probes run as user nobody (no sudo): /var/log/auth.log is 640 root:adm; $RUNNING" \
    --expect-status error --expect-summary "cannot read /var/log/auth.log"
  # RHEL 9: its stock rsyslog.conf (tests/checks/auth_logging/stock/README.md), an empty
  # rsyslog.d, and /var/log/secure in RSYSLOG_TraditionalFileFormat as RHEL writes it.
  mkdir -p "$W/al-rsyslog-empty.d"
  record auth_logging pass_rhel9_rsyslog --plant /etc/rsyslog.conf=tests/checks/auth_logging/stock/rhel9-rsyslog.conf \
    --plant-dir /etc/rsyslog.d="$W/al-rsyslog-empty.d" --plant-dir /var/log="$W/al-log.secure" "${OLD_HOST[@]}" \
    --source "RHEL 9's stock /etc/rsyslog.conf (rsyslog 8.2102; see tests/checks/auth_logging/stock/README.md; no RHEL binary runs here: rsyslogd 8.2302 of Debian 12 stood in) with an empty rsyslog.d: authpriv.* to /var/log/secure, auth.info to /var/log/messages through the catch-all; /var/log/secure holding the $RECORDS in RSYSLOG_TraditionalFileFormat (RFC 3164, no year); no /var/log/messages; $RUNNING" \
    --expect-status pass --expect-summary "/var/log/messages (auth), /var/log/secure (authpriv)" \
    --expect-summary "carry the date, time, user and source IP"
  al_stop_rsyslogd

  JOURNAL_RECORDS="${RECORDS/rsyslogd 8.2302/systemd-journald 252 (Storage=persistent, flushed to /var/log/journal)}"
  JOURNALD_ONLY="no rsyslogd or syslog-ng; a real systemd-journald was running on this machine while it was recorded (inert: private /run, Storage=volatile; started and killed by record.sh); this machine's /etc/systemd/journald.conf (Storage not set: auto); /var/log holds only journal/<machine-id>/system.journal (dirs 2755 root:systemd-journal, file 0640) with the $JOURNAL_RECORDS, and no auth.log"
  al_start_journald
  record auth_logging pass_journald_only --plant-dir /var/log="$W/al-log.journal" "${OLD_HOST[@]}" \
    --source "A journald-only host: $JOURNALD_ONLY; probes as root" \
    --expect-status pass --expect-summary "systemd-journald (Storage=auto, persistent)" \
    --expect-summary "carry the date, time, user and source IP"
  record auth_logging error_journal_not_root --plant-dir /var/log="$W/al-log.journal" "${OLD_HOST[@]}" \
    --run-as nobody \
    --source "As pass_journald_only, but the probes run as user nobody (no sudo), who may not read the system journal: $JOURNALD_ONLY" \
    --expect-status error --expect-summary "cannot read the whole journal as uid 65534"
  # Volatile: a drop-in sets Storage=volatile (as images on SD cards or in containers do), so
  # the records live in /run/log/journal only and no /var/log/journal exists.
  mkdir -p "$W/al-journald.d" "$W/al-log.none"
  printf '[Journal]\nStorage=volatile\n' >"$W/al-journald.d/50-volatile.conf"
  record auth_logging fail_journald_volatile_only --plant-dir /var/log="$W/al-log.none" \
    --plant-dir /run/log/journal="$W/al-log.journal/journal" --plant-dir /etc/systemd/journald.conf.d="$W/al-journald.d" \
    "${OLD_HOST[@]}" \
    --source "A journald-only host (as Debian 13 and Ubuntu 24.04 minimal installs are) whose journal is volatile: /etc/systemd/journald.conf.d/50-volatile.conf sets Storage=volatile; /var/log empty (no journal directory, no auth.log); /run/log/journal holding the $JOURNAL_RECORDS; no rsyslogd or syslog-ng; a real systemd-journald was running on this machine while it was recorded (inert: private /run, Storage=volatile; started and killed by record.sh); probes as root" \
    --expect-status fail --expect-summary "systemd-journald is the only logger and keeps login records in memory only (Storage=volatile)"
  al_stop_journald

  record auth_logging fail_no_logger "${STD_CONF[@]}" --plant-dir /var/log="$W/al-log.info" "${OLD_HOST[@]}" \
    --source "$AL_DEBIAN and /var/log/auth.log holding the $RECORDS, but no rsyslogd, syslog-ng or systemd-journald running on this machine (Debian 12 VM without systemd as PID 1)" \
    --expect-status fail --expect-summary "no syslog daemon (rsyslogd, syslog-ng) or systemd-journald is running"

  # The secrets make_auth_logs.py planted (a password typed as a user name, one on a sudo
  # command line) must be masked on the host: no recorded case may hold them.
  for secret in "Tr0ub4dor" "Sup3rS3cret"; do
    if grep -l -F "$secret" tests/checks/auth_logging/*.yaml; then FAILED+=("auth_logging: $secret in a case"); fi
  done
fi

# Alpine's logger: a real busybox syslogd (Debian's busybox, run under the name syslogd as
# Alpine links it) receiving a real sshd's login records (this machine's OpenSSH, SyslogFacility
# AUTH, LogLevel INFO, UsePAM no, as Alpine's sshd runs) over /dev/log, all in private mount,
# network and PID namespaces: a tmpfs /dev (with null, zero, random, urandom and tty bound in)
# holds their /dev/log, so neither touches this machine's. One key login as root and one
# attempt as an unknown user. The file busybox wrote is then planted as /var/log/messages
# while another such syslogd (-n -t, Alpine's SYSLOGD_OPTS) runs, inert, for the probes to see.
if [[ pass_busybox_syslogd == $ONLY ]] && command -v busybox >/dev/null && [ -x /usr/sbin/sshd ]; then  # shellcheck disable=SC2053
  BB=$W/bb
  mkdir -p "$BB/devs" "$BB/log" "$BB/etc"
  ln -s "$(command -v busybox)" "$BB/syslogd"
  ssh-keygen -q -t ed25519 -N '' -C bb-host -f "$BB/host_key"
  ssh-keygen -q -t ed25519 -N '' -C bb-client -f "$BB/client_key"
  cp "$BB/client_key.pub" "$BB/authorized_keys"
  echo "[127.0.0.1]:2222 $(cat "$BB/host_key.pub")" >"$BB/known_hosts"
  printf '%s\n' 'ListenAddress 127.0.0.1:2222' "HostKey $BB/host_key" 'PidFile none' 'UsePAM no' \
    'PermitRootLogin prohibit-password' 'PasswordAuthentication no' 'KbdInteractiveAuthentication no' \
    "AuthorizedKeysFile $BB/authorized_keys" 'StrictModes no' 'SyslogFacility AUTH' 'LogLevel INFO' >"$BB/sshd_config"
  unshare --mount --propagation private --net --pid --fork --kill-child -- sh -e -c '
    BB=$1
    ip link set lo up
    for n in null zero random urandom tty; do touch "$BB/devs/$n"; mount --bind "/dev/$n" "$BB/devs/$n"; done
    mount -t tmpfs -o mode=0755 bb-dev /dev
    for n in null zero random urandom tty; do touch "/dev/$n"; mount --bind "$BB/devs/$n" "/dev/$n"; done
    "$BB/syslogd" -n -O "$BB/log/messages" & sleep 1
    /usr/sbin/sshd -D -f "$BB/sshd_config" & sleep 1
    set -- ssh -F /dev/null -i "$BB/client_key" -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=yes \
      -o UserKnownHostsFile="$BB/known_hosts" -o LogLevel=ERROR
    "$@" root@127.0.0.1 true
    "$@" nosuchuser@127.0.0.1 true || true
    sleep 1
  ' sh "$BB"
  grep -q 'sshd\[[0-9]*\]: Accepted publickey for root from 127.0.0.1' "$BB/log/messages"
  mkdir -p "$BB/varlog"
  cp "$BB/log/messages" "$BB/varlog/messages"
  cp -p /etc/machine-id "$BB/machine-id"
  touch -d "$(ago 400)" "$BB/machine-id"
  start_busybox_syslogd "$BB"
  record auth_logging pass_busybox_syslogd --plant-dir /var/log="$BB/varlog" --plant /etc/machine-id="$BB/machine-id" \
    --source "Alpine's logging, on this machine's userland: a real busybox syslogd ($(busybox | head -n 1 | cut -d' ' -f1-2), as syslogd -n -t) running, no rsyslogd or journald files routing auth; /var/log/messages holding what a real busybox syslogd wrote (its default format: host, facility.priority, tag) when a real sshd ($(/usr/sbin/sshd -V 2>&1 | head -n 1 | cut -d, -f1); SyslogFacility AUTH, LogLevel INFO, no PAM) took a key login as root and an attempt as an unknown user over 127.0.0.1, made $(date -u '+%Y-%m-%d %H:%M UTC') by tests/checks/auth_logging/record.sh; /etc/machine-id dated 400 days ago; no Alpine binary here" \
    --expect-status pass --expect-summary "busybox syslogd → /var/log/messages (every facility" \
    --expect-summary "carry the date, time, user and source IP"
  stop_busybox_syslogd
fi

# busybox syslogd writing every message to the console (-O /dev/console: embedded hosts, some
# containers): a real busybox syslogd, run under the name syslogd in a private mount namespace
# with a tmpfs /dev (there its -O is a file of its own, and its /dev/log not this machine's),
# so that the probes see its command line, and /dev/console is this machine's console device.
# Reading a device blocks: the probe names it instead, and asks for where its output is kept.
if [[ manual_syslogd_console == $ONLY ]] && command -v busybox >/dev/null; then  # shellcheck disable=SC2053
  BC=$W/bc
  mkdir -p "$BC/varlog"
  ln -s "$(command -v busybox)" "$BC/syslogd"
  cp -p /etc/machine-id "$BC/machine-id"
  touch -d "$(ago 400)" "$BC/machine-id"
  unshare --mount --propagation private -- sh -c \
    'mount -t tmpfs tmpfs /dev && exec "$1" -n -O /dev/console' sh "$BC/syslogd" &
  BB_SYSLOGD_PID=$!
  sleep 1
  kill -0 "$BB_SYSLOGD_PID"
  record auth_logging manual_syslogd_console --plant-dir /var/log="$BC/varlog" --plant /etc/machine-id="$BC/machine-id" \
    --source "A real busybox syslogd ($(busybox | head -n 1 | cut -d' ' -f1-2), as syslogd -n -O /dev/console) running, and no other logger; /dev/console this machine's console (a character device); /var/log empty (no auth.log, no secure, no journal); /etc/machine-id dated 400 days ago" \
    --expect-status manual --expect-summary "no login record was read here: /dev/console is a device, not a regular file"
  stop_busybox_syslogd
fi
