# ssh_hardening cases, sourced by tests/checks/record_all.sh (uses record, $W).
# This machine's real sshd -T (OpenSSH 9.2, Debian 12) reads each planted sshd_config and
# sshd_config.d for real; the fallback cases run as nobody, where sshd -T cannot read the
# host keys. Expectations come from what is planted.

SSH_ORACLE="/usr/sbin/sshd -T 2>&1 | grep -E '^(permitrootlogin|passwordauthentication|kbdinteractiveauthentication|permitemptypasswords|ciphers|macs|kexalgorithms|hostkeyalgorithms|sshd:|/etc/ssh)'"
SSH=(--oracle "$SSH_ORACLE")
mkdir -p "$W/ssh.empty.d"

# A hardened configuration in Debian 12's layout: the Include line first, then the settings.
cat >"$W/sshd_config.hardened" <<'EOF'
# Hardened sshd_config (Debian 12 layout)
Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM yes
X11Forwarding no
MaxAuthTries 3
LoginGraceTime 30
AllowGroups sshusers
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512
Subsystem sftp /usr/lib/openssh/sftp-server
EOF

record ssh_hardening fail_debian_default "${SSH[@]}" \
  --source "This machine's own, unmodified Debian 12 /etc/ssh/sshd_config (PasswordAuthentication left at its default yes, OpenSSH's default MACs with umac-64 and hmac-sha1) and its empty sshd_config.d" \
  --expect-status fail --expect-summary "PasswordAuthentication yes" --expect-summary "MACs offers" \
  --expect-summary "from sshd -T" --expect-value source="sshd -T" --expect-value weak_algorithms=4

record ssh_hardening pass_hardened --plant /etc/ssh/sshd_config="$W/sshd_config.hardened" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" "${SSH[@]}" \
  --source "A hardened sshd_config: PermitRootLogin prohibit-password, PasswordAuthentication no, KbdInteractiveAuthentication no, AllowGroups sshusers, only AEAD/CTR ciphers, SHA-2 and umac-128 ETM MACs, curve25519/sntrup/group16 kex; empty sshd_config.d" \
  --expect-status pass --expect-summary "no weak algorithms offered" --expect-value source="sshd -T" \
  --expect-value weak_algorithms=0

printf '# Old habits\nPermitRootLogin yes\nPasswordAuthentication yes\nCiphers aes128-cbc,aes256-ctr\nUsePAM yes\n' \
  >"$W/sshd_config.weak"
record ssh_hardening fail_root_password_cbc --plant /etc/ssh/sshd_config="$W/sshd_config.weak" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" "${SSH[@]}" \
  --source "sshd_config with PermitRootLogin yes, PasswordAuthentication yes and Ciphers aes128-cbc,aes256-ctr; no Include" \
  --expect-status fail --expect-summary "PermitRootLogin yes (/etc/ssh/sshd_config:2)" \
  --expect-summary "PasswordAuthentication yes (/etc/ssh/sshd_config:3)" \
  --expect-summary "Ciphers offers aes128-cbc (/etc/ssh/sshd_config:4)"

# Include with a relative glob: a drop-in read before the main file's own line wins.
mkdir -p "$W/ssh.dropins.d"
printf '# cloud-init style drop-in\nPasswordAuthentication yes\n' >"$W/ssh.dropins.d/50-cloud-init.conf"
printf 'PermitRootLogin no\n' >"$W/ssh.dropins.d/10-root.conf"
printf 'PermitRootLogin yes\n' >"$W/ssh.dropins.d/99-ignored.conf.disabled"
sed 's#^Include .*#Include sshd_config.d/*.conf#' "$W/sshd_config.hardened" >"$W/sshd_config.relative"
record ssh_hardening fail_include_dropin --plant /etc/ssh/sshd_config="$W/sshd_config.relative" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.dropins.d" "${SSH[@]}" \
  --source "The hardened sshd_config with 'Include sshd_config.d/*.conf' (relative to /etc/ssh) on line 2; sshd_config.d holds 10-root.conf (PermitRootLogin no), 50-cloud-init.conf (PasswordAuthentication yes, as cloud images ship it) and 99-ignored.conf.disabled (PermitRootLogin yes, not matched by the glob). The drop-ins are read first, so their values win over the main file's" \
  --expect-status fail --expect-summary "PasswordAuthentication yes (/etc/ssh/sshd_config.d/50-cloud-init.conf:2)" \
  --expect-value source="sshd -T"

# Match blocks: one re-enables passwords for a network, one only restricts sftp users.
{ cat "$W/sshd_config.hardened"; printf 'Match Group sftponly\n  ForceCommand internal-sftp\n  X11Forwarding no\nMatch Address 10.0.0.0/8\n  PasswordAuthentication yes\n'; } >"$W/sshd_config.match"
record ssh_hardening fail_match_block --plant /etc/ssh/sshd_config="$W/sshd_config.match" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" "${SSH[@]}" \
  --source "The hardened sshd_config plus two Match blocks at its end: 'Match Group sftponly' (ForceCommand internal-sftp, X11Forwarding no) and 'Match Address 10.0.0.0/8' (PasswordAuthentication yes). sshd -T without -C shows the global values (no)" \
  --expect-status fail --expect-summary "Match Address 10.0.0.0/8 (/etc/ssh/sshd_config:19) sets PasswordAuthentication yes (/etc/ssh/sshd_config:20)" \
  --expect-value match_blocks=2

{ cat "$W/sshd_config.hardened"; printf 'Match Group sftponly\n  ForceCommand internal-sftp\n  X11Forwarding no\n  PasswordAuthentication no\n'; } >"$W/sshd_config.match_ok"
record ssh_hardening pass_match_block_harmless --plant /etc/ssh/sshd_config="$W/sshd_config.match_ok" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" "${SSH[@]}" \
  --source "The hardened sshd_config plus 'Match Group sftponly' (ForceCommand internal-sftp, X11Forwarding no, PasswordAuthentication no)" \
  --expect-status pass --expect-summary "no weak algorithms offered" --expect-value match_blocks=1

# keyboard-interactive through PAM: a password prompt, unless it is a second factor only.
sed 's/^KbdInteractiveAuthentication no/KbdInteractiveAuthentication yes/' "$W/sshd_config.hardened" >"$W/sshd_config.kbd"
record ssh_hardening fail_kbd_interactive_pam --plant /etc/ssh/sshd_config="$W/sshd_config.kbd" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" "${SSH[@]}" \
  --source "The hardened sshd_config with KbdInteractiveAuthentication yes and UsePAM yes: pam_unix answers keyboard-interactive with a password prompt" \
  --expect-status fail --expect-summary "KbdInteractiveAuthentication yes (/etc/ssh/sshd_config:5) with UsePAM yes"
{ cat "$W/sshd_config.kbd"; printf 'AuthenticationMethods publickey,keyboard-interactive\n'; } >"$W/sshd_config.kbd2fa"
record ssh_hardening pass_kbd_second_factor --plant /etc/ssh/sshd_config="$W/sshd_config.kbd2fa" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" "${SSH[@]}" \
  --source "As fail_kbd_interactive_pam plus AuthenticationMethods publickey,keyboard-interactive: PAM's prompt comes only after a public key (a second factor)" \
  --expect-status pass --expect-summary "no weak algorithms offered"

# +list / ^list syntax adding SHA-1 algorithms to the defaults; PermitEmptyPasswords.
{ printf 'KexAlgorithms +diffie-hellman-group14-sha1\nHostKeyAlgorithms ^ssh-rsa\nPubkeyAcceptedAlgorithms +ssh-rsa\nPermitEmptyPasswords yes\n'; cat "$W/sshd_config.hardened"; } >"$W/sshd_config.sha1"
record ssh_hardening fail_sha1_kex_hostkey --plant /etc/ssh/sshd_config="$W/sshd_config.sha1" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" "${SSH[@]}" \
  --source "sshd_config starting with KexAlgorithms +diffie-hellman-group14-sha1, HostKeyAlgorithms ^ssh-rsa, PubkeyAcceptedAlgorithms +ssh-rsa and PermitEmptyPasswords yes (first values win over the hardened lines after them)" \
  --expect-status fail --expect-summary "PermitEmptyPasswords yes (/etc/ssh/sshd_config:4)" \
  --expect-summary "KexAlgorithms offers diffie-hellman-group14-sha1 (/etc/ssh/sshd_config:1)" \
  --expect-value weak_algorithms=3

# Odd but valid input: mixed case keywords, Keyword=value, tabs, comments, non-UTF-8 bytes,
# CRLF-free trailing spaces, an obsolete Protocol line, an Include matching nothing.
printf '# caf\351 \377 comment in latin1\n\tpermitrootlogin=no\nPASSWORDAUTHENTICATION   no\n# PasswordAuthentication yes\nKbdInteractiveAuthentication = no\nProtocol 2\nInclude /etc/ssh/nothing.d/*.conf\nmacs hmac-sha2-256-etm@openssh.com\n\nciphers aes256-gcm@openssh.com\nUsePAM yes\nAllowUsers admin caf\351\n' >"$W/sshd_config.odd"
record ssh_hardening garbled_odd_syntax --plant /etc/ssh/sshd_config="$W/sshd_config.odd" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" "${SSH[@]}" \
  --source "An odd but valid sshd_config: a latin1 comment with non-UTF-8 bytes (blanked on the host), AllowUsers with a latin1 user name (non-UTF-8 byte \\351), a tab-indented 'permitrootlogin=no', upper-case PASSWORDAUTHENTICATION, 'KbdInteractiveAuthentication = no', an obsolete 'Protocol 2', an Include whose glob matches nothing, lower-case macs/ciphers lines and a commented-out PasswordAuthentication yes" \
  --expect-status pass --expect-summary "PermitRootLogin no"

printf 'PasswordAuthentication no\nPermitRootLogin no\nNoSuchOption yes\n' >"$W/sshd_config.badkw"
record ssh_hardening garbled_bad_keyword --plant /etc/ssh/sshd_config="$W/sshd_config.badkw" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" "${SSH[@]}" \
  --source "sshd_config with an unknown keyword (NoSuchOption yes): sshd -T refuses it (exit 255), so the check falls back to the file itself and OpenSSH 9.2's compiled-in defaults, whose MACs include umac-64 and hmac-sha1 (low: an advisory; root login and passwords are off, so it passes)" \
  --expect-status pass --expect-summary "from sshd_config" --expect-summary "advisory: low: MACs offers" \
  --expect-value source=sshd_config

# Not root: sshd -T cannot read the host keys; the files are read instead.
record ssh_hardening fail_fallback_not_root --plant /etc/ssh/sshd_config="$W/sshd_config.weak" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" --run-as nobody \
  --source "As fail_root_password_cbc, run as nobody: sshd -T exits 1 (no hostkeys available), the planted file is read instead" \
  --expect-status fail --expect-summary "PermitRootLogin yes (/etc/ssh/sshd_config:2)" --expect-summary "from sshd_config" \
  --expect-value source=sshd_config
record ssh_hardening pass_fallback_not_root --plant /etc/ssh/sshd_config="$W/sshd_config.hardened" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" --run-as nobody \
  --source "As pass_hardened, run as nobody: sshd -T exits 1 (no hostkeys available); the hardened file sets every judged list, so OpenSSH's defaults do not matter" \
  --expect-status pass --expect-summary "from sshd_config" --expect-value source=sshd_config

cp "$W/sshd_config.hardened" "$W/sshd_config.private"
chmod 600 "$W/sshd_config.private"
record ssh_hardening error_not_root_unreadable --plant /etc/ssh/sshd_config="$W/sshd_config.private" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" --run-as nobody \
  --source "The hardened sshd_config with mode 600 (root only), run as nobody: sshd -T fails (no hostkeys) and the file cannot be read" \
  --expect-status error --expect-summary "sshd -T exited 1" --expect-summary "could not be read"

record ssh_hardening skip_no_sshd --plant-symlink /usr/sbin/sshd=/nonexistent/sshd \
  --source "sshd removed: /usr/sbin/sshd replaced by a dangling symbolic link in an overlay (openssh-server not installed)" \
  --expect-status skip --expect-summary "no OpenSSH server"

# Not root, and a drop-in only root may read (cloud images ship 50-cloud-init.conf as 0600):
# it is read before the main file's lines, so whatever it sets wins, and nobody cannot see it.
mkdir -p "$W/ssh.private.d" "$W/ssh.closed.d"
printf '# cloud-init style drop-in\nPasswordAuthentication yes\n' >"$W/ssh.private.d/50-cloud-init.conf"
chmod 600 "$W/ssh.private.d/50-cloud-init.conf"
record ssh_hardening error_not_root_private_dropin --plant /etc/ssh/sshd_config="$W/sshd_config.hardened" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.private.d" --run-as nobody "${SSH[@]}" \
  --source "The hardened sshd_config (PasswordAuthentication no, 'Include /etc/ssh/sshd_config.d/*.conf' on line 2), and sshd_config.d (mode 755) holding 50-cloud-init.conf with mode 600 (root only) that sets PasswordAuthentication yes, run as nobody: sshd -T fails (no hostkeys) and the drop-in, which sshd reads first so its yes wins (see the oracle, run as root), cannot be read" \
  --expect-status error --expect-summary "sshd -T exited 1" \
  --expect-summary "cannot read /etc/ssh/sshd_config.d/50-cloud-init.conf"
cp "$W/ssh.private.d/50-cloud-init.conf" "$W/ssh.closed.d/"
chmod 700 "$W/ssh.closed.d"
record ssh_hardening error_not_root_closed_dropin_dir --plant /etc/ssh/sshd_config="$W/sshd_config.hardened" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.closed.d" --run-as nobody "${SSH[@]}" \
  --source "As error_not_root_private_dropin, but sshd_config.d itself has mode 700 (root only), so nobody can list or search it: the Include glob stays literal" \
  --expect-status error --expect-summary "sshd -T exited 1" --expect-summary "cannot read /etc/ssh/sshd_config.d/"

# What listens. Each of these runs in a network namespace of its own (unshare --net), so that only
# the sshd daemons started for the case listen there (not this machine's, nor other tests'); the
# daemons write their pid files into $W and are stopped by pid when the recording is done.
record_listening() {  # record_listening CASE "DAEMON ARGS; DAEMON ARGS" RECORD-ARGS...
  local case=$1 daemons=$2
  shift 2
  [[ $case == $ONLY ]] || return 0
  echo "=== ssh_hardening/$case"
  W="$W" DAEMONS="$daemons" unshare --net --fork -- bash -c '
    ip link set lo up
    recording=("$@")
    n=0; IFS=";"; for args in $DAEMONS; do
      n=$((n + 1)); IFS=" "; eval "set -- $args"
      /usr/sbin/sshd -o PidFile="$W/daemon$n.pid" "$@" || exit 1
    done
    IFS=" "; sleep 0.3
    python3 tests/checks/record.py ssh_hardening "$0" "${recording[@]}"; rc=$?
    for pidfile in "$W"/daemon*.pid; do [ -f "$pidfile" ] && kill "$(cat "$pidfile")"; rm -f "$pidfile"; done
    exit $rc' "$case" "$@" || FAILED+=("ssh_hardening/$case")
}

# Debian 12's stock sshd_config (this machine's, unmodified) with the usual hardening drop-in:
# root login and password logins off. OpenSSH 9.2's default MACs remain: a low advisory.
mkdir -p "$W/ssh.hardening.d"
printf '# the usual hardening drop-in\nPermitRootLogin no\nPasswordAuthentication no\n' \
  >"$W/ssh.hardening.d/10-hardening.conf"
# The stock configuration with that drop-in passes, with OpenSSH's default MACs as an advisory.
STOCK_HARDENED=(--plant-dir /etc/ssh/sshd_config.d="$W/ssh.hardening.d" "${SSH[@]}")
STOCK_PASSES=(--expect-status pass --expect-summary "PermitRootLogin no"
  --expect-summary "(1 advisory: low: MACs offers umac-64-etm@openssh.com, hmac-sha1-etm@openssh.com, umac-64@openssh.com, hmac-sha1"
  --expect-value weak_algorithms=4)
record_listening pass_debian_stock_macs_advisory "" "${STOCK_HARDENED[@]}" "${STOCK_PASSES[@]}" \
  --source "This machine's own, unmodified Debian 12 /etc/ssh/sshd_config (OpenSSH 9.2) with sshd_config.d/10-hardening.conf (PermitRootLogin no, PasswordAuthentication no), in a network namespace where no sshd listens: the configuration sshd starts with is judged. OpenSSH's default MACs (umac-64, hmac-sha1, with and without -etm) are an advisory of severity low" \
  --expect-value listeners=0

# Two daemons: the stock one on port 22 and a second one with its own config file plus
# -o PasswordAuthentication=yes on port 2222. The second one fails the check, named by its
# pid, config file, option and port. The first reads a copy of this machine's sshd_config whose
# Include names the hardening drop-in, so that the daemon and the probe read the same files.
cp "$W/sshd_config.hardened" "$W/sshd_config.internal"
sed "s#^Include .*#Include $W/ssh.hardening.d/*.conf#" /etc/ssh/sshd_config >"$W/sshd_config.stock"
record_listening fail_second_daemon_password \
  "-f $W/sshd_config.stock -p 22; -f $W/sshd_config.internal -o PasswordAuthentication=yes -p 2222" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.hardening.d" "${SSH[@]}" \
  --source "Two sshd daemons listening in a network namespace of their own: on port 22 one started as 'sshd -f sshd_config.stock' (this machine's Debian 12 sshd_config, its Include pointed at a drop-in with PermitRootLogin no and PasswordAuthentication no; the same drop-in is planted in /etc/ssh/sshd_config.d, so the installed configuration is hardened too), and on port 2222 one started as 'sshd -f sshd_config.internal -o PasswordAuthentication=yes' (sshd_config.internal is the hardened file of pass_hardened)" \
  --expect-status fail --expect-summary "-o PasswordAuthentication=yes) on 0.0.0.0:2222, [::]:2222" \
  --expect-summary "PasswordAuthentication yes (-o on its command line)" --expect-value listeners=2

record_listening pass_two_daemons_hardened \
  "-f $W/sshd_config.stock -p 22; -f $W/sshd_config.internal -p 2222" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.hardening.d" "${SSH[@]}" \
  --source "As fail_second_daemon_password, without -o PasswordAuthentication=yes: both daemons are hardened (the stock one keeps OpenSSH's default MACs: a low advisory)" \
  --expect-status pass --expect-summary "and 2 listener(s) with their own options: PermitRootLogin no" \
  --expect-summary "advisories: low: MACs offers" --expect-value listeners=2

# One daemon started the stock way, `sshd` with no -f and no -o, by the binary that prints the
# installed configuration: the probe says `#runs-installed` for it instead of running that same
# sshd -T twice. The daemon runs in a mount namespace of its own too, reading the planted drop-in
# and writing its default pid file into a private /run, and is stopped by that pid.
record_stock_daemon() {  # record_stock_daemon CASE DROPIN-DIR RECORD-ARGS...
  local case=$1 dropins=$2
  shift 2
  [[ $case == $ONLY ]] || return 0
  echo "=== ssh_hardening/$case"
  W="$W" DROPINS="$dropins" unshare --net --mount --fork -- bash -c '
    ip link set lo up
    mount --make-rprivate /
    mkdir -p "$W/run" && mount --bind "$W/run" /run && mkdir -p /run/sshd || exit 1
    mount --bind "$DROPINS" /etc/ssh/sshd_config.d || exit 1
    /usr/sbin/sshd || exit 1
    sleep 0.3
    python3 tests/checks/record.py ssh_hardening "$0" "$@"; rc=$?
    kill "$(cat /run/sshd.pid)"
    exit $rc' "$case" "$@" || FAILED+=("ssh_hardening/$case")
}

record_stock_daemon pass_stock_daemon_runs_installed "$W/ssh.hardening.d" "${STOCK_HARDENED[@]}" "${STOCK_PASSES[@]}" \
  --source "This machine's own, unmodified Debian 12 /etc/ssh/sshd_config (OpenSSH 9.2) with sshd_config.d/10-hardening.conf (PermitRootLogin no, PasswordAuthentication no), and one sshd listening on port 22 in a network namespace of its own, started as plain '/usr/sbin/sshd' (no -f, no -o): it runs the installed configuration, judged once (the probe prints #runs-installed for it). OpenSSH's default MACs are an advisory of severity low" \
  --expect-value listeners=1

# One daemon started with no -f and no -o, but by another binary than the installed one: a build
# of its own in /opt (this machine's sshd, its compiled-in config path patched to
# /opt/ssh/sshd_config, as a source build's --sysconfdir would set it), whose config lets
# passwords in. The installed configuration is hardened; that daemon is judged from its own
# sshd -T (it was taken for the installed configuration before). /opt is a private bind mount.
record_other_binary_daemon() {  # record_other_binary_daemon CASE RECORD-ARGS...
  local case=$1
  shift
  [[ $case == $ONLY ]] || return 0
  echo "=== ssh_hardening/$case"
  mkdir -p "$W/opt/sbin" "$W/opt/ssh"
  python3 -c 'import sys; d = open("/usr/sbin/sshd", "rb").read(); old = b"/etc/ssh/sshd_config\0"
assert d.count(old) == 1; open(sys.argv[1], "wb").write(d.replace(old, b"/opt/ssh/sshd_config\0"))' "$W/opt/sbin/sshd"
  chmod 755 "$W/opt/sbin/sshd"
  printf 'PermitRootLogin no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM yes\n' \
    >"$W/opt/ssh/sshd_config"
  W="$W" unshare --net --mount --fork -- bash -c '
    ip link set lo up
    mount --make-rprivate /
    mkdir -p "$W/run" && mount --bind "$W/run" /run && mkdir -p /run/sshd || exit 1
    mount --bind "$W/opt" /opt || exit 1
    /opt/sbin/sshd || exit 1
    sleep 0.3
    python3 tests/checks/record.py ssh_hardening "$0" "$@"; rc=$?
    kill "$(cat /run/sshd.pid)"
    exit $rc' "$case" "$@" || FAILED+=("ssh_hardening/$case")
}

record_other_binary_daemon fail_other_binary_daemon_own_config "${STOCK_HARDENED[@]}" \
  --source "This machine's own, unmodified Debian 12 /etc/ssh/sshd_config (OpenSSH 9.2) with sshd_config.d/10-hardening.conf (PermitRootLogin no, PasswordAuthentication no): the installed configuration is hardened. One sshd listens on port 22 in a network namespace of its own, started with no -f and no -o as /opt/sbin/sshd: a copy of /usr/sbin/sshd whose compiled-in config path is patched to /opt/ssh/sshd_config, which sets PasswordAuthentication yes. It is not the installed binary, so its own sshd -T is judged" \
  --expect-status fail --expect-summary "sshd pid" --expect-summary "(/opt/sbin/sshd, its default sshd_config) on 0.0.0.0:22" \
  --expect-summary "PasswordAuthentication yes" --expect-value listeners=1

# RHEL 9 layout: the stock sshd_config, 50-redhat.conf including the crypto-policies back-end,
# /etc/crypto-policies/config naming the policy and the back-end as a symbolic link into
# /usr/share/crypto-policies/<POLICY>/. Stock files and their sources: rhel9/README.md.
R9=tests/checks/ssh_hardening/rhel9
mkdir -p "$W/rh9.share"
for policy in DEFAULT LEGACY FUTURE; do
  mkdir -p "$W/rh9.share/$policy" "$W/rh9.cp.$policy/back-ends"
  cp "$R9/crypto-policies/$policy-opensshserver.txt" "$W/rh9.share/$policy/opensshserver.txt"
  printf '%s\n' "$policy" >"$W/rh9.cp.$policy/config"
  ln -sf "/usr/share/crypto-policies/$policy/opensshserver.txt" "$W/rh9.cp.$policy/back-ends/opensshserver.config"
done
mkdir -p "$W/rh9.d.stock" "$W/rh9.d.nopw"
cp "$R9/50-redhat.conf" "$W/rh9.d.stock/"
cp "$R9/50-redhat.conf" "$W/rh9.d.nopw/"
printf 'PasswordAuthentication no\n' >"$W/rh9.d.nopw/40-no-passwords.conf"
chmod 600 "$W"/rh9.d.*/*.conf
rh9() {  # rh9 POLICY DROPINS: the plant arguments of a RHEL 9 host with that policy
  echo --plant /etc/ssh/sshd_config="$R9/sshd_config" --plant-dir /etc/ssh/sshd_config.d="$W/rh9.d.$2" \
    --plant-dir /etc/crypto-policies="$W/rh9.cp.$1" --plant-dir /usr/share/crypto-policies="$W/rh9.share"
}
RH9SRC="RHEL 9 layout (no RHEL machine here; planted on this Debian 12 one and read by its real sshd -T, OpenSSH 9.2): RHEL 9's stock sshd_config and sshd_config.d/50-redhat.conf (mode 600), whose first line includes /etc/crypto-policies/back-ends/opensshserver.config, a symbolic link to /usr/share/crypto-policies/POLICY/opensshserver.txt (Fedora crypto-policies' generated back-end, 2023-05-31), and /etc/crypto-policies/config naming the policy; sources in tests/checks/ssh_hardening/rhel9/README.md"

# shellcheck disable=SC2046
record ssh_hardening fail_rhel9_stock_default_policy $(rh9 DEFAULT stock) "${SSH[@]}" \
  --source "${RH9SRC/POLICY/DEFAULT}; policy DEFAULT; nothing else planted: PasswordAuthentication is at its compiled-in default" \
  --expect-status fail --expect-summary "PasswordAuthentication yes" --expect-value crypto_policy=DEFAULT

# shellcheck disable=SC2046
record ssh_hardening pass_rhel9_default_policy_sha1_macs_advisory $(rh9 DEFAULT nopw) "${SSH[@]}" \
  --source "${RH9SRC/POLICY/DEFAULT}; policy DEFAULT; plus sshd_config.d/40-no-passwords.conf (PasswordAuthentication no), read before 50-redhat.conf" \
  --expect-status pass --expect-summary "hmac-sha1" \
  --expect-summary "/etc/crypto-policies/back-ends/opensshserver.config:2, crypto-policies policy DEFAULT" \
  --expect-value crypto_policy=DEFAULT --expect-value weak_algorithms=2

# shellcheck disable=SC2046
record ssh_hardening fail_rhel9_legacy_policy $(rh9 LEGACY nopw) "${SSH[@]}" \
  --source "${RH9SRC/POLICY/LEGACY}; policy LEGACY (update-crypto-policies --set LEGACY); plus sshd_config.d/40-no-passwords.conf (PasswordAuthentication no): the policy brings 3des-cbc, CBC ciphers, SHA-1 key exchange and ssh-rsa/ssh-dss signatures" \
  --expect-status fail --expect-summary "3des-cbc" \
  --expect-summary "/etc/crypto-policies/back-ends/opensshserver.config:1, crypto-policies policy LEGACY" \
  --expect-value crypto_policy=LEGACY

# shellcheck disable=SC2046
record ssh_hardening pass_rhel9_future_policy $(rh9 FUTURE nopw) "${SSH[@]}" \
  --source "${RH9SRC/POLICY/FUTURE}; policy FUTURE; plus sshd_config.d/40-no-passwords.conf (PasswordAuthentication no)" \
  --expect-status pass --expect-summary "no weak algorithms offered" --expect-value crypto_policy=FUTURE \
  --expect-value weak_algorithms=0

# RHEL 8: the back-end is CRYPTO_POLICY='-o...' for sshd.service's command line, not included.
mkdir -p "$W/rh8.cp/back-ends" "$W/rh8.share/DEFAULT"
cp "$R9/crypto-policies/RHEL8-FORM-DEFAULT-opensshserver.txt" "$W/rh8.share/DEFAULT/opensshserver.txt"
printf 'DEFAULT\n' >"$W/rh8.cp/config"
ln -sf /usr/share/crypto-policies/DEFAULT/opensshserver.txt "$W/rh8.cp/back-ends/opensshserver.config"
record ssh_hardening pass_rhel8_policy_on_command_line --plant /etc/ssh/sshd_config="$W/sshd_config.hardened" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ssh.empty.d" --plant-dir /etc/crypto-policies="$W/rh8.cp" \
  --plant-dir /usr/share/crypto-policies="$W/rh8.share" "${SSH[@]}" \
  --source "RHEL 8 crypto-policies form (no RHEL machine here): /etc/crypto-policies/back-ends/opensshserver.config holds CRYPTO_POLICY='-oCiphers=... -oMACs=...' (Fedora crypto-policies' DEFAULT back-end of 2019-05-15, the form RHEL 8 ships), which sshd.service passes on sshd's command line and no sshd_config line includes; sshd_config is this suite's hardened one (not RHEL 8's), no sshd runs with those options during recording" \
  --expect-status pass --expect-summary "no weak algorithms offered" --expect-value crypto_policy=DEFAULT

# Ubuntu 24.04 (and 22.04): stock sshd_config, cloud-init's 0600 drop-in turning passwords on.
UB=tests/checks/ssh_hardening/ubuntu
mkdir -p "$W/ubuntu.ssh.d"
printf 'PasswordAuthentication yes\n' >"$W/ubuntu.ssh.d/50-cloud-init.conf"
chmod 600 "$W/ubuntu.ssh.d/50-cloud-init.conf"
record ssh_hardening fail_ubuntu_cloud_init_password --plant /etc/ssh/sshd_config="$UB/sshd_config" \
  --plant-dir /etc/ssh/sshd_config.d="$W/ubuntu.ssh.d" "${SSH[@]}" \
  --source "Ubuntu 24.04 layout (no Ubuntu machine here; planted on this Debian 12 one and read by its real sshd -T): Ubuntu's stock sshd_config and cloud-init's sshd_config.d/50-cloud-init.conf (mode 600) with PasswordAuthentication yes; sources in tests/checks/ssh_hardening/ubuntu/README.md" \
  --expect-status fail --expect-summary "PasswordAuthentication yes (/etc/ssh/sshd_config.d/50-cloud-init.conf:1)"
