# shellcheck shell=bash
# admin_change_audit cases; sourced by tests/checks/record_all.sh (uses record, $W, $NOW).
#
# Audit rules and the audit daemon are kernel-global, so the "loaded rules" cases run a
# real auditd 3.0.9 on this machine while they are recorded: `auditd -f -c $W/...` in a
# private mount namespace with a tmpfs on /run (its pid file) and its log in $W, rules
# loaded with `auditctl -R`. Afterwards the rules are deleted (auditctl -D), the kernel's
# enabled flag and backlog settings restored, and auditd killed by its PID. A rule file
# with `-e 2` (immutable until reboot) is never loaded into the kernel; it is only planted.
# /tmp/auditor-auditd.lock serialises this with the integration tests that do the same.

AC_CASES=(manual_loaded_rules pass_notification_evidence fail_missing_watches fail_auditd_not_running manual_rule_files_immutable
  garbled_rule_files error_not_root)
ac_wanted() { local c; for c in "${AC_CASES[@]}"; do [[ $c == $ONLY ]] && return 0; done; return 1; }  # shellcheck disable=SC2053

AC_PID=
AC_BEFORE=
ac_start_auditd() {  # ac_start_auditd RULES: a real auditd with RULES loaded
  exec 9>/tmp/auditor-auditd.lock
  flock -w 300 9
  if [ "$(auditctl -s | awk '$1 == "pid" { print $2 }')" != 0 ]; then
    echo "record: an audit daemon is already registered with the kernel; not starting another" >&2
    return 1
  fi
  AC_BEFORE=$(auditctl -s)
  mkdir -p "$W/ac-conf/plugins.d"
  sed -e "s|^log_file = .*|log_file = $W/ac-audit.log|" -e "s|^plugin_dir = .*|plugin_dir = $W/ac-conf/plugins.d|" \
    /etc/audit/auditd.conf >"$W/ac-conf/auditd.conf"
  chmod 640 "$W/ac-conf/auditd.conf"
  unshare --mount --propagation private -- sh -c 'mount -t tmpfs tmpfs /run && exec auditd -f -c "$1"' \
    sh "$W/ac-conf" >"$W/ac-auditd.out" 2>&1 &
  AC_PID=$!
  for _ in $(seq 50); do [ "$(auditctl -s | awk '$1 == "pid" { print $2 }')" != 0 ] && break; sleep 0.1; done
  auditctl -R "$1" >/dev/null
}
ac_stop_auditd() {
  [ -n "$AC_PID" ] || return 0
  auditctl -D >/dev/null || true
  local key value
  while read -r key value; do
    case $key in
      enabled) auditctl -e "$value" >/dev/null || true ;;
      backlog_limit) auditctl -b "$value" >/dev/null || true ;;
      failure) auditctl -f "$value" >/dev/null || true ;;
      rate_limit) auditctl -r "$value" >/dev/null || true ;;
      backlog_wait_time) auditctl --backlog_wait_time "$value" >/dev/null || true ;;
    esac
  done <<<"$AC_BEFORE"
  kill "$AC_PID" 2>/dev/null || true
  wait "$AC_PID" 2>/dev/null || true
  AC_PID=
  flock -u 9
}

if ac_wanted; then
  trap 'ac_stop_auditd; rm -rf "$W"' EXIT
  mkdir -p "$W/ac-rules.full" "$W/ac-rules.partial" "$W/ac-rules.immutable" "$W/ac-rules.garbled"
  # The stock Debian rules.d/audit.rules, then CIS-style identity and scope watches.
  cp /etc/audit/rules.d/audit.rules "$W/ac-rules.full/audit.rules"
  cat >"$W/ac-rules.full/30-identity.rules" <<'EOF'
## Changes to accounts and groups (CIS 4.1.3.8)
-w /etc/group -p wa -k identity
-w /etc/passwd -p wa -k identity
-w /etc/gshadow -p wa -k identity
-a always,exit -F path=/etc/shadow -F perm=wa -k identity
-w /etc/security/opasswd -p wa -k identity
## Changes to sudo rights (CIS 4.1.3.1)
-w /etc/sudoers -p wa -k scope
-w /etc/sudoers.d/ -p wa -k scope
EOF
  cat "$W/ac-rules.full/30-identity.rules" >"$W/ac-full.load"
  cp /etc/audit/rules.d/audit.rules "$W/ac-rules.partial/audit.rules"
  cat >"$W/ac-rules.partial/30-identity.rules" <<'EOF'
-w /etc/passwd -p wa -k identity
-w /etc/group -p wa -k identity
-a always,exit -F arch=b64 -F path=/etc/gshadow -F perm=w -F key=identity
EOF
  cat "$W/ac-rules.partial/30-identity.rules" >"$W/ac-partial.load"
  cp "$W/ac-rules.full/"* "$W/ac-rules.immutable/"
  printf '## Make the configuration immutable until reboot\n-e 2\n' >"$W/ac-rules.immutable/99-finalize.rules"
  # Odd input: non-UTF-8 bytes in a comment and a key, CRLF ends, an empty file, and a
  # later file that starts with -D: augenrules hoists -D to the top, so it deletes nothing.
  cp "$W/ac-rules.full/"* "$W/ac-rules.garbled/"
  printf '# caf\351 \377\r\n-w /etc/hosts -p wa -k r\351seau\r\n' >"$W/ac-rules.garbled/40-latin1.rules"
  : >"$W/ac-rules.garbled/50-empty.rules"
  printf '## start again\n-D\n-w /etc/passwd -p wa -k identity\n-w "/etc/sudoers" -p w\n' >"$W/ac-rules.garbled/60-reset.rules"

  FULL="/etc/audit/rules.d: Debian's stock audit.rules plus 30-identity.rules (CIS-style: -w /etc/group, /etc/passwd, /etc/gshadow, /etc/security/opasswd, /etc/sudoers, /etc/sudoers.d/ -p wa; /etc/shadow as -a always,exit -F path= -F perm=wa)"
  RUNNING="a real auditd 3.0.9 ran on this machine while it was recorded (auditd -f in a private mount namespace, started and stopped by record.sh)"

  ac_start_auditd "$W/ac-full.load"
  record admin_change_audit manual_loaded_rules --plant-dir /etc/audit/rules.d="$W/ac-rules.full" \
    --source "$FULL, the same watches loaded into the kernel with auditctl -R; $RUNNING" \
    --expect-status manual --expect-summary "auditd records changes to all 6 watched path(s) (keys: identity, scope)" \
    --expect-summary "attach the alerting rule" --expect-value rules_loaded_confirmed=true
  record admin_change_audit pass_notification_evidence --plant-dir /etc/audit/rules.d="$W/ac-rules.full" \
    --param 'notification_evidence=SEC-142 (Wazuh rule 80792 on keys identity, scope; sample alert attached)' \
    --source "As manual_loaded_rules ($FULL, loaded with auditctl -R), with the inventory naming the attached notification evidence; $RUNNING" \
    --expect-status pass --expect-summary "all 6 watched path(s)" --expect-summary "notification evidence: SEC-142"
  record admin_change_audit manual_rule_files_immutable --plant-dir /etc/audit/rules.d="$W/ac-rules.immutable" \
    --plant-symlink /usr/sbin/auditctl=/dev/null \
    --source "$FULL plus 99-finalize.rules with -e 2 (immutable; only planted, never loaded); /usr/sbin/auditctl replaced by a link to /dev/null in the namespace, as on a host without auditctl; $RUNNING" \
    --expect-status manual --expect-summary "all 6 watched path(s)" --expect-value rules_loaded_confirmed=false
  record admin_change_audit error_not_root --plant-dir /etc/audit/rules.d="$W/ac-rules.full" --run-as nobody \
    --source "As manual_loaded_rules, but the probes run as user nobody without sudo; $RUNNING" \
    --expect-status error --expect-summary "needs root"
  ac_stop_auditd
  ac_start_auditd "$W/ac-partial.load"
  record admin_change_audit fail_missing_watches --plant-dir /etc/audit/rules.d="$W/ac-rules.partial" \
    --source "/etc/audit/rules.d: Debian's stock audit.rules plus watches on /etc/passwd and /etc/group (-p wa) and a b64 syscall rule on /etc/gshadow with perm=w only, the same loaded with auditctl -R; $RUNNING" \
    --expect-status fail --expect-summary "4 path(s) not audited for -p wa in the loaded rules (auditctl -l)" \
    --expect-summary "/etc/gshadow (watched only for -p w" --expect-summary "/etc/sudoers.d (no watch)"
  record admin_change_audit garbled_rule_files --plant-dir /etc/audit/rules.d="$W/ac-rules.garbled" \
    --plant-symlink /usr/sbin/auditctl=/dev/null \
    --source "$FULL, then 40-latin1.rules (CRLF ends, Latin-1 bytes in a comment and a key), an empty 50-empty.rules and 60-reset.rules starting with -D and watching /etc/passwd (wa) and \"/etc/sudoers\" (quoted, -p w); augenrules hoists -D to the top of the joined rules, so every earlier watch stays; auditctl masked as in manual_rule_files_immutable, so the files are judged; $RUNNING" \
    --expect-status manual --expect-summary "all 6 watched path(s)"
  ac_stop_auditd

  record admin_change_audit fail_auditd_not_running --plant-dir /etc/audit/rules.d="$W/ac-rules.full" \
    --source "$FULL, but no auditd running and no rules loaded on this machine (auditctl -l: No rules)" \
    --expect-status fail --expect-summary "auditd is not running" --expect-value auditd_running=false
fi
